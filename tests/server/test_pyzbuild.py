"""Tests of the reproducible pilot.pyz build (pilot_server.pyzbuild, build/build_pilot.py).

Anything that mutates sources works on a copy in tmp_path: either a tiny fake
checkout made here or a snapshot of the real tree (which others edit meanwhile).
The six wheel (only for --with-six) is found like the build finds it (local
copies first); pip downloads it only when no local copy exists.
"""

import bz2
import hashlib
import os
import shutil
import subprocess
import sys
import time
import zipfile

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PILOT_SRC = os.path.join(REPO, "pilot_src")
if PILOT_SRC not in sys.path:
    sys.path.insert(0, PILOT_SRC)

from pilot_server import pyzbuild  # noqa: E402
from support.interpreters import find_interpreter as interpreter  # noqa: E402

LAUNCHER = os.path.join(REPO, "build", "build_pilot.py")
EPOCH_1980 = (1980, 1, 1, 0, 0, 0)

FAKE_MAIN = """\
import os
import sys
if sys.path and sys.path[0] and not os.path.isabs(sys.path[0]):
    sys.path[0] = os.path.abspath(sys.path[0])
import pyzimport
pyzimport.install(sys.path[0], globals().get("__loader__"))
import compat, pilot, pilotTools
try:
    import six
    six_version = six.__version__
except ImportError:
    six_version = "none"
sys.stdout.write("fake pilot %s six %s tools %s\\n" % (pilot.__version__, six_version, pilotTools.X))
if sys.argv[1:] == ["fail"]:
    import traceback
    from pilot.commands import basic
    try:
        basic.fail()
    except ValueError:  # as the pilot logs an internal error: through the traceback module
        sys.stderr.write(traceback.format_exc())
"""

# A module with comments and docstrings: stripped, its line numbers stay.
BASIC = '''"""The module docstring,
on two lines."""
# a comment
NAME = 'basic'  # a trailing comment


def fail():
    """A docstring
    of three
    lines."""
    x = "# not a comment"
    raise ValueError("line 12 " + x)
'''

FAKE_FILES = {
    "pilot_src/pilot/__init__.py": '__version__ = "9.9.9"\n',
    "pilot_src/pilot/commands/__init__.py": "",
    "pilot_src/pilot/commands/basic.py": BASIC,
    "pilot_src/pilot/data/schema.json": '{"a": 1}\n',
    "pilot_src/pilot/_pyzroot/__main__.py": FAKE_MAIN,
    "pilot_src/pilot/_pyzroot/pilotTools.py": "X = 42\n",
    "pilot_src/pilot/_pyzroot/pyzimport.py": open(os.path.join(PILOT_SRC, "pilot", "_pyzroot", "pyzimport.py")).read(),
    "compat/__init__.py": "PY2 = False\n",
    "compat/net.py": "\r\nCRLF = 'kept as is'\r\n",
}
# Present in the tree, never in the pyz.
JUNK_FILES = [
    "pilot_src/pilot/__pycache__/__init__.cpython-311.pyc",
    "pilot_src/pilot/stale.pyc",
    "pilot_src/pilot/commands/old.pyo",
    "pilot_src/pilot/.basic.py.swp",
    "pilot_src/pilot/.hidden/secret.py",
    "compat/__pycache__/net.cpython-36.pyc",
    "compat/.gitignore",
]
FAKE_MEMBERS = ["__main__.py", "pilot.bz2", "pilot.idx", "pilot/__init__.py", "pilot/data/schema.json", "pyzimport.py"]
FAKE_MODULES = [
    "compat/__init__.py",
    "compat/net.py",
    "pilot/commands/__init__.py",
    "pilot/commands/basic.py",
    "pilotTools.py",
]


# ----------------------------------------------------------------- helpers


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(data.encode("utf-8") if isinstance(data, str) else data)


def sha256_file(path):
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def all_files(root):
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            yield os.path.join(dirpath, name)


def clean_env(**extra):
    env = dict(os.environ)
    for name in ("PYTHONPATH", "PYTHONHOME", "SOURCE_DATE_EPOCH", "PILOT_SIX_WHEEL"):
        env.pop(name, None)
    env.update(extra)
    return env


def run(args, env=None, cwd=None, timeout=120):
    return subprocess.run(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
        env=env or clean_env(),
        cwd=cwd,
        timeout=timeout,
    )


def run_launcher(*args, python=sys.executable, env=None):
    return run([python, LAUNCHER] + list(args), env=env)


def assert_one_line_error(proc, *fragments):
    assert proc.returncode == 1, proc
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("build_pilot: error: ")
    for fragment in fragments:
        assert fragment in lines[0]


