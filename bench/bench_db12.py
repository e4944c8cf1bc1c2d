#!/usr/bin/env python3
"""DB12 of the pilot against DIRAC's ``db12`` package, the quick estimate and its variants, the node cache.

    .venv/bin/python bench/bench_db12.py [--runs N] [--copies N] [--skip-db12]

Prints figures; asserts nothing.  On this machine and interpreter, N rounds
(default 7); each round runs, one after the other so all see the same load:

* the full benchmark of ``pilot.cpu.db12`` and of ``db12.multiple_dirac_benchmark``
  (the call dirac-wms-cpu-normalization makes), raw scores (no Python-3
  correction on either side);
* the quick estimate (16 samples of 0.05 s of CPU after a 0.2 s warm-up, rate
  of all but the fastest and the slowest), and from the same samples their
  rate without trimming, their median and their upper quartile;
* the variants tried before or beside it, each in a copy of its own: the
  median of 7 samples of 0.1 s after a 0.3 s warm-up (quick mode until
  2026-12-03), one sample of 0.7 s (before that), and the quick estimate with
  0.1 s of sleep between its samples (spread over more wall time);

then, for each estimator, min-max over the rounds, (max - min) / median, the
median and its bias against the full benchmark's median, and the time of a
cached lookup (``measure('cached')`` served by the cache).

Needs the ``db12`` package (setup.py's dev extra) unless --skip-db12.
A full run costs about 12 s of CPU per copy (warm-up and measured pass).
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(REPO, "pilot_src"), REPO]

from pilot.cpu import db12, db12cache  # noqa: E402  (needs the sys.path line above)

FULL = "full pilot.cpu.db12"
DIRAC = "full db12 package"
QUICK = "quick: 16 x 0.05 s, trim 1+1"


def theirs(copies):
    import db12 as dirac_db12

    return dirac_db12.multiple_dirac_benchmark(copies=copies, correction=False)["raw"]


def scores(samples):
    return sorted(db12.score(draws, cpu) for draws, cpu in samples)


# Statistics of the quick estimate's own samples, besides the one quick mode uses.
SAME_SAMPLES = [
    ("  same samples, all (rate)", lambda samples: db12.trimmed_rate(samples, 0)),
    ("  same samples, median", lambda samples: statistics.median(scores(samples))),
    ("  same samples, upper quartile", lambda samples: scores(samples)[(3 * len(samples)) // 4]),
]


def median_of_7():
    result = db12.quick_copy(warmup=0.3, samples=7, sample_cpu=0.1)
    return statistics.median(scores(result["samples"]))


def one_sample():
    return db12.quick_copy(warmup=0.3, samples=1, sample_cpu=0.7)["norm"]


def paused():
    return db12.quick_copy(pause=0.1)["norm"]


# Variants measured in copies of their own: label, job returning a score.
OWN_COPIES = [
    ("median of 7 x 0.1 s (before)", median_of_7),
    ("one 0.7 s sample (earlier)", one_sample),
    ("quick + 0.1 s sleeps between", paused),
]


def copies_min(copies, job):
    """min over the copies of job(), as the pilot takes the min of its copies."""
    results = db12.run_copies(copies, job)[0]
    if any(result is None for result in results):
        raise SystemExit("a benchmark copy failed")
    return min(results)


def spread(values):
    return 100.0 * (max(values) - min(values)) / statistics.median(values)


def load():
    try:
        with open("/proc/loadavg") as handle:
            return " ".join(handle.read().split()[:3])
    except OSError:
        return "unknown"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--copies", type=int, default=1)
    parser.add_argument("--skip-db12", action="store_true", help="do not run DIRAC's db12 package")
    args = parser.parse_args()
    print(
        "Python %s, CPU %s, %d cop%s, %d runs, load average %s"
        % (
            sys.version.split()[0],
            db12cache.node_key(1, 0)["cpu_model"],
            args.copies,
            "y" if args.copies == 1 else "ies",
            args.runs,
            load(),
        )
    )
    factor, note = db12.correction()
    print("Python-3 correction here: %s" % (factor if factor else "none (%s)" % note))

    rows = dict((label, []) for label in [FULL, DIRAC, QUICK] + [row[0] for row in SAME_SAMPLES + OWN_COPIES])
    quick_cpu, quick_wall = [], []
    for run in range(args.runs):
        started = time.time()
        rows[FULL].append(min(db12.run("full", args.copies)["raw"]))
        if not args.skip_db12:
            rows[DIRAC].append(min(theirs(args.copies)))
        quick = db12.run_copies(args.copies, db12.quick_copy)[0]
        if any(result is None for result in quick):
            raise SystemExit("a quick copy failed")
        rows[QUICK].append(min(result["norm"] for result in quick))
        quick_cpu.append(max(result["cpu"] for result in quick))
        quick_wall.append(max(result["wall"] for result in quick))
        for label, statistic in SAME_SAMPLES:
            rows[label].append(min(statistic(result["samples"]) for result in quick))
        for label, job in OWN_COPIES:
            rows[label].append(copies_min(args.copies, job))
        print(
            "  round %d: full %.2f%s, quick %.2f  (%.0f s, load %s)"
            % (
                run + 1,
                rows[FULL][-1],
                ", db12 package %.2f" % rows[DIRAC][-1] if rows[DIRAC] else "",
                rows[QUICK][-1],
                time.time() - started,
                load(),
            )
        )

    full = statistics.median(rows[FULL])
    print(
        "over %d rounds: min - max (DB12), (max - min) / median, median, bias of the median against full:" % args.runs
    )
    for label in [FULL, DIRAC, QUICK] + [row[0] for row in SAME_SAMPLES + OWN_COPIES]:
        values = rows[label]
        if values:
            print(
                "  %-32s %6.2f - %6.2f  %5.1f %%  %6.2f  %+5.1f %%"
                % (
                    label,
                    min(values),
                    max(values),
                    spread(values),
                    statistics.median(values),
                    100.0 * (statistics.median(values) / full - 1),
                )
            )
    print(
        "quick estimate: %.2f s of CPU measured after the warm-up, %.2f s wall (medians), "
        "worst single run against the full median %+.1f %%"
        % (
            statistics.median(quick_cpu),
            statistics.median(quick_wall),
            max((100.0 * (value / full - 1) for value in rows[QUICK]), key=abs),
        )
    )

    folder = tempfile.mkdtemp(prefix="bench-db12-")
    try:
        cache = db12cache.NodeCache(folder, args.copies, db12.DRAWS_PER_ITERATION)
        cache.store({"raw": [full] * args.copies, "cpu_seconds": 1.0, "wall_seconds": 1.0}, time.time())
        timings = []
        for _ in range(200):
            started = time.perf_counter()
            result = db12.measure("cached", args.copies, None, cache_dir=folder)
            timings.append(time.perf_counter() - started)
            assert result["from_cache"], result["cache_status"]
        print(
            "cached lookup (measure('cached') served by the cache): median %.2f ms, max %.2f ms"
            % (1000 * statistics.median(timings), 1000 * max(timings))
        )
    finally:
        shutil.rmtree(folder)


if __name__ == "__main__":
    main()
