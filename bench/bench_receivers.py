#!/usr/bin/env python3
"""Several receivers behind HAProxy: aggregate ingestion with 1 and 2 receivers, and a client
across a rolling restart.

Two ``pilotctl logbook serve`` processes (HTTPS, one PostgreSQL database, the same secrets and
session key) behind Debian's HAProxy run with examples/haproxy/logbook.cfg (TCP passthrough;
tests/server/receivers_support.py starts them all as plain processes).

1. Ingestion, in the same run, rounds alternating their order: N pilots send M messages each at
   once in batches of B from ``--senders`` threads (bench_ingest.py's pilots and senders; each
   pilot on a new connection, so HAProxy's leastconn spreads them):
   * ``1, direct``: to receiver A itself, no HAProxy (the baseline);
   * ``2, direct``: half the sender threads to A, half to B, no HAProxy;
   * ``1 receiver``: through HAProxy, receiver B in maintenance (``set server ... state maint``);
   * ``2 receivers``: through HAProxy, both.
   Rate = messages / seconds from the first send until every batch was answered 200 (a 200 is
   sent after the commit).  Printed: each run with the CPU seconds each receiver, HAProxy and
   the senders used (where the time went), the medians, and the medians of the paired ratios
   of the same round.
2. A rolling restart: P pilots, each the pilot's own sender (pilot.logs.remotelog over HTTPS, spool
   and retries), log a line every 10 ms through HAProxy; a steady phase, then A is stopped with
   SIGTERM and started again, HAProxy waited for, then B.  Per phase: sends, their success, send
   latency p50/p99/max, and the longest time a pilot went without a successful send; at the end
   what was logged, stored (each pilot's seq 1..n, once) and left in a spool.

Usage (from the checkout, with the services of .ci/services.sh running, as root for the
haproxy provisioning when it is missing)::

    .venv/bin/python bench/bench_receivers.py [--pilots 120] [--messages 500] [--batch 250]
        [--senders 16] [--rounds 3] [--restart-pilots 8] [--steady 15]

Prints figures and the machine's load; asserts nothing.  What it makes is removed.
"""

import argparse
import os
import queue as queuelib
import shutil
import signal
import ssl
import statistics
import sys
import tempfile
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path[:0] = [
    HERE,
    os.path.join(REPO, "pilot_src"),
    REPO,
    os.path.join(REPO, "tests"),
    os.path.join(REPO, "tests", "server"),
]

import bench_ingest  # noqa: E402  (its pilots, senders, databases and percentile)
from bench_front_candidates import cpu_seconds  # noqa: E402
from bench_ingest import Database, Pace, https_sender, make_pilots, percentile  # noqa: E402
from logbook_support import PKI  # noqa: E402
from pilot_server import tokens  # noqa: E402
from receivers_support import HAProxy, Receiver, SendingPilot, haproxy_binary  # noqa: E402

SESSION_SECRET = os.urandom(32)


def load():
    return "load %.2f %.2f %.2f" % os.getloadavg()


def cpu_of(receivers, proxy):
    """{component: CPU seconds so far}: each receiver, HAProxy, and this process (the senders)."""
    found = dict((item.name, cpu_seconds(item.process.pid)) for item in receivers)
    found["haproxy"] = cpu_seconds(proxy.process.pid)
    times = os.times()
    found["senders"] = times.user + times.system
    return found


# -- 1. ingestion ------------------------------------------------------------------------------------


def ingest(ports, context, args):
    """(messages sent, seconds, errors: statuses other than 200 and exceptions) of one burst; sender
    thread i sends to 127.0.0.1:ports[i % len(ports)]."""
    pilots = make_pilots(args.pilots, args.messages, args.batch)
    work = queuelib.Queue()
    for pilot in pilots:
        work.put(pilot)
    sent, errors = {}, []
    threads = [
        threading.Thread(
            target=https_sender, args=(ports[index % len(ports)], context, work, sent, errors, Pace(None, 1))
        )
        for index in range(args.senders)
    ]
    start = time.time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.time() - start
    return len(pilots) * args.messages, elapsed, errors


