#!/usr/bin/env python3
"""Logbook ingestion: messages/s and the time from a pilot to the database, per path and database.

For each database (SQLite file, PostgreSQL and MariaDB on this machine) and each
path (HTTPS to ``pilotctl logbook serve``; STOMP to RabbitMQ, then
``pilotctl logbook consume``), N pilots send M messages each at once, in batches
of B, from ``--senders`` threads of this process (the batches are encoded
before the clock starts: encoding is the pilot's cost, not the logbook's).  The
logbook runs as separate processes, as in production.

* rate: messages / seconds from the first send to the moment every message is
  readable in the database;
* latency: for each batch, the time from the moment it leaves its sender to
  the moment its last message is readable, seen by a poller that reads the
  pilots' ``last_seq`` every 10 ms (p50, p99).

The ``store`` path measures the logbook's write path alone, as the group commit drives
it: ``--store-pilots`` pilots each send ``--store-rounds`` small batches of
``--store-messages`` messages (what a pilot sends every ~30 s); the batches of 64
different pilots make a group, and ``--writers`` threads each store one group after
the other with ``Store.store_batches``.  With ``--baseline COMMIT`` the same
workload also runs on that commit's store (a ``git archive`` of it, in its own
process), interleaved with this checkout's, ``--store-runs`` times each; printed:
batches/s of each and the paired ratios.

Usage (from the checkout, with the services of .ci/services.sh running)::

    .venv/bin/python bench/bench_ingest.py [--pilots 200] [--messages 500] [--batch 250]
        [--databases sqlite,postgresql,mariadb] [--paths https,rabbitmq,store] [--consumers 2]
        [--baseline COMMIT] [--store-runs 3] [--writers 2]

Prints a table; asserts nothing.  Databases and queues it makes are removed.
"""

import argparse
import http.client
import json
import os
import queue as queuelib
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
# this checkout's pilot_src first; a store-path worker of a baseline runs with that commit's instead
SOURCE = os.environ.get("PILOTS2_BENCH_SOURCE") or os.path.join(REPO, "pilot_src")
sys.path[:0] = [SOURCE, REPO, os.path.join(REPO, "tests")]

from pilot_server.worker import messages as wire  # noqa: E402
from pilot_server import tokens  # noqa: E402
from support.certificates import self_signed  # noqa: E402
from support.ports import free_port, port_open  # noqa: E402
from support.waiting import wait_until  # noqa: E402

SECRET = os.urandom(32)
BROKER = "amqp://guest:guest@127.0.0.1:5672/"
STOMP_PORT = 61613
PILOTCTL = [sys.executable, "-m", "pilot_server.cli", "logbook"]
TEXTS = [
    "Checking the worker node: %d MB free in the work directory",
    "pip: Collecting DIRAC==9.0.%d (from -r requirements.txt)",
    "dirac-configure: setting /LocalSite/CPUNormalizationFactor to %d.0",
    "JobAgent: no match found, waiting %d s before the next request",
]


def make_pilots(count, messages, batch):
    """[(stamp, token, [(last_seq, body), ...])]: what each pilot will send."""
    pilots = []
    base = time.time()
    for _ in range(count):
        stamp = uuid.uuid4().hex
        items = []
        for seq in range(1, messages + 1):
            if seq % 50 == 1:
                items.append(
                    wire.message(
                        stamp,
                        seq,
                        base + seq * 0.01,
                        "InstallDIRAC ok after 12.5 s",
                        source="InstallDIRAC",
                        kind="command",
                        phase="Installing",
                        status="ok",
                        data={"duration": 12.5, "failure_type": None, "reason": None},
                    )
                )
            else:
                items.append(
                    wire.message(
                        stamp,
                        seq,
                        base + seq * 0.01,
                        TEXTS[seq % 4] % seq,
                        source="InstallDIRAC",
                        stream="stdout" if seq % 3 else None,
                    )
                )
        batches = [
            (items[i : i + batch][-1]["seq"], wire.encode(wire.batch(stamp, items[i : i + batch])))
            for i in range(0, len(items), batch)
        ]
        pilots.append((stamp, tokens.make_token(SECRET, stamp), batches))
    return pilots


# -- databases --------------------------------------------------------------------------------


