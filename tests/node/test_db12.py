"""pilot.cpu.db12 and its node cache (Python 2.6-compatible syntax).

Benchmarks here are tiny (``draws``) or quick: the full DB12 costs ~12 s of
CPU per copy; its agreement with DIRAC's db12 package is checked in
tests/server and measured by bench/bench_db12.py.
"""

import errno
import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time
import warnings

import pytest

from pilot.cpu import db12, db12cache

SMALL = 100000  # draws per pass in the tests: ~0.05 s


class RecordingLog(object):
    def __init__(self):
        self.lines = []

    def info(self, text):
        self.lines.append(("INFO", text))

    def warning(self, text):
        self.lines.append(("WARNING", text))

    debug = info

    def text(self, level=None):
        return "\n".join(line for lvl, line in self.lines if level is None or lvl == level)


def fake_run(raw):
    """A replacement for db12.run that records its calls."""
    calls = []

    def run(mode, copies, draws=db12.DRAWS_PER_ITERATION):
        calls.append((mode, copies, draws))
        return {"raw": sorted(raw), "cpu_seconds": 1.5, "wall_seconds": 0.8}

    run.calls = calls
    return run


# -- the algorithm ------------------------------------------------------------------

def test_summary_has_diracs_multi_copy_keys():
    result = db12.summary([3.0, 1.0, 4.0, 2.0])
    assert result["raw"] == [1.0, 2.0, 3.0, 4.0]
    assert result["copies"] == 4
    assert result["sum"] == 10.0
    assert result["arithmetic_mean"] == 2.5
    assert abs(result["geometric_mean"] - 24 ** 0.25) < 1e-9
    assert result["median"] == 2.0  # DIRAC's raw[(n-1)//2], the lower middle


def test_full_copy_scales_the_score_to_the_draws():
    result = db12.full_copy(1, SMALL)
    assert result["cpu"] > 0
    # score = 250 x (draws / 12.5 M) / CPU seconds
    expected = 250.0 * SMALL / db12.DRAWS_PER_ITERATION / result["cpu"]
    assert abs(result["norm"] - expected) < 1e-6 * expected


def test_score_is_in_db12_units():
    assert db12.score(db12.DRAWS_PER_ITERATION, 1.0) == 250.0  # one iteration per CPU second
    assert abs(db12.score(db12.DRAWS_PER_ITERATION, 250.0 / 30) - 30.0) < 1e-9


class FakeSampler(object):
    """Samples at a given DB12 score: records the CPU seconds asked for."""

    def __init__(self, scores, clock=None, wall_per_sample=0.0):
        self.scores, self.asked, self.clock, self.wall_per_sample = list(scores), [], clock, wall_per_sample

    def __call__(self, cpu_seconds):
        self.asked.append(cpu_seconds)
        if self.clock is not None:
            self.clock.now += self.wall_per_sample
        value = self.scores.pop(0) if len(self.asked) > 1 else 1.0  # the warm-up's score is not used
        return int(round(value * cpu_seconds * db12.DRAWS_PER_ITERATION / db12.CALIBRATION)), cpu_seconds


