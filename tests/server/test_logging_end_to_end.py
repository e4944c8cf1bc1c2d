"""Pilot logging end to end: the real pilot.pyz, under several Pythons, logging into the real logbook.

Nothing here is a double except the DIRAC release (tests/doubles/dirac): the pilot is the freshly
built and signed pyz, run as a process under Python 2.7 (the oldest this machine has), 3.6 and
3.13 (skipped, saying so, when absent); the logbook is ``pilotctl logbook serve`` (HTTPS, a test CA,
pilot tokens of pilot_server.tokens) or ``pilotctl logbook consume`` behind the machine's RabbitMQ
(the pilot speaks STOMP to its plugin), started as processes, on SQLite, PostgreSQL and MariaDB.

Each test compares the database with what the pilot itself kept: every line of its pilot.out is a
stored message, with the same time, level, source and text; the seqs are 1..N with N the count of
pilot_result.json (``remote_logging.messages``), none missing, none twice; the last one is the
result, with the exit code and the usage.

The reliability tests make the services fail for real while a pilot runs, at points the pilot
reaches and then waits at (a command of the test extension waits for a file GO-<gate>):

* the logbook down at the start, up, killed (SIGKILL) in the middle, up again;
* a RabbitMQ node of its own (logbook_services.ThrowawayRabbit: its own node name, ports and
  Mnesia directory, the STOMP plugin on) stopped and started again while a pilot sends to it;
* a PostgreSQL cluster of its own (logbook_services.ThrowawayPostgres) stopped while a pilot floods
  ``serve`` (HTTPS, which answers 503) and another floods ``consume`` (which keeps the deliveries
  unacknowledged), then started again;
* a pilot killed by SIGTERM while its child runs.

The machine's shared services are never stopped.  Tests that need one fail and say which.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import uuid

import pytest

from conftest import INTERPRETERS, REPO
from logbook_services import ThrowawayPostgres, ThrowawayRabbit, delete_queue
from logbook_support import PKI, databases, pki, post  # noqa: F401 (fixtures)
from support.ports import free_port
from support.waiting import wait_until
from pilot_server.worker.logs import remotelog
from pilot_server.worker.logs.logger import utc_timestamp

PILOTCTL = [sys.executable, "-m", "pilot_server.cli"]
BROKER = "amqp://guest:guest@127.0.0.1:5672/"
STOMP_PORT = 61613
PYTHONS = dict(INTERPRETERS)
MAKER = os.path.join(REPO, "tests", "doubles", "dirac", "make_release.py")

# The test's commands (the pilot loads them with -E E2E): written for Python 2.6 too.
EXTENSION = '''
import os
import time

from pilot.commands.base import Command


def wait_at(command, gate):
    command.log.info("WAITING at %s" % gate)
    deadline = time.time() + 120
    while not os.path.exists(command.path(gate)) and time.time() < deadline:
        time.sleep(0.05)
    command.log.info("GOING past %s" % gate)


class WaitA(Command):
    def execute(self):
        wait_at(self, "GO-A")


class WaitB(Command):
    def execute(self):
        wait_at(self, "GO-B")


class WaitC(Command):
    def execute(self):
        wait_at(self, "GO-C")


class Chatter(Command):
    """A child that writes to stdout and stderr."""

    def execute(self):
        self.run(["/bin/sh", "-c", "echo to-stdout; echo to-stderr >&2; echo second-stdout"])


class Flood(Command):
    """A child that prints $FLOOD lines (default 300) as fast as it can."""

    def execute(self):
        count = int(os.environ.get("FLOOD", "300"))
        self.run(["/bin/sh", "-c", 'i=1; while [ $i -le %d ]; do echo "flood line $i"; i=$((i+1)); done' % count])


class Nap(Command):
    """A child that sleeps $NAP seconds (default 60)."""

    phase = "Running"

    def execute(self):
        self.log.info("NAPPING")
        self.run(["/bin/sh", "-c", "echo CHILD-READY; exec sleep %s" % os.environ.get("NAP", "60")])
'''


def python(env_name):
    """The interpreter of a tox env name (py27, py36, py313), or a skip that says why."""
    path = PYTHONS.get(env_name)
    if not path:
        pytest.skip(
            "Python %s.%s is not on this machine (.ci/find-pythons.sh finds none)" % (env_name[2], env_name[3:])
        )
    return path


def need_port(port, what):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except OSError as exc:
        pytest.fail(
            "%s on 127.0.0.1:%d is needed by this test and does not answer (%s; .ci/services.sh "
            "starts it)" % (what, port, exc)
        )


def new_stamp():
    return uuid.uuid4().hex


def read(path):
    if not os.path.exists(path):
        return ""
    with open(path, "rb") as handle:
        return handle.read().decode("utf-8", "replace")


# -- the fixtures of the module: a token secret, the test extension, a DIRAC release (the CA: pki) --


@pytest.fixture(scope="module")
def secret(tmp_path_factory):
    from pilot_server import tokens

    path = str(tmp_path_factory.mktemp("secret") / "token.secret")
    tokens.write_secret(path, tokens.generate_secret())
    return path


@pytest.fixture(scope="module")
def extension(tmp_path_factory):
    folder = tmp_path_factory.mktemp("extension")
    (folder / "E2ECommands.py").write_text(EXTENSION)
    return str(folder)


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    """The DIRAC release double (its manifest): a preinstalled 9.0.0 and a server with a job."""
    out = str(tmp_path_factory.mktemp("release"))
    done = subprocess.run(
        [sys.executable, MAKER, "--version", "9.0.0", "--out", out],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr.decode()
    with open(done.stdout.decode().strip().splitlines()[-1]) as handle:
        return json.load(handle)


# -- the logbook's processes ---------------------------------------------------------------------


class Service(object):
    """A ``pilotctl logbook`` process whose output goes to a file; restartable."""

    def __init__(self, argv, log_path):
        self.argv, self.log_path = argv, log_path
        self.process = None
        self.starts = 0

    def launch(self):
        self.starts += 1
        with open(self.log_path, "ab") as log:
            log.write(("---- start %d: %s\n" % (self.starts, " ".join(self.argv[2:]))).encode())
            log.flush()
            self.process = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def stop(self, signum=signal.SIGTERM):
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signum)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        code, self.process = (self.process.returncode if self.process else None), None
        return code

    def log(self):
        return read(self.log_path)

    def alive(self):
        return self.process is not None and self.process.poll() is None


class Serve(Service):
    """``pilotctl logbook serve`` over HTTPS with the test CA's certificate and the token secret."""

    def __init__(self, folder, db_url, pki, secret, name="serve"):
        self.port = free_port()
        self.pki = pki
        cert, key = pki.server_files
        Service.__init__(
            self,
            PILOTCTL
            + [
                "logbook",
                "serve",
                "--db",
                db_url,
                "--listen",
                "127.0.0.1:%d" % self.port,
                "--tls-cert",
                cert,
                "--tls-key",
                key,
                "--token-secret",
                secret,
            ],
            os.path.join(folder, name + ".log"),
        )
        self.url = "https://localhost:%d/api/v1/logs" % self.port

    def start(self):
        self.launch()

        def healthy():
            if not self.alive():
                raise AssertionError(
                    "pilotctl logbook serve ended (%s):\n%s" % (self.process.returncode, self.log()[-2000:])
                )
            try:
                return (
                    post(
                        "https://127.0.0.1:%d" % self.port,
                        "/api/v1/health",
                        None,
                        context=self.pki.client_context(),
                        method="GET",
                    )[0]
                    == 200
                )
            except OSError:
                return False

        wait_until(healthy, 60, 0.1, what="pilotctl logbook serve to answer")
        return self


