"""Tests of build/check_py26.py, the extra Python 2.6 check."""

import importlib.util
import os
import subprocess
import sys
import textwrap

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "build", "check_py26.py")

_spec = importlib.util.spec_from_file_location("check_py26", SCRIPT)
check_py26 = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_py26)


def findings(tmp_path, source, name="mod.py", subdir="pilot"):
    """Run the checker on ``source`` written to a file; return [(line, rule)]."""
    folder = tmp_path / subdir
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(source).lstrip("\n"), encoding="utf-8")
    return [(line, rule) for line, _col, _msg, rule in check_py26.check_file(str(path))]


def run_cli(*args, cwd=None):
    return subprocess.run(
        [sys.executable, SCRIPT] + list(args),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
    )


# Each case: source whose LAST line must be flagged, with the expected rule.
FLAGGED = {
    "empty field": ('x = 1\ns = "{} and {}".format(1, 2)', "format"),
    "lone empty field formatted": ('x = 1\ns = "{}".format(1)', "format"),
    "empty field with spec": ('x = 1\ns = "{:d}".format(1)', "format"),
    "empty field with conversion": ('x = 1\ns = "{!r}".format(1)', "format"),
    "empty field with align": ('x = 1\ns = "{:>8}".format(1)', "format"),
    "empty field with attribute": ('x = 1\ns = "{.real}".format(1)', "format"),
    "template in a variable": ('x = 1\nTEMPLATE = "value: {}"', "format"),
    "comma grouping": ('x = 1\ns = "{0:,}".format(1000)', "format"),
    "comma grouping with width": ('x = 1\ns = "{0:>10,.2f}".format(1000)', "format"),
    "underscore grouping": ('x = 1\ns = "{0:_d}".format(1000)', "format"),
    "nested auto-numbered spec": ('x = 1\ns = "{0:{}}".format(1, 5)', "format"),
    "bytes template": ('x = 1\ns = b"{} {}"', "format"),
    "format builtin grouping": ('x = 1\ns = format(1000, ",")', "format"),
    "format builtin grouping d": ('x = 1\ns = format(1000, ",d")', "format"),
    "f-string": ('x = 1\ns = f"{x}"', "fstring"),
    "with ZipFile": ("import zipfile\nwith zipfile.ZipFile(p) as z:\n    pass", "with", 2),
    "with bare ZipFile": ("from zipfile import ZipFile\nwith ZipFile(p) as z:\n    pass", "with", 2),
    "with GzipFile": ("import gzip\nwith gzip.GzipFile(p) as z:\n    pass", "with", 2),
    "with TarFile": ("import tarfile\nwith tarfile.TarFile(p) as z:\n    pass", "with", 2),
    "with BZ2File": ("import bz2\nwith bz2.BZ2File(p) as z:\n    pass", "with", 2),
    "with Popen": ("import subprocess\nwith subprocess.Popen(['ls']) as p:\n    pass", "with", 2),
    "with tarfile.open": ("import tarfile\nwith tarfile.open(p) as t:\n    pass", "with", 2),
    "with gzip.open": ("import gzip\nwith gzip.open(p) as g:\n    pass", "with", 2),
    "with bz2.open": ("import bz2\nwith bz2.open(p) as g:\n    pass", "with", 2),
    "with two items": ("x = 1\nwith open(a) as f, open(b) as g:\n    pass", "with", 2),
    "set literal": ("x = 1\ns = {1, 2}", "syntax"),
    "set comprehension": ("x = 1\ns = {i for i in x}", "syntax"),
    "dict comprehension": ("x = 1\ns = {i: i for i in x}", "syntax"),
    "assertIn": ("x = 1\nself.assertIn(1, x)", "unittest"),
    "assertNotIn": ("x = 1\nself.assertNotIn(1, x)", "unittest"),
    "assertIs": ("x = 1\nself.assertIs(1, x)", "unittest"),
    "assertIsNot": ("x = 1\nself.assertIsNot(1, x)", "unittest"),
    "assertIsNone": ("x = 1\nself.assertIsNone(x)", "unittest"),
    "assertIsNotNone": ("x = 1\nself.assertIsNotNone(x)", "unittest"),
    "assertIsInstance": ("x = 1\nself.assertIsInstance(x, int)", "unittest"),
    "assertItemsEqual": ("x = 1\nself.assertItemsEqual(x, x)", "unittest"),
    "assertGreater": ("x = 1\nself.assertGreater(x, 0)", "unittest"),
    "assertGreaterEqual": ("x = 1\nself.assertGreaterEqual(x, 0)", "unittest"),
    "assertLess": ("x = 1\nself.assertLess(x, 2)", "unittest"),
    "assertLessEqual": ("x = 1\nself.assertLessEqual(x, 2)", "unittest"),
    "assertDictEqual": ("x = 1\nself.assertDictEqual(x, x)", "unittest"),
    "assertSetEqual": ("x = 1\nself.assertSetEqual(x, x)", "unittest"),
    "assertRegexpMatches": ("x = 1\nself.assertRegexpMatches(x, 'a')", "unittest"),
    "assertRaises context manager": ("x = 1\nwith self.assertRaises(ValueError):\n    int('a')", "unittest", 2),
    "addCleanup": ("x = 1\nself.addCleanup(x)", "unittest"),
    "skipTest": ("x = 1\nself.skipTest('no')", "unittest"),
    "setUpClass": ("class T(object):\n    @classmethod\n    def setUpClass(cls):\n        pass", "unittest", 3),
    "unittest.skip decorator": ("import unittest\n@unittest.skip('x')\ndef test():\n    pass", "unittest", 2),
    "unittest.skipIf decorator": ("import unittest\n@unittest.skipIf(1, 'x')\ndef test():\n    pass", "unittest", 2),
    "from unittest import skipUnless": ("x = 1\nfrom unittest import skipUnless", "unittest"),
    "assertEquals alias": ("x = 1\nself.assertEquals(x, 1)", "unittest"),
    "failUnless alias": ("x = 1\nself.failUnless(x)", "unittest"),
    "StreamHandler stream=": ("import logging, sys\nh = logging.StreamHandler(stream=sys.stderr)", "logging"),
    "import imp": ("x = 1\nimport imp", "removed"),
    "import distutils": ("x = 1\nfrom distutils.version import LooseVersion", "removed"),
    "import pipes": ("x = 1\nimport pipes", "removed"),
    "import cgi": ("x = 1\nimport cgi", "removed"),
    "import asyncore": ("x = 1\nimport asyncore", "removed"),
    "collections.Mapping": ("import collections\nisinstance(x, collections.Mapping)", "removed"),
    "from collections import Mapping": ("x = 1\nfrom collections import Mapping", "removed"),
    "platform.linux_distribution": ("import platform\nplatform.linux_distribution()", "removed"),
    "base64.encodestring": ("import base64\nbase64.encodestring(b'x')", "removed"),
    "base64.decodestring": ("import base64\nbase64.decodestring(b'x')", "removed"),
    "time.clock": ("import time\nt = time.clock()", "removed"),
    "ssl.wrap_socket": ("import ssl\ns = ssl.wrap_socket(sock)", "removed"),
    "HTTPSConnection key_file": ("x = 1\nc = HTTPSConnection(h, key_file=k)", "removed"),
    "HTTPSConnection cert_file": ("x = 1\nc = httplib.HTTPSConnection(h, cert_file=c)", "removed"),
    "urlopen cafile": ("x = 1\nr = urlopen(u, cafile=c)", "removed"),
    "check_output import": ("x = 1\nfrom subprocess import check_output", "py27"),
    "check_output attribute": ("import subprocess\nsubprocess.check_output(['ls'])", "py27"),
    "argparse": ("x = 1\nimport argparse", "py27"),
    "OrderedDict import": ("x = 1\nfrom collections import OrderedDict", "py27"),
    "OrderedDict attribute": ("import collections\nd = collections.OrderedDict()", "py27"),
    "importlib": ("x = 1\nimport importlib", "py27"),
    "importlib.util": ("x = 1\nfrom importlib import import_module", "py27"),
    "total_seconds": ("x = 1\ns = delta.total_seconds()", "py27"),
    "version_info.major": ("import sys\nif sys.version_info.major == 2:\n    pass", "py27", 2),
    "bit_length": ("x = 1\nn = x.bit_length()", "py27"),
    "int.bit_length": ("x = 1\nbits = map(int.bit_length, x)", "py27"),
    "timedelta.total_seconds": ("x = 1\nf = datetime.timedelta.total_seconds", "py27"),
    "py2-only syntax": ("x = 1\nprint 'hello'", "parse"),
}


