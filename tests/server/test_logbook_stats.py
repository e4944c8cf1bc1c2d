"""stats.compute: states, groups, commands, submission to running, DB12, on every database."""

import time
import uuid

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
from pilot_server.logbook.store import stats
from pilot_server.logbook.store.states import STATES

KEYS = ["commands", "db12", "filters", "groups", "states", "submit_to_running"]


def pilot(store, vo, site, exit_code=0, install_seconds=10.0, db12=None, submitted_ago=None, reason=None):
    stamp = new_stamp()
    now = time.time()
    if submitted_ago is not None:
        store.register(stamp, site=site, ce="ce.%s" % site, queue="long", vo=vo, submitted=now - submitted_ago)
    messages = make_messages(stamp, [1], data={"site": site, "vo": vo, "ce": "ce.%s" % site, "version": "2.0.0"})
    final = result_message(stamp, 2, exit_code=exit_code, failed="InstallDIRAC" if exit_code else None, reason=reason)
    final["data"].update(
        {
            "db12": db12,
            "commands": [
                {"name": "CheckWorkerNode", "status": "ok", "duration": 1.0},
                {
                    "name": "InstallDIRAC",
                    "status": "failed" if exit_code else "ok",
                    "duration": install_seconds,
                    "failure_type": "network" if exit_code else None,
                    "reason": reason,
                },
            ],
        }
    )
    messages[0]["time"] = now
    final["time"] = now + 1
    store.store_batch(stamp, messages + [final])
    return stamp


@pytest.fixture
def filled(store):
    vo = "vo-%s" % uuid.uuid4().hex[:8]
    for index in range(10):
        pilot(store, vo, "SiteA", install_seconds=float(index + 1), db12=10.0 + index, submitted_ago=100.0 + index)
    pilot(store, vo, "SiteB", exit_code=11, install_seconds=50.0, reason="no route to host", db12=30.0)
    pilot(store, vo, "SiteB", exit_code=11, install_seconds=60.0, reason="no route to host")
    pilot(store, vo, "SiteB", exit_code=11, install_seconds=70.0, reason="disk full")
    waiting = new_stamp()
    store.register(waiting, site="SiteB", vo=vo)
    store.report_state(waiting, "Waiting")
    return store, vo


def test_states_groups_commands_waits_and_db12(filled):
    store, vo = filled
    figures = stats.compute(store, vo=vo, group_by="site")
    assert sorted(figures) == KEYS
    assert figures["filters"] == {
        "site": None,
        "ce": None,
        "queue": None,
        "version": None,
        "vo": vo,
        "since": None,
        "until": None,
        "group_by": "site",
    }
    assert list(figures["states"]) == list(STATES)
    assert figures["states"] == dict.fromkeys(STATES, 0) | {"Done": 10, "Failed": 3, "Waiting": 1}
    groups = dict((group["key"], group) for group in figures["groups"])
    assert [group["key"] for group in figures["groups"]] == ["SiteA", "SiteB"]
    assert (groups["SiteA"]["total"], groups["SiteB"]["total"]) == (10, 4)
    assert groups["SiteB"]["states"]["Failed"] == 3 and groups["SiteB"]["states"]["Waiting"] == 1
    commands = dict((entry["name"], entry) for entry in figures["commands"])
    install = commands["InstallDIRAC"]
    assert (install["count"], install["failed"], install["failure_rate"]) == (13, 3, pytest.approx(3 / 13.0, 1e-3))
    assert (install["median"], install["p90"], install["max"]) == (7.0, 60.0, 70.0)
    assert install["reasons"] == [["no route to host", 2], ["disk full", 1]]
    assert commands["CheckWorkerNode"] == {
        "name": "CheckWorkerNode",
        "count": 13,
        "failed": 0,
        "failure_rate": 0.0,
        "median": 1.0,
        "p90": 1.0,
        "max": 1.0,
        "reasons": [],
    }
    wait = figures["submit_to_running"]
    assert wait["count"] == 10 and 100 <= wait["median"] <= 111 and wait["max"] <= 112
    db12 = figures["db12"]
    assert (db12["count"], db12["min"], db12["max"], db12["median"]) == (11, 10.0, 30.0, 15.0)
    assert len(db12["histogram"]) == 10 and sum(row[2] for row in db12["histogram"]) == 11
    assert db12["histogram"][0] == [10.0, 12.0, 2] and db12["histogram"][-1] == [28.0, 30.0, 1]


def test_filters_and_empty_answers(filled):
    store, vo = filled
    only_b = stats.compute(store, vo=vo, site="SiteB")
    assert only_b["states"]["Failed"] == 3 and only_b["states"]["Done"] == 0 and only_b["groups"] == []
    future = stats.compute(store, vo=vo, since=time.time() + 3600)
    assert future["states"] == dict.fromkeys(STATES, 0) and future["commands"] == []
    assert future["submit_to_running"] == {"count": 0, "median": None, "p90": None, "max": None}
    assert future["db12"] == {"count": 0, "median": None, "min": None, "max": None, "histogram": []}
    assert stats.compute(store, vo=vo, until=time.time() - 3600)["states"]["Done"] == 0
    assert stats.compute(store, vo=vo, version="2.0.0", queue="long")["states"]["Done"] == 10


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"group_by": "colour"}, "cannot group by 'colour'"),
        ({"since": "yesterday"}, "since must be epoch seconds"),
        ({"until": float("nan")}, "until must be epoch seconds"),
        ({"site": 3}, "site must be a string"),
    ],
)
def test_bad_filters_are_refused(sqlite_store_for_stats, arguments, message):
    with pytest.raises(stats.StatsError, match=message):
        stats.compute(sqlite_store_for_stats, **arguments)


@pytest.fixture
def sqlite_store_for_stats(tmp_path):
    from pilot_server.logbook.store.logstore import Store

    opened = Store.open("sqlite:///%s" % (tmp_path / "logbook.sqlite"))
    yield opened
    opened.close()


def test_lost_pilots_are_counted_as_lost(sqlite_store_for_stats):
    store = sqlite_store_for_stats
    stamp = new_stamp()
    store.store_batch(stamp, [wire.message(stamp, 1, time.time(), "hello")])
    store.lost_after = 1e-6
    time.sleep(0.01)
    assert stats.compute(store)["states"]["Lost"] == 1
    store.lost_after = 0
    assert stats.compute(store)["states"]["Running"] == 1
