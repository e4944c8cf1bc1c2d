#!/usr/bin/env python3
"""Logs that outlive their pilot: 20 pilots across a logbook outage, with and without the hand-off.

The real pilot.pyz, one node (one hand-off directory), the contract-honouring
receiver of tests/doubles/log_receivers.py over HTTPS with one token per pilot.
The pilots run in waves of ``--wave`` at once; the logbook is down from the
second wave to the end of wave ``--down`` + 1 (the pilots of those waves end
during the outage), then up again for the rest.  Each pilot runs
GetPilotVersion and a short command that logs ``--lines`` lines.

The same schedule runs in each of ``--rounds`` rounds in two modes: ``handoff`` (PILOT_LOG_HANDOFF=<a fresh
directory>) and ``off`` (PILOT_LOG_HANDOFF=off, what the pilot did before).
Printed per mode: messages logged, stored by the logbook, lost (never stored),
delivered late by the hand-off (sent by a later pilot), pilots whose story is
incomplete (the logbook would keep them Running), duplicates; then, for the
pilots that started after the outage, the median delay of their first command
(from the pilot's start) in both modes and the paired ratio: what sending the
waiting spools costs the next pilot's start.  Nothing is asserted.

    .venv/bin/python bench/bench_outage.py [--pilots 20] [--wave 4] [--down 3] [--lines 30] [--rounds 3]
                                           [--python PY]
"""

import argparse
import datetime
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path[:0] = [os.path.join(REPO, "tests", "node"), os.path.join(REPO, "tests"), REPO, os.path.join(REPO, "pilot_src")]

import helpers  # noqa: E402
from doubles.log_receivers import LogbookDouble  # noqa: E402
from support.certificates import TestCerts  # noqa: E402

EXTENSION = '''
from pilot.commands.base import Command


class Talk(Command):
    """Logs LINES lines."""

    def execute(self):
        import os
        for number in range(int(os.environ.get("BENCH_LINES", "30"))):
            self.log.info("line %d of the story" % number)
'''


def stamp_of(number):
    return "%032x" % (0xBE0C0000 + number)


def token_of(number):
    return "pt1.bench-outage.%d" % number


def when(text):
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ")


