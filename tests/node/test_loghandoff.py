"""Logs that outlive their pilot (pilot/logs/loghandoff.py): unit tests, then real pilots.

The multi-pilot tests wait on conditions (the logbook's content, files), never on
sleeps, and every wait is generous: they run on a loaded machine.
"""

import json
import os
import stat
import time

import pytest

import helpers
from doubles.log_receivers import LogbookDouble
from pilot import messages
from pilot.logs import loghandoff, remotelog

STAMPS = ["%032x" % (0xabc0 + number) for number in range(5)]
TOKENS = ["pt1.eyJ0ZXN0IjoiaGFuZG9mZiJ9.token-of-pilot-%d" % number for number in range(5)]


def batch_line(stamp, seqs, kind="log"):
    items = [messages.message(stamp, seq, 1767225600.0, "line %d" % seq, "INFO", "Pilot",
                              None, None, None, kind, None) for seq in seqs]
    return json.dumps({"schema": messages.SCHEMA, "stamp": stamp, "messages": items}).encode("utf-8")


def write_spool(work_dir, stamp, batches):
    path = os.path.join(work_dir, remotelog.SPOOL_FILE)
    helpers.write_bytes(path, b"\n".join(batch_line(stamp, seqs) for seqs in batches) + b"\n")
    return path


@pytest.fixture
def handoff(tmpdir):
    return os.path.join(str(tmpdir), "handoff")


@pytest.fixture
def env(handoff):
    return {loghandoff.ENV_VAR: handoff}


# -- unit ----------------------------------------------------------------------------------

def test_hand_off_moves_the_spool_into_a_private_directory(workdir, handoff, env):
    write_spool(workdir, STAMPS[0], [[1, 2], [3]])
    path, problem = loghandoff.hand_off(workdir, env, STAMPS[0], "https://logbook.example/api/v1/logs",
                                        token="secret")
    assert problem is None and path.startswith(handoff + os.sep)
    assert not os.path.exists(os.path.join(workdir, remotelog.SPOOL_FILE))
    assert stat.S_IMODE(os.lstat(handoff).st_mode) == 0o700
    assert stat.S_IMODE(os.lstat(path).st_mode) == 0o600
    lines = helpers.read_bytes(path).splitlines()
    header = json.loads(lines[0].decode("utf-8"))
    assert header["stamp"] == STAMPS[0] and header["messages"] == 3 and header["token"] == "secret"
    assert lines[1:] == [batch_line(STAMPS[0], [1, 2]), batch_line(STAMPS[0], [3])]


def test_hand_off_reads_the_meta_the_wrapper_relies_on(workdir, handoff, env):
    token_file = helpers.write_text(os.path.join(workdir, "logbook.token"), TOKENS[0] + "\n")
    os.chmod(token_file, 0o600)
    loghandoff.write_meta(workdir, STAMPS[0], "https://logbook.example", "vo", token_file)
    write_spool(workdir, STAMPS[0], [[1]])
    path, problem = loghandoff.hand_off(workdir, env)
    header = json.loads(helpers.read_bytes(path).splitlines()[0].decode("utf-8"))
    assert (header["url"], header["vo"], header["token"]) == ("https://logbook.example", "vo", TOKENS[0])


def test_off_nothing_or_an_unsafe_directory(workdir, handoff, tmpdir):
    write_spool(workdir, STAMPS[0], [[1]])
    assert loghandoff.hand_off(workdir, {loghandoff.ENV_VAR: "off"}, STAMPS[0], "https://x") == (None, None)
    os.symlink(str(tmpdir.mkdir("elsewhere")), handoff)
    path, problem = loghandoff.hand_off(workdir, {loghandoff.ENV_VAR: handoff}, STAMPS[0], "https://x")
    assert path is None and "not a directory" in problem
    assert os.path.exists(os.path.join(workdir, remotelog.SPOOL_FILE))          # nothing lost
    os.remove(handoff)
    os.mkdir(handoff, 0o700)
    os.chmod(handoff, 0o777)
    path, problem = loghandoff.hand_off(workdir, {loghandoff.ENV_VAR: handoff}, STAMPS[0], "https://x")
    assert path is None and "writable by other users" in problem


