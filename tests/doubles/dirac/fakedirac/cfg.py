"""DIRAC CFG format: read, merge, write.

Written for the test double (Python 3.6+, standard library only).  The parser
follows the grammar of DIRAC's ``diraccfg`` package character by character, so a
file is read the same way by both:

* blank lines are skipped, a line whose first non-blank character is ``#`` is a
  comment (kept and attached to the next entry);
* ``Name {`` (or ``Name`` then ``{`` on the next line) opens a section, ``}``
  closes one;
* ``key = value`` sets an option: the key is what precedes the first ``=``, the
  value everything after it, stripped (so values may contain ``=`` and braces);
* ``key += value`` appends ``, value`` to an option.

A value is a string; a list is a comma-separated string (``List.fromChar``:
items stripped, empty items dropped).  The writer produces what DIRAC's
``CFG.serialize`` produces: two-space indentation, ``Name`` and ``{`` on
separate lines, and a multi-item value as ``key = a`` followed by ``key += b``
lines.
"""

import collections
import io
import os


def from_char(value, sep=","):
    """DIRAC's List.fromChar: split, strip, drop empty items."""
    return [item.strip() for item in value.split(sep) if item.strip()]


class CFGError(ValueError):
    """A file that is not valid CFG (unbalanced braces)."""