def bad_wheel(path):
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("six.py", "__version__ = 'evil'\n")
    return path


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def six_wheel():
    env_wheel = os.environ.get("PILOT_SIX_WHEEL")
    try:
        return pyzbuild.find_six_wheel(env_wheel, log=print)
    except pyzbuild.BuildError as exc:
        pytest.skip("no six wheel locally and no download: %s" % exc)


@pytest.fixture(autouse=True)
def no_build_env(monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)


@pytest.fixture
def fake_root(tmp_path):
    root = str(tmp_path / "checkout")
    for rel, text in FAKE_FILES.items():
        write(os.path.join(root, rel), text)
    for rel in JUNK_FILES:
        write(os.path.join(root, rel), b"junk\n")
    return root


@pytest.fixture
def real_root(tmp_path):
    """A snapshot of the real pilot_src/pilot and compat."""
    root = str(tmp_path / "snapshot")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo")
    shutil.copytree(os.path.join(PILOT_SRC, "pilot"), os.path.join(root, "pilot_src", "pilot"), ignore=ignore)
    shutil.copytree(os.path.join(REPO, "compat"), os.path.join(root, "compat"), ignore=ignore)
    return root


def build(root, out, wheel, **kwargs):
    return pyzbuild.build_pyz(str(out), source_root=root, six_wheel=wheel, **kwargs)


# ------------------------------------------------------------------- layout


def test_fake_tree_layout(fake_root, tmp_path):
    result = build(fake_root, tmp_path / "pilot.pyz", None)
    modules = pyzbuild.read_modules(result.path)
    assert sorted(modules) == FAKE_MODULES  # no six.py unless asked for
    assert modules["compat/net.py"] == b"\nCRLF = 'kept as is'\n"
    stripped = modules["pilot/commands/basic.py"].decode("utf-8").split("\n")
    assert stripped[:4] == ["", "", "", "NAME = 'basic'"]  # docstring, comment: gone, lines kept
    assert stripped[6:11] == ["def fail():", "    0", "", "", '    x = "# not a comment"']
    assert len(stripped) == len(BASIC.split("\n"))
    with zipfile.ZipFile(result.path) as zf:
        assert zf.namelist() == FAKE_MEMBERS
        assert zf.getinfo("pilot.bz2").compress_type == zipfile.ZIP_STORED  # compressed once
        index = [line.split(" ") for line in zf.read("pilot.idx").decode("ascii").splitlines()]
        assert [f[0] for f in index][:3] == ["compat/__init__.py", "compat/net.py", "pilot/commands/__init__.py"]
        assert sum(int(f[1]) for f in index) == len(bz2.decompress(zf.read("pilot.bz2")))
        table = {m["name"]: m for m in result.members}
        for name in zf.namelist():
            data = zf.read(name)
            assert table[name]["sha256"] == hashlib.sha256(data).hexdigest()
            assert table[name]["size"] == len(data)
    assert [m["name"] for m in result.members] == FAKE_MEMBERS
    assert result["sha256"] == result.sha256 == sha256_file(result.path)
    assert result.size == os.path.getsize(result.path)
    assert result.version == "9.9.9"


def test_with_six(fake_root, six_wheel, tmp_path):
    result = build(fake_root, tmp_path / "pilot.pyz", six_wheel)
    with zipfile.ZipFile(six_wheel) as wheel:
        six_py = wheel.read("six.py").decode("utf-8")
    assert pyzbuild.read_modules(result.path)["six.py"] == pyzbuild.strip_source(six_py).encode("utf-8")


def test_zip_fields(fake_root, tmp_path):
    path = build(fake_root, tmp_path / "pilot.pyz", None).path
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
        assert zf.comment == b""
    assert [i.filename for i in infos] == sorted(i.filename for i in infos)
    for info in infos:
        assert not info.filename.endswith("/")  # no directory entries
        assert info.date_time == EPOCH_1980
        assert info.create_system == 3
        assert info.external_attr == 0o100644 << 16
        assert info.compress_type == (zipfile.ZIP_STORED if info.filename == "pilot.bz2" else zipfile.ZIP_DEFLATED)
        assert info.flag_bits & 0x08 == 0  # no data descriptor
        assert info.extra == b""
        assert not info.filename.endswith((".pyc", ".pyo"))
    with open(path, "rb") as fh:
        data = fh.read()
    assert data[:4] == b"PK\x03\x04"  # no shebang or other prefix
    tail = data[-22:]
    assert tail[:4] == b"PK\x05\x06"  # the end record is the very last thing ...
    assert tail[-2:] == b"\x00\x00"  # ... and its comment length is 0
    assert oct(os.stat(path).st_mode & 0o777) == oct(0o644)


