"""Group writes (store/groupwrite.py) on SQLite, PostgreSQL and MariaDB: many pilots' batches in one
transaction, each message once, each acknowledgement exact, a constant number of statements."""

import random
import threading

from sqlalchemy import event, func, select

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


def stored_rows(store, stamps):
    from pilot_server.logbook.store import schema

    messages = schema.messages
    with store.engine.connect() as connection:
        return connection.execute(
            select(func.count()).select_from(messages).where(messages.c.stamp.in_(sorted(stamps)))
        ).scalar()


def test_duplicates_within_one_group_count_once(store):
    from pilot_server.logbook.store.logstore import Batch

    a, b = new_stamp(), new_stamp()
    group = [
        Batch(a, make_messages(a, range(1, 11))),
        Batch(b, make_messages(b, range(1, 6))),
        Batch(a, make_messages(a, range(5, 16))),
        Batch(a, make_messages(a, range(1, 16))),
        Batch(b, make_messages(b, [5, 6, 6, 7])),
    ]
    outcomes = store.store_batches(group)
    assert [tuple(outcome) for outcome in outcomes] == [(10, 0, 10), (5, 0, 5), (5, 6, 15), (0, 15, 15), (2, 2, 7)]
    assert sum(outcome.stored for outcome in outcomes) == stored_rows(store, [a, b]) == 22
    assert [item["seq"] for item in store.messages(a)] == list(range(1, 16))
    assert (store.pilot(a)["message_count"], store.pilot(b)["message_count"]) == (15, 7)


def test_a_group_sent_again_is_all_duplicates(store):
    from pilot_server.logbook.store.logstore import Batch

    stamps = [new_stamp() for _ in range(20)]
    group = [Batch(stamp, make_messages(stamp, range(1, 31))) for stamp in stamps]
    first = store.store_batches(group)
    again = store.store_batches(list(reversed(group)))
    assert all(tuple(outcome) == (30, 0, 30) for outcome in first)
    assert all(tuple(outcome) == (0, 30, 30) for outcome in again)
    assert stored_rows(store, stamps) == 600
    assert all(store.pilot(stamp)["message_count"] == 30 for stamp in stamps)


def test_concurrent_groups_of_overlapping_pilots_store_each_message_once(store):
    """Four writers send groups of the same ten pilots, shuffled, overlapping: what they count as
    stored adds up to the rows in the table, and every pilot's count agrees."""
    from pilot_server.logbook.store.logstore import Batch

    stamps = [new_stamp() for _ in range(10)]
    totals, errors = [], []

    def writer(seed):
        rng = random.Random(seed)
        try:
            for _ in range(6):
                group = []
                for stamp in rng.sample(stamps, 6):
                    low = rng.randint(1, 80)
                    group.append(Batch(stamp, make_messages(stamp, range(low, low + 20))))
                totals.append(sum(outcome.stored for outcome in store.store_batches(group)))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    rows = stored_rows(store, stamps)
    assert rows > 0 and sum(totals) == rows
    assert sum(store.pilot(stamp)["message_count"] for stamp in stamps) == rows


def test_states_and_commands_follow_the_batches_in_order(store):
    from pilot_server.logbook.store.logstore import Batch

    stamp, other = new_stamp(), new_stamp()
    started = wire.message(stamp, 1, 1000.0, "InstallDIRAC", source="InstallDIRAC", kind="command", status="started")
    ended = wire.message(
        stamp, 2, 1010.0, "InstallDIRAC ok", source="InstallDIRAC", kind="command", status="ok", data={"duration": 10.0}
    )
    late = wire.message(stamp, 3, 1020.0, "InstallDIRAC", source="InstallDIRAC", kind="command", status="started")
    store.store_batches(
        [
            Batch(stamp, [started]),
            Batch(other, make_messages(other, [1])),
            Batch(stamp, [ended]),
            Batch(stamp, [late]),
            Batch(stamp, [result_message(stamp, 4)]),
        ]
    )
    commands = store.commands(stamp)
    assert [(row["name"], row["status"], row["start"], row["duration"]) for row in commands] == [
        ("InstallDIRAC", "ok", 1000.0, 10.0)
    ]
    assert [row["state"] for row in store.states(stamp)] == ["Running", "Done"]
    assert store.pilot(stamp)["status"] == "Done" and store.pilot(other)["status"] == "Running"
    assert store.commands(other) == []