@pytest.mark.parametrize("case", sorted(FLAGGED))
def test_flagged(tmp_path, case):
    source, rule = FLAGGED[case][:2]
    line = FLAGGED[case][2] if len(FLAGGED[case]) > 2 else source.count("\n") + 1
    found = findings(tmp_path, source)
    assert (line, rule) in found, found


CLEAN = {
    "percent formatting": 's = "%s and %d" % (a, 1)',
    "numbered fields": 's = "{0} {1!r} {0:>8} {name} {0[key]} {1.attr}".format(a, b, name=c)',
    "numbered field with spec": 's = "{0:d} {0:08.3f} {0:,<8}".format(1)',
    "escaped braces": 's = "{{}} and {{0}}"',
    "not a template": 's = "}{" + "{" + "a{b"',
    "regex quantifier": 'import re\nr = re.compile(r"\\d{2,3}")',
    "docstring": 'def f():\n    """Use "{}".format(x) in py3 only."""\n    return 1',
    "format builtin": 's = format(1.5, ".2f")',
    "with open": "with open(p) as f:\n    f.read()",
    "with closing": "import contextlib\nwith contextlib.closing(ZipFile(p)) as z:\n    pass",
    "with pytest.raises": "import pytest\nwith pytest.raises(ValueError):\n    int('a')",
    "assertRaises with callable": "self.assertRaises(ValueError, int, 'a')",
    "2.6 unittest": "self.assertEqual(a, b)\nself.assertTrue(a)\nself.assertRaises(E, f)",
    "StreamHandler positional": "import logging, sys\nh = logging.StreamHandler(sys.stderr)",
    "StreamHandler strm": "import logging, sys\nh = logging.StreamHandler(strm=sys.stderr)",
    "guarded json import": "try:\n    import json\nexcept ImportError:\n    json = None",
    "guarded removed module": "try:\n    from shlex import quote\nexcept ImportError:\n    from pipes import quote",
    "guarded collections abc": "try:\n    from collections.abc import Mapping\n"
    "except (ImportError, AttributeError):\n"
    "    from collections import Mapping",
    "guarded by version_info": "import sys\nif sys.version_info[0] >= 3:\n    import importlib\nelse:\n    import imp",
    "guarded by PY2": "if PY2:\n    enc = base64.encodestring\nelse:\n    enc = base64.encodebytes",
    "guarded by hasattr": "import ssl\nif hasattr(ssl, 'wrap_socket'):\n    s = ssl.wrap_socket(sock)",
    "guarded conditional expression": "t = time.clock() if sys.version_info < (3,) else time.time()",
    "guarded attribute": "try:\n    enc = base64.encodebytes\nexcept AttributeError:\n    enc = base64.encodestring",
    "version_info index": "import sys\nif sys.version_info[0] == 2:\n    pass",
    "set and dict calls": "s = set([1, 2])\nd = dict((k, 1) for k in s)\ne = {}\nf = {1: 2}",
    "b prefix and except as": "try:\n    x = b'x'\nexcept ValueError as exc:\n    pass",
    "total_seconds as a plain attribute": "self.total_seconds = 0.0\nself.total_seconds += 1.5\nn = c.bit_length",
    "empty JSON text": 'data = json.loads(text or "{}")\nkw = section.get("kwargs", " {} ")',
    "compat.check_output": "from compat import check_output\nout = compat.check_output(['ls'])",
}


