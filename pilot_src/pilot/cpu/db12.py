"""DIRAC Benchmark 2012 (DB12): the CPU power DIRAC uses as CPUNormalizationFactor.

The algorithm is DIRAC's (package ``db12``, used by ``dirac-wms-cpu-normalization``):

* one *iteration* is 12,500,000 draws of ``random.normalvariate(10, 1)``,
  accumulated into sums and sums of squares with plain Python floats;
* a copy runs ``iterations + 1`` passes; pass 0 is a warm-up (CPUs with a
  variable frequency), the CPU time of the others is measured with
  ``os.times()``: user + system, children included;
* score = 250 x iterations / CPU seconds, unit DB12 (12.5 M draws were
  calibrated as 1 kHS2k.s = 250 HS06.s, so DB12 is used as HS06 per core);
* N copies run at once, one process each, because a loaded node scores lower
  per core; DIRAC reports ``raw`` (sorted), ``copies``, ``sum``,
  ``arithmetic_mean``, ``geometric_mean`` and ``median`` (``raw[(n-1)//2]``)
  and takes the **minimum** of the copies, rounded to 0.1, as the factor.

**Python-3 correction.**  Python 3 scores higher than the Python 2 that DB12
was calibrated with; db12 1.0.4 (what DIRAC installs) multiplies each copy's
score by a factor known only for **Python 3.9: Intel 0.86, AMD 0.71**, the
brand being the leading letters of the first ``model name`` of /proc/cpuinfo.
Any other Python 3 version or brand keeps the raw score (with a warning);
Python 2 is never corrected.  Here ``raw`` always holds the uncorrected
per-copy scores, ``correction`` the factor applied (or None) and ``score``
= round(min(raw) x factor, 1), which equals DIRAC's min of corrected copies.
DIRAC then divides by ``Operations/JobScheduling/CPUNormalizationCorrection``
(default 1.0), a CS value the pilot cannot see; that stays DIRAC's business.

**Processes.**  Every copy, also a single one, runs in a child made with
``os.fork()``: the same on 2.6 ... 3.13 and from inside a zip, nothing to
pickle or re-import, and the child's CPU time is not polluted by the pilot's
own threads.  The child only computes, writes its result to a pipe and leaves
with ``os._exit``: it takes no lock and imports nothing, so forking while the
pilot has daemon threads is safe, and the DeprecationWarning that 3.12+ emits
for it is silenced.

**Quick mode** runs the same draws for about one CPU second per copy: 0.2 s
of warm-up, then 16 samples of 0.05 s of CPU each (getrusage: microseconds,
where os.times() counts 10 ms ticks).  The estimate is the rate of the
samples left when the fastest and the slowest are set aside: their draws over
their CPU seconds, in DB12.  That is the full benchmark's own statistic (draws
per CPU second) over 14 samples; setting one sample aside at
each end keeps a single wild sample out.  The median of the same samples
spread wider from run to run: on a shared node the speed per CPU second
changes over seconds, those changes are real (the full benchmark sees them
too), and throwing samples away only adds noise (figures in
docs/performance.md, from ``bench/bench_db12.py``).  **The node cache** is
in ``pilot.cpu.db12cache``.
"""

import json
import os
import random
import re
import signal
import sys
import time
import warnings

from ..errors import PilotError
from ..shims import compat

_range = compat.xrange

DRAWS_PER_ITERATION = 12500000
CALIBRATION = 250.0          # HS06.s for one iteration
UNIT = "DB12"
MODES = ("full", "quick", "cached", "off")
# db12 1.0.4 factors.json: Python version -> CPU brand -> factor.
PY3_FACTORS = {"3.9": {"Intel": 0.86, "AMD": 0.71}}

QUICK_WARMUP_CPU = 0.2       # seconds of CPU; lets a CPU with a variable frequency speed up
QUICK_SAMPLES = 16           # short samples of the quick estimate
QUICK_SAMPLE_CPU = 0.05      # seconds of CPU per sample: 0.2 + 16 x 0.05 = 1 s per copy
QUICK_TRIM = 1               # samples set aside at each end (the fastest, the slowest)
QUICK_CHUNK = 2000           # draws between two clock readings (about 1.5 ms)
QUICK_WALL_LIMIT = 5.0       # a starved copy stops measuring after this long

class BenchmarkError(PilotError):
    """The benchmark could not be measured (a copy failed or measured no CPU time)."""

    failure_type = "node"


