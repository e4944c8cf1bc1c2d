#!/usr/bin/env python3
"""Response times of the logbook's web pages with 100,000 and 1,000,000 pilots stored.

For each size and database, a logbook is filled by a bulk generator (about 20 messages per
pilot: set-up lines, four commands with their start, output and end, a heartbeat and the
result; 12 % of the pilots fail at a random command; 60 sites, 180 CEs, 4 VOs, 30 days),
written straight into the schema's tables (SQLite ``executemany``, PostgreSQL ``COPY``,
MariaDB multi-row ``INSERT``) in the shape the store itself writes.  Then a real
``pilotctl logbook serve`` process serves it and this script times, over HTTP with the
admin token, the median of ``--repeat`` requests of:

* list pages: the newest pilots; filtered by site, by state, by site and state; the 20th
  page (following the keyset links); the last day; a failure-reason text search (a reason of
  1.5 % of the pilots, and a text that no pilot has);
* pilot pages: random pilots (a different one each request);
* statistics: all time; one site over all time; the last day, what /stats opens on.  These
  read the pre-aggregated counts (schema step 5), which the bulk generator does not write: the
  script runs ``pilotctl logbook aggregates rebuild`` after generating and prints its time.  For
  a paired baseline it also times, in its own process, the same three statistics computed from
  the rows (``stats.compute_from_rows``, what every statistics request did before step 5), and on
  SQLite the reason search with and without its FTS5 index (schema step 7).

Usage (from the checkout, with the services of .ci/services.sh running)::

    .venv/bin/python bench/bench_logbook_pages.py [--sizes 20000,100000] [--db sqlite,postgresql]
        [--repeat 7] [--keep] [--workdir /tmp/pilots2-bench-pages] [--tag NAME]

``--sizes 100000,1000000`` gives the figures of docs/benchmarks.md (1,000,000 pilots are about
20,000,000 messages: some 4-5 GB per database and 10-20 minutes of generation each).
``--keep`` keeps the generated databases (SQLite files in --workdir, databases named
pilots2_bench_pages_<size>) and reuses them when their pilot count matches.  Prints a
table; asserts nothing.
"""

import argparse
import http.client
import io
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path[:0] = [os.path.join(REPO, "pilot_src"), REPO, os.path.join(REPO, "tests")]

from pilot_server import tokens  # noqa: E402
from pilot_server.logbook.store.groupwrite import INSERT_COLUMNS as MESSAGE_COLUMNS  # noqa: E402
from support.ports import free_port  # noqa: E402

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
MYSQL_ADMIN = "mysql+pymysql://root@127.0.0.1:3306/"
PILOTCTL = [sys.executable, "-m", "pilot_server.cli", "logbook"]
COMMANDS = ("CheckWorkerNode", "InstallDIRAC", "ConfigureDIRAC", "LaunchAgent")
REASONS = (
    "download of DIRAC failed: timeout after 3 attempts",
    "not enough disk space: 812 MB free, 5000 MB needed",
    "dirac-configure exited with code 1",
    "no CA certificates in /etc/grid-security/certificates",
    "JobAgent stopped: no more jobs to match",
    "pip: could not find a version for DIRAC==9.0.1",
    "the node has no cvmfs mount for /cvmfs/dirac.egi.eu",
    "CPU time left 1200 s is below 3600 s",
)
FAILURE_TYPES = ("network", "node", "configure", "node", "agent", "install", "node", "node")
STATE_SHARES = (
    ("Done", 0.70),
    ("Failed", 0.12),
    ("Running", 0.08),
    ("Submitted", 0.04),
    ("Waiting", 0.02),
    ("Aborted", 0.01),
    ("Deleted", 0.01),
    ("Lost", 0.02),
)
SITES = ["LCG.Site%02d.%s" % (index, ("ch", "uk", "fr", "de", "it", "es")[index % 6]) for index in range(60)]
VOS = ("lhcb", "belle", "dteam", "ilc")
DAYS = 30


# -- the data ----------------------------------------------------------------------------------


def pick_state(rng):
    value, total = rng.random(), 0.0
    for state, share in STATE_SHARES:
        total += share
        if value < total:
            return state
    return "Done"


