"""Several ``pilotctl logbook serve`` receivers behind Debian's HAProxy, as real processes.

Used by tests/server/test_logbook_receivers.py and bench/bench_receivers.py:

* ``Receiver``: one ``pilotctl logbook serve`` process (HTTPS, a database URL, the token,
  admin and session key files), started, stopped with a signal and started again on the
  same port;
* ``HAProxy``: Debian's haproxy (``.ci/provision-haproxy.sh`` installs it when missing) run
  as a plain process with the configuration of ``examples/haproxy/logbook.cfg``, changed
  only where a test must (loopback addresses and free ports, this PKI's CA, no chroot or
  daemon), its servers' states read from its stats socket;
* ``SendingPilot``: a pilot's own sender (``pilot.logs.remotelog`` over ``pilot.logs.logtransport``'s
  HTTPS transport, spool and retries included) logging a line every few milliseconds.

Nothing here imports pytest's fixtures; failures of the set-up raise SetupError with the reason.
"""

import csv
import http.client
import io
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

from support.ports import free_port
from support.waiting import wait_until

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE = os.path.join(REPO, "examples", "haproxy", "logbook.cfg")
SERVE = [sys.executable, "-m", "pilot_server.cli", "logbook", "serve"]


class SetupError(Exception):
    """The receivers or HAProxy could not be set up: a one-line reason."""


def haproxy_binary():
    """The haproxy binary, installed with apt-get when missing (.ci/provision-haproxy.sh)."""
    done = subprocess.run(
        [os.path.join(REPO, ".ci", "provision-haproxy.sh")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=900
    )
    if done.returncode != 0:
        raise SetupError("Debian's haproxy is needed: %s" % done.stderr.decode("utf-8", "replace").strip()[-300:])
    return done.stdout.decode().strip().splitlines()[-1]


def get(url, path, context, headers=None, timeout=10):
    """(status, headers dict, body text) of a GET on a new connection."""
    host, port = url.split("//")[1].split(":")
    connection = http.client.HTTPSConnection(host, int(port), context=context, timeout=timeout)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict((k.lower(), v) for k, v in response.getheaders()), response.read().decode()
    finally:
        connection.close()


class Receiver(object):
    """One ``pilotctl logbook serve`` process over HTTPS on a fixed port of 127.0.0.1."""

    def __init__(self, name, work, db, cert, key, ca_file, token_secret, admin_secret=None, session_key=None, extra=()):
        self.name = name
        self.port = free_port()
        self.url = "https://127.0.0.1:%d" % self.port
        self.log_path = os.path.join(str(work), "%s.log" % name)
        self.argv = SERVE + [
            "--listen",
            "127.0.0.1:%d" % self.port,
            "--db",
            db,
            "--tls-cert",
            cert,
            "--tls-key",
            key,
            "--ca-file",
            ca_file,
            "--token-secret",
            token_secret,
        ]
        if admin_secret:
            self.argv += ["--admin-token-file", admin_secret]
        if session_key:
            self.argv += ["--session-key-file", session_key]
        self.argv += list(extra)
        self.context = ssl.create_default_context(cafile=ca_file)
        self.process = None
        self.starts = 0

    def start(self, timeout=60):
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT)
        self.starts += 1
        try:
            wait_until(self.healthy, timeout, 0.1, what="receiver %s to answer" % self.name)
        except AssertionError:
            raise SetupError("receiver %s did not start: %s" % (self.name, self.log_tail()))
        return self

    def healthy(self):
        if self.process.poll() is not None:
            raise SetupError("receiver %s exited with %s: %s" % (self.name, self.process.returncode, self.log_tail()))
        try:
            return get(self.url, "/api/v1/health", self.context, timeout=2)[0] == 200
        except (OSError, http.client.HTTPException):
            return False

    def stop(self, signum=signal.SIGTERM, timeout=60):
        """Send the signal and wait for the process to end; its exit code."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signum)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
            raise SetupError("receiver %s did not stop within %d s of signal %d" % (self.name, timeout, signum))

    def log_text(self):
        try:
            with open(self.log_path, "rb") as handle:
                return handle.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self):
        return " / ".join(self.log_text().strip().splitlines()[-3:])[-600:]


def render_config(text, port, servers, ca_file, stats_socket, maxconn=4000):
    """The example configuration with this machine's addresses: every change must apply once or more,
    so a changed example is noticed here rather than tested by accident."""
    changes = (
        (r"(?m)^[ \t]+(chroot|user|group|daemon)\b.*\n", lambda match: ""),  # a plain process
        (r"(?m)^([ \t]+)log /dev/log .*$", lambda match: match.group(1) + "log stderr format short local0 info"),
        (r"stats socket \S+( mode \d+)?", lambda match: "stats socket %s mode 600" % stats_socket),
        (r"(?m)^([ \t]+)bind :8443$", lambda match: "%sbind 127.0.0.1:%d" % (match.group(1), port)),
        (r"/etc/pilots2/logbook-ca\.pem", lambda match: ca_file),
        (r"logbook\.example\.org", lambda match: "localhost"),
        (r"maxconn \d+", lambda match: "maxconn %d" % maxconn),  # this machine's file limit
        (r"(?m)^[ \t]+server .*\n", lambda match: ""),
    )
    for pattern, replacement in changes:
        text, count = re.subn(pattern, replacement, text)
        if not count:
            raise SetupError("examples/haproxy/logbook.cfg no longer matches %r: update receivers_support" % pattern)
    if not text.rstrip().splitlines()[-1].strip().startswith("default-server"):
        raise SetupError("examples/haproxy/logbook.cfg must end with its backend's servers")
    return text.rstrip("\n") + "\n" + "".join("    server %s 127.0.0.1:%d\n" % item for item in servers)


class HAProxy(object):
    """Debian's haproxy, a plain process in front of the receivers (TCP passthrough)."""

    def __init__(self, binary, work, receivers, ca_file, example=EXAMPLE):
        self.binary = binary
        self.port = free_port()
        self.url = "https://127.0.0.1:%d" % self.port
        self.socket_dir = tempfile.mkdtemp(prefix="p2hap-")  # a short path: a unix socket's is at most 107 bytes
        self.socket = os.path.join(self.socket_dir, "admin.sock")
        with open(example) as handle:
            text = render_config(
                handle.read(), self.port, [(item.name, item.port) for item in receivers], ca_file, self.socket
            )
        self.config = os.path.join(str(work), "haproxy.cfg")
        with open(self.config, "w") as handle:
            handle.write(text)
        self.log_path = os.path.join(str(work), "haproxy.log")
        self.names = [item.name for item in receivers]
        self.process = None

    def start(self, timeout=60):
        checked = subprocess.run(
            [self.binary, "-c", "-q", "-f", self.config], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        if checked.returncode != 0:
            raise SetupError("haproxy -c refused the configuration: %s" % checked.stdout.decode()[-600:])
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [self.binary, "-db", "-f", self.config], stdout=log, stderr=subprocess.STDOUT
            )
        for name in self.names:
            self.wait_status(name, "UP", timeout)
        return self

    def command(self, text):
        """A command on the stats socket; its answer."""
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        connection.settimeout(5)
        try:
            connection.connect(self.socket)
            connection.sendall(text.encode("ascii") + b"\n")
            chunks = []
            while True:
                chunk = connection.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        finally:
            connection.close()
        return b"".join(chunks).decode("utf-8", "replace")

    def servers(self):
        """{server name: its row of `show stat`} of the receivers' backend."""
        if self.process.poll() is not None:
            raise SetupError("haproxy exited with %s: %s" % (self.process.returncode, self.log_tail()))
        try:
            text = self.command("show stat")
        except OSError:
            return {}
        rows = csv.DictReader(io.StringIO(text.lstrip("# ")))
        return dict(
            (row["svname"], row) for row in rows if row["pxname"] == "receivers" and row["svname"] in self.names
        )

    def status(self, name):
        return (self.servers().get(name) or {}).get("status")

    def wait_status(self, name, status, timeout=60):
        wait_until(
            lambda: self.status(name) == status, timeout, 0.1, what="HAProxy to see receiver %s %s" % (name, status)
        )

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        try:
            os.unlink(self.socket)
        except OSError:
            pass
        try:
            os.rmdir(self.socket_dir)
        except OSError:
            pass

    def log_tail(self):
        try:
            with open(self.log_path, "rb") as handle:
                return " / ".join(handle.read().decode("utf-8", "replace").strip().splitlines()[-3:])[-600:]
        except OSError:
            return ""


