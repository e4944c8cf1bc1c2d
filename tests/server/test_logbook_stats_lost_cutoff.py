"""The hour of the Lost cutoff in the statistics: its Running pilots last seen before the cutoff
are counted as Lost from ``ix_pilots_running_seen`` (schema step 9), exactly, on every database."""

import time

import pytest
from sqlalchemy import text

from logbook_support import Clock, databases, fresh_store, new_stamp  # noqa: F401
from pilot_server.logbook.store import aggregates, logstore, stats


def test_the_cutoff_hour_is_split_exactly(fresh_store, monkeypatch):
    store = fresh_store
    hour = aggregates.HOUR
    base = (int(time.time()) // hour - 3) * hour  # the cutoff's hour; the cutoff is at its middle
    now = base + hour / 2.0 + store.lost_after
    clock = Clock(base - 2 * hour)
    monkeypatch.setattr(logstore, "time", clock)
    lost, running, sites = 0, 0, ("SiteA", "SiteB", "SiteC")
    # Running pilots seen every 97 s over the cutoff's hour (before and after the cutoff), some an
    # hour earlier (wholly Lost), one Done pilot in the hour
    for index, seen in enumerate([base - 1800, base - 900] + [base + 10 + 97 * i for i in range(37)]):
        clock.now = seen - 1
        stamp = new_stamp()
        site = sites[index % 3]
        store.register(stamp, site=site, ce="ce%d.%s" % (index % 2, site), queue="q", vo="vo")
        clock.now = seen
        store.report_state(stamp, "Running")
        if seen < now - store.lost_after:
            lost += 1
        else:
            running += 1
    clock.now = base + 100
    done = new_stamp()
    store.register(done, site="SiteA", ce="ce0.SiteA", vo="vo")
    store.report_state(done, "Done")
    monkeypatch.setattr(stats, "time", Clock(now))
    splits = []
    counted = stats._lost_in
    monkeypatch.setattr(stats, "_lost_in", lambda *args: splits.append(args[4:6]) or counted(*args))
    for chosen in (
        {},
        {"group_by": "site"},
        {"site": "SiteA", "group_by": "ce"},
        {"ce": "ce1.SiteB"},
        {"group_by": "vo"},
        {"site": "SiteC", "group_by": "site"},
    ):
        for since in (None, now - 86400, base + 600):
            arguments = dict(dict.fromkeys(stats.FILTERS + ("group_by",)), **chosen)
            arguments["since"] = since
            fast = stats.compute(store, **arguments)
            exact = stats.compute_from_rows(store, arguments, now=now)
            assert fast["states"] == exact["states"], (chosen, since)
            assert [(g["key"], g["states"]) for g in fast["groups"]] == [
                (g["key"], g["states"]) for g in exact["groups"]
            ], (chosen, since)
            if not chosen and since is None:
                assert (fast["states"]["Lost"], fast["states"]["Running"], fast["states"]["Done"]) == (
                    lost,
                    running,
                    1,
                )
    assert splits and set(splits) == {(base, now - store.lost_after)}  # the hour was split from the rows


def explain(store, query):
    sql = str(query.compile(dialect=store.engine.dialect, compile_kwargs={"literal_binds": True}))
    if store.kind == "sqlite":
        return "\n".join(str(row[-1]) for row in store.read(lambda c: c.exec_driver_sql("EXPLAIN QUERY PLAN " + sql)))

    def plan(connection):  # a test table is small: a scan would win at any selectivity
        connection.exec_driver_sql("SET enable_seqscan = off")
        connection.exec_driver_sql("SET enable_bitmapscan = off")
        try:
            return connection.exec_driver_sql("EXPLAIN " + sql).scalars().all()
        finally:
            connection.exec_driver_sql("RESET enable_seqscan")
            connection.exec_driver_sql("RESET enable_bitmapscan")

    return "\n".join(store.read(plan))


@pytest.mark.parametrize("kind", ("sqlite", "postgresql"))
def test_the_cutoff_hour_is_counted_from_the_index_alone(kind, databases, tmp_path):  # noqa: F811
    """Like a real logbook: many finished pilots, the Running ones seen last.  The count of the
    Running pilots of an hour, whole or per site, reads only ix_pilots_running_seen."""
    url = "sqlite:///%s" % (tmp_path / "logbook.sqlite") if kind == "sqlite" else databases.create(kind)
    store = logstore.Store.open(url)
    try:
        series = (
            "generate_series(1, 20000) AS g(i)"
            if kind == "postgresql"
            else "(WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < 20000) SELECT i FROM g)"
        )
        stamp = "md5(i::text)" if kind == "postgresql" else "printf('%032d', i)"

        def fill(connection):
            connection.execute(
                text(
                    "INSERT INTO pilots (stamp, first_seen, last_seen, last_seq, message_count, status, status_time, "
                    "site, ce, vo) SELECT %s, i, i * 10, 1, 1, CASE WHEN i > 18000 THEN 'Running' ELSE 'Done' END, "
                    "i, 'Site' || (i %% 60), 'ce.Site' || (i %% 60), 'vo' || (i %% 4) FROM %s" % (stamp, series)
                )
            )

        store.write(fill)
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE pilots" if kind == "postgresql" else "ANALYZE")
        low, high = 180000, 200000
        for group_by in (None, "site", "vo"):
            plan = explain(store, stats.lost_query("", "", group_by, low, high))
            if kind == "sqlite":
                assert "COVERING INDEX %s" % stats.RUNNING_INDEX in plan, plan
            else:  # the whole count may as well read ix_pilots_status_seen alone
                assert "Index Only Scan using" in plan and "Heap" not in plan, plan
                assert group_by is None or stats.RUNNING_INDEX in plan, plan
        counts = store.read(lambda c: dict(c.execute(stats.lost_query("", "", "site", low, high)).all()))
        assert sum(counts.values()) == 1999 and len(counts) == 60
        assert store.read(lambda c: c.execute(stats.lost_query("site", "Site7", None, low, high)).all()) == [("", 34)]
    finally:
        store.close()
