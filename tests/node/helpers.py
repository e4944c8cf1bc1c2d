"""Shared helpers of the worker-node tests.

Python 2.6-compatible on purpose (these tests run under every interpreter
the pilot supports): no f-strings, no set/dict comprehensions, no
auto-numbered format fields, no ``with`` on Popen/ZipFile.
"""

import errno
import json
import os
import re
import shutil
import subprocess
import sys
import threading

import six

from compat import communicate_within, kill_group_after
from six.moves import BaseHTTPServer
from support import tls_front
from support.certificates import TestCerts  # noqa: F401  (the tests use helpers.TestCerts)
from support.interpreters import find_interpreter  # noqa: F401  (the tests use helpers.find_interpreter)
from support.ports import free_port  # noqa: F401  (the tests call helpers.free_port)
from support.waiting import wait_for  # noqa: F401  (the tests call helpers.wait_for)

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
PILOT_SRC = os.path.join(REPO, "pilot_src")
DEFAULT_PYZ = os.path.join(REPO, "dist", "pilot.pyz")
BUILDER = os.path.join(REPO, "build", "build_pilot.py")

# Every line the pilot logs (stdout and pilot.out).
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z (DEBUG|INFO|WARNING|ERROR) +\[\w+\] ")
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")

# Variables of the test machine that would change what the pilot does.
_SCRUBBED = ("X509_CERT_DIR", "X509_USER_PROXY", "X509_VOMS_DIR", "X509_VOMSES", "DIRAC_PILOT_VO",
             "DIRAC_PILOT_STAMP", "PILOT_EXTENSIONS_DIR", "JOBFEATURES", "PYTHONPATH", "PYTHONHOME",
             "PYTHONSTARTUP", "PYTHONINSPECT", "http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY",
             "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY", "PILOT_PYC_CACHE")


def pyz_path():
    return os.path.abspath(os.environ.get("PILOT_PYZ") or DEFAULT_PYZ)