class Database(object):
    def __init__(self, family, scratch):
        import sqlalchemy

        self.family = family
        self.name = "pilots2_bench_%s" % uuid.uuid4().hex[:8]
        if family == "sqlite":
            self.url = "sqlite:///%s" % os.path.join(scratch, "%s.sqlite" % self.name)
            return
        admin = (
            "postgresql://postgres@127.0.0.1/postgres" if family == "postgresql" else "mysql+pymysql://root@127.0.0.1/"
        )
        self.admin = sqlalchemy.create_engine(admin, isolation_level="AUTOCOMMIT")
        with self.admin.connect() as connection:
            connection.execute(sqlalchemy.text("CREATE DATABASE %s" % self.name))
        self.url = admin.rsplit("/", 1)[0] + "/" + self.name

    def drop(self):
        import sqlalchemy

        if self.family == "sqlite":
            return
        with self.admin.connect() as connection:
            if self.family == "postgresql":
                connection.execute(
                    sqlalchemy.text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '%s'" % self.name
                    )
                )
            connection.execute(sqlalchemy.text("DROP DATABASE %s" % self.name))
        self.admin.dispose()


class Poller(threading.Thread):
    """Reads every pilot's last_seq every 10 ms; records when each (stamp, seq) became readable."""

    def __init__(self, url, total):
        threading.Thread.__init__(self, daemon=True)
        from pilot_server.logbook.store.database import make_engine

        # a plain engine: the schema may be another version's (a baseline server's), and only
        # stamp, last_seq and message_count are read, which every version has
        self.engine = make_engine(url, pool_size=1)
        self.total = total
        self.seen = {}
        self.done = threading.Event()
        self.stop = threading.Event()

    def run(self):
        from sqlalchemy import func, select

        from pilot_server.logbook.store import schema

        pilots = schema.pilots
        while not self.stop.is_set():
            with self.engine.connect() as connection:
                rows = connection.execute(select(pilots.c.stamp, pilots.c.last_seq)).all()
                stored = connection.execute(select(func.sum(pilots.c.message_count))).scalar() or 0
            now = time.time()
            for stamp, last in rows:
                self.seen.setdefault((stamp, last), now)
            if stored >= self.total:
                self.done.set()
                break
            time.sleep(0.01)
        self.engine.dispose()


# -- senders ------------------------------------------------------------------------------------


class Pace(object):
    """None (as fast as possible), or a steady total rate: each batch waits for its slot."""

    def __init__(self, rate, batch):
        self.interval = batch / float(rate) if rate else 0.0
        self.lock = threading.Lock()
        self.next = None

    def wait(self):
        if not self.interval:
            return
        with self.lock:
            now = time.time()
            self.next = max(self.next or now, now - 1.0)
            slot, self.next = self.next, self.next + self.interval
        if slot > now:
            time.sleep(slot - now)


def https_sender(port, context, work, sent, errors, pace):
    while True:
        try:
            stamp, token, batches = work.get_nowait()
        except queuelib.Empty:
            return
        try:
            connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=60)
            for last, payload in batches:
                pace.wait()
                sent[(stamp, last)] = time.time()
                connection.request(
                    "POST",
                    "/api/v1/logs",
                    body=payload,
                    headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"},
                )
                response = connection.getresponse()
                response.read()
                if response.status != 200:
                    errors.append(response.status)
            connection.close()
        except Exception as exc:
            errors.append(repr(exc))


def stomp_sender(queue, work, sent, errors, pace):
    from pilot_server.logbook.clients.stompsend import StompSender

    try:
        sender = StompSender("127.0.0.1", STOMP_PORT)
    except Exception as exc:
        errors.append(repr(exc))
        return
    while True:
        try:
            stamp, token, batches = work.get_nowait()
        except queuelib.Empty:
            break
        try:
            for last, payload in batches:
                pace.wait()
                sent[(stamp, last)] = time.time()
                sender.send("/queue/" + queue, payload, {"pilot-token": token})
        except Exception as exc:
            errors.append(repr(exc))
    sender.close()


# -- one run -----------------------------------------------------------------------------------


def wait_port(port, timeout=30):
    wait_until(lambda: port_open(port), timeout, 0.1, what="the logbook to listen on port %d" % port)