class FakeClock(object):
    def __init__(self):
        self.now, self.slept = 1000.0, []

    def time(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


def test_quick_copy_spends_about_one_cpu_second():
    sampler = FakeSampler([30.0] * db12.QUICK_SAMPLES)
    result = db12.quick_copy(sampler=sampler)
    assert sampler.asked == [db12.QUICK_WARMUP_CPU] + [db12.QUICK_SAMPLE_CPU] * db12.QUICK_SAMPLES
    assert 0.9 <= sum(sampler.asked) <= 1.1  # warm-up included
    assert abs(result["cpu"] - db12.QUICK_SAMPLES * db12.QUICK_SAMPLE_CPU) < 1e-9
    assert len(result["samples"]) == db12.QUICK_SAMPLES
    assert abs(result["norm"] - 30.0) < 0.01


def test_quick_estimate_ignores_the_fastest_and_slowest_sample():
    steady = [30.0] * (db12.QUICK_SAMPLES - 2)
    result = db12.quick_copy(sampler=FakeSampler([3000.0] + steady[:5] + [0.5] + steady[5:]))
    assert abs(result["norm"] - 30.0) < 0.01
    untrimmed = db12.trimmed_rate(result["samples"], 0)
    assert untrimmed > 100  # the same samples without trimming: one burst would make it
    # draws over CPU seconds of the samples kept, as the full benchmark computes it
    samples = [[db12.DRAWS_PER_ITERATION, 10.0], [db12.DRAWS_PER_ITERATION, 5.0], [1, 100.0], [10 ** 9, 1.0]]
    assert abs(db12.trimmed_rate(samples, 1) - 2 * 250.0 / 15.0) < 1e-9
    assert db12.trimmed_rate(samples[:2], 1) == db12.score(2 * db12.DRAWS_PER_ITERATION, 15.0)  # too few to trim
    assert db12.trimmed_rate([[5, 0.0]]) is None


def test_quick_copy_samples_for_real():
    draws, cpu = db12.cpu_sample(0.02)
    assert cpu >= 0.02 and draws > 0 and draws % db12.QUICK_CHUNK == 0
    result = db12.quick_copy(warmup=0.0, samples=4, sample_cpu=0.02)
    assert len(result["samples"]) == 4 and all(cpu >= 0.02 for _, cpu in result["samples"])
    assert result["norm"] == db12.trimmed_rate(result["samples"])


def test_a_starved_quick_copy_stops_at_the_wall_limit(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(db12, "time", clock)
    result = db12.quick_copy(sampler=FakeSampler([30.0] * db12.QUICK_SAMPLES, clock, wall_per_sample=2.0),
                             wall_limit=5.0)
    assert len(result["samples"]) == 3 and abs(result["norm"] - 30.0) < 0.01  # after 6 s, not 32 s
    paused = FakeClock()
    monkeypatch.setattr(db12, "time", paused)
    result = db12.quick_copy(sampler=FakeSampler([30.0] * 4, paused, wall_per_sample=1.0), samples=4,
                             wall_limit=5.0, pause=3.0)
    assert paused.slept == [3.0] * 3 and len(result["samples"]) == 4  # sleeping is not starving


def test_a_quick_copy_that_measures_no_cpu_is_none():
    assert db12.quick_copy(sampler=lambda cpu_seconds: (100, 0.0)) is None


def test_cpu_brand_is_the_leading_letters_of_the_model_name():
    assert db12.cpu_brand("processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Gold 6130\n") == "Intel"
    assert db12.cpu_brand("model name\t: AMD EPYC 7302 16-Core Processor\nmodel name\t: x\n") == "AMD"
    assert db12.cpu_brand("processor\t: 0\nBogoMIPS\t: 50.00\n") == ""


def test_correction_is_diracs():
    assert db12.correction((2, 7, 18), "Intel") == (None, None)
    assert db12.correction((3, 9, 6), "Intel") == (0.86, None)
    assert db12.correction((3, 9, 18), "AMD") == (0.71, None)
    factor, note = db12.correction((3, 11, 7), "AMD")
    assert factor is None and "Python 3.11" in note and "raw score" in note
    factor, note = db12.correction((3, 9, 6), "Hygon")
    assert factor is None and "'Hygon'" in note


# -- processes ----------------------------------------------------------------------

def test_copies_run_in_separate_processes():
    results, cpu, wall = db12.run_copies(3, os.getpid)
    assert len(results) == 3
    assert os.getpid() not in results
    assert len(set(results)) == 3
    assert wall >= 0 and cpu >= 0


def _fail():
    raise RuntimeError("boom")


def test_a_failing_copy_is_a_benchmark_error(monkeypatch):
    monkeypatch.setattr(db12, "full_copy", lambda iterations, draws: _fail())
    with pytest.raises(db12.BenchmarkError) as failure:
        db12.run("full", 2, SMALL)
    assert "2 of 2" in failure.value.reason


def test_fork_with_threads_running_is_quiet():
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.daemon = True
    thread.start()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            results, _, _ = db12.run_copies(2, lambda: db12.full_copy(1, SMALL))
    finally:
        stop.set()
    assert [str(warning.message) for warning in caught] == []  # 3.12+ would warn about fork()
    assert [bool(result and result["norm"] > 0) for result in results] == [True, True]


def test_interrupted_run_kills_its_copies(monkeypatch, tmpdir):
    def interrupted(fd):
        while len(tmpdir.listdir()) < 2:  # both copies started and wrote their pid
            time.sleep(0.01)
        raise KeyboardInterrupt()

    def copy():
        tmpdir.join(str(os.getpid())).write("")
        time.sleep(600)

    killed = []
    real_kill = os.kill

    def kill(pid, signum):
        killed.append((pid, signum))
        real_kill(pid, signum)

    monkeypatch.setattr(db12, "_read_all", interrupted)
    monkeypatch.setattr(os, "kill", kill)
    with pytest.raises(KeyboardInterrupt):
        db12.run_copies(2, copy)
    pids = sorted(int(path.basename) for path in tmpdir.listdir())
    assert sorted(killed) == [(pid, signal.SIGKILL) for pid in pids]
    # reaped too: no zombie, no child left.  Not pytest.raises: on 2.6 the exception it keeps
    # is rebuilt from its arguments and loses errno (CPython issue 7853).
    try:
        left = os.waitpid(-1, os.WNOHANG)
    except OSError as exc:
        assert exc.errno == errno.ECHILD, exc
    else:
        raise AssertionError("a child is still there: waitpid gave %r" % (left,))


# -- measure() -----------------------------------------------------------------------

def test_off_measures_nothing(monkeypatch):
    monkeypatch.setattr(db12, "run", None)
    result = db12.measure("off", 4, None)
    assert result["score"] is None and result["mode"] == "off" and result["copies"] == 4
    assert result["raw"] == [] and result["from_cache"] is False


def test_bad_arguments():
    with pytest.raises(ValueError):
        db12.measure("sometimes", 1, None)
    with pytest.raises(ValueError):
        db12.measure("quick", 0, None)


def test_quick_measure_for_real(tmpdir):
    result = db12.measure("quick", 1, RecordingLog(), cache_dir=str(tmpdir))
    assert result["mode"] == "quick" and result["unit"] == "DB12" and result["copies"] == 1
    assert result["from_cache"] is False and result["cache_file"] is None
    assert len(result["raw"]) == 1 and result["score"] > 0
    budget = db12.QUICK_WARMUP_CPU + db12.QUICK_SAMPLES * db12.QUICK_SAMPLE_CPU
    starved = result["wall_seconds"] >= db12.QUICK_WALL_LIMIT  # a loaded machine: fewer samples, still an answer
    assert result["cpu_seconds"] >= (db12.QUICK_WARMUP_CPU + db12.QUICK_SAMPLE_CPU if starved else budget) - 0.05
    assert result["cpu_seconds"] <= budget + 0.3, result  # the copy's whole CPU time: about one second
    assert tmpdir.listdir() == []  # quick results are never cached


def test_full_measure_stores_and_cached_reuses(tmpdir, monkeypatch):
    log = RecordingLog()
    first = db12.measure("full", 2, log, cache_dir=str(tmpdir), draws=SMALL)
    assert first["from_cache"] is False and first["cache_status"] == "stored"
    assert len(first["raw"]) == 2 and first["raw"] == sorted(first["raw"])
    factor = first["correction"] or 1.0
    # the score comes from the unrounded scores, "raw" shows them to 3 decimals
    assert abs(first["score"] - min(first["raw"]) * factor) <= 0.05 + 0.0005 * factor + 1e-9
    assert first["db12"]["copies"] == 2
    info = os.stat(first["cache_file"])
    assert stat.S_IMODE(info.st_mode) == 0o600

    monkeypatch.setattr(db12, "run_copies", None)  # any benchmark run would now crash
    second = db12.measure("cached", 2, log, cache_dir=str(tmpdir), draws=SMALL)
    assert second["from_cache"] is True and second["cache_status"] == "hit"
    assert second["raw"] == first["raw"] and second["score"] == first["score"]
    assert second["cpu_seconds"] == first["cpu_seconds"]
    assert second["age_seconds"] >= 0


def test_cached_miss_runs_full_and_stores(tmpdir, monkeypatch):
    run = fake_run([50.0])
    monkeypatch.setattr(db12, "run", run)
    result = db12.measure("cached", 1, None, cache_dir=str(tmpdir.join("new")), now=1000.0)
    assert run.calls == [("cached", 1, db12.DRAWS_PER_ITERATION)]
    assert result["from_cache"] is False and result["cache_status"] == "stored"
    assert stat.S_IMODE(os.stat(str(tmpdir.join("new"))).st_mode) == 0o700
    again = db12.measure("cached", 1, None, cache_dir=str(tmpdir.join("new")), now=1000.0 + 3600)
    assert again["from_cache"] is True and len(run.calls) == 1


def test_expired_entry_is_measured_again(tmpdir, monkeypatch):
    run = fake_run([50.0])
    monkeypatch.setattr(db12, "run", run)
    db12.measure("full", 1, None, cache_dir=str(tmpdir), now=1000.0)
    later = 1000.0 + db12cache.DEFAULT_MAX_AGE + 1
    result = db12.measure("cached", 1, None, cache_dir=str(tmpdir), now=later)
    assert result["from_cache"] is False and len(run.calls) == 2
    assert result["cache_status"] == "stored"
    assert json.loads(open(result["cache_file"]).read())["measured_at"] == later
    shorter = db12.measure("cached", 1, None, cache_dir=str(tmpdir), now=later + 60, max_age=30)
    assert shorter["from_cache"] is False and len(run.calls) == 3


def test_score_is_min_of_copies_corrected(monkeypatch, tmpdir):
    monkeypatch.setattr(db12, "run", fake_run([40.0, 30.0, 50.0]))
    monkeypatch.setattr(db12, "correction", lambda: (0.71, None))
    result = db12.measure("full", 3, None, cache_dir=str(tmpdir))
    assert result["raw"] == [30.0, 40.0, 50.0]
    assert result["correction"] == 0.71
    assert result["score"] == 21.3  # round(30 x 0.71, 1): DIRAC's min of corrected copies
    assert result["db12"]["raw"] == [30.0 * 0.71, 40.0 * 0.71, 50.0 * 0.71]
    assert abs(result["db12"]["median"] - 40.0 * 0.71) < 1e-9


def test_missing_correction_is_a_warning(monkeypatch, tmpdir):
    monkeypatch.setattr(db12, "run", fake_run([40.0]))
    monkeypatch.setattr(db12, "correction", lambda: (None, "no DB12 correction for Python 3.11"))
    log = RecordingLog()
    result = db12.measure("quick", 1, log)
    assert result["score"] == 40.0 and result["correction"] is None
    assert "no DB12 correction for Python 3.11" in log.text("WARNING")


# -- the node cache ----------------------------------------------------------------------

def plant(tmpdir, copies, content, mode=0o600):
    cache = db12cache.NodeCache(str(tmpdir), copies, db12.DRAWS_PER_ITERATION)
    handle = open(cache.path, "w")
    handle.write(content)
    handle.close()
    os.chmod(cache.path, mode)
    return cache


def entry_for(cache, raw, when):
    return json.dumps({"schema": db12cache.SCHEMA, "key": cache.key, "measured_at": when,
                       "measurement": {"raw": raw, "cpu_seconds": 9.0, "wall_seconds": 9.5}})


@pytest.mark.parametrize("content", ["", "garbage", '{"schema": "pilots2/db12-cache/1", "key": {"co',
                                     "[1, 2]", '{"schema": "other"}'])
def test_garbage_or_partial_entry_is_a_miss_and_replaced(tmpdir, monkeypatch, content):
    cache = plant(tmpdir, 1, content)
    measured, status = cache.load(time.time())
    assert measured is None
    assert status.startswith("miss: ") or status.endswith("is not valid JSON (a partial or foreign file)")
    monkeypatch.setattr(db12, "run", fake_run([44.0]))
    result = db12.measure("cached", 1, None, cache_dir=str(tmpdir))
    assert result["from_cache"] is False and result["cache_status"] == "stored"
    assert cache.load(time.time())[0]["raw"] == [44.0]


def test_entry_of_another_key_is_a_miss(tmpdir):
    cache = plant(tmpdir, 1, "")
    other = dict(cache.key, copies=8)
    handle = open(cache.path, "w")
    handle.write(json.dumps({"schema": db12cache.SCHEMA, "key": other, "measured_at": time.time(),
                             "measurement": {"raw": [1.0], "cpu_seconds": 1, "wall_seconds": 1}}))
    handle.close()
    measured, status = cache.load(time.time())
    assert measured is None and "another node" in status


def test_entry_from_the_future_or_with_bad_scores_is_a_miss(tmpdir):
    now = time.time()
    cache = plant(tmpdir, 1, "")
    for raw, when, why in (([40.0], now + 3600, "future"), ([-1.0], now, "bad scores"),
                           ([1e9], now, "bad scores"), ([40.0, 41.0], now, "bad scores")):
        plant(tmpdir, 1, entry_for(cache, raw, when))
        measured, status = cache.load(now)
        assert measured is None and why in status


def test_entry_writable_by_others_is_refused_and_replaced(tmpdir, monkeypatch):
    cache = plant(tmpdir, 1, "")
    plant(tmpdir, 1, entry_for(cache, [40.0], time.time()), mode=0o666)
    measured, status = cache.load(time.time())
    assert measured is None and "writable by other users" in status
    monkeypatch.setattr(db12, "run", fake_run([44.0]))
    log = RecordingLog()
    result = db12.measure("cached", 1, log, cache_dir=str(tmpdir))
    assert result["from_cache"] is False and result["raw"] == [44.0]
    assert "writable by other users" in log.text("WARNING")
    assert stat.S_IMODE(os.stat(cache.path).st_mode) == 0o600
    assert cache.load(time.time())[0]["raw"] == [44.0]


def test_symbolic_link_entry_is_refused(tmpdir):
    cache = plant(tmpdir, 1, "")
    target = tmpdir.join("elsewhere.json")
    target.write(entry_for(cache, [40.0], time.time()))
    os.remove(cache.path)
    os.symlink(str(target), cache.path)
    measured, status = cache.load(time.time())
    assert measured is None and "symbolic link" in status


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another uid needs root")
def test_foreign_owner_is_refused(tmpdir, monkeypatch):
    cache = plant(tmpdir, 1, "")
    plant(tmpdir, 1, entry_for(cache, [40.0], time.time()))
    os.chown(cache.path, 12345, -1)
    measured, status = cache.load(time.time())
    assert measured is None and "belongs to uid 12345" in status
    # a directory of another uid: neither read nor written
    folder = tmpdir.join("squatted")
    folder.mkdir()
    os.chmod(str(folder), 0o700)
    os.chown(str(folder), 12345, -1)
    monkeypatch.setattr(db12, "run", fake_run([44.0]))
    log = RecordingLog()
    result = db12.measure("cached", 1, log, cache_dir=str(folder))
    assert result["from_cache"] is False and "belongs to uid 12345" in result["cache_status"]
    assert "not cached" in log.text("WARNING")
    assert folder.listdir() == []


def test_unsafe_directories_are_refused(tmpdir, monkeypatch):
    monkeypatch.setattr(db12, "run", fake_run([44.0]))
    open_dir = tmpdir.join("open")
    open_dir.mkdir()
    os.chmod(str(open_dir), 0o777)
    result = db12.measure("full", 1, None, cache_dir=str(open_dir))
    assert "writable by other users" in result["cache_status"] and open_dir.listdir() == []
    real = tmpdir.join("real")
    real.mkdir()
    link = tmpdir.join("link")
    os.symlink(str(real), str(link))
    result = db12.measure("full", 1, None, cache_dir=str(link))
    assert "not a directory" in result["cache_status"] and real.listdir() == []


def test_default_directory(monkeypatch):
    assert db12cache.default_dir({"PILOT_DB12_CACHE": "/x/y", "XDG_CACHE_HOME": "/c"}) == "/x/y"
    assert db12cache.default_dir({"XDG_CACHE_HOME": "/c"}) == "/c/pilots2"
    assert db12cache.default_dir({"XDG_CACHE_HOME": "relative"}) == "/var/tmp/pilots2-%d" % os.geteuid()
    assert db12cache.default_dir({}) == "/var/tmp/pilots2-%d" % os.geteuid()


def test_key_names_what_the_score_depends_on():
    key = db12cache.node_key(4, db12.DRAWS_PER_ITERATION)
    assert sorted(key) == ["copies", "cpu_model", "cpus", "draws", "kernel", "python"]
    assert key["kernel"] == os.uname()[2] and key["copies"] == 4
    assert db12cache.file_name(key) != db12cache.file_name(dict(key, copies=2))
    assert db12cache.file_name(key) == db12cache.file_name(dict(key))


WRITER = """
import sys, time
sys.path[:0] = sys.argv[1:3]
from pilot.cpu import db12, db12cache
cache = db12cache.NodeCache(sys.argv[3], 1, db12.DRAWS_PER_ITERATION)
value = float(sys.argv[4])
for _ in range(150):
    status = cache.store({"raw": [value], "cpu_seconds": 1.0, "wall_seconds": 1.0}, time.time())
    assert status == "stored", status
"""


def test_concurrent_writers_leave_a_valid_entry(tmpdir):
    here = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.dirname(os.path.dirname(here))
    args = [os.path.join(repo, "pilot_src"), repo, str(tmpdir)]
    writers = [subprocess.Popen([sys.executable, "-c", WRITER] + args + [value])
               for value in ("11.0", "22.0")]
    cache = db12cache.NodeCache(str(tmpdir), 1, db12.DRAWS_PER_ITERATION)
    seen = []
    while [writer for writer in writers if writer.poll() is None]:
        measured, status = cache.load(time.time())
        if measured is not None:
            seen.append(measured["raw"][0])
        else:
            assert status == "miss", status  # before the first rename: absent, never broken
    assert [writer.returncode for writer in writers] == [0, 0]
    measured, status = cache.load(time.time())
    assert status == "hit" and measured["raw"][0] in (11.0, 22.0)
    assert set(seen) <= set([11.0, 22.0])
    assert [name for name in os.listdir(str(tmpdir)) if name.endswith(".tmp")] == []
