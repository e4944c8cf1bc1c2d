"""What one pilot may cost: its quota of messages and bytes (413), the rejected rows it may leave
per hour, and the retention of the rejected table."""

import time

import pytest
from sqlalchemy import insert

from cli_support import pilotctl
from logbook_support import (
    SECRET,
    backend,  # noqa: F401
    bearer,
    body,
    databases,  # noqa: F401
    make_messages,
    new_stamp,
    post,  # noqa: F401
    session_stores,  # noqa: F401
    session_urls,  # noqa: F401
    sqlite_store,  # noqa: F401
    start_server,
    store,  # noqa: F401
    token,
)
from pilot_server.logbook.receive.quota import RejectedBudget
from pilot_server.logbook.store import retention, schema
from pilot_server.logbook.store.maintenance import Maintenance
from pilot_server.logbook.store.retention import Retention

LOGS = "/api/v1/logs"


@pytest.fixture
def server(sqlite_store):
    running = start_server(sqlite_store)
    yield running
    running.stop()


def rejected_rows(store, stamp):
    return [row for row in store.rejected(100000) if row["stamp"] == stamp]


def test_the_message_quota_is_413_and_a_resend_is_still_acknowledged(store):
    store.max_messages = 10
    try:
        stamp = new_stamp()
        assert store.store_batch(stamp, make_messages(stamp, range(1, 9))) == (8, 0, 8)
        refused = store.store_batch(stamp, make_messages(stamp, range(7, 12)))  # 3 new: 11 > 10
        assert refused == (0, 2, 8) and refused.refused == (
            "pilot %s holds 8 messages; 3 more would pass its quota of 10 messages" % stamp
        )
        assert store.pilot(stamp)["message_count"] == 8 and len(store.messages(stamp)) == 8
        assert store.store_batch(stamp, make_messages(stamp, range(1, 9))) == (0, 8, 8)  # re-sent: fine
        assert store.store_batch(stamp, make_messages(stamp, [9, 10])) == (2, 0, 10)  # up to the quota exactly
        assert store.store_batch(stamp, make_messages(stamp, [11])).refused
    finally:
        store.max_messages = None


def test_the_byte_quota_counts_text_and_data(store):
    stamp = new_stamp()
    items = make_messages(stamp, [1, 2], text="\u00e9" * 100)  # 200 bytes of UTF-8 each
    items[1]["data"] = {"k": "v"}
    assert store.store_batch(stamp, items) == (2, 0, 2)
    assert store.pilot(stamp)["message_bytes"] == 200 + 200 + len('{"k":"v"}')
    store.max_bytes = 700
    try:
        refused = store.store_batch(stamp, make_messages(stamp, [3, 4], text="x" * 50))
        assert refused == (2, 0, 4) and refused.refused is None  # 409 + 100 <= 700
        refused = store.store_batch(stamp, make_messages(stamp, [5], text="x" * 200))
        assert refused.refused == (
            "pilot %s holds 509 bytes of messages; 200 more would pass its quota of 700 bytes" % stamp
        )
    finally:
        store.max_bytes = None


def test_over_quota_over_https_is_413_with_the_reason_and_kept_in_rejected(server):
    server.server.store.max_messages = 5
    stamp = new_stamp()
    assert post(server.url, LOGS, body(stamp, range(1, 6)), bearer(token(stamp))) == (
        200,
        {"stored": 5, "duplicates": 0, "last_seq": 5},
    )
    status, reply = post(server.url, LOGS, body(stamp, [6]), bearer(token(stamp)))
    assert status == 413 and reply == {
        "error": "pilot %s holds 5 messages; 1 more would pass its quota of 5 messages" % stamp
    }
    assert [row["reason"][:4] for row in rejected_rows(server.server.store, stamp)] == ["413 "]
    assert post(server.url, LOGS, body(stamp, [5]), bearer(token(stamp)))[1]["duplicates"] == 1


def test_the_rejected_table_keeps_a_credentials_first_refusals_of_the_hour(server):
    server.server.rejected_budget = RejectedBudget(3)
    stamp = new_stamp()
    bad = body(stamp, [1]).replace(b'"level":"INFO"', b'"level":"LOUD"')
    for _ in range(10):
        status, reply = post(server.url, LOGS, bad, bearer(token(stamp)))
        assert status == 400 and "field 'level'" in reply["error"]
    assert len(rejected_rows(server.server.store, stamp)) == 3
    metrics = server.server.metrics.render().decode()
    assert 'pilots2_logbook_rejected_total{kept="no"} 7.0' in metrics
    assert 'pilots2_logbook_rejected_total{kept="yes"} 3.0' in metrics
    other = new_stamp()  # another credential has its own budget
    post(server.url, LOGS, body(other, [1]).replace(b'"level":"INFO"', b'"level":"LOUD"'), bearer(token(other)))
    assert len(rejected_rows(server.server.store, other)) == 1


def test_the_budget_starts_again_each_hour():
    now = [7200.0]
    budget = RejectedBudget(2, clock=lambda: now[0])
    assert [budget.allow("a") for _ in range(3)] == [True, True, False]
    assert budget.allow("b") is True
    now[0] += 3599.0
    assert budget.allow("a") is False
    now[0] += 1.0
    assert [budget.allow("a") for _ in range(3)] == [True, True, False]
    assert RejectedBudget(0).allow("a") is False