def ingestion(receivers, proxy, context, args):
    a, b = receivers
    runs = dict((mode, []) for mode in MODES)
    for round_index in range(args.rounds):
        modes = list(MODES)
        if round_index % 2:
            modes.reverse()
        for mode in modes:
            if mode == "1 receiver":
                proxy.command("set server receivers/%s state maint" % b.name)
                proxy.wait_status(b.name, "MAINT")
            elif mode == "2 receivers":
                ready(proxy, b.name)
            ports = {"1, direct": [a.port], "2, direct": [a.port, b.port]}.get(mode, [proxy.port])
            before, cpu_before = served(proxy), cpu_of(receivers, proxy)
            messages, seconds, errors = ingest(ports, context, args)
            after, cpu_after = served(proxy), cpu_of(receivers, proxy)
            share = " ".join("%s %d" % (name, after[name] - before[name]) for name in sorted(after))
            cpu = " ".join("%s %.1f" % (name, cpu_after[name] - cpu_before[name]) for name in sorted(cpu_after))
            runs[mode].append(messages / seconds)
            print(
                "  round %d  %-20s %7d msgs  %6.2f s  %8.0f msg/s   connections: %s   CPU s: %s%s   (%s)"
                % (
                    round_index + 1,
                    mode,
                    messages,
                    seconds,
                    messages / seconds,
                    "-" if "direct" in mode else share,
                    cpu,
                    "  ERRORS %s" % errors[:3] if errors else "",
                    load(),
                ),
                flush=True,
            )
    ready(proxy, b.name)
    return runs


def ready(proxy, name):
    """Out of maintenance, UP, and past HAProxy's slow start (its full weight)."""
    from support.waiting import wait_until

    proxy.command("set server receivers/%s state ready" % name)
    proxy.wait_status(name, "UP")
    wait_until(
        lambda: proxy.servers()[name]["weight"] == proxy.servers()[name]["uweight"],
        60,
        0.2,
        what="receiver %s at its full weight" % name,
    )


MODES = ("1, direct", "2, direct", "1 receiver", "2 receivers")  # "direct": no HAProxy, senders split by port


def served(proxy):
    return dict((name, int(row["stot"])) for name, row in proxy.servers().items())


# -- 2. the rolling restart -----------------------------------------------------------------------------


def rolling(receivers, proxy, pki, args, work):
    from pilot_server.logbook.store.logstore import Store

    pilots = []
    for index in range(args.restart_pilots):
        stamp = uuid.uuid4().hex
        pilots.append(
            SendingPilot(
                proxy.url,
                pki.ca_file,
                stamp,
                tokens.make_token(bench_ingest.SECRET, stamp),
                os.path.join(work, "pilot%d" % index),
            )
        )
    phases = [("steady", time.time())]
    time.sleep(args.steady)
    phases.append(("rolling restart", time.time()))
    for receiver in receivers:
        code = receiver.stop(signal.SIGTERM)
        proxy.wait_status(receiver.name, "DOWN")
        down = time.time()
        receiver.start()
        proxy.wait_status(receiver.name, "UP")
        print(
            "  receiver %s: SIGTERM exit %s, back UP in HAProxy after %.1f s"
            % (receiver.name, code, time.time() - down),
            flush=True,
        )
        time.sleep(2)
    phases.append(("end", time.time()))
    summaries = [pilot.finish(60) for pilot in pilots]
    store = Store.open(receivers[0].argv[receivers[0].argv.index("--db") + 1], migrate=False, pool_size=1)
    try:
        exact = all(
            [item["seq"] for item in store.messages(pilot.stamp)] == list(range(1, summary["messages"] + 1))
            for pilot, summary in zip(pilots, summaries)
        )
        stored = sum(store.pilot(pilot.stamp)["message_count"] for pilot in pilots)
    finally:
        store.close()
    print("\n| phase | seconds | sends | ok | latency p50 | p99 | max | longest gap of a pilot |")
    print("|---|---|---|---|---|---|---|---|")
    for (name, began), (_, ended) in zip(phases, phases[1:]):
        sends = [item for pilot in pilots for item in pilot.transport.sends if began <= item[0] < ended]
        times = sorted(item[1] for item in sends)
        gaps = [longest_gap([item for item in pilot.transport.sends if item[2]], began, ended) for pilot in pilots]
        ok = sum(1 for item in sends if item[2])
        print(
            "| %s | %.1f | %d | %.2f %% | %.1f ms | %.1f ms | %.1f ms | %.2f s |"
            % (
                name,
                ended - began,
                len(sends),
                100.0 * ok / max(1, len(sends)),
                percentile(times, 50) * 1000,
                percentile(times, 99) * 1000,
                (times[-1] if times else float("nan")) * 1000,
                max(gaps),
            )
        )
    logged = sum(summary["messages"] for summary in summaries)
    print(
        "\nlogged %d lines, stored %d, each pilot's seq 1..n once: %s; left in spools %d; sender failures %d, "
        "resent from the spool %d, duplicates %d"
        % (
            logged,
            stored,
            "yes" if exact else "NO",
            sum(summary["unsent"] for summary in summaries),
            sum(summary["failures"] for summary in summaries),
            sum(summary["resent_from_spool"] for summary in summaries),
            sum(summary["duplicates"] for summary in summaries),
        )
    )