class Consume(Service):
    def __init__(self, folder, db_url, broker, queue, secret, name="consume"):
        Service.__init__(
            self,
            PILOTCTL
            + ["logbook", "consume", "--db", db_url, "--broker", broker, "--queue", queue, "--token-secret", secret],
            os.path.join(folder, name + ".log"),
        )

    def start(self):
        self.launch()
        wait_until(
            lambda: "consuming " in self.log() or not self.alive(), 60, 0.1, what="pilotctl logbook consume to connect"
        )
        assert self.alive(), self.log()[-2000:]
        return self


def open_store(url):
    from pilot_server.logbook.store.logstore import Store

    return Store.open(url, migrate=False)


# -- the pilot ---------------------------------------------------------------------------------------


class Pilot(object):
    """pilot.pyz as a process in its own work directory (and process group), its output in a file."""

    def __init__(self, tmp_path, name, interpreter, pyz, stamp, args, secret=None, ca_dir=None, extra_env=None):
        self.name, self.stamp = name, stamp
        self.work = str(tmp_path / name)
        os.makedirs(self.work)
        self.stdout_path = str(tmp_path / (name + ".stdout"))
        self.token = None
        env = dict(
            (key, value)
            for key, value in os.environ.items()
            if not key.startswith(("X509_", "PILOT_", "DIRAC_", "PYTHON")) and "proxy" not in key.lower()
        )
        # PILOT_LOG_HANDOFF=off: the log stays in the work directory (no hand-off to /var/tmp)
        env.update({"HOME": self.work, "LANG": "C", "PYTHONDONTWRITEBYTECODE": "1", "PILOT_LOG_HANDOFF": "off"})
        if ca_dir:
            env["X509_CERT_DIR"] = ca_dir
        if secret:
            from pilot_server import tokens

            self.token = tokens.make_token(tokens.read_secret(secret), stamp)
            token_file = os.path.join(self.work, "logbook.token")  # where the wrapper puts it
            fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(self.token + "\n")
            env["PILOT_LOGBOOK_TOKEN_FILE"] = token_file
        env.update(extra_env or {})
        self.argv = [interpreter, pyz] + list(args) + ["--pilotUUID", stamp]
        with open(self.stdout_path, "wb") as out:
            self.process = subprocess.Popen(
                self.argv,
                cwd=self.work,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=os.setsid,
            )

    def log(self):
        return read(os.path.join(self.work, "pilot.out"))

    def output(self):
        return read(self.stdout_path)

    def wait_for(self, text, timeout=60):
        wait_until(
            lambda: text in self.log() or self.process.poll() is not None,
            timeout,
            0.05,
            what="%r in the pilot's log" % text,
        )
        assert text in self.log(), "the pilot ended (%s) before %r:\n%s" % (
            self.process.returncode,
            text,
            self.output()[-3000:],
        )

    def go(self, gate):
        with open(os.path.join(self.work, "GO-" + gate), "w"):
            pass

    def finish(self, timeout=120):
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("the pilot did not end within %d s:\n%s" % (timeout, self.output()[-3000:]))
        return self.process.returncode

    def kill(self):
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except OSError:
                pass
            self.process.wait()

    def result(self):
        with open(os.path.join(self.work, "pilot_result.json")) as handle:
            return json.load(handle)

    def spool(self):
        return os.path.join(self.work, remotelog.SPOOL_FILE)