def generate(count, seed=7, now=None):
    """Yields (pilot row dict, [message tuples], [command tuples], [state tuples]) for `count`
    pilots, stamps in sorted order.  Command and state rows are what the store keeps in its
    ``commands`` and ``pilot_states`` tables (schema step 3) for the same messages."""
    rng = random.Random(seed)
    now = now or time.time()
    stamps = sorted(uuid.UUID(int=rng.getrandbits(128), version=4).hex for _ in range(count))
    for stamp in stamps:
        site_index = rng.randrange(len(SITES))
        site = SITES[site_index]
        ce = "ce%02d.%s" % (rng.randrange(3), site.lower().replace("lcg.", ""))
        vo = VOS[rng.randrange(len(VOS))]
        queue = ("long", "short", "multicore")[rng.randrange(3)]
        version = ("2.0.0", "2.0.1", "2.1.0")[rng.randrange(3)]
        state = pick_state(rng)
        submitted = now - rng.random() * DAYS * 86400
        start = submitted + 30 + rng.random() * 1800
        if state == "Running":  # still running: started within the last hours, heard of minutes ago
            submitted = now - 600 - rng.random() * 6 * 3600
            start = submitted + 30 + rng.random() * 300
        pilot = {
            "stamp": stamp,
            "vo": vo,
            "site": site,
            "ce": ce,
            "queue": queue,
            "version": version,
            "status": state,
            "registered": True,
            "submitted_time": submitted,
            "status_source": "submitter"
            if state in ("Submitted", "Waiting", "Aborted", "Deleted")
            else ("logbook" if state == "Lost" else "pilot"),
        }
        transitions = [(stamp, "Submitted", submitted, "submitter")]
        if state in ("Submitted", "Waiting", "Aborted", "Deleted"):
            seen = submitted + rng.random() * 600
            if state != "Submitted":
                transitions.append((stamp, state, seen, "submitter"))
            pilot.update(
                first_seen=submitted, last_seen=seen, last_seq=0, message_count=0, message_bytes=0, status_time=seen
            )
            yield pilot, [], [], transitions
            continue
        fail_at = rng.randrange(len(COMMANDS)) if state == "Failed" else None
        reason_index = rng.randrange(len(REASONS))
        messages = []
        clock = [start]

        def add(kind, level, source, text, phase=None, status=None, stream=None, data=None, step=0.5):
            clock[0] += step
            messages.append(
                (
                    stamp,
                    len(messages) + 1,
                    clock[0],
                    clock[0] + 0.2,
                    kind,
                    level,
                    source,
                    phase,
                    status,
                    stream,
                    text,
                    json.dumps(data, separators=(",", ":"), sort_keys=True) if data is not None else None,
                )
            )

        add(
            "log",
            "INFO",
            "Pilot",
            "Pilots 2.0 pilot %s starting on wn%04d with Python 3.9.18" % (version, rng.randrange(10000)),
        )
        add(
            "log",
            "INFO",
            "Pilot",
            "Pilot stamp %s; commands: %s" % (stamp, ",".join(COMMANDS)),
            data={
                "version": version,
                "site": site,
                "ce": ce,
                "queue": queue,
                "vo": vo,
                "setup": "Production",
                "release": "v9.0.1",
                "hostname": "wn%04d.example.org" % rng.randrange(10000),
                "python": "3.9.18",
            },
        )
        results, command_rows = [], []
        for index, name in enumerate(COMMANDS):
            began = clock[0] + 0.5
            add("command", "INFO", name, "=== %s (builtin) ===" % name, name, "started")
            add("log", "INFO", name, "%s: step 1 of 2" % name, name, step=rng.random() * 20)
            if index == fail_at:
                add(
                    "log",
                    "WARNING",
                    name,
                    "%s (stderr): %s" % (name.lower(), REASONS[reason_index][:40]),
                    name,
                    stream="stderr",
                    step=rng.random() * 30,
                )
                took = clock[0] + 0.5 - began
                add(
                    "command",
                    "ERROR",
                    name,
                    "%s failed after %.2f s: %s" % (name, took, REASONS[reason_index]),
                    name,
                    "failed",
                    data={
                        "duration": round(took, 3),
                        "failure_type": FAILURE_TYPES[reason_index],
                        "reason": REASONS[reason_index],
                    },
                )
                results.append(
                    {
                        "name": name,
                        "status": "failed",
                        "duration": round(took, 3),
                        "failure_type": FAILURE_TYPES[reason_index],
                    }
                )
                command_rows.append(
                    (stamp, name, "failed", began, round(took, 3), FAILURE_TYPES[reason_index], REASONS[reason_index])
                )
                break
            if state == "Running" and index == 3:
                command_rows.append((stamp, name, "running", began, None, None, None))
                break
            add(
                "log",
                "DEBUG" if index % 2 else "INFO",
                name,
                "%s: step 2 of 2" % name,
                name,
                step=rng.random() * (120 if name == "InstallDIRAC" else 10),
            )
            took = clock[0] + 0.5 - began
            add(
                "command",
                "INFO",
                name,
                "%s done in %.2f s" % (name, took),
                name,
                "ok",
                data={"duration": round(took, 3), "failure_type": None, "reason": None},
            )
            results.append({"name": name, "status": "ok", "duration": round(took, 3), "failure_type": None})
            command_rows.append((stamp, name, "ok", began, round(took, 3), None, None))
            if name == "CheckWorkerNode":
                pilot["db12"] = round(max(2.0, rng.gauss(22, 7)), 2)
                add("log", "INFO", name, "DB12 %.2f" % pilot["db12"], name)
        add(
            "heartbeat",
            "INFO",
            COMMANDS[min(len(results), len(COMMANDS)) - 1],
            "",
            data={
                "load1": round(rng.random() * 8, 2),
                "memory_available_mb": 2048,
                "disk_free_mb": 20000,
                "agent_alive": state != "Failed",
                "interval": 300,
            },
        )
        pilot.update(first_seen=start, heartbeat_time=clock[0], running_time=start)
        transitions.append((stamp, "Running", start, "pilot"))
        if state in ("Done", "Failed"):
            for name in COMMANDS[len(results) :]:
                results.append({"name": name, "status": "not run", "duration": None, "failure_type": None})
            code = 0 if state == "Done" else 11
            failed = COMMANDS[fail_at] if fail_at is not None else None
            reason = REASONS[reason_index] if fail_at is not None else None
            add(
                "result",
                "ERROR" if code else "INFO",
                "Pilot",
                "result: exit code %d" % code,
                status=state.lower(),
                data={
                    "pilot": {
                        "exit_code": code,
                        "status": state.lower(),
                        "failed_command": failed,
                        "reason": reason,
                        "duration": round(clock[0] - start, 3),
                        "version": version,
                    },
                    "commands": results,
                    "usage": {"wall_seconds": round(clock[0] - start, 3), "jobs": 1},
                },
            )
            pilot.update(exit_code=code, failed_command=failed, reason=reason, result_time=clock[0])
            transitions.append((stamp, state, clock[0], "pilot"))
        else:
            pilot.pop("db12", None)  # the score reaches the logbook with the result
        last = clock[0] + 0.2
        if state == "Running":
            last = now - rng.random() * 300
        elif state == "Lost":
            transitions.append((stamp, "Lost", last + 900, "logbook"))
        pilot.update(
            last_seen=last,
            last_seq=len(messages),
            message_count=len(messages),
            message_bytes=sum(
                len(item[10].encode("utf-8")) + len((item[11] or "").encode("utf-8")) for item in messages
            ),
            last_message_time=clock[0],
            status_time=last,
        )
        yield pilot, messages, command_rows, transitions