# -- one copy ---------------------------------------------------------------------

def draw(count):
    """``count`` DB12 draws: normalvariate(10, 1), sums and sums of squares.

    Written as DB12 writes it (module attribute looked up at each draw,
    locals for the sums) so that the time per draw is the same.
    """
    m_1 = 0
    m_2 = 0
    p_1 = 0
    p_2 = 0
    for _ in _range(count):
        t_1 = random.normalvariate(10, 1)
        m_1 += t_1
        m_2 += t_1 * t_1
        p_1 += t_1
        p_2 += t_1 * t_1
    return m_1


def _cpu(times):
    return sum(times[:4])


def full_copy(iterations=1, draws=DRAWS_PER_ITERATION):
    """One DB12 copy in this process: warm-up pass, then ``iterations`` measured passes.

    Returns {"norm", "cpu", "wall"} (raw score, measured CPU and wall seconds)
    or None if no CPU time was measured.  ``draws`` other than DB12's 12.5 M
    is for tests: the score is scaled to it.
    """
    draw(draws)
    start = os.times()
    for _ in _range(iterations):
        draw(draws)
    end = os.times()
    cpu = _cpu(end) - _cpu(start)
    if cpu <= 0:
        return None
    norm = score(iterations * draws, cpu)
    return {"norm": norm, "cpu": cpu, "wall": end[4] - start[4]}


def _cpu_now():
    """CPU seconds of this process (user + system) with microsecond resolution.

    The copy is a forked child with one thread, so process and thread CPU
    time are the same; RUSAGE_THREAD is missing before Python 3.2 anyway.
    """
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def cpu_sample(cpu_seconds, chunk=QUICK_CHUNK):
    """Draw until ``cpu_seconds`` of CPU are used: returns (draws, CPU seconds used)."""
    start, done = _cpu_now(), 0
    while True:
        draw(chunk)
        done += chunk
        cpu = _cpu_now() - start
        if cpu >= cpu_seconds:
            return done, cpu


def score(draws, cpu_seconds):
    """DB12 of ``draws`` draws made in ``cpu_seconds``: 250 x iterations / CPU seconds."""
    return CALIBRATION * (float(draws) / DRAWS_PER_ITERATION) / cpu_seconds


def trimmed_rate(samples, trim=QUICK_TRIM):
    """DB12 of (draws, CPU seconds) samples without the ``trim`` fastest and slowest.

    Draws over CPU seconds of the samples kept, as the full benchmark
    computes it; fewer than 2 x trim + 1 samples are all kept.
    """
    kept = sorted((pair for pair in samples if pair[1] > 0), key=lambda pair: score(pair[0], pair[1]))
    if not kept:
        return None
    if len(kept) > 2 * trim:
        kept = kept[trim:len(kept) - trim]
    return score(sum(pair[0] for pair in kept), sum(pair[1] for pair in kept))


def quick_copy(warmup=QUICK_WARMUP_CPU, samples=QUICK_SAMPLES, sample_cpu=QUICK_SAMPLE_CPU, trim=QUICK_TRIM,
               wall_limit=QUICK_WALL_LIMIT, sampler=cpu_sample, pause=0.0):
    """The quick estimate of one copy: ``samples`` short samples after a warm-up, see trimmed_rate.

    ``sampler(cpu_seconds)`` returns (draws, CPU seconds used); ``pause``
    (wall seconds slept between samples) is for bench/bench_db12.py.
    Returns {"norm", "cpu", "wall", "samples"} (the estimate, measured CPU
    seconds and wall seconds, every sample's [draws, CPU seconds]) or None
    if no sample measured CPU time.
    """
    if warmup > 0:
        sampler(warmup)
    taken, cpu_total = [], 0.0
    start_wall = time.time()
    for index in _range(samples):
        if pause and index:
            time.sleep(pause)
        done, cpu = sampler(sample_cpu)
        if cpu > 0:
            taken.append([done, cpu])
            cpu_total += cpu
        if time.time() - start_wall - pause * index >= wall_limit:
            break
    norm = trimmed_rate(taken, trim)
    if norm is None:
        return None
    return {"norm": norm, "cpu": cpu_total, "wall": time.time() - start_wall, "samples": taken}


# -- copies in parallel ------------------------------------------------------------

_CHILD_SIGNALS = ("SIGTERM", "SIGINT", "SIGUSR1", "SIGXCPU", "SIGHUP")


