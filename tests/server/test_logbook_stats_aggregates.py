"""The statistics' aggregates: kept exact by every write, equal to a rebuild and to the rows' figures.

A logbook is written through the store's own API with a fake clock that moves over three days
(registrations, batches with commands that succeed or fail, results, batch states, pilots marked
Lost, a retention purge), on every database.  Then, for windows that start and end inside hours
as well as on whole days, the figures from the aggregates (``stats.compute``) equal those
computed from the rows (``stats.compute_from_rows``), and the rows kept as the writes went equal
what ``aggregates rebuild`` makes from scratch.
"""

import random
import time

import pytest

from logbook_support import Clock, databases, fresh_store, new_stamp  # noqa: F401
from pilot_server.worker import messages as wire
from pilot_server.logbook.store import aggregates, logstore, retention, schema, stats

SITES = ("SiteA", "SiteB", "SiteC")
COMMANDS = ("CheckWorkerNode", "InstallDIRAC", "LaunchAgent")
REASONS = ("no route to host", "disk full", None)


def fill(store, clock, rng, count=70):
    """Random pilots over three days, through the store's API; returns the VO."""
    vo = "vo-%d" % rng.randrange(1000)
    pilots = []
    end = clock.now + 3 * 86400
    while clock.now < end:
        clock.now += rng.random() * 5400
        action = rng.random()
        if action < 0.3 or not pilots:
            if len(pilots) >= count:
                continue
            stamp = new_stamp()
            site = rng.choice(SITES)
            pilots.append({"stamp": stamp, "seq": 0, "site": site, "done": False})
            if rng.random() < 0.7:
                store.register(
                    stamp,
                    site=site,
                    ce="ce%d.%s" % (rng.randrange(2), site),
                    queue=rng.choice("ab"),
                    vo=vo,
                    submitted=clock.now - rng.random() * 600,
                )
            continue
        pilot = rng.choice(pilots)
        if action < 0.4:
            try:
                store.report_state(pilot["stamp"], rng.choice(("Waiting", "Running", "Aborted")), when=clock.now)
            except Exception:  # an unknown pilot, or a transition the rules refuse
                pass
            continue
        if action < 0.45:
            store.mark_lost(now=clock.now)
            continue
        if pilot["done"]:
            continue
        store.store_batch(pilot["stamp"], batch(pilot, vo, clock.now, rng))
    clock.now += 86400 * 0.2
    retention.purge(store, retention.Retention(default_days=3.0), now=clock.now)
    return vo


def batch(pilot, vo, now, rng):
    stamp, items = pilot["stamp"], []

    def add(text, **fields):
        pilot["seq"] += 1
        items.append(wire.message(stamp, pilot["seq"], now + pilot["seq"] * 1e-3, text, **fields))

    if pilot["seq"] == 0:
        add("hello", data={"site": pilot["site"], "vo": vo, "version": rng.choice(("2.0", "2.1"))})
    name = rng.choice(COMMANDS)
    add("start", kind="command", source=name, status="started")
    ending = rng.random()
    if ending < 0.6:
        failed = ending < 0.2
        reason = rng.choice(REASONS) if failed else None
        add(
            "end",
            kind="command",
            source=name,
            status="failed" if failed else "ok",
            data={
                "duration": round(rng.random() * 300, 3) if rng.random() < 0.9 else 5.0,
                "failure_type": "network" if failed else None,
                "reason": reason,
            },
        )
    if rng.random() < 0.25:
        code = rng.choice((0, 11))
        pilot["done"] = True
        add(
            "result",
            kind="result",
            data={
                "pilot": {
                    "exit_code": code,
                    "failed_command": name if code else None,
                    "reason": "boom" if code else None,
                },
                "db12": round(rng.uniform(5, 40), 2) if rng.random() < 0.8 else None,
            },
        )
    return items


def counts_only(figures):
    """What the aggregates keep exactly."""
    return {
        "states": figures["states"],
        "groups": sorted((group["key"] or "", sorted(group["states"].items())) for group in figures["groups"]),
        "commands": sorted(
            (entry["name"], entry["count"], entry["failed"], sorted(map(tuple, entry["reasons"])))
            for entry in figures["commands"]
        ),
        "waits": figures["submit_to_running"]["count"],
        "db12": figures["db12"]["count"],
    }


def stored_rows(store):
    table = schema.stats_buckets
    from sqlalchemy import select

    return store.read(
        lambda connection: dict(
            ((row.grain, row.bucket, row.fdim, row.fvalue), aggregates.decode(row.counts))
            for row in connection.execute(select(table))
        )
    )


