"""The interpreter tooling of CI: finding interpreters, provisioning 2.6 and 2.7, the Docker-only
tox envs, the timing of run-tests' steps."""

import hashlib
import os
import re
import shutil
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run(args, **kwargs):
    return subprocess.run(args, cwd=REPO, capture_output=True, text=True, **kwargs)


def test_find_pythons_lists_every_env_once():
    lines = run(["sh", ".ci/find-pythons.sh"]).stdout.split("\n")
    envs = [line.split()[0] for line in lines if line.strip()]
    assert envs == ["py26", "py27", "py36", "py37", "py38", "py39", "py310", "py311", "py312", "py313"]
    for line in lines:
        if line.strip() and not line.endswith("MISSING"):
            env, path = line.split()
            version = run([path, "-c", "import sys; print('%d%d' % sys.version_info[:2])"]).stdout.strip()
            assert env == "py" + version


def test_find_pythons_reports_missing_interpreters(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYENV_ROOT": str(tmp_path / "none")}
    lines = run(["sh", ".ci/find-pythons.sh"], env=env).stdout.split("\n")
    assert "py26 MISSING" in lines
    assert "py27 MISSING" in lines
    assert "py36 MISSING" in lines


def test_python27_provisioner_unpacks_a_working_interpreter(tmp_path):
    """The fallback for images without 2.7: CPython 2.7.18 from Debian bullseye, host apt untouched."""
    if not shutil.which("apt-get") or not shutil.which("dpkg"):
        pytest.skip("no apt-get/dpkg on this machine: the provisioner is for Debian-like hosts")
    prefix = tmp_path / "py27"
    proc = run([".ci/provision-python27.sh", str(prefix)], timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    python = proc.stdout.strip().splitlines()[-1]
    check = run([python, "-c", "import ssl, hashlib, bz2, zlib, json, sys; print(sys.version.split()[0])"])
    assert check.stdout.strip() == "2.7.18", check.stderr
    again = run([".ci/provision-python27.sh", str(prefix)], timeout=120)
    assert again.returncode == 0 and again.stdout.strip().splitlines()[-1] == python


def _python26_source():
    cache = os.environ.get("PILOTS2_CACHE") or os.path.expanduser("~/.cache/pilots2")
    source = os.environ.get("PILOT_PY26_SOURCE") or os.path.join(cache, "sources")
    if not os.path.isdir(source) or not os.listdir(source):  # as .ci/provision-python26.sh looks
        source = os.path.join(os.path.dirname(REPO), "shared", "anchors", "cpython-2.6")
    found = (
        [
            os.path.join(source, n)
            for n in sorted(os.listdir(source))
            if n.startswith("cpython-2.6") and n.endswith(".tar.xz")
        ]
        if os.path.isdir(source)
        else [source]
    )
    if not os.path.isfile(found[-1] if found else ""):
        pytest.skip("no CPython 2.6 source tarball in %s (set PILOT_PY26_SOURCE)" % source)
    return found[-1]


def test_python26_provisioner_builds_or_reuses_the_interpreter_of_the_tarball():
    """Cached by the tarball's sha256: ./run-tests built it already, so this is the quick path."""
    tarball = _python26_source()
    key = hashlib.sha256(open(tarball, "rb").read()).hexdigest()[:12]
    proc = run([".ci/provision-python26.sh", tarball], timeout=1200)
    assert proc.returncode == 0, proc.stderr[-2000:]
    python = proc.stdout.strip()
    assert "\n" not in python  # the path is the only line on stdout
    cache = os.environ.get("PILOTS2_CACHE") or os.path.expanduser("~/.cache/pilots2")
    assert python == os.path.join(cache, "python26-" + key, "bin", "python2.6")
    assert re.search(r"provision-python26: (already there: .*|built Python 2\.6\S* in )\(?\d+ s\)?$", proc.stderr)
    check = run([python, "-c", "import sys, zlib, bz2, json, hashlib; print('%d.%d' % sys.version_info[:2])"])
    assert check.stdout.strip() == "2.6", check.stderr
    assert run([python, "-c", "import ssl"]).returncode != 0  # no ssl: it does not build against OpenSSL 3
    assert not os.path.exists(os.path.join(os.path.dirname(python), "python"))  # altinstall: no plain "python"


@pytest.mark.parametrize("content", [None, b"not a tarball"])
def test_python26_provisioner_fails_in_one_line(tmp_path, content):
    source = tmp_path / "cpython-2.6-broken.tar.xz"
    if content is not None:
        source.write_bytes(content)
    proc = run(
        [".ci/provision-python26.sh", str(source)], env=dict(os.environ, PILOTS2_CACHE=str(tmp_path / "c")), timeout=120
    )
    assert proc.returncode == 1 and proc.stdout == ""
    last = proc.stderr.strip().splitlines()[-1]
    if content is None:
        assert (
            last == "provision-python26: cannot read the CPython 2.6 source %s (set PILOT_PY26_SOURCE to "
            "the tarball or its folder)" % source
        )
    else:
        assert re.match(r"provision-python26: unpack failed after \d+ s \(last lines of .*\.log tell why\)$", last)
        assert not [p for p in (tmp_path / "c").iterdir() if p.is_dir()]  # no half-made build left


def test_run_tests_steps_print_their_duration():
    script = "source .ci/env.sh; step first; sleep 1; step 'second one'; timing_summary"
    proc = run(["bash", "-c", script])
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "==> first" in lines and "==> second one" in lines
    assert [line for line in lines if line.startswith("<== ")][0] in ("<== first: 1 s", "<== first: 2 s")
    assert re.search(r"^ +\d+ s  first\n +\d+ s  second one\n +\d+ s  total$", proc.stdout, re.M)


@pytest.mark.parametrize("env", ["sl6", "cc7"])
def test_docker_envs_fail_loudly_without_an_engine(env):
    if run(["docker", "info"]).returncode == 0:
        pytest.skip("a Docker engine is running here: tox -e %s would really build the image" % env)
    tox = os.path.join(os.path.dirname(sys.executable), "tox")
    proc = run([tox, "-e", env], timeout=300)
    assert proc.returncode != 0
    assert "needs a running Docker engine" in proc.stdout + proc.stderr