def extension_args(extension, commands, url, *more):
    return [
        "-E",
        "E2E",
        "--extensions-dir",
        extension,
        "-r",
        "v1",
        "-X",
        commands,
        "-g",
        url,
        "--logger-interval",
        "1",
    ] + list(more)


# -- what the logbook must hold --------------------------------------------------------------------


def local_line(item):
    """A stored message as the pilot's logger wrote it in pilot.out."""
    return "%s %-7s [%s] %s" % (utc_timestamp(item["time"]), item["level"], item["source"], item["text"])


def wait_stored(url, stamp, count, timeout=60):
    """Wait until the logbook at ``url`` holds ``count`` messages of ``stamp`` (reconnecting as needed)."""

    def stored():
        store = None
        try:
            store = open_store(url)
            row = store.pilot(stamp)
            return row is not None and row["message_count"] >= count
        except Exception:
            return False
        finally:
            if store is not None:
                store.close()

    wait_until(stored, timeout, 0.2, what="%d messages of pilot %s in %s" % (count, stamp, url.split("://")[0]))


def check_stored(url, pilot, exit_code=0):
    """The logbook holds every message of the pilot exactly once, in order, and its result."""
    result = pilot.result()
    figures = result["remote_logging"]
    total = figures["messages"]
    assert figures["unsent"] == 0 and figures["rejected"] == 0 and figures["dropped"] == 0, figures
    assert figures["sent"] == total, figures
    wait_stored(url, pilot.stamp, total)
    store = open_store(url)
    try:
        items = store.messages(pilot.stamp)
        row = store.pilot(pilot.stamp)
    finally:
        store.close()
    assert [item["seq"] for item in items] == list(range(1, total + 1))  # none lost, none twice, in order
    assert row["message_count"] == total and row["last_seq"] == total
    # the pilot's own log, line for line; only the pilot's closing note on remote logging (written
    # after the result was sent) is local only
    local = pilot.log().splitlines()
    remote = [local_line(item) for item in items]
    assert local[: len(remote)] == remote
    assert all("remote logging: " in line for line in local[len(remote) :]), local[len(remote) :]
    # the result: last, with the exit code, the commands and the usage of pilot_result.json
    final = items[-1]
    assert final["kind"] == "result" and [item["kind"] for item in items].count("result") == 1
    assert final["data"]["pilot"]["exit_code"] == exit_code == result["pilot"]["exit_code"]
    assert [c["name"] for c in final["data"]["commands"]] == [c["name"] for c in result["commands"]]
    usage = final["data"]["usage"]
    for key in ("wall_seconds", "cpu_seconds", "max_rss_mb", "jobs"):
        assert key in usage
    assert usage["wall_seconds"] > 0 and usage["max_rss_mb"] > 0
    assert row["exit_code"] == exit_code and row["status"] == ("Done" if exit_code == 0 else "Failed")
    return items, row, figures


