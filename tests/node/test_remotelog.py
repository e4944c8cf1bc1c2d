"""The remote log sink and its sender (pilot/logs/logsender.py, by pilot/logs/remotelog.py's names), in process.

Against fake transports (to control failures exactly) and against the
contract-honouring receiver of doubles/log_receivers.py over HTTP(S).  Bounds are
asserted through counts (flush timeouts, what is in the spool), never
through wall-clock time.
"""

import json
import os
import threading
import time

import pytest

import helpers
from doubles.log_receivers import LogbookDouble
from pilot import messages
from pilot.logs import logsender, remotelog
from pilot.logs.logger import PilotLogger
from pilot.logs.logtransport import (Credentials, HttpsTransport, Refused, Rejected, SendError, make_transport,
                                     token_from_file)

STAMP = "0123456789abcdef0123456789abcdef"


class FakeTransport(object):
    """Records batches; ``fail`` (an exception or None) decides what a send does."""

    name = "fake"
    url = "fake://logbook"

    def __init__(self):
        self.batches = []
        self.fail = None
        self.gate = None          # a threading.Event the send waits for (a hanging logbook)
        self.finished = []
        self.duplicates = 0

    def send(self, body, count):
        if self.gate is not None:
            self.gate.wait(30)
        if self.fail is not None:
            raise self.fail
        document = json.loads(body.decode("utf-8"))
        messages.validate_batch(document)   # every batch honours the contract
        assert len(document["messages"]) == count
        self.batches.append(document)

    def finish(self, exit_code, timeout):
        self.finished.append(exit_code)

    def close(self, timeout):
        pass

    def seqs(self):
        return [m["seq"] for batch in self.batches for m in batch["messages"]]


def make(workdir, transport=None, bufsize=1000, interval=30, **kwargs):
    logger = PilotLogger()
    remote = remotelog.RemoteLog(first_retry=kwargs.pop("first_retry", 0.05), **kwargs)
    logger.add_sink(remote)
    transport = transport or FakeTransport()
    remote.start(transport, STAMP, workdir, bufsize, interval, logger.source("RemoteLog"))
    return logger, remote, transport


def spooled_seqs(workdir):
    path = os.path.join(workdir, remotelog.SPOOL_FILE)
    if not os.path.exists(path):
        return []
    seqs = []
    for line in helpers.read_text(path).splitlines():
        document = json.loads(line)
        messages.validate_batch(document)
        seqs.extend(m["seq"] for m in document["messages"])
    return seqs


def test_records_become_messages_of_the_contract(workdir):
    logger, remote, transport = make(workdir)
    log = logger.source("InstallDIRAC", "Installing")
    log.info("plain")
    log.output("pip", "stderr", "Collecting DIRAC")
    log.event("INFO", "=== InstallDIRAC (core) ===", "command", "started")
    log.event("ERROR", "InstallDIRAC failed", "command", "failed",
              {"duration": 1.5, "failure_type": "network", "reason": "why"})
    logger.source("x" * 100).info("a long source name is cut, not refused")
    assert remote.flush(10)
    items = [m for batch in transport.batches for m in batch["messages"]]
    assert [m["seq"] for m in items] == [1, 2, 3, 4, 5]
    assert all(m["stamp"] == STAMP for m in items)
    assert items[0]["kind"] == "log" and items[0]["source"] == "InstallDIRAC" and items[0]["phase"] == "Installing"
    assert items[1]["stream"] == "stderr" and "Collecting DIRAC" in items[1]["text"]
    assert (items[2]["kind"], items[2]["status"], items[2]["data"]) == ("command", "started", None)
    assert items[3]["status"] == "failed" and items[3]["data"]["failure_type"] == "network"
    assert items[3]["level"] == "ERROR"
    assert items[4]["source"] == "x" * messages.MAX_NAME
    figures = remote.close(5, 0)
    assert figures["sent"] == 5 and figures["unsent"] == 0 and figures["messages"] == 5
    assert transport.finished == [0]


def test_flush_on_size(workdir):
    logger, remote, transport = make(workdir, bufsize=5)
    log = logger.source("Cmd")
    for number in range(4):
        log.info("line %d" % number)
    time.sleep(0.3)
    assert transport.seqs() == []           # 4 < 5 and the timer is 30 s away
    log.info("the fifth")
    assert helpers.wait_for(lambda: transport.seqs() == [1, 2, 3, 4, 5], timeout=10)
    remote.close(5)


