#!/usr/bin/env python3
"""One logbook receiver and tens of thousands of kept-alive TLS pilots, with and without an attack.

For this checkout's receiver and a baseline's (``--baseline COMMIT``, default a2de512, the
threading front before the event loop; run from a ``git archive`` of that commit), each a
``pilotctl logbook serve`` process over TLS on PostgreSQL:

1. **held**: ``--pilots`` pilots (bench/loadgen.py processes, each from its own
   loopback addresses 127.0.0.x) connect within ``--ramp`` s and send a batch of
   ``--messages`` messages every ``--interval`` s on one kept-alive connection, for
   ``--hold`` s.  Printed: connections the server held (its open files less those it
   had before), its RSS growth per connection held, batches answered 200 (%), the
   batches' latency p50/p99 (send -> reply, seen by the generator), the same for the
   batches sent once every pilot had connected (the holding itself, without the connection
   storm: on a slow machine the receiver paces the handshakes and the storm outlasts the
   ramp, so the time the last pilot connected is printed too), the server's CPU, and (this
   checkout's server, from its /metrics over the whole run) the share of its requests
   answered within 250 and 500 ms by its own request-time histogram, which leaves out the
   network and the load generators' own delays, and the mean time and size of a group commit.
2. **attack**: ``--attack-pilots`` pilots as above, while ``--attackers`` sockets
   (a third each slowloris, idle TCP, half TLS handshakes; each comes back at once
   when closed) try to exhaust the server.  The pilots' count is chosen so that
   pilots + attackers stay under the server's open-file limit (20,000 here, less 256
   kept for the database and logs).
3. **ingestion** without held connections: bench_ingest.py's HTTPS burst (its
   pilots, batches and senders) into PostgreSQL, for each server, as a ratio to
   PostgreSQL's own bulk insert of the same rows (``COPY ... FROM STDIN`` of what
   the run stored) and beside the machine's DB12 (the quick estimate, one copy).

Usage (the services of .ci/services.sh running)::

    .venv/bin/python bench/bench_connections.py [--pilots 18000] [--attack-pilots 14000] [--attackers 5000]
        [--interval 30] [--hold 120] [--ramp 30] [--baseline a2de512 | --no-baseline] [--phases held,attack,ingest]

Prints figures; asserts nothing.  Loopback only; every load generator ends by itself
(``--hold`` + 15 s at most); the database it makes is dropped.
"""

import argparse
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path[:0] = [os.path.join(REPO, "pilot_src"), REPO, os.path.join(REPO, "tests"), HERE]

import bench_ingest  # noqa: E402
from support.ports import free_port  # noqa: E402
from pilot_server import tokens  # noqa: E402

SECRET = os.urandom(32)
PER_PROCESS = 4500  # sockets per load generator process (its file limit is 20,000)
PER_ADDRESS = 900  # sockets per source address (the front's default cap is 1,000 an address)


