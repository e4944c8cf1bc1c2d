#!/usr/bin/env python3
"""Our pilot against DIRAC's, side by side: whole runs, start-up, wrapper size.  Prints figures.

    .venv/bin/python bench/bench_vs_dirac.py [--runs 9] [--pythons 3.6,3.11,3.13] [--ours-only 2.6,2.7]

* **Whole runs.**  DIRAC's pilot (dirac-pilot.py and its modules, from the anchors, see
  bench/dirac_anchors.py) and pilot.pyz run the same command list with the same options
  on the same test-double release (tests/doubles/dirac, preinstalled, DB12 not in the
  list), alternating (DIRAC first in even runs, ours first in odd ones), each in a fresh
  work directory with the same pilot.json.  The double's tools note how long each of
  their processes lived ($FAKE_DIRAC_TIMES): *tools* is their sum, *own* = wall - tools,
  the time a pilot spends itself.  Medians of each, and the median of the paired ratios
  ours/DIRAC's (run i against run i).  Ours runs twice per round: as a node runs it by
  default, with its bytecode cache (compiled modules kept between pilots, by default in
  /var/tmp/pilots2-pyc-<uid>; here a folder of the bench's, filled by one run first), and
  cold (PILOT_PYC_CACHE=off: every module compiled, as for the first pilot on a node).
* **Start-up.**  ``python pilot.pyz --version`` against the bare interpreter
  (``python -c pass``), and ``-d --version`` (through the option parser) cold and with the
  bytecode cache (filled by a first run); and
  ``python pilot.pyz --explain <the options>`` against what DIRAC's pilot does before its
  first command: import pilotTools and pilotCommands and make PilotParams() from the same
  pilot.json and options.  Alternating, medians of paired ratios.
* **Wrapper.**  The complete batch wrapper (whole pilot, base94, no token) against DIRAC's
  PilotWrapper.py with its pilot files embedded, made in this run.

DIRAC's pilot needs Python 3.6+; --ours-only interpreters run our pilot alone.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipapp

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path[:0] = [HERE, os.path.join(REPO, "pilot_src"), os.path.join(REPO, "tests")]

import dirac_anchors  # noqa: E402
from support.interpreters import find_interpreters  # noqa: E402

MAKER = os.path.join(REPO, "tests", "doubles", "dirac", "make_release.py")
COMMANDS = (
    "CheckWorkerNode,InstallDIRAC,ConfigureBasics,CheckCECapabilities,CheckWNCapabilities,"
    "ConfigureSite,ConfigureArchitecture,LaunchAgent"
)
SETUP, SITE = "Test-Setup", "DIRAC.Bench.local"


def interpreters():
    """{"X.Y": path} of the interpreters of .ci/find-pythons.sh."""
    return dict(("%s.%s" % (env[2], env[3:]), path) for env, path in find_interpreters())


class Bed(object):
    """The release, the certificates and what each run needs."""

    def __init__(self, scratch):
        self.scratch = scratch
        out = subprocess.run(
            [sys.executable, MAKER, "--version", "9.0.0", "--out", os.path.join(scratch, "rel")],
            check=True,
            stdout=subprocess.PIPE,
        ).stdout.decode()
        with open(out.strip().splitlines()[-1]) as handle:
            self.release = json.load(handle)
        self.certs = os.path.join(scratch, "certs")
        os.mkdir(self.certs)
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=bench.local",
                "-keyout",
                os.path.join(self.certs, "hostkey.pem"),
                "-out",
                os.path.join(self.certs, "hostcert.pem"),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def server(self):
        path = tempfile.mkdtemp(dir=self.scratch)
        os.rmdir(path)
        subprocess.run([sys.executable, MAKER, "--new-server", path], check=True, stdout=subprocess.DEVNULL)
        return path

    def pilot_json(self, server):
        return {
            "Setups": {
                SETUP: {"Commands": {"Defaults": COMMANDS.split(",")}, "Version": "9.0.0"},
                "Defaults": {"Commands": {"Defaults": ["CheckWorkerNode"]}},
            },
            "CEs": {self.release["ce"]: {"Site": SITE, "GridCEType": "TEST"}},
            "DefaultSetup": SETUP,
            "ConfigurationServers": ["file://" + server],
        }

    def options(self):
        rel = self.release
        return [
            "-S",
            SETUP,
            "-r",
            "9.0.0",
            "-N",
            rel["ce"],
            "-Q",
            rel["queue"],
            "-n",
            SITE,
            "-M",
            "1",
            "--cert",
            "--certLocation=" + self.certs,
            "-X",
            COMMANDS,
            "-D",
            "10",
            "--preinstalledEnv=" + rel["preinstalled_rc"],
            "--CVMFS_locations=" + rel["cvmfs_location"],
            "--PollingTime=0",
            "--StopAfterFailedMatches=1",
        ]

    def work_dir(self, server, dirac):
        work = tempfile.mkdtemp(dir=self.scratch)
        if dirac:
            for name in dirac_anchors.PILOT_FILES:
                shutil.copy(os.path.join(dirac_anchors.pilot_dir(self.anchors), name), work)
        with open(os.path.join(work, "pilot.json"), "w") as handle:
            json.dump(self.pilot_json(server), handle)
        return work


def environment(extra=None):
    # PILOT_PYC_CACHE is always given: the default cache in /var/tmp is never touched by the bench.
    env = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp"), "LANG": "C.UTF-8", "PILOT_PYC_CACHE": "off"}
    env.update(extra or {})
    return env


def whole_run(bed, python, pyz, dirac, cache=None):
    server = bed.server()
    work = bed.work_dir(server, dirac)
    times = os.path.join(work, "tools.times")
    argv = [python, "dirac-pilot.py"] if dirac else [python, pyz]
    argv += bed.options() + ([] if dirac else ["--install-methods=preinstalled"])
    extra = {"FAKE_DIRAC_TIMES": times}
    if cache:
        extra["PILOT_PYC_CACHE"] = cache
    started = time.perf_counter()
    proc = subprocess.run(argv, cwd=work, env=environment(extra), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    wall = time.perf_counter() - started
    if proc.returncode:
        tail = proc.stdout.decode("utf-8", "replace").strip().splitlines()[-1:]
        raise RuntimeError("%s exited %d: %s" % ("DIRAC's pilot" if dirac else "pilot.pyz", proc.returncode, tail))
    with open(times) as handle:
        tools = sum(float(line.split()[1]) for line in handle if line.strip())
    shutil.rmtree(work, ignore_errors=True)
    shutil.rmtree(server, ignore_errors=True)
    return {"wall": wall, "tools": tools, "own": wall - tools}


def timed(argv, cwd, env):
    started = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    took = time.perf_counter() - started
    if proc.returncode:
        raise RuntimeError(
            "%s exited %d: %s"
            % (" ".join(argv[:3]), proc.returncode, proc.stderr.decode("utf-8", "replace").strip()[-300:])
        )
    return took


def paired(first, second, runs, order=True):
    """Alternating runs of two thunks: (times of first, times of second, median of paired ratios)."""
    a, b = [], []
    for run in range(runs):
        if run % 2 == 0 or not order:
            a.append(first())
            b.append(second())
        else:
            b.append(second())
            a.append(first())
    if isinstance(a[0], dict):
        return a, b, None
    return a, b, statistics.median(x / y for x, y in zip(a, b))


def fmt_ms(values):
    return "%7.1f ms" % (1000 * statistics.median(values))


def _empty_app(scratch):
    folder = os.path.join(scratch, "empty-app")
    os.mkdir(folder)
    with open(os.path.join(folder, "__main__.py"), "w") as handle:
        handle.write("pass\n")
    return folder


def startup(bed, version, python, pyz, runs, with_dirac):
    work = bed.work_dir(bed.server(), with_dirac)
    env = environment()
    cache = tempfile.mkdtemp(dir=bed.scratch)
    os.chmod(cache, 0o700)
    cached = environment({"PILOT_PYC_CACHE": cache})
    timed([python, pyz, "-d", "--version"], work, cached)  # fills the cache
    timed([python, pyz, "--explain"] + bed.options(), work, cached)
    bare = lambda: timed([python, "-c", "pass"], work, env)  # noqa: E731
    ours, base, ratio = paired(lambda: timed([python, pyz, "--version"], work, env), bare, runs)
    print("  %-5s --version %s, bare %s: %.2fx bare" % (version, fmt_ms(ours), fmt_ms(base), ratio))
    # The floor of any zip application: ``python empty.pyz`` (3.6-3.10 import runpy, pkgutil and
    # importlib.util for it, which ``python -c pass`` does not).
    empty = os.path.join(bed.scratch, "empty.pyz")
    if not os.path.exists(empty):
        zipapp.create_archive(_empty_app(bed.scratch), empty)
    floor, base, ratio = paired(lambda: timed([python, empty], work, env), bare, runs)
    print("  %-5s an empty zip application %s, bare %s: %.2fx bare" % (version, fmt_ms(floor), fmt_ms(base), ratio))
    for label, run_env in ((" cold", env), (" with the cache", cached)):  # through the option parser
        ours, base, ratio = paired(lambda: timed([python, pyz, "-d", "--version"], work, run_env), bare, runs)
        print("  %-5s -d --version%s %s, bare %s: %.2fx bare" % (version, label, fmt_ms(ours), fmt_ms(base), ratio))
    explain = [python, pyz, "--explain"] + bed.options()
    if with_dirac:
        code = (
            "import sys; sys.path.insert(0, '.'); sys.argv = ['dirac-pilot.py'] + %r; "
            "import pilotTools, pilotCommands; pilotTools.PilotParams()" % bed.options()
        )
        theirs_argv = [python, "-c", code]
        for label, run_env in ((" cold", env), (" with the cache", cached)):
            ours, theirs, ratio = paired(
                lambda: timed(explain, work, run_env), lambda: timed(theirs_argv, work, env), runs
            )
            print(
                "  %-5s --explain%s %s, DIRAC's imports + PilotParams() %s: %.2fx DIRAC's"
                % (version, label, fmt_ms(ours), fmt_ms(theirs), ratio)
            )
    else:
        for label, run_env in ((" cold", env), (" with the cache", cached)):
            ours, base, ratio = paired(lambda: timed(explain, work, run_env), bare, runs)
            print(
                "  %-5s --explain%s %s (DIRAC's pilot does not run here), bare %s"
                % (version, label, fmt_ms(ours), fmt_ms(base))
            )
    shutil.rmtree(work, ignore_errors=True)


def wrapper_sizes(bed, pyz, built):
    from pilot_server import signing, wrapper

    key = signing.generate_key()
    key_path = os.path.join(bed.scratch, "key.pem")
    signing.write_key_pair(key_path, key)
    signing.sign_artifact(pyz, key, members=built.members)
    verified = wrapper.verify(pyz, [signing.public_key_path(key_path)])
    ours = wrapper.make_wrapper("batch", verified, bed.options()).size
    theirs = len(dirac_anchors.wrapper_text(bed.anchors, bed.options()).encode("utf-8"))
    print(
        "  complete batch wrapper: ours %s B, DIRAC's %s B (ratio %.2f); pilot.pyz %s B"
        % ("{0:,}".format(ours), "{0:,}".format(theirs), float(ours) / theirs, "{0:,}".format(os.path.getsize(pyz)))
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--pythons", default="3.6,3.11,3.13", help="run both pilots under these")
    parser.add_argument("--ours-only", default="2.6,2.7", help="run our pilot alone under these")
    parser.add_argument("--skip-whole", action="store_true", help="start-up and wrapper only")
    args = parser.parse_args()
    scratch = tempfile.mkdtemp(prefix="bench-vs-dirac-")
    try:
        bed = Bed(scratch)
        bed.anchors = dirac_anchors.find()
        if bed.anchors is None:
            sys.exit("bench_vs_dirac: DIRAC's pilot not found (set PILOT_ANCHORS to the anchors folder)")
        pyz = os.path.join(scratch, "pilot.pyz")
        from pilot_server import pyzbuild

        built = pyzbuild.build_pyz(pyz)
        found = interpreters()
        both = [v for v in args.pythons.split(",") if v in found]
        alone = [v for v in args.ours_only.split(",") if v in found]
        print("Same test-double release, commands %s, DB12 not run; %d runs each, alternating." % (COMMANDS, args.runs))
        if not args.skip_whole:
            print("\nWhole runs (seconds, medians; own = wall - time in DIRAC's tools):")
            print("  ours: by default (bytecode cache warm); ours-cold: PILOT_PYC_CACHE=off, as a node's first pilot")
            print(
                "  %-5s %-9s %7s %7s %7s   %s" % ("python", "pilot", "wall", "tools", "own", "own ratio ours/DIRAC's")
            )
            for version in both + alone:
                python = found[version]
                cache = tempfile.mkdtemp(dir=scratch)
                os.chmod(cache, 0o700)
                whole_run(bed, python, pyz, False, cache)  # fills the bytecode cache
                cold, cached, theirs = [], [], []
                for run in range(args.runs):  # alternating: DIRAC's first, then ours first ...
                    order = [
                        (cached, lambda: whole_run(bed, python, pyz, False, cache)),
                        (cold, lambda: whole_run(bed, python, pyz, False)),
                    ]
                    if version in both:
                        order.insert(0, (theirs, lambda: whole_run(bed, python, pyz, True)))
                    if run % 2:
                        order.reverse()
                    for target, thunk in order:
                        target.append(thunk())
                for label, runs in (("DIRAC's", theirs), ("ours", cached), ("ours-cold", cold)):
                    if runs:
                        print(
                            "  %-5s %-9s %7.2f %7.2f %7.3f"
                            % (
                                version,
                                label,
                                *[statistics.median(r[key] for r in runs) for key in ("wall", "tools", "own")],
                            )
                        )
                for label, runs in (("ours", cached), ("ours-cold", cold)):
                    if theirs:
                        ratios = [o["own"] / t["own"] for o, t in zip(runs, theirs)]
                        print(
                            "  %-5s %-9s paired ratios to DIRAC's: own %.2f (min %.2f, max %.2f), wall %.2f"
                            % (
                                version,
                                label,
                                statistics.median(ratios),
                                min(ratios),
                                max(ratios),
                                statistics.median(o["wall"] / t["wall"] for o, t in zip(runs, theirs)),
                            )
                        )
        print("\nStart-up (medians of %d alternating runs; ratios: medians of paired ratios):" % args.runs)
        for version in both + alone:
            startup(bed, version, found[version], pyz, args.runs, version in both)
        print("\nWrapper (target: complete batch wrapper <= 80,000 B):")
        wrapper_sizes(bed, pyz, built)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