class TimedTransport(object):
    """A pilot's transport, timing each send (seconds, and whether it succeeded)."""

    def __init__(self, inner):
        self.inner = inner
        self.name, self.url = inner.name, inner.url
        self.sends = []  # (start time, seconds, ok)
        self.lock = threading.Lock()

    @property
    def duplicates(self):
        return self.inner.duplicates

    def send(self, body, count):
        began = time.time()
        ok = False
        try:
            self.inner.send(body, count)
            ok = True
        finally:
            with self.lock:
                self.sends.append((began, time.time() - began, ok))

    def finish(self, exit_code, timeout):
        return self.inner.finish(exit_code, timeout)

    def close(self, timeout):
        return self.inner.close(timeout)


class SendingPilot(object):
    """A pilot's remote log (pilot.logs.remotelog, its spool and retries) sending over HTTPS to ``url``
    while a thread logs a line every ``pause`` seconds, until ``finish``."""

    def __init__(self, url, ca_file, stamp, token, work_dir, pause=0.01, bufsize=20, interval=0.1):
        from pilot_server.worker.logs import remotelog
        from pilot_server.worker.logs.logger import PilotLogger
        from pilot_server.worker.logs.logtransport import Credentials, HttpsTransport

        os.makedirs(work_dir, exist_ok=True)
        self.stamp = stamp
        self.logger = PilotLogger()
        self.remote = remotelog.RemoteLog(first_retry=0.2, max_retry=2.0)
        self.logger.add_sink(self.remote)
        self.transport = TimedTransport(HttpsTransport(url, Credentials(token=token, cafile=ca_file)))
        self.remote.start(self.transport, stamp, work_dir, bufsize, interval, self.logger.source("RemoteLog"))
        self.pause = pause
        self.lines = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._log, name="pilot-%s" % stamp[:8], daemon=True)
        self.thread.start()

    def _log(self):
        log = self.logger.source("LaunchAgent", "Running")
        while not self.stopping.is_set():
            self.lines += 1
            log.info("JobAgent cycle %d: no match, waiting" % self.lines)
            self.stopping.wait(self.pause)

    def finish(self, timeout=60):
        """Stop logging, then the final flush; remotelog's summary (sent, unsent, failures...)."""
        self.stopping.set()
        self.thread.join(10)
        return self.remote.close(timeout, 0)
