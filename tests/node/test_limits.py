"""The pilot never hangs and never runs away: bounded downloads, files that are not files,
pilot.json nested too deep, -P far above the processors, full disks.

Each case checks the exit code and the one line that says why, under this interpreter
(tox runs it under 2.7 ... 3.13).  No wall-clock assertion: a bound that did not hold
shows up as the run's own safety timeout failing the test.
"""

import os
import re
import socket
import threading
import time

import pytest
from six.moves import BaseHTTPServer, socketserver

import helpers
from compat import net
from pilot import exitcodes
from pilot.config import fetch, pilotjson, safeinput
from pilot.node import nodeinfo
from pilot.errors import PilotError

NETWORK = exitcodes.BY_NAME["NETWORK"].code


class _Handler(BaseHTTPServer.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def do_GET(self):
        mode = self.server.mode
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        try:
            if mode == "slow":          # one byte every 0.3 s, for up to a minute
                ends = time.time() + 60
                while time.time() < ends and not self.server.closing:
                    self.wfile.write(b" ")
                    self.wfile.flush()
                    time.sleep(0.3)
            elif mode == "endless":     # as fast as the client reads, for ever
                chunk = b" " * 65536
                while not self.server.closing:
                    self.wfile.write(chunk)
        except (socket.error, IOError, OSError):
            pass    # the client gave up: that is the point

    def log_message(self, *args):
        pass


class _Server(socketserver.ThreadingMixIn, BaseHTTPServer.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        pass


@pytest.fixture
def bad_server():
    servers = []

    def make(mode):
        server = _Server(("127.0.0.1", 0), _Handler)
        server.mode = mode
        server.closing = False
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
        thread.daemon = True
        thread.start()
        servers.append(server)
        return "http://127.0.0.1:%d/pilot.json" % server.server_address[1]

    yield make
    for server in servers:
        server.closing = True
        server.shutdown()
        server.server_close()


def transports():
    found = ["python"]
    for tool in ("curl", "wget"):
        if net._which(tool):
            found.append(tool)
    return found


@pytest.fixture
def no_proxy(monkeypatch):
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


# -- downloads --------------------------------------------------------------------------

@pytest.mark.parametrize("how", transports())
def test_a_trickling_server_is_given_up_at_the_deadline(bad_server, how, no_proxy):
    url = bad_server("slow")
    with pytest.raises(net.FetchError) as info:
        net.request(url, timeout=10, transport=how, limits=net.Limits(1.5, 1024 * 1024))
    assert "no complete answer within 1.5 s (the limit for this download)" in str(info.value)


@pytest.mark.parametrize("how", transports())
def test_an_endless_body_is_cut_at_the_size_limit(bad_server, how, no_proxy):
    url = bad_server("endless")
    with pytest.raises(net.FetchError) as info:
        net.request(url, timeout=10, transport=how, limits=net.Limits(60, 1024 * 1024))
    assert "larger than 1048576 bytes (the limit for this download)" in str(info.value)


def test_an_announced_size_over_the_limit_is_refused_before_reading(http_server, no_proxy):
    http_server.put("big.json", b" " * 5000)
    with pytest.raises(net.FetchError) as info:
        net.request(http_server.url("big.json"), limits=net.Limits(60, 4000))
    assert "larger than 4000 bytes" in str(info.value)
    assert net.request(http_server.url("big.json"), limits=net.Limits(60, 5000)) == b" " * 5000


def test_every_kind_of_download_has_limits():
    for kind in ("pilot.json", "versions", "extension", "installer", "tarball", "file"):
        limits = fetch.limits_of(kind)
        assert limits.deadline > 0 and limits.max_bytes > 0
    assert fetch.limits_of("no such kind").deadline == fetch.LIMITS["file"][0]


def test_the_downloader_turns_a_trickle_into_a_network_failure(bad_server, monkeypatch, no_proxy):
    monkeypatch.setitem(fetch.LIMITS, "pilot.json", (1.5, 1024 * 1024))
    logger, sink = helpers.make_logger()
    downloader = fetch.Downloader(logger.source("test"), attempts=2, sleep=lambda seconds: None)
    with pytest.raises(PilotError) as info:
        downloader.get([bad_server("slow")], what="pilot.json", kind="pilot.json")
    assert info.value.failure_type == "network"
    assert exitcodes.for_failure_type(info.value.failure_type) == NETWORK
    assert "no complete answer within 1.5 s" in info.value.reason


def test_pilot_with_an_endless_pilot_json_exits_13_with_one_line(run_pilot, workdir, bad_server):
    rc, out, err = run_pilot(["-F", bad_server("endless"), "-X", "GetPilotVersion", "-r", "v1"], workdir,
                             timeout=300)
    helpers.assert_one_line_error(rc, NETWORK, out, err, "pilot.json",
                                  "larger than %d bytes" % fetch.LIMITS["pilot.json"][1])
    assert helpers.load_result(workdir)["pilot"]["exit_code"] == NETWORK


# -- files that are not files ------------------------------------------------------------

@pytest.mark.parametrize("explain", [False, True], ids=["run", "explain"])
@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "directory"])
def test_pilot_json_must_be_a_regular_file(run_pilot, workdir, kind, explain):
    if kind == "fifo":
        path = os.path.join(workdir, "pilot.json")
        os.mkfifo(path)
        what = "a FIFO"
    elif kind == "dev-zero":
        path, what = "/dev/zero", "a character device"
    else:
        path, what = workdir, "a directory"
    args = ["-F", path] + (["--explain"] if explain else ["-X", "GetPilotVersion", "-r", "v1"])
    rc, out, err = run_pilot(args, workdir, timeout=60)
    helpers.assert_one_line_error(rc, exitcodes.CONFIG, out, err, "pilot.json %s: not a regular file (%s)"
                                  % (os.path.abspath(path), what))