def add_rejected(store, stamp, days_ago, count=3):
    with store.engine.begin() as connection:
        connection.execute(
            insert(schema.rejected),
            [
                {
                    "time": time.time() - days_ago * 86400,
                    "origin": "test",
                    "stamp": stamp,
                    "reason": "400 test",
                    "body": "{}",
                }
                for _ in range(count)
            ],
        )


def test_retention_purges_old_rejected_rows(store, tmp_path):
    stamp = new_stamp()
    add_rejected(store, stamp, 10)
    add_rejected(store, stamp, 3)
    rules = Retention(rejected_days=5)
    assert retention.purge_rejected(store, rules, dry_run=True) >= 3
    assert retention.purge_rejected(store, rules, batch=2) >= 3
    assert len(rejected_rows(store, stamp)) == 3
    assert retention.purge_rejected(store, Retention(rejected_days=1)) >= 3 and not rejected_rows(store, stamp)


def test_the_maintenance_round_and_purge_command_remove_old_rejected_rows(tmp_path, capsys):
    from pilot_server.logbook.store.logstore import Store

    url = "sqlite:///%s" % (tmp_path / "logbook.sqlite")
    store = Store.open(url)
    try:
        stamp = new_stamp()
        add_rejected(store, stamp, 8, 4)
        add_rejected(store, stamp, 1, 2)
        Maintenance(store, Retention()).run_once()  # 7 days by default
        assert len(rejected_rows(store, stamp)) == 2
        code, out, err = pilotctl(capsys, "logbook", "purge", "--db", url, "--retention-rejected", "0.5", "--dry-run")
        assert code == 0 and "and 2 rejected batch(es)" in out and len(rejected_rows(store, stamp)) == 2, err
        code, out, err = pilotctl(capsys, "logbook", "purge", "--db", url, "--retention-rejected", "0.5")
        assert code == 0 and "2 rejected batch(es)" in out and "rejected batches 0.5 d" in out, err
        assert rejected_rows(store, stamp) == []
        code, _, err = pilotctl(capsys, "logbook", "purge", "--db", url, "--retention-rejected", "0")
        assert code == 2 and "--retention-rejected: the retention must be a positive number of days" in err
    finally:
        store.close()


def test_the_quota_options_from_the_command_line_and_the_config_file(tmp_path):
    from pilot_server import cli
    from pilot_server.logbook.cli import config
    from pilot_server.logbook.cli import options as cliopts

    args = cli.parser().parse_args(["logbook", "serve"])
    assert (
        args.max_messages_per_pilot,
        args.max_bytes_per_pilot,
        args.max_rejected_per_hour,
        args.retention_rejected,
    ) == (1000000, 256 * 1024 * 1024, 100, None)
    path = tmp_path / "serve.toml"
    path.write_text(
        "max-messages-per-pilot = 0\nmax-bytes-per-pilot = 1048576\nmax-rejected-per-hour = 5\nretention-rejected = 2\n"
    )
    args = cli.parser().parse_args(["logbook", "serve", "--config", str(path), "--max-rejected-per-hour", "7"])
    config.apply(args.parser, args, args.config)
    assert cliopts.quota_caps(args) == {"max_messages": None, "max_bytes": 1048576}
    assert args.max_rejected_per_hour == 7 and cliopts.build_retention(args).rejected_days == 2.0
    path.write_text("max-bytes-per-pilot = -1\n")
    args = cli.parser().parse_args(["logbook", "serve", "--config", str(path)])
    with pytest.raises(config.ConfigError) as refused:
        config.apply(args.parser, args, args.config)
    assert "max-bytes-per-pilot: '-1' is not an integer" in str(refused.value)


class Properties(object):
    def __init__(self, headers):
        self.headers = headers


def test_the_consumer_applies_the_quota_and_the_rejected_budget(sqlite_store):
    """The consumer's commit (what it does between receiving deliveries and acknowledging them),
    without a broker: a batch over the quota is recorded as a 413 rejection; a credential's refusals
    past its budget are not kept."""
    from pilot_server.logbook.receive.access import Access
    from pilot_server.logbook.receive.consumer import Consumer

    sqlite_store.max_messages = 3
    consumer = Consumer(
        sqlite_store, Access([SECRET]), "amqp://guest:guest@127.0.0.1:5672/", rejected_budget=RejectedBudget(2)
    )
    stamp = new_stamp()
    headers = Properties({"pilot-token": token(stamp)})
    bad = body(stamp, [9]).replace(b'"level":"INFO"', b'"level":"LOUD"')
    outcomes, rejections = consumer.commit(
        [(1, headers, body(stamp, [1, 2])), (2, headers, body(stamp, [3, 4])), (3, headers, bad), (4, headers, bad)]
    )
    assert [(outcome.stored, outcome.refused is not None) for outcome in outcomes] == [(2, False), (0, True)]
    reasons = sorted(row["reason"][:40] for row in rejected_rows(sqlite_store, stamp))
    assert reasons == ["400 message 0: field 'level' must be one", "400 message 0: field 'level' must be one"]
    assert len(rejections) == 2 and consumer.totals["rejected"] == 1  # the 413 was past the budget of 2
    assert sqlite_store.pilot(stamp)["message_count"] == 2
