"""Tests of the reproducible pilot.pyz build (pilot_server.pyzbuild, build/build_pilot.py).

Anything that mutates sources works on a copy in tmp_path: either a tiny fake
checkout made here or a snapshot of the real tree (which others edit meanwhile).
The six wheel is found like the build finds it (local copies first); the network
is used only when no local copy exists.
"""

import glob
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
from support.ports import free_port  # noqa: E402

LAUNCHER = os.path.join(REPO, "build", "build_pilot.py")
EPOCH_1980 = (1980, 1, 1, 0, 0, 0)

FAKE_MAIN = """\
import os
import sys
if sys.path and sys.path[0] and not os.path.isabs(sys.path[0]):
    sys.path[0] = os.path.abspath(sys.path[0])
import compat, pilot, pilotTools, six
sys.stdout.write("fake pilot %s six %s tools %s\\n" % (pilot.__version__, six.__version__, pilotTools.X))
"""

FAKE_FILES = {
    "pilot_src/pilot/__init__.py": '__version__ = "9.9.9"\n',
    "pilot_src/pilot/commands/__init__.py": "",
    "pilot_src/pilot/commands/basic.py": "NAME = 'basic'\n",
    "pilot_src/pilot/data/schema.json": '{"a": 1}\n',
    "pilot_src/pilot/_pyzroot/__main__.py": FAKE_MAIN,
    "pilot_src/pilot/_pyzroot/pilotTools.py": "X = 42\n",
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
FAKE_MEMBERS = sorted([
    "__main__.py",
    "compat/__init__.py",
    "compat/net.py",
    "pilot/__init__.py",
    "pilot/commands/__init__.py",
    "pilot/commands/basic.py",
    "pilot/data/schema.json",
    "pilotTools.py",
    "six.py",
])


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


def pyenv_root():
    root = os.environ.get("PYENV_ROOT")
    if not root:
        try:
            root = subprocess.check_output(["pyenv", "root"], universal_newlines=True).strip()
        except (OSError, subprocess.CalledProcessError):
            root = os.path.expanduser("~/.pyenv")
    return root


def interpreter(version):
    """Newest pyenv python of version 'X.Y', or None when truly absent."""
    def patch(path):
        return int(path.split(os.sep)[-3].split(".")[2])

    found = [
        p for p in glob.glob(os.path.join(pyenv_root(), "versions", version + ".*", "bin", "python"))
        if os.access(p, os.X_OK) and os.path.basename(os.path.dirname(os.path.dirname(p))).count(".") == 2
    ]
    return max(found, key=patch) if found else None


def clean_env(**extra):
    env = dict(os.environ)
    for name in ("PYTHONPATH", "PYTHONHOME", "SOURCE_DATE_EPOCH", "PILOT_SIX_WHEEL"):
        env.pop(name, None)
    env.update(extra)
    return env


def run(args, env=None, cwd=None, timeout=120):
    return subprocess.run(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
        env=env or clean_env(), cwd=cwd, timeout=timeout,
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


def test_fake_tree_layout(fake_root, six_wheel, tmp_path):
    result = build(fake_root, tmp_path / "pilot.pyz", six_wheel)
    with zipfile.ZipFile(result.path) as zf:
        assert zf.namelist() == FAKE_MEMBERS
        assert zf.read("compat/net.py") == b"\r\nCRLF = 'kept as is'\r\n"  # bytes untouched
        with zipfile.ZipFile(six_wheel) as wheel:
            assert zf.read("six.py") == wheel.read("six.py")
        table = {m["name"]: m for m in result.members}
        for name in zf.namelist():
            data = zf.read(name)
            assert table[name]["sha256"] == hashlib.sha256(data).hexdigest()
            assert table[name]["size"] == len(data)
    assert [m["name"] for m in result.members] == FAKE_MEMBERS
    assert result["sha256"] == result.sha256 == sha256_file(result.path)
    assert result.size == os.path.getsize(result.path)
    assert result.version == "9.9.9"


def test_zip_fields(fake_root, six_wheel, tmp_path):
    path = build(fake_root, tmp_path / "pilot.pyz", six_wheel).path
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
        assert zf.comment == b""
    assert [i.filename for i in infos] == sorted(i.filename for i in infos)
    for info in infos:
        assert not info.filename.endswith("/")  # no directory entries
        assert info.date_time == EPOCH_1980
        assert info.create_system == 3
        assert info.external_attr == 0o100644 << 16
        assert info.compress_type == zipfile.ZIP_DEFLATED
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


def test_real_tree_layout(real_root, six_wheel, tmp_path):
    result = build(real_root, tmp_path / "pilot.pyz", six_wheel)
    names = [m["name"] for m in result.members]
    assert names == sorted(names)
    pyzroot = os.path.join(real_root, "pilot_src", "pilot", "_pyzroot")
    for name in os.listdir(pyzroot):
        if not name.startswith(".") and os.path.isfile(os.path.join(pyzroot, name)):
            assert name in names  # _pyzroot files sit at the root ...
    assert not [n for n in names if n.startswith("pilot/_pyzroot")]  # ... and only there
    for needed in ("__main__.py", "pilot/__init__.py", "compat/__init__.py", "six.py"):
        assert needed in names
    assert all(n.split("/")[0] in ("pilot", "compat") or "/" not in n for n in names)


def test_extension_goes_to_root(fake_root, six_wheel, tmp_path):
    ext = str(tmp_path / "ext" / "LHCbPilotCommands.py")
    write(ext, "class LHCbConfigure(object): pass\n")
    result = build(fake_root, tmp_path / "pilot.pyz", six_wheel, extensions=[ext])
    assert "LHCbPilotCommands.py" in [m["name"] for m in result.members]
    assert result.sha256 != build(fake_root, tmp_path / "plain.pyz", six_wheel).sha256


def test_clashing_names_fail(fake_root, six_wheel, tmp_path):
    ext = str(tmp_path / "ext" / "six.py")
    write(ext, "")
    with pytest.raises(pyzbuild.BuildError, match="both become six.py"):
        build(fake_root, tmp_path / "pilot.pyz", six_wheel, extensions=[ext])


# ---------------------------------------------------------- reproducibility


def test_two_builds_identical(fake_root, real_root, six_wheel, tmp_path):
    for name, root in (("fake", fake_root), ("real", real_root)):
        first = build(root, tmp_path / (name + "1.pyz"), six_wheel)
        second = build(root, tmp_path / (name + "2.pyz"), six_wheel)
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
def test_same_sha256_under_each_python(version, real_root, six_wheel, tmp_path):
    python = interpreter(version)
    if python is None:
        pytest.skip("Python %s is not installed under %s/versions" % (version, pyenv_root()))
    expected = build(real_root, tmp_path / "here.pyz", six_wheel).sha256
    out = str(tmp_path / ("py" + version + ".pyz"))
    proc = run_launcher("--source-root", real_root, "--six-wheel", six_wheel,
                        "--output", out, "--quiet", python=python)
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
    build(fake_root, tmp_path / "pilot.pyz", six_wheel)
    ran = 0
    for version in ("2.7", "3.6", "3.7", "3.8", "3.9", "3.10", "3.11", "3.12", "3.13"):
        python = interpreter(version)
        if python is None:
            continue
        proc = run([python, "pilot.pyz"], cwd=str(tmp_path))  # relative path, like a job wrapper may
        assert proc.returncode == 0, (version, proc.stderr)
        assert proc.stdout == "fake pilot 9.9.9 six 1.17.0 tools 42\n"
        ran += 1
    if not ran:
        pytest.skip("no pyenv interpreters under %s/versions" % pyenv_root())


# ------------------------------------------------------------------ errors


def test_wrong_wheel_hash_is_one_line_error(fake_root, tmp_path):
    wheel = bad_wheel(str(tmp_path / pyzbuild.SIX_WHEEL_NAME))
    out = str(tmp_path / "out" / "pilot.pyz")
    proc = run_launcher("--source-root", fake_root, "--six-wheel", wheel, "--output", out)
    assert_one_line_error(proc, "sha256", pyzbuild.SIX_WHEEL_SHA256)
    assert not os.path.exists(out)
    # The same through the environment variable.
    proc = run_launcher("--source-root", fake_root, "--output", out,
                        env=clean_env(PILOT_SIX_WHEEL=wheel))
    assert_one_line_error(proc, "sha256")


def test_missing_wheel_is_one_line_error(fake_root, tmp_path):
    proc = run_launcher("--source-root", fake_root, "--six-wheel", str(tmp_path / "nope.whl"),
                        "--output", str(tmp_path / "pilot.pyz"))
    assert_one_line_error(proc, "six wheel not found")


def test_non_ascii_name_fails(fake_root, six_wheel, tmp_path):
    write(os.path.join(fake_root, "compat", "r\u00e9seau.py"), "")
    out = str(tmp_path / "out" / "pilot.pyz")
    with pytest.raises(pyzbuild.BuildError, match="non-ASCII file name"):
        build(fake_root, out, six_wheel)
    proc = run_launcher("--source-root", fake_root, "--six-wheel", six_wheel, "--output", out)
    assert_one_line_error(proc, "non-ASCII")
    assert not os.path.exists(out)


def test_not_a_checkout_fails(tmp_path, six_wheel):
    proc = run_launcher("--source-root", str(tmp_path), "--six-wheel", six_wheel,
                        "--output", str(tmp_path / "pilot.pyz"))
    assert_one_line_error(proc, "pilot package not found")


def test_missing_main_fails(fake_root, six_wheel, tmp_path):
    os.remove(os.path.join(fake_root, "pilot_src", "pilot", "_pyzroot", "__main__.py"))
    with pytest.raises(pyzbuild.BuildError, match="__main__.py"):
        build(fake_root, tmp_path / "pilot.pyz", six_wheel)


def test_missing_extension_fails(fake_root, six_wheel, tmp_path):
    proc = run_launcher("--source-root", fake_root, "--six-wheel", six_wheel,
                        "--output", str(tmp_path / "pilot.pyz"),
                        "--with-extension", str(tmp_path / "NoSuchCommands.py"))
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
def package_index(tmp_path, monkeypatch):
    """pip's configuration for the download: only a local find-links folder (filled by the test)."""
    folder = tmp_path / "index"
    folder.mkdir()
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(folder))
    return folder


@pytest.fixture
def isolated_wheel_search(tmp_path, monkeypatch):
    """No local wheel anywhere: the build must download into a tmp cache."""
    monkeypatch.setattr(pyzbuild, "SYSTEM_WHEEL_DIRS", ())
    monkeypatch.setattr(pyzbuild, "checkout_root", lambda: None)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("PILOT_SIX_WHEEL", raising=False)
    return os.path.join(str(tmp_path / "cache"), "pilots2", pyzbuild.SIX_WHEEL_NAME)


def test_download_through_pip_verified_and_cached(isolated_wheel_search, six_wheel, package_index):
    shutil.copy(six_wheel, str(package_index))
    assert pyzbuild.find_six_wheel() == isolated_wheel_search
    assert sha256_file(isolated_wheel_search) == pyzbuild.SIX_WHEEL_SHA256
    os.unlink(str(package_index / pyzbuild.SIX_WHEEL_NAME))
    assert pyzbuild.find_six_wheel() == isolated_wheel_search  # from the cache, no index


def test_download_with_wrong_hash_is_not_cached(isolated_wheel_search, six_wheel, package_index, fake_root,
                                                tmp_path, capsys):
    # a well-formed six 1.17.0 wheel that is not the pinned one (pip accepts it; the sha256 does not)
    source = zipfile.ZipFile(six_wheel)
    other = zipfile.ZipFile(str(package_index / pyzbuild.SIX_WHEEL_NAME), "w")
    for info in source.infolist():
        other.writestr(info, source.read(info.filename))
    other.comment = b"not the pinned wheel"
    other.close()
    source.close()
    rc = pyzbuild.main(["--source-root", fake_root, "--output", str(tmp_path / "p.pyz"), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 1 and len(err.strip().splitlines()) == 1 and "expected" in err
    assert not os.path.exists(isolated_wheel_search)


def test_unreachable_index_is_one_line_error(isolated_wheel_search, monkeypatch, fake_root, tmp_path, capsys):
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    monkeypatch.delenv("PIP_EXTRA_INDEX_URL", raising=False)
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:%d/simple" % free_port())  # nothing listens
    monkeypatch.setenv("PIP_RETRIES", "0")
    rc = pyzbuild.main(["--source-root", fake_root, "--output", str(tmp_path / "p.pyz"), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 1
    assert len(err.strip().splitlines()) == 1
    assert "cannot download six==1.17.0" in err and "Traceback" not in err


def test_bad_cached_wheel_is_an_error(isolated_wheel_search):
    os.makedirs(os.path.dirname(isolated_wheel_search))
    bad_wheel(isolated_wheel_search)
    with pytest.raises(pyzbuild.BuildError, match="expected"):
        pyzbuild.find_six_wheel()


# ------------------------------------------------------- locating sources


def test_default_output():
    assert pyzbuild.default_output() == os.path.join(REPO, "dist", "pilot.pyz")
    assert pyzbuild.default_output("/x/y") == os.path.join("/x/y", "dist", "pilot.pyz")


def test_sources_from_installed_packages(fake_root, six_wheel, tmp_path, monkeypatch):
    site = str(tmp_path / "site")
    shutil.copytree(os.path.join(fake_root, "pilot_src", "pilot"), os.path.join(site, "pilot"))
    shutil.copytree(os.path.join(fake_root, "compat"), os.path.join(site, "compat"))
    monkeypatch.setattr(pyzbuild, "checkout_root", lambda: None)
    monkeypatch.syspath_prepend(site)
    for name in ("pilot", "compat"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    assert pyzbuild.locate_sources() == (os.path.join(site, "pilot"), os.path.join(site, "compat"))
    from_site = pyzbuild.build_pyz(str(tmp_path / "site.pyz"), six_wheel=six_wheel)
    assert from_site.sha256 == build(fake_root, tmp_path / "checkout.pyz", six_wheel).sha256
