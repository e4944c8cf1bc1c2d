"""Fixtures of the real-DIRAC tests: one DIRAC server for the session, the pilot built and signed,
the pilot's proxies, a logbook (``pilotctl logbook serve`` on SQLite) and the interpreters.

A server that cannot be installed or started fails the tests that need it, with the reason: it
never skips them.
"""

import os
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
for path in (HERE, os.path.join(REPO, "pilot_src"), os.path.dirname(HERE)):  # tests/: support
    if path not in sys.path:
        sys.path.insert(0, path)

import dirac_server  # noqa: E402
from support.interpreters import find_interpreters  # noqa: E402

PILOTCTL = [sys.executable, "-m", "pilot_server.cli"]
INTERPRETERS = dict(find_interpreters())


def interpreter(name):
    if name not in INTERPRETERS:
        pytest.skip("Python %s.%s is not on this machine (.ci/find-pythons.sh finds none)" % (name[2], name[3:]))
    return INTERPRETERS[name]


def report(config, text):
    """A line in pytest's output, past its capture: the time of each step of the set-up."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.ensure_newline()
            reporter.write_line("real DIRAC: %s" % text)


def run(args, what, **kwargs):
    proc = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, **kwargs)
    assert proc.returncode == 0, "%s failed (exit %d): %s" % (what, proc.returncode, proc.stdout[-2000:])
    return proc.stdout


@pytest.fixture(scope="session")
def dirac(request, tmp_path_factory):
    """The server, started once; the user's proxy uploaded and the pilot's proxy made."""
    started = time.time()
    try:
        server = dirac_server.start(str(tmp_path_factory.mktemp("dirac")))
    except dirac_server.ServerError as exc:
        pytest.fail("the real DIRAC server could not be installed or started: %s" % exc, pytrace=False)
    try:
        client = os.path.join(server.dir, "client")
        server.user_proxy = server.proxy_init("dirac_user", os.path.join(client, "user.proxy"))
        server.pilot_proxy = server.proxy_init("dirac_pilot", os.path.join(client, "pilot.proxy"), upload=False)
    except dirac_server.ServerError as exc:
        server.stop()
        pytest.fail(str(exc), pytrace=False)
    report(
        request.config,
        "server started, user and pilot proxies made in %.1f s (%s)" % (time.time() - started, server.dir),
    )
    yield server
    started = time.time()
    server.stop()
    report(request.config, "server stopped, its databases dropped in %.1f s" % (time.time() - started))


@pytest.fixture(scope="session")
def signed_pyz(tmp_path_factory):
    """pilot.pyz built from this checkout, signed with a fresh key: (pyz, public key)."""
    folder = str(tmp_path_factory.mktemp("pyz"))
    pyz = os.path.join(folder, "pilot.pyz")
    run([sys.executable, os.path.join(REPO, "build", "build_pilot.py"), "--quiet", "--output", pyz], "the build")
    key = os.path.join(folder, "signer.pem")
    run(PILOTCTL + ["keygen", key], "pilotctl keygen")
    run(PILOTCTL + ["sign", "--key", key, pyz], "pilotctl sign")
    return pyz, os.path.join(folder, "signer.pub.pem")


class Logbook(object):
    """``pilotctl logbook serve`` over HTTPS with the DIRAC host's certificate, on SQLite."""

    def __init__(self, folder, server):
        self.folder = folder
        self.secret = os.path.join(folder, "token.secret")
        run(PILOTCTL + ["token-secret", self.secret], "pilotctl token-secret")
        self.db = "sqlite:///%s" % os.path.join(folder, "logbook.sqlite")
        self.port = dirac_server.free_port()
        grid = os.path.join(server.dir, "server", "etc", "grid-security")
        self.log_path = os.path.join(folder, "serve.log")
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                PILOTCTL
                + [
                    "logbook",
                    "serve",
                    "--db",
                    self.db,
                    "--listen",
                    "127.0.0.1:%d" % self.port,
                    "--tls-cert",
                    os.path.join(grid, "hostcert.pem"),
                    "--tls-key",
                    os.path.join(grid, "hostkey.pem"),
                    "--token-secret",
                    self.secret,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        self.url = "https://localhost:%d/api/v1/logs" % self.port
        deadline = time.time() + 60
        while not dirac_server.port_open(self.port):
            if self.process.poll() is not None or time.time() > deadline:
                self.stop()
                raise AssertionError("pilotctl logbook serve did not start: %s" % self.log()[-2000:])
            time.sleep(0.2)

    def log(self):
        with open(self.log_path, errors="replace") as handle:
            return handle.read()

    def token_file(self, stamp, folder):
        path = os.path.join(folder, "logbook.token")
        run(PILOTCTL + ["token", "--secret", self.secret, "--stamp", stamp, "-o", path], "pilotctl token")
        return path

    def store(self):
        from pilot_server.logbook.store.logstore import Store

        return Store.open(self.db, migrate=False)

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture(scope="session")
def logbook(tmp_path_factory, dirac):
    made = Logbook(str(tmp_path_factory.mktemp("logbook")), dirac)
    yield made
    made.stop()
