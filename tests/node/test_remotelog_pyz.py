"""Remote logging of the real pilot.pyz, under this interpreter.

The pilot sends to the contract-honouring receiver of doubles/log_receivers.py
(HTTPS, token), to the real RabbitMQ (STOMP), and to a double of DIRAC's
TornadoPilotLogging.  The pilot against the real logbook (pilot_server.logbook,
its serve and consume processes, the real databases) is tested in
tests/server/test_logging_end_to_end.py.
"""

import json
import os
import signal
import subprocess
import sys
import uuid

import pytest

import helpers
from doubles.log_receivers import DiracLoggingDouble, LogbookDouble
from support.tls_front import TlsProxy
from pilot import messages
from pilot.logs import remotelog

STAMP = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
TOKEN = "pt1.eyJzdGFtcCI6ImExYjIifQ.c2VjcmV0LXNpZ25hdHVyZS1vZi10aGUtdG9rZW4"

EXTENSION = '''
import os
import time

from pilot.commands.base import Command


class Chatter(Command):
    """A child that writes to stdout and stderr."""

    def execute(self):
        self.run(["/bin/sh", "-c", "echo to-stdout; echo to-stderr >&2; echo second-stdout"])


class WaitForGo(Command):
    """Logs WAITING, then waits (at most 30 s) until the file GO exists."""

    def execute(self):
        self.log.info("WAITING")
        deadline = time.time() + 30
        while not os.path.exists(self.path("GO")) and time.time() < deadline:
            time.sleep(0.05)
        self.log.info("GOING")


class Nap(Command):
    """A child that sleeps (NAP seconds, default 30)."""

    phase = "Running"

    def execute(self):
        self.log.info("NAPPING")
        self.run(["/bin/sh", "-c", "echo CHILD-READY; exec sleep %s" % os.environ.get("NAP", "30")])
'''


@pytest.fixture
def ext(tmpdir):
    folder = str(tmpdir.mkdir("exts"))
    helpers.write_text(os.path.join(folder, "LogTestCommands.py"), EXTENSION)
    return ["-E", "LogTest", "--extensions-dir", folder, "-r", "v1", "--pilotUUID", STAMP]


@pytest.fixture
def logbook(certs):
    server = helpers.https(lambda context: LogbookDouble(context, tokens={TOKEN: STAMP}), certs)
    yield server
    server.close()


@pytest.fixture
def token_file(workdir):
    # where the wrapper of pilot_server.wrapper puts it: the work directory
    path = helpers.write_text(os.path.join(workdir, "logbook.token"), TOKEN + "\n")
    os.chmod(path, 0o600)
    return path


def env_for(certs, token_file=None, extra=None):
    values = {"X509_CERT_DIR": certs.ca_dir}
    if token_file:
        values["PILOT_LOGBOOK_TOKEN_FILE"] = token_file
    values.update(extra or {})
    return helpers.clean_env(values)


def result_of(workdir):
    return helpers.load_result(workdir)


def spooled(workdir, name=remotelog.SPOOL_FILE):
    path = os.path.join(workdir, name)
    if not os.path.exists(path):
        return []
    items = []
    for line in helpers.read_text(path).splitlines():
        items.extend(messages.validate_batch(json.loads(line))[1])
    return items


def check_complete(items, total):
    """seq 1..total, each once; the result is the last message."""
    assert [m["seq"] for m in items] == list(range(1, total + 1)), [m["seq"] for m in items]
    assert items[-1]["kind"] == "result"


