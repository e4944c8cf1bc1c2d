"""The event-loop front (receive/front.py): each limit refuses what it should, with its status or close.

Raw sockets, so that every byte (or its absence) is the test's choice.  Time limits are
set to a second or two here; the tests wait for what the server does, never assert
how long it took.
"""

import json
import logging
import socket
import ssl
import threading
import time
import weakref

import pytest

from logbook_support import bearer, body, new_stamp, pki, post, sqlite_store, start_server, token  # noqa: F401
from support.waiting import wait_until
from pilot_server.logbook.receive.limits import limits

LOGS = "/api/v1/logs"


def port_of(running):
    return int(running.url.rsplit(":", 1)[1])


def connect(running, source="127.0.0.1", context=None):
    sock = socket.create_connection(("127.0.0.1", port_of(running)), timeout=30, source_address=(source, 0))
    if context is not None:
        sock = context.wrap_socket(sock, server_hostname="127.0.0.1")
    return sock


def batch_request(stamp, seqs, extra=b"", length=None):
    payload = body(stamp, seqs)
    head = (
        "POST %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\n"
        "Content-Length: %d\r\n" % (LOGS, token(stamp), len(payload) if length is None else length)
    ).encode()
    return head + extra + b"\r\n" + payload


UNREAD = weakref.WeakKeyDictionary()  # socket -> bytes received past the reply read last


def read_reply(sock):
    """(status, headers dict, body) of one reply, or None when the server closed without one."""
    data = UNREAD.pop(sock, b"")
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return None if not data else pytest.fail("reply cut: %r" % data)
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(
        (name.strip().lower(), value.strip()) for name, _, value in (line.partition(":") for line in lines[1:])
    )
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    if rest[length:]:
        UNREAD[sock] = rest[length:]
    return int(lines[0].split()[1]), headers, rest[:length]


def closed(sock):
    """True when the server closed the connection (EOF or reset)."""
    try:
        return sock.recv(1) == b""
    except (ConnectionResetError, ssl.SSLError):
        return True


def serve(store, **given):
    running = start_server(store, limits=limits(**given), metrics_tokens=("m" * 40,))
    running.store = store
    return running


@pytest.fixture
def front(sqlite_store):
    """The default deadlines (10 s and more): a slow machine does not trip them."""
    running = serve(sqlite_store, max_per_address=4, max_head_bytes=4096)
    yield running
    running.stop()


@pytest.fixture
def quick(sqlite_store):
    """Deadlines of a few seconds, for the tests of the deadlines."""
    running = serve(sqlite_store, head_timeout=2, body_timeout=3, idle_timeout=4, handshake_timeout=2)
    yield running
    running.stop()


@pytest.fixture
def tls_front(sqlite_store, pki):
    from pilot_server.logbook.receive import tlsconfig

    context = tlsconfig.server_context(pki.server_files[0], pki.server_files[1])
    running = start_server(
        sqlite_store, tls_context=context, limits=limits(handshake_timeout=2, head_timeout=2, idle_timeout=4)
    )
    running.store = sqlite_store
    yield running
    running.stop()


def metric(running, name, labels=None):
    from prometheus_client.parser import text_string_to_metric_families

    status, _, text = get_metrics(running, "m" * 40)
    assert status == 200
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in (labels or {}).items()):
                return sample.value
    return None


def get_metrics(running, credential=None):
    import http.client

    connection = http.client.HTTPConnection(
        "127.0.0.1", port_of(running), timeout=10, source_address=("127.0.0.9", 0)
    )  # not counted with the tests' own
    try:
        connection.request("GET", "/metrics", headers={"Authorization": "Bearer " + credential} if credential else {})
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type"), response.read().decode()
    finally:
        connection.close()


# -- framing ------------------------------------------------------------------------------------------