def pilot_row(columns, pilot):
    return tuple(pilot.get(name) for name in columns)


# -- writing ---------------------------------------------------------------------------------


def pilot_columns(engine):
    from sqlalchemy import inspect

    return [column["name"] for column in inspect(engine).get_columns("pilots")]


def fill_sqlite(path, count, progress):
    import sqlite3

    from pilot_server.logbook.store.logstore import Store

    Store.open("sqlite:///%s" % path).close()  # the schema, by the logbook's own migrations
    from sqlalchemy import create_engine

    engine = create_engine("sqlite:///%s" % path)
    columns = pilot_columns(engine)
    extras = extra_tables(engine)
    engine.dispose()
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA synchronous=OFF")
    connection.execute("PRAGMA cache_size=-400000")
    pilots_sql = "INSERT INTO pilots (%s) VALUES (%s)" % (", ".join(columns), ", ".join("?" * len(columns)))
    messages_sql = "INSERT INTO messages (%s) VALUES (%s)" % (
        ", ".join(MESSAGE_COLUMNS),
        ", ".join("?" * len(MESSAGE_COLUMNS)),
    )

    def write(pilots, messages, extra):
        connection.executemany(pilots_sql, pilots)
        connection.executemany(messages_sql, messages)
        for table, names in extras:
            connection.executemany(
                "INSERT INTO %s (%s) VALUES (%s)" % (table, ", ".join(names), ", ".join("?" * len(names))), extra[table]
            )
        connection.commit()

    write_batches(count, columns, progress, write)
    connection.execute("ANALYZE")
    connection.commit()
    connection.close()