def test_a_run_arrives_whole_with_the_token(run_pilot, workdir, ext, logbook, certs, token_file):
    rc, out, err = run_pilot(ext + ["-X", "GetPilotVersion,Chatter", "-g", logbook.endpoint], workdir,
                             env=env_for(certs, token_file))
    assert rc == 0, out + err
    items = logbook.messages_of(STAMP)
    result = result_of(workdir)
    figures = result["remote_logging"]
    assert figures["transport"] == "https" and figures["unsent"] == 0 and figures["rejected"] == 0
    assert figures["sent"] == figures["messages"] == len(items)
    check_complete(items, figures["messages"])
    assert logbook.duplicates == 0 and set(logbook.statuses()) == set([200])
    # the same lines as pilot.out, with their kinds
    commands = [(m["source"], m["status"]) for m in items if m["kind"] == "command"]
    assert commands == [("GetPilotVersion", "started"), ("GetPilotVersion", "ok"),
                        ("Chatter", "started"), ("Chatter", "ok")]
    ended = [m for m in items if m["kind"] == "command" and m["status"] == "ok"][0]
    assert set(ended["data"]) == set(["duration", "failure_type", "reason"])
    streams = [(m["stream"], m["text"]) for m in items if m["stream"]]
    assert ("stdout", "sh: to-stdout") in streams and ("stderr", "sh (stderr): to-stderr") in streams
    identity = [m for m in items if m["data"] and "site" in m["data"]][0]
    assert identity["data"]["version"] and identity["data"]["python"]
    final = items[-1]
    assert final["status"] == "done" and final["data"]["pilot"]["exit_code"] == 0
    assert [c["name"] for c in final["data"]["commands"]] == ["GetPilotVersion", "Chatter"]
    usage = final["data"]["usage"]
    assert usage["cpu_seconds"] > 0 and usage["wall_seconds"] > 0 and usage["max_rss_mb"] > 0
    assert result["usage"]["wall_seconds"] >= usage["wall_seconds"]
    # the token travelled in the Authorization header, and nowhere else
    assert set(post["authorization"] for post in logbook.posts) == set(["Bearer " + TOKEN])
    for text in (out, err, helpers.pilot_out(workdir), json.dumps(result)):
        assert TOKEN not in text and TOKEN.split(".")[2] not in text
    for name in os.listdir(workdir):
        if os.path.isfile(os.path.join(workdir, name)) and name != "logbook.token":
            assert TOKEN not in helpers.read_text(os.path.join(workdir, name)), name


def test_logbook_ca_bundle_file(run_pilot, workdir, ext, logbook, certs, token_file):
    """--logbook-ca FILE: a CA bundle verifies the logbook (no CA directory at all)."""
    env = helpers.clean_env({"PILOT_LOGBOOK_TOKEN_FILE": token_file, "X509_CERT_DIR": "/nonexistent"})
    rc, out, err = run_pilot(ext + ["-X", "GetPilotVersion", "-g", logbook.endpoint,
                                    "--logbook-ca", certs.ca_cert], workdir, env=env)
    assert rc == 0, out + err
    figures = result_of(workdir)["remote_logging"]
    assert figures["unsent"] == 0 and figures["sent"] == len(logbook.messages_of(STAMP)) > 0


def test_logbook_ca_missing_warns_and_keeps_the_log(run_pilot, workdir, ext, logbook, certs, token_file):
    """--logbook-ca naming nothing: a warning, the default CAs (which do not know the test CA),
    so nothing is sent and the log stays in the spool; the pilot itself succeeds."""
    env = helpers.clean_env({"PILOT_LOGBOOK_TOKEN_FILE": token_file, "X509_CERT_DIR": "/nonexistent"})
    missing = os.path.join(workdir, "no-such-ca.pem")
    rc, out, err = run_pilot(ext + ["-X", "GetPilotVersion", "-g", logbook.endpoint,
                                    "--logbook-ca", missing], workdir, env=env)
    assert rc == 0, out + err
    assert "--logbook-ca %s: no such file or directory" % missing in helpers.pilot_out(workdir)
    assert logbook.messages_of(STAMP) == []
    assert len(spooled(workdir)) == result_of(workdir)["remote_logging"]["messages"]


def test_logbook_down_for_part_of_the_run(run_pilot, workdir, ext, logbook, certs, token_file):
    """Down at the start, back while the pilot runs: everything arrives, exactly once, in order."""
    logbook.stop()
    proc = helpers.start_pilot(ext + ["-X", "GetPilotVersion,WaitForGo,Chatter", "-g", logbook.endpoint],
                               workdir, env=env_for(certs, token_file))
    try:
        assert helpers.wait_for(lambda: "WAITING" in _log(workdir) or proc.poll() is not None, timeout=30)
        assert os.path.exists(os.path.join(workdir, remotelog.SPOOL_FILE))     # something waits there
        logbook.start()
        helpers.write_text(os.path.join(workdir, "GO"), "")
        out, err = helpers.communicate_with_timeout(proc, 60)
    finally:
        _kill(proc)
    assert proc.returncode == 0, out + err
    figures = result_of(workdir)["remote_logging"]
    items = logbook.messages_of(STAMP)
    check_complete(items, figures["messages"])
    assert logbook.duplicates == 0                                   # nothing sent twice
    arrivals = logbook.arrival_seqs(STAMP)
    assert arrivals == sorted(arrivals)                              # and in order
    assert figures["unsent"] == 0 and figures["spooled"] > 0 and figures["resent_from_spool"] > 0
    assert not os.path.exists(os.path.join(workdir, remotelog.SPOOL_FILE))
    assert len([line for line in _log(workdir).splitlines() if "cannot send the log" in line]) == 1


