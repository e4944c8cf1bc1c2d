"""Rows intake would refuse, put in the database directly (old rows, or by hand): every reader copes.

The pages answer 200, the API answers strict JSON, ``show``/``follow``/``export``/``pilots`` exit 0.
Each database keeps what it can: NaN only PostgreSQL, infinities PostgreSQL and SQLite, any type
in any column only SQLite; the values a database refuses are skipped on it.
"""

import binascii
import json
import time

import pytest
from sqlalchemy import insert

from cli_support import pilotctl
from logbook_support import (
    backend,  # noqa: F401
    databases,  # noqa: F401
    make_messages,  # noqa: F401
    new_stamp,
    session_stores,  # noqa: F401
    session_urls,  # noqa: F401
    start_server,
    store,  # noqa: F401
    get_text,
)
from pilot_server.logbook.store import export, readable, schema

ADMIN_SECRET = b"admin-secret-0123456789abcdef01234567"
ADMIN = binascii.hexlify(ADMIN_SECRET).decode("ascii")
NAN, INF = float("nan"), float("inf")


def strict(text):
    """JSON without NaN or Infinity (what a browser or jq reads)."""

    def refuse(constant):
        raise ValueError("%s in the JSON" % constant)

    return json.loads(text, parse_constant=refuse)


def message_row(stamp, seq, **fields):
    row = {
        "stamp": stamp,
        "seq": seq,
        "time": time.time(),
        "received": time.time(),
        "kind": "log",
        "level": "INFO",
        "source": "Pilot",
        "phase": None,
        "status": None,
        "stream": None,
        "text": "line %d" % seq,
        "data": None,
    }
    row.update(fields)
    return row


BAD_MESSAGES = [
    {"time": NAN},
    {"time": INF},
    {"time": -INF},
    {"time": 1e300},
    {"time": -1e300},
    {"time": "soon"},
    {"data": '{"load1": NaN, "big": 1000000000000000000000000000000, "inf": Infinity}'},
    {"data": "not json at all"},
    {"data": "[" * 5000 + "]" * 5000},
    {"data": json.dumps({"deep": json.loads("[" * 200 + "]" * 200)})},
    {"kind": "heartbeat", "text": "", "data": '{"load1": NaN}'},
    {"kind": "command", "status": "ok", "source": "InstallDIRAC", "data": '{"duration": 1e308, "reason": {"a": 1}}'},
    {"kind": "command", "status": "failed", "source": "ConfigureSite", "data": '{"duration": -1e308}'},
    {"level": 7, "source": None, "text": 12345},
    {"stream": "stderr", "text": "err \u2603"},
]
BAD_PILOT = {
    "last_seen": 1e300,
    "first_seen": -1e300,
    "heartbeat_time": INF,
    "submitted_time": NAN,
    "running_time": 1e300,
    "exit_code": 2**31 - 1,
    "reason": "x" * 3000,
    "db12": INF,
    "last_message_time": 1e300,
    "status_time": 1e300,
    "result_time": NAN,
}


def put(store, table, row):
    """Insert ``row``; False when this database refuses one of its values."""
    try:
        with store.engine.begin() as connection:
            connection.execute(insert(table).values(**row))
        return True
    except Exception:
        return False


def put_pilot(store, stamp):
    base = {
        "stamp": stamp,
        "first_seen": time.time(),
        "last_seen": time.time(),
        "last_seq": 0,
        "message_count": 0,
        "status": "Running",
        "status_time": time.time(),
        "registered": False,
    }
    assert put(store, schema.pilots, base)
    kept = 0
    for column, value in sorted(BAD_PILOT.items()):
        with store.engine.begin() as connection:
            try:
                connection.execute(
                    schema.pilots.update().where(schema.pilots.c.stamp == stamp).values(**{column: value})
                )
                kept += 1
            except Exception:
                pass
    return kept


@pytest.fixture
def bad_pilot(store):
    stamp = new_stamp()
    assert put_pilot(store, stamp) >= 4  # 1e300 fits every database's double
    kept = [
        seq
        for seq, fields in enumerate(BAD_MESSAGES, 1)
        if put(store, schema.messages, message_row(stamp, seq, **fields))
    ]
    assert len(kept) >= 8, kept
    last = len(BAD_MESSAGES) + 1
    result = {
        "pilot": {"exit_code": 1, "reason": "ended"},
        "commands": [{"name": "X", "start": 1e300, "duration": 1e308}],
    }
    assert put(
        store, schema.messages, message_row(stamp, last, kind="result", status="failed", data=json.dumps(result))
    )
    put(store, schema.pilot_states, {"stamp": stamp, "state": "Running", "time": 1e300, "source": "pilot"})
    put(store, schema.pilot_states, {"stamp": stamp, "state": "Failed", "time": NAN, "source": "pilot"})
    put(
        store,
        schema.commands,
        {
            "stamp": stamp,
            "name": "InstallDIRAC",
            "status": "ok",
            "start": -1e308,
            "duration": 1e308,
            "failure_type": None,
            "reason": None,
        },
    )
    put(
        store,
        schema.commands,
        {
            "stamp": stamp,
            "name": "ConfigureSite",
            "status": "failed",
            "start": INF,
            "duration": NAN,
            "failure_type": "x",
            "reason": "y",
        },
    )
    return stamp


