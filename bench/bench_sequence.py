#!/usr/bin/env python3
"""Wall time of the whole default command list with a preinstalled release, per interpreter.

Prints, for each interpreter present, the median over N runs of: the pilot's
wall time, the time spent waiting for child processes (the release's scripts
and the JobAgent), the DB12 measurement (--db12=quick, in forked children of
the pilot) and the pilot's own share (wall - children - DB12).  Nothing is
asserted.  Usage: python3 bench/bench_sequence.py [--runs N] [--pyz dist/pilot.pyz]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
MAKER = os.path.join(REPO, "tests", "doubles", "dirac", "make_release.py")
sys.path.insert(0, os.path.join(REPO, "tests"))

from support.certificates import self_signed  # noqa: E402
from support.interpreters import find_interpreters  # noqa: E402


def pilot_args(python, pyz, release, server, cert_location, db12):
    """The pilot's command line for one run against the release double's server (also bench_remotelog's)."""
    return [
        python,
        pyz,
        "-S",
        "Bench",
        "-r",
        release["version"],
        "-C",
        "file://" + server,
        "-N",
        release["ce"],
        "-Q",
        release["queue"],
        "-n",
        "DIRAC.Bench.local",
        "-M",
        "1",
        "--cert",
        "--certLocation=%s" % cert_location,
        "--CVMFS_locations=%s" % release["cvmfs_location"],
        "--install-methods=preinstalled",
        "--PollingTime=0",
        "--StopAfterFailedMatches=1",
        "-D",
        "10",
        "--db12=" + db12,
    ]


def one_run(python, pyz, release, certs, scratch):
    server = tempfile.mkdtemp(dir=scratch)
    os.rmdir(server)
    subprocess.run([sys.executable, MAKER, "--new-server", server], check=True, capture_output=True)
    work = tempfile.mkdtemp(dir=scratch)
    args = pilot_args(python, pyz, release, server, certs, "quick")
    started = time.perf_counter()
    proc = subprocess.run(args, cwd=work, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if proc.returncode:
        return None, "exit %d: %s" % (proc.returncode, (proc.stderr or proc.stdout).strip().splitlines()[-1:])
    with open(os.path.join(work, "pilot_result.json")) as handle:
        result = json.load(handle)
    db12 = [c["duration"] for c in result["commands"] if c["name"] == "ConfigureCPURequirements"][0]
    children = result["pilot"]["subprocess_seconds"]
    return {"wall": wall, "children": children, "db12": db12, "own": wall - children - db12}, None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--pyz", default=os.path.join(REPO, "dist", "pilot.pyz"))
    args = parser.parse_args()
    scratch = tempfile.mkdtemp(prefix="bench-sequence-")
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
    certs = tempfile.mkdtemp(dir=scratch)
    self_signed(certs, "bench.local")
    print("Whole default command list, preinstalled release, --db12=quick; median of %d runs (seconds)" % args.runs)
    print("%-6s %8s %10s %8s %12s %10s" % ("python", "wall", "children", "DB12", "pilot's own", "own share"))
    for env, python in find_interpreters():
        runs, problem = [], None
        for _ in range(args.runs):
            figures, problem = one_run(python, args.pyz, release, certs, scratch)
            if figures is None:
                break
            runs.append(figures)
        if problem:
            print("%-6s %s" % (env, problem))
            continue
        median = dict((key, statistics.median(run[key] for run in runs)) for key in runs[0])
        print(
            "%-6s %8.2f %10.2f %8.2f %12.3f %9.1f%%"
            % (
                env,
                median["wall"],
                median["children"],
                median["db12"],
                median["own"],
                100.0 * median["own"] / median["wall"],
            )
        )


if __name__ == "__main__":
    main()
