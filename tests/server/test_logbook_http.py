"""POST /api/v1/logs as docs/logging-protocol.md says: every status, nothing stored from a refused batch."""

import json
import time

import pytest
from sqlalchemy import text

from logbook_support import (
    SECRET,
    bearer,
    body,
    databases,  # noqa: F401
    make_messages,
    new_stamp,
    post,  # noqa: F401
    sqlite_store,  # noqa: F401
    start_server,
    token,
)
from support.waiting import wait_until
from pilot_server.worker import messages as wire
from pilot_server.logbook.store import migrations

LOGS = "/api/v1/logs"


@pytest.fixture
def server(sqlite_store):
    running = start_server(
        sqlite_store,
        secrets=(b"old-secret-0123456789abcdef0123456789", SECRET),
        admin_secrets=(b"admin-secret-0123456789abcdef01234567",),
    )
    running.store = sqlite_store
    yield running
    running.stop()


def counts(store):
    return store.counts()[:2]


def test_a_batch_is_stored_and_the_reply_counts(server):
    stamp = new_stamp()
    status, reply = post(server.url, LOGS, body(stamp, range(1, 11)), bearer(token(stamp)))
    assert (status, reply) == (200, {"stored": 10, "duplicates": 0, "last_seq": 10})
    status, reply = post(server.url, LOGS, body(stamp, range(5, 16)), bearer(token(stamp)))
    assert (status, reply) == (200, {"stored": 5, "duplicates": 6, "last_seq": 15})
    assert [item["seq"] for item in server.store.messages(stamp)] == list(range(1, 16))


def test_a_token_of_a_rotated_secret_is_accepted(server):
    stamp = new_stamp()
    old = token(stamp, secret=b"old-secret-0123456789abcdef0123456789")
    assert post(server.url, LOGS, body(stamp, [1]), bearer(old))[0] == 200


def _bad_bodies(stamp):
    good = json.loads(body(stamp, [1, 2]).decode())
    missing_seq = json.loads(json.dumps(good))
    del missing_seq["messages"][1]["seq"]
    other_stamp = json.loads(json.dumps(good))
    other_stamp["messages"][0]["stamp"] = new_stamp()
    long_text = json.loads(json.dumps(good))
    long_text["messages"][1]["text"] = "x" * (wire.MAX_TEXT + 1)
    bad_level = json.loads(json.dumps(good))
    bad_level["messages"][0]["level"] = "LOUD"
    return [
        (b"{not json", "malformed JSON"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b"[]", "a batch must be a JSON object"),
        (json.dumps(dict(good, schema="pilots2/log/0")).encode(), "schema must be"),
        (json.dumps(dict(good, messages=[])).encode(), "missing or empty field: messages"),
        (json.dumps(missing_seq).encode(), "message 1: missing field 'seq'"),
        (json.dumps(other_stamp).encode(), "differs from the batch"),
        (json.dumps(long_text).encode(), "message 1: field 'text' must be a string of at most"),
        (json.dumps(bad_level).encode(), "message 0: field 'level' must be one of"),
    ]


def test_bad_bodies_get_400_with_the_reason_and_store_nothing(server):
    stamp = new_stamp()
    before = counts(server.store)
    for payload, reason in _bad_bodies(stamp):
        status, reply = post(server.url, LOGS, payload, bearer(token(stamp)))
        assert status == 400, (payload[:60], reply)
        assert set(reply) == {"error"} and reason in reply["error"] and "\n" not in reply["error"]
    assert counts(server.store) == before
    assert server.store.pilot(stamp) is None
    # refusals of an authenticated pilot are kept for the administrators
    assert sum(1 for row in server.store.rejected(100) if row["stamp"] == stamp) >= 5


def test_a_bad_stamp_and_bad_headers_are_400(server):
    stamp = "../../etc"
    payload = wire.encode(wire.batch(stamp, [wire.message(stamp, 1, time.time(), "x")]))
    assert post(server.url, LOGS, payload, bearer(token(new_stamp())))[0] == 400
    good = new_stamp()
    status, reply = post(
        server.url, LOGS, body(good, [1]), {"Authorization": "Bearer " + token(good), "Content-Type": "text/plain"}
    )
    assert (status, "Content-Type must be application/json" in reply["error"]) == (400, True)
    assert server.store.pilot(good) is None