def token_nowhere(pilot, *texts):
    """The pilot token is in no output, no log and no file of the work directory but its own."""
    secret_part = pilot.token.split(".")[2]
    for text in (pilot.output(), pilot.log()) + texts:
        assert secret_part not in text
    for name in os.listdir(pilot.work):
        path = os.path.join(pilot.work, name)
        if os.path.isfile(path) and name != "logbook.token":
            assert secret_part not in read(path), name


# -- HTTPS: pilotctl logbook serve on SQLite -------------------------------------------------------


@pytest.fixture(scope="module")
def https_logbook(tmp_path_factory, pki, secret):
    folder = str(tmp_path_factory.mktemp("https-logbook"))
    url = "sqlite:///%s" % os.path.join(folder, "logbook.sqlite")
    serve = Serve(folder, url, pki, secret).start()
    serve.db = url
    yield serve
    assert serve.stop() == 0, serve.log()[-2000:]
    assert "logbook stopped" in serve.log()


@pytest.mark.parametrize("env_name", ["py27", "py36", "py313"])
def test_a_pilot_run_arrives_whole_over_https(
    env_name, tmp_path, signed_pyz, extension, release, https_logbook, pki, secret
):
    """The issue's run (DIRAC release double, JobAgent with one job) plus chatty children and
    heartbeats: everything in the logbook, as the pilot logged it, once, in order."""
    server = str(tmp_path / "server")
    subprocess.run([sys.executable, MAKER, "--new-server", server], check=True, stdout=subprocess.DEVNULL)
    commands = (
        "GetPilotVersion,InstallDIRAC,ConfigureBasics,ConfigureSite,ConfigureArchitectureWithoutCLI,"
        "Chatter,Nap,LaunchAgent"
    )
    args = [
        "-S",
        "Test-Setup",
        "-r",
        "9.0.0",
        "-C",
        "file://" + server,
        "-N",
        release["ce"],
        "-Q",
        release["queue"],
        "-n",
        "DIRAC.Test.local",
        "-M",
        "1",
        "-X",
        commands,
        "-E",
        "E2E",
        "--extensions-dir",
        extension,
        "-D",
        "10",
        "--CVMFS_locations=%s" % release["cvmfs_location"],
        "--PollingTime=0",
        "--StopAfterFailedMatches=1",
        "--install-methods=preinstalled",
        "--db12=quick",
        "-g",
        https_logbook.url,
        "--heartbeat",
        "1",
    ]
    pilot = Pilot(
        tmp_path, "pilot", python(env_name), signed_pyz, new_stamp(), args, secret, pki.ca_dir, {"NAP": "1.5"}
    )
    assert pilot.finish() == 0, pilot.output()[-3000:]
    items, row, figures = check_stored(https_logbook.db, pilot)
    assert figures["transport"] == "https" and figures["failures"] == 0 and figures["spooled"] == 0
    # where it ran, as the logbook keeps it
    assert (row["site"], row["ce"], row["queue"]) == ("DIRAC.Test.local", release["ce"], release["queue"])
    assert row["heartbeat_time"] is not None
    # the kinds of the contract, from this real run
    commands_seen = [(item["source"], item["status"]) for item in items if item["kind"] == "command"]
    assert ("LaunchAgent", "ok") in commands_seen and ("Chatter", "started") in commands_seen
    streams = [(item["stream"], item["text"]) for item in items if item["stream"]]
    assert ("stdout", "sh: to-stdout") in streams and ("stderr", "sh (stderr): to-stderr") in streams
    beats = [item for item in items if item["kind"] == "heartbeat"]
    assert "Nap" in [beat["data"]["command"] for beat in beats]
    assert set(beat["data"]["interval"] for beat in beats) == set([1])
    final = items[-1]
    assert final["status"] == "done" and final["data"]["usage"]["jobs"] == 1
    assert final["data"]["pilot"]["python"].startswith("%s.%s." % (env_name[2], env_name[3:]))
    assert final["data"]["usage"] == pilot.result()["usage"]
    token_nowhere(pilot, https_logbook.log())
    # and the reading side shows it: pilotctl logbook pilots / show
    shown = subprocess.run(
        PILOTCTL + ["logbook", "show", pilot.stamp, "--db", https_logbook.db],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        timeout=60,
    )
    assert shown.returncode == 0 and len(shown.stdout.decode().splitlines()) == len(items), shown.stderr
    listed = subprocess.run(
        PILOTCTL + ["logbook", "pilots", "--db", https_logbook.db, "--json", "--site", "DIRAC.Test.local"],
        stdout=subprocess.PIPE,
        timeout=60,
    )
    mine = [
        json.loads(line) for line in listed.stdout.decode().splitlines() if json.loads(line)["stamp"] == pilot.stamp
    ]
    assert len(mine) == 1 and mine[0]["status"] == "Done" and mine[0]["message_count"] == len(items)