def _fork():
    # 3.12+ warns when forking with threads running; the child never touches
    # a lock (see the module docstring), so the warning does not apply.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return os.fork()


def _child(write_fd, job):
    code = 1
    try:
        for name in _CHILD_SIGNALS:  # the pilot's handlers raise; a copy just dies
            signum = getattr(signal, name, None)
            if signum is not None:
                signal.signal(signum, signal.SIG_DFL)
        result = job()
        data = json.dumps(result).encode("ascii")
        while data:
            data = data[os.write(write_fd, data):]
        code = 0
    finally:
        os._exit(code)


def _read_all(fd):
    chunks = []
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def run_copies(copies, job):
    """Run ``job`` (returns a JSON-able value) in ``copies`` processes at once.

    Returns (results, cpu_seconds, wall_seconds): the list of the jobs'
    results in start order (None for a copy that failed), the CPU time all
    the copies used (warm-up included) and the wall time of the whole run.
    Children still running when this is interrupted (a signal to the pilot)
    are killed, never left behind.
    """
    started_times = os.times()
    children = []
    try:
        for _ in _range(copies):
            read_fd, write_fd = os.pipe()
            pid = _fork()
            if pid == 0:
                os.close(read_fd)
                _child(write_fd, job)
            os.close(write_fd)
            children.append([pid, read_fd])
        results = []
        for child in children:
            data = _read_all(child[1])
            os.close(child[1])
            child[1] = None
            os.waitpid(child[0], 0)
            child[0] = None
            try:
                results.append(json.loads(data.decode("ascii")) if data else None)
            except ValueError:
                results.append(None)
    finally:
        for pid, fd in children:
            if fd is not None:
                os.close(fd)
            if pid is not None:
                try:
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                except OSError:
                    pass
    ended_times = os.times()
    cpu = (ended_times[2] + ended_times[3]) - (started_times[2] + started_times[3])
    return results, cpu, ended_times[4] - started_times[4]