def test_real_tree_layout(real_root, tmp_path):
    result = build(real_root, tmp_path / "pilot.pyz", None)
    names = [m["name"] for m in result.members]
    assert names == ["__main__.py", "pilot.bz2", "pilot.idx", "pilot/__init__.py", "pyzimport.py"]
    modules = pyzbuild.read_modules(result.path)
    pyzroot = os.path.join(real_root, "pilot_src", "pilot", "_pyzroot")
    for name in os.listdir(pyzroot):
        if name.endswith(".py") and name not in pyzbuild.ROOT_PLAIN:
            assert name in modules  # _pyzroot modules sit at the top ...
    assert not [n for n in modules if n.startswith("pilot/_pyzroot")]  # ... and only there
    for needed in ("pilot/cli.py", "compat/__init__.py"):
        assert needed in modules
    assert "six.py" not in modules
    assert "pilot/testing.py" not in modules  # for a VO's unit tests only
    assert "pilot/testing.py" in pyzbuild.read_modules(
        build(real_root, tmp_path / "testing.pyz", None, with_testing=True).path
    )
    for name, source in modules.items():
        compile(source, name, "exec")  # what runs still compiles ...
        original = (
            os.path.join(real_root, "pilot_src", "pilot", "_pyzroot", name)
            if "/" not in name
            else os.path.join(real_root, "" if name.startswith("compat/") else "pilot_src", name)
        )
        with open(original, "rb") as fh:  # ... and has the line count of the checkout's file
            assert source.count(b"\n") == len(fh.read().splitlines()), name


def test_extension_goes_to_root(fake_root, tmp_path):
    ext = str(tmp_path / "ext" / "LHCbPilotCommands.py")
    write(ext, "class LHCbConfigure(object): pass\n")
    result = build(fake_root, tmp_path / "pilot.pyz", None, extensions=[ext])
    assert "LHCbPilotCommands.py" in [m["name"] for m in result.members]
    assert result.sha256 != build(fake_root, tmp_path / "plain.pyz", None).sha256


def test_clashing_names_fail(fake_root, six_wheel, tmp_path):
    ext = str(tmp_path / "ext" / "six.py")
    write(ext, "")
    with pytest.raises(pyzbuild.BuildError, match="both become six.py"):
        build(fake_root, tmp_path / "pilot.pyz", six_wheel, extensions=[ext])


# ---------------------------------------------------------- reproducibility


def test_two_builds_identical(fake_root, real_root, tmp_path):
    for name, root in (("fake", fake_root), ("real", real_root)):
        first = build(root, tmp_path / (name + "1.pyz"), None)
        second = build(root, tmp_path / (name + "2.pyz"), None)
        assert first.sha256 == second.sha256
        assert first.members == second.members


def test_mtimes_and_modes_do_not_matter(real_root, six_wheel, tmp_path):
    before = build(real_root, tmp_path / "before.pyz", six_wheel).sha256
    for n, path in enumerate(sorted(all_files(real_root))):
        stamp = time.time() - 86400 * (n + 1) * 37
        os.utime(path, (stamp, stamp))
        os.chmod(path, (0o600, 0o755, 0o640, 0o444)[n % 4])
    old_umask = os.umask(0o077)
    try:
        after = build(real_root, tmp_path / "after.pyz", six_wheel).sha256
    finally:
        os.umask(old_umask)
    assert before == after


@pytest.mark.parametrize("version", ["3.6", "3.8", "3.11", "3.13"])
def test_same_sha256_under_each_python(version, real_root, tmp_path):
    python = interpreter(version)
    if python is None:
        pytest.skip("Python %s is not on this machine (.ci/find-pythons.sh finds none)" % version)
    expected = build(real_root, tmp_path / "here.pyz", None).sha256
    out = str(tmp_path / ("py" + version + ".pyz"))
    proc = run_launcher("--source-root", real_root, "--output", out, "--quiet", python=python)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "%s  size=%d  sha256=%s" % (out, os.path.getsize(out), expected)
    assert proc.stderr == ""  # --quiet
    assert sha256_file(out) == expected


def test_source_date_epoch(fake_root, six_wheel, tmp_path, monkeypatch):
    default = build(fake_root, tmp_path / "default.pyz", six_wheel).sha256
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    dated = build(fake_root, tmp_path / "dated.pyz", six_wheel)
    with zipfile.ZipFile(dated.path) as zf:
        assert {i.date_time for i in zf.infolist()} == {time.gmtime(1700000000)[:6]}
    assert dated.sha256 != default
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")  # before the DOS epoch: clamped to 1980
    assert build(fake_root, tmp_path / "zero.pyz", six_wheel).sha256 == default
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    with pytest.raises(pyzbuild.BuildError, match="SOURCE_DATE_EPOCH"):
        build(fake_root, tmp_path / "bad.pyz", six_wheel)