def test_aggregates_equal_rows_and_rebuild(fresh_store, monkeypatch):
    store = fresh_store
    rng = random.Random(20261203)
    clock = Clock(time.time() - 3.4 * 86400)
    monkeypatch.setattr(logstore, "time", clock)
    vo = fill(store, clock, rng)
    monkeypatch.undo()
    now = time.time()
    windows = [
        (None, None),
        (now - 86400, None),
        (now - 86400 * 1.37, now - 3600 * 5.5),
        (now - 86400 * 2.9, now - 86400 * 2.85),
        (now - 1800, None),
        (float(int(now // 86400) * 86400 - 86400), float(int(now // 86400) * 86400)),
    ]
    # edges in the first half of an hour (since) or the second (until), next to a pilot outside the
    # window: read as the hour's row less the rows of the rest of the hour, which hold that pilot
    from sqlalchemy import select

    seen = sorted(store.read(lambda c: c.execute(select(schema.pilots.c.last_seen)).scalars().all()))
    early, late = [t for t in seen if t % 3600 < 1700], [t for t in seen if t % 3600 > 1900]
    windows += [
        (early[0] + 0.5, late[-1] - 0.5),
        (early[len(early) // 2] + 0.5, None),
        (None, late[len(late) // 2] - 0.5),
        (early[-1] + 0.5, None),
    ]
    filters = [
        {},
        {"vo": vo},
        {"site": "SiteB"},
        {"site": "SiteA", "group_by": "ce"},
        {"group_by": "site"},
        {"vo": vo, "group_by": "queue"},
        {"group_by": "vo"},
    ]
    checked = 0
    for since, until in windows:
        for chosen in filters:
            arguments = dict(dict.fromkeys(stats.FILTERS + ("group_by",)), **chosen)
            arguments.update(since=since, until=until)
            fast = stats.compute(store, **arguments)
            exact = stats.compute_from_rows(store, arguments)
            assert counts_only(fast) == counts_only(exact), (since, until, chosen)
            for entry, truth in zip(
                sorted(fast["commands"], key=lambda e: e["name"]), sorted(exact["commands"], key=lambda e: e["name"])
            ):
                if truth["max"] is not None:
                    assert entry["max"] == pytest.approx(truth["max"], rel=aggregates.RATIO - 1)
            checked += fast["states"] != exact["states"] or sum(fast["states"].values()) > 0
    assert checked > 20  # most windows hold pilots
    kept = stored_rows(store)
    assert kept  # the writes kept counts
    store.write(aggregates.rebuild)
    assert stored_rows(store) == kept


def test_plan_reads_whole_days_hours_and_edges():
    day, hour = aggregates.DAY, aggregates.HOUR
    start = 100 * day
    edges, days, hours = stats.plan(start - 1800, start + 2 * day + 2 * hour + 60)
    assert edges == [
        (start - 1800, start - 1800 + 1800, False),
        (start + 2 * day + 2 * hour, start + 2 * day + 2 * hour + 60, True),
    ]
    assert days == (start, start + 2 * day) and hours == [(start + 2 * day, start + 2 * day + 2 * hour)]
    assert stats.plan(None, None) == ([], (None, None), [])
    assert stats.plan(start + 10, start + 20) == ([(start + 10, start + 20, True)], None, [])
    edges, days, hours = stats.plan(start + hour, None)
    assert edges == [] and days == (start + day, None) and hours == [(start + hour, start + day)]


def test_a_partial_hour_is_read_from_the_cheaper_side():
    hour = 3600
    start = 1700000000 // hour * hour
    # since 10 min into an hour: that hour's row less its first 10 min; 50 min in: the last 10 min's rows
    assert stats._cheaper_side((start + 600, start + hour, False)) == (
        (start, start + hour),
        [(start, start + 600, True, False, -1)],
    )
    assert stats._cheaper_side((start + 3000, start + hour, False)) == (
        None,
        [(start + 3000, start + hour, True, False, 1)],
    )
    # until 50 min into an hour: its row less what came after; 10 min: the rows
    assert stats._cheaper_side((start, start + 3000, True)) == (
        (start, start + hour),
        [(start + 3000, start + hour, False, False, -1)],
    )
    assert stats._cheaper_side((start, start + 600, True)) == (None, [(start, start + 600, True, True, 1)])
    # a window inside one hour that starts after its beginning: its rows
    assert stats._cheaper_side((start + 60, start + 3000, True)) == (None, [(start + 60, start + 3000, True, True, 1)])


def test_rebuild_command(tmp_path, capsys):
    from pilot_server import cli

    url = "sqlite:///%s" % (tmp_path / "logbook.sqlite")
    store = logstore.Store.open(url)
    stamp = new_stamp()
    store.store_batch(stamp, [wire.message(stamp, 1, time.time(), "hello")])
    before = stored_rows(store)
    store.write(lambda connection: connection.execute(schema.stats_buckets.delete()))
    assert stats.compute(store)["states"]["Running"] == 0  # the statistics read the aggregates
    assert cli.main(["logbook", "aggregates", "rebuild", "--db", url]) == 0
    assert "aggregates rebuilt from 1 pilot(s)" in capsys.readouterr().out
    assert stored_rows(store) == before and stats.compute(store)["states"]["Running"] == 1
    store.close()
    assert cli.main(["logbook", "aggregates", "rebuild", "--db", "sqlite:///%s" % (tmp_path / "none.sqlite")]) == 1


def test_group_writes_keep_the_aggregates_exact(fresh_store, monkeypatch):
    """Groups of batches of many pilots (the group write computes the pilots' counts from the rows it
    holds, without reading them back): new and known pilots, several batches of a pilot in one group,
    a late start, a first batch refused by the quota (its pilot row stays, counted), command names
    that MariaDB takes for one (case) or that are not plain ASCII."""
    from pilot_server.logbook.store.logstore import Batch

    store = logstore.Store(fresh_store.engine, max_messages=60)
    rng = random.Random(20261204)
    names = COMMANDS + ("installdirac", "Inställ", "Set Up")
    pilots = [{"stamp": new_stamp(), "seq": 0, "site": rng.choice(SITES), "done": False} for _ in range(12)]
    clock = Clock(time.time() - 5 * 3600)
    monkeypatch.setattr(logstore, "time", clock)
    for round_ in range(10):
        group = []
        now = clock.now
        for pilot in [pilots[0]] + rng.sample(pilots[1:], 7) if round_ == 0 else rng.sample(pilots, 7):
            if pilot["done"]:
                continue
            if round_ == 0 and pilot is pilots[0]:  # over the quota: refused, the pilot row is kept
                group.append(Batch(pilot["stamp"], [wire.message(pilot["stamp"], n, now, "x") for n in range(1, 70)]))
                continue
            for _ in range(rng.randrange(1, 3)):
                items = batch(pilot, "vo", now, rng)
                name = rng.choice(names)
                pilot["seq"] += 1
                items.append(
                    wire.message(
                        pilot["stamp"],
                        pilot["seq"],
                        now,
                        "end",
                        kind="command",
                        source=name,
                        status=rng.choice(("ok", "failed")),
                        data={"duration": rng.random() * 100, "reason": rng.choice(REASONS)},
                    )
                )
                if rng.random() < 0.3:  # a late 'started' of a command that ended
                    pilot["seq"] += 1
                    items.append(
                        wire.message(
                            pilot["stamp"], pilot["seq"], now - 5, "s", kind="command", source=name, status="started"
                        )
                    )
                group.append(Batch(pilot["stamp"], items))
        outcomes = store.store_batches(group)
        assert round_ > 0 or outcomes[0].refused  # (later, pilots that reach the quota are refused too)
        clock.now += rng.random() * 2400  # the pilots' hours move
    monkeypatch.undo()
    assert store.pilot(pilots[0]["stamp"]) is not None
    kept = stored_rows(store)
    assert kept
    store.write(aggregates.rebuild)
    assert stored_rows(store) == kept


def test_changes_equal_the_contributions_left_and_entered():
    """``changes`` (a pilot that stays in its buckets adds only the difference of its counters) gives
    what subtracting every old contribution and adding every new one gives."""
    import collections

    rng = random.Random(7)
    start = 1796256000

    def pilot(stamp):
        return {
            "stamp": stamp,
            "last_seen": start + rng.choice((10, 20, 4000, 90000)),
            "status": rng.choice(("Running", "Done", "Failed")),
            "submitted_time": rng.choice((None, start - 50)),
            "running_time": rng.choice((None, start - 10)),
            "db12": rng.choice((None, 12.5, 20.0)),
            "site": rng.choice(("A", "B")),
            "ce": rng.choice(("", "ce1")),
            "queue": None,
            "version": "2.0",
            "vo": rng.choice(("x", "y")),
        }

    def commands(stamp):
        return dict(
            (
                (stamp, name),
                {
                    "stamp": stamp,
                    "name": name,
                    "status": rng.choice(("ok", "failed", "running")),
                    "duration": rng.choice((None, 1.5, 30.0)),
                    "failure_type": None,
                    "reason": "r",
                },
            )
            for name in rng.sample(COMMANDS, rng.randrange(3))
        )

    for _ in range(200):
        stamps = ["p%d" % index for index in range(3)]
        before = dict((stamp, (pilot(stamp), commands(stamp))) for stamp in stamps[1:])
        after = dict((stamp, (pilot(stamp), commands(stamp))) for stamp in stamps)
        for stamp in stamps[1:]:  # some pilots change only a little, or not at all
            if rng.random() < 0.6:
                after[stamp] = (dict(before[stamp][0], status=rng.choice(("Running", "Done"))), before[stamp][1])

        def merged(entries):
            rows = {}
            for _, found in entries.values():
                rows.update(found)
            return [entry[0] for entry in entries.values()], rows

        expected = collections.defaultdict(collections.Counter)
        for sign, entries in ((-1, before), (1, after)):
            for one, rows in entries.values():
                for key, counts in aggregates.contribution(one, list(rows.values())).items():
                    for name, value in counts.items():
                        expected[key][name] += sign * value
        expected = dict(
            (key, dict((n, v) for n, v in counts.items() if v))
            for key, counts in expected.items()
            if any(counts.values())
        )
        got = aggregates.changes(aggregates.counted(*merged(before)), aggregates.counted(*merged(after)))
        assert got == expected
