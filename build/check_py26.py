#!/usr/bin/env python3
"""The extra Python 2.6 check: what vermin misses.

Usage::

    python3 build/check_py26.py [--exclude GLOB ...] [PATH ...]

PATH is a ``.py`` file or a directory searched recursively; the default is
``pilot_src/pilot compat`` relative to the repository root.  Each finding is
printed as ``path:line:col: message [rule]``.  Exit status: 0 no finding,
1 findings, 2 usage error (unknown option, missing path).  Runs on Python 3.8+.

Rules (the ``[rule]`` tag of each finding):

* ``format``   a string constant with an auto-numbered field (``{}``, ``{:d}``,
  ``{!r}``, ``{.attr}``) or a ``,``/``_`` grouping spec, found with
  ``string.Formatter().parse``; ``format(x, ",")``.  Docstrings, other bare
  string statements and a lone ``"{}"`` (JSON text) that is not ``.format``-ted
  are skipped.
* ``fstring``  f-strings.
* ``with``     ``with`` on ZipFile, GzipFile, TarFile, BZ2File, Popen, urlopen,
  sockets, ``tarfile.open``, ``gzip.open``, ``bz2.open`` (no ``__exit__`` on
  2.6); ``with`` statements with more than one item.
* ``syntax``   set literals, set and dict comprehensions.
* ``unittest`` unittest API added in 2.7 (``assertIn``, ``assertIsNone``, ...,
  ``assertRaises`` as a context manager, ``addCleanup``, ``skipTest``,
  ``setUpClass``, ``unittest.skip*``) and the aliases removed in 3.12
  (``assertEquals``, ``failUnless``, ...).
* ``logging``  ``StreamHandler(stream=...)`` (the 2.6 keyword is ``strm``).
* ``removed``  modules and attributes removed in newer 3.x (``imp``,
  ``distutils``, ``pipes``, ``cgi``, ``asyncore``, ``collections.Mapping``,
  ``platform.linux_distribution``, ``base64.encodestring``, ``time.clock``,
  ``ssl.wrap_socket``, ``HTTPSConnection(key_file=...)``, ...).
* ``py27``     2.7-only API: ``argparse``, ``OrderedDict``/``Counter``,
  ``importlib``, ``subprocess.check_output`` (outside ``compat/`` only),
  ``.total_seconds()``, ``.bit_length()`` (calls, or ``timedelta.total_seconds``
  and ``int.bit_length`` themselves), ``sys.version_info.major``.
* ``parse``    the file does not parse.

Guards: the ``removed``, ``py27`` and ``unittest`` rules are silent inside a
``try`` whose handlers catch ImportError, ModuleNotFoundError or
AttributeError (body, handlers and ``else``), and inside the branches of an
``if`` (or ``x if c else y``) whose test mentions ``version_info``,
``hexversion``, ``PY2``/``PY3``/``PY26``... or calls ``hasattr``/``getattr``;
the test itself is still checked.  Syntax-level rules ignore guards, since a
SyntaxError happens whatever the branch.

Opt-out: a comment ``# py26: ok`` on the reported line silences every finding
on that line (for brace text that is never formatted, say).  Files named
``six.py`` and anything under a ``_vendor`` directory are skipped by default.
"""

import argparse
import ast
import fnmatch
import io
import os
import re
import string
import sys
import tokenize

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_PATHS = ("pilot_src/pilot", "compat")
DEFAULT_EXCLUDES = ("*/six.py", "*/_vendor/*")
MARKER = re.compile(r"#.*\bpy26:\s*ok\b")

# [[fill]align][sign][z][#][0][width][grouping][.precision][type]
SPEC = re.compile(r"^(?:.?[<>=^])?[-+ ]?z?#?0?\d*(?P<grouping>[,_])?(?:\.\d+)?[a-zA-Z%]?$", re.DOTALL)
GUARD_NAME = re.compile(r"^(version_info|hexversion|PY\d*)$")
GUARD_EXCEPTIONS = {"ImportError", "ModuleNotFoundError", "AttributeError"}

NO_EXIT_26 = {"ZipFile", "GzipFile", "TarFile", "BZ2File", "Popen", "urlopen"}
NO_EXIT_26_DOTTED = {
    "tarfile.open",
    "gzip.open",
    "bz2.open",
    "TarFile.open",
    "socket.socket",
    "socket.create_connection",
}

