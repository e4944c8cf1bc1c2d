"""NagiosProbes through the real pilot.pyz: the probes of pilot.json (old schema) run, their status
and output kept, the results PUT to NagiosPutURL; the command never fails the pilot."""

import os
import stat
import threading
import time

import pytest
from six.moves import BaseHTTPServer, socketserver

import helpers
pytest.register_assert_rewrite("dirac_fixtures")  # before its first import
from dirac_fixtures import pilot_env

CE = "ce.test.local"
PROBES = {
    "probe_ok": "#!/bin/sh\necho 'OK: all fine'\necho 'detail line'\nexit 0\n",
    "probe_warn": "#!/bin/sh\necho 'WARNING: disk almost full'\nexit 1\n",
    "probe_crit": "#!/bin/sh\necho 'CRITICAL: no CVMFS'\nexit 2\n",
    "probe_odd": "#!/bin/sh\necho 'UNKNOWN: odd state'\nexit 3\n",
}


# -- a small HTTP server that records PUT requests ------------------------------------------------------

class _PutHandler(BaseHTTPServer.BaseHTTPRequestHandler):
    def do_PUT(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        self.server.puts.append((self.path, body))
        status = self.server.status
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


class _Server(socketserver.ThreadingMixIn, BaseHTTPServer.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class PutServer(object):
    def __init__(self, status=200):
        self.server = _Server(("127.0.0.1", 0), _PutHandler)
        self.server.puts = []
        self.server.status = status
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1})
        self.thread.daemon = True
        self.thread.start()

    @property
    def puts(self):
        return self.server.puts

    def url(self, path=""):
        return "http://127.0.0.1:%d/%s" % (self.port, path)

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def put_server():
    server = PutServer()
    yield server
    server.close()


# -- helpers -------------------------------------------------------------------------------------------

def _pilot_json(work, probes, put_url=None):
    """Old schema; the setup's probes replace those of Defaults (when it has some)."""
    setup = {"Version": "9.0.0"}
    defaults = {}
    if probes:
        setup["NagiosProbes"] = ", ".join(probes)
        defaults["NagiosProbes"] = "never_this_one"
    if put_url:
        setup["NagiosPutURL"] = put_url
    helpers.write_json(os.path.join(work, "pilot.json"), {
        "Setups": {"Test": setup, "Defaults": defaults},
        "DefaultSetup": "Test",
        "CEs": {CE: {"Site": "DIRAC.Test.local", "GridCEType": "HTCondorCE"}},
    })


def _probe(work, name, mode=0o755, script=None):
    path = os.path.join(work, name)
    helpers.write_text(path, script or PROBES[name])
    os.chmod(path, mode)
    return path


def _run(run_pilot, work, env=None):
    rc, out, err = run_pilot(["-N", CE, "-X", "NagiosProbes"], work, env=pilot_env(env), timeout=120)
    assert "Traceback" not in out + err, out + err
    result = helpers.load_result(work)
    return rc, out, err, result


def _probes(result):
    entry = [c for c in result["commands"] if c["name"] == "NagiosProbes"][0]
    assert entry["status"] == "ok"
    return entry["details"]["probes"]


# -- tests -----------------------------------------------------------------------------------------------

