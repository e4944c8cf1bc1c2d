"""Fixtures of the DIRAC test double's own tests (python -m pytest tests/doubles/dirac).

The release is made once per session; the one slow step, a Python virtual
environment made by the DIRACOS-style installer with the wheel pip-installed
into it, is also made once per session and shared.
"""

import json
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import make_release  # noqa: E402

VERSION = "9.0.0"


def isolated_env(home, extra=None):
    """The environment the tools run in: no stray DIRAC variables, a private HOME, pip offline."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("DIRAC", "FAKE_DIRAC", "X509_", "PIP_", "VIRTUAL_ENV"))
    }
    env.update(
        {
            "HOME": str(home),
            "PIP_CONFIG_FILE": os.devnull,
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "PIP_NO_INPUT": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PILOT_LOG_HANDOFF": "off",
        }
    )
    env.update(extra or {})
    return env


class Release(dict):
    """The manifest of make_release, plus helpers to run its tools."""

    def run(self, tool, *args, **kw):
        """Run a tool of the preinstalled form, as `source diracosrc && tool args`."""
        rc = kw.pop("rc", self["preinstalled_rc"])
        cwd = kw.pop("cwd")
        env = isolated_env(kw.pop("home", cwd), kw.pop("env", None))
        timeout = kw.pop("timeout", 60)
        assert not kw, kw
        return subprocess.run(
            ["bash", "-c", 'source "$0" && exec "$@"', rc, tool] + [str(a) for a in args],
            cwd=str(cwd),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            universal_newlines=True,
            timeout=timeout,
        )


@pytest.fixture(scope="session")
def release(tmp_path_factory):
    out = tmp_path_factory.mktemp("release")
    manifest = make_release.make_release(str(out), VERSION, project="", git=True)
    with open(os.path.join(str(out), "release.json")) as handle:
        assert json.load(handle) == manifest
    return Release(manifest)


@pytest.fixture
def server(tmp_path):
    """A fresh server directory with the default waiting job (JobID 1)."""
    return make_release.make_server(str(tmp_path / "server"))


@pytest.fixture(scope="session")
def diracos(release, tmp_path_factory):
    """The DIRACOS-style installer run once, the wheel pip-installed into it offline."""
    base = tmp_path_factory.mktemp("diracos")
    env = isolated_env(base, {"MAMBA_EXTRACT_THREADS": "3"})
    first = subprocess.run(
        ["bash", release["installer"]],
        cwd=str(base),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        universal_newlines=True,
        timeout=120,
    )
    assert first.returncode == 0, first.stdout
    pip = subprocess.run(
        [
            "bash",
            "-c",
            'source diracos/diracosrc && pip install --no-index --find-links "$0" "$1"',
            release["index"],
            release["pip_requirement"],
        ],
        cwd=str(base),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        universal_newlines=True,
        timeout=180,
    )
    assert pip.returncode == 0, pip.stdout
    return {
        "base": base,
        "prefix": base / "diracos",
        "rc": str(base / "diracos" / "diracosrc"),
        "installer_output": first.stdout,
        "pip_output": pip.stdout,
        "env": env,
    }