UNITTEST_27 = {
    "assertIn",
    "assertNotIn",
    "assertIs",
    "assertIsNot",
    "assertIsNone",
    "assertIsNotNone",
    "assertIsInstance",
    "assertNotIsInstance",
    "assertItemsEqual",
    "assertCountEqual",
    "assertGreater",
    "assertGreaterEqual",
    "assertLess",
    "assertLessEqual",
    "assertDictEqual",
    "assertSetEqual",
    "assertListEqual",
    "assertTupleEqual",
    "assertSequenceEqual",
    "assertMultiLineEqual",
    "assertRegex",
    "assertNotRegex",
    "assertRaisesRegex",
    "assertWarns",
    "assertWarnsRegex",
    "assertLogs",
    "subTest",
    "addCleanup",
    "doCleanups",
    "skipTest",
    "setUpClass",
    "tearDownClass",
}
UNITTEST_27_AND_REMOVED = {
    "assertRegexpMatches",
    "assertNotRegexpMatches",
    "assertRaisesRegexp",
    "assertDictContainsSubset",
}
UNITTEST_ALIASES = {  # removed in 3.12
    "assertEquals": "assertEqual",
    "failUnlessEqual": "assertEqual",
    "assertNotEquals": "assertNotEqual",
    "failIfEqual": "assertNotEqual",
    "assertAlmostEquals": "assertAlmostEqual",
    "failUnlessAlmostEqual": "assertAlmostEqual",
    "assertNotAlmostEquals": "assertNotAlmostEqual",
    "failIfAlmostEqual": "assertNotAlmostEqual",
    "failUnless": "assertTrue",
    "assert_": "assertTrue",
    "failIf": "assertFalse",
    "failUnlessRaises": "assertRaises",
}
UNITTEST_MODULE_27 = {"skip", "skipIf", "skipUnless", "expectedFailure", "SkipTest"}
SETUP_27 = {"setUpClass", "tearDownClass", "setUpModule", "tearDownModule"}

REMOVED_MODULES = {
    "imp": "3.12",
    "distutils": "3.12",
    "asyncore": "3.12",
    "asynchat": "3.12",
    "smtpd": "3.12",
    "pipes": "3.13",
    "cgi": "3.13",
    "cgitb": "3.13",
    "imghdr": "3.13",
    "sndhdr": "3.13",
    "telnetlib": "3.13",
    "nntplib": "3.13",
    "crypt": "3.13",
    "spwd": "3.13",
    "nis": "3.13",
    "audioop": "3.13",
    "aifc": "3.13",
    "chunk": "3.13",
    "mailcap": "3.13",
    "msilib": "3.13",
    "ossaudiodev": "3.13",
    "sunau": "3.13",
    "uu": "3.13",
    "xdrlib": "3.13",
    "lib2to3": "3.13",
    "binhex": "3.11",
    "formatter": "3.10",
    "parser": "3.10",
    "symbol": "3.10",
    "macpath": "3.8",
}
COLLECTIONS_ABC = {
    "Awaitable",
    "Coroutine",
    "AsyncIterable",
    "AsyncIterator",
    "AsyncGenerator",
    "Hashable",
    "Iterable",
    "Iterator",
    "Generator",
    "Reversible",
    "Sized",
    "Container",
    "Callable",
    "Collection",
    "Set",
    "MutableSet",
    "Mapping",
    "MutableMapping",
    "MappingView",
    "KeysView",
    "ItemsView",
    "ValuesView",
    "Sequence",
    "MutableSequence",
    "ByteString",
}
REMOVED_ATTRS = {
    "platform.linux_distribution": "3.8",
    "platform.dist": "3.8",
    "time.clock": "3.8",
    "os.errno": "3.7",
    "base64.encodestring": "3.9",
    "base64.decodestring": "3.9",
    "sys.setcheckinterval": "3.9",
    "fractions.gcd": "3.9",
    "inspect.getargspec": "3.11",
    "ssl.wrap_socket": "3.12",
    "ssl.match_hostname": "3.12",
    "locale.format": "3.12",
    "unittest.makeSuite": "3.13",
    "unittest.findTestCases": "3.13",
    "unittest.getTestCaseNames": "3.13",
}
REMOVED_METHODS = {"isAlive": "3.9", "readfp": "3.12", "SafeConfigParser": "3.12"}
REMOVED_KEYWORDS = {  # callable (last name) -> keywords removed
    "HTTPSConnection": ({"key_file", "cert_file", "check_hostname"}, "3.12"),
    "urlopen": ({"cafile", "capath", "cadefault"}, "3.13"),
}
PY27_MODULES = {"argparse", "importlib", "sysconfig"}
PY27_FROM = {"collections": {"OrderedDict", "Counter"}, "subprocess": {"check_output"}}


