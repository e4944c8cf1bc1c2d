"""At CI's scale: 3,000 kept-alive TLS pilots and 1,200 attacking sockets on one `pilotctl logbook serve`.

The pilots and attackers are bench/loadgen.py processes (non-blocking sockets, each
process from its own 127.0.0.x addresses); the server is the real command.  Every batch
a pilot sent is answered 200 (or 503 while more requests wait for the database than the
front queues: the pilot sends it again) and stored exactly once; every attacking socket
is closed by a limit (the TLS handshake deadline, the head deadline) and comes back.
"""

import json
import os
import signal
import subprocess
import sys
import time

from logbook_support import PKI, SECRET
from support.ports import free_port
from support.waiting import wait_until

HERE = os.path.dirname(os.path.abspath(__file__))
LOADGEN = os.path.join(os.path.dirname(os.path.dirname(HERE)), "bench", "loadgen.py")
PILOTCTL = [sys.executable, "-m", "pilot_server.cli"]
METRICS_SECRET = b"metrics-secret-0123456789abcdef0123"


def generator(port, ca_file, roles, sources, start_at, duration, ramp, interval=30):
    job = {
        "host": "127.0.0.1",
        "port": port,
        "sources": sources,
        "ca_file": ca_file,
        "duration": duration,
        "ramp": ramp,
        "roles": roles,
        "interval": interval,
        "retry": 2,
        "messages": 3,
        "start_at": start_at,
        "secret": SECRET.hex(),
    }
    proc = subprocess.Popen([sys.executable, LOADGEN], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    proc.stdin.write(json.dumps(job).encode())
    proc.stdin.close()
    return proc


def test_3000_pilots_and_1200_attackers(tmp_path):
    from prometheus_client.parser import text_string_to_metric_families

    from pilot_server import tokens
    from pilot_server.logbook.store.logstore import Store

    pki = PKI(tmp_path / "pki")
    cert, key = pki.server()
    secret = str(tmp_path / "token.secret")
    tokens.write_secret(secret, SECRET)
    metrics_secret = str(tmp_path / "metrics.secret")
    tokens.write_secret(metrics_secret, METRICS_SECRET)
    port = free_port()
    url = "sqlite:///%s" % (tmp_path / "logbook.sqlite")
    log = open(str(tmp_path / "serve.log"), "w")
    server = subprocess.Popen(
        PILOTCTL
        + [
            "logbook",
            "serve",
            "--db",
            url,
            "--listen",
            "127.0.0.1:%d" % port,
            "--tls-cert",
            cert,
            "--tls-key",
            key,
            "--token-secret",
            secret,
            "--metrics-token-file",
            metrics_secret,
            "--handshake-timeout",
            "3",
            "--head-timeout",
            "3",
            "--log-level",
            "warning",
        ],
        stderr=log,
    )
    procs = []
    try:
        import socket

        def listening():
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return True
            except OSError:
                return False

        wait_until(listening, 60, 0.1, what="serve to listen")
        start_at = time.time() + 2
        duration, ramp = 50, 20  # each pilot sends at once, then every 30 s, as pilots do
        for index in range(4):  # 3,000 pilots, 750 an address (the default cap is 1,000 an address)
            procs.append(
                generator(port, pki.ca_file, {"pilot": 750}, ["127.0.1.%d" % (index + 1)], start_at, duration, ramp)
            )
        attack = generator(
            port,
            pki.ca_file,
            {"slowloris": 400, "idle": 400, "half": 400},
            ["127.0.2.1", "127.0.2.2"],
            start_at,
            duration,
            3,
        )
        results = [json.loads(proc.stdout.read().decode()) for proc in procs]
        attacked = json.loads(attack.stdout.read().decode())
        for proc in procs + [attack]:
            proc.wait(60)

        # every batch answered, and what was acknowledged stored exactly once
        statuses, acked = {}, {}
        for result in results:
            for status, count in result["statuses"].items():
                statuses[status] = statuses.get(status, 0) + count
            acked.update(result["acked"])
        # 503 (with Retry-After) is the answer when more requests wait for the database than the front
        # queues; the pilot sends the same messages again later, as the generator does
        assert set(statuses) <= {"200", "503"} and statuses["200"] >= 3000, statuses
        assert len(acked) == 3000 and min(acked.values()) >= 3
        store = Store.open(url, migrate=False, pool_size=1)
        try:
            from sqlalchemy import text

            with store.engine.connect() as connection:
                rows = connection.execute(
                    text("SELECT stamp, COUNT(*), COUNT(DISTINCT seq), MIN(seq), MAX(seq) FROM messages GROUP BY stamp")
                ).fetchall()
        finally:
            store.close()
        stored = dict((row[0], tuple(row[1:])) for row in rows)
        assert set(stored) == set(acked)
        wrong = [
            (stamp, stored[stamp], last) for stamp, last in acked.items() if stored[stamp] != (last, last, 1, last)
        ]
        assert not wrong, wrong[:5]

        # every kind of attacker was closed (and came back), counted by reason in the metrics
        for role in ("slowloris", "idle", "half"):
            assert len(attacked["closed_after"].get(role, [])) >= 400, (
                role,
                len(attacked["closed_after"].get(role, [])),
            )
        import http.client
        import ssl

        connection = http.client.HTTPSConnection("127.0.0.1", port, context=pki.client_context(), timeout=30)
        connection.request("GET", "/metrics", headers={"Authorization": "Bearer " + METRICS_SECRET.hex()})
        text_metrics = connection.getresponse().read().decode()
        connection.close()
        refused = dict(
            (sample.labels["reason"], sample.value)
            for family in text_string_to_metric_families(text_metrics)
            for sample in family.samples
            if sample.name == "pilots2_logbook_connections_refused_total"
        )
        assert refused["handshake_timeout"] >= 800 and refused["head_timeout"] >= 400, refused
        assert ssl  # (the client context above)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
        server.send_signal(signal.SIGTERM)
        try:
            code = server.wait(60)
        finally:
            log.close()
    assert code == 0, open(str(tmp_path / "serve.log")).read()[-2000:]