def test_flush_on_time(workdir):
    logger, remote, transport = make(workdir, interval=0.2)
    logger.source("Cmd").info("alone")
    assert helpers.wait_for(lambda: transport.seqs() == [1], timeout=10)
    remote.close(5)


def test_heartbeat_and_result_go_at_once(workdir):
    logger, remote, transport = make(workdir)
    logger.source("LaunchAgent").event("INFO", "heartbeat", "heartbeat", None, {"load1": 0.1})
    assert helpers.wait_for(lambda: transport.seqs() == [1], timeout=10)
    remote.close(5)


def test_unsent_batches_are_spooled_and_sent_in_order_when_the_logbook_returns(workdir):
    transport = FakeTransport()
    transport.fail = SendError("Connection refused")
    logger, remote, _ = make(workdir, transport, first_retry=0.05, max_retry=0.1)
    log = logger.source("Cmd")
    for number in range(5):
        log.info("early %d" % number)
    assert remote.flush(10)                   # settled: spooled, not sent
    assert spooled_seqs(workdir)[:5] == [1, 2, 3, 4, 5]
    for number in range(5):
        log.info("late %d" % number)
    assert remote.flush(10)
    transport.fail = None                     # the logbook is back
    assert helpers.wait_for(lambda: not os.path.exists(os.path.join(workdir, remotelog.SPOOL_FILE)), timeout=10)
    log.info("after")
    figures = remote.close(5)
    seqs = transport.seqs()
    assert seqs == sorted(seqs) and seqs == sorted(set(seqs))     # in order, exactly once
    assert set(range(1, 12)) <= set(seqs)
    assert figures["unsent"] == 0 and figures["failures"] >= 1
    assert figures["resent_from_spool"] >= 10
    warnings = [m["text"] for m in _all(transport) if m["level"] == "WARNING"]
    assert len([w for w in warnings if "cannot send" in w]) == 1       # one warning per outage


def _all(transport):
    return [m for batch in transport.batches for m in batch["messages"]]


def test_logbook_down_all_the_time_everything_stays_in_the_spool(workdir):
    transport = FakeTransport()
    transport.fail = SendError("Connection refused")
    logger, remote, _ = make(workdir, transport, first_retry=0.05, max_retry=0.1)
    log = logger.source("Cmd")
    for number in range(30):
        log.info("line %d" % number)
        if number % 10 == 9:
            assert remote.flush(2)
    figures = remote.close(5, 3)
    assert not figures["final_flush_timed_out"]
    assert figures["sent"] == 0 and figures["unsent"] == figures["messages"]
    assert sorted(spooled_seqs(workdir)) == list(range(1, figures["messages"] + 1))
    assert transport.finished == [3]


def test_flush_waits_at_most_its_bound_and_close_spools_what_is_in_flight(workdir):
    transport = FakeTransport()
    transport.gate = threading.Event()        # the logbook accepts but never answers
    logger, remote, _ = make(workdir, transport)
    log = logger.source("Cmd")
    log.info("one")
    assert remote.flush(0.3) is False
    assert remote.stats["flush_timeouts"] == 1
    log.info("two")
    figures = remote.close(0.3)
    assert figures["final_flush_timed_out"] is True
    # nothing lost: the batch in flight and the one waiting are both in the spool
    assert sorted(spooled_seqs(workdir)) == [1, 2]
    transport.gate.set()


def test_a_hung_send_is_waited_for_once(workdir, monkeypatch):
    """After one flush timed out on a send that hangs, later flushes spool at once, and the
    final flush does not wait for that send either."""
    monkeypatch.setattr(logsender, "SLOW_SECONDS", 0.2)   # read where the sender runs
    monkeypatch.setattr(logsender, "HUNG_SECONDS", 0.2)
    transport = FakeTransport()
    transport.gate = threading.Event()
    logger, remote, _ = make(workdir, transport)
    log = logger.source("Cmd")
    log.info("first")
    assert remote.flush(0.4) is False
    for number in range(5):
        log.info("next %d" % number)
        assert remote.flush(30) is True          # spooled here, not waited for
    assert remote.stats["flush_timeouts"] == 1
    figures = remote.close(30)
    assert figures["final_flush_timed_out"] is True
    assert sorted(spooled_seqs(workdir)) == [1, 2, 3, 4, 5, 6]
    transport.gate.set()


