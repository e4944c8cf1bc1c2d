#!/usr/bin/env python3
"""The cost of remote logging to a pilot: the same run with logging off, on, and on with the logbook down.

The run is DIRAC's default command list against the DIRAC release test double
(tests/doubles/dirac: preinstalled release, a JobAgent that runs one job,
--db12=quick), as in bench/bench_sequence.py.  Modes, in interleaved rounds:

  off        no remote logging
  https      to a local receiver of the contract (tests/doubles/log_receivers.py), HTTPS + token
  stomp      to RabbitMQ's STOMP plugin on 127.0.0.1:61613 (when it answers)
  down       -g to a port where nothing listens (connection refused)
  blackhole  -g to a server that accepts and never answers (with --blackhole: slow by design)

``--db12 off`` makes the run shorter and steadier (no CPU benchmark), which
shows the absolute cost better; the machine's noise on the wall time is
larger than the cost itself, so "waited" and "own CPU" are the figures to read.

Printed per mode (medians over the runs): the wall time and what it adds to
"off", the pilot's own CPU time, how long the pilot waited for the remote
log (end-of-command flushes + the final flush, from pilot_result.json), and
the messages and batches.  Then, in process: the cost of one log record with
the remote sink attached, and of one heartbeat.  Nothing is asserted.

    .venv/bin/python bench/bench_remotelog.py [--runs 5] [--python python3.9] [--blackhole] [--db12 off]
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
MAKER = os.path.join(REPO, "tests", "doubles", "dirac", "make_release.py")
sys.path[:0] = [os.path.join(REPO, "tests", "node"), os.path.join(REPO, "tests"), REPO, os.path.join(REPO, "pilot_src")]

import helpers  # noqa: E402
from bench_sequence import pilot_args  # noqa: E402
from doubles.log_receivers import LogbookDouble  # noqa: E402
from support.certificates import TestCerts  # noqa: E402
from support.ports import free_port  # noqa: E402

STAMP = "b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0"
TOKEN = "pt1.bench-token"


def stomp_answers():
    try:
        socket.create_connection(("127.0.0.1", 61613), 2).close()
        return True
    except OSError:
        return False


class Blackhole:
    """Accepts connections and never answers."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.held = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                self.held.append(self.sock.accept()[0])
            except OSError:
                return