def dotted(node):
    """``a.b.c`` for a Name/Attribute chain, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def has_grouping(spec):
    match = SPEC.match(spec)
    return bool(match and match.group("grouping"))


def format_problem(text):
    """Why ``text`` would fail as a ``str.format`` template on 2.6, or None."""
    try:
        fields = list(string.Formatter().parse(text))
    except ValueError:
        return None  # not a format template at all
    for _literal, name, spec, _conversion in fields:
        if name is None:
            continue
        if name == "" or name[0] in ".[":
            return "auto-numbered format field (2.6 needs '{0}', '{1}', ...)"
        if spec:
            if has_grouping(spec):
                return "',' or '_' grouping in a format spec (2.7+)"
            if "{" in spec:
                nested = format_problem(spec)
                if nested:
                    return nested
    return None


def is_version_guard(test):
    for node in ast.walk(test):
        name = node.id if isinstance(node, ast.Name) else getattr(node, "attr", None)
        if isinstance(node, (ast.Name, ast.Attribute)) and GUARD_NAME.match(name):
            return True
        if isinstance(node, ast.Call) and dotted(node.func) in ("hasattr", "getattr"):
            return True
    return False


def catches_import_error(handler):
    if handler.type is None:
        return False
    types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any((dotted(t) or "").split(".")[-1] in GUARD_EXCEPTIONS for t in types)


class Checker(ast.NodeVisitor):
    def __init__(self, in_compat):
        self.in_compat = in_compat
        self.guarded = 0
        self.templates = set()  # ids of constants that receive .format()
        self.findings = []  # (line, col, message, rule)

    def report(self, node, message, rule, guardable=False):
        if guardable and self.guarded:
            return
        self.findings.append((node.lineno, node.col_offset + 1, message, rule))

    def visit_guarded(self, nodes):
        self.guarded += 1
        for node in nodes:
            self.visit(node)
        self.guarded -= 1

    # -- guards -------------------------------------------------------------
    def visit_Try(self, node):
        if any(catches_import_error(h) for h in node.handlers):
            self.visit_guarded(node.body + node.handlers + node.orelse)
            for child in node.finalbody:
                self.visit(child)
        else:
            self.generic_visit(node)

    def visit_If(self, node):
        self.visit(node.test)
        if is_version_guard(node.test):
            self.visit_guarded(node.body + node.orelse)
        else:
            for child in node.body + node.orelse:
                self.visit(child)

    def visit_IfExp(self, node):
        self.visit(node.test)
        if is_version_guard(node.test):
            self.visit_guarded([node.body, node.orelse])
        else:
            self.visit(node.body)
            self.visit(node.orelse)

    # -- strings ------------------------------------------------------------
    def visit_Expr(self, node):
        if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            return  # docstring or bare string: never formatted
        self.generic_visit(node)

    def visit_Constant(self, node):
        value = node.value
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        if isinstance(value, str) and "{" in value:
            if value.strip() == "{}" and id(node) not in self.templates:
                return  # empty JSON/dict text, unless it is "{}".format(...)
            problem = format_problem(value)
            if problem:
                self.report(node, problem, "format")

    def visit_JoinedStr(self, node):
        self.report(node, "f-string (SyntaxError before 3.6)", "fstring")

    # -- syntax -------------------------------------------------------------
    def visit_Set(self, node):
        self.report(node, "set literal (2.7+): use set([...])", "syntax")
        self.generic_visit(node)

    def visit_SetComp(self, node):
        self.report(node, "set comprehension (2.7+): use set(... for ...)", "syntax")
        self.generic_visit(node)

    def visit_DictComp(self, node):
        self.report(node, "dict comprehension (2.7+): use dict((k, v) for ...)", "syntax")
        self.generic_visit(node)

    def visit_With(self, node):
        if len(node.items) > 1:
            self.report(node, "'with' with several items (2.7+): nest them", "with")
        for item in node.items:
            expr = item.context_expr
            if isinstance(expr, ast.Call):
                name = dotted(expr.func) or ""
                last = name.split(".")[-1]
                if last in NO_EXIT_26 or any(name == d or name.endswith("." + d) for d in NO_EXIT_26_DOTTED):
                    self.report(expr, "'with %s(...)': no __exit__ on 2.6, use try/finally and close()" % name, "with")
        self.generic_visit(node)

    def visit_FunctionDef(self, node):
        if node.name in SETUP_27:
            self.report(node, "%s (2.7+) is never called on 2.6" % node.name, "unittest", guardable=True)
        self.generic_visit(node)

    # -- imports ------------------------------------------------------------
    def check_module(self, node, module):
        top = module.split(".")[0]
        if top in REMOVED_MODULES:
            self.report(
                node, "module %s removed in Python %s" % (module, REMOVED_MODULES[top]), "removed", guardable=True
            )
        if top in PY27_MODULES and not self.in_compat:
            self.report(node, "module %s is 2.7+ (use compat)" % module, "py27", guardable=True)

    def visit_Import(self, node):
        for alias in node.names:
            self.check_module(node, alias.name)

    def visit_ImportFrom(self, node):
        module = node.module or ""
        self.check_module(node, module)
        for alias in node.names:
            name = alias.name
            if module == "collections" and name in COLLECTIONS_ABC:
                self.report(
                    node, "collections.%s removed in Python 3.10 (collections.abc)" % name, "removed", guardable=True
                )
            if name in PY27_FROM.get(module, ()) and not self.in_compat:
                self.report(node, "%s.%s is 2.7+ (use compat)" % (module, name), "py27", guardable=True)
            if name in REMOVED_METHODS:
                self.report(node, "%s removed in Python %s" % (name, REMOVED_METHODS[name]), "removed", guardable=True)
            if module == "unittest" and name in UNITTEST_MODULE_27:
                self.report(node, "unittest.%s is 2.7+" % name, "unittest", guardable=True)
            full = "%s.%s" % (module, name)
            if full in REMOVED_ATTRS:
                self.report(node, "%s removed in Python %s" % (full, REMOVED_ATTRS[full]), "removed", guardable=True)

    # -- attributes and calls -----------------------------------------------
    def visit_Attribute(self, node):
        attr, name = node.attr, dotted(node) or ""
        if attr == "format" and isinstance(node.value, ast.Constant):
            self.templates.add(id(node.value))
        base = dotted(node.value) or ""
        if attr in UNITTEST_27:
            self.report(node, "%s is unittest 2.7+" % attr, "unittest", guardable=True)
        elif attr in UNITTEST_27_AND_REMOVED:
            self.report(node, "%s is unittest 2.7+ and removed in 3.12" % attr, "unittest", guardable=True)
        elif attr in UNITTEST_ALIASES:
            self.report(
                node, "%s removed in Python 3.12: use %s" % (attr, UNITTEST_ALIASES[attr]), "unittest", guardable=True
            )
        elif base == "unittest" and attr in UNITTEST_MODULE_27:
            self.report(node, "unittest.%s is 2.7+" % attr, "unittest", guardable=True)
        if name in REMOVED_ATTRS:
            self.report(node, "%s removed in Python %s" % (name, REMOVED_ATTRS[name]), "removed", guardable=True)
        elif base == "collections" and attr in COLLECTIONS_ABC:
            self.report(
                node, "collections.%s removed in Python 3.10 (collections.abc)" % attr, "removed", guardable=True
            )
        elif attr in REMOVED_METHODS:
            self.report(node, "%s removed in Python %s" % (attr, REMOVED_METHODS[attr]), "removed", guardable=True)
        if name in ("int.bit_length", "long.bit_length", "timedelta.total_seconds") or name.endswith(
            ".timedelta.total_seconds"
        ):
            self.report(node, "%s is 2.7+" % name, "py27", guardable=True)
        elif attr in ("major", "minor", "micro", "releaselevel", "serial") and base.split(".")[-1] == "version_info":
            self.report(node, "sys.version_info.%s is 2.7+: use sys.version_info[i]" % attr, "py27")
        elif not self.in_compat and (
            name in ("collections.OrderedDict", "collections.Counter", "subprocess.check_output")
        ):
            self.report(node, "%s is 2.7+ (use compat)" % name, "py27", guardable=True)
        self.generic_visit(node)

    def visit_Call(self, node):
        name = dotted(node.func) or ""
        last = name.split(".")[-1]
        keywords = set(k.arg for k in node.keywords if k.arg)
        if name == "format" and len(node.args) == 2:
            spec = node.args[1]
            if isinstance(spec, ast.Constant) and isinstance(spec.value, str) and has_grouping(spec.value):
                self.report(node, "format(x, %r): grouping is 2.7+" % spec.value, "format")
        if isinstance(node.func, ast.Attribute) and last in ("total_seconds", "bit_length"):
            self.report(node.func, ".%s() is 2.7+" % last, "py27", guardable=True)
        if last == "StreamHandler" and "stream" in keywords:
            self.report(
                node, "StreamHandler(stream=...): the 2.6 keyword is 'strm', pass the stream positionally", "logging"
            )
        if last in REMOVED_KEYWORDS:
            removed, version = REMOVED_KEYWORDS[last]
            for keyword in sorted(keywords & removed):
                self.report(
                    node, "%s(%s=...) removed in Python %s" % (last, keyword, version), "removed", guardable=True
                )
        if (
            last in ("assertRaises", "failUnlessRaises")
            and len(node.args) < 2
            and not any(isinstance(a, ast.Starred) for a in node.args)
        ):
            self.report(node, "assertRaises as a context manager is 2.7+", "unittest", guardable=True)
        self.generic_visit(node)


def markers(source):
    """Line numbers that carry the ``# py26: ok`` opt-out comment."""
    lines = set()
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.COMMENT and MARKER.search(tok.string):
                lines.add(tok.start[0])
    except (tokenize.TokenError, SyntaxError):
        for number, line in enumerate(source.splitlines(), 1):
            if MARKER.search(line):
                lines.add(number)
    return lines