def test_a_full_queue_goes_straight_to_the_spool(workdir):
    transport = FakeTransport()
    transport.gate = threading.Event()
    logger, remote, _ = make(workdir, transport, capacity=10, bufsize=1)
    log = logger.source("Chatty")
    log.info("first")                         # taken by the sender, which then hangs
    assert helpers.wait_for(lambda: remote.busy, timeout=10)
    for number in range(25):
        log.info("line %d" % number)
    assert len(remote.pending) <= 10
    assert len(spooled_seqs(workdir)) >= 11
    transport.gate.set()
    remote.close(10)
    assert sorted(transport.seqs()) == list(range(1, 27))
    assert len(transport.seqs()) == 26         # exactly once


def test_rejected_batch_is_set_aside_and_the_rest_goes_on(workdir):
    transport = FakeTransport()
    transport.fail = Rejected("HTTP 400 Bad Request: message 0: missing field: seq")
    logger, remote, _ = make(workdir, transport)
    log = logger.source("Cmd")
    log.info("refused one")
    assert remote.flush(10)
    transport.fail = None
    log.info("fine")
    figures = remote.close(10)
    rejected = helpers.read_text(os.path.join(workdir, remotelog.REJECTED_FILE)).splitlines()
    assert [m["seq"] for m in json.loads(rejected[0])["messages"]] == [1]
    assert figures["rejected"] == 1 and figures["rejected_file"] == remotelog.REJECTED_FILE
    texts = [m["text"] for m in _all(transport)]
    assert len([t for t in texts if "rejected a batch" in t]) == 1
    assert 1 not in transport.seqs() and 2 in transport.seqs()


def test_refused_credential_stops_sending(workdir):
    transport = FakeTransport()
    transport.fail = Refused("HTTP 401 Unauthorized: bad token")
    logger, remote, _ = make(workdir, transport, bufsize=1)
    log = logger.source("Cmd")
    for number in range(20):
        log.info("line %d" % number)
        remote.flush(2)
    figures = remote.close(5)
    assert figures["refused"] is True
    assert figures["attempts"] == 1            # no hammering
    assert figures["unsent"] == figures["messages"]
    assert transport.finished == []


def test_an_unexpected_transport_error_is_a_failure_not_a_crash(workdir):
    transport = FakeTransport()
    transport.fail = RuntimeError("boom")
    logger, remote, _ = make(workdir, transport)
    logger.source("Cmd").info("x")
    assert remote.flush(5)
    figures = remote.close(5)
    assert figures["failures"] >= 1 and "RuntimeError" in figures["last_error"]
    assert spooled_seqs(workdir) == [1, 2] or spooled_seqs(workdir)[0] == 1


def test_big_messages_are_split_into_batches_within_the_limits(workdir):
    logger, remote, transport = make(workdir, batch_bytes=64 * 1024, batch_messages=7)
    log = logger.source("Cmd")
    for number in range(20):
        log.info(("%d " % number) + "x" * 20000)
    logger.source("Cmd").event("INFO", "big data", "log", None, {"blob": "y" * (200 * 1024)})
    remote.close(10)
    assert transport.seqs() == list(range(1, 22))
    assert all(len(batch["messages"]) <= 7 for batch in transport.batches)
    assert len(transport.batches) >= 7
    last = _all(transport)[-1]
    assert len(messages.encode(last["data"])) <= messages.MAX_DATA_BYTES


def test_records_before_start_are_kept_and_off_means_dropped(workdir):
    logger = PilotLogger()
    remote = remotelog.RemoteLog()
    logger.add_sink(remote)
    logger.source("Pilot").info("before the parameters")
    transport = FakeTransport()
    remote.start(transport, STAMP, workdir, 1000, 30, None)
    logger.source("Pilot").info("after")
    remote.close(5)
    assert transport.seqs() == [1, 2]

    logger = PilotLogger()
    remote = remotelog.RemoteLog()
    logger.add_sink(remote)
    logger.source("Pilot").info("before")
    remote.discard(logger)
    assert remote not in logger.sinks and not remote.pending
    assert remote.close(5) is None