def test_the_directory_is_capped(workdir, handoff, env, monkeypatch):
    monkeypatch.setattr(loghandoff, "MAX_SPOOLS", 2)
    for number in range(3):
        write_spool(workdir, STAMPS[number], [[1]])
        path, problem = loghandoff.hand_off(workdir, env, STAMPS[number], "https://x", now=time.time() + number)
        if number < 2:
            assert path and problem is None
        else:
            assert path is None and "is full" in problem
    assert os.path.exists(os.path.join(workdir, remotelog.SPOOL_FILE))
    monkeypatch.setattr(loghandoff, "MAX_SPOOL_BYTES", 100)
    path, problem = loghandoff.hand_off(workdir, env, STAMPS[2], "https://x")
    assert path is None and "over" in problem


def test_claims_are_exclusive_and_stale_claims_are_taken_over(workdir, handoff, env):
    write_spool(workdir, STAMPS[0], [[1]])
    loghandoff.hand_off(workdir, env, STAMPS[0], "https://x")
    first, ignored = loghandoff.claim_waiting(handoff)
    second, _ = loghandoff.claim_waiting(handoff)
    assert len(first) == 1 and second == [] and ignored == {}
    later, _ = loghandoff.claim_waiting(handoff, now=time.time() + loghandoff.CLAIM_STALE + 5)
    assert len(later) == 1 and later != first
    lines = helpers.read_bytes(later[0]).splitlines()
    loghandoff.release(later[0], lines[1:], lines[0])             # nothing sent: put back
    assert [name for name in os.listdir(handoff) if name.endswith(".spool")]
    again, _ = loghandoff.claim_waiting(handoff)
    loghandoff.release(again[0], [], lines[0])                    # all sent: gone
    assert os.listdir(handoff) == []


def test_stale_linked_and_foreign_spools_are_ignored(workdir, handoff, env, tmpdir):
    write_spool(workdir, STAMPS[0], [[1]])
    stale, _ = loghandoff.hand_off(workdir, env, STAMPS[0], "https://x")
    old = time.time() - loghandoff.MAX_AGE - 60
    os.utime(stale, (old, old))
    target = helpers.write_text(str(tmpdir.join("planted")), "x")
    os.symlink(target, os.path.join(handoff, "%s.1.1.spool" % STAMPS[1]))
    expected = {"expired": 1, "link": 1}
    if os.geteuid() == 0:
        foreign = helpers.write_bytes(os.path.join(handoff, "%s.2.2.spool" % STAMPS[2]), b"{}\n")
        os.chown(foreign, 65534, 65534)
        expected["foreign"] = 1
    claimed, ignored = loghandoff.claim_waiting(handoff)
    assert claimed == [] and ignored == expected
    assert not os.path.exists(stale)                              # expired and ours: removed
    assert os.path.exists(target)                                 # a link's target is never touched


def test_sender_sends_and_puts_back_what_the_logbook_did_not_take(workdir, handoff, env):
    from pilot.logs.logtransport import Credentials

    logbook = LogbookDouble()
    try:
        write_spool(workdir, STAMPS[0], [[1, 2], [3]])
        loghandoff.hand_off(workdir, env, STAMPS[0], logbook.endpoint)
        logbook.force = [200, 503]     # the first batch arrives (forced: not stored), then an error
        sender = loghandoff.Sender(handoff, Credentials(), env).start()
        figures = sender.finish(30)
        assert figures["spools"] == 1 and figures["sent"] == 2 and figures["left"] == 1
        remaining = [name for name in os.listdir(handoff) if name.endswith(".spool")]
        assert len(remaining) == 1
        lines = helpers.read_bytes(os.path.join(handoff, remaining[0])).splitlines()
        assert lines[1:] == [batch_line(STAMPS[0], [3])]
        figures = loghandoff.Sender(handoff, Credentials(), env).start().finish(30)
        assert figures["sent"] == 1 and os.listdir(handoff) == []
        assert [m["seq"] for m in logbook.messages_of(STAMPS[0])] == [3]
    finally:
        logbook.close()


