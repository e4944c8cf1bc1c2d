"""Intake checks each field's type and range (pilot.messages): out of range is 400 naming the field.

And the logbook acknowledges only what it stored: a 200's count is the rows the database added.
"""

import binascii
import json
import socket

import pytest
from sqlalchemy import func, select, text

from logbook_support import (
    SECRET,  # noqa: F401
    backend,  # noqa: F401
    bearer,
    body,
    databases,  # noqa: F401
    make_messages,
    new_stamp,  # noqa: F401
    get_text,
    post,
    session_stores,  # noqa: F401
    session_urls,  # noqa: F401
    sqlite_store,  # noqa: F401
    start_server,
    store,  # noqa: F401
    token,
)
from pilot_server.worker import messages as wire
from pilot_server.logbook.store import schema

ADMIN_SECRET = b"admin-secret-0123456789abcdef01234567"
ADMIN = binascii.hexlify(ADMIN_SECRET).decode("ascii")
LOGS = "/api/v1/logs"


@pytest.fixture
def server(sqlite_store):
    running = start_server(sqlite_store, admin_secrets=(ADMIN_SECRET,))
    yield running
    running.stop()


def stored_rows(store, stamp):
    messages = schema.messages
    return store.read(
        lambda c: c.execute(select(func.count()).select_from(messages).where(messages.c.stamp == stamp)).scalar()
    )


def get(url, path, credential=ADMIN):
    return get_text(url, path, credential)


def with_message(stamp, index, **fields):
    items = make_messages(stamp, range(1, 16))
    items[index].update(fields)
    return json.dumps(wire.batch(stamp, items)).encode("utf-8")  # NaN and Infinity as Python writes them


def deep(levels):
    value = []
    for _ in range(levels - 1):
        value = [value]
    return value


BAD = [
    ("time NaN", {"time": float("nan")}, "field 'time'"),
    ("time Infinity", {"time": float("inf")}, "field 'time'"),
    ("time 1e300", {"time": 1e300}, "field 'time'"),
    ("time negative", {"time": -5.0}, "field 'time'"),
    ("seq 2^63", {"seq": 2**63}, "field 'seq'"),
    ("seq true", {"seq": True}, "field 'seq'"),
    ("duration 1e308", {"kind": "command", "status": "ok", "data": {"duration": 1e308}}, "field 'data.duration'"),
    ("duration -1e308", {"kind": "command", "status": "failed", "data": {"duration": -1e308}}, "field 'data.duration'"),
    (
        "reason an object",
        {"kind": "result", "data": {"pilot": {"exit_code": 1, "reason": {"why": "x"}}}},
        "field 'data.pilot.reason'",
    ),
    ("exit code 10^30", {"kind": "result", "data": {"pilot": {"exit_code": 10**30}}}, "field 'data.pilot.exit_code'"),
    ("a number 10^30 in data", {"data": {"figure": 10**30}}, "field 'data.figure'"),
    ("NaN in data", {"kind": "heartbeat", "data": {"load1": float("nan")}}, "field 'data.load1'"),
    ("data nested 900 deep", {"data": {"x": deep(900)}}, "field 'data' is nested deeper than 32 levels"),
]


@pytest.mark.parametrize("fields, named", [case[1:] for case in BAD], ids=[case[0] for case in BAD])
def test_a_value_out_of_range_is_400_naming_the_message_and_field(server, fields, named):
    stamp = new_stamp()
    status, reply = post(server.url, LOGS, with_message(stamp, 3, **fields), bearer(token(stamp)))
    assert status == 400, reply
    assert reply["error"].startswith("message 3: " + named), reply
    assert stored_rows(server.server.store, stamp) == 0 and server.server.store.pilot(stamp) is None


def test_json_nested_past_the_parser_is_400(server):
    stamp = new_stamp()
    payload = b'{"schema":"pilots2/log/1","stamp":"%s","messages":[{"data":%s}]}' % (
        stamp.encode(),
        b"[" * 100000 + b"]" * 100000,
    )
    status, reply = post(server.url, LOGS, payload, bearer(token(stamp)))
    assert status == 400 and reply["error"].startswith("malformed JSON"), reply


@pytest.mark.parametrize(
    "document, named",
    [
        ({"submitted": float("nan")}, "field 'submitted'"),
        ({"submitted": float("inf")}, "field 'submitted'"),
        ({"submitted": 1e300}, "field 'submitted'"),
        ({"site": {"name": "x"}}, "field 'site'"),
    ],
)
def test_a_registration_out_of_range_is_400(server, document, named):
    stamp = new_stamp()
    payload = json.dumps(dict(document, stamp=stamp)).encode()
    status, reply = post(server.url, "/api/v1/pilots", payload, bearer(ADMIN))
    assert status == 400 and named in reply["error"], reply
    assert server.server.store.pilot(stamp) is None


