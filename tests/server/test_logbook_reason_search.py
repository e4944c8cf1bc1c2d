"""The failure-reason text search of the pilot list, with its index (schema step 7, textsearch.py)."""

import time

from sqlalchemy import text

from logbook_support import databases, fresh_store, make_messages, new_stamp, result_message  # noqa: F401
from pilot_server.logbook.store import logstore, retention, textsearch
from pilot_server.logbook.web import data


def failed_pilot(store, reason, command="InstallDIRAC"):
    stamp = new_stamp()
    store.store_batch(
        stamp, make_messages(stamp, [1]) + [result_message(stamp, 2, exit_code=11, failed=command, reason=reason)]
    )
    return stamp


def found(store, wanted):
    return set(row["stamp"] for row in data.list_pilots(store, {"reason": wanted}, limit=100).rows)


def test_search_finds_substrings_case_insensitively_and_follows_changes(fresh_store):
    store = fresh_store
    cvmfs = failed_pilot(store, "the node has no CVMFS mount for /cvmfs/x")
    disk = failed_pilot(store, 'not enough disk: "5000 MB" needed (100% full)', command="ConfigureDIRAC")
    other = failed_pilot(store, "timeout")
    assert found(store, "cvmfs") == {cvmfs}
    assert found(store, "CvMfS MOUNT") == {cvmfs}
    assert found(store, '"5000 mb"') == {disk} and found(store, "100%") == {disk}
    assert found(store, "configuredirac") == {disk}  # the failed command too
    assert found(store, "ti") == {other}  # shorter than a trigram: read without the index
    assert found(store, "no such reason") == set()
    retention.purge(store, retention.Retention(default_days=1), now=time.time() + 2 * 86400)
    assert found(store, "cvmfs") == set()  # gone with its pilot
    again = failed_pilot(store, "cvmfs again")
    assert found(store, "cvmfs") == {again}


def test_the_index_exists_and_is_used(fresh_store):
    store = fresh_store
    if store.kind == "sqlite":
        query = data.select(data.schema.pilots.c.stamp).where(textsearch.sqlite_condition(store, "cvmfs", "%cvmfs%"))
        plan = store.read(
            lambda c: c.execute(
                text("EXPLAIN QUERY PLAN %s" % query.compile(compile_kwargs={"literal_binds": True}))
            ).all()
        )
        assert any("pilots_text" in str(row) for row in plan)
    elif store.kind == "postgresql":
        names = store.read(
            lambda c: c.execute(text("SELECT indexname FROM pg_indexes WHERE tablename = 'pilots'")).scalars().all()
        )
        assert {"ix_pilots_reason_trgm", "ix_pilots_failed_command_trgm"} <= set(names)
    else:
        assert textsearch.sqlite_condition(store, "cvmfs", "%cvmfs%") is None  # MariaDB: a scan, as before


def search_plan(store, wanted):
    """EXPLAIN of the list's search for wanted, newest first (as data.list_pilots orders it)."""
    pilots = data.schema.pilots
    query = (
        data.select(pilots.c.stamp)
        .where(*textsearch.conditions(store, wanted, data._like_pattern(wanted)))
        .order_by(pilots.c.last_seen.desc(), pilots.c.stamp.desc())
        .limit(51)
    )
    sql = str(query.compile(dialect=store.engine.dialect, compile_kwargs={"literal_binds": True}))
    if store.kind == "sqlite":
        return "\n".join(str(row) for row in store.read(lambda c: c.exec_driver_sql("EXPLAIN QUERY PLAN " + sql).all()))

    def explain(connection):  # a test table is a few hundred pages: a scan would win at any selectivity
        connection.exec_driver_sql("SET enable_seqscan = off")
        try:
            return connection.exec_driver_sql("EXPLAIN " + sql).all()
        finally:
            connection.exec_driver_sql("RESET enable_seqscan")

    return "\n".join(row[0] for row in store.read(explain))


def test_postgresql_plans_the_search_through_its_indexes(databases):  # noqa: F811
    """With the shape of a real logbook (running pilots, without a reason, seen last), the planner
    reads the pilots with a failure text for a common text and the trigram index for a rare one,
    never the newest-first walk of every pilot."""
    store = logstore.Store.open(databases.create("postgresql"))
    try:

        def fill(connection):
            connection.execute(
                text(
                    "INSERT INTO pilots (stamp, first_seen, last_seen, last_seq, message_count, status, status_time, "
                    "failed_command, reason) SELECT md5(i::text), i, CASE WHEN i % 10 = 0 THEN 1e6 + i ELSE i END, "
                    "1, 1, 'Done', i, CASE WHEN i % 2 = 1 THEN 'InstallDIRAC' END, CASE WHEN i % 2 = 1 THEN "
                    "(ARRAY['no cvmfs mount', 'disk full', 'timeout', 'no CA certificates'])[1 + i / 2 % 4] "
                    "|| CASE WHEN i % 4000 = 1 THEN ' xyzzy' ELSE '' END END FROM generate_series(1, 40000) i"
                )
            )
            connection.execute(text("ANALYZE pilots"))

        store.write(fill)
        common, rare = search_plan(store, "cvmfs"), search_plan(store, "xyzzy")
        assert textsearch.FAILURE_INDEX in common and "ix_pilots_last_seen" not in common, common
        assert "ix_pilots_reason_trgm" in rare and "ix_pilots_last_seen" not in rare, rare
        assert found(store, "xyzzy") == set(
            store.read(lambda c: c.execute(text("SELECT stamp FROM pilots WHERE reason LIKE '%xyzzy'")).scalars().all())
        )
    finally:
        store.close()


def test_sqlite_reads_a_common_text_newest_first_without_the_fts_index(tmp_path):
    """A text that many of the newest failed pilots hold fills its page from ix_pilots_failure_seen;
    collecting all its FTS5 matches first would cost more.  The answer is the same either way."""
    store = logstore.Store.open("sqlite:///%s" % (tmp_path / "logbook.sqlite"))
    try:
        common = [failed_pilot(store, "no cvmfs mount %d" % index) for index in range(textsearch.PROBE_MATCHES)]
        rare = failed_pilot(store, "disk full")
        assert textsearch.sqlite_condition(store, "cvmfs", "%cvmfs%") is None
        assert textsearch.sqlite_condition(store, "disk", "%disk%") is not None
        assert found(store, "CVMFS") == set(common) and found(store, "disk") == {rare}
        assert textsearch.FAILURE_INDEX in search_plan(store, "cvmfs")
    finally:
        store.close()