def test_wrapper_entry_point_with_nothing_to_do(workdir, env, tmpdir):
    path = str(tmpdir.join("out.txt"))
    stream = open(path, "w")
    try:
        assert loghandoff.main(workdir, env, stream) == 0
    finally:
        stream.close()
    assert "nothing to hand off" in helpers.read_text(path)


# -- real pilots -------------------------------------------------------------------------

WAIT_EXTENSION = '''
import os
import time

from pilot.commands.base import Command


class WaitForGo(Command):
    """Waits (at most 120 s) until the file GO exists."""

    def execute(self):
        deadline = time.time() + 120
        while not os.path.exists(self.path("GO")) and time.time() < deadline:
            time.sleep(0.05)
'''


def pilot_args(number, url):
    return ["-X", "GetPilotVersion", "-r", "v1", "--pilotUUID", STAMPS[number], "-g", url]


def waiting_pilot_args(number, url, tmpdir):
    folder = str(tmpdir.mkdir("exts"))
    helpers.write_text(os.path.join(folder, "WaitCommands.py"), WAIT_EXTENSION)
    return ["-X", "GetPilotVersion,WaitForGo", "-r", "v1", "-E", "Wait", "--extensions-dir", folder,
            "--pilotUUID", STAMPS[number], "-g", url]


def pilot_env(certs, work_dir, number, handoff):
    token = helpers.write_text(os.path.join(work_dir, "logbook.token"), TOKENS[number] + "\n")
    os.chmod(token, 0o600)
    return helpers.clean_env({"X509_CERT_DIR": certs.ca_dir, "PILOT_LOGBOOK_TOKEN_FILE": token,
                              loghandoff.ENV_VAR: handoff})


def complete(items):
    seqs = [m["seq"] for m in items]
    return bool(items) and seqs == list(range(1, len(items) + 1)) and items[-1]["kind"] == "result"


@pytest.fixture
def logbook(certs):
    server = helpers.https(lambda context: LogbookDouble(context, tokens=dict(zip(TOKENS, STAMPS))), certs)
    yield server
    server.close()