class CFG(object):
    """An ordered tree of sections (CFG) and options (str)."""

    def __init__(self):
        self._data = collections.OrderedDict()
        self._comments = {}

    # -- reading -----------------------------------------------------------
    @classmethod
    def from_string(cls, text):
        cfg = cls()
        cfg.load_string(text)
        return cfg

    @classmethod
    def from_file(cls, path):
        cfg = cls()
        cfg.load_file(path)
        return cfg

    def load_file(self, path):
        with io.open(path, "r", encoding="utf-8", errors="replace") as handle:
            return self.load_string(handle.read())

    def load_string(self, text):
        self._data = collections.OrderedDict()
        self._comments = {}
        stack = []
        current = self
        pending = ""
        comment = ""
        for line in text.split("\n"):
            line = line.strip()
            if not line:
                continue
            if line.startswith("#"):
                comment += line.replace("#", "") + "\n"
                continue
            index = 0
            while index < len(line):
                char = line[index]
                if char == "{":
                    name = pending.strip()
                    current._new_section(name, comment)
                    stack.append(current)
                    current = current._data[name]
                    pending = ""
                    comment = ""
                elif char == "}":
                    if not stack:
                        raise CFGError("The cfg file closes more sections than it opens")
                    current = stack.pop()
                elif char == "=":
                    fields = line.split("=")
                    current._set_local(fields[0].strip(), "=".join(fields[1:]).strip(), comment)
                    pending = ""
                    comment = ""
                    break
                elif line[index : index + 2] == "+=":
                    fields = line.split("+=")
                    current._append_local(fields[0].strip(), "+=".join(fields[1:]).strip())
                    pending = ""
                    comment = ""
                    break
                else:
                    pending += char
                index += 1
        if stack:
            raise CFGError("The cfg file opens more sections than it closes")
        return self

    def _new_section(self, name, comment=""):
        if not isinstance(self._data.get(name), CFG):
            self._data[name] = CFG()
        if comment:
            self._comments[name] = comment

    def _set_local(self, name, value, comment=""):
        self._data[name] = str(value)
        if comment:
            self._comments[name] = comment

    def _append_local(self, name, value):
        old = self._data.get(name)
        if isinstance(old, str):
            self._data[name] = old + ", " + value
        else:
            self._data[name] = value

    # -- paths -------------------------------------------------------------
    @staticmethod
    def split_path(path):
        return [part for part in path.strip().split("/") if part]

    def _walk(self, parts, create=False):
        node = self
        for part in parts:
            child = node._data.get(part)
            if not isinstance(child, CFG):
                if not create:
                    return None
                child = CFG()
                node._data[part] = child
            node = child
        return node

    def get(self, path, default=None):
        """Value at an absolute path ("/DIRAC/Setup"); a section gives the CFG."""
        parts = self.split_path(path)
        if not parts:
            return self
        parent = self._walk(parts[:-1])
        if parent is None:
            return default
        return parent._data.get(parts[-1], default)

    def get_option(self, path, default=None):
        value = self.get(path)
        if isinstance(value, str):
            return value
        return default

    def get_list(self, path, default=None):
        value = self.get_option(path)
        if value is None:
            return list(default or [])
        return from_char(value)

    def get_bool(self, path, default=False):
        return to_bool(self.get_option(path), default)

    def get_number(self, path, default=0.0, kind=float):
        value = self.get_option(path)
        if value is None:
            return default
        try:
            return kind(float(value)) if kind is int else kind(value)
        except ValueError:
            return default

    def is_section(self, path):
        return isinstance(self.get(path), CFG)

    def set_option(self, path, value):
        parts = self.split_path(path)
        if not parts:
            raise ValueError("empty option path")
        parent = self._walk(parts[:-1], create=True)
        parent._data[parts[-1]] = _clean_value(value)

    def set_default(self, path, value):
        """DIRAC's addDefaultEntry: set only if the option is not there yet."""
        if self.get_option(path) is None:
            self.set_option(path, value)

    def delete(self, path):
        parts = self.split_path(path)
        if not parts:
            return False
        parent = self._walk(parts[:-1])
        if parent is None or parts[-1] not in parent._data:
            return False
        del parent._data[parts[-1]]
        parent._comments.pop(parts[-1], None)
        return True

    def sections(self):
        return [k for k, v in self._data.items() if isinstance(v, CFG)]

    def options(self):
        return [k for k, v in self._data.items() if isinstance(v, str)]

    def options_dict(self, path="/"):
        node = self.get(path)
        if not isinstance(node, CFG):
            return {}
        return collections.OrderedDict((k, v) for k, v in node._data.items() if isinstance(v, str))

    # -- merging and writing ------------------------------------------------
    def merge(self, other):
        """Merge another CFG into this one; the other one wins (DIRAC mergeWith)."""
        for name, value in other._data.items():
            if isinstance(value, CFG):
                mine = self._data.get(name)
                if not isinstance(mine, CFG):
                    mine = CFG()
                    self._data[name] = mine
                mine.merge(value)
            else:
                self._data[name] = value
            if name in other._comments:
                self._comments[name] = other._comments[name]
        return self

    def as_dict(self):
        result = collections.OrderedDict()
        for name, value in self._data.items():
            result[name] = value.as_dict() if isinstance(value, CFG) else value
        return result

    def serialize(self, indent=""):
        out = []
        for name, value in self._data.items():
            comment = self._comments.get(name)
            if comment:
                for line in from_char(comment, "\n"):
                    out.append("%s#%s\n" % (indent, line))
            if isinstance(value, CFG):
                out.append("%s%s\n%s{\n" % (indent, name, indent))
                out.append(value.serialize(indent + "  "))
                out.append("%s}\n" % indent)
            else:
                items = from_char(value)
                if not items:
                    out.append("%s%s = \n" % (indent, name))
                else:
                    out.append("%s%s = %s\n" % (indent, name, items[0]))
                    for item in items[1:]:
                        out.append("%s%s += %s\n" % (indent, name, item))
        return "".join(out)

    def write_file(self, path):
        """Write in place (follows a symlink such as etc/dirac.cfg -> ../pilot.cfg)."""
        directory = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(directory):
            os.makedirs(directory)
        with io.open(path, "w", encoding="utf-8") as handle:
            handle.write(self.serialize())


def _clean_value(value):
    if isinstance(value, bool):
        value = "True" if value else "False"
    elif isinstance(value, (list, tuple)):
        value = ", ".join(str(v) for v in value)
    value = str(value)
    return " ".join(value.splitlines()).strip() if "\n" in value or "\r" in value else value.strip()


def to_bool(value, default=False):
    """DIRAC's conversion of an option to a boolean."""
    if value is None:
        return default
    text = str(value).strip().lower()
    if text in ("y", "yes", "true", "1", "on"):
        return True
    if text in ("n", "no", "false", "0", "off", ""):
        return False
    return default
