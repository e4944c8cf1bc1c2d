"""Pilot states: DIRAC's statuses plus Lost, validated transitions, their history, command rows."""

import time

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
from pilot_server.logbook.store import states
from pilot_server.logbook.store.logstore import NotFound


def history(store, stamp):
    return [(item["state"], item["source"]) for item in store.states(stamp)]


def command(stamp, seq, name, status, when, **data):
    return wire.message(
        stamp,
        seq,
        when,
        "%s %s" % (name, status),
        kind="command",
        source=name,
        status=status,
        level="ERROR" if status == "failed" else "INFO",
        data=data or None,
    )


def result(stamp, seq, exit_code=0, db12=None, commands=()):
    item = result_message(
        stamp,
        seq,
        exit_code=exit_code,
        failed="Install" if exit_code else None,
        reason="no route to host" if exit_code else None,
    )
    item["data"].update({"db12": db12, "commands": list(commands)})
    item["data"]["pilot"]["version"] = "2.0.0a1"
    return item


def test_the_states_are_defined_once_with_lost():
    assert states.STATES == ("Submitted", "Waiting", "Running", "Done", "Failed", "Aborted", "Deleted", "Lost")
    assert states.canonical("running") == "Running"
    with pytest.raises(states.BadState, match="unknown state 'Zombie'"):
        states.canonical("Zombie")
    for final in states.FINAL:
        assert states.ALLOWED[final] == ()


def test_registered_pilot_goes_submitted_running_done_with_times(store):
    stamp = new_stamp()
    submitted = time.time() - 60
    assert store.register(stamp, ce="ce01", site="LCG.Test.org", vo="vo1", submitted=submitted) is True
    assert store.pilot(stamp)["status"] == "Submitted"
    store.store_batch(stamp, make_messages(stamp, [1, 2]))
    assert store.pilot(stamp)["status"] == "Running"
    store.store_batch(stamp, [result(stamp, 3, db12=18.25)])
    pilot = store.pilot(stamp)
    assert (pilot["status"], pilot["db12"], pilot["version"]) == ("Done", 18.25, "2.0.0a1")
    assert history(store, stamp) == [("Submitted", "submitter"), ("Running", "pilot"), ("Done", "pilot")]
    times = [item["time"] for item in store.states(stamp)]
    assert times[0] == pytest.approx(submitted) and times == sorted(times)
    assert pilot["running_time"] == pytest.approx(times[1])


def test_an_unregistered_pilot_starts_running_and_a_short_one_passes_through_running(store):
    stamp = new_stamp()
    store.store_batch(stamp, make_messages(stamp, [1]))
    assert (store.pilot(stamp)["status"], history(store, stamp)) == ("Running", [("Running", "pilot")])
    short = new_stamp()
    store.store_batch(short, make_messages(short, [1, 2]) + [result(short, 3, exit_code=11)])
    assert store.pilot(short)["status"] == "Failed"
    assert history(store, short) == [("Running", "pilot"), ("Failed", "pilot")]


def test_submitter_reports_are_validated(store):
    stamp = new_stamp()
    store.register(stamp, ce="ce01")
    assert store.report_state(stamp, "Waiting").changed is True
    assert store.report_state(stamp, "waiting").changed is False  # the same state again: nothing to do
    assert store.report_state(stamp, "Running", time.time()).previous == "Waiting"
    with pytest.raises(states.InvalidTransition, match="Running -> Waiting is not allowed"):
        store.report_state(stamp, "Waiting")
    with pytest.raises(states.InvalidTransition, match="Running -> Submitted"):
        store.report_state(stamp, "Submitted")
    assert store.report_state(stamp, "Done").changed is True
    with pytest.raises(states.InvalidTransition, match=r"Done -> Running is not allowed \(Done is final\)"):
        store.report_state(stamp, "Running")
    with pytest.raises(states.BadState, match="Lost is decided by the logbook"):
        store.report_state(stamp, "Lost")
    with pytest.raises(states.BadState, match="unknown state"):
        store.report_state(stamp, "Finished")
    with pytest.raises(NotFound, match="unknown pilot stamp"):
        store.report_state(new_stamp(), "Running")
    assert history(store, stamp) == [
        ("Submitted", "submitter"),
        ("Waiting", "submitter"),
        ("Running", "submitter"),
        ("Done", "submitter"),
    ]