CODING = re.compile(r"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)")


def non_ascii(source):
    """Python 2 refuses a non-ASCII byte anywhere in a file without a coding line (PEP 263)."""
    lines = source.splitlines()
    if any(CODING.match(line) for line in lines[:2]):
        return []
    return [
        (
            number,
            next(i for i, c in enumerate(line) if ord(c) > 127) + 1,
            "non-ASCII character without a coding declaration (SyntaxError on Python 2)",
            "encoding",
        )
        for number, line in enumerate(lines, 1)
        if any(ord(c) > 127 for c in line)
    ]


def check_source(source, path="<string>", in_compat=None):
    """Findings ``(line, col, message, rule)`` for one source text."""
    if in_compat is None:
        in_compat = "compat" in os.path.abspath(path).split(os.sep)[:-1]
    try:
        tree = ast.parse(source, path)
    except SyntaxError as exc:
        return [(exc.lineno or 1, exc.offset or 1, "does not parse: %s" % exc.msg, "parse")]
    checker = Checker(in_compat)
    checker.visit(tree)
    quiet = markers(source)
    findings = checker.findings + non_ascii(source)
    return sorted(set(f for f in findings if f[0] not in quiet))


def check_file(path):
    with open(path, "rb") as handle:
        data = handle.read()
    try:
        source = data.decode("utf-8")
    except UnicodeDecodeError:
        source = data.decode("latin-1")
    return check_source(source, path)