def test_logbook_down_for_the_whole_run(run_pilot, workdir, ext, certs, token_file):
    url = "https://localhost:%d/api/v1/logs" % helpers.free_port()
    rc, out, err = run_pilot(ext + ["-X", "GetPilotVersion,Chatter", "-g", url], workdir,
                             env=env_for(certs, token_file))
    assert rc == 0, out + err                                        # exit code unchanged
    figures = result_of(workdir)["remote_logging"]
    assert figures["sent"] == 0 and figures["unsent"] == figures["messages"]
    assert figures["spool_file"] == remotelog.SPOOL_FILE
    check_complete(spooled(workdir), figures["messages"])            # all kept, in order, for later
    # bounded effort: one attempt per flush at most (3 commands' ends, back-off, the end)
    assert figures["attempts"] <= 6 and not figures["final_flush_timed_out"]
    assert len([line for line in out.splitlines() if "remote logging:" in line and "WARNING" in line]) == 1


def test_rejected_batch(run_pilot, workdir, ext, logbook, certs, token_file):
    logbook.force = [400]
    rc, out, err = run_pilot(ext + ["-X", "GetPilotVersion,Chatter", "-g", logbook.endpoint], workdir,
                             env=env_for(certs, token_file))
    assert rc == 0, out + err
    figures = result_of(workdir)["remote_logging"]
    rejected = spooled(workdir, remotelog.REJECTED_FILE)
    assert rejected and figures["rejected"] == len(rejected) and figures["rejected_file"]
    stored = [m["seq"] for m in logbook.messages_of(STAMP)]
    assert sorted(stored + [m["seq"] for m in rejected]) == list(range(1, figures["messages"] + 1))
    assert len([line for line in out.splitlines() if "rejected a batch" in line]) == 1


def test_refused_token_stops_sending_and_keeps_the_log(run_pilot, workdir, ext, certs, tmpdir):
    server = helpers.https(lambda context: LogbookDouble(context, tokens={"pt1.another": STAMP}), certs)
    try:
        path = helpers.write_text(str(tmpdir.join("token")), TOKEN)
        os.chmod(path, 0o600)
        rc, out, err = run_pilot(ext + ["-X", "GetPilotVersion,Chatter", "-g", server.endpoint], workdir,
                                 env=env_for(certs, path))
        assert rc == 0, out + err
        assert server.statuses() == [401]
        figures = result_of(workdir)["remote_logging"]
        assert figures["refused"] and figures["unsent"] == figures["messages"]
        assert "refused this pilot" in out and TOKEN not in out + err + helpers.pilot_out(workdir)
    finally:
        server.close()


def test_a_token_file_others_can_read_is_not_used(run_pilot, workdir, ext, logbook, certs, tmpdir):
    path = helpers.write_text(str(tmpdir.join("token")), TOKEN)
    os.chmod(path, 0o644)
    rc, out, err = run_pilot(ext + ["-X", "GetPilotVersion", "-g", logbook.endpoint,
                                    "--logbook-token-file", path], workdir, env=env_for(certs))
    assert rc == 0, out + err
    assert "readable by others" in out and TOKEN not in out + err
    assert set(post["authorization"] for post in logbook.posts) == set([None])   # no token sent
    assert logbook.statuses() == [401]


def test_stdin_is_sent_first_and_a_pipe_that_stays_open_does_not_block(pyz, workdir, ext, logbook, certs,
                                                                      token_file):
    argv = [sys.executable, pyz] + ext + ["-X", "GetPilotVersion", "-g", logbook.endpoint]
    proc = subprocess.Popen([helpers.native(a) for a in argv], cwd=workdir, env=env_for(certs, token_file),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            close_fds=True, preexec_fn=os.setsid)
    try:
        proc.stdin.write(b"2026-11-21 10:00:00 UTC wrapper INFO: found python3\nwrapper line two\n")
        proc.stdin.flush()                      # ... and stdin stays open
        out = helpers.read_stream_with_timeout(proc, proc.stdout, 60)
    finally:
        _kill(proc)
        proc.stdin.close()
    assert proc.returncode == 0, out
    items = logbook.messages_of(STAMP)
    stdin = [m for m in items if m["kind"] == "stdin"]
    assert [m["text"] for m in stdin] == ["2026-11-21 10:00:00 UTC wrapper INFO: found python3", "wrapper line two"]
    first_command = [m["seq"] for m in items if m["kind"] == "command"][0]
    assert all(m["seq"] < first_command for m in stdin)          # before anything runs
    assert "wrapper line two" not in out                         # the wrapper printed it already
    assert "wrapper line two" in helpers.pilot_out(workdir)


