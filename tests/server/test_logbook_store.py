"""The logbook's storage on SQLite, PostgreSQL and MariaDB: each message once, in order, whole batches."""

import threading

import pytest

from logbook_support import (
    backend,  # noqa: F401
    databases,  # noqa: F401
    make_messages,
    new_stamp,
    result_message,  # noqa: F401
    session_stores,  # noqa: F401
    session_urls,  # noqa: F401
    store,  # noqa: F401
)
from pilot_server.worker import messages as wire


def seqs(store, stamp):
    return [item["seq"] for item in store.messages(stamp)]


def test_a_batch_is_stored_and_read_back_in_seq_order(store):
    stamp = new_stamp()
    outcome = store.store_batch(stamp, make_messages(stamp, [3, 1, 2, 5, 4]))
    assert outcome == (5, 0, 5)
    items = store.messages(stamp)
    assert [item["seq"] for item in items] == [1, 2, 3, 4, 5]
    assert items[0]["text"] == "line 1" and items[0]["kind"] == "log" and items[0]["level"] == "INFO"
    pilot = store.pilot(stamp)
    assert (pilot["last_seq"], pilot["message_count"], pilot["status"]) == (5, 5, "Running")


def test_same_batch_twice_is_stored_once(store):
    stamp = new_stamp()
    batch = make_messages(stamp, range(1, 101))
    assert store.store_batch(stamp, batch) == (100, 0, 100)
    assert store.store_batch(stamp, batch) == (0, 100, 100)
    assert seqs(store, stamp) == list(range(1, 101))
    assert store.pilot(stamp)["message_count"] == 100


def test_overlapping_and_out_of_order_batches(store):
    stamp = new_stamp()
    assert store.store_batch(stamp, make_messages(stamp, range(51, 101))) == (50, 0, 100)
    assert store.store_batch(stamp, make_messages(stamp, range(1, 61))) == (50, 10, 100)
    assert store.store_batch(stamp, make_messages(stamp, range(90, 121))) == (20, 11, 120)
    assert seqs(store, stamp) == list(range(1, 121))
    pilot = store.pilot(stamp)
    assert pilot["message_count"] == 120 and pilot["last_seq"] == 120


def test_a_seq_repeated_inside_one_batch_keeps_the_first(store):
    stamp = new_stamp()
    batch = make_messages(stamp, [1, 2]) + make_messages(stamp, [2], text="second copy")
    assert store.store_batch(stamp, batch) == (2, 1, 2)
    assert store.messages(stamp)[1]["text"] == "line 2"


def test_several_batches_in_one_transaction(store):
    from pilot_server.logbook.store.logstore import Batch, Rejection

    a, b = new_stamp(), new_stamp()
    outcomes = store.store_batches(
        [Batch(a, make_messages(a, [1, 2])), Batch(b, make_messages(b, [1])), Batch(a, make_messages(a, [2, 3]))],
        [Rejection("test", "400 bad", b"{", None)],
    )
    assert [tuple(outcome) for outcome in outcomes] == [(2, 0, 2), (1, 0, 1), (1, 1, 3)]
    assert seqs(store, a) == [1, 2, 3] and seqs(store, b) == [1]
    assert any(row["origin"] == "test" and row["body"] == "{" for row in store.rejected(50))


def test_concurrent_writers_of_one_pilot_store_each_message_once(store):
    """Eight threads send overlapping batches of the same pilot (retries, spool, redelivery)."""
    stamp = new_stamp()
    errors = []

    def send(start):
        try:
            for offset in range(0, 200, 50):
                low = start + offset
                store.store_batch(stamp, make_messages(stamp, range(low, low + 60)))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(1 + 25 * (index % 4),)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert seqs(store, stamp) == list(range(1, 286))
    assert store.pilot(stamp)["message_count"] == 285