def test_a_spool_of_another_pilot_is_moved_aside(workdir):
    other = {"schema": messages.SCHEMA, "stamp": "f" * 32,
             "messages": [messages.message("f" * 32, 1, time.time(), "old")]}
    helpers.write_text(os.path.join(workdir, remotelog.SPOOL_FILE), json.dumps(other) + "\n")
    logger, remote, transport = make(workdir)
    logger.source("Pilot").info("mine")
    remote.close(5)
    assert transport.seqs() == [1] and all(b["stamp"] == STAMP for b in transport.batches)
    assert [name for name in os.listdir(workdir) if name.startswith(remotelog.SPOOL_FILE + ".")]


def test_own_spool_left_by_an_earlier_attempt_is_sent(workdir):
    mine = {"schema": messages.SCHEMA, "stamp": STAMP, "messages": [messages.message(STAMP, 1, time.time(), "old")]}
    helpers.write_text(os.path.join(workdir, remotelog.SPOOL_FILE), json.dumps(mine) + "\n")
    logger, remote, transport = make(workdir)
    remote.close(5)
    assert transport.seqs() == [1]


def test_fit_data():
    assert remotelog.fit_data(None) is None
    small = {"a": 1}
    assert remotelog.fit_data(small) is small
    fitted = remotelog.fit_data({"keep": 1, "long": "z" * 100000, "list": list(range(30000))})
    assert len(messages.encode(fitted)) <= messages.MAX_DATA_BYTES and fitted["keep"] == 1


# -- stdin ----------------------------------------------------------------------------------

def test_read_stdin_from_a_pipe_that_stays_open():
    read_fd, write_fd = os.pipe()
    try:
        os.write(write_fd, b"wrapper line 1\nwrapper line 2\n")
        data, cut = remotelog.read_stdin(read_fd, total=5.0, idle=0.2)   # the writer never closes
        assert data == b"wrapper line 1\nwrapper line 2\n" and not cut
        data, cut = remotelog.read_stdin(read_fd, total=5.0, idle=0.1)   # nothing at all
        assert data == b""
    finally:
        os.close(read_fd)
        os.close(write_fd)


def test_read_stdin_to_end_of_file_and_bounded_size():
    read_fd, write_fd = os.pipe()
    os.write(write_fd, b"x" * 5000)
    os.close(write_fd)
    try:
        data, cut = remotelog.read_stdin(read_fd, max_bytes=1000)
        assert len(data) == 1000 and cut
    finally:
        os.close(read_fd)


def test_capture_stdin_logs_stdin_records(workdir):
    read_fd, write_fd = os.pipe()
    os.write(write_fd, b"2026-11-21 UTC INFO wrapper: starting\nsecond\n")
    os.close(write_fd)
    logger, sink = helpers.make_logger()
    try:
        assert remotelog.capture_stdin(logger, read_fd) == 2
    finally:
        os.close(read_fd)
    assert [(r.kind, r.source, r.text) for r in sink.records] == [
        ("stdin", "stdin", "2026-11-21 UTC INFO wrapper: starting"), ("stdin", "stdin", "second")]


# -- the token file ------------------------------------------------------------------------

def test_token_file_must_be_private(workdir):
    path = helpers.write_text(os.path.join(workdir, "logbook.token"), "pt1.secret-token-value.sig\n")
    os.chmod(path, 0o644)
    token, problem = token_from_file(path, os.getuid())
    assert token is None and "readable by others" in problem and "secret" not in problem
    os.chmod(path, 0o600)
    assert token_from_file(path, os.getuid()) == ("pt1.secret-token-value.sig", None)
    assert token_from_file(path, os.getuid() + 1)[0] is None
    helpers.write_text(path, "two words\n")
    token, problem = token_from_file(path)
    assert token is None and "two" not in problem
    token, problem = token_from_file(os.path.join(workdir, "missing"))
    assert token is None and "cannot read" in problem


# -- HTTPS against the receiver of the contract ----------------------------------------------

@pytest.fixture
def logbook(certs):
    tokens = {"pt1.good": STAMP, "pt1.other": "e" * 32}
    server = helpers.https(lambda context: LogbookDouble(context, tokens=tokens), certs)
    yield server
    server.close()


def _https(logbook, certs, token="pt1.good", how="auto"):
    creds = Credentials(token, capath=certs.ca_dir)
    return HttpsTransport(logbook.endpoint, creds, timeout=10, how=how)


def _body(seqs):
    return messages.encode(messages.batch(STAMP, [messages.message(STAMP, seq, time.time(), "t%d" % seq)
                                                  for seq in seqs]))