def longest_gap(sends, began, ended):
    """The longest time within [began, ended] without a successful send ending."""
    moments = [began] + sorted(start + seconds for start, seconds, _ in sends if began <= start + seconds <= ended)
    moments.append(ended)
    return max(later - earlier for earlier, later in zip(moments, moments[1:]))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pilots", type=int, default=120)
    parser.add_argument("--messages", type=int, default=500, help="messages per pilot")
    parser.add_argument("--batch", type=int, default=250, help="messages per batch")
    parser.add_argument("--senders", type=int, default=16, help="concurrent sending threads")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of direct / 1 receiver / 2 receivers")
    parser.add_argument("--restart-pilots", type=int, default=8, help="pilots sending across the rolling restart")
    parser.add_argument("--steady", type=float, default=15.0, help="seconds of the steady phase before it")
    args = parser.parse_args(argv)
    binary = haproxy_binary()
    work = tempfile.mkdtemp(prefix="pilots2-bench-receivers-")
    pki = PKI(os.path.join(work, "pki"))
    cert, key = pki.server()
    files = {}
    for name, secret in (("token", bench_ingest.SECRET), ("session", SESSION_SECRET)):
        files[name] = os.path.join(work, name + ".secret")
        tokens.write_secret(files[name], secret)
    database = Database("postgresql", work)
    receivers, proxy = [], None
    print(
        "several receivers: %d cores, %s; %d pilots x %d messages, batches of %d, %d sender threads, %d rounds"
        % (os.cpu_count(), load(), args.pilots, args.messages, args.batch, args.senders, args.rounds)
    )
    try:
        for name in ("a", "b"):
            receivers.append(
                Receiver(
                    name,
                    work,
                    database.url,
                    cert,
                    key,
                    pki.ca_file,
                    files["token"],
                    session_key=files["session"],
                    extra=["--log-level", "warning", "--max-connections-per-address", "0"],
                ).start()
            )
        proxy = HAProxy(binary, work, receivers, pki.ca_file).start()
        context = ssl.create_default_context(cafile=pki.ca_file)
        runs = ingestion(receivers, proxy, context, args)
        medians = dict((mode, statistics.median(rates)) for mode, rates in runs.items())

        def paired(top, bottom):
            return statistics.median(high / low for high, low in zip(runs[top], runs[bottom]))

        print("\n| receivers | median messages/s (%d rounds) |" % args.rounds)
        print("|---|---|")
        for mode in MODES:
            print(
                "| %s | %s |"
                % (
                    mode.replace("direct", "direct (no HAProxy)") if "direct" in mode else mode + " behind HAProxy",
                    "{:,.0f}".format(medians[mode]),
                )
            )
        print(
            "\npaired by round, median of the ratios: 2 receivers / 1 behind HAProxy %.2f; 2 / 1 direct %.2f; "
            "1 behind HAProxy / 1 direct %.2f"
            % (paired("2 receivers", "1 receiver"), paired("2, direct", "1, direct"), paired("1 receiver", "1, direct"))
        )
        print(
            "\nrolling restart: %d pilots, a line every 10 ms each, %.0f s steady first (%s)"
            % (args.restart_pilots, args.steady, load())
        )
        rolling(receivers, proxy, pki, args, work)
        print("\n(%s)" % load())
    finally:
        if proxy is not None:
            proxy.stop()
        for receiver in receivers:
            receiver.stop()
        database.drop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
