#!/usr/bin/env python3
"""DB12 of the pilot against DIRAC's ``db12`` package, the quick estimate, the node cache.

    .venv/bin/python bench/bench_db12.py [--runs N] [--copies N] [--skip-db12]

Prints figures; asserts nothing.  On this machine and interpreter, N rounds
(default 3); each round runs, one after the other so all see the same load:

* the full benchmark of ``pilot.cpu.db12`` and of ``db12.multiple_dirac_benchmark``
  (the call dirac-wms-cpu-normalization makes); raw scores (no Python-3
  correction on either side), medians and their ratio;
* the quick estimate (median of 7 samples of 0.1 s of CPU after a 0.3 s
  warm-up) and, for comparison, one sample of 0.7 s (the estimator quick mode
  used before);

then the spread of each (min-max, and (max - min) / median) side by side, the
quick estimate's error against the full benchmark, and the time of a cached
lookup (``measure('cached')`` served by the cache).

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


def theirs(copies):
    import db12 as dirac_db12

    return dirac_db12.multiple_dirac_benchmark(copies=copies, correction=False)["raw"]


def one_sample():
    """The quick estimator used before: one sample of 0.7 s of CPU after the warm-up."""
    return db12.quick_copy(samples=1, sample_cpu=0.7)


def spread(values):
    return 100.0 * (max(values) - min(values)) / statistics.median(values)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--copies", type=int, default=1)
    parser.add_argument("--skip-db12", action="store_true", help="do not run DIRAC's db12 package")
    args = parser.parse_args()
    print("Python %s, CPU %s, %d cop%s, %d runs" % (
        sys.version.split()[0], db12cache.node_key(1, 0)["cpu_model"], args.copies,
        "y" if args.copies == 1 else "ies", args.runs))
    factor, note = db12.correction()
    print("Python-3 correction here: %s" % (factor if factor else "none (%s)" % note))

    ours, dirac, quick, single, quick_wall = [], [], [], [], []
    for run in range(args.runs):
        started = time.time()
        ours.append(min(db12.run("full", args.copies)["raw"]))
        line = "  round %d: full pilot.cpu.db12 %.2f" % (run + 1, ours[-1])
        if not args.skip_db12:
            dirac.append(min(theirs(args.copies)))
            line += ", db12 package %.2f (ratio %.3f)" % (dirac[-1], ours[-1] / dirac[-1])
        began = time.time()
        quick.append(min(db12.run("quick", args.copies)["raw"]))
        quick_wall.append(time.time() - began)
        single.append(min(db12.run_copies(args.copies, one_sample)[0], key=lambda r: r["norm"])["norm"])
        print(line + ", quick %.2f, one 0.7 s sample %.2f  (%.0f s)"
              % (quick[-1], single[-1], time.time() - started))
    full = statistics.median(ours)
    print("full benchmark, median of %d: pilot.cpu.db12 %.2f DB12" % (args.runs, full))
    if dirac:
        print("full benchmark, median of %d: db12 package %.2f DB12" % (args.runs, statistics.median(dirac)))
        print("ratio pilot.cpu.db12 / db12 package (medians): %.3f (%+.1f %%)"
              % (full / statistics.median(dirac), 100.0 * (full / statistics.median(dirac) - 1)))
    print("spread over %d rounds (min-max; (max-min)/median):" % args.runs)
    rows = [("full pilot.cpu.db12", ours), ("full db12 package", dirac),
            ("quick (median of 7 x 0.1 s)", quick), ("one 0.7 s sample", single)]
    for label, values in rows:
        if values:
            print("  %-28s %6.2f - %6.2f  %5.1f %%" % (label, min(values), max(values), spread(values)))
    print("quick estimate: median %.2f DB12, %.2f s wall each; error against full (medians) %+.1f %%, "
          "worst single run %+.1f %%"
          % (statistics.median(quick), statistics.median(quick_wall), 100.0 * (statistics.median(quick) / full - 1),
             max((100.0 * (q / full - 1) for q in quick), key=abs)))

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
        print("cached lookup (measure('cached') served by the cache): median %.2f ms, max %.2f ms"
              % (1000 * statistics.median(timings), 1000 * max(timings)))
    finally:
        shutil.rmtree(folder)


if __name__ == "__main__":
    main()