def clean_env(extra=None):
    """A copy of os.environ without the variables the pilot reads, plus ``extra``."""
    env = dict(os.environ)
    for name in _SCRUBBED:
        env.pop(name, None)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    # No test hands logs to another through the node's real hand-off directory.
    env["PILOT_LOG_HANDOFF"] = "off"
    for key, value in (extra or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def to_text(data):
    if isinstance(data, six.binary_type):
        return data.decode("utf-8", "replace")
    return data


def native(value):
    """The interpreter's native str (UTF-8 bytes on Python 2)."""
    if six.PY2 and isinstance(value, six.text_type):
        return value.encode("utf-8")
    return value


def run(argv, cwd, env=None, timeout=60, stdin=None):
    """Run argv; return (rc, stdout, stderr) as text.  Fails the test on timeout."""
    argv = [native(arg) for arg in argv]
    devnull = open(os.devnull, "rb")
    try:
        proc = subprocess.Popen(argv, cwd=cwd, env=env if env is not None else clean_env(),
                                stdin=subprocess.PIPE if stdin is not None else devnull,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, close_fds=True,
                                preexec_fn=os.setsid)
    finally:
        devnull.close()
    data = stdin
    if isinstance(data, six.text_type):
        data = data.encode("utf-8")
    expired, out, err = communicate_within(proc, timeout, data)
    out, err = to_text(out), to_text(err)
    if expired:
        raise AssertionError("%s did not finish within %s s\nstdout:\n%s\nstderr:\n%s"
                             % (" ".join(argv), timeout, out, err))
    return proc.returncode, out, err


def run_pilot(args, cwd, env=None, timeout=60, python=None, stdin=None, pyz=None):
    """Run the real pilot.pyz with ``python`` (default: this interpreter)."""
    argv = [python or sys.executable, pyz or pyz_path()] + list(args)
    return run(argv, cwd, env=env, timeout=timeout, stdin=stdin)


def start_pilot(args, cwd, env=None, pyz=None, python=None):
    """Start the pilot without waiting (for the signal tests)."""
    argv = [native(arg) for arg in [python or sys.executable, pyz or pyz_path()] + list(args)]
    devnull = open(os.devnull, "rb")
    try:
        return subprocess.Popen(argv, cwd=cwd, env=env if env is not None else clean_env(),
                                stdin=devnull, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                close_fds=True, preexec_fn=os.setsid)
    finally:
        devnull.close()


def communicate_with_timeout(proc, timeout):
    """communicate() with a safety timeout (Python 2 has none)."""
    expired, out, err = communicate_within(proc, timeout)
    if expired:
        raise AssertionError("process %d did not end within %s s:\n%s\n%s"
                             % (proc.pid, timeout, to_text(out), to_text(err)))
    return to_text(out), to_text(err)


def read_stream_with_timeout(proc, stream, timeout):
    """Read one pipe of proc to its end and wait for proc, with a safety timeout."""
    timer, expired = kill_group_after(proc, timeout)
    try:
        data = stream.read()
        stream.close()
        proc.wait()
    finally:
        timer.cancel()
    assert not expired, "process %d did not end within %s s" % (proc.pid, timeout)
    return to_text(data)


def read_text(path):
    handle = open(path, "rb")
    try:
        return handle.read().decode("utf-8", "replace")
    finally:
        handle.close()


def read_bytes(path):
    handle = open(path, "rb")
    try:
        return handle.read()
    finally:
        handle.close()


def write_text(path, text):
    handle = open(path, "wb")
    try:
        if isinstance(text, six.text_type):
            text = text.encode("utf-8")
        handle.write(text)
    finally:
        handle.close()
    return path


def write_bytes(path, data):
    return write_text(path, data)


def write_json(path, document):
    return write_text(path, json.dumps(document, indent=1))


def load_result(work_dir):
    path = os.path.join(work_dir, "pilot_result.json")
    assert os.path.isfile(path), "no pilot_result.json in %s: %s" % (work_dir, os.listdir(work_dir))
    return json.loads(read_text(path))


def pilot_out(work_dir):
    return read_text(os.path.join(work_dir, "pilot.out"))


def lines(text):
    return [line for line in text.splitlines() if line.strip()]


def assert_one_line_error(rc, expected_rc, out, err, *needles):
    """The contract for a refused run: one stderr line, the code, no traceback."""
    assert rc == expected_rc, "rc %s != %s\nstdout:\n%s\nstderr:\n%s" % (rc, expected_rc, out, err)
    assert "Traceback" not in err and "Traceback" not in out, err + out
    err_lines = lines(err)
    assert len(err_lines) == 1, "expected one line on stderr, got %d:\n%s" % (len(err_lines), err)
    for needle in needles:
        assert needle in err_lines[0], "%r not in %r" % (needle, err_lines[0])
    return err_lines[0]


def explain_table(out):
    """--explain output -> {dest: (value, source)}."""
    table = {}
    for line in out.splitlines():
        match = re.match(r"^  (\w+) += (.*?) +\[(.*)\]$", line)
        if match:
            table[match.group(1)] = (match.group(2), match.group(3))
    return table


def process_gone(pid):
    """True when pid no longer runs (a zombie left to a non-reaping init counts as gone)."""
    try:
        os.kill(pid, 0)
    except OSError as exc:
        return exc.errno == errno.ESRCH
    try:
        stat = read_text("/proc/%d/stat" % pid)
    except (IOError, OSError):
        return True
    # "pid (comm) S ..." - the state follows the last ')'.
    state = stat[stat.rfind(")") + 2:].split(" ")[0]
    return state in ("Z", "X")


def copy_pyz(destination_dir, pyz=None):
    if not os.path.isdir(destination_dir):
        os.makedirs(destination_dir)
    target = os.path.join(destination_dir, "pilot.pyz")
    shutil.copy(pyz or pyz_path(), target)
    return target


def builder_python():
    return os.environ.get("PILOT_BUILDER_PYTHON") or "python3"


def build_pyz(output, extensions=(), with_testing=False):
    """Build a pyz with extensions (and pilot.testing) inside, with a Python 3 builder; returns its path."""
    argv = [builder_python(), BUILDER, "--quiet", "--output", output] + (["--with-testing"] if with_testing else [])
    for extension in extensions:
        argv += ["--with-extension", extension]
    try:
        rc, out, err = run(argv, REPO, env=clean_env(), timeout=120)
    except OSError as exc:
        raise AssertionError("cannot run the pyz builder %s (set PILOT_BUILDER_PYTHON): %s"
                             % (builder_python(), exc))
    assert rc == 0, "build failed (%s): %s %s" % (" ".join(argv), out, err)
    return output


# -- a small pilot logger for unit tests ------------------------------------------------

class ListSink(object):
    """Collects (record, line) pairs."""

    def __init__(self):
        self.records = []
        self.lines = []

    def emit(self, record, line):
        self.records.append(record)
        self.lines.append(line)

    def close(self):
        pass

    def text(self):
        return "\n".join(self.lines)


def make_logger(debug=False):
    from pilot.logs.logger import PilotLogger

    logger = PilotLogger(debug=debug)
    sink = ListSink()
    logger.add_sink(sink)
    return logger, sink


# -- local HTTP(S) servers -----------------------------------------------------------------

class _Handler(BaseHTTPServer.BaseHTTPRequestHandler):
    def do_GET(self):
        name = self.path.split("?", 1)[0].lstrip("/")
        path = os.path.join(self.server.root, *[part for part in name.split("/") if part not in ("", "..")])
        self.server.requests.append(self.path)
        self.server.agents.append(self.headers.get("User-Agent"))
        if not os.path.isfile(path):
            self.send_error(404, "Not Found")
            return
        data = read_bytes(path)
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass  # quiet


class FileServer(object):
    """Serves the files of ``root`` on 127.0.0.1 (HTTPS when ssl_context is given;
    ``https(FileServer, root, certs)`` serves HTTPS on every Python)."""

    front = None  # the TLS front that serves it over HTTPS, if any (see https())

    def __init__(self, root, ssl_context=None):
        self.root = root
        self.server = tls_front.TlsCapableHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.root = root
        self.server.requests = []
        self.server.agents = []   # the User-Agent of each request
        self.server.ssl_context = ssl_context
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1})
        self.thread.daemon = True
        self.thread.start()

    @property
    def requests(self):
        return self.server.requests

    @property
    def agents(self):
        return self.server.agents

    @property
    def scheme(self):
        return "https" if self.server.ssl_context is not None or self.front is not None else "http"

    def url(self, name=""):
        # HTTPS by name: Python 2.7's match_hostname does not match IP addresses.
        host = "localhost" if self.scheme == "https" else "127.0.0.1"
        port = self.front.port if self.front is not None else self.port
        return "%s://%s:%d/%s" % (self.scheme, host, port, name)

    def put(self, name, data):
        return write_text(os.path.join(self.root, name), data)

    def close(self):
        if self.front is not None:
            self.front.close()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