def test_probes_run_and_their_status_is_kept(run_pilot, workdir):
    names = ["probe_ok", "probe_warn", "probe_crit", "probe_odd"]
    for name in names:
        _probe(workdir, name)
    _pilot_json(workdir, names)
    rc, out, err, result = _run(run_pilot, workdir)
    assert rc == 0, out + err
    assert result["pilot"]["status"] == "done"
    probes = _probes(result)
    assert sorted(probes) == sorted(names)
    assert probes["probe_ok"]["exit_code"] == 0 and probes["probe_ok"]["status"] == "info"
    assert probes["probe_ok"]["output"].splitlines() == ["OK: all fine", "detail line"]
    assert probes["probe_warn"]["exit_code"] == 1 and probes["probe_warn"]["status"] == "warning"
    assert "WARNING: disk almost full" in probes["probe_warn"]["output"]
    assert probes["probe_crit"]["exit_code"] == 2 and probes["probe_crit"]["status"] == "error"
    assert "CRITICAL: no CVMFS" in probes["probe_crit"]["output"]
    assert probes["probe_odd"]["exit_code"] == 3 and probes["probe_odd"]["status"] == "error"
    assert "never_this_one" not in probes
    log = helpers.pilot_out(workdir)
    assert [line for line in log.splitlines() if " INFO " in line and "probe probe_ok: exit code 0" in line]
    assert [line for line in log.splitlines() if " WARNING " in line and "probe probe_warn: exit code 1" in line]
    assert [line for line in log.splitlines() if " ERROR " in line and "probe probe_crit: exit code 2" in line]
    assert "OK: all fine" in log      # the probes' output is logged too


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o600])
def test_probe_without_exec_bit_becomes_executable_and_keeps_its_mode(run_pilot, workdir, mode):
    path = _probe(workdir, "probe_ok", mode=mode)
    _pilot_json(workdir, ["probe_ok"])
    rc, out, err, result = _run(run_pilot, workdir)
    assert rc == 0, out + err
    assert _probes(result)["probe_ok"]["exit_code"] == 0
    assert stat.S_IMODE(os.stat(path).st_mode) == mode | stat.S_IXUSR


def test_executable_probe_mode_unchanged(run_pilot, workdir):
    path = _probe(workdir, "probe_ok", mode=0o750)
    _pilot_json(workdir, ["probe_ok"])
    rc, out, err, result = _run(run_pilot, workdir)
    assert rc == 0
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o750


def test_missing_probe(run_pilot, workdir):
    _probe(workdir, "probe_ok")
    _pilot_json(workdir, ["probe_missing", "probe_ok", "../probe_ok"])
    rc, out, err, result = _run(run_pilot, workdir)
    assert rc == 0, out + err
    probes = _probes(result)
    assert probes["probe_missing"] == {"exit_code": 2, "status": "error", "output": "probe not found"}
    assert probes["../probe_ok"]["exit_code"] == 2           # only probes of the work directory
    assert probes["probe_ok"]["exit_code"] == 0
    assert "probe probe_missing: not found in %s" % workdir in helpers.pilot_out(workdir)


def test_no_probes(run_pilot, workdir):
    _pilot_json(workdir, [])
    rc, out, err, result = _run(run_pilot, workdir)
    assert rc == 0, out + err
    assert _probes(result) == {}
    assert "no probes to run" in helpers.pilot_out(workdir)


def test_results_are_put(run_pilot, workdir, put_server):
    for name in ("probe_ok", "probe_crit"):
        _probe(workdir, name)
    _pilot_json(workdir, ["probe_ok", "probe_crit", "probe_missing"], put_server.url("nagios/put/"))
    before = int(time.time())
    rc, out, err, result = _run(run_pilot, workdir)
    after = int(time.time())
    assert rc == 0, out + err
    puts = dict(put_server.puts)
    assert sorted(puts) == ["/nagios/put/%s/%s" % (CE, name) for name in ("probe_crit", "probe_missing", "probe_ok")]
    for name, code, output in (("probe_ok", 0, "OK: all fine\ndetail line"), ("probe_crit", 2, "CRITICAL: no CVMFS"),
                               ("probe_missing", 2, "probe not found")):
        body = helpers.to_text(puts["/nagios/put/%s/%s" % (CE, name)])
        first, rest = body.split("\n", 1)
        status, epoch = first.split(" ")
        assert int(status) == code
        assert before <= int(epoch) <= after
        assert rest.strip() == output
    probes = _probes(result)
    assert probes["probe_ok"]["sent"] is True
    assert probes["probe_missing"]["sent"] is True


def test_put_failing_never_fails_the_pilot(run_pilot, workdir):
    refusing = PutServer(status=500)
    try:
        _probe(workdir, "probe_ok")
        _pilot_json(workdir, ["probe_ok"], refusing.url("put/"))
        rc, out, err, result = _run(run_pilot, workdir)
    finally:
        refusing.close()
    assert rc == 0, out + err
    assert _probes(result)["probe_ok"]["sent"] is False
    assert "cannot PUT the result" in helpers.pilot_out(workdir)