def get(url, path):
    return get_text(url, path, ADMIN)


def test_pages_and_api_answer_200(store, bad_pilot):
    running = start_server(store, admin_secrets=(ADMIN_SECRET,))
    try:
        for path in (
            "/pilot/%s" % bad_pilot,
            "/pilot/%s?levels=INFO" % bad_pilot,
            "/?stamp=%s" % bad_pilot[:12],
            "/stats?since=all",
            "/",
        ):
            status, page = get(running.url, path)
            assert status == 200, (path, page[-500:])
        status, page = get(running.url, "/pilot/%s" % bad_pilot)
        assert "line 7" in page and "ended" in page
        status, answer = get(running.url, "/api/v1/pilots/%s/messages" % bad_pilot)
        items = strict(answer)["messages"]
        assert status == 200 and items[-1]["kind"] == "result" and len(items) >= 9
        assert all(item["time"] is None or 0 <= item["time"] <= readable.MAX_TIME for item in items)
        for path in ("/api/v1/pilots/%s" % bad_pilot, "/api/v1/pilots?limit=1000", "/api/v1/stats"):
            status, answer = get(running.url, path)
            assert status == 200, (path, answer[-300:])
            strict(answer)
        status, _ = get(running.url, "/api/v1/pilots/%s/export" % bad_pilot)
        assert status == 200
    finally:
        running.stop()


def test_the_cli_shows_them(store, bad_pilot, capsys, tmp_path):
    url = str(store.engine.url.render_as_string(hide_password=False))
    code, out, err = pilotctl(capsys, "logbook", "show", bad_pilot, "--db", url)
    assert code == 0 and "line 4" in out, err
    lines = out.splitlines()
    assert [line for line in lines if line.endswith("] line 4")] == ["- INFO    [Pilot] line 4"]  # time 1e300
    code, out, err = pilotctl(capsys, "logbook", "show", bad_pilot, "--json", "--db", url)
    assert code == 0 and [strict(line) for line in out.splitlines()], err
    code, out, err = pilotctl(capsys, "logbook", "show", bad_pilot, "--states", "--db", url)
    assert code == 0 and out.startswith("pilot %s" % bad_pilot), err
    code, out, err = pilotctl(
        capsys, "logbook", "follow", bad_pilot, "--timeout", "30", "--interval", "0.1", "--db", url
    )
    assert code == 0 and "line 4" in out, err
    assert out.splitlines()[-1].endswith("line %d" % (len(BAD_MESSAGES) + 1))  # the result ends it
    code, out, err = pilotctl(capsys, "logbook", "export", bad_pilot, "-o", str(tmp_path / "x.json.gz"), "--db", url)
    assert code == 0, err
    assert export.read(str(tmp_path / "x.json.gz"))["pilot"]["stamp"] == bad_pilot
    code, out, err = pilotctl(capsys, "logbook", "pilots", "--db", url, "--limit", "1000")
    assert code == 0, err


def test_readable_values():
    assert readable.when(NAN) is None and readable.when(1e300) is None and readable.when(-1.0) is None
    assert readable.when(1763737440) == 1763737440.0 and readable.duration(1e308) is None
    assert readable.utc(None) == "-" and readable.utc(1e300) == "(bad time 1e+300)"
    assert readable.utc(0) == "1970-01-01 00:00:00"
    assert readable.data('{"a": NaN, "b": [Infinity]}') == {"a": None, "b": [None]}
    assert readable.data("nope") == "nope" and readable.data("[" * 5000 + "]" * 5000).startswith("[[[")
    nested = readable.data(json.dumps({"deep": json.loads("[" * 40 + "]" * 40)}))
    assert isinstance(nested["deep"], list) and json.dumps(nested)
    row = readable.message(
        {
            "stamp": "s",
            "seq": 3,
            "time": "soon",
            "text": 5,
            "level": None,
            "kind": "log",
            "source": b"Pilot",
            "data": None,
        }
    )
    assert (row["time"], row["text"], row["level"], row["source"]) == (None, "5", "", "Pilot")
