"""Fixtures of the worker-node tests (Python 2.6 ... 3.13 syntax).

Unit tests import the sources: <repo>/pilot_src and <repo> (for ``compat``)
go first on sys.path, then this folder (helpers) and tests/ (``support``, ``doubles``).  Integration tests run the real pilot.pyz
(``$PILOT_PYZ``, default <repo>/dist/pilot.pyz) with this interpreter.
"""

import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
for _path in (os.path.dirname(HERE), HERE, REPO, os.path.join(REPO, "pilot_src")):
    if _path in sys.path:
        sys.path.remove(_path)
    sys.path.insert(0, _path)
del _path

import helpers  # noqa: E402  (needs the sys.path lines above)


@pytest.fixture(scope="session")
def pyz():
    path = helpers.pyz_path()
    if not os.path.isfile(path):
        pytest.fail("dist/pilot.pyz missing: run python3 build/build_pilot.py (looked for %s)" % path)
    return path


@pytest.fixture
def workdir(tmpdir):
    return str(tmpdir)


@pytest.fixture
def run_pilot(pyz):
    """run_pilot(args, cwd, env=None, timeout=60, python=sys.executable, stdin=None) -> (rc, out, err)."""

    def run(args, cwd, env=None, timeout=60, python=None, stdin=None, pyz_file=None):
        return helpers.run_pilot(args, cwd, env=env, timeout=timeout, python=python or sys.executable,
                                 stdin=stdin, pyz=pyz_file or pyz)

    return run


@pytest.fixture
def http_server(tmpdir):
    server = helpers.FileServer(str(tmpdir.mkdir("www")))
    yield server
    server.close()


@pytest.fixture(scope="session")
def certs(tmpdir_factory):
    return helpers.TestCerts(str(tmpdir_factory.mktemp("certs")))


@pytest.fixture
def https_server(tmpdir, certs):
    root = str(tmpdir.mkdir("wwws"))
    server = helpers.https(lambda context: helpers.FileServer(root, context), certs)
    yield server
    server.close()


@pytest.fixture
def no_proxy(monkeypatch):
    """In-process requests go straight to 127.0.0.1."""
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