def test_heartbeats_while_a_command_runs(run_pilot, workdir, ext, logbook, certs, token_file):
    rc, out, err = run_pilot(ext + ["-X", "Nap", "--heartbeat=1", "-g", logbook.endpoint], workdir,
                             env=env_for(certs, token_file, {"NAP": "2.6"}))
    assert rc == 0, out + err
    beats = [m for m in logbook.messages_of(STAMP) if m["kind"] == "heartbeat"]
    assert beats, out
    data = beats[0]["data"]
    for key in ("load1", "memory_available_mb", "disk_free_mb", "agent_alive", "command", "pid_count",
                "uptime", "interval"):
        assert key in data
    assert data["command"] == "Nap" and beats[0]["source"] == "Nap" and data["interval"] == 1
    assert [b["data"]["agent_alive"] for b in beats].count(True) >= 1
    assert max(b["data"]["pid_count"] for b in beats) >= 1
    assert "heartbeat: Nap running" in helpers.pilot_out(workdir)


@pytest.mark.parametrize("up", [True, False], ids=["logbook-up", "logbook-down"])
def test_sigterm_result_is_sent_or_spooled(workdir, ext, logbook, certs, token_file, up):
    if not up:
        logbook.stop()
    proc = helpers.start_pilot(ext + ["-X", "Nap", "-g", logbook.url("/api/v1/logs")], workdir,
                               env=env_for(certs, token_file))
    try:
        assert helpers.wait_for(lambda: "CHILD-READY" in _log(workdir) or proc.poll() is not None, timeout=30)
        os.kill(proc.pid, signal.SIGTERM)
        out, err = helpers.communicate_with_timeout(proc, 60)
    finally:
        _kill(proc)
    assert proc.returncode == 128 + signal.SIGTERM, out + err
    items = logbook.messages_of(STAMP) if up else spooled(workdir)
    figures = result_of(workdir)["remote_logging"]
    check_complete(items, figures["messages"])
    final = items[-1]
    assert final["status"] == "killed" and final["data"]["pilot"]["exit_code"] == 143
    assert final["data"]["pilot"]["signal"] == "SIGTERM"
    killed = [m for m in items if m["kind"] == "command" and m["status"] == "killed"]
    assert killed and killed[0]["data"]["failure_type"] == "killed"


def test_z_without_url_stays_local(run_pilot, workdir, ext):
    rc, out, err = run_pilot(ext + ["-X", "GetPilotVersion", "-z"], workdir)
    assert rc == 0, out + err
    assert "no logbook URL" in out
    assert "remote_logging" not in result_of(workdir)
    assert not os.path.exists(os.path.join(workdir, remotelog.SPOOL_FILE))


def test_pilot_json_turns_it_on_and_sets_the_buffer(run_pilot, workdir, ext, logbook, certs, token_file):
    helpers.write_json(os.path.join(workdir, "pilot.json"), {
        "Defaults": {"Pilot": {"RemoteLogging": "True", "RemoteLoggerURL": logbook.endpoint,
                               "RemoteLoggerBufsize": "3", "RemoteLoggerTimerInterval": "0"}}})
    rc, out, err = run_pilot(ext + ["-X", "GetPilotVersion,Chatter"], workdir, env=env_for(certs, token_file))
    assert rc == 0, out + err
    assert "a batch every 3 lines or 30 s" in out
    check_complete(logbook.messages_of(STAMP), result_of(workdir)["remote_logging"]["messages"])


# -- STOMP, against the real RabbitMQ ---------------------------------------------------------

def _stomp_ready():
    import test_stomp

    if not test_stomp.broker_answers():
        pytest.skip("no STOMP broker on 127.0.0.1:61613 (rabbitmq-plugins enable rabbitmq_stomp)")
    return test_stomp


def _batches(sub, test_stomp, expect_result=True):
    items = []
    while True:
        frames = test_stomp.read_all(sub, 1, timeout=10)
        if not frames:
            break
        stamp, batch = messages.decode_batch(frames[0].body)
        items.extend(batch)
        if expect_result and batch[-1]["kind"] == "result":
            break
    return sorted(items, key=lambda m: m["seq"])


