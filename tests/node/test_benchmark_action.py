"""``python pilot.pyz --benchmark [full|quick|cached]`` through the real pyz, and --db12.

Python 2.6-compatible syntax.  Only the quick benchmark runs here (about
1 s per copy); a cache hit is proven by a planted entry whose score no real
run would give.
"""

import json
import os
import subprocess
import sys
import time

import pytest

from pilot.config import options
from pilot.cpu import db12, db12cache

ENV_DROPPED = ("PILOT_DB12_CACHE", "XDG_CACHE_HOME", "JOBFEATURES", "MACHINEFEATURES", "PYTHONPATH")


def run(pyz, args, cwd, env_extra=None, timeout=120):
    env = dict(os.environ)
    for name in ENV_DROPPED:
        env.pop(name, None)
    env.update(env_extra or {})
    proc = subprocess.Popen([sys.executable, pyz] + list(args), cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.communicate()
    return proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


def one_json_object(out):
    lines = out.splitlines()
    assert len(lines) == 1, out
    result = json.loads(lines[0])
    assert isinstance(result, dict)
    return result


def plant(directory, copies, score, when=None):
    """A cache entry for this interpreter and node, as the pyz will look it up."""
    cache = db12cache.NodeCache(directory, copies, db12.DRAWS_PER_ITERATION)
    status = cache.store({"raw": [score] * copies, "cpu_seconds": 12.5, "wall_seconds": 12.6},
                         time.time() if when is None else when)
    assert status == "stored"
    return cache.path


def expected_score(raw):
    factor = db12.correction()[0]
    return round(raw * (factor or 1.0), 1)


def test_quick_benchmark_prints_one_json_object(pyz, tmpdir):
    code, out, err = run(pyz, ["--benchmark", "quick", "-P", "1"], str(tmpdir),
                         {"PILOT_DB12_CACHE": str(tmpdir.join("cache"))})
    assert code == 0, err
    result = one_json_object(out)
    for key in ("score", "unit", "mode", "copies", "cpu_seconds", "wall_seconds", "from_cache", "raw",
                "correction", "copies_source", "python", "db12"):
        assert key in result, key
    assert result["mode"] == "quick" and result["unit"] == "DB12"
    assert result["copies"] == 1 and result["copies_source"] == "-P"
    assert result["from_cache"] is False
    # about one CPU second, less when the copy is starved past its wall limit (5 s): it measured
    assert result["score"] > 0 and 0 < result["cpu_seconds"] <= 1.5
    assert "Estimated CPU power is %.1f HS06" % result["score"] in err
    assert os.listdir(str(tmpdir)) == []  # quick: no cache, nothing in the work directory


def test_cached_benchmark_is_served_from_the_cache(pyz, tmpdir):
    cache_dir = str(tmpdir.join("cache"))
    path = plant(cache_dir, 1, 123.4)
    code, out, err = run(pyz, ["-P", "1", "--benchmark", "cached"], str(tmpdir), {"PILOT_DB12_CACHE": cache_dir})
    assert code == 0, err
    result = one_json_object(out)
    assert result["from_cache"] is True and result["mode"] == "cached"
    assert result["score"] == expected_score(123.4)
    assert result["raw"] == [123.4] and result["cpu_seconds"] == 12.5
    assert result["cache_file"] == path and result["cache_status"] == "hit"
    assert "running the full benchmark" not in err


def test_bare_benchmark_means_cached_and_option_names_the_directory(pyz, tmpdir):
    cache_dir = str(tmpdir.join("by-option"))
    plant(cache_dir, 2, 77.7)
    code, out, err = run(pyz, ["--benchmark", "-P", "2", "--db12-cache", cache_dir], str(tmpdir))
    assert code == 0, err
    result = one_json_object(out)
    assert result["mode"] == "cached" and result["from_cache"] is True and result["copies"] == 2
    assert result["score"] == expected_score(77.7)


@pytest.mark.parametrize("args, message", [
    (["--benchmark", "bogus"], "option --benchmark: 'bogus' is not one of full, quick, cached"),
    (["--benchmark=off"], "option --benchmark: 'off' is not one of full, quick, cached"),
    (["--benchmark", "quick", "-P", "many"], "option -P: 'many' is not a whole number >= 0"),
    (["--db12", "sometimes", "--explain"], "option --db12: 'sometimes' is not one of full, quick, cached, off"),
])
def test_bad_values_are_one_line_and_exit_2(pyz, tmpdir, args, message):
    code, out, err = run(pyz, args, str(tmpdir))
    assert code == 2
    assert out == ""
    assert err.splitlines() == ["pilot: error: %s (see --help)" % message]


def test_db12_mode_is_a_parameter(pyz, tmpdir):
    code, out, err = run(pyz, ["--explain", "--db12", "quick", "-X", "CheckWorkerNode"], str(tmpdir))
    assert code == 0, err
    lines = [line for line in out.splitlines() if line.strip().startswith("db12Mode ")]
    assert len(lines) == 1 and "= quick" in lines[0] and "[command line --db12]" in lines[0]
    code, out, err = run(pyz, ["--explain", "-X", "CheckWorkerNode"], str(tmpdir))
    assert [line for line in out.splitlines() if line.strip().startswith("db12Mode ")][0].split()[2] == "cached"


def test_help_lists_the_options(pyz, tmpdir):
    code, out, err = run(pyz, ["--help"], str(tmpdir))
    assert code == 0
    assert "--benchmark=[MODE]" in out and "--db12=MODE" in out and "--db12-cache=DIR" in out


@pytest.mark.parametrize("argv, expected", [
    (["--benchmark"], ["--benchmark=cached"]),
    (["--benchmark", "full", "-P", "2"], ["--benchmark=full", "-P", "2"]),
    (["--benchmark", "-P", "2"], ["--benchmark=cached", "-P", "2"]),
    (["--benchmark=quick"], ["--benchmark=quick"]),
    (["--bench", "quick"], ["--benchmark=quick"]),
    (["-N", "--benchmark"], ["-N", "--benchmark"]),            # the value of -N
    (["-dN", "--benchmark"], ["-dN", "--benchmark"]),          # -d, then -N with the next word
    (["-dNce", "--benchmark"], ["-dNce", "--benchmark=cached"]),
    (["--Name", "--benchmark"], ["--Name", "--benchmark"]),
    (["--Name=x", "--benchmark"], ["--Name=x", "--benchmark=cached"]),
    (["word", "--benchmark"], ["word", "--benchmark"]),        # getopt stops at a non-option
    (["--", "--benchmark"], ["--", "--benchmark"]),
])
def test_optional_value_rewrite(argv, expected):
    assert options.optional_values(argv) == expected


def test_parse_keeps_the_mode():
    parsed = options.parse(["--benchmark", "full", "-P", "3"])
    assert parsed.actions == ["benchmark"] and parsed.action_values == {"benchmark": "full"}
    assert parsed.values == {"pilotProcessors": 3}
    parsed = options.parse(["--db12=off"])
    assert parsed.values == {"db12Mode": "off"} and parsed.actions == []


def test_option_table_knows_the_db12_modes():
    assert options.DB12_MODES == db12.MODES
    assert set(options.BY_DEST["benchmark"].choices) == set(db12.MODES) - set(["off"])