def test_a_fifo_as_token_file_is_ignored_with_a_warning(run_pilot, workdir):
    fifo = os.path.join(workdir, "logbook.token")
    os.mkfifo(fifo, 0o600)
    url = "http://127.0.0.1:%d/api/v1/logs" % helpers.free_port()
    rc, out, err = run_pilot(["-X", "GetPilotVersion", "-r", "v1", "-g", url], workdir, timeout=120,
                             env=helpers.clean_env({"PILOT_LOGBOOK_TOKEN_FILE": fifo}))
    assert rc == 0, out + err
    assert "the logbook token file %s is not a regular file: not used" % fifo in out


# -- pilot.json nested too deep -------------------------------------------------------------

@pytest.mark.parametrize("explain", [False, True], ids=["run", "explain"])
def test_pilot_json_nested_200000_deep_is_one_line_exit_10(run_pilot, workdir, explain):
    path = helpers.write_text(os.path.join(workdir, "pilot.json"), '{"a": ' + "[" * 200000 + "]" * 200000 + "}")
    args = ["-F", path] + (["--explain"] if explain else ["-X", "GetPilotVersion", "-r", "v1"])
    rc, out, err = run_pilot(args, workdir, timeout=120)
    needle = "nested 200001 levels deep, over the limit of %d" % pilotjson.MAX_DEPTH
    if explain:   # --explain shows its progress on stderr too: one error line after it
        assert rc == exitcodes.CONFIG and "Traceback" not in out + err, out + err
        errors = [line for line in helpers.lines(err) if "error" in line]
        assert len(errors) == 1 and errors[0].startswith("pilot: error: ") and needle in errors[0], err
    else:
        helpers.assert_one_line_error(rc, exitcodes.CONFIG, out, err, needle)


@pytest.mark.parametrize("content,needle", [
    (None, "not a regular file (a FIFO)"),
    ("[" * 100000 + "]" * 100000, "nested 100000 levels deep, over the limit of 64"),
], ids=["fifo", "deep"])   # (an id holding the document would not fit in the pilot's environment)
def test_a_versions_file_that_is_a_fifo_or_too_deep_is_a_config_failure(run_pilot, workdir, content, needle):
    path = os.path.join(workdir, "versions.json")
    if content is None:
        os.mkfifo(path)
    else:
        helpers.write_text(path, content)
    rc, out, err = run_pilot(["-X", "GetPilotVersion", "--versions-file", "versions.json"], workdir, timeout=60)
    assert rc == exitcodes.CONFIG, out + err
    command = helpers.load_result(workdir)["commands"][0]
    assert command["failure_type"] == "config" and needle in command["reason"]
    assert "Traceback" not in out + err


def test_nesting_depth_skips_strings():
    assert safeinput.nesting_depth('{"a": ["[[[{", {"b": "\\"]]"}]}') == 3
    assert pilotjson.parse(b'{"a": {"b": [1]}}', "x") == {"a": {"b": [1]}}
    deep = "[" * pilotjson.MAX_DEPTH + "]" * pilotjson.MAX_DEPTH
    assert pilotjson.parse(('{"a": %s}' % deep[2:-2]).encode("ascii"), "x")


# -- -P far above the processors -------------------------------------------------------------

def test_benchmark_copies_are_capped_at_the_processors_found(run_pilot, workdir, tmpdir):
    rc, out, err = run_pilot(["--benchmark", "quick", "-P", "1000", "--db12-cache", str(tmpdir.mkdir("c"))],
                             workdir, timeout=300)
    assert rc == 0, out + err
    import json

    result = json.loads(out)
    from pilot.node import capabilities

    assert result["copies"] == capabilities.processors(os.environ)["limit"] < 1000
    assert "-P (1000, capped by" in result["copies_source"]


def test_configure_cpu_requirements_caps_copies(run_pilot, workdir, tmpdir):
    rc, out, err = run_pilot(["-X", "ConfigureCPURequirements", "-r", "v1", "-P", "1000", "--db12", "quick",
                              "--db12-cache", str(tmpdir.mkdir("c"))], workdir, timeout=300)
    # (the command then fails: no pilot.cfg without ConfigureBasics; the benchmark ran before)
    assert "DB12: 1000 copies asked for, capped at the" in out, out + err
    copies = re.search(r"DB12: running the quick benchmark with (\d+) cop", out)
    assert copies and 1 <= int(copies.group(1)) < 1000, out


# -- a full disk --------------------------------------------------------------------------

def test_no_probe_or_part_file_is_left_when_writing_fails(workdir, monkeypatch):
    real_write = os.write

    def full(fd, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    try:
        assert nodeinfo.check_writable(workdir) == "No space left on device"
    finally:
        monkeypatch.setattr(os, "write", real_write)
    assert os.listdir(workdir) == []

    class FullFile(object):
        def __init__(self, path, mode):
            self.handle = open(path, mode)

        def write(self, data):
            raise IOError(28, "No space left on device")

        def close(self):
            self.handle.close()

    monkeypatch.setattr(fetch, "open", FullFile, raising=False)
    with pytest.raises(IOError):
        fetch.write_atomic(os.path.join(workdir, "pilot_result.json"), b"{}")
    assert os.listdir(workdir) == []

