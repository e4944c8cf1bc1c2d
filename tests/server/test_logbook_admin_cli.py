"""pilotctl logbook stats | state | export | purge, retention and the maintenance round; bad input."""

import json
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
from pilot_server.logbook.store import export, retention, schema
from pilot_server.logbook.store.maintenance import Maintenance
from pilot_server.logbook.store.retention import Retention
from pilot_server.logbook.store.logstore import Store
from cli_support import pilotctl


@pytest.fixture
def url(tmp_path):
    url = "sqlite:///%s" % (tmp_path / "logbook.sqlite")
    store = Store.open(url)
    for site, code in (("LCG.One.org", 0), ("LCG.One.org", 11), ("LCG.Two.org", 0)):
        stamp = new_stamp()
        store.register(stamp, site=site, vo="vo1", submitted=time.time() - 30)
        final = result_message(
            stamp, 3, exit_code=code, failed="InstallDIRAC" if code else None, reason="no route" if code else None
        )
        final["data"]["commands"] = [
            {
                "name": "InstallDIRAC",
                "status": "failed" if code else "ok",
                "duration": 12.5,
                "reason": "no route" if code else None,
            }
        ]
        final["data"]["db12"] = 15.0
        store.store_batch(stamp, make_messages(stamp, [1, 2]) + [final])
    store.close()
    return url


def test_stats_as_a_table_and_as_json(url, capsys):
    code, out, err = pilotctl(capsys, "logbook", "stats", "--db", url, "--by", "site")
    assert code == 0 and err == ""
    assert out.splitlines()[0] == "pilots: 3  (group_by=site)"
    assert "Done 2  Failed 1" in out and "LCG.One.org" in out and "InstallDIRAC" in out and "no route (1)" in out
    assert "DB12: 3 pilot(s); median 15.0" in out
    code, out, _ = pilotctl(capsys, "logbook", "stats", "--db", url, "--json", "--site", "LCG.Two.org", "--since", "1h")
    figures = json.loads(out)
    assert code == 0 and figures["states"]["Done"] == 1 and figures["commands"][0]["count"] == 1