COMMAND_COLUMNS = ("stamp", "name", "status", "start", "duration", "failure_type", "reason")
STATE_COLUMNS = ("stamp", "state", "time", "source")


def extra_tables(engine):
    """The tables of schema step 3 that this database has (commands, pilot_states)."""
    from sqlalchemy import inspect

    names = set(inspect(engine).get_table_names())
    return [
        (table, columns)
        for table, columns in (("commands", COMMAND_COLUMNS), ("pilot_states", STATE_COLUMNS))
        if table in names
    ]


def write_batches(count, columns, progress, write, size=5000):
    """write(pilots, messages, {"commands": rows, "pilot_states": rows}) for each batch of pilots."""
    pilots, messages, extra, done = [], [], {"commands": [], "pilot_states": []}, 0
    for pilot, items, commands, transitions in generate(count):
        pilots.append(pilot_row(columns, pilot))
        messages.extend(items)
        extra["commands"].extend(commands)
        extra["pilot_states"].extend(transitions)
        if len(pilots) >= size:
            write(pilots, messages, extra)
            done += len(pilots)
            pilots, messages, extra = [], [], {"commands": [], "pilot_states": []}
            progress(done)
    if pilots:
        write(pilots, messages, extra)
        progress(done + len(pilots))


def _copy_text(value):
    if value is None:
        return "\\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    if isinstance(value, float):
        return repr(value)
    text = str(value)
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        text = text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return text


def fill_postgresql(url, count, progress):
    from sqlalchemy import create_engine

    from pilot_server.logbook.store.logstore import Store

    Store.open(url).close()
    engine = create_engine(url)
    columns = pilot_columns(engine)
    extras = extra_tables(engine)
    raw = engine.raw_connection()
    cursor = raw.cursor()

    def copy(table, names, rows):
        buffer = io.StringIO()
        for row in rows:
            buffer.write("\t".join(_copy_text(value) for value in row))
            buffer.write("\n")
        buffer.seek(0)
        cursor.copy_expert("COPY %s (%s) FROM STDIN" % (table, ", ".join(names)), buffer)

    def write(pilots, messages, extra):
        copy("pilots", columns, pilots)
        copy("messages", MESSAGE_COLUMNS, messages)
        for table, names in extras:
            copy(table, names, extra[table])
        raw.commit()

    write_batches(count, columns, progress, write, size=20000)
    cursor.close()
    raw.dbapi_connection.autocommit = True
    cursor = raw.dbapi_connection.cursor()
    cursor.execute("VACUUM ANALYZE pilots")
    cursor.execute("VACUUM ANALYZE messages")
    for table, _ in extras:
        cursor.execute("VACUUM ANALYZE %s" % table)
    raw.close()
    engine.dispose()