# ---------------------------------------------------------------- running


def test_pyz_runs_under_every_interpreter(fake_root, six_wheel, tmp_path):
    build(fake_root, tmp_path / "pilot.pyz", None)
    build(fake_root, tmp_path / "six.pyz", six_wheel)
    ran = 0
    for version in ("2.7", "3.6", "3.7", "3.8", "3.9", "3.10", "3.11", "3.12", "3.13"):
        python = interpreter(version)
        if python is None:
            continue
        # relative path, like a job wrapper may; -S: no six from the interpreter's site-packages
        proc = run([python, "-S", "pilot.pyz"], cwd=str(tmp_path))
        assert proc.returncode == 0, (version, proc.stderr)
        assert proc.stdout == "fake pilot 9.9.9 six none tools 42\n"
        proc = run([python, "six.pyz"], cwd=str(tmp_path))
        assert proc.stdout == "fake pilot 9.9.9 six 1.17.0 tools 42\n", (version, proc.stderr)
        # A traceback names the module's real path in the pyz, its line and that line.
        proc = run([python, "pilot.pyz", "fail"], cwd=str(tmp_path))
        where = os.path.join(str(tmp_path), "pilot.pyz", "pilot", "commands", "basic.py")
        assert 'File "%s", line 12, in fail' % where in proc.stderr, (version, proc.stderr)
        assert 'raise ValueError("line 12 " + x)' in proc.stderr, (version, proc.stderr)
        ran += 1
    if not ran:
        pytest.skip("no interpreter on this machine (.ci/find-pythons.sh finds none)")


# ------------------------------------------------------------------ errors


def test_wrong_wheel_hash_is_one_line_error(fake_root, tmp_path):
    wheel = bad_wheel(str(tmp_path / pyzbuild.SIX_WHEEL_NAME))
    out = str(tmp_path / "out" / "pilot.pyz")
    proc = run_launcher("--source-root", fake_root, "--six-wheel", wheel, "--output", out)
    assert_one_line_error(proc, "sha256", pyzbuild.SIX_WHEEL_SHA256)
    assert not os.path.exists(out)
    # The same through the environment variable (with --with-six: without, no wheel is looked for).
    proc = run_launcher("--source-root", fake_root, "--output", out, env=clean_env(PILOT_SIX_WHEEL=wheel))
    assert proc.returncode == 0, proc.stderr
    os.remove(out)
    proc = run_launcher("--source-root", fake_root, "--output", out, "--with-six", env=clean_env(PILOT_SIX_WHEEL=wheel))
    assert_one_line_error(proc, "sha256")


def test_missing_wheel_is_one_line_error(fake_root, tmp_path):
    proc = run_launcher(
        "--source-root", fake_root, "--six-wheel", str(tmp_path / "nope.whl"), "--output", str(tmp_path / "pilot.pyz")
    )
    assert_one_line_error(proc, "six wheel not found")


def test_non_ascii_name_fails(fake_root, tmp_path):
    write(os.path.join(fake_root, "compat", "r\u00e9seau.py"), "")
    out = str(tmp_path / "out" / "pilot.pyz")
    with pytest.raises(pyzbuild.BuildError, match="non-ASCII file name"):
        build(fake_root, out, None)
    proc = run_launcher("--source-root", fake_root, "--output", out)
    assert_one_line_error(proc, "non-ASCII")
    assert not os.path.exists(out)


def test_not_a_checkout_fails(tmp_path, six_wheel):
    proc = run_launcher(
        "--source-root", str(tmp_path), "--six-wheel", six_wheel, "--output", str(tmp_path / "pilot.pyz")
    )
    assert_one_line_error(proc, "pilot package not found")


def test_missing_main_fails(fake_root, six_wheel, tmp_path):
    os.remove(os.path.join(fake_root, "pilot_src", "pilot", "_pyzroot", "__main__.py"))
    with pytest.raises(pyzbuild.BuildError, match="__main__.py"):
        build(fake_root, tmp_path / "pilot.pyz", six_wheel)


def test_missing_extension_fails(fake_root, six_wheel, tmp_path):
    proc = run_launcher(
        "--source-root",
        fake_root,
        "--six-wheel",
        six_wheel,
        "--output",
        str(tmp_path / "pilot.pyz"),
        "--with-extension",
        str(tmp_path / "NoSuchCommands.py"),
    )
    assert_one_line_error(proc, "NoSuchCommands.py")