def run_once(path, database, pilots, args, scratch, secret_file, cert, key, rate=None, make_schema=True):
    """One ingestion run.  make_schema=False: the server makes its schema itself (another version of
    the code, which refuses a schema newer than it knows)."""
    from pilot_server.logbook.store.database import make_engine
    from pilot_server.logbook.store.logstore import Store

    if make_schema:
        Store.open(database.url).close()  # schema made before the clock starts
    total = len(pilots) * args.messages
    pace = Pace(rate, args.batch)
    processes = []
    queue = "pilots2.bench.%s" % uuid.uuid4().hex[:8]
    log = open(os.path.join(scratch, "logbook-%s-%s.log" % (path, database.family)), "w")
    if path == "https":
        port = free_port()
        processes.append(
            subprocess.Popen(
                PILOTCTL
                + [
                    "serve",
                    "--db",
                    database.url,
                    "--listen",
                    "127.0.0.1:%d" % port,
                    "--tls-cert",
                    cert,
                    "--tls-key",
                    key,
                    "--token-secret",
                    secret_file,
                    "--log-level",
                    "warning",
                ],
                stderr=log,
            )
        )
        wait_port(port)
        context = ssl.create_default_context(cafile=cert)
    else:
        for _ in range(args.consumers):
            processes.append(
                subprocess.Popen(
                    PILOTCTL
                    + [
                        "consume",
                        "--db",
                        database.url,
                        "--broker",
                        BROKER,
                        "--queue",
                        queue,
                        "--token-secret",
                        secret_file,
                        "--log-level",
                        "warning",
                    ],
                    stderr=log,
                )
            )
        time.sleep(1.5)
    work = queuelib.Queue()
    for pilot in pilots:
        work.put(pilot)
    sent, errors = {}, []
    poller = Poller(database.url, total)
    if path == "https":
        threads = [
            threading.Thread(target=https_sender, args=(port, context, work, sent, errors, pace))
            for _ in range(args.senders)
        ]
    else:
        threads = [
            threading.Thread(target=stomp_sender, args=(queue, work, sent, errors, pace)) for _ in range(args.senders)
        ]
    poller.start()
    start = time.time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    finished = poller.done.wait(600)
    elapsed = (max(poller.seen.values()) if finished else time.time()) - start
    poller.stop.set()
    poller.join(5)
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
    log.close()
    if path == "rabbitmq":
        import pika

        connection = pika.BlockingConnection(pika.URLParameters(BROKER))
        connection.channel().queue_delete(queue)
        connection.close()
    latencies = sorted(poller.seen[key] - sent[key] for key in sent if key in poller.seen)
    store = Store(make_engine(database.url, pool_size=1))  # no schema check: it may be a baseline's
    stored = store.counts()[1]
    store.engine.dispose()
    return {
        "path": path,
        "database": database.family,
        "messages": stored,
        "expected": total,
        "load": "%s msg/s" % "{:,}".format(rate) if rate else "burst",
        "seconds": elapsed,
        "rate": stored / elapsed if elapsed else 0.0,
        "p50": percentile(latencies, 50),
        "p99": percentile(latencies, 99),
        "errors": errors[:3],
    }


# -- the store path --------------------------------------------------------------------------------

GROUP = 64  # batches of different pilots in one group (the group commit's largest)


def store_worker(job):
    """In a process whose pilot_src is ``SOURCE``: store the job's groups into ``job["url"]`` from
    ``job["writers"]`` threads; prints {"seconds", "batches", "messages", "stored", "source"}."""
    import pilot_server
    from pilot_server.logbook.store.logstore import Batch, Store

    if not os.path.abspath(pilot_server.__file__).startswith(os.path.abspath(SOURCE)):
        raise SystemExit("the store worker runs %s, not %s" % (pilot_server.__file__, SOURCE))
    base = time.time()
    stamps = [uuid.uuid4().hex for _ in range(job["pilots"])]
    groups = []
    size = job["messages"]
    for round_ in range(job["rounds"]):
        batches = []
        for stamp in stamps:
            first = round_ * size + 1
            items = []
            for seq in range(first, first + size):
                if seq % 50 == 1:
                    items.append(
                        wire.message(
                            stamp,
                            seq,
                            base + seq,
                            "InstallDIRAC ok after 12.5 s",
                            source="InstallDIRAC",
                            kind="command",
                            phase="Installing",
                            status="ok",
                            data={"duration": 12.5},
                        )
                    )
                else:
                    items.append(
                        wire.message(
                            stamp,
                            seq,
                            base + seq,
                            TEXTS[seq % 4] % seq,
                            source="JobAgent",
                            stream="stdout" if seq % 3 else None,
                        )
                    )
            batches.append(Batch(stamp, items))
        groups.extend(batches[i : i + GROUP] for i in range(0, len(batches), GROUP))
    store = Store.open(job["url"], pool_size=job["writers"] + 1)
    work = queuelib.Queue()
    for group in groups:
        work.put(group)
    stored, errors = [], []

    def writer():
        while True:
            try:
                group = work.get_nowait()
            except queuelib.Empty:
                return
            try:
                stored.append(sum(outcome.stored for outcome in store.store_batches(group)))
            except Exception as exc:
                errors.append(repr(exc)[:200])

    threads = [threading.Thread(target=writer) for _ in range(job["writers"])]
    start = time.time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.time() - start
    rows = store.counts()[1]
    store.close()
    print(
        json.dumps(
            {
                "seconds": seconds,
                "batches": sum(len(group) for group in groups),
                "stored": sum(stored),
                "rows": rows,
                "errors": errors[:3],
                "source": pilot_server.__file__,
            }
        )
    )


