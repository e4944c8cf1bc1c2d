#!/usr/bin/env python3
"""What keeping the statistics' aggregates costs the write path (schema step 5).

Stores the same batches through ``Store.store_batch`` (one transaction each) with the
aggregates kept and, as the baseline in the same run, with ``aggregates.track``,
``aggregates.counted`` and ``aggregates.apply`` replaced by no-ops; alternating,
``--rounds`` times each, on fresh databases.  Every batch ends a command, so every transaction
changes the pilot's counters (the worst case: a batch of plain log lines in the same hour changes
no counter, and the group write then runs no statement for the aggregates).

Usage (from the checkout, PostgreSQL/MariaDB of .ci/services.sh for those)::

    .venv/bin/python bench/bench_stats_writes.py [--db sqlite,postgresql] [--pilots 200] [--rounds 3]

Prints the medians and their ratio; asserts nothing.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(os.path.dirname(HERE), "pilot_src")]

from pilot_server.worker import messages as wire  # noqa: E402
from pilot_server.logbook.store import aggregates, logstore  # noqa: E402

ADMIN = {
    "postgresql": "postgresql://postgres@127.0.0.1:5432/postgres",
    "mariadb": "mysql+pymysql://root@127.0.0.1:3306/",
}
SERVER = {"postgresql": "postgresql://postgres@127.0.0.1:5432/%s", "mariadb": "mysql+pymysql://root@127.0.0.1:3306/%s"}


class NoTracking(object):
    def __init__(self, *args, **kwargs):
        pass

    def settle(self):
        pass


def batches(pilots, per_pilot=5, size=20):
    out = []
    for index in range(pilots):
        stamp, seq = uuid.uuid4().hex, 0
        for number in range(per_pilot):
            items = []
            for line in range(size):
                seq += 1
                name = "Command%d" % number
                if line == 0:
                    items.append(
                        wire.message(stamp, seq, time.time(), "start", kind="command", source=name, status="started")
                    )
                elif line == size - 1:
                    items.append(
                        wire.message(
                            stamp,
                            seq,
                            time.time(),
                            "end",
                            kind="command",
                            source=name,
                            status="ok",
                            data={"duration": 1.5 * (number + 1)},
                        )
                    )
                else:
                    items.append(
                        wire.message(
                            stamp,
                            seq,
                            time.time(),
                            "line %d" % line,
                            data={"site": "Site%d" % (index % 7), "vo": "vo"} if seq == 1 else None,
                        )
                    )
            out.append((stamp, items))
    return out


def fresh_url(kind, workdir, label):
    if kind == "sqlite":
        return "sqlite:///%s" % os.path.join(workdir, "%s.sqlite" % label)
    from sqlalchemy import create_engine, text

    name = "pilots2_bench_stats_writes_%s" % label
    engine = create_engine(ADMIN[kind], isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text("DROP DATABASE IF EXISTS %s" % name))
        connection.execute(text("CREATE DATABASE %s" % name))
    engine.dispose()
    return SERVER[kind] % name


def drop(kind, url):
    if kind == "sqlite":
        return
    from sqlalchemy import create_engine, text

    engine = create_engine(ADMIN[kind], isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text("DROP DATABASE IF EXISTS %s" % url.rsplit("/", 1)[1]))
    engine.dispose()


def no_counts(*args, **kwargs):
    return {}


def no_apply(*args, **kwargs):
    pass


def timed(url, work, kept):
    store = logstore.Store.open(url)
    originals = aggregates.track, aggregates.counted, aggregates.apply
    if not kept:  # the group write computes the contributions itself, the other writes track them
        aggregates.track, aggregates.counted, aggregates.apply = NoTracking, no_counts, no_apply
    try:
        started = time.perf_counter()
        for stamp, items in work:
            store.store_batch(stamp, items)
        return time.perf_counter() - started
    finally:
        aggregates.track, aggregates.counted, aggregates.apply = originals
        store.close()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default="sqlite,postgresql", help="sqlite,postgresql,mariadb")
    parser.add_argument("--pilots", type=int, default=200, help="pilots (5 batches of 20 messages each)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    workdir = tempfile.mkdtemp(prefix="pilots2-bench-stats-writes-")
    for kind in [part.strip() for part in args.db.split(",") if part.strip()]:
        seconds = {True: [], False: []}
        for number in range(args.rounds):
            for kept in (False, True):
                url = fresh_url(kind, workdir, "r%d_%s" % (number, "kept" if kept else "none"))
                try:
                    seconds[kept].append(timed(url, batches(args.pilots), kept))
                finally:
                    drop(kind, url)
        without, kept = statistics.median(seconds[False]), statistics.median(seconds[True])
        count = args.pilots * 5
        print(
            "%-10s %d batches: without aggregates %.2f ms/batch, kept %.2f ms/batch, ratio %.2f"
            % (kind, count, without * 1000 / count, kept * 1000 / count, kept / without),
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