@pytest.mark.parametrize("case", sorted(CLEAN))
def test_clean(tmp_path, case):
    assert findings(tmp_path, CLEAN[case]) == []


def test_columns_and_message(tmp_path):
    path = tmp_path / "m.py"
    path.write_text('x = 1\nvalue = "{}".format(x)\n')
    result = check_py26.check_file(str(path))
    assert result == [(2, 9, result[0][2], "format")]
    assert "auto-numbered" in result[0][2]


def test_guard_does_not_cover_syntax_or_test(tmp_path):
    source = (
        "import sys\n"
        "if sys.version_info.major >= 3:\n"
        "    s = {1, 2}\n"
        "try:\n"
        "    d = {k: 1 for k in s}\n"
        "except ImportError:\n"
        "    pass\n"
    )
    assert findings(tmp_path, source) == [(2, "py27"), (3, "syntax"), (5, "syntax")]


def test_unrelated_try_is_no_guard(tmp_path):
    source = "try:\n    import imp\nexcept ValueError:\n    pass\n"
    assert findings(tmp_path, source) == [(2, "removed")]


def test_finally_is_not_guarded(tmp_path):
    source = "try:\n    import json\nexcept ImportError:\n    pass\nfinally:\n    import imp\n"
    assert findings(tmp_path, source) == [(6, "removed")]