def run_schedule(mode, args, pyz, certs, scratch):
    root = tempfile.mkdtemp(prefix="outage-%s-" % mode, dir=scratch)
    handoff = os.path.join(root, "handoff") if mode == "handoff" else "off"
    exts = os.path.join(root, "exts")
    os.mkdir(exts)
    helpers.write_text(os.path.join(exts, "BenchCommands.py"), EXTENSION)
    tokens = dict((token_of(number), stamp_of(number)) for number in range(args.pilots))
    logbook = helpers.https(lambda context: LogbookDouble(context, tokens=tokens), certs)
    figures = {"logged": 0, "late": 0, "first_command": {}, "after": []}
    try:
        waves = [list(range(start, min(start + args.wave, args.pilots))) for start in range(0, args.pilots, args.wave)]
        for index, wave in enumerate(waves):
            if index == 1:
                logbook.stop()
            procs = []
            for number in wave:
                work = os.path.join(root, "pilot%02d" % number)
                os.mkdir(work)
                token = helpers.write_text(os.path.join(work, "logbook.token"), token_of(number) + "\n")
                os.chmod(token, 0o600)
                env = helpers.clean_env(
                    {
                        "X509_CERT_DIR": certs.ca_dir,
                        "PILOT_LOGBOOK_TOKEN_FILE": token,
                        "PILOT_LOG_HANDOFF": handoff,
                        "BENCH_LINES": str(args.lines),
                    }
                )
                argv = [
                    args.python,
                    pyz,
                    "-X",
                    "GetPilotVersion,Talk",
                    "-r",
                    "v1",
                    "-E",
                    "Bench",
                    "--extensions-dir",
                    exts,
                    "--pilotUUID",
                    stamp_of(number),
                    "-g",
                    logbook.endpoint,
                ]
                procs.append(
                    (
                        number,
                        work,
                        subprocess.Popen(argv, cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
                    )
                )
            for number, work, proc in procs:
                proc.wait(300)
                result = helpers.load_result(work)
                remote = result.get("remote_logging") or {}
                figures["logged"] += remote.get("messages", 0)
                figures["late"] += (remote.get("handoff_received") or {}).get("sent", 0)
                first = result["commands"][0]["start"]
                figures["first_command"][number] = (when(first) - when(result["pilot"]["start"])).total_seconds()
                if index > args.down:
                    figures["after"].append(number)
            if index == args.down:
                logbook.start()
        stored = logbook.messages_of()
        figures["stored"] = len(stored)
        figures["duplicates"] = logbook.duplicates
        incomplete = 0
        for number in range(args.pilots):
            items = logbook.messages_of(stamp_of(number))
            if (
                not items
                or items[-1]["kind"] != "result"
                or [m["seq"] for m in items] != list(range(1, len(items) + 1))
            ):
                incomplete += 1
        figures["incomplete"] = incomplete
        figures["waiting"] = len(os.listdir(handoff)) if mode == "handoff" and os.path.isdir(handoff) else 0
    finally:
        logbook.close()
        shutil.rmtree(root, ignore_errors=True)
    return figures


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pilots", type=int, default=20)
    parser.add_argument("--wave", type=int, default=4, help="pilots run at once")
    parser.add_argument(
        "--down", type=int, default=3, help="the logbook is down from the 2nd wave to the end of wave DOWN+1"
    )
    parser.add_argument("--lines", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--pyz", default=os.path.join(REPO, "dist", "pilot.pyz"))
    args = parser.parse_args()
    scratch = tempfile.mkdtemp(prefix="bench-outage-")
    try:
        os.mkdir(os.path.join(scratch, "certs"))
        certs = TestCerts(os.path.join(scratch, "certs"))
        rounds = []
        for _ in range(args.rounds):  # the modes interleaved: the machine's load hits both alike
            rounds.append(
                dict((mode, run_schedule(mode, args, args.pyz, certs, scratch)) for mode in ("handoff", "off"))
            )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    python = subprocess.run(
        [args.python, "-c", "import platform; print(platform.python_version())"],
        stdout=subprocess.PIPE,
        universal_newlines=True,
    ).stdout.strip()
    print(
        "%d pilots in waves of %d, logbook down from wave 2 to wave %d; %d lines each; Python %s; %d round(s)"
        % (args.pilots, args.wave, args.down + 1, args.lines, python, args.rounds)
    )
    print(
        "%-8s %5s %7s %7s %6s %15s %11s %11s %8s"
        % ("mode", "round", "logged", "stored", "lost", "late (hand-off)", "incomplete", "duplicates", "waiting")
    )
    for number, results in enumerate(rounds):
        for mode in ("handoff", "off"):
            r = results[mode]
            print(
                "%-8s %5d %7d %7d %6d %15d %11d %11d %8d"
                % (
                    mode,
                    number + 1,
                    r["logged"],
                    r["stored"],
                    r["logged"] - r["stored"],
                    r["late"],
                    r["incomplete"],
                    r["duplicates"],
                    r["waiting"],
                )
            )
    on, off = [], []
    for results in rounds:
        for pilot in results["handoff"]["after"]:
            on.append(results["handoff"]["first_command"][pilot])
            off.append(results["off"]["first_command"][pilot])
    if on:
        ratios = [a / b for a, b in zip(on, off) if b > 0]
        print(
            "first command of the pilots after the outage (%d, paired by round and pilot), from the pilot's "
            "start: median %.3f s with hand-off, %.3f s without; paired ratio median %.2f"
            % (len(on), statistics.median(on), statistics.median(off), statistics.median(ratios))
        )


if __name__ == "__main__":
    main()