@pytest.mark.parametrize("how", ["auto", "curl"])
def test_https_transport_statuses(logbook, certs, no_proxy, how):
    if how == "curl" and not helpers_has_curl():
        pytest.skip("no curl")
    good = _https(logbook, certs, how=how)
    good.send(_body([1, 2]), 2)
    good.send(_body([2, 3]), 2)                         # idempotent on (stamp, seq)
    assert [m["seq"] for m in logbook.messages_of(STAMP)] == [1, 2, 3]
    assert logbook.posts[0]["authorization"] == "Bearer pt1.good"
    if how == "auto":
        assert good.duplicates == 1
    with pytest.raises(Refused):
        _https(logbook, certs, token="pt1.wrong", how=how).send(_body([4]), 1)      # 401
    with pytest.raises(Refused):
        _https(logbook, certs, token="pt1.other", how=how).send(_body([4]), 1)      # 403
    with pytest.raises(Rejected):
        good.send(b'{"schema": "pilots2/log/1"', 1)                                  # 400
    logbook.force = [413, 503]
    with pytest.raises(Rejected):
        good.send(_body([4]), 1)
    with pytest.raises(SendError) as caught:
        good.send(_body([4]), 1)
    assert not isinstance(caught.value, (Rejected, Refused))
    assert "pt1.good" not in str(caught.value)


def helpers_has_curl():
    from compat.net import _which

    return _which("curl") is not None


def test_https_transport_default_path_and_no_token_over_plain_http():
    creds = Credentials("pt1.secret")
    transport = make_transport("https://logbook.example.org:8443", creds, STAMP, "vo", {})
    assert transport.url == "https://logbook.example.org:8443/api/v1/logs"
    plain = make_transport("http://127.0.0.1:9/api/v1/logs", creds, STAMP, "vo", {})
    assert "Authorization" not in plain.headers() and plain.notes


def test_unsupported_urls():
    from pilot.logs.logtransport import TransportError

    for url in ("ftp://x/y", "logbook.example.org", "stomp://broker:61613"):
        with pytest.raises(TransportError):
            make_transport(url, Credentials(), STAMP, "vo", {})
    with pytest.raises(TransportError):    # DIRAC needs a certificate
        make_transport("https://dirac:8443/WorkloadManagement/TornadoPilotLogging", Credentials("t"), STAMP,
                       "vo", {})


def test_sender_against_the_receiver_with_an_outage(logbook, certs, workdir, no_proxy):
    """The logbook goes down and comes back: everything arrives, exactly once, in order."""
    logger, remote, transport = make(workdir, _https(logbook, certs), first_retry=0.05, max_retry=0.2)
    log = logger.source("Cmd")
    log.info("before")
    assert remote.flush(10)
    logbook.stop()
    for number in range(10):
        log.info("during %d" % number)
        remote.flush(2)
    assert spooled_seqs(workdir)
    logbook.start()
    log.info("after")
    figures = remote.close(10)
    stored = [m["seq"] for m in logbook.messages_of(STAMP)]
    assert stored == list(range(1, figures["messages"] + 1))
    assert logbook.duplicates == 0
    arrivals = logbook.arrival_seqs(STAMP)
    assert arrivals == sorted(arrivals)
    assert figures["unsent"] == 0 and not os.path.exists(os.path.join(workdir, remotelog.SPOOL_FILE))


def test_hanging_logbook_never_blocks_more_than_the_bounds(logbook, certs, workdir, no_proxy):
    logbook.hang = True
    logger, remote, transport = make(workdir, _https(logbook, certs))
    logger.source("Cmd").info("x")
    assert remote.flush(0.3) is False
    figures = remote.close(0.5)
    assert figures["final_flush_timed_out"] and sorted(spooled_seqs(workdir)) == [1]


def test_the_result_is_the_last_message_whatever_logs_later(workdir):
    """A background thread (the log hand-off's sender) may log after the result: that line
    stays local, so the logbook's story still ends with the result."""
    logger, remote, transport = make(workdir)
    log = logger.source("Pilot")
    log.info("before")
    log.event("INFO", "result: exit code 0", "result", "done")
    logger.source("RemoteLog").info("log hand-off: 1 spool(s) of earlier pilots sent")
    figures = remote.close(10, 0)
    items = [m for batch in transport.batches for m in batch["messages"]]
    assert [m["kind"] for m in items] == ["log", "result"]
    assert figures["messages"] == 2 and figures["sent"] == 2