def one_run(python, pyz, release, certs, scratch, extra_args, env_extra, db12, job_seconds=0):
    server = tempfile.mkdtemp(dir=scratch)
    os.rmdir(server)
    if job_seconds:
        # a job of a realistic kind: it runs for a while and prints now and then
        subprocess.run([sys.executable, MAKER, "--new-server", server, "--no-job"], check=True, capture_output=True)
        script = "i=0; while [ $i -lt %d ]; do echo step $i; sleep 1; i=$((i+1)); done" % job_seconds
        subprocess.run(
            [sys.executable, MAKER, "--add-job", server, "--", "/bin/sh", "-c", script], check=True, capture_output=True
        )
    else:
        subprocess.run([sys.executable, MAKER, "--new-server", server], check=True, capture_output=True)
    work = tempfile.mkdtemp(dir=scratch)
    token = os.path.join(work, "logbook.token")
    with open(token, "w") as handle:
        handle.write(TOKEN)
    os.chmod(token, 0o600)
    args = (
        pilot_args(python, pyz, release, server, certs.host_certificate(), db12) + ["--pilotUUID", STAMP] + extra_args
    )
    env = helpers.clean_env(dict({"X509_CERT_DIR": certs.ca_dir, "PILOT_LOGBOOK_TOKEN_FILE": token}, **env_extra))
    started = time.perf_counter()
    proc = subprocess.run(args, cwd=work, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - started
    if proc.returncode:
        return None, "exit %d: %s" % (proc.returncode, (proc.stderr or proc.stdout).strip().splitlines()[-1:])
    with open(os.path.join(work, "pilot_result.json")) as handle:
        result = json.load(handle)
    remote = result.get("remote_logging") or {}
    db12 = [c["duration"] for c in result["commands"] if c["name"] == "ConfigureCPURequirements"][0]
    own = wall - result["pilot"]["subprocess_seconds"] - db12
    return {
        "wall": wall,
        "own": own,
        "cpu_self": result["usage"]["cpu_self_seconds"],
        "waited": (remote.get("flush_wait_seconds") or 0.0) + (remote.get("final_flush_seconds") or 0.0),
        "messages": remote.get("messages", 0),
        "batches": remote.get("batches_sent", 0),
        "unsent": remote.get("unsent", 0),
    }, None


def in_process():
    """Per-record cost of the remote sink, and the cost of one heartbeat."""
    from pilot.logs import remotelog
    from pilot.sequence import heartbeat
    from pilot.logs.logger import PilotLogger

    class Discard:
        name = "discard"
        url = "discard://"
        duplicates = 0

        def send(self, body, count):
            pass

        def finish(self, exit_code, timeout):
            pass

        def close(self, timeout):
            pass

    count = 20000
    figures = {}
    for label, with_remote in (("local sinks only", False), ("with the remote sink", True)):
        work = tempfile.mkdtemp(prefix="bench-remotelog-")
        logger = PilotLogger()
        logger.add_sink(helpers.ListSink())
        remote = None
        if with_remote:
            remote = remotelog.RemoteLog()
            logger.add_sink(remote)
            remote.start(Discard(), STAMP, work, 1000, 30, None)
        log = logger.source("Bench")
        cpu0, started = time.process_time(), time.perf_counter()
        for number in range(count):
            log.info("a line of a child's output, number %d, of a typical length for pip or the JobAgent" % number)
        if remote is not None:
            remote.close(15)
        figures[label] = ((time.perf_counter() - started) / count * 1e6, (time.process_time() - cpu0) / count * 1e6)

    class Runner:
        lock = threading.Lock()

        def __init__(self, procs):
            self.running = procs

    class Result:
        commands = [{"name": "LaunchAgent", "status": "running"}]

    child = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        beat = heartbeat.Heartbeat(None, Result(), Runner([child]), tempfile.gettempdir(), 300)
        samples = []
        for _ in range(200):
            started = time.perf_counter()
            beat.sample("LaunchAgent")
            samples.append(time.perf_counter() - started)
        processes = len([name for name in os.listdir("/proc") if name.isdigit()])
    finally:
        child.kill()
        child.wait()
    return figures, statistics.median(samples) * 1000, max(samples) * 1000, processes


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--pyz", default=os.path.join(REPO, "dist", "pilot.pyz"))
    parser.add_argument("--blackhole", action="store_true", help="also run against a logbook that never answers")
    parser.add_argument(
        "--db12", default="quick", choices=("quick", "off"), help="the pilot's --db12 (off: a shorter, steadier run)"
    )
    parser.add_argument(
        "--job-seconds",
        type=int,
        default=0,
        metavar="S",
        help="the JobAgent's job runs S seconds, printing a line a second (default 0: a job "
        "that ends at once, the shortest pilot run)",
    )
    args = parser.parse_args()
    scratch = tempfile.mkdtemp(prefix="bench-remotelog-")
    manifest = (
        subprocess.run(
            [sys.executable, MAKER, "--version", "9.0.0", "--out", os.path.join(scratch, "rel")],
            check=True,
            capture_output=True,
            text=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    with open(manifest) as handle:
        release = json.load(handle)
    certs = TestCerts(tempfile.mkdtemp(dir=scratch))
    receiver = LogbookDouble(helpers.server_ssl_context(certs), tokens={TOKEN: STAMP})
    modes = [("off", [], {}), ("https", ["-g", receiver.endpoint], {})]
    if stomp_answers():
        modes.append(("stomp", ["-g", "stomp://127.0.0.1:61613/exchange/amq.topic/pilots2.bench"], {}))
    modes.append(("down", ["-g", "https://localhost:%d/api/v1/logs" % free_port()], {}))
    if args.blackhole:
        hole = Blackhole()
        modes.append(("blackhole", ["-g", "https://localhost:%d/api/v1/logs" % hole.port], {}))
    version = subprocess.run(
        [args.python, "-c", "import sys; print(sys.version.split()[0])"], capture_output=True, text=True
    ).stdout.strip()
    runs = dict((name, []) for name, _, _ in modes)
    paired = dict((name, []) for name, _, _ in modes)
    for round_ in range(args.runs):
        # interleaved, in a rotating order: drifts of the machine hit every mode alike
        this_round = {}
        for name, extra, env_extra in modes[round_ % len(modes) :] + modes[: round_ % len(modes)]:
            figures, problem = one_run(
                args.python, args.pyz, release, certs, scratch, extra, env_extra, args.db12, args.job_seconds
            )
            if figures is None:
                print("%s: %s" % (name, problem))
                return 1
            runs[name].append(figures)
            this_round[name] = figures
        for name in this_round:  # the same round's "off" run: drifts cancel
            paired[name].append(
                (
                    this_round[name]["wall"] - this_round["off"]["wall"],
                    this_round[name]["own"] - this_round["off"]["own"],
                )
            )
    receiver.close()
    print(
        "Default command list to a JobAgent that runs one job%s (DIRAC double, preinstalled, --db12=%s),"
        % (" of %d s" % args.job_seconds if args.job_seconds else "", args.db12)
    )
    print("Python %s, median of %d interleaved runs (seconds)" % (version, args.runs))
    print(
        "%-10s %7s %9s %7s %9s %7s %8s %8s %9s %8s %7s"
        % ("mode", "wall", "added", "added%", "own", "added", "own CPU", "waited", "messages", "batches", "unsent")
    )
    base = statistics.median(run["wall"] for run in runs["off"])
    for name, _, _ in modes:
        median = dict((key, statistics.median(run[key] for run in runs[name])) for key in runs[name][0])
        added = statistics.median(pair[0] for pair in paired[name])
        own_added = statistics.median(pair[1] for pair in paired[name])
        print(
            "%-10s %7.3f %+9.3f %+6.1f%% %9.3f %+7.3f %8.3f %8.3f %9d %8d %7d"
            % (
                name,
                median["wall"],
                added,
                100.0 * added / base,
                median["own"],
                own_added,
                median["cpu_self"],
                median["waited"],
                median["messages"],
                median["batches"],
                median["unsent"],
            )
        )
    print("(added: median of the differences to the same round's run without remote logging;")
    print(" own = wall - children - DB12: the pilot's own share, where remote logging's cost shows;")
    print(" waited = time the pilot spent in end-of-command flushes and the final flush)")
    per_record, beat_median, beat_max, processes = in_process()
    print("")
    print("In process (%s): one log record" % sys.version.split()[0])
    for label, (wall_us, cpu_us) in per_record.items():
        print("  %-22s %6.1f us wall, %6.1f us CPU (sender thread included)" % (label, wall_us, cpu_us))
    print(
        "One heartbeat sample: %.2f ms median, %.2f ms max (200 samples, %d processes in /proc)"
        % (beat_median, beat_max, processes)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