def test_duplicate_content_length_is_400_and_nothing_stored(front):
    stamp = new_stamp()
    payload = body(stamp, [1])
    for second in (len(payload), len(payload) + 1):
        sock = connect(front)
        sock.sendall(batch_request(stamp, [1], extra=b"Content-Length: %d\r\n" % second))
        status, headers, reply = read_reply(sock)
        assert status == 400 and "Content-Length" in json.loads(reply)["error"]
        assert headers["connection"] == "close" and closed(sock)
        sock.close()
    assert front.store.pilot(stamp) is None


def test_transfer_encoding_and_a_missing_length_are_400(front):
    stamp = new_stamp()
    sock = connect(front)
    sock.sendall(
        b"POST /api/v1/logs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n" % token(stamp).encode()
    )
    status, _, reply = read_reply(sock)
    assert status == 400 and "not a Transfer-Encoding" in json.loads(reply)["error"] and closed(sock)
    sock = connect(front)
    sock.sendall(b"POST /api/v1/logs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n" % token(stamp).encode())
    status, _, reply = read_reply(sock)
    assert status == 400 and "Content-Length header is required" in json.loads(reply)["error"]


def test_garbage_is_400_and_closed(front):
    sock = connect(front)
    sock.sendall(b"\x16\x03\x01 this is not HTTP\r\n\r\n")
    status, _, reply = read_reply(sock)
    assert status == 400 and "malformed request" in json.loads(reply)["error"] and closed(sock)


