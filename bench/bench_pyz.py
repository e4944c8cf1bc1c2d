#!/usr/bin/env python3
"""Sizes and start-up cost of pilot.pyz.  Prints figures; asserts nothing.

    python3 bench/bench_pyz.py [--runs N] [--pyz PATH] [--rebuild] [--modules]

* size of the pyz and of its base64 (what a wrapper embeds), deflate vs stored;
* start-up of ``python pilot.pyz --version`` and
  ``python pilot.pyz --explain -X CheckWorkerNode`` under every interpreter that
  .ci/find-pythons.sh finds, as the median of N runs and as a ratio to the bare
  interpreter start (``python -c pass``) measured here too;
* with --modules (instead of the start-up): what each module of pilot.bz2 costs, the blob's
  bz2 size with it minus without it, largest last.

A run that exits non-zero is timed all the same and its exit code and first
error line are printed, so the script works before the pilot CLI is complete.
Builds dist/pilot.pyz first if it is missing (or with --rebuild).
"""

import argparse
import base64
import hashlib
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_PYZ = os.path.join(REPO, "dist", "pilot.pyz")
sys.path.insert(0, os.path.join(REPO, "tests"))

from support.interpreters import find_interpreters  # noqa: E402

COMMANDS = (
    ("bare", ["-c", "pass"], False),
    ("--version", ["--version"], True),
    ("--explain -X CheckWorkerNode", ["--explain", "-X", "CheckWorkerNode"], True),
)


def build(pyz):
    sys.path.insert(0, os.path.join(REPO, "pilot_src"))
    from pilot_server import pyzbuild

    result = pyzbuild.build_pyz(pyz, log=lambda m: print("  " + m))
    print("built %s (sha256 %s)" % (result.path, result.sha256))


def stored_size(data):
    # The same members re-zipped without compression, fields as in the real build.
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            copy = zipfile.ZipInfo(info.filename, info.date_time)
            copy.create_system, copy.external_attr = info.create_system, info.external_attr
            dst.writestr(copy, src.read(info.filename), zipfile.ZIP_STORED)
    return len(out.getvalue())


def print_sizes(pyz):
    with open(pyz, "rb") as fh:
        data = fh.read()
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        members = zf.infolist()
    source = sum(i.file_size for i in members)
    stored = stored_size(data)
    print(
        "%s: %d members, %s B of source, sha256 %s" % (pyz, len(members), fmt(source), hashlib.sha256(data).hexdigest())
    )
    rows = (
        ("pyz (deflate, default level)", len(data)),
        ("base64(pyz)", len(base64.b64encode(data))),
        ("stored zip", stored),
        ("base64(stored zip)", 4 * ((stored + 2) // 3)),
    )
    for label, size in rows:
        print("  %-30s %10s B" % (label, fmt(size)))
    print("  deflate is %.0f %% of stored" % (100.0 * len(data) / stored))


def print_modules(pyz):
    import bz2

    sys.path.insert(0, os.path.join(REPO, "pilot_src"))
    from pilot_server import pyzbuild

    modules = pyzbuild.read_modules(pyz)
    names = sorted(modules)
    full = len(bz2.compress(b"".join(modules[name] for name in names), 9))
    print(
        "pilot.bz2: %s B for %s B of stripped source; what each module costs in it:"
        % (fmt(full), fmt(sum(len(text) for text in modules.values())))
    )
    rows = []
    for name in names:
        rest = b"".join(modules[other] for other in names if other != name)
        rows.append((full - len(bz2.compress(rest, 9)), len(modules[name]), name))
    for cost, size, name in sorted(rows):
        print("  %-32s %7s B  (%s B stripped)" % (name, fmt(cost), fmt(size)))


def fmt(n):
    return "{:,}".format(n)


def interpreters():
    """[(version, path)] of the interpreters of .ci/find-pythons.sh, oldest first."""
    return [("%s.%s" % (env[2], env[3:]), path) for env, path in find_interpreters()]


def clean_env():
    env = dict(os.environ)
    for name in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONWARNINGS"):
        env.pop(name, None)
    return env


def timed(argv, cwd, env):
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, err = proc.communicate()
    elapsed = time.perf_counter() - start
    first = err.decode("utf-8", "replace").strip().splitlines()
    return elapsed, proc.returncode, (first[-1] if first else "")


def measure(python, pyz, runs, cwd):
    """{label: (median seconds, exit code, last stderr line)}, rounds interleaved."""
    env = clean_env()
    argvs = [(label, [python] + ([pyz] if with_pyz else []) + args) for label, args, with_pyz in COMMANDS]
    samples = {label: [] for label, _ in argvs}
    status = {}
    for _, argv in argvs:  # warm the page cache, not counted
        timed(argv, cwd, env)
    for _ in range(runs):
        for label, argv in argvs:
            elapsed, rc, err = timed(argv, cwd, env)
            samples[label].append(elapsed)
            status[label] = (rc, err)
    return {label: (statistics.median(samples[label]),) + status[label] for label in samples}


def print_startup(pyz, runs):
    found = interpreters()
    if not found:
        print("no interpreters found by .ci/find-pythons.sh")
        return
    labels = [label for label, _, _ in COMMANDS]
    print("\nstart-up, median of %d runs, ms (x bare `python -c pass`)" % runs)
    print("  %-9s" % "python" + "".join("%-30s" % label for label in labels))
    notes = {}  # (command, exit code, message) -> versions, to print each failure once
    with tempfile.TemporaryDirectory() as cwd:  # whatever the pilot writes stays out of the repo
        for version, python in found:
            result = measure(python, pyz, runs, cwd)
            bare = result["bare"][0]
            cells = []
            for label in labels:
                median, rc, err = result[label]
                cell = "%.1f" % (median * 1000)
                if label != "bare":
                    cell += " (%.2fx)" % (median / bare)
                if rc:
                    cell += " exit %d" % rc
                    notes.setdefault((label, rc, err[:160]), []).append(version)
                cells.append("%-30s" % cell)
            print("  %-9s" % version + "".join(cells))
    if notes:
        print("\nnon-zero exits (timed all the same):")
        for (label, rc, err), versions in notes.items():
            print("  %s, exit %d under %s: %s" % (label, rc, " ".join(versions), err))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=11, help="runs per command (default 11)")
    parser.add_argument("--pyz", default=DEFAULT_PYZ, help="default: dist/pilot.pyz")
    parser.add_argument("--rebuild", action="store_true", help="build the pyz first")
    parser.add_argument("--modules", action="store_true", help="each module's bz2 cost instead of the start-up")
    args = parser.parse_args(argv)
    pyz = os.path.abspath(args.pyz)
    if args.rebuild or not os.path.isfile(pyz):
        build(pyz)
    print_sizes(pyz)
    if args.modules:
        print_modules(pyz)
    else:
        print_startup(pyz, max(1, args.runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