def fill_mariadb(url, count, progress):
    from sqlalchemy import create_engine

    from pilot_server.logbook.store.logstore import Store

    Store.open(url).close()
    engine = create_engine(url)
    columns = pilot_columns(engine)
    extras = extra_tables(engine)
    raw = engine.raw_connection()
    cursor = raw.cursor()
    pilots_sql = "INSERT INTO pilots (%s) VALUES (%s)" % (", ".join(columns), ", ".join(["%s"] * len(columns)))
    messages_sql = "INSERT INTO messages (%s) VALUES (%s)" % (
        ", ".join(MESSAGE_COLUMNS),
        ", ".join(["%s"] * len(MESSAGE_COLUMNS)),
    )

    def write(pilots, messages, extra):
        cursor.executemany(pilots_sql, pilots)
        for start in range(0, len(messages), 5000):
            cursor.executemany(messages_sql, messages[start : start + 5000])
        for table, names in extras:
            cursor.executemany(
                "INSERT INTO %s (%s) VALUES (%s)" % (table, ", ".join(names), ", ".join(["%s"] * len(names))),
                extra[table],
            )
        raw.commit()

    write_batches(count, columns, progress, write)
    cursor.execute("ANALYZE TABLE %s" % ", ".join(["pilots", "messages"] + [table for table, _ in extras]))
    cursor.fetchall()
    raw.close()
    engine.dispose()


# -- databases -------------------------------------------------------------------------------------

TAG = [""]  # --tag: a suffix of the database names, so that two checkouts can run at once


def database_url(kind, size, workdir):
    name = "pilots2_bench_pages_%d%s" % (size, TAG[0])
    if kind == "sqlite":
        return "sqlite:///%s" % os.path.join(workdir, "%s.sqlite" % name), name
    if kind == "postgresql":
        return "postgresql://postgres@127.0.0.1:5432/%s" % name, name
    return "mysql+pymysql://root@127.0.0.1:3306/%s" % name, name


def admin_execute(kind, statement):
    from sqlalchemy import create_engine, text

    engine = create_engine(PG_ADMIN if kind == "postgresql" else MYSQL_ADMIN, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            if kind == "postgresql" and statement.startswith("DROP"):
                connection.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n "
                        "AND pid <> pg_backend_pid()"
                    ),
                    {"n": statement.split()[-1]},
                )
            connection.execute(text(statement))
    finally:
        engine.dispose()


def existing_count(url):
    from sqlalchemy import create_engine, text

    try:
        engine = create_engine(url)
        with engine.connect() as connection:
            value = connection.execute(text("SELECT count(*) FROM pilots")).scalar()
        engine.dispose()
        return value
    except Exception:
        return None


def prepare(kind, size, workdir, keep):
    """The URL of a database holding `size` generated pilots (made or reused)."""
    url, name = database_url(kind, size, workdir)
    if keep and existing_count(url) == size:
        print("  reusing %s (%d pilots)" % (name, size), flush=True)
        return url, 0.0
    if kind == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(url[len("sqlite:///") :] + suffix):
                os.remove(url[len("sqlite:///") :] + suffix)
    else:
        admin_execute(kind, "DROP DATABASE IF EXISTS %s" % name)
        admin_execute(kind, "CREATE DATABASE %s" % name)
    started = time.time()
    last = [started]

    def progress(done):
        if time.time() - last[0] > 30 or done == size:
            last[0] = time.time()
            print("  %s %d: %d pilots written (%.0f s)" % (kind, size, done, time.time() - started), flush=True)

    {
        "sqlite": lambda: fill_sqlite(url[len("sqlite:///") :], size, progress),
        "postgresql": lambda: fill_postgresql(url, size, progress),
        "mariadb": lambda: fill_mariadb(url, size, progress),
    }[kind]()
    rebuild(url)
    return url, time.time() - started


def rebuild(url):
    """The statistics' aggregates of the rows just written, by the logbook's own command."""
    started = time.time()
    subprocess.check_call(PILOTCTL + ["aggregates", "rebuild", "--db", url], stdout=subprocess.DEVNULL)
    print("  aggregates rebuilt in %.0f s" % (time.time() - started), flush=True)