def test_three_pilots_end_in_an_outage_the_fourth_delivers_their_stories(pyz, tmpdir, logbook, certs,
                                                                         handoff):
    logbook.stop()
    dirs = [str(tmpdir.mkdir("pilot%d" % number)) for number in range(4)]
    procs = [helpers.start_pilot(pilot_args(number, logbook.endpoint), dirs[number],
                                 env=pilot_env(certs, dirs[number], number, handoff)) for number in range(3)]
    for proc in procs:
        out, err = helpers.communicate_with_timeout(proc, 120)
        assert proc.returncode == 0, out + err
    for number in range(3):
        figures = helpers.load_result(dirs[number])["remote_logging"]
        assert figures["unsent"] == figures["messages"] > 0
        assert figures["handed_off"] and figures["spool_file"] == figures["handed_off"]
        assert not os.path.exists(os.path.join(dirs[number], remotelog.SPOOL_FILE))
    assert len(os.listdir(handoff)) == 3 and logbook.messages_of() == []
    logbook.start()
    # The 4th pilot runs until the three stories are in (its sender works in the background);
    # on a loaded machine that may take a while: a generous wait on the condition.
    proc = helpers.start_pilot(waiting_pilot_args(3, logbook.endpoint, tmpdir), dirs[3],
                               env=pilot_env(certs, dirs[3], 3, handoff))
    try:
        helpers.wait_for(lambda: all(complete(logbook.messages_of(stamp)) for stamp in STAMPS[:3]), timeout=90)
        helpers.write_text(os.path.join(dirs[3], "GO"), "")
        out, err = helpers.communicate_with_timeout(proc, 120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, out + err
    received = helpers.load_result(dirs[3])["remote_logging"]["handoff_received"]
    for number in range(4):
        items = logbook.messages_of(STAMPS[number])
        assert complete(items), (number, [m["seq"] for m in items], received, os.listdir(handoff), out)
        assert items[-1]["data"]["pilot"]["exit_code"] == 0
    assert logbook.duplicates == 0                                   # once each
    # The three spools are gone.  Under load the 4th pilot's final flush may stop waiting for a
    # batch that then arrives: that batch is handed off too, and holds nothing the logbook lacks.
    for name in os.listdir(handoff):
        assert name.startswith(STAMPS[3] + "."), name
        lines = helpers.read_bytes(os.path.join(handoff, name)).splitlines()[1:]
        seqs = [m["seq"] for line in lines for m in json.loads(line.decode("utf-8"))["messages"]]
        assert set(seqs) <= set(m["seq"] for m in logbook.messages_of(STAMPS[3]))
    assert received["spools"] == 3 and received["left"] == 0
    assert received["sent"] == sum(len(logbook.messages_of(stamp)) for stamp in STAMPS[:3])


def test_a_killed_pilot_is_handed_off_by_the_wrapper_entry_point(pyz, workdir, certs, handoff):
    url = "https://localhost:%d/api/v1/logs" % helpers.free_port()
    env = pilot_env(certs, workdir, 0, handoff)
    rc, out, err = helpers.run_pilot(pilot_args(0, url), workdir,
                                     env=dict(env, **{loghandoff.ENV_VAR: "off"}), timeout=120)
    assert rc == 0 and os.path.exists(os.path.join(workdir, remotelog.SPOOL_FILE))  # as after a SIGKILL
    rc, out, err = helpers.run_pilot(["--hand-off-log"], workdir, env=env)
    assert rc == 0 and "waits in %s" % handoff in out, out + err
    assert not os.path.exists(os.path.join(workdir, remotelog.SPOOL_FILE))
    name = os.listdir(handoff)[0]
    header = json.loads(helpers.read_bytes(os.path.join(handoff, name)).splitlines()[0].decode("utf-8"))
    assert header["stamp"] == STAMPS[0] and header["token"] == TOKENS[0] and header["url"] == url


def test_a_pilot_ignores_stale_and_foreign_spools_with_one_warning(pyz, workdir, logbook, certs, handoff,
                                                                  tmpdir):
    os.mkdir(handoff, 0o700)
    stale = helpers.write_bytes(os.path.join(handoff, "%s.1.1.spool" % STAMPS[1]), b"{}\n")
    old = time.time() - loghandoff.MAX_AGE - 60
    os.utime(stale, (old, old))
    os.symlink(helpers.write_text(str(tmpdir.join("planted")), "x"),
               os.path.join(handoff, "%s.2.2.spool" % STAMPS[2]))
    if os.geteuid() == 0:
        foreign = helpers.write_bytes(os.path.join(handoff, "%s.3.3.spool" % STAMPS[3]), b"{}\n")
        os.chown(foreign, 65534, 65534)
    rc, out, err = helpers.run_pilot(pilot_args(0, logbook.endpoint), workdir,
                                     env=pilot_env(certs, workdir, 0, handoff), timeout=120)
    assert rc == 0, out + err
    warnings = [line for line in out.splitlines() if "log hand-off: ignored" in line]
    assert len(warnings) == 1 and "1 expired" in warnings[0] and "1 link" in warnings[0], out
    assert complete(logbook.messages_of(STAMPS[0]))
    assert [s for (s, _) in logbook.stored] == [STAMPS[0]] * len(logbook.stored)


def test_a_hand_off_directory_of_another_user_is_not_used(pyz, workdir, logbook, certs, handoff):
    if os.geteuid() != 0:
        pytest.skip("needs root to make a directory of another user")
    os.mkdir(handoff, 0o700)
    os.chown(handoff, 65534, 65534)
    logbook.stop()
    rc, out, err = helpers.run_pilot(pilot_args(0, logbook.endpoint), workdir,
                                     env=pilot_env(certs, workdir, 0, handoff), timeout=120)
    assert rc == 0, out + err
    assert "belongs to uid 65534" in out
    figures = helpers.load_result(workdir)["remote_logging"]
    assert figures["handed_off"] is None and figures["unsent"] > 0
    assert os.path.exists(os.path.join(workdir, remotelog.SPOOL_FILE))        # nothing lost