def test_credentials_401_and_403(server):
    stamp = new_stamp()
    payload = body(stamp, [1])
    cases = [
        ({"Content-Type": "application/json"}, 401, "no credential"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, 401, "no credential"),
        (bearer("not-a-token"), 401, "malformed token"),
        (bearer(token(stamp)[:-3] + "AAA"), 401, "bad token signature"),
        (bearer(token(stamp, ttl=-10)), 401, "token expired"),
        (bearer(token(stamp, secret=b"u" * 40)), 401, "unknown key"),
        (bearer(token(new_stamp())), 403, "another pilot"),
        (
            bearer("61646d696e2d7365637265742d303132333435363738396162636465663031323334353637"),
            403,
            "admin token registers pilots",
        ),
    ]
    for headers, status, reason in cases:
        got, reply = post(server.url, LOGS, payload, headers)
        assert (got, reason in reply["error"]) == (status, True), (headers, reply)
        assert token(stamp) not in reply["error"]
    assert server.store.pilot(stamp) is None


def test_over_the_limits_is_413(server):
    stamp = new_stamp()
    too_many = body(stamp, range(1, wire.MAX_BATCH_MESSAGES + 2))
    status, reply = post(server.url, LOGS, too_many, bearer(token(stamp)))
    assert (status, "limit is %d" % wire.MAX_BATCH_MESSAGES in reply["error"]) == (413, True)
    # announced over 8 MiB: refused before the body is read, the connection closed
    huge = b"x" * (wire.MAX_BATCH_BYTES + 1)
    status, reply = post(server.url, LOGS, huge, bearer(token(stamp)))
    assert (status, "over the limit" in reply["error"]) == (413, True)
    assert server.store.pilot(stamp) is None


def test_health_unknown_paths_and_methods(server):
    assert post(server.url, "/api/v1/health", None, method="GET") == (
        200,
        {
            "status": "ok",
            "version": pytest.approx(post(server.url, "/api/v1/health", None, method="GET")[1]["version"]),
            "schema": migrations.LATEST,
        },
    )
    assert post(server.url, "/api/v1/nothing", b"{}", bearer(token(new_stamp())))[0] == 404
    assert post(server.url, LOGS, b"{}", bearer(token(new_stamp())), method="PUT")[0] == 405


def test_keep_alive_connection_serves_several_batches(server):
    import http.client

    stamp = new_stamp()
    host, port = server.url.split("://")[1].split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    for low in (1, 11, 21):
        connection.request("POST", LOGS, body(stamp, range(low, low + 10)), bearer(token(stamp)))
        response = connection.getresponse()
        assert response.status == 200 and json.loads(response.read())["last_seq"] == low + 9
    connection.request("POST", LOGS, b"{bad", bearer(token(stamp)))  # a 400 keeps the connection
    response = connection.getresponse()
    assert response.status == 400 and response.read()
    connection.request("POST", LOGS, body(stamp, [31]), bearer(token(stamp)))
    assert connection.getresponse().status == 200
    connection.close()


def test_registration_required_404_then_registered(sqlite_store):
    admin = b"admin-secret-0123456789abcdef01234567"
    running = start_server(sqlite_store, admin_secrets=(admin,), require_registration=True)
    try:
        stamp = new_stamp()
        status, reply = post(running.url, LOGS, body(stamp, [1]), bearer(token(stamp)))
        assert (status, "unknown pilot stamp" in reply["error"]) == (404, True)
        assert sqlite_store.pilot(stamp) is None
        registration = json.dumps(
            {
                "stamp": stamp,
                "ce": "ce01.example.org",
                "queue": "long",
                "site": "LCG.Example.org",
                "vo": "lhcb",
                "submitted": 1763700000,
            }
        ).encode()
        # a pilot token cannot register; a bad registration is 400; the admin token can
        assert post(running.url, "/api/v1/pilots", registration, bearer(token(stamp)))[0] == 403
        assert post(running.url, "/api/v1/pilots", b'{"stamp": 5}', bearer(admin.hex()))[0] == 400
        assert (
            post(
                running.url, "/api/v1/pilots", b'{"stamp": "%s", "colour": "red"}' % stamp.encode(), bearer(admin.hex())
            )[0]
            == 400
        )
        assert post(running.url, "/api/v1/pilots", registration, bearer(admin.hex())) == (
            201,
            {"stamp": stamp, "created": True},
        )
        assert post(running.url, "/api/v1/pilots", registration, bearer(admin.hex()))[0] == 200
        assert post(running.url, LOGS, body(stamp, [1]), bearer(token(stamp)))[0] == 200
        pilot = sqlite_store.pilot(stamp)
        assert (pilot["site"], pilot["ce"], pilot["status"], pilot["submitted_time"]) == (
            "LCG.Example.org",
            "ce01.example.org",
            "Running",
            1763700000.0,
        )
    finally:
        running.stop()