def test_the_logbook_certificate_is_verified(tmp_path, signed_pyz, extension, https_logbook, secret):
    """Against a CA directory that does not hold the logbook's CA, the pilot sends nothing (and
    the token never leaves it): the log stays in the spool, the pilot's exit code is unchanged."""
    other = PKI(tmp_path / "other-pki", ca_name="Another CA")
    other.rehash()
    env_name = "py313" if "py313" in PYTHONS else INTERPRETERS[-1][0]
    pilot = Pilot(
        tmp_path,
        "pilot",
        python(env_name),
        signed_pyz,
        new_stamp(),
        extension_args(extension, "GetPilotVersion,Chatter", https_logbook.url),
        secret,
        other.ca_dir,
    )
    assert pilot.finish() == 0, pilot.output()
    figures = pilot.result()["remote_logging"]
    assert figures["sent"] == 0 and figures["unsent"] == figures["messages"] > 0
    assert "certificate" in (figures["last_error"] or "").lower(), figures["last_error"]
    assert os.path.getsize(pilot.spool()) > 0
    store = open_store(https_logbook.db)
    try:
        assert store.pilot(pilot.stamp) is None
    finally:
        store.close()


def test_curl_carries_the_log_where_python_has_no_ssl(tmp_path, signed_pyz, extension, https_logbook, pki, secret):
    """A node whose Python cannot do TLS (built without ssl; 2.6 cannot verify host names): the
    pilot POSTs each batch with the node's curl, which verifies the logbook against the CA
    directory, and the token goes to curl in a 0600 file, never on its command line."""
    curl = shutil.which("curl")
    if not curl:
        pytest.skip("no curl on this machine")
    no_ssl = tmp_path / "no-ssl"
    no_ssl.mkdir()
    (no_ssl / "ssl.py").write_text("raise ImportError('this Python was built without ssl (test)')\n")
    tools = tmp_path / "tools"  # a curl that notes its command lines, then is the real one
    tools.mkdir()
    calls = tmp_path / "curl-calls"
    (tools / "curl").write_text('#!/bin/sh\necho "$*" >> %s\nexec %s "$@"\n' % (calls, curl))
    os.chmod(str(tools / "curl"), 0o755)
    env_name = "py27" if "py27" in PYTHONS else INTERPRETERS[0][0]
    pilot = Pilot(
        tmp_path,
        "pilot",
        python(env_name),
        signed_pyz,
        new_stamp(),
        extension_args(extension, "GetPilotVersion,Chatter", https_logbook.url),
        secret,
        pki.ca_dir,
        {"PYTHONPATH": str(no_ssl), "PATH": "%s:%s" % (tools, os.environ["PATH"])},
    )
    assert pilot.finish() == 0, pilot.output()[-3000:]
    _items, row, figures = check_stored(https_logbook.db, pilot)
    assert figures["transport"] == "https" and row["status"] == "Done"
    lines = read(str(calls)).splitlines()
    assert len(lines) == figures["batches_sent"] and all(pki.ca_dir in line for line in lines), lines
    token_nowhere(pilot, https_logbook.log(), read(str(calls)))


