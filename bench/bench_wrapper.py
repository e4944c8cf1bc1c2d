#!/usr/bin/env python3
"""Wrapper sizes by variant (against DIRAC's wrapper made in the same run), and the time from
wrapper start to the pilot's first command.  Prints figures; asserts nothing.

    .venv/bin/python bench/bench_wrapper.py [--runs N]

Builds a pyz into a temporary directory, signs it with a throw-away key, makes each
wrapper variant, and runs the batch (base94 and raw payloads) and fetch (file: URL)
wrappers under /bin/sh with each interpreter of .ci/find-pythons.sh first on PATH.
DIRAC's wrapper is made by its PilotWrapper.py (the anchors, see bench/dirac_anchors.py)
with its four pilot files embedded as a SiteDirector embeds them, no proxy.
"Start to first command" is from just before the wrapper starts to the timestamp of
the pilot's first "=== <Command> ===" line in pilot.out (median of N runs).
"""

import argparse
import calendar
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(REPO, "pilot_src"), os.path.join(REPO, "tests")]

from pilot_server import pyzbuild, signing, tokens, wrapper  # noqa: E402
from support.interpreters import find_interpreters  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dirac_anchors  # noqa: E402

OPTIONS = ["-X", "GetPilotVersion,CheckWorkerNode", "-r", "v9.0.0", "-D", "10"]
FIRST = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?Z +\w+ +\[\w+\] === ")


def first_command_time(pilot_out):
    with open(pilot_out) as handle:
        for line in handle:
            match = FIRST.match(line)
            if match:
                return calendar.timegm(time.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S")) + float(match.group(2) or 0)
    return None


def run_once(script, python, tmp):
    bin_dir = os.path.join(tmp, "bin-" + os.path.basename(python))
    os.makedirs(bin_dir, exist_ok=True)
    link = os.path.join(bin_dir, "python3")
    if not os.path.lexists(link):
        os.symlink(python, link)
    job = tempfile.mkdtemp(dir=tmp)
    env = {"PATH": bin_dir + ":/usr/bin:/bin", "HOME": job, "TMPDIR": job, "LANG": "C"}
    start = time.time()
    proc = subprocess.run(["/bin/sh", script], cwd=job, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    total = time.time() - start
    # the wrapper keeps the pilot's log beside its work directory as pilot-<stamp>.out
    logs = [name for name in os.listdir(job) if name.startswith("pilot-") and name.endswith(".out")]
    first = first_command_time(os.path.join(job, logs[0])) if logs and proc.returncode == 0 else None
    return proc.returncode, (first - start) if first else None, total


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench-wrapper-")
    pyz = os.path.join(tmp, "pilot.pyz")
    result = pyzbuild.build_pyz(pyz)
    key_path = os.path.join(tmp, "key.pem")
    key = signing.generate_key()
    signing.write_key_pair(key_path, key)
    signing.sign_artifact(pyz, key, members=result.members)
    verified = wrapper.verify(pyz, [signing.public_key_path(key_path)])
    secret = tokens.generate_secret()
    print("pilot.pyz: %d B, base64 %d B, sha256 %s" % (result.size, 4 * ((result.size + 2) // 3), result.sha256))
    made = {
        "batch (base94 pyz)": wrapper.make_wrapper("batch", verified, OPTIONS),
        "batch (base94 pyz) + token": wrapper.make_wrapper("batch", verified, OPTIONS, token_secret=secret),
        "batch (base64 pyz)": wrapper.make_wrapper("batch", verified, OPTIONS, encoding="pyz"),
        "batch (raw pyz)": wrapper.make_wrapper("batch", verified, OPTIONS, encoding="raw"),
        "fetch (sha256 + signature)": wrapper.make_wrapper(
            "fetch", verified, OPTIONS, urls=["file:" + pyz], fetch_rounds=1
        ),
        "fetch (sha256 only)": wrapper.make_wrapper(
            "fetch", verified, OPTIONS, urls=["file:" + pyz], fetch_check="sha256", fetch_rounds=1
        ),
        "vm (cloud-config)": wrapper.make_wrapper("vm", verified, OPTIONS),
    }
    anchors = dirac_anchors.find()
    dirac = len(dirac_anchors.wrapper_text(anchors, OPTIONS).encode("utf-8")) if anchors else None
    print("\nWrapper sizes (target for the complete batch wrapper: 80,000 B; ratio to DIRAC's):")
    if dirac:
        print("  %-30s %8s B" % ("DIRAC's PilotWrapper.py", "{0:,}".format(dirac)))
    else:
        print("  DIRAC's wrapper: not measured (no anchors; set PILOT_ANCHORS)")
    for label, item in made.items():
        print(
            "  %-30s %8s B  %s"
            % (label, "{0:,}".format(item.size), "%.2fx DIRAC's" % (float(item.size) / dirac) if dirac else "")
        )
    scripts = {}
    for label in ("batch (base94 pyz)", "batch (raw pyz)", "fetch (sha256 + signature)"):
        path = os.path.join(tmp, re.sub(r"\W+", "_", label) + ".sh")
        made[label].write(path)
        scripts[label] = path
    print("\nWrapper start -> pilot's first command (median of %d runs; total wrapper run in brackets):" % args.runs)
    print("  %-8s %s" % ("python", "  ".join("%-30s" % label for label in scripts)))
    for env_name, python in find_interpreters():
        cells = []
        for label, script in scripts.items():
            firsts, totals, codes = [], [], set()
            for _ in range(args.runs):
                code, first, total = run_once(script, python, tmp)
                codes.add(code)
                totals.append(total)
                if first is not None:
                    firsts.append(first)
            if firsts:
                cells.append(
                    "%6.0f ms [%5.0f ms]" % (1000 * statistics.median(firsts), 1000 * statistics.median(totals))
                )
            else:
                cells.append("failed (exit %s)" % ",".join(map(str, sorted(codes))))
        print("  %-8s %s" % (env_name, "  ".join("%-30s" % cell for cell in cells)))
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