def test_a_late_start_in_the_same_group_does_not_reopen_a_command(store):
    from pilot_server.logbook.store.logstore import Batch

    stamp = new_stamp()
    ended = wire.message(stamp, 1, 1010.0, "X ok", source="X", kind="command", status="ok", data={"duration": 3.0})
    late = wire.message(stamp, 2, 1000.0, "X", source="X", kind="command", status="started")
    store.store_batches([Batch(stamp, [ended]), Batch(stamp, [late])])
    assert [(row["status"], row["duration"]) for row in store.commands(stamp)] == [("ok", 3.0)]


# statements that come and go with the data: the read of the pilots' command rows (for the commands and
# the aggregates, skipped when all pilots are new), the SAVEPOINT and RELEASE around the insert of new
# bucket rows of the aggregates (a group whose buckets all exist has none)
DATA_STATEMENTS = 3


def statements(store, stamps, batches_each):
    """Statements the SQLAlchemy connection runs for one group of len(stamps) * batches_each batches."""
    from pilot_server.logbook.store.logstore import Batch

    count = [0]

    def counted(_connection, _cursor, statement, *_args):
        # the statistics' aggregates (aggregates.py) read and write their bucket rows with a bounded
        # number of statements of their own: one each to read, update, delete and insert, whichever
        # of them the group needs (this depends on which buckets exist already, not on the pilots)
        if "stats_buckets" in statement:
            bucket_statements.append(statement)
        else:
            count[0] += 1

    bucket_statements = []

    group = []
    for index in range(batches_each):
        for stamp in stamps:
            seqs = range(1 + 10 * index, 11 + 10 * index)
            group.append(Batch(stamp, make_messages(stamp, seqs) + [result_message(stamp, 100)] * (index == 1)))
    event.listen(store.engine, "before_cursor_execute", counted)
    try:
        store.store_batches(group)
    finally:
        event.remove(store.engine, "before_cursor_execute", counted)
    assert len(bucket_statements) <= 4, bucket_statements
    return count[0]


def test_the_statements_of_a_group_do_not_grow_with_its_pilots(store):
    small = statements(store, [new_stamp() for _ in range(2)], 2)
    large = statements(store, [new_stamp() for _ in range(40)], 2)
    # a few statements come and go with the data, never one per pilot
    assert abs(large - small) <= DATA_STATEMENTS
    known = [new_stamp() for _ in range(40)]
    statements(store, known, 1)
    assert statements(store, known, 3) <= small + DATA_STATEMENTS  # known pilots: no insert of new pilot rows


def test_a_pilot_over_its_quota_is_refused_within_a_group(store):
    """The quota counts the batches before it in the same group; a refused batch stores nothing,
    and its seqs are not duplicates for the batches after it."""
    from pilot_server.logbook.store.logstore import Batch, Store

    quota = Store(store.engine, max_messages=12)
    stamp, other = new_stamp(), new_stamp()
    outcomes = quota.store_batches(
        [
            Batch(stamp, make_messages(stamp, range(1, 11))),
            Batch(stamp, make_messages(stamp, range(11, 16))),
            Batch(other, make_messages(other, range(1, 6))),
            Batch(stamp, make_messages(stamp, range(11, 13))),
        ]
    )
    assert [tuple(outcome) for outcome in outcomes] == [(10, 0, 10), (0, 0, 10), (5, 0, 5), (2, 0, 12)]
    assert [outcome.refused is not None for outcome in outcomes] == [False, True, False, False]
    assert "quota of 12 messages" in outcomes[1].refused
    assert stored_rows(quota, [stamp, other]) == 17 and quota.pilot(stamp)["message_count"] == 12
    again = quota.store_batches([Batch(stamp, make_messages(stamp, range(1, 13)))])  # re-sent: acknowledged
    assert tuple(again[0]) == (0, 12, 12) and again[0].refused is None


def test_a_row_the_database_drops_fails_the_group(tmp_path):
    """SQLite's INSERT OR IGNORE also ignores a NOT NULL failure: the count of the insert catches it."""
    from pilot_server.logbook.store.logstore import Batch, NotStored, Store

    store = Store.open("sqlite:///%s" % (tmp_path / "logbook.sqlite"))
    try:
        good, bad = new_stamp(), new_stamp()
        broken = make_messages(bad, [1])
        broken[0]["text"] = None
        try:
            store.store_batches([Batch(good, make_messages(good, [1, 2])), Batch(bad, broken)])
        except NotStored as exc:
            assert "kept 2 of the 3" in str(exc)
        else:
            raise AssertionError("the group was acknowledged")
        assert store.counts()[:2] == (0, 0)  # nothing of the group stayed
    finally:
        store.close()
