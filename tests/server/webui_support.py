"""Pilots for the web page tests, stored through the real store API as pilots send them.

Each pilot sends what pilot/sequence/runner.py and pilot/cli.py send: a set-up log line whose data
says where it runs, for each command a ``started`` and an ok/failed ``command`` message
with log lines of several levels between, and a final ``result`` message.
"""

import http.client
import time
import uuid
from urllib.parse import urlsplit

from pilot_server.worker import messages as wire

ADMIN_SECRET = b"web-admin-secret-0123456789abcdef0123"
ADMIN_TOKEN = ADMIN_SECRET.hex()
ADMIN = {"Authorization": "Bearer " + ADMIN_TOKEN}
HTML = {"Accept": "text/html,application/xhtml+xml"}
COMMANDS = ("CheckWorkerNode", "InstallDIRAC", "ConfigureDIRAC", "LaunchAgent")


def pilot_messages(
    stamp,
    site,
    ce,
    vo="dteam",
    fail_at=None,
    reason="download of DIRAC failed: timeout",
    start=None,
    with_result=True,
    extra_text=None,
):
    """The messages of one pilot; fail_at: index of the command that fails (None: all ok)."""
    clock = [start if start is not None else time.time() - 600]
    seq = [0]
    out = []

    def add(text, level="INFO", source="Pilot", kind="log", status=None, data=None, phase=None, stream=None, step=1.0):
        seq[0] += 1
        clock[0] += step
        now_value = clock[0]
        out.append(
            wire.message(
                stamp,
                seq[0],
                now_value,
                text,
                level=level,
                source=source,
                phase=phase,
                status=status,
                stream=stream,
                kind=kind,
                data=data,
            )
        )
        return now_value

    add("Pilots 2.0 pilot 2.0.0 starting on wn042 with Python 3.9.18")
    add(
        "Pilot stamp %s; commands: %s" % (stamp, ",".join(COMMANDS)),
        data={
            "version": "2.0.0",
            "site": site,
            "ce": ce,
            "queue": "long",
            "vo": vo,
            "setup": "Production",
            "release": "v9.0.1",
            "hostname": "wn042.example.org",
            "python": "3.9.18",
        },
    )
    add("a debug line of the set-up", level="DEBUG")
    commands = []
    for index, name in enumerate(COMMANDS):
        began = add("=== %s (builtin) ===" % name, source=name, kind="command", status="started", phase=name)
        add("%s: working" % name, source=name, phase=name, step=3.0 + index)
        if extra_text and index == 0:
            add(extra_text, source=name, level="WARNING", phase=name)
        if index == fail_at:
            add("curl (stderr): could not resolve host", source=name, level="WARNING", stream="stderr", phase=name)
            took = clock[0] + 1.0 - began
            add(
                "%s failed after %.2f s: %s" % (name, took, reason),
                level="ERROR",
                source=name,
                kind="command",
                status="failed",
                phase=name,
                data={"duration": took, "failure_type": "network", "reason": reason},
            )
            commands.append({"name": name, "status": "failed", "duration": took, "failure_type": "network"})
            break
        took = clock[0] + 1.0 - began
        add(
            "%s done in %.2f s" % (name, took),
            source=name,
            kind="command",
            status="ok",
            phase=name,
            data={"duration": took, "failure_type": None, "reason": None},
        )
        commands.append({"name": name, "status": "ok", "duration": took, "failure_type": None})
    if fail_at is not None:
        for name in COMMANDS[fail_at + 1 :]:
            commands.append({"name": name, "status": "not run", "duration": None, "failure_type": None})
    if with_result:
        code = 0 if fail_at is None else 11
        pilot = {
            "exit_code": code,
            "exit_name": "OK" if code == 0 else "INSTALL",
            "status": "done" if code == 0 else "failed",
            "failed_command": None if fail_at is None else COMMANDS[fail_at],
            "reason": None if fail_at is None else reason,
            "duration": 30.0,
            "version": "2.0.0",
            "stamp": stamp,
            "hostname": "wn042.example.org",
            "python": "3.9.18",
        }
        add(
            "result: exit code %d" % code,
            level="ERROR" if code else "INFO",
            kind="result",
            status=pilot["status"],
            data={"pilot": pilot, "commands": commands, "usage": {"wall_seconds": 30.0, "cpu_seconds": 3.5, "jobs": 1}},
        )
    return out


def populate(store):
    """A small logbook: done, failed, running and registered pilots on two sites.

    Returns {"done": [stamps], "failed": stamp, "running": stamp, "submitted": stamp,
    "nasty": stamp (site and texts with markup)}."""
    made = {"done": []}
    for index in range(3):
        stamp = uuid.uuid4().hex
        store.store_batch(stamp, pilot_messages(stamp, "LCG.CERN.ch", "ce01.cern.ch"))
        made["done"].append(stamp)
    stamp = uuid.uuid4().hex
    store.store_batch(stamp, pilot_messages(stamp, "LCG.RAL.uk", "ce02.ral.uk", fail_at=1))
    made["failed"] = stamp
    stamp = uuid.uuid4().hex
    store.store_batch(stamp, pilot_messages(stamp, "LCG.RAL.uk", "ce02.ral.uk", with_result=False))
    made["running"] = stamp
    stamp = uuid.uuid4().hex
    store.register(stamp, ce="ce03.in2p3.fr", queue="long", site="LCG.IN2P3.fr", vo="dteam")
    made["submitted"] = stamp
    stamp = uuid.uuid4().hex
    store.store_batch(
        stamp,
        pilot_messages(
            stamp,
            "<script>alert(1)</script>",
            'ce"><b>x',
            fail_at=0,
            reason="<img src=x onerror=alert(2)> & more",
            extra_text="<script>alert(3)</script>",
        ),
    )
    made["nasty"] = stamp
    return made


def request(url, path, headers=None, method="GET", body=None, context=None):
    """(status, headers as a dict of lists, body text) on a new connection."""
    parts = urlsplit(url)
    if parts.scheme == "https":
        connection = http.client.HTTPSConnection(parts.hostname, parts.port, context=context, timeout=30)
    else:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        found = {}
        for name, value in response.getheaders():
            found.setdefault(name.lower(), []).append(value)
        return response.status, found, response.read().decode("utf-8")
    finally:
        connection.close()