class Server(object):
    """A ``pilotctl logbook serve`` process: this checkout's, or the baseline's (``source``: its PYTHONPATH)."""

    def __init__(self, name, source, database_url, cert, key, secret_file, scratch, ca_file=None):
        self.name = name
        self.port = free_port()
        self.ca_file = ca_file
        self.metrics_token = None
        extra = []
        if not source:  # this checkout's /metrics: the request-time histogram (the baseline has none)
            from pilot_server import tokens

            self.metrics_token = tokens.generate_secret()
            metrics_file = os.path.join(scratch, "metrics-%d.secret" % self.port)
            tokens.write_secret(metrics_file, self.metrics_token)
            extra = ["--metrics-token-file", metrics_file]
        env = dict(os.environ)
        if source:
            env["PYTHONPATH"] = source
        self.log = open(os.path.join(scratch, "serve-%s-%d.log" % (name, self.port)), "w")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pilot_server.cli",
                "logbook",
                "serve",
                "--db",
                database_url,
                "--listen",
                "127.0.0.1:%d" % self.port,
                "--tls-cert",
                cert,
                "--tls-key",
                key,
                "--token-secret",
                secret_file,
                "--log-level",
                "warning",
                "--maintenance-interval",
                "0",
            ]
            + extra,
            env=env,
            stderr=self.log,
            cwd=scratch,
        )
        bench_ingest.wait_port(self.port, 60)
        time.sleep(1)

    def receiver_figures(self, limits=(0.25, 0.5)):
        """From this checkout's /metrics ({} for a server without them): the share of the requests
        answered within ``limits`` seconds in the receiver (its request-time histogram), the mean
        time of a group commit's transaction and the mean batches in one."""
        if not self.metrics_token:
            return {}
        import ssl
        import urllib.request

        from prometheus_client.parser import text_string_to_metric_families

        request = urllib.request.Request(
            "https://127.0.0.1:%d/metrics" % self.port, headers={"Authorization": "Bearer " + self.metrics_token.hex()}
        )
        context = ssl.create_default_context(cafile=self.ca_file)
        context.check_hostname = False
        with urllib.request.urlopen(request, context=context, timeout=30) as response:
            text = response.read().decode("utf-8")
        samples = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name.endswith("_bucket"):
                    key = (sample.name, sample.labels.get("operation"), sample.labels["le"])
                else:
                    key = (sample.name, sample.labels.get("operation"))
                samples[key] = sample.value

        def mean(name, operation=None):
            count = samples.get((name + "_count", operation), 0)
            return samples.get((name + "_sum", operation), 0) / count if count else float("nan")

        total = samples.get(("pilots2_logbook_request_seconds_bucket", None, "+Inf"), 0)
        return {
            "within": dict(
                (limit, samples.get(("pilots2_logbook_request_seconds_bucket", None, repr(limit)), 0) / total)
                for limit in limits
            )
            if total
            else {},
            "request_ms": 1000 * mean("pilots2_logbook_request_seconds"),
            "store_ms": 1000 * mean("pilots2_logbook_database_seconds", "store_batches"),
            "group": mean("pilots2_logbook_group_batches"),
        }

    def rss_kb(self):
        with open("/proc/%d/status" % self.process.pid) as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def files(self):
        return len(os.listdir("/proc/%d/fd" % self.process.pid))

    def cpu(self):
        with open("/proc/%d/stat" % self.process.pid) as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / float(os.sysconf("SC_CLK_TCK"))

    def stop(self):
        """SIGTERM; seconds until it exited (and its exit code)."""
        start = time.time()
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self.log.close()
        return time.time() - start, code