def test_a_head_over_the_limit_is_431_and_closed(front):
    stamp = new_stamp()
    sock = connect(front)
    sock.sendall(batch_request(stamp, [1], extra=b"X-Padding: " + b"a" * 5000 + b"\r\n"))
    status, _, reply = read_reply(sock)
    assert status == 431 and "over 4096 bytes" in json.loads(reply)["error"] and closed(sock)
    sock = connect(front)  # an endless header line is cut as soon as it passes the limit
    sock.sendall(b"GET / HTTP/1.1\r\nX-Endless: " + b"b" * 100000)
    assert read_reply(sock)[0] == 431 and closed(sock)
    sock = connect(front)
    sock.sendall(b"GET /api/v1/health HTTP/1.1\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(120)) + b"\r\n")
    assert read_reply(sock)[0] == 431
    assert front.store.pilot(stamp) is None
    assert metric(front, "pilots2_logbook_connections_refused_total", {"reason": "head_too_large"}) == 3


def test_pipelined_requests_are_answered_in_order(front):
    stamp = new_stamp()
    sock = connect(front)
    sock.sendall(
        batch_request(stamp, [1, 2]) + batch_request(stamp, [3]) + b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    first, second, third = read_reply(sock), read_reply(sock), read_reply(sock)
    assert json.loads(first[2]) == {"stored": 2, "duplicates": 0, "last_seq": 2}
    assert json.loads(second[2]) == {"stored": 1, "duplicates": 0, "last_seq": 3}
    assert third[0] == 200 and json.loads(third[2])["status"] == "ok"


def test_head_gets_the_headers_without_the_body(front):
    sock = connect(front)
    sock.sendall(b"HEAD /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\nGET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
    data = b""
    while data.count(b"HTTP/1.1 200") < 2 or not data.endswith(b"}"):
        data += sock.recv(4096)
    first, _, rest = data.partition(b"\r\n\r\n")
    assert b"Content-Length: " in first and rest.startswith(b"HTTP/1.1 200")


def test_expect_100_continue(front):
    stamp = new_stamp()
    head, _, payload = batch_request(stamp, [1], extra=b"Expect: 100-continue\r\n").partition(b"\r\n\r\n")
    sock = connect(front)
    sock.sendall(head + b"\r\n\r\n")
    assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
    sock.sendall(payload)
    reply = read_reply(sock)
    assert reply[0] == 200, reply
    # refused from the head (no credential): answered at once, the body never sent, then closed
    sock.sendall(b"POST /api/v1/logs HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\nExpect: 100-continue\r\n\r\n")
    status, headers, reply = read_reply(sock)
    assert status == 401 and headers["connection"] == "close" and closed(sock)


def test_a_refused_body_is_drained_and_the_connection_kept(front):
    """No credential: 401 from the head alone; the body is read and dropped, the next request answered."""
    stamp = new_stamp()
    payload = body(stamp, range(1, 200))
    sock = connect(front)
    sock.sendall(b"POST /api/v1/logs HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(payload) + payload)
    assert read_reply(sock)[0] == 401
    sock.sendall(batch_request(stamp, [1]))
    assert read_reply(sock)[0] == 200


# -- time limits ----------------------------------------------------------------------------------------


def test_slowloris_gets_408_and_is_closed(quick):
    sock = connect(quick)
    text = b"POST /api/v1/logs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    status = None
    for byte in text:
        try:
            sock.sendall(bytes([byte]))
        except OSError:
            break
        time.sleep(0.1)
        sock.settimeout(0.01)
        try:
            reply = read_reply(sock)
        except socket.timeout:
            continue
        finally:
            sock.settimeout(30)
        status = reply[0] if reply else "closed"
        break
    assert status == 408 and closed(sock)
    assert metric(quick, "pilots2_logbook_connections_refused_total", {"reason": "head_timeout"}) >= 1


def test_a_connection_that_never_sends_is_closed_without_a_reply(quick):
    sock = connect(quick)
    assert closed(sock)


def test_a_slow_body_gets_408(quick):
    stamp = new_stamp()
    sock = connect(quick)
    request = batch_request(stamp, [1])
    sock.sendall(request[:-10])
    status, _, reply = read_reply(sock)
    assert status == 408 and "body" in json.loads(reply)["error"] and closed(sock)
    assert quick.store.pilot(stamp) is None


def test_an_idle_kept_alive_connection_is_closed_after_the_idle_timeout(quick):
    stamp = new_stamp()
    sock = connect(quick)
    sock.sendall(batch_request(stamp, [1]))
    assert read_reply(sock)[0] == 200
    sock.sendall(batch_request(stamp, [2]))  # well within the idle timeout: the same connection
    assert read_reply(sock)[0] == 200
    assert closed(sock)  # then nothing: closed, quietly


def test_tls_handshake_deadline_closes_idle_and_half_handshakes(tls_front, pki):
    idle = connect(tls_front)
    half = connect(tls_front)
    half.sendall(b"\x16\x03\x01\x02\x00\x01")  # a ClientHello record of 512 bytes announced, 1 sent
    assert closed(idle) and closed(half)
    # meanwhile and after, a pilot is served
    stamp = new_stamp()
    assert post(tls_front.url, LOGS, body(stamp, [1]), bearer(token(stamp)), context=pki.client_context())[0] == 200
    sock = connect(tls_front, context=pki.client_context())  # TLS done, no request: closed, no reply
    assert closed(sock)


# -- connection caps -------------------------------------------------------------------------------------


def test_connections_per_address_are_capped_and_refusals_logged_once(front, caplog):
    caplog.set_level(logging.INFO, logger="pilots2")
    held = [connect(front) for _ in range(4)]
    time.sleep(0.2)
    for _ in range(5):
        extra = connect(front)
        assert closed(extra)  # closed at once, before any byte
        extra.close()
    other = connect(front, source="127.0.0.2")  # another address is not held up
    stamp = new_stamp()
    other.sendall(batch_request(stamp, [1]))
    assert read_reply(other)[0] == 200
    lines = [record.getMessage() for record in caplog.records if "per address" in record.getMessage()]
    assert len(lines) == 1 and "127.0.0.1" in lines[0], lines
    for sock in held:
        sock.close()
    assert wait_until(
        lambda: metric(front, "pilots2_logbook_connections_refused_total", {"reason": "per_address"}) == 5,
        10,
        what="5 refusals counted",
    )


def test_the_refusal_log_reports_what_it_suppressed():
    from pilot_server.logbook.receive.limits import RefusalLog

    now = [1000.0]
    records = []

    class Logger(object):
        def log(self, level, fmt, *args):
            records.append(fmt % args)

    refusals = RefusalLog(Logger(), clock=lambda: now[0])
    for _ in range(7):
        refusals("10.0.0.1", "per address")
    refusals("10.0.0.2", "per address")
    now[0] += 61
    refusals("10.0.0.1", "per address")
    assert records == [
        "refused 10.0.0.1: per address",
        "refused 10.0.0.2: per address",
        "refused 10.0.0.1: per address (6 more since the last report)",
    ]


# -- metrics ------------------------------------------------------------------------------------------


def test_metrics_need_their_token_or_an_administrator(front):
    stamp = new_stamp()
    assert post(front.url, LOGS, body(stamp, [1, 2, 3]), bearer(token(stamp)))[0] == 200
    assert post(front.url, LOGS, body(stamp, [3, 4]), bearer(token(stamp)))[0] == 200
    assert post(front.url, LOGS, b"{", bearer(token(stamp)))[0] == 400
    assert get_metrics(front)[0] == 401
    assert get_metrics(front, token(stamp))[0] == 403
    assert get_metrics(front, "x" * 40)[0] == 401
    status, content_type, text = get_metrics(front, "m" * 40)
    assert status == 200 and content_type.startswith("text/plain; version=0.0.4")
    assert metric(front, "pilots2_logbook_batches_total") == 2
    assert metric(front, "pilots2_logbook_messages_total") == 4
    assert metric(front, "pilots2_logbook_duplicates_total") == 1
    assert metric(front, "pilots2_logbook_requests_total", {"code": "4xx"}) >= 4
    assert metric(front, "pilots2_logbook_database_seconds_count", {"operation": "store_batches"}) == 2
    assert metric(front, "pilots2_logbook_group_batches_sum") == 2
    # every answered request's time in the receiver: the 3 posts and the metrics reads before this one
    from prometheus_client.parser import text_string_to_metric_families

    [family] = [
        item
        for item in text_string_to_metric_families(get_metrics(front, "m" * 40)[2])
        if item.name == "pilots2_logbook_request_seconds"
    ]
    values = dict(((sample.name, sample.labels.get("le")), sample.value) for sample in family.samples)
    answered = values[("pilots2_logbook_request_seconds_count", None)]
    assert answered >= 6 and answered == values[("pilots2_logbook_request_seconds_bucket", "+Inf")]
    assert 0 < values[("pilots2_logbook_request_seconds_sum", None)] < 60
    assert metric(front, "pilots2_logbook_connections_total") >= 6
    assert metric(front, "pilots2_logbook_connections_open") >= 1


# -- stopping -----------------------------------------------------------------------------------------


def test_stop_finishes_the_request_in_progress_then_refuses(sqlite_store, tmp_path):
    """SIGTERM's path: the batch waiting for the database is answered (Connection: close), then the front ends."""
    import sqlite3

    running = start_server(sqlite_store)
    stamp = new_stamp()
    assert post(running.url, LOGS, body(stamp, [1]), bearer(token(stamp)))[0] == 200
    idle = connect(running)
    idle.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
    assert read_reply(idle)[0] == 200
    locker = sqlite3.connect(str(tmp_path / "logbook.sqlite"), timeout=30)
    locker.execute("BEGIN IMMEDIATE")  # the database's write lock: the next batch waits for it
    busy = connect(running)
    busy.sendall(batch_request(stamp, [2]))
    time.sleep(0.5)
    stopper = threading.Thread(target=running.stop)
    stopper.start()
    assert wait_until(lambda: not can_connect(running), 10, what="the listening socket to close")
    assert closed(idle)  # an idle connection is closed at once
    locker.rollback()  # the database comes free: the batch is stored and answered
    status, headers, _ = read_reply(busy)
    assert (status, headers["connection"]) == (200, "close")
    stopper.join(30)
    assert not running.thread.is_alive()
    assert [item["seq"] for item in sqlite_store.messages(stamp)] == [1, 2]


def test_a_batch_waiting_for_the_database_does_not_hold_a_worker(sqlite_store, tmp_path):
    """The group commit's writer answers a batch once it is stored: meanwhile the only worker thread
    answers the other requests (it handed the batch over and went on)."""
    import sqlite3

    running = start_server(sqlite_store, threads=1)
    try:
        stamp = new_stamp()
        locker = sqlite3.connect(str(tmp_path / "logbook.sqlite"), timeout=30)
        locker.execute("BEGIN IMMEDIATE")  # the database's write lock: the batch waits for it
        waiting = connect(running)
        waiting.sendall(batch_request(stamp, [1, 2]))
        writer = running.server.writer
        assert wait_until(lambda: writer.busy == 1, 10, what="the writer to take the batch")
        other = connect(running)
        other.settimeout(10)
        other.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_reply(other)[0] == 200  # while the batch still waits for the lock
        assert writer.busy == 1 and sqlite_store.messages(stamp) == []
        locker.rollback()
        status, _, reply = read_reply(waiting)
        assert (status, json.loads(reply)["stored"]) == (200, 2)
        assert [item["seq"] for item in sqlite_store.messages(stamp)] == [1, 2]
    finally:
        running.stop()


def can_connect(running):
    try:
        socket.create_connection(("127.0.0.1", port_of(running)), timeout=1).close()
        return True
    except OSError:
        return False


# -- group commit ---------------------------------------------------------------------------------------


def test_group_commit_stores_concurrent_batches_and_isolates_a_bad_one(sqlite_store):
    """Batches handed in together share transactions; one the database refuses fails alone."""
    from logbook_support import make_messages, result_message
    from pilot_server.logbook.receive.groupcommit import GroupCommit
    from pilot_server.logbook.receive.metrics import Metrics

    metrics = Metrics()
    writer = GroupCommit(sqlite_store, metrics, writers=1)
    outcomes, errors = {}, {}

    def together(batches):
        gate = threading.Barrier(len(batches))

        def send(stamp, messages):
            gate.wait()
            try:
                outcomes[stamp] = writer.store_batch(stamp, messages)
            except Exception as exc:
                errors[stamp] = exc

        threads = [threading.Thread(target=send, args=batch) for batch in batches]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)

    def groups():
        from prometheus_client.parser import text_string_to_metric_families

        return dict(
            (sample.name, sample.value)
            for family in text_string_to_metric_families(metrics.render().decode())
            for sample in family.samples
            if sample.name.startswith("pilots2_logbook_group_batches_")
        )

    stamps = [new_stamp() for _ in range(30)]
    together([(stamp, make_messages(stamp, [1, 2])) for stamp in stamps])
    assert not errors and all((outcomes[stamp].stored, outcomes[stamp].last_seq) == (2, 2) for stamp in stamps)
    assert groups()["pilots2_logbook_group_batches_sum"] == 30
    assert groups()["pilots2_logbook_group_batches_count"] < 30  # fewer transactions than batches
    # an exit code the database cannot hold (not checked at intake here): its group is stored again
    # batch by batch, and only that batch fails
    bad, others = new_stamp(), [new_stamp() for _ in range(5)]
    together(
        [(bad, [result_message(bad, 1, exit_code=10**30)])] + [(stamp, make_messages(stamp, [1])) for stamp in others]
    )
    writer.stop()
    assert set(errors) == {bad}
    assert all(outcomes[stamp].stored == 1 for stamp in others) and sqlite_store.pilot(bad) is None
    assert all(len(sqlite_store.messages(stamp)) == 2 for stamp in stamps)


def test_the_receiver_tunes_the_garbage_collector():
    """serve runs tune_collector: young generation of 50,000 allocations, start-up objects frozen."""
    import gc

    from pilot_server.logbook.receive import front as frontmodule

    before = gc.get_threshold()
    try:
        frontmodule.tune_collector()
        assert gc.get_threshold() == frontmodule.GC_THRESHOLDS
        assert gc.get_freeze_count() > 0
        churn = [[index] for index in range(20000)]  # under the young threshold: nothing collected
        counts = gc.get_count()
        assert counts[0] >= 20000 and counts[1] == 0, counts
        del churn
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