def rows_baseline(url, repeat):
    """Median seconds of the three statistics computed from the rows, in this process (the baseline)."""
    from pilot_server.logbook.store import stats
    from pilot_server.logbook.store.logstore import Store

    store = Store.open(url, migrate=False, pool_size=1)
    site = SITES[7]
    day = time.time() - 86400
    cases = [
        ("stats: all time", {}),
        ("stats: one site, all time", {"site": site, "group_by": "ce"}),
        ("stats: last day (the default)", {"since": day}),
    ]
    results = []
    try:
        for label, arguments in cases:
            for name in ("site", "ce", "queue", "version", "vo", "since", "until", "group_by"):
                arguments.setdefault(name, None)
            times = []
            for _ in range(max(1, repeat // 2)):
                started = time.perf_counter()
                stats.compute_from_rows(store, arguments)
                times.append(time.perf_counter() - started)
            results.append(
                ("%s, from rows" % label.replace("stats: ", "stats (before): "), statistics.median(times), 200)
            )
        if store.kind == "sqlite":  # the reason search in this process, with and without its FTS5 index
            from pilot_server.logbook.web import data

            for label, indexed in (
                ("list (in process): reason text", True),
                ("list (before): reason text, no index", False),
            ):
                store._text_index = None if indexed else False
                times = []
                for _ in range(repeat + 1):
                    started = time.perf_counter()
                    data.list_pilots(store, {"reason": "cvmfs"})
                    times.append(time.perf_counter() - started)
                results.append((label, statistics.median(times[1:]), 200))
    finally:
        store.close()
    return results


def drop(kind, size, workdir):
    url, name = database_url(kind, size, workdir)
    if kind == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            path = url[len("sqlite:///") :] + suffix
            if os.path.exists(path):
                os.remove(path)
    else:
        admin_execute(kind, "DROP DATABASE IF EXISTS %s" % name)


# -- measuring ------------------------------------------------------------------------------------


class Logbook(object):
    """A `pilotctl logbook serve` process on the database."""

    def __init__(self, url, workdir):
        self.admin = os.urandom(32)
        path = os.path.join(workdir, "admin-%s.secret" % uuid.uuid4().hex[:8])
        tokens.write_secret(path, self.admin)
        secret = os.path.join(workdir, "pilot-%s.secret" % uuid.uuid4().hex[:8])
        tokens.write_secret(secret, os.urandom(32))
        self.port = free_port()
        self.log = open(os.path.join(workdir, "serve.log"), "ab")
        self.process = subprocess.Popen(
            PILOTCTL
            + [
                "serve",
                "--db",
                url,
                "--listen",
                "127.0.0.1:%d" % self.port,
                "--insecure-http",
                "--token-secret",
                secret,
                "--admin-token-file",
                path,
                "--log-level",
                "warning",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.files = (path, secret)
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if self.process.poll() is not None:
                    raise SystemExit("pilotctl logbook serve ended (see %s)" % self.log.name)
                time.sleep(0.1)
        self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        self.headers = {"Authorization": "Bearer " + self.admin.hex()}

    def get(self, path):
        """(seconds, status, body) of one GET on the kept-alive connection."""
        started = time.perf_counter()
        self.connection.request("GET", path, headers=self.headers)
        response = self.connection.getresponse()
        body = response.read().decode("utf-8")
        return time.perf_counter() - started, response.status, body

    def stop(self):
        self.connection.close()
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=60)
        self.log.close()
        for path in self.files:
            os.remove(path)


def median_time(logbook, paths, repeat):
    """Median seconds over `repeat` requests (after one warm-up), cycling through paths."""
    if isinstance(paths, str):
        paths = [paths]
    seconds, status, _ = logbook.get(paths[0])
    if status != 200:
        return None, status
    times = []
    for index in range(repeat):
        seconds, status, _ = logbook.get(paths[(index + 1) % len(paths)])
        if status != 200:
            return None, status
        times.append(seconds)
    return statistics.median(times), 200


def nth_page(logbook, pages):
    path = "/?limit=50"
    for _ in range(pages - 1):
        _, _, body = logbook.get(path)
        marker = body.find('id="next-page"')
        if marker < 0:
            return path
        start = body.rfind('href="', 0, marker) + len('href="')
        path = body[start : body.find('"', start)].replace("&amp;", "&")
    return path


def measure(logbook, size, repeat):
    rng = random.Random(size)
    # stored pilots, a different one for each request: failed and done ones among the newest
    _, _, body = logbook.get("/?limit=500&state=Failed")
    failed = sorted(set(part.split('"')[0] for part in body.split('data-stamp="')[1:]))
    _, _, body = logbook.get("/?limit=500&state=Done")
    done = sorted(set(part.split('"')[0] for part in body.split('data-stamp="')[1:]))
    pilots = failed[:repeat] + done[:repeat]
    rng.shuffle(pilots)
    site = SITES[7]
    cases = [
        ("list: newest 50", "/"),
        ("list: site", "/?site=%s" % site),
        ("list: state Failed", "/?state=Failed"),
        ("list: site + state", "/?site=%s&state=Failed" % site),
        ("list: 20th page (keyset)", nth_page(logbook, 20)),
        ("list: last day", "/?since=1d"),
        ("list: reason text", "/?reason=cvmfs"),
        ("list: reason text, no match", "/?reason=no%20such%20reason"),
        ("pilot page", ["/pilot/%s" % stamp for stamp in pilots]),
        ("stats: all time", "/stats?since=all"),
        ("stats: one site, all time", "/stats?site=%s&group_by=ce&since=all" % site),
        ("stats: last day (the default)", "/stats"),
    ]
    results = []
    for label, paths in cases:
        seconds, status = median_time(logbook, paths, repeat)
        results.append((label, seconds, status))
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="20000,100000", help="pilots per logbook, comma-separated")
    parser.add_argument("--db", default="sqlite,postgresql", help="sqlite,postgresql,mariadb")
    parser.add_argument("--repeat", type=int, default=7, help="requests per figure (median)")
    parser.add_argument("--keep", action="store_true", help="keep the generated databases and reuse them")
    parser.add_argument("--workdir", default="/tmp/pilots2-bench-pages")
    parser.add_argument("--tag", default="", help="suffix of the database names (letters, digits, _)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the statistics computed from rows")
    args = parser.parse_args(argv)
    if not all(char.isalnum() or char == "_" for char in args.tag):
        parser.error("--tag: letters, digits and _ only")
    TAG[0] = args.tag
    try:
        sizes = [int(part) for part in args.sizes.split(",") if part.strip()]
    except ValueError:
        parser.error("--sizes wants numbers: 100000,1000000")
    kinds = [part.strip() for part in args.db.split(",") if part.strip()]
    unknown = set(kinds) - {"sqlite", "postgresql", "mariadb"}
    if unknown:
        parser.error("--db: unknown database %s" % ", ".join(sorted(unknown)))
    os.makedirs(args.workdir, exist_ok=True)
    table = {}
    for kind in kinds:
        for size in sizes:
            print("== %s, %d pilots" % (kind, size), flush=True)
            url, took = prepare(kind, size, args.workdir, args.keep)
            if took:
                print("  generated in %.0f s" % took, flush=True)
            logbook = Logbook(url, args.workdir)
            try:
                results = measure(logbook, size, args.repeat)
            finally:
                logbook.stop()
            if not args.no_baseline:
                results += rows_baseline(url, args.repeat)
            from sqlalchemy import create_engine, text

            engine = create_engine(url)
            with engine.connect() as connection:
                messages = connection.execute(text("SELECT count(*) FROM messages")).scalar()
            engine.dispose()
            table[(kind, size)] = (results, messages)
            for label, seconds, status in results:
                print(
                    "  %-31s %s"
                    % (label, "%8.1f ms" % (seconds * 1000) if seconds is not None else "   (HTTP %d)" % status),
                    flush=True,
                )
            if not args.keep:
                drop(kind, size, args.workdir)
    print()
    print("Median response time (ms) of %d requests, real HTTP to `pilotctl logbook serve`:" % args.repeat)
    for kind in kinds:
        header = "%-31s" % kind + "".join("%16s" % ("%d pilots" % size) for size in sizes)
        if len(sizes) > 1:
            header += "%10s" % "growth"
        print()
        print(header)
        print("%-31s" % "(messages)" + "".join("%16s" % ("%d" % table[(kind, size)][1]) for size in sizes))
        labels = [label for label, _, _ in table[(kind, sizes[0])][0]]
        for index, label in enumerate(labels):
            values = [table[(kind, size)][0][index][1] for size in sizes]
            line = "%-31s" % label + "".join(
                "%16s" % ("%.1f" % (value * 1000) if value is not None else "n/a") for value in values
            )
            if len(sizes) > 1 and values[0] and values[-1]:
                line += "%9.1fx" % (values[-1] / values[0])
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