def test_a_wrapped_pilot_logs_with_the_token_of_its_wrapper(
    tmp_path, signed_pyz, keys, extension, https_logbook, pki, secret
):
    """The SiteDirector's path: `pilotctl wrapper --token-secret` embeds a token the test never sees;
    the wrapper hands it to the pilot, which logs with it."""
    env_name = "py27" if "py27" in PYTHONS else INTERPRETERS[0][0]
    stamp = new_stamp()
    script = str(tmp_path / "pilot-job.sh")
    made = subprocess.run(
        PILOTCTL
        + [
            "wrapper",
            "--variant",
            "batch",
            "--artifact",
            signed_pyz,
            "--trust",
            keys.public["a"],
            "--output",
            script,
            "--stamp",
            stamp,
            "--token-secret",
            secret,
            "--",
        ]
        + extension_args(extension, "GetPilotVersion,Chatter", https_logbook.url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        timeout=60,
    )
    assert made.returncode == 0, made.stderr.decode()
    base = tmp_path / "base"
    base.mkdir()
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(base),
        "LANG": "C",
        "PILOT_PYTHON": python(env_name),
        "PILOT_WORK_BASE": str(base),
        "X509_CERT_DIR": pki.ca_dir,
        "PILOT_LOG_HANDOFF": "off",
    }
    done = subprocess.run(
        ["/bin/sh", script],
        cwd=str(base),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
    out = done.stdout.decode("utf-8", "replace")
    assert done.returncode == 0, out[-3000:]
    work = [str(path) for path in base.iterdir() if path.name.startswith("pilot.") and path.is_dir()]
    assert len(work) == 1, out[-2000:]

    class Wrapped(object):
        def __init__(self):
            self.stamp, self.work = stamp, work[0]

        def result(self):
            with open(os.path.join(self.work, "pilot_result.json")) as handle:
                return json.load(handle)

        def log(self):
            return read(os.path.join(self.work, "pilot.out"))

    items, row, figures = check_stored(https_logbook.db, Wrapped())
    assert figures["transport"] == "https" and row["status"] == "Done"
    with open(os.path.join(work[0], "logbook.token")) as handle:
        token = handle.read().strip()
    assert token.split(".")[2] not in out + read(os.path.join(work[0], "pilot.out"))


# -- STOMP: RabbitMQ -> pilotctl logbook consume -> PostgreSQL / MariaDB ---------------------------


@pytest.mark.parametrize("family, env_name", [("postgresql", "py27"), ("mariadb", "py313")])
def test_a_pilot_run_arrives_whole_over_rabbitmq(
    family,
    env_name,
    tmp_path,
    databases,
    signed_pyz,  # noqa: F811
    extension,
    pki,
    secret,
):
    need_port(STOMP_PORT, "RabbitMQ's STOMP plugin")
    need_port(5672, "RabbitMQ (AMQP)")
    interpreter = python(env_name)
    url = databases.create(family)
    queue = "pilots2.e2e.%s" % uuid.uuid4().hex[:10]
    consume = Consume(str(tmp_path), url, BROKER, queue, secret).start()
    try:
        pilot = Pilot(
            tmp_path,
            "pilot",
            interpreter,
            signed_pyz,
            new_stamp(),
            extension_args(
                extension, "GetPilotVersion,Chatter,Flood", "stomp://127.0.0.1:%d/queue/%s" % (STOMP_PORT, queue)
            ),
            secret,
            pki.ca_dir,
            {"FLOOD": "500"},
        )
        assert pilot.finish() == 0, pilot.output()[-3000:]
        items, row, figures = check_stored(url, pilot)
        assert figures["transport"] == "stomp" and figures["failures"] == 0
        assert [item["text"] for item in items if item["stream"] == "stdout"][-1] == "sh: flood line 500"
        token_nowhere(pilot, consume.log())
    finally:
        assert consume.stop() == 0, consume.log()[-2000:]
        delete_queue(BROKER, queue)
    assert "consumer stopped" in consume.log()


# -- reliability ---------------------------------------------------------------------------------------


def test_the_logbook_down_then_killed_mid_run(tmp_path, signed_pyz, extension, pki, secret):
    """The logbook is down when the pilot starts, comes up, is killed (SIGKILL) in the middle of the
    run and comes back before the end: the pilot ends normally, its spool is sent, everything is
    stored once and in order."""
    url = "sqlite:///%s" % (tmp_path / "logbook.sqlite")
    serve = Serve(str(tmp_path), url, pki, secret)
    pilot = Pilot(
        tmp_path,
        "pilot",
        python("py27"),
        signed_pyz,
        new_stamp(),
        extension_args(extension, "GetPilotVersion,WaitA,Chatter,WaitB,Flood,WaitC,Chatter", serve.url),
        secret,
        pki.ca_dir,
        {"FLOOD": "200"},
    )
    try:
        pilot.wait_for("WAITING at GO-A")
        wait_until(lambda: os.path.exists(pilot.spool()), 30, what="the pilot to spool")  # it has tried
        serve.start()
        pilot.go("A")
        pilot.wait_for("WAITING at GO-B")
        # the logbook got what was spooled and what followed, up to this point
        wait_stored(url, pilot.stamp, len(pilot.log().splitlines()), timeout=60)
        serve.stop(signal.SIGKILL)
        pilot.go("B")
        pilot.wait_for("WAITING at GO-C")
        wait_until(lambda: os.path.exists(pilot.spool()), 30, what="the pilot to spool again")
        serve.start()
        pilot.go("C")
        assert pilot.finish() == 0, pilot.output()[-3000:]
    finally:
        pilot.kill()
        serve.stop()
    items, _row, figures = check_stored(url, pilot)
    assert figures["failures"] >= 2 and figures["spooled"] > 0 and figures["resent_from_spool"] > 0
    assert not os.path.exists(pilot.spool())
    assert serve.starts == 2


def test_rabbitmq_restarted_during_a_run(tmp_path, signed_pyz, extension, pki, secret):
    """A RabbitMQ node of the test's own is stopped while a pilot sends to it over STOMP and a
    consumer reads from it, then started again: the pilot spools and resends, the consumer
    reconnects, every message is stored once and in order."""
    rabbit = ThrowawayRabbit()
    url = "sqlite:///%s" % (tmp_path / "logbook.sqlite")
    queue = "pilots2.logs"
    consume = pilot = None
    try:
        consume = Consume(str(tmp_path), url, rabbit.url, queue, secret).start()
        pilot = Pilot(
            tmp_path,
            "pilot",
            python("py313"),
            signed_pyz,
            new_stamp(),
            extension_args(
                extension,
                "GetPilotVersion,Chatter,WaitA,Flood,WaitB,Chatter",
                "stomp://127.0.0.1:%d/queue/%s" % (rabbit.stomp_port, queue),
            ),
            secret,
            pki.ca_dir,
            {"FLOOD": "300"},
        )
        pilot.wait_for("WAITING at GO-A")
        wait_stored(url, pilot.stamp, len(pilot.log().splitlines()))  # through the node, into the database
        rabbit.stop()
        pilot.go("A")
        pilot.wait_for("WAITING at GO-B")
        wait_until(lambda: os.path.exists(pilot.spool()), 30, what="the pilot to spool")
        rabbit.start()
        pilot.go("B")
        assert pilot.finish() == 0, pilot.output()[-3000:]
        items, _row, figures = check_stored(url, pilot)
        assert figures["transport"] == "stomp" and figures["failures"] >= 1 and figures["resent_from_spool"] > 0
        assert "reconnecting" in consume.log()
    finally:
        if pilot is not None:
            pilot.kill()
        if consume is not None:
            consume.stop()
        rabbit.remove()


@pytest.fixture
def throwaway_postgres():
    cluster = ThrowawayPostgres()
    yield cluster
    cluster.drop()


def test_the_database_restarted_during_ingestion(tmp_path, throwaway_postgres, signed_pyz, extension, pki, secret):
    """A PostgreSQL cluster of the test's own goes down while two pilots flood the logbook, one
    through `serve` (HTTPS: it answers 503, the pilot spools) and one through RabbitMQ and
    `consume` (which keeps the deliveries unacknowledged), and comes back: both pilots end
    normally and every message of each is stored once, in order."""
    need_port(STOMP_PORT, "RabbitMQ's STOMP plugin")
    need_port(5672, "RabbitMQ (AMQP)")
    url = throwaway_postgres.url
    queue = "pilots2.e2e.%s" % uuid.uuid4().hex[:10]
    serve = Serve(str(tmp_path), url, pki, secret)
    consume = Consume(str(tmp_path), url, BROKER, queue, secret)
    pilots = []
    try:
        serve.start()  # creates the schema
        consume.start()
        commands = "GetPilotVersion,WaitA,Flood,WaitB,Chatter"
        pilots.append(
            Pilot(
                tmp_path,
                "by-https",
                python("py36"),
                signed_pyz,
                new_stamp(),
                extension_args(extension, commands, serve.url),
                secret,
                pki.ca_dir,
                {"FLOOD": "400"},
            )
        )
        pilots.append(
            Pilot(
                tmp_path,
                "by-stomp",
                python("py313"),
                signed_pyz,
                new_stamp(),
                extension_args(extension, commands, "stomp://127.0.0.1:%d/queue/%s" % (STOMP_PORT, queue)),
                secret,
                pki.ca_dir,
                {"FLOOD": "400"},
            )
        )
        for pilot in pilots:
            pilot.wait_for("WAITING at GO-A")
            wait_stored(url, pilot.stamp, len(pilot.log().splitlines()))
        throwaway_postgres.stop()
        for pilot in pilots:
            pilot.go("A")
        for pilot in pilots:
            pilot.wait_for("WAITING at GO-B")
        wait_until(lambda: os.path.exists(pilots[0].spool()), 30, what="503s: the HTTPS pilot to spool")
        wait_until(lambda: "database unavailable" in consume.log(), 30, what="the consumer to meet the outage")
        throwaway_postgres.start()
        for pilot in pilots:
            pilot.go("B")
        for pilot in pilots:
            assert pilot.finish() == 0, pilot.output()[-3000:]
        by_https, by_stomp = [check_stored(url, pilot)[2] for pilot in pilots]
        assert by_https["failures"] >= 1 and by_https["resent_from_spool"] > 0
        assert by_stomp["failures"] == 0  # the broker took everything; the consumer waited
        assert "503" in by_https["last_error"] or "503" in pilots[0].log()
    finally:
        for pilot in pilots:
            pilot.kill()
        serve.stop()
        consume.stop()
        delete_queue(BROKER, queue)


def test_a_pilot_killed_by_sigterm_sends_its_last_messages_and_result(
    tmp_path, signed_pyz, extension, https_logbook, pki, secret
):
    pilot = Pilot(
        tmp_path,
        "pilot",
        python("py36"),
        signed_pyz,
        new_stamp(),
        extension_args(extension, "GetPilotVersion,Chatter,Nap", https_logbook.url, "--heartbeat", "1"),
        secret,
        pki.ca_dir,
    )
    try:
        pilot.wait_for("CHILD-READY")
        os.kill(pilot.process.pid, signal.SIGTERM)
        assert pilot.finish() == 128 + signal.SIGTERM, pilot.output()[-3000:]
    finally:
        pilot.kill()
    items, row, _figures = check_stored(https_logbook.db, pilot, exit_code=143)
    final = items[-1]
    assert final["status"] == "killed" and final["data"]["pilot"]["signal"] == "SIGTERM"
    killed = [item for item in items if item["kind"] == "command" and item["status"] == "killed"]
    assert [item["source"] for item in killed] == ["Nap"]
    assert any(item["text"] == "sh: CHILD-READY" for item in items)
    assert row["failed_command"] == "Nap"