@pytest.mark.parametrize(
    "argv, message",
    [
        (["stats", "--since", "yesterday"], "not a time"),
        (["stats", "--by", "colour"], "invalid choice: 'colour'"),
        (["stats", "--lost-after", "-5"], "is not a number of seconds"),
        (["pilots", "--status", "Zombie"], "unknown state 'Zombie'"),
        (["state", "0123456789abcdef0123456789abcdef", "Zombie"], "unknown state 'Zombie'"),
        (["state", "0123456789abcdef0123456789abcdef", "Lost"], "Lost is decided by the logbook"),
        (["purge", "--retention", "vo1"], "--retention wants VO=DAYS"),
        (["purge", "--retention", "vo1=0"], "must be a positive number of days"),
        (["purge", "--retention", "vo1=ten"], "'ten' is not a number of days"),
        (["purge", "--retention", "vo1=3", "--retention", "vo1=4"], "given twice"),
        (["purge", "--retention-default", "-1"], "must be a positive number of days"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(url, capsys, argv, message):
    code, out, err = pilotctl(capsys, "logbook", *(argv[:1] + ["--db", url] + argv[1:]))
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_serve_refuses_bad_retention_and_admin_dn_without_ca(tmp_path, capsys):
    secret = tmp_path / "secret"
    secret.write_text("00" * 32)
    secret.chmod(0o600)
    base = [
        "logbook",
        "serve",
        "--insecure-http",
        "--token-secret",
        str(secret),
        "--db",
        "sqlite:///%s" % (tmp_path / "l.sqlite"),
    ]
    code, _, err = pilotctl(capsys, *(base + ["--retention", "vo=x"]))
    assert code == 2 and "'x' is not a number of days" in err
    code, _, err = pilotctl(capsys, *(base + ["--admin-dn", "/CN=admin"]))
    assert code == 2 and "--admin-dn needs --ca-dir or --ca-file" in err


def test_state_command_reports_and_refuses(url, capsys):
    stamp = new_stamp()
    code, out, _ = pilotctl(capsys, "logbook", "state", "--db", url, stamp, "Submitted", "--site", "LCG.X.org")
    assert code == 0 and "registered (Submitted)" in out
    code, out, _ = pilotctl(capsys, "logbook", "state", "--db", url, stamp, "running")
    assert code == 0 and out.strip() == "%s Submitted -> Running" % stamp
    code, out, _ = pilotctl(capsys, "logbook", "state", "--db", url, stamp, "Running")
    assert code == 0 and out.strip() == "%s already Running" % stamp
    code, _, err = pilotctl(capsys, "logbook", "state", "--db", url, stamp, "Waiting")
    assert code == 1 and err.strip() == "pilotctl logbook state: error: Running -> Waiting is not allowed"
    code, _, err = pilotctl(capsys, "logbook", "state", "--db", url, new_stamp(), "Done")
    assert code == 1 and "unknown pilot stamp" in err


def test_export_writes_a_gzip_archive(url, tmp_path, capsys):
    store = Store.open(url)
    stamp = store.pilots(limit=1)[0]["stamp"]
    store.close()
    target = tmp_path / "pilot.json.gz"
    code, out, _ = pilotctl(capsys, "logbook", "export", "--db", url, stamp, "-o", str(target))
    document = export.read(str(target))
    assert code == 0 and out.startswith("wrote %s" % target)
    assert document["pilot"]["stamp"] == stamp and len(document["messages"]) == 3
    assert [item["state"] for item in document["states"]] == ["Submitted", "Running", document["pilot"]["status"]]
    assert document["commands"][0]["name"] == "InstallDIRAC"
    code, _, err = pilotctl(capsys, "logbook", "export", "--db", url, new_stamp(), "-o", str(target))
    assert code == 1 and "no pilot" in err


def age(store, stamp, days):
    from pilot_server.logbook.store import aggregates

    with store.engine.begin() as connection:
        tracker = aggregates.track(connection, [stamp])  # the statistics follow, as for the store's writes
        connection.execute(
            schema.pilots.update().where(schema.pilots.c.stamp == stamp).values(last_seen=time.time() - days * 86400)
        )
        tracker.settle()


def test_retention_per_vo_purges_whole_pilots_in_batches(store):
    vo_long, vo_other = "long-%s" % new_stamp()[:8], "other-%s" % new_stamp()[:8]
    kept, purged = [], []
    for vo, days, gone in ((vo_long, 40, False), (vo_long, 100, True), (vo_other, 40, True), (vo_other, 10, False)):
        stamp = new_stamp()
        store.register(stamp, vo=vo)
        store.store_batch(stamp, make_messages(stamp, [1, 2, 3]) + [result_message(stamp, 4)])
        age(store, stamp, days)
        (purged if gone else kept).append(stamp)
    rules = Retention.from_options("30", ["%s=90" % vo_long])
    assert rules.describe().startswith("%s 90 d" % vo_long)
    # only this test's VOs: the default rule would also take other tests' pilots on the shared databases
    scoped = Retention(30, {vo_long: 90, vo_other: 30})
    dry = retention.purge(store, scoped, dry_run=True)
    assert (dry.pilots, dry.messages) == (2, 8)
    assert all(store.pilot(stamp) for stamp in kept + purged)
    done = retention.purge(store, scoped, batch=1)
    assert done == (2, 8, 0, 6)
    assert [store.pilot(stamp) for stamp in purged] == [None, None]
    assert [store.messages(stamp) for stamp in purged] == [[], []] and store.states(purged[0]) == []
    assert all(store.pilot(stamp) for stamp in kept)


def test_the_maintenance_round_marks_lost_and_purges(tmp_path):
    store = Store.open("sqlite:///%s" % (tmp_path / "logbook.sqlite"), lost_after=60)
    silent, old = new_stamp(), new_stamp()
    for stamp in (silent, old):
        store.store_batch(stamp, make_messages(stamp, [1]))
    age(store, silent, 0.01)  # 864 s ago
    age(store, old, 31)
    lost, purged = Maintenance(store, Retention()).run_once()
    assert (lost, purged.pilots) == (2, 1)  # the old one was Lost too, then purged
    assert store.pilot(silent)["status"] == "Lost" and store.pilot(old) is None
    assert [item["source"] for item in store.states(silent)] == ["pilot", "logbook"]
    store.close()


def test_show_states_lists_transitions_and_commands(url, capsys):
    store = Store.open(url)
    try:
        stamp = [row["stamp"] for row in store.pilots(limit=10) if row["exit_code"] == 11][0]
    finally:
        store.close()
    code, out, err = pilotctl(capsys, "logbook", "show", stamp, "--states", "--db", url)
    lines = out.splitlines()
    assert code == 0 and err == "" and lines[0] == "pilot %s: Failed" % stamp
    assert [line.split()[2] for line in lines[1:4]] == ["Submitted", "Running", "Failed"]
    assert lines[1].endswith("(submitter)") and lines[3].endswith("(pilot)")
    assert lines[4].split()[:3] == ["InstallDIRAC", "failed", "12.50"] and lines[4].endswith("no route")
    code, out, _ = pilotctl(capsys, "logbook", "show", stamp, "--states", "--json", "--db", url)
    document = json.loads(out)
    assert [row["state"] for row in document["states"]] == ["Submitted", "Running", "Failed"]
    assert document["commands"][0]["reason"] == "no route"
    code, _, err = pilotctl(capsys, "logbook", "show", "f" * 32, "--states", "--db", url)
    assert code == 1 and "no pilot ffff" in err