def test_py27_imports_allowed_in_compat(tmp_path):
    source = (
        "import argparse\nimport importlib\nfrom collections import OrderedDict\nfrom subprocess import check_output\n"
    )
    assert findings(tmp_path, source, subdir="compat") == []
    assert [rule for _, rule in findings(tmp_path, source, subdir="pilot")] == ["py27"] * 4


def test_compat_still_checks_removed_modules(tmp_path):
    assert findings(tmp_path, "import imp\n", subdir="compat") == [(1, "removed")]


def test_opt_out_marker(tmp_path):
    source = (
        'a = "{} {}"  # py26: ok (brace text, never formatted)\n'
        'b = "{} {}"\n'
        "import imp  # py26:ok\n"
        'c = "# py26: ok {}"\n'
    )
    assert findings(tmp_path, source) == [(2, "format"), (4, "format")]


def test_opt_out_marker_silences_every_rule_on_the_line(tmp_path):
    source = "with ZipFile(a) as z, open(b) as f:  # py26: ok\n    pass\n"
    assert findings(tmp_path, source) == []


def test_one_finding_per_problem(tmp_path):
    source = 'x = 1\ns = "{} {}".format(1, 2)\n'
    assert findings(tmp_path, source) == [(2, "format")]


def test_cli_exit_codes(tmp_path):
    good = tmp_path / "good.py"
    good.write_text('print("%s" % 1)\n')
    bad = tmp_path / "pkg" / "bad.py"
    bad.parent.mkdir()
    bad.write_text('x = 1\ny = "{}".format(x)\nimport imp\n')

    result = run_cli(str(good))
    assert (result.returncode, result.stdout) == (0, "")

    result = run_cli(str(tmp_path))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines == [
        str(bad) + ":2:5: auto-numbered format field (2.6 needs '{0}', '{1}', ...) [format]",
        str(bad) + ":3:1: module imp removed in Python 3.12 [removed]",
    ]

    result = run_cli(str(tmp_path / "missing.py"))
    assert result.returncode == 2
    assert "missing.py" in result.stderr

    assert run_cli("--no-such-option").returncode == 2


def test_cli_relative_paths(tmp_path):
    (tmp_path / "bad.py").write_text("s = {1}\n")
    result = run_cli("bad.py", cwd=str(tmp_path))
    assert result.returncode == 1
    assert result.stdout.startswith("bad.py:1:5: set literal")


def test_cli_excludes_vendored_six(tmp_path):
    (tmp_path / "six.py").write_text("import imp\n")
    assert run_cli(str(tmp_path)).returncode == 0
    assert run_cli("--exclude", "*/nothing", str(tmp_path)).returncode == 1


def test_cli_default_paths_are_the_worker_node_code():
    result = run_cli(cwd="/")
    assert result.returncode in (0, 1)
    for line in result.stdout.splitlines():
        path = os.path.join("/", line.split(":", 1)[0])
        assert os.path.join(ROOT, "pilot_src", "pilot") in path or os.path.join(ROOT, "compat") in path, line


def test_non_ascii_without_coding_line_is_flagged(tmp_path):
    path = tmp_path / "m.py"
    path.write_text("x = 1\n# accepts \u00b2 too\n", encoding="utf-8")
    findings = check_py26.check_file(str(path))
    assert [(f[0], f[3]) for f in findings] == [(2, "encoding")]
    path.write_text("# -*- coding: utf-8 -*-\n# accepts \u00b2 too\n", encoding="utf-8")
    assert check_py26.check_file(str(path)) == []