def test_late_messages_never_leave_a_final_state_but_the_result_refines_the_batch_view(store):
    aborted = new_stamp()
    store.register(aborted)
    store.report_state(aborted, "Aborted")
    store.store_batch(aborted, make_messages(aborted, [1]) + [result(aborted, 2)])
    assert store.pilot(aborted)["status"] == "Aborted" and store.pilot(aborted)["exit_code"] == 0
    refined = new_stamp()
    store.register(refined)
    store.report_state(refined, "Done")  # the batch system saw the wrapper end first
    store.store_batch(refined, [result(refined, 5, exit_code=11)])
    assert store.pilot(refined)["status"] == "Failed"
    assert history(store, refined)[-1] == ("Failed", "pilot")
    store.store_batch(refined, make_messages(refined, [6]))  # a late line: still Failed
    assert store.pilot(refined)["status"] == "Failed"


def test_a_silent_running_pilot_reads_lost_is_marked_lost_and_comes_back(store):
    stamp = new_stamp()
    store.store_batch(stamp, make_messages(stamp, [1]))
    assert store.pilot(stamp)["status"] == "Running"
    with store.engine.begin() as connection:  # as if the last batch came 2000 s ago
        from pilot_server.logbook.store import aggregates, schema

        tracker = aggregates.track(connection, [stamp])  # the statistics follow, as for the store's writes
        connection.execute(
            schema.pilots.update().where(schema.pilots.c.stamp == stamp).values(last_seen=time.time() - 2000)
        )
        tracker.settle()
    assert store.pilot(stamp)["status"] == "Lost"
    assert stamp in [row["stamp"] for row in store.pilots(status="Lost", limit=1000)]
    assert stamp not in [row["stamp"] for row in store.pilots(status="Running", limit=1000)]
    assert store.mark_lost(limit=100000) >= 1
    assert history(store, stamp)[-1] == ("Lost", "logbook")
    store.store_batch(stamp, make_messages(stamp, [2]))  # it was only silent
    assert store.pilot(stamp)["status"] == "Running"
    store.store_batch(stamp, [result(stamp, 3)])
    assert history(store, stamp) == [("Running", "pilot"), ("Lost", "logbook"), ("Running", "pilot"), ("Done", "pilot")]


def test_command_rows_from_command_messages_and_the_result(store):
    stamp = new_stamp()
    now = time.time()
    store.store_batch(
        stamp,
        [
            command(stamp, 1, "CheckWorkerNode", "started", now),
            command(stamp, 2, "CheckWorkerNode", "ok", now + 1.5, duration=1.5),
            command(stamp, 3, "InstallDIRAC", "started", now + 2),
        ],
    )
    rows = dict((row["name"], row) for row in store.commands(stamp))
    assert rows["CheckWorkerNode"]["status"] == "ok" and rows["CheckWorkerNode"]["duration"] == 1.5
    assert rows["InstallDIRAC"]["status"] == "running"
    store.store_batch(
        stamp,
        [
            command(
                stamp,
                4,
                "InstallDIRAC",
                "failed",
                now + 14,
                duration=12.0,
                failure_type="network",
                reason="no route to host " * 100,
            )
        ],
    )
    store.store_batch(
        stamp,
        [
            result(
                stamp,
                5,
                exit_code=11,
                commands=[
                    {"name": "CheckWorkerNode", "status": "ok", "start": "2026-11-21T16:48:50.5Z", "duration": 1.5},
                    {"name": "InstallDIRAC", "status": "failed", "duration": 12.0, "failure_type": "network"},
                    {"name": "LaunchAgent", "status": "not run", "duration": None},
                ],
            )
        ],
    )
    store.store_batch(stamp, [command(stamp, 3, "InstallDIRAC", "started", now + 2)])  # a duplicate: ignored
    rows = dict((row["name"], row) for row in store.commands(stamp))
    assert sorted(rows) == ["CheckWorkerNode", "InstallDIRAC"]
    install = rows["InstallDIRAC"]
    assert (install["status"], install["duration"], install["failure_type"]) == ("failed", 12.0, "network")
    assert install["start"] == pytest.approx(now + 2) and len(install["reason"]) == 1000
    assert rows["CheckWorkerNode"]["start"] == pytest.approx(1795279730.5)
