"""The interpreter tooling of CI: finding interpreters, provisioning 2.7, the Docker-only tox envs."""

import os
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
    assert envs == ["py27", "py36", "py37", "py38", "py39", "py310", "py311", "py312", "py313"]
    for line in lines:
        if line.strip() and not line.endswith("MISSING"):
            env, path = line.split()
            version = run([path, "-c", "import sys; print('%d%d' % sys.version_info[:2])"]).stdout.strip()
            assert env == "py" + version


def test_find_pythons_reports_missing_interpreters(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYENV_ROOT": str(tmp_path / "none")}
    lines = run(["sh", ".ci/find-pythons.sh"], env=env).stdout.split("\n")
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


@pytest.mark.parametrize("env", ["sl6", "cc7"])
def test_docker_envs_fail_loudly_without_an_engine(env):
    if run(["docker", "info"]).returncode == 0:
        pytest.skip("a Docker engine is running here: tox -e %s would really build the image" % env)
    tox = os.path.join(os.path.dirname(sys.executable), "tox")
    proc = run([tox, "-e", env], timeout=300)
    assert proc.returncode != 0
    assert "needs a running Docker engine" in proc.stdout + proc.stderr