def test_texts_every_database_must_keep(store):
    stamp = new_stamp()
    texts = ["émoji 😀 and 中文", "x" * wire.MAX_TEXT, "nul \x00 byte", "lone \ud800 surrogate", ""]
    batch = [wire.message(stamp, index + 1, 1763737440.123456, text) for index, text in enumerate(texts)]
    batch.append(
        wire.message(stamp, 6, 1763737440.5, "data", data={"nested": {"list": [1, 2.5, None, "ü"]}, "big": "y" * 60000})
    )
    assert store.store_batch(stamp, batch).stored == 6
    items = store.messages(stamp)
    assert items[0]["text"] == texts[0]
    assert items[1]["text"] == texts[1] and len(items[1]["text"]) == 65536
    assert items[2]["text"] == "nul \ufffd byte"
    assert items[3]["text"] == "lone ? surrogate"
    assert items[4]["text"] == ""
    assert items[5]["data"] == {"nested": {"list": [1, 2.5, None, "ü"]}, "big": "y" * 60000}
    assert items[0]["time"] == pytest.approx(1763737440.123456, abs=1e-6)


def test_stamps_are_compared_exactly(store):
    lower = new_stamp()
    upper = lower.upper()
    store.store_batch(lower, make_messages(lower, [1]))
    store.store_batch(upper, make_messages(upper, [1, 2]))
    assert seqs(store, lower) == [1] and seqs(store, upper) == [1, 2]


def test_result_and_identity_update_the_pilot(store):
    stamp = new_stamp()
    first = make_messages(
        stamp,
        [1],
        data={
            "site": "LCG.Example.org",
            "ce": "ce01.example.org",
            "parameters": {"queueName": {"value": "long"}, "wnVO": "lhcb"},
        },
    )
    store.store_batch(stamp, first)
    heartbeat = [wire.message(stamp, 2, 1763737500.0, "", kind="heartbeat", data={"load1": 0.5})]
    store.store_batch(stamp, heartbeat)
    store.store_batch(stamp, [result_message(stamp, 4, exit_code=11, failed="InstallDIRAC", reason="no network")])
    pilot = store.pilot(stamp)
    assert (pilot["site"], pilot["ce"], pilot["queue"], pilot["vo"]) == (
        "LCG.Example.org",
        "ce01.example.org",
        "long",
        "lhcb",
    )
    assert pilot["heartbeat_time"] == 1763737500.0
    assert (pilot["status"], pilot["exit_code"], pilot["failed_command"], pilot["reason"]) == (
        "Failed",
        11,
        "InstallDIRAC",
        "no network",
    )
    # a late message (seq 3, out of order) does not bring a finished pilot back to Running
    store.store_batch(stamp, make_messages(stamp, [3]))
    assert store.pilot(stamp)["status"] == "Failed"
    done = new_stamp()
    store.store_batch(done, [result_message(done, 1, exit_code=0)])
    assert store.pilot(done)["status"] == "Done"


def test_registration(store):
    stamp = new_stamp()
    assert not store.registered(stamp)
    assert store.register(stamp, ce="ce01", queue="long", site="LCG.X", vo="lhcb", submitted=1763700000.0) is True
    pilot = store.pilot(stamp)
    assert (pilot["status"], pilot["registered"], pilot["submitted_time"], pilot["ce"]) == (
        "Submitted",
        True,
        1763700000.0,
        "ce01",
    )
    store.store_batch(stamp, make_messages(stamp, [1]))
    assert store.pilot(stamp)["status"] == "Running"
    assert store.register(stamp, ce="ce02") is False  # again: updated, not a new pilot, still Running
    assert (store.pilot(stamp)["ce"], store.pilot(stamp)["status"]) == ("ce02", "Running")


def test_list_filters(store):
    site = "LCG.Filter%s.org" % new_stamp()[:6]
    stamps = [new_stamp() for _ in range(3)]
    for index, stamp in enumerate(stamps):
        store.store_batch(stamp, make_messages(stamp, [1], data={"site": site, "ce": "ce%d" % (index % 2)}))
    store.store_batch(stamps[2], [result_message(stamps[2], 2, exit_code=0)])
    assert set(row["stamp"] for row in store.pilots(site=site)) == set(stamps)
    assert set(row["stamp"] for row in store.pilots(site=site, ce="ce0")) == {stamps[0], stamps[2]}
    assert [row["stamp"] for row in store.pilots(site=site, status="Done")] == [stamps[2]]
    assert [row["stamp"] for row in store.pilots(site=site, limit=1)] == [stamps[2]]  # newest first
    assert store.pilots(site=site, since=store.pilot(stamps[2])["last_seen"] + 1) == []