def generators(port, ca_file, roles, duration, ramp, interval, messages, first_address):
    """Load generator processes for ``roles`` ({role: count}), PER_PROCESS sockets each, PER_ADDRESS an address."""
    start_at = time.time() + 2.0
    jobs = []
    address = first_address
    for role, count in roles.items():
        while count > 0:
            take = min(PER_PROCESS, count)
            count -= take
            sources = []
            for _ in range((take + PER_ADDRESS - 1) // PER_ADDRESS):
                sources.append("127.0.%d.%d" % (address // 250, address % 250 + 2))
                address += 1
            jobs.append(
                {
                    "host": "127.0.0.1",
                    "port": port,
                    "sources": sources,
                    "ca_file": ca_file,
                    "duration": duration,
                    "ramp": ramp,
                    "roles": {role: take},
                    "interval": interval,
                    "retry": 2,
                    "messages": messages,
                    "start_at": start_at,
                    "secret": SECRET.hex(),
                }
            )
    procs = []
    for job in jobs:
        proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "loadgen.py")], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        proc.stdin.write(json.dumps(job).encode())
        proc.stdin.close()
        procs.append(proc)
    return procs, address


def collect(procs):
    results = []
    for proc in procs:
        out = proc.stdout.read()
        proc.wait()
        results.append(json.loads(out.decode()) if out else {})
    return results


class Sampler(threading.Thread):
    """The server's RSS and open files every second while the load runs."""

    def __init__(self, server):
        threading.Thread.__init__(self, daemon=True)
        self.server, self.samples, self.stop = server, [], threading.Event()

    def run(self):
        while not self.stop.wait(1.0):
            try:
                self.samples.append((time.time(), self.server.rss_kb(), self.server.files()))
            except OSError:
                return


def percentile(values, p):
    return bench_ingest.percentile(sorted(values), p) * 1000.0 if values else float("nan")


def run_load(server, args, ca_file, pilots, attackers):
    """Figures of one run of ``pilots`` (+ ``attackers``) against ``server``."""
    time.sleep(1)
    base_rss, base_files, base_cpu = server.rss_kb(), server.files(), server.cpu()
    roles = {"pilot": pilots}
    procs, next_address = generators(
        server.port, ca_file, roles, args.ramp + args.hold, args.ramp, args.interval, args.messages, 0
    )
    if attackers:
        third = attackers // 3
        attack = {"slowloris": third, "idle": third, "half": attackers - 2 * third}
        more, _ = generators(
            server.port,
            ca_file,
            attack,
            args.ramp + args.hold,
            args.ramp / 3.0,
            args.interval,
            args.messages,
            next_address,
        )
        procs += more
    sampler = Sampler(server)
    sampler.start()
    results = collect(procs)
    sampler.stop.set()
    sampler.join()
    cpu = server.cpu() - base_cpu
    latencies, statuses, connect_errors, attack_closed = [], {}, {}, 0
    # the hold: the batches sent once every pilot had connected (the pilots' TLS handshakes
    # may take longer than the ramp: the receiver paces them while many requests are in progress)
    connected = [when for result in results for when in result.get("first_connected", [])]
    never = sum(result.get("pilots", 0) for result in results) - len(connected)
    all_connected = max(connected) if connected else None
    hold_latencies, hold_statuses = [], {}
    for result in results:
        for key, value in result.get("statuses", {}).items():
            statuses[key] = statuses.get(key, 0) + value
        for sent, status, latency in result.get("answers", []):
            in_hold = all_connected is not None and sent >= all_connected
            if in_hold:
                hold_statuses[str(status)] = hold_statuses.get(str(status), 0) + 1
            if status == 200:
                latencies.append(latency)
                if in_hold:
                    hold_latencies.append(latency)
        for key, value in result.get("connect_errors", {}).items():
            connect_errors[key] = connect_errors.get(key, 0) + value
        for role in ("slowloris", "idle", "half"):
            attack_closed += len(result.get("closed_after", {}).get(role, []))
    held = [(rss, files) for when, rss, files in sampler.samples]
    steady = held[int(len(held) * 0.5) :] or held
    peak_files = max(files for _, files in steady) if steady else 0
    peak_rss = max(rss for rss, _ in steady) if steady else 0
    connections = max(0, peak_files - base_files)
    answered = sum(statuses.values())
    ok = statuses.get("200", 0)
    duration = args.ramp + args.hold
    due = sum(int((duration - args.ramp * k / float(pilots)) // args.interval) + 1 for k in range(pilots))
    return {
        "connections": connections,
        "kb_per_conn": (peak_rss - base_rss) / float(max(1, connections)),
        "rss_mb": peak_rss / 1024.0,
        "base_mb": base_rss / 1024.0,
        "batches": answered,
        "ok": ok,
        "success": 100.0 * ok / answered if answered else 0.0,
        "due": due,
        "delivered": min(100.0, 100.0 * ok / due),
        "p50": percentile(latencies, 50),
        "p99": percentile(latencies, 99),
        "all_connected": all_connected,
        "never_connected": never,
        "hold_p50": percentile(hold_latencies, 50),
        "hold_p99": percentile(hold_latencies, 99),
        "hold_success": 100.0 * hold_statuses.get("200", 0) / max(1, sum(hold_statuses.values())),
        "hold_answered": sum(hold_statuses.values()),
        "cpu": cpu,
        "statuses": statuses,
        "connect_errors": connect_errors,
        "attack_closed": attack_closed,
    }


def hold_line(row, ramp):
    if row["all_connected"] is None:
        return "no pilot connected"
    return (
        "%s pilot connected %.0f s after the start (the ramp: %.0f s); the batches sent after that: "
        "%d answered, 200: %.2f %%, p50 %.0f ms, p99 %.0f ms"
        % (
            "every"
            if not row["never_connected"]
            else "%d of the %d pilots never connected; the last other" % (row["never_connected"], row["pilots"]),
            row["all_connected"],
            ramp,
            row["hold_answered"],
            row["hold_success"],
            row["hold_p50"],
            row["hold_p99"],
        )
    )


def receiver_line(figures):
    if not figures.get("within"):
        return ""
    return (
        "; in the receiver (its /metrics): %.2f %% of the requests within 250 ms, %.2f %% within 500 ms, "
        "mean %.1f ms; a group commit: mean %.1f ms, %.1f batches"
        % (
            100 * figures["within"][0.25],
            100 * figures["within"][0.5],
            figures["request_ms"],
            figures["store_ms"],
            figures["group"],
        )
    )


def copy_rate(url):
    """Messages/s of PostgreSQL's own bulk insert (COPY FROM STDIN) of the rows the run stored."""
    import io

    import psycopg2

    connection = psycopg2.connect(url)
    try:
        cursor = connection.cursor()
        data = io.StringIO()
        cursor.copy_expert("COPY messages TO STDOUT", data)
        rows = cursor.rowcount
        cursor.execute("CREATE TABLE copy_baseline (LIKE messages INCLUDING ALL)")
        connection.commit()
        data.seek(0)
        start = time.time()
        cursor.copy_expert("COPY copy_baseline FROM STDIN", data)
        connection.commit()
        elapsed = time.time() - start
        cursor.execute("DROP TABLE copy_baseline")
        connection.commit()
        return rows / elapsed if elapsed else 0.0
    finally:
        connection.close()


def ingest(server_source, scratch, secret_file, args):
    """bench_ingest's HTTPS burst into a fresh PostgreSQL database; (messages/s, COPY messages/s, errors,
    the server's CPU microseconds per message)."""
    cert, key = bench_ingest.server_certificate(scratch)
    database = bench_ingest.Database("postgresql", scratch)
    saved = bench_ingest.PILOTCTL, bench_ingest.SECRET
    try:
        if server_source:
            bench_ingest.PILOTCTL = ["env", "PYTHONPATH=%s" % server_source] + saved[0]
        bench_ingest.SECRET = SECRET
        pilots = bench_ingest.make_pilots(args.ingest_pilots, 500, 250)
        options = argparse.Namespace(messages=500, batch=250, senders=16, consumers=2)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        # the baseline's server makes its own schema (it refuses one newer than it knows)
        row = bench_ingest.run_once(
            "https", database, pilots, options, scratch, secret_file, cert, key, make_schema=not server_source
        )
        after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the serve process, waited for by run_once
        cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        return row["rate"], copy_rate(database.url), row["errors"], 1e6 * cpu / max(1, row["messages"])
    finally:
        bench_ingest.PILOTCTL, bench_ingest.SECRET = saved
        database.drop()


def baseline_tree(commit, scratch):
    """This repository's ``commit`` unpacked in scratch: the PYTHONPATH its server runs with (its
    pilot_src, the tree's root, where an older tree keeps compat/, and the six wheel that compat
    imported then)."""
    from pilot_server import pyzbuild

    target = os.path.join(scratch, "baseline-%s" % commit)
    os.makedirs(target)
    archive = subprocess.run(["git", "-C", REPO, "archive", commit], stdout=subprocess.PIPE, check=True).stdout
    subprocess.run(["tar", "-x", "-C", target], input=archive, check=True)
    source = os.pathsep.join([os.path.join(target, "pilot_src"), target, pyzbuild.find_six_wheel()])
    check = subprocess.run(
        [
            sys.executable,
            "-c",
            "import pilot_server.cli as c, pilot_server.logbook as m; c.parser(); print(m.__file__)",
        ],
        env=dict(os.environ, PYTHONPATH=source),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
    )
    if not check.stdout.startswith(target):
        raise SystemExit("the baseline %s does not run from %s: %s" % (commit, target, check.stdout + check.stderr))
    return source


def db12():
    from pilot.cpu import db12 as bench

    result = bench.quick_copy()
    return result["norm"] if result else float("nan")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pilots", type=int, default=18000, help="pilots held (default 18000)")
    parser.add_argument("--attack-pilots", type=int, default=14000, help="pilots during the attack (default 14000)")
    parser.add_argument("--attackers", type=int, default=5000, help="attacking sockets (default 5000)")
    parser.add_argument("--interval", type=float, default=30.0, help="seconds between a pilot's batches (default 30)")
    parser.add_argument("--messages", type=int, default=5, help="messages per batch (default 5)")
    parser.add_argument("--ramp", type=float, default=30.0, help="seconds over which the pilots connect (default 30)")
    parser.add_argument(
        "--hold",
        type=float,
        default=120.0,
        help="seconds the load lasts after the ramp (default 120: on a slow machine the pilots' handshakes "
        "take longer than the ramp, and the hold's figures count from when the last one connected)",
    )
    parser.add_argument(
        "--ingest-pilots", type=int, default=100, help="pilots x 500 messages for ingestion (default 100)"
    )
    parser.add_argument(
        "--ingest-runs", type=int, default=3, help="ingestion runs of each server, interleaved (default 3)"
    )
    parser.add_argument("--baseline", default="a2de512", help="the commit of today's server (default a2de512)")
    parser.add_argument("--no-baseline", action="store_true", help="only this checkout's server")
    parser.add_argument("--phases", default="held,attack,ingest", help="held,attack,ingest (default all)")
    args = parser.parse_args(argv)
    phases = args.phases.split(",")

    sys.path.insert(0, os.path.join(REPO, "tests", "server"))
    from logbook_support import PKI

    scratch = tempfile.mkdtemp(prefix="pilots2-connections-")
    pki = PKI(scratch)
    cert, key = pki.server()
    secret_file = os.path.join(scratch, "token.secret")
    tokens.write_secret(secret_file, SECRET)
    servers = [("this checkout", None)]
    if not args.no_baseline:
        servers.append(("baseline %s" % args.baseline, baseline_tree(args.baseline, scratch)))
    print(
        "bench_connections: Python %s, %d cores, load %.1f at start; pilots send %d messages every %g s"
        % (sys.version.split()[0], os.cpu_count(), os.getloadavg()[0], args.messages, args.interval)
    )
    sys.stdout.flush()
    rows = []
    try:
        for name, source in servers:
            for phase in ("held", "attack"):
                if phase not in phases:
                    continue
                database = bench_ingest.Database("postgresql", scratch)
                try:
                    from pilot_server.logbook.store.logstore import Store

                    if not source:  # a baseline server makes its own (it refuses a newer schema)
                        Store.open(database.url).close()
                    server = Server(name, source, database.url, cert, key, secret_file, scratch, pki.ca_file)
                    load = os.getloadavg()[0]
                    try:
                        pilots = args.pilots if phase == "held" else args.attack_pilots
                        attackers = 0 if phase == "held" else args.attackers
                        row = run_load(server, args, pki.ca_file, pilots, attackers)
                        row["receiver"] = server.receiver_figures()
                    finally:
                        row_stop = server.stop()
                    row.update(
                        {
                            "server": name,
                            "phase": phase,
                            "pilots": pilots,
                            "attackers": attackers,
                            "stop_s": row_stop[0],
                            "exit": row_stop[1],
                            "load": load,
                        }
                    )
                    rows.append(row)
                    print(
                        "%-16s %-6s pilots %6d attackers %5d: held %6d conns, %6.1f KB/conn (RSS %.0f -> %.0f MB); "
                        "batches due %d, answered %d, 200: %.2f %% of answered, %.2f %% of due; p50 %.0f ms, "
                        "p99 %.0f ms; %s; server CPU %.0f s; "
                        "attack sockets closed %d; stop %.1f s (exit %s); load %.1f; statuses %s; connect errors %s%s"
                        % (
                            name,
                            phase,
                            pilots,
                            attackers,
                            row["connections"],
                            row["kb_per_conn"],
                            row["base_mb"],
                            row["rss_mb"],
                            row["due"],
                            row["batches"],
                            row["success"],
                            row["delivered"],
                            row["p50"],
                            row["p99"],
                            hold_line(row, args.ramp),
                            row["cpu"],
                            row["attack_closed"],
                            row["stop_s"],
                            row["exit"],
                            load,
                            row["statuses"],
                            row["connect_errors"],
                            receiver_line(row["receiver"]),
                        )
                    )
                    sys.stdout.flush()
                finally:
                    database.drop()
        if "ingest" in phases:
            score = db12()
            figures = dict((name, []) for name, _ in servers)
            for attempt in range(args.ingest_runs):  # interleaved: each server sees the same machine
                for name, source in servers:
                    load = os.getloadavg()[0]
                    rate, copy, errors, cpu = ingest(source, scratch, secret_file, args)
                    figures[name].append((rate, copy, rate / copy if copy else 0.0, cpu))
                    print(
                        "%-16s ingest %d: HTTPS -> PostgreSQL %.0f msg/s; PostgreSQL COPY of the same rows %.0f "
                        "msg/s; ratio %.3f; server CPU %.1f us/msg; load %.1f%s"
                        % (
                            name,
                            attempt + 1,
                            rate,
                            copy,
                            figures[name][-1][2],
                            cpu,
                            load,
                            "; ERRORS %s" % errors if errors else "",
                        )
                    )
                    sys.stdout.flush()
            for name, _ in servers:
                print(
                    "%-16s ingest median: %.0f msg/s, %.3f of COPY, server CPU %.1f us/msg; DB12 %.1f (quick "
                    "estimate, one copy)"
                    % (
                        name,
                        statistics.median(r[0] for r in figures[name]),
                        statistics.median(r[2] for r in figures[name]),
                        statistics.median(r[3] for r in figures[name]),
                        score,
                    )
                )
            if len(servers) == 2:
                paired = [a[0] / b[0] for a, b in zip(figures[servers[0][0]], figures[servers[1][0]]) if b[0]]
                print(
                    "this checkout / %s, paired ingest rate ratio: median %.2f (runs: %s)"
                    % (servers[1][0], statistics.median(paired), ", ".join("%.2f" % value for value in paired))
                )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return rows


if __name__ == "__main__":
    main()