def baseline_source(commit, scratch):
    """``commit`` of this repository unpacked in scratch (git archive); its pilot_src."""
    target = os.path.join(scratch, "baseline-%s" % commit)
    os.makedirs(target)
    archive = subprocess.run(["git", "-C", REPO, "archive", commit], stdout=subprocess.PIPE, check=True).stdout
    subprocess.run(["tar", "-x", "-C", target], input=archive, check=True)
    return os.path.join(target, "pilot_src")


def run_store(family, source, args, scratch):
    """One store-path run on a fresh database of ``family``, by the store of ``source`` (None: this checkout)."""
    database = Database(family, scratch)
    try:
        job = {
            "url": database.url,
            "pilots": args.store_pilots,
            "rounds": args.store_rounds,
            "messages": args.store_messages,
            "writers": args.writers,
        }
        env = dict(os.environ)
        if source:
            env["PILOTS2_BENCH_SOURCE"] = source
            env["PYTHONPATH"] = source
        done = subprocess.run(
            [sys.executable, os.path.abspath(__file__), "--store-worker", json.dumps(job)],
            env=env,
            stdout=subprocess.PIPE,
            universal_newlines=True,
            check=True,
        )
        result = json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        database.drop()
    result["rate"] = result["batches"] / result["seconds"]
    return result


def store_path(args, scratch):
    """The store path of this checkout (and of ``--baseline``), interleaved; prints and returns rows."""
    import statistics

    servers = [("this checkout", None)]
    if args.baseline:
        servers.append(("baseline %s" % args.baseline, baseline_source(args.baseline, scratch)))
    print(
        "store path: %d pilots x %d batches of %d messages, groups of %d batches, %d writer threads, "
        "%d runs each, interleaved"
        % (args.store_pilots, args.store_rounds, args.store_messages, GROUP, args.writers, args.store_runs)
    )
    rows = []
    for family in args.databases.split(","):
        rates = dict((name, []) for name, _ in servers)
        for attempt in range(args.store_runs):
            for name, source in servers:
                load = os.getloadavg()[0]
                result = run_store(family, source, args, scratch)
                rates[name].append(result["rate"])
                expected = args.store_pilots * args.store_rounds * args.store_messages
                print(
                    "  store %-10s %-22s run %d: %7.0f batches/s (%8.0f msg/s), %d rows of %d, acks count %d; "
                    "load %.1f%s"
                    % (
                        family,
                        name,
                        attempt + 1,
                        result["rate"],
                        result["rate"] * args.store_messages,
                        result["rows"],
                        expected,
                        result["stored"],
                        load,
                        "  ERRORS %s" % result["errors"] if result["errors"] else "",
                    ),
                    flush=True,
                )
        for name, _ in servers:
            rows.append({"database": family, "server": name, "median": statistics.median(rates[name])})
            print("  store %-10s %-22s median %7.0f batches/s" % (family, name, statistics.median(rates[name])))
        if len(servers) == 2:
            paired = [a / b for a, b in zip(rates[servers[0][0]], rates[servers[1][0]]) if b]
            print(
                "  store %-10s this checkout / %s, paired ratio: median %.2f (runs: %s)"
                % (family, servers[1][0], statistics.median(paired), ", ".join("%.2f" % value for value in paired)),
                flush=True,
            )
            rows[-2]["ratio"] = statistics.median(paired)
    return rows