has_ssl_context = tls_front.can_serve_tls

NO_SSL_CONTEXT = "this Python has no ssl.SSLContext (2.6 / early 2.7): it can neither serve nor verify HTTPS"


def server_ssl_context(certs):
    """The server side of TLS in this process (tests that need it skip where it cannot be)."""
    if not has_ssl_context():
        import pytest

        pytest.skip(NO_SSL_CONTEXT)
    return tls_front.server_context(certs.server_cert, certs.server_key)


def https(make, certs):
    """``make(ssl_context)`` (a server with .port and .front) served over HTTPS with the
    certificate of ``certs``: TLS in this process where this Python can, else a TLS
    front run by Python 3 before the plain server (Python 2.6 has no ssl module)."""
    if has_ssl_context():
        return make(server_ssl_context(certs))
    server = make(None)
    server.front = tls_front.tls_front(certs.server_cert, certs.server_key, ("127.0.0.1", server.port),
                                       builder_python())
    return server


def resolve_params(argv, work_dir, environ=None, attempts=1, capath=None):
    """params.resolve() of a command line in work_dir; returns (params, log sink)."""
    from pilot.config import options, params
    from pilot.config.fetch import Downloader

    logger, sink = make_logger()
    log = logger.source("Pilot", "setup")
    parsed = options.parse(argv)
    downloader = Downloader(log, attempts=attempts, timeout=10, capath=capath, sleep=lambda seconds: None)
    resolved = params.resolve(parsed, environ if environ is not None else {}, work_dir, log, downloader)
    return resolved, sink


# -- the interpreters of the machine -------------------------------------------------------------

ALL_VERSIONS = ("2.6", "2.7", "3.6", "3.7", "3.8", "3.9", "3.10", "3.11", "3.12", "3.13")
# Under tox every interpreter runs the whole suite in its own env, so there the matrix
# tests need only the env's own interpreter (tox.ini: PILOT_TEST_MATRIX=own).
if os.environ.get("PILOT_TEST_MATRIX") == "own":
    MATRIX = ("%d.%d" % sys.version_info[:2],)
else:
    MATRIX = ALL_VERSIONS