def test_a_state_time_out_of_range_is_400(server):
    stamp = new_stamp()
    assert post(server.url, "/api/v1/pilots", json.dumps({"stamp": stamp}).encode(), bearer(ADMIN))[0] == 201
    for when in (1e300, float("inf"), -1):
        status, reply = post(
            server.url,
            "/api/v1/pilots/%s/state" % stamp,
            json.dumps({"state": "Running", "time": when}).encode(),
            bearer(ADMIN),
        )
        assert status == 400 and "field 'time'" in reply["error"], reply
    assert server.server.store.pilot(stamp)["status"] == "Submitted"


@pytest.mark.parametrize(
    "query",
    ["after=" + "9" * 30, "after=9223372036854775808", "after=%C2%B2", "after=-1", "limit=%C2%B2", "limit=" + "1" * 30],
)
def test_after_and_limit_are_digits_in_range(server, query):
    stamp = new_stamp()
    assert post(server.url, LOGS, body(stamp, [1, 2]), bearer(token(stamp)))[0] == 200
    status, answer = get(server.url, "/api/v1/pilots/%s/messages?%s" % (stamp, query))
    assert status == 400 and ("after must be" in answer or "limit must be" in answer), answer
    if query.startswith("after"):
        status, page = get(server.url, "/pilot/%s?%s" % (stamp, query))
        assert status == 400 and "after must be a message sequence number" in page
    status, answer = get(server.url, "/api/v1/pilots/%s/messages?after=9223372036854775807" % stamp)
    assert status == 200 and json.loads(answer) == {"messages": []}


def test_a_200_counts_what_is_stored(store):
    """15 sent, 15 counted, 15 in the database; the same batch again: 15 duplicates, still 15 rows."""
    running = start_server(store)
    try:
        stamp = new_stamp()
        status, reply = post(running.url, LOGS, body(stamp, range(1, 16)), bearer(token(stamp)))
        assert status == 200 and (reply["stored"], reply["duplicates"]) == (15, 0)
        assert stored_rows(store, stamp) == 15 == store.pilot(stamp)["message_count"]
        status, reply = post(running.url, LOGS, body(stamp, range(1, 16)), bearer(token(stamp)))
        assert status == 200 and (reply["stored"], reply["duplicates"]) == (0, 15)
        assert stored_rows(store, stamp) == 15
    finally:
        running.stop()


def test_a_row_the_database_drops_silently_is_never_acknowledged(server):
    """A trigger makes SQLite skip one row without an error (as INSERT OR IGNORE does with a NOT NULL
    failure): the batch is not acknowledged (500), nothing of it stays, and once the database keeps
    every row the pilot's resend is stored whole."""
    stamp = new_stamp()
    with server.server.store.engine.begin() as connection:
        connection.execute(
            text("CREATE TRIGGER drop_seq4 BEFORE INSERT ON messages WHEN NEW.seq = 4 BEGIN SELECT RAISE(IGNORE); END")
        )
    status, reply = post(server.url, LOGS, body(stamp, range(1, 16)), bearer(token(stamp)))
    assert status == 500 and reply == {"error": "internal error"}
    assert stored_rows(server.server.store, stamp) == 0
    with server.server.store.engine.begin() as connection:
        connection.execute(text("DROP TRIGGER drop_seq4"))
    status, reply = post(server.url, LOGS, body(stamp, range(1, 16)), bearer(token(stamp)))
    assert status == 200 and reply["stored"] == 15 == stored_rows(server.server.store, stamp)


def _raw(url, head, payload):
    host, port = url.split("://")[1].split(":")
    sock = socket.create_connection((host, int(port)), timeout=30)
    try:
        sock.sendall(head.encode("latin-1") + payload)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
        return answer.split(b"\r\n", 1)[0]
    finally:
        sock.close()


@pytest.mark.parametrize("lengths", [("same", "same"), ("same", "more"), ("same, same",)])
def test_two_content_lengths_are_400(server, lengths):
    stamp = new_stamp()
    payload = body(stamp, [1])
    values = {
        "same": str(len(payload)),
        "more": str(len(payload) + 10),
        "same, same": "%d, %d" % (len(payload), len(payload)),
    }
    head = (
        "POST %s HTTP/1.1\r\nHost: logbook\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\n%s"
        "\r\n\r\n" % (LOGS, token(stamp), "".join("Content-Length: %s\r\n" % values[name] for name in lengths))
    )
    assert _raw(server.url, head, payload).startswith(b"HTTP/1.1 400 ")
    assert stored_rows(server.server.store, stamp) == 0