def test_database_unavailable_is_503_and_nothing_half_stored(databases):
    """PostgreSQL refuses new connections (and the open ones are cut): 503; back: 200, stored once."""
    from pilot_server.logbook.store.logstore import Store

    url = databases.create("postgresql")
    name = url.rsplit("/", 1)[1]
    store = Store.open(url)
    running = start_server(store)
    admin = __import__("sqlalchemy").create_engine(
        "postgresql://postgres@127.0.0.1/postgres", isolation_level="AUTOCOMMIT"
    )
    try:
        stamp = new_stamp()
        assert post(running.url, LOGS, body(stamp, [1, 2]), bearer(token(stamp)))[0] == 200
        with admin.connect() as connection:
            connection.execute(text("ALTER DATABASE %s ALLOW_CONNECTIONS false" % name))
            connection.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"), {"n": name}
            )
        status, reply = post(running.url, LOGS, body(stamp, range(1, 6)), bearer(token(stamp)))
        assert (status, reply) == (503, {"error": "the database is unavailable, retry later"})
        with admin.connect() as connection:
            connection.execute(text("ALTER DATABASE %s ALLOW_CONNECTIONS true" % name))
        assert post(running.url, LOGS, body(stamp, range(1, 6)), bearer(token(stamp))) == (
            200,
            {"stored": 3, "duplicates": 2, "last_seq": 5},
        )
        assert [item["seq"] for item in store.messages(stamp)] == [1, 2, 3, 4, 5]
    finally:
        with admin.connect() as connection:
            connection.execute(text("ALTER DATABASE %s ALLOW_CONNECTIONS true" % name))
        admin.dispose()
        running.stop()
        store.close()


def test_secrets_never_reach_the_log(server, caplog):
    import logging

    caplog.set_level(logging.DEBUG, logger="pilots2")
    stamp = new_stamp()
    good = token(stamp)
    post(server.url, LOGS, body(stamp, [1]), bearer(good))
    post(server.url, LOGS, body(stamp, [1]), bearer(good[:-2] + "xx"))
    post(server.url, LOGS, b"{", bearer(good))
    assert good[:-2] not in caplog.text and SECRET.decode() not in caplog.text
    assert all(good[:-2] not in row["origin"] + row["reason"] for row in server.store.rejected(100))


def test_messages_of_a_refused_batch_are_never_half_stored(server):
    """A batch whose last message is bad stores none of its good ones."""
    stamp = new_stamp()
    document = json.loads(body(stamp, range(1, 50)).decode())
    document["messages"][-1]["time"] = "yesterday"
    assert post(server.url, LOGS, json.dumps(document).encode(), bearer(token(stamp)))[0] == 400
    assert server.store.messages(stamp) == [] and make_messages(stamp, [1])


def test_connections_are_capped(sqlite_store):
    import socket

    from pilot_server.logbook.receive.limits import limits

    server = start_server(sqlite_store, limits=limits(max_connections=2))
    port = int(server.url.rsplit(":", 1)[1])
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(2)]
    try:
        time.sleep(0.3)
        extra = socket.create_connection(("127.0.0.1", port), timeout=5)
        assert extra.recv(1) == b""  # closed at once
        extra.close()
        idle.pop().close()
        stamp = new_stamp()

        def accepted():
            try:
                return post(server.url, LOGS, body(stamp, [1]), bearer(token(stamp)))[0] == 200
            except OSError:
                return False

        assert wait_until(accepted, 10, 0.1, what="a free connection slot")
    finally:
        for sock in idle:
            sock.close()
        server.stop()