def test_stomp_run(run_pilot, workdir, ext, token_file, certs):
    test_stomp = _stomp_ready()
    destination = test_stomp.topic()
    sub = test_stomp.reader(destination)
    try:
        rc, out, err = run_pilot(ext + ["-X", "GetPilotVersion,Chatter", "-g", "stomp://127.0.0.1:61613" + destination],
                                 workdir, env=env_for(certs, token_file))
        assert rc == 0, out + err
        figures = result_of(workdir)["remote_logging"]
        assert figures["transport"] == "stomp" and figures["sent"] == figures["messages"]
        check_complete(_batches(sub, test_stomp), figures["messages"])
        assert TOKEN not in out + err + helpers.pilot_out(workdir)
    finally:
        sub.disconnect()


def test_stomp_tls_run(run_pilot, workdir, ext, certs):
    test_stomp = _stomp_ready()
    proxy = TlsProxy(helpers.server_ssl_context(certs), ("127.0.0.1", 61613))
    destination = test_stomp.topic()
    sub = test_stomp.reader(destination)
    try:
        url = "stomp+ssl://localhost:%d%s" % (proxy.port, destination)
        rc, out, err = run_pilot(ext + ["-X", "GetPilotVersion", "-g", url], workdir, env=env_for(certs))
        assert rc == 0, out + err
        check_complete(_batches(sub, test_stomp), result_of(workdir)["remote_logging"]["messages"])
    finally:
        sub.disconnect()
        proxy.close()


def test_stomp_bad_passcode_keeps_the_log(run_pilot, workdir, ext, certs):
    _stomp_ready()
    rc, out, err = run_pilot(ext + ["-X", "GetPilotVersion", "-g", "stomp://127.0.0.1:61613/queue/pilots2.never"],
                             workdir, env=env_for(certs, None, {"PILOT_STOMP_PASSCODE": "wrong-passcode"}))
    assert rc == 0, out + err
    figures = result_of(workdir)["remote_logging"]
    assert figures["refused"] and figures["unsent"] == figures["messages"]
    assert "wrong-passcode" not in out + err + helpers.pilot_out(workdir)


def test_stomp_durable_queue_run(run_pilot, workdir, ext, certs):
    test_stomp = _stomp_ready()
    name = "pilots2.test.%s" % uuid.uuid4().hex
    try:
        rc, out, err = run_pilot(ext + ["-X", "GetPilotVersion", "-g", "stomp://127.0.0.1:61613/queue/" + name],
                                 workdir, env=env_for(certs))
        assert rc == 0, out + err
        sub = test_stomp.reader("/queue/" + name)     # read afterwards: the batches waited in the queue
        try:
            check_complete(_batches(sub, test_stomp), result_of(workdir)["remote_logging"]["messages"])
        finally:
            sub.disconnect()
    finally:
        test_stomp.delete_queue(name)


# -- DIRAC's TornadoPilotLogging (Gen-2) -------------------------------------------------------

def test_dirac_tornado_pilot_logging(run_pilot, workdir, ext, certs):
    context = helpers.server_ssl_context(certs)
    import ssl

    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cafile=certs.ca_cert)
    dirac = DiracLoggingDouble(context)
    try:
        rc, out, err = run_pilot(ext + ["-X", "GetPilotVersion,Chatter", "-g", dirac.endpoint, "--cert",
                                        "--certLocation", certs.host_certificate(), "--wnVO", "dteam"],
                                 workdir, env=env_for(certs))
        assert rc == 0, out + err
        lines = dirac.logs[STAMP]
        assert lines[0].endswith("[Pilot] Pilots 2.0 pilot %s" % lines[0].split("Pilots 2.0 pilot ")[1])
        assert any(" INFO [Chatter] sh: to-stdout" in line for line in lines)
        assert any(" INFO [Pilot] result: exit code 0" in line for line in lines)
        assert dirac.finalised == {STAMP: "0"} and dirac.vos[STAMP] == "dteam"
        assert all(call["method"][0] in ("sendMessage", "finaliseLogs") for call in dirac.calls)
        assert json.loads(dirac.calls[0]["extraCredentials"][0]) == "hosts"
        figures = result_of(workdir)["remote_logging"]
        assert figures["transport"] == "dirac" and figures["unsent"] == 0
    finally:
        dirac.close()


def _log(workdir):
    path = os.path.join(workdir, "pilot.out")
    return helpers.read_text(path) if os.path.exists(path) else ""


def _kill(proc):
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        proc.wait()