def python_files(path, excludes):
    if os.path.isfile(path):
        candidates = [path]
    else:
        candidates = []
        for top, dirs, files in os.walk(path):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            candidates.extend(os.path.join(top, f) for f in sorted(files) if f.endswith(".py"))
    for candidate in candidates:
        slashed = "/" + os.path.abspath(candidate).replace(os.sep, "/")
        if not any(fnmatch.fnmatch(slashed, pattern) for pattern in excludes):
            yield candidate


def display(path):
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def main(argv=None):
    parser = argparse.ArgumentParser(description="Flag what Python 2.6 cannot run and vermin does not see.")
    parser.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="files or directories (default: %s under the repository root)" % " ".join(DEFAULT_PATHS),
    )
    parser.add_argument(
        "--exclude",
        action="append",
        metavar="GLOB",
        help="skip files whose absolute path matches (default: %s)" % " ".join(DEFAULT_EXCLUDES),
    )
    args = parser.parse_args(argv)  # exits 2 on a usage error
    if sys.version_info < (3, 8):
        parser.error("needs Python 3.8+ (older ast has no ast.Constant), this is %s" % sys.version.split()[0])
    paths = args.paths or [os.path.join(ROOT, p) for p in DEFAULT_PATHS]
    excludes = args.exclude if args.exclude is not None else list(DEFAULT_EXCLUDES)
    missing = [p for p in paths if not os.path.exists(p)]
    if missing:
        parser.error("no such file or directory: %s" % ", ".join(missing))
    count = 0
    for path in paths:
        for filename in python_files(path, excludes):
            for line, col, message, rule in check_file(filename):
                print("%s:%d:%d: %s [%s]" % (display(filename), line, col, message, rule))
                count += 1
    if count:
        print("%d finding(s)" % count, file=sys.stderr)
    return 1 if count else 0


if __name__ == "__main__":
    sys.exit(main())