def test_output_is_directory_fails(fake_root, six_wheel, tmp_path):
    proc = run_launcher("--source-root", fake_root, "--six-wheel", six_wheel, "--output", str(tmp_path))
    assert_one_line_error(proc, "is a directory")


def test_usage_errors_exit_2():
    proc = run_launcher("--bogus")
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "Traceback" not in proc.stderr
    assert pyzbuild.main(["--with-extension"]) == 2
    assert run_launcher("--help").returncode == 0


def test_failed_write_keeps_old_output(fake_root, six_wheel, tmp_path, monkeypatch):
    out = tmp_path / "out" / "pilot.pyz"
    good = build(fake_root, out, six_wheel).sha256

    def broken(fh, members, date_time):
        fh.write(b"half a zip")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pyzbuild, "_write_zip", broken)
    with pytest.raises(OSError):
        build(fake_root, out, six_wheel)
    assert sha256_file(str(out)) == good
    assert os.listdir(str(out.parent)) == ["pilot.pyz"]  # no temp file left


# ------------------------------------------------------- finding the wheel


@pytest.fixture
def isolated_wheel_search(tmp_path, monkeypatch):
    """No local wheel anywhere: the build must have pip download it into a tmp cache."""
    monkeypatch.setattr(pyzbuild, "SYSTEM_WHEEL_DIRS", ())
    monkeypatch.setattr(pyzbuild, "checkout_root", lambda: None)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("PILOT_SIX_WHEEL", raising=False)
    return os.path.join(str(tmp_path / "cache"), "pilots2", pyzbuild.SIX_WHEEL_NAME)


def test_pip_download_verified_and_cached(isolated_wheel_search, six_wheel, monkeypatch, tmp_path):
    links = tmp_path / "links"
    links.mkdir()
    shutil.copy(six_wheel, str(links))
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # pip finds the wheel in a local folder, offline
    monkeypatch.setenv("PIP_FIND_LINKS", str(links))
    assert pyzbuild.find_six_wheel() == isolated_wheel_search
    assert sha256_file(isolated_wheel_search) == pyzbuild.SIX_WHEEL_SHA256
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "nothing"))
    assert pyzbuild.find_six_wheel() == isolated_wheel_search  # from the cache, no pip


def test_failed_pip_download_is_one_line_error(isolated_wheel_search, monkeypatch, fake_root, tmp_path, capsys):
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "nothing"))
    rc = pyzbuild.main(["--source-root", fake_root, "--output", str(tmp_path / "p.pyz"), "--quiet", "--with-six"])
    err = capsys.readouterr().err
    assert rc == 1
    assert len(err.strip().splitlines()) == 1
    assert "pip download six==1.17.0 failed" in err and "Traceback" not in err
    assert not os.path.exists(isolated_wheel_search)


def test_bad_cached_wheel_is_an_error(isolated_wheel_search):
    os.makedirs(os.path.dirname(isolated_wheel_search))
    bad_wheel(isolated_wheel_search)
    with pytest.raises(pyzbuild.BuildError, match="expected"):
        pyzbuild.find_six_wheel()


# ------------------------------------------------------- locating sources


def test_default_output():
    assert pyzbuild.default_output() == os.path.join(REPO, "dist", "pilot.pyz")
    assert pyzbuild.default_output("/x/y") == os.path.join("/x/y", "dist", "pilot.pyz")


def test_sources_from_installed_packages(fake_root, tmp_path, monkeypatch):
    # Installed, the worker package is <server>.worker with compat inside it (docs/packaging.md); a
    # stand-in server package keeps the checkout's own pilot_server out of the way.
    site = str(tmp_path / "site")
    worker = os.path.join(site, "fakeserver", "worker")
    shutil.copytree(os.path.join(fake_root, "pilot_src", "pilot"), worker)
    shutil.copytree(os.path.join(fake_root, "compat"), os.path.join(worker, "compat"))
    with open(os.path.join(site, "fakeserver", "__init__.py"), "w"):
        pass
    monkeypatch.setattr(pyzbuild, "checkout_root", lambda: None)
    monkeypatch.setattr(pyzbuild, "WORKER_PACKAGE", "fakeserver.worker")
    monkeypatch.syspath_prepend(site)
    assert pyzbuild.locate_sources() == (worker, os.path.join(worker, "compat"))
    from_site = pyzbuild.build_pyz(str(tmp_path / "site.pyz"))
    assert from_site.sha256 == build(fake_root, tmp_path / "checkout.pyz", None).sha256