def server_certificate(scratch):
    """(certificate, key) files of a throwaway self-signed EC certificate for 127.0.0.1 (the senders trust it)."""
    return self_signed(scratch, days=1, san="IP:127.0.0.1", newkey=("ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"))


def percentile(values, p):
    if not values:
        return float("nan")
    index = min(len(values) - 1, max(0, int(round(p / 100.0 * len(values) + 0.5)) - 1))
    return values[index]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pilots", type=int, default=200)
    parser.add_argument("--messages", type=int, default=500, help="messages per pilot")
    parser.add_argument("--batch", type=int, default=250, help="messages per batch")
    parser.add_argument("--senders", type=int, default=16, help="concurrent sending threads")
    parser.add_argument("--consumers", type=int, default=2, help="consumer processes (RabbitMQ path)")
    parser.add_argument("--databases", default="sqlite,postgresql,mariadb")
    parser.add_argument("--paths", default="https,rabbitmq")
    parser.add_argument(
        "--paced",
        type=int,
        default=5000,
        metavar="RATE",
        help="also measure the latency at a steady RATE msg/s below capacity, with a quarter "
        "of the pilots (0: skip); the burst's latency is mostly the time waiting in line",
    )
    parser.add_argument(
        "--baseline", metavar="COMMIT", help="store path: also run the store of this commit (git archive), interleaved"
    )
    parser.add_argument("--store-pilots", type=int, default=640, help="store path: pilots (default 640)")
    parser.add_argument("--store-rounds", type=int, default=5, help="store path: batches per pilot (default 5)")
    parser.add_argument("--store-messages", type=int, default=5, help="store path: messages per batch (default 5)")
    parser.add_argument("--store-runs", type=int, default=3, help="store path: runs of each store (default 3)")
    parser.add_argument(
        "--writers", type=int, default=2, help="store path: writer threads, as the group commit's (default 2)"
    )
    parser.add_argument("--store-worker", metavar="JOB", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.store_worker:
        return store_worker(json.loads(args.store_worker))
    scratch = tempfile.mkdtemp(prefix="pilots2-bench-")
    secret_file = os.path.join(scratch, "secret")
    tokens.write_secret(secret_file, SECRET)
    cert, key = server_certificate(scratch)
    print(
        "logbook ingestion: %d pilots x %d messages, batches of %d, %d sender threads, %d consumers; "
        "%d cores" % (args.pilots, args.messages, args.batch, args.senders, args.consumers, os.cpu_count())
    )
    results = []
    try:
        loads = [(args.pilots, None)] + ([(max(1, args.pilots // 4), args.paced)] if args.paced else [])
        paths = args.paths.split(",")
        if "store" in paths:
            store_path(args, scratch)
        for family in args.databases.split(","):
            for path in paths:
                if path == "store":
                    continue
                for count, rate in loads:
                    pilots = make_pilots(count, args.messages, args.batch)
                    database = Database(family, scratch)
                    try:
                        result = run_once(path, database, pilots, args, scratch, secret_file, cert, key, rate)
                    finally:
                        database.drop()
                    results.append(result)
                    print(
                        "  %-8s %-10s %-14s %7d msgs  %6.2f s  %8.0f msg/s  p50 %6.0f ms  p99 %6.0f ms%s"
                        % (
                            result["path"],
                            result["database"],
                            result["load"],
                            result["messages"],
                            result["seconds"],
                            result["rate"],
                            result["p50"] * 1000,
                            result["p99"] * 1000,
                            "  ERRORS %s" % result["errors"] if result["errors"] else "",
                        ),
                        flush=True,
                    )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if not results:
        return 0
    print()
    print("| path | database | load | messages | seconds | messages/s | latency p50 | latency p99 |")
    print("|---|---|---|---|---|---|---|---|")
    for result in results:
        print(
            "| %s | %s | %s | %d | %.2f | %s | %.0f ms | %.0f ms |"
            % (
                result["path"],
                result["database"],
                result["load"],
                result["messages"],
                result["seconds"],
                "{:,.0f}".format(result["rate"]),
                result["p50"] * 1000,
                result["p99"] * 1000,
            )
        )
    best = max((r for r in results if r["load"] == "burst"), key=lambda r: r["rate"]) if results else None
    if best:
        print("\nbest path: %s + %s, %s messages/s" % (best["path"], best["database"], "{:,.0f}".format(best["rate"])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
