"""The time limit of a Slurm job whose environment does not say it (Slurm before 23.02): squeue.

A real Slurm 22.05 (tests/server/test_slurm.py) showed that its jobs have no $SLURM_JOB_END_TIME,
so the pilot took the queue's maxCPUTime for a job of one minute.  Here ``squeue`` is a small
stand-in that honours the call the pilot makes (``--noheader --jobs=N --format=%l|%L``) and
records it; the real one is exercised by the Slurm tests.

Python 2.6-compatible syntax: these tests run under every interpreter.
"""

import os
import stat

import pytest

from pilot.node import capabilities

NOW = 1700000000

SQUEUE = """#!/bin/sh
printf '%s\\n' "$*" >> "$(dirname "$0")/calls"
case "$*" in
"--noheader --jobs=4242 --format=%l|%L") printf '%s\\n' "$SQUEUE_ANSWER"; exit "${SQUEUE_CODE:-0}" ;;
esac
echo "slurm_load_jobs error: Invalid job id specified" >&2
exit 1
"""


@pytest.fixture
def fake_squeue(tmpdir):
    folder = str(tmpdir.join("bin"))
    os.makedirs(folder)
    path = os.path.join(folder, "squeue")
    handle = open(path, "w")
    handle.write(SQUEUE)
    handle.close()
    os.chmod(path, stat.S_IRWXU)
    return folder


def calls(folder):
    path = os.path.join(folder, "calls")
    if not os.path.exists(path):
        return []
    handle = open(path)
    try:
        return handle.read().splitlines()
    finally:
        handle.close()


def env_for(folder, answer, job="4242", code="0"):
    return {"PATH": folder + os.pathsep + "/bin:/usr/bin", "SLURM_JOB_ID": job, "SQUEUE_ANSWER": answer,
            "SQUEUE_CODE": code}


@pytest.mark.parametrize("text, seconds", [
    ("1:00", 60), ("0:43", 43), ("30", 1800), ("2:00:00", 7200), ("1-00:00:00", 86400), ("3-4:05:06", 273906),
    ("UNLIMITED", None), ("NOT_SET", None), ("INVALID", None), ("", None), ("1:2:3:4", None), ("x-1:00", None),
    ("-5", None), ("1:xx", None),
])
def test_slurm_durations(text, seconds):
    assert capabilities.slurm_duration(text) == seconds


def test_limit_and_time_left_from_squeue(fake_squeue):
    limit = capabilities.slurm_time_limit(env_for(fake_squeue, "1:00|0:43"), now=NOW)
    assert limit == {"unit": "WallClock", "limit": 60, "start": None, "end": NOW + 43,
                     "source": "squeue of Slurm job 4242 (TimeLimit 1:00, TimeLeft 0:43)"}
    assert calls(fake_squeue) == ["--noheader --jobs=4242 --format=%l|%L"]
    # what ConfigureCPURequirements then gives the JobAgent: the 43 s left, not the queue's maxCPUTime
    caps = {"time_limit": limit}
    assert capabilities.queue_cpu_time(caps, 10.0, queue_parameters={"maxCPUTime": "2880"}, now=NOW) == {
        "seconds": 43, "work": 430, "source": limit["source"]}


def test_time_limits_asks_squeue_only_when_the_environment_does_not_say(fake_squeue):
    env = env_for(fake_squeue, "2:00:00|1:59:00")
    env["SLURM_JOB_END_TIME"] = str(NOW + 500)
    assert capabilities.time_limits(env)["source"] == "$SLURM_JOB_END_TIME"
    assert calls(fake_squeue) == []
    del env["SLURM_JOB_END_TIME"]
    assert capabilities.time_limits(env)["limit"] == 7200
    assert len(calls(fake_squeue)) == 1


@pytest.mark.parametrize("answer, job, code", [
    ("UNLIMITED|UNLIMITED", "4242", "0"),   # a partition without a limit
    ("1:00|0:43", "4242", "1"),             # squeue failed
    ("", "4242", "0"),                      # the job is no longer known
    ("1:00|0:43", "99", "0"),               # another job: "Invalid job id"
    ("1:00|0:43", "42; rm -rf /", "0"),      # not a job id: squeue is not even called
])
def test_no_limit_when_squeue_cannot_tell(fake_squeue, answer, job, code):
    assert capabilities.slurm_time_limit(env_for(fake_squeue, answer, job, code), now=NOW) is None
    if not job.isdigit():
        assert calls(fake_squeue) == []


def test_no_squeue_no_limit_outside_slurm_no_call(fake_squeue):
    assert capabilities.slurm_time_limit({"PATH": "/nonexistent", "SLURM_JOB_ID": "4242"}) is None
    env = env_for(fake_squeue, "1:00|0:43")
    del env["SLURM_JOB_ID"]
    assert capabilities.slurm_time_limit(env) is None and calls(fake_squeue) == []
