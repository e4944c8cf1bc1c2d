"""DIRAC's CFG format (pilot.cfg): read, change, write.

    DIRAC
    {
      Setup = LHCb-Production
      Configuration
      {
        Servers = dips://cs1:9135/Configuration/Server, dips://cs2:9135/Configuration/Server
      }
    }

Sections nest with braces, options are ``name = value`` (a list is a comma
list), ``#`` starts a comment line.  Order is kept, so a file written by
dirac-configure keeps its layout when the pilot adds keys.  The output
parses with the ``diraccfg`` package (a test checks it).
"""

from ..shims import compat


class CFGError(Exception):
    pass


class Section(object):
    def __init__(self):
        self.keys = []        # order of names (sections and options mixed, as written)
        self.values = {}      # name -> text value or Section

    def child(self, name, create=False):
        value = self.values.get(name)
        if isinstance(value, Section):
            return value
        if value is not None or not create:
            return None
        section = Section()
        self._put(name, section)
        return section

    def _put(self, name, value):
        if name not in self.values:
            self.keys.append(name)
        self.values[name] = value

    def items(self):
        return [(name, self.values[name]) for name in self.keys]


class CFG(object):
    def __init__(self):
        self.root = Section()

    # -- paths ------------------------------------------------------------------------
    @staticmethod
    def split(path):
        parts = [part for part in compat.to_text(path).split("/") if part]
        if not parts:
            raise CFGError("empty cfg path '%s'" % path)
        for part in parts:
            if not _valid_name(part):
                raise CFGError("invalid cfg name '%s' in '%s'" % (part, path))
        return parts

    def get(self, path, default=None):
        parts = self.split(path)
        section = self.root
        for part in parts[:-1]:
            section = section.child(part)
            if section is None:
                return default
        value = section.values.get(parts[-1])
        if value is None or isinstance(value, Section):
            return default
        return value

    def get_list(self, path):
        value = self.get(path, "")
        return [item.strip() for item in value.split(",") if item.strip()]

    def set(self, path, value):
        """Set an option; lists become comma lists, booleans True/False."""
        parts = self.split(path)
        section = self.root
        for part in parts[:-1]:
            nested = section.child(part, create=True)
            if nested is None:
                raise CFGError("cannot create section %s: an option has that name" % "/".join(parts))
            section = nested
        if isinstance(section.values.get(parts[-1]), Section):
            raise CFGError("cannot set %s: it is a section" % path)
        section._put(parts[-1], format_value(value))

    def has_section(self, path):
        section = self.root
        for part in self.split(path):
            section = section.child(part)
            if section is None:
                return False
        return True

    def options(self):
        """Every option as ('/A/B/name', value), in file order."""
        found = []

        def walk(section, prefix):
            for name, value in section.items():
                if isinstance(value, Section):
                    walk(value, prefix + "/" + name)
                else:
                    found.append((prefix + "/" + name, value))

        walk(self.root, "")
        return found

    # -- text ---------------------------------------------------------------------------
    @classmethod
    def parse(cls, text, name="cfg"):
        cfg = cls()
        stack = [cfg.root]
        opened = []     # (line, name) of each open section, for the error at the end
        pending = None  # (line, name) of a name waiting for its "{"
        for number, raw in enumerate(compat.to_text(text).splitlines(), 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if pending is not None:
                if line != "{":
                    raise CFGError("%s line %d: expected '{' after section %s" % (name, number, pending[1]))
                stack.append(stack[-1].child(pending[1], create=True))
                opened.append(pending)
                pending = None
                continue
            if line == "}":
                if len(stack) == 1:
                    raise CFGError("%s line %d: '}' without a section" % (name, number))
                stack.pop()
                opened.pop()
                continue
            if "=" in line:
                key, value = line.split("=", 1)
                key = key.strip()
                if key.endswith("+"):  # "name += value" appends to a list
                    key = key[:-1].strip()
                    old = stack[-1].values.get(key)
                    value = (old + ", " if isinstance(old, compat.string_types) and old else "") + value.strip()
                if not _valid_name(key):
                    raise CFGError("%s line %d: invalid option name '%s'" % (name, number, key))
                stack[-1]._put(key, value.strip())
                continue
            if line.endswith("{"):
                section_name = line[:-1].strip()
                if not _valid_name(section_name):
                    raise CFGError("%s line %d: invalid section name '%s'" % (name, number, section_name))
                stack.append(stack[-1].child(section_name, create=True))
                opened.append((number, section_name))
                continue
            if not _valid_name(line):
                raise CFGError("%s line %d: cannot parse '%s'" % (name, number, line[:60]))
            pending = (number, line)
        if pending is not None:
            raise CFGError("%s line %d: section %s has no '{'" % (name, pending[0], pending[1]))
        if opened:
            raise CFGError("%s line %d: section %s is unclosed at the end of the file"
                           % (name, opened[-1][0], opened[-1][1]))
        return cfg

    def dump(self):
        lines = []

        def write(section, depth):
            indent = "  " * depth
            for name, value in section.items():
                if isinstance(value, Section):
                    lines.append(indent + name)
                    lines.append(indent + "{")
                    write(value, depth + 1)
                    lines.append(indent + "}")
                else:
                    lines.append("%s%s = %s" % (indent, name, value))

        write(self.root, 0)
        return "\n".join(lines) + "\n"

    @classmethod
    def load(cls, path):
        handle = open(path, "rb")
        try:
            return cls.parse(handle.read(), path)
        finally:
            handle.close()

    def save(self, path):
        from .fetch import write_atomic

        write_atomic(path, compat.to_bytes(self.dump()))


def format_value(value):
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, (list, tuple)):
        return ", ".join(format_value(item) for item in value)
    text = compat.to_text(value)
    if "\n" in text:
        raise CFGError("a cfg value cannot span lines: '%s'" % text[:60])
    return text.strip()


def _valid_name(name):
    if not name or name[0] in "#{}" or "=" in name:  # py26: ok (not a format string)
        return False
    for char in name:
        if char.isspace() or char in "{}/":  # py26: ok
            return False
    return True