def summary(values):
    """DIRAC's multi-copy keys for a list of scores."""
    raw = sorted(values)
    count = len(raw)
    product = 1.0
    for value in raw:
        product *= value
    return {"raw": raw, "copies": count, "sum": sum(raw), "arithmetic_mean": sum(raw) / count,
            "geometric_mean": product ** (1.0 / count), "median": raw[(count - 1) // 2]}


# -- the Python-3 correction ---------------------------------------------------------

def cpu_brand(cpuinfo_text):
    """db12 1.0.4's brand: the leading letters of the first 'model name' ('Intel', 'AMD')."""
    match = re.search(r"^model name\s*:\s*([a-zA-Z]*)", cpuinfo_text or "", re.M)
    return match.group(1) if match else ""


def correction(version_info=None, brand=None):
    """(factor or None, warning or None) as db12 applies it."""
    version_info = sys.version_info if version_info is None else version_info
    if version_info[0] < 3:
        return None, None
    if brand is None:
        brand = cpu_brand(_read("/proc/cpuinfo"))
    version = "%d.%d" % (version_info[0], version_info[1])
    factors = PY3_FACTORS.get(version)
    if factors is None:
        return None, ("no DB12 correction for Python %s (DIRAC's factors cover Python %s only): "
                      "the raw score is used" % (version, ", ".join(sorted(PY3_FACTORS))))
    if brand not in factors:
        return None, ("no DB12 correction for the CPU brand '%s' on Python %s (known: %s): "
                      "the raw score is used" % (brand or "unknown", version, ", ".join(sorted(factors))))
    return factors[brand], None


def _read(path):
    try:
        handle = open(path)
        try:
            return handle.read()
        finally:
            handle.close()
    except (IOError, OSError):
        return ""


# -- the entry point ------------------------------------------------------------------

def run(mode, copies, draws=DRAWS_PER_ITERATION):
    """Measure now: {"raw": sorted uncorrected scores, "cpu_seconds", "wall_seconds"}."""
    if mode == "quick":
        job = quick_copy
    else:
        def job():
            return full_copy(1, draws)
    try:
        results, cpu, wall = run_copies(copies, job)
    except OSError as exc:  # fork or pipe refused (process or file limits)
        raise BenchmarkError("DB12: cannot start %d benchmark cop%s: %s"
                             % (copies, "y" if copies == 1 else "ies", exc.strerror or exc))
    failed = [result for result in results if not result or not result.get("norm")]
    if failed:
        raise BenchmarkError("DB12: %d of %d benchmark copies measured nothing" % (len(failed), copies))
    return {"raw": sorted(result["norm"] for result in results), "cpu_seconds": round(cpu, 3),
            "wall_seconds": round(wall, 3)}


def measure(mode, copies, log, cache_dir=None, now=None, environ=None, max_age=None,
            draws=DRAWS_PER_ITERATION):
    """The CPU power of this node in DB12, the way the pilot's commands want it.

    ``mode``: 'full' (run DIRAC's benchmark now and refresh the node cache),
    'quick' (about 1 s per copy, never cached), 'cached' (a valid entry of
    the node cache, else as 'full') or 'off' (no measurement).  ``copies``:
    processes run at once, normally the processors of the pilot.  ``log``: a
    logger with info/warning/debug (or None).  ``cache_dir``: the cache
    directory (default: see pilot.cpu.db12cache.default_dir, which reads
    ``environ``).  ``now``: the time used for the cache (tests).  ``max_age``:
    cache expiry in seconds.  ``draws``: draws per iteration, for tests only.

    Returns a dict: ``score`` (the CPUNormalizationFactor DIRAC would use:
    min of the copies, corrected, rounded to 0.1; None for 'off'), ``unit``,
    ``mode``, ``copies``, ``cpu_seconds`` and ``wall_seconds`` (of the
    measurement the score comes from), ``from_cache``, ``raw`` (uncorrected
    per-copy scores, sorted), ``correction`` (factor or None), ``db12``
    (DIRAC's multi-copy keys of the corrected scores), ``cache_file``,
    ``cache_status`` and, from the cache, ``measured_at`` / ``age_seconds``.
    Raises BenchmarkError when nothing could be measured.
    """
    from . import db12cache

    if mode not in MODES:
        raise ValueError("unknown DB12 mode %r (expected one of %s)" % (mode, ", ".join(MODES)))
    if isinstance(copies, bool) or not isinstance(copies, int) or copies < 1:
        raise ValueError("DB12 copies must be a whole number >= 1, not %r" % (copies,))
    log = log or _NoLog()
    now = time.time() if now is None else now
    result = {"unit": UNIT, "mode": mode, "copies": copies, "from_cache": False, "cache_file": None,
              "cache_status": "not used"}
    if mode == "off":
        result.update({"score": None, "raw": [], "correction": None, "cpu_seconds": 0.0,
                       "wall_seconds": 0.0, "db12": None})
        return result

    cache = None
    if mode in ("full", "cached"):
        cache = db12cache.NodeCache(cache_dir or db12cache.default_dir(environ), copies, draws,
                                    max_age=max_age)
        result["cache_file"] = cache.path
    measured = None
    if mode == "cached":
        measured, result["cache_status"] = cache.load(now)
        if measured is not None:
            result["from_cache"] = True
            result["measured_at"] = measured["measured_at"]
            result["age_seconds"] = round(now - measured["measured_at"], 1)
            log.info("DB12 from the node cache %s (measured %.0f s ago)"
                     % (cache.path, now - measured["measured_at"]))
        elif result["cache_status"].startswith("refused"):
            log.warning("DB12 node cache %s" % result["cache_status"])
        else:
            log.info("DB12 node cache %s: %s" % (cache.path, result["cache_status"]))
    if measured is None:
        log.info("DB12: running the %s benchmark with %d cop%s"
                 % ("quick" if mode == "quick" else "full", copies, "y" if copies == 1 else "ies"))
        measured = run(mode, copies, draws)
        if cache is not None:
            result["cache_status"] = cache.store(measured, now)
            if result["cache_status"] != "stored":
                log.warning("DB12 result not cached: %s" % result["cache_status"])
    factor, note = correction()
    if note:
        log.warning(note)
    multiplier = factor if factor is not None else 1.0
    result.update({
        "raw": [round(value, 3) for value in measured["raw"]],
        "correction": factor,
        "cpu_seconds": measured["cpu_seconds"],
        "wall_seconds": measured["wall_seconds"],
        "score": round(min(measured["raw"]) * multiplier, 1),
        "db12": summary([value * multiplier for value in measured["raw"]]),
    })
    log.info("DB12 score %.1f (raw %s%s)" % (result["score"], ", ".join("%.2f" % v for v in result["raw"]),
                                             ", x %s" % factor if factor else ""))
    return result


class _NoLog(object):
    def info(self, text):
        pass

    debug = warning = info