def test_put_to_nobody_never_fails_the_pilot(run_pilot, workdir):
    _probe(workdir, "probe_crit")
    _pilot_json(workdir, ["probe_crit"], "http://127.0.0.1:%d/put/" % helpers.free_port())
    rc, out, err, result = _run(run_pilot, workdir)
    assert rc == 0, out + err
    assert result["pilot"]["status"] == "done"
    probe = _probes(result)["probe_crit"]
    assert probe["exit_code"] == 2 and probe["sent"] is False
    warnings = [line for line in helpers.pilot_out(workdir).splitlines() if " WARNING " in line]
    assert any("probe probe_crit: cannot PUT the result to http://127.0.0.1:" in line for line in warnings)


# -- HTTPS with the proxy as client certificate ------------------------------------------------------------

@pytest.fixture
def tls_put_server(certs):
    """An HTTPS server that requires a client certificate issued by the test CA."""
    context = helpers.server_ssl_context(certs)
    import ssl

    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(certs.ca_cert)
    server = PutServer()
    server.server.socket = context.wrap_socket(server.server.socket, server_side=True)
    server.server.peers = []
    yield server
    server.close()


def _client_proxy(certs, folder):
    """A proxy-style file (certificate + key) issued by the test CA."""
    key = os.path.join(folder, "client.key")
    csr = os.path.join(folder, "client.csr")
    cert = os.path.join(folder, "client.pem")
    for args in (["genrsa", "-out", key, "2048"],
                 ["req", "-new", "-key", key, "-subj", "/DC=org/DC=test/CN=pilot proxy", "-out", csr],
                 ["x509", "-req", "-in", csr, "-CA", certs.ca_cert, "-CAkey", certs.ca_key, "-set_serial", "77",
                  "-days", "1", "-out", cert]):
        rc, out, err = helpers.run(["openssl"] + args, folder, timeout=60)
        assert rc == 0, err
    proxy = os.path.join(folder, "proxy.pem")
    helpers.write_text(proxy, helpers.read_bytes(cert) + helpers.read_bytes(key))
    os.chmod(proxy, 0o600)
    return proxy


def test_results_are_put_over_https_with_the_proxy(run_pilot, workdir, tmpdir, certs, tls_put_server):
    url = "https://localhost:%d/put/" % tls_put_server.port
    _probe(workdir, "probe_ok")
    _pilot_json(workdir, ["probe_ok"], url)
    proxy = _client_proxy(certs, str(tmpdir.mkdir("proxy")))
    rc, out, err, result = _run(run_pilot, workdir, env={"X509_USER_PROXY": proxy, "X509_CERT_DIR": certs.ca_dir})
    assert rc == 0, out + err
    assert _probes(result)["probe_ok"]["sent"] is True, helpers.pilot_out(workdir)
    assert [path for path, _ in tls_put_server.puts] == ["/put/%s/probe_ok" % CE]


def test_https_put_without_a_client_certificate_is_refused(run_pilot, workdir, certs, tls_put_server):
    _probe(workdir, "probe_ok")
    _pilot_json(workdir, ["probe_ok"], "https://localhost:%d/put/" % tls_put_server.port)
    rc, out, err, result = _run(run_pilot, workdir, env={"X509_CERT_DIR": certs.ca_dir})
    assert rc == 0, out + err
    assert _probes(result)["probe_ok"]["sent"] is False
    assert tls_put_server.puts == []


def test_probe_killed_by_a_signal(run_pilot, workdir):
    _probe(workdir, "probe_self_kill", script="#!/bin/sh\necho started\nkill -9 $$\n")
    _pilot_json(workdir, ["probe_self_kill"])
    rc, out, err, result = _run(run_pilot, workdir)
    assert rc == 0, out + err
    probe = _probes(result)["probe_self_kill"]
    assert probe["status"] == "error"
    assert probe["exit_code"] != 0
    assert "started" in probe["output"]
