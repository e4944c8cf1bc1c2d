"""The Slurm backend of ``pilotctl submit``: ``sbatch`` of the batch wrapper, states from squeue/sacct.

Each pilot's wrapper (``WORKDIR/<stamp>/pilot-job.sh``) is submitted with ``sbatch --parsable``
from its job directory (``--chdir``; its output in ``job.out``/``job.err`` there), with the
administrator's own sbatch arguments after ours (``--sbatch-arg``, e.g. ``--partition``,
``--time``, ``--cpus-per-task``, ``--mem``), so theirs win.  The Slurm job id is the pilot's
batch reference, kept in ``job.json``.  Slurm's default ``--export=ALL`` hands the submitting
environment (plus ``X509_CERT_DIR`` for the logbook's CA) to the job.

States: ``squeue --states=all`` knows a job while it is queued or running and for
``MinJobAge`` seconds (Slurm's default 300) after it ended.  After that only the accounting
database knows it, through ``sacct``; without accounting storage (``AccountingStorageType=
accounting_storage/none``) sacct answers "Slurm accounting storage is disabled" and such a job's
state is ``Unknown``.  Slurm's states map to the logbook's: PENDING -> Waiting, RUNNING ->
Running, COMPLETED -> Done, FAILED/NODE_FAIL/OUT_OF_MEMORY/BOOT_FAIL -> Failed, CANCELLED/
TIMEOUT/PREEMPTED/DEADLINE -> Aborted.
"""

import os
import re
import subprocess

TIMEOUT = 60  # seconds for one sbatch/squeue/sacct call (a busy controller answers slowly)

LOGBOOK_STATE = {
    "PENDING": "Waiting",
    "REQUEUED": "Waiting",
    "REQUEUE_HOLD": "Waiting",
    "REQUEUE_FED": "Waiting",
    "RESV_DEL_HOLD": "Waiting",
    "CONFIGURING": "Running",
    "RUNNING": "Running",
    "COMPLETING": "Running",
    "SUSPENDED": "Running",
    "STOPPED": "Running",
    "SIGNALING": "Running",
    "STAGE_OUT": "Running",
    "RESIZING": "Running",
    "COMPLETED": "Done",
    "FAILED": "Failed",
    "NODE_FAIL": "Failed",
    "OUT_OF_MEMORY": "Failed",
    "BOOT_FAIL": "Failed",
    "SPECIAL_EXIT": "Failed",
    "CANCELLED": "Aborted",
    "TIMEOUT": "Aborted",
    "PREEMPTED": "Aborted",
    "DEADLINE": "Aborted",
    "REVOKED": "Aborted",
}
FINAL = ("Done", "Failed", "Aborted", "Unknown")
UNKNOWN = "Unknown"


class SlurmError(Exception):
    """A Slurm command failed or is missing; str() is one line."""


def _one_line(text, limit=300):
    return " ".join(str(text).split())[:limit]


def _run(argv, environ=None):
    """(returncode, stdout, stderr) of a Slurm client command; SlurmError when it cannot run."""
    try:
        done = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=environ,
            timeout=TIMEOUT,
            universal_newlines=True,
        )
    except FileNotFoundError:
        raise SlurmError("%s not found on PATH (the Slurm backend needs Slurm's client commands)" % argv[0])
    except subprocess.TimeoutExpired:
        raise SlurmError("%s did not answer within %d s" % (argv[0], TIMEOUT))
    except OSError as exc:
        raise SlurmError("cannot run %s: %s" % (argv[0], exc.strerror or exc))
    return done.returncode, done.stdout, done.stderr


def sbatch(job_dir, stamp, sbatch_args=(), pilot_env=None):
    """Submit ``job_dir/pilot-job.sh``; returns the Slurm job id (an int) or raises SlurmError."""
    argv = [
        "sbatch",
        "--parsable",
        "--job-name=pilot-%s" % stamp[:12],
        "--chdir=%s" % job_dir,
        "--output=%s" % os.path.join(job_dir, "job.out"),
        "--error=%s" % os.path.join(job_dir, "job.err"),
    ]
    argv += list(sbatch_args) + [os.path.join(job_dir, "pilot-job.sh")]
    environ = dict(os.environ)
    environ.update(pilot_env or {})
    code, out, err = _run(argv, environ)
    # --parsable prints "<id>" or "<id>;<cluster>"
    match = re.match(r"^\s*(\d+)(;\S+)?\s*$", out)
    if code != 0 or not match:
        lines = [line for line in err.splitlines() if line.strip()] or [out or "no output"]
        why = [line for line in lines if "error" in line.lower()] or lines
        raise SlurmError("sbatch refused the job (exit code %d): %s" % (code, _one_line(why[-1])))
    return int(match.group(1))


def _exit_code_of_status(status):
    """squeue's exit_code is a wait status: 143 << 8 for exit 143; 9 for a SIGKILL (128 + 9)."""
    if status & 0x7F:
        return 128 + (status & 0x7F)
    return status >> 8


def _exit_code_of_sacct(text):
    """sacct's ExitCode is "<code>:<signal>"."""
    match = re.match(r"^(\d+):(\d+)$", text.strip())
    if not match:
        return None
    code, signum = int(match.group(1)), int(match.group(2))
    return 128 + signum if signum else code


def _entry(slurm_state, exit_code, source):
    # squeue writes "CANCELLED by 0" in some versions: the first word is the state
    slurm_state = (slurm_state.split() or [UNKNOWN])[0].upper()
    return {
        "slurm_state": slurm_state,
        "state": LOGBOOK_STATE.get(slurm_state, UNKNOWN),
        "exit_code": exit_code,
        "source": source,
    }


def query(job_ids):
    """{job id: {"slurm_state", "state" (the logbook's), "exit_code" (None while running), "source"}}.

    squeue first; the jobs it no longer knows from sacct; a job neither knows is
    ``Unknown`` (source says why).  SlurmError when squeue itself cannot run."""
    job_ids = sorted(set(int(job) for job in job_ids))
    if not job_ids:
        return {}
    listed = ",".join(str(job) for job in job_ids)
    found = {}
    code, out, err = _run(
        ["squeue", "--noheader", "--states=all", "--jobs=%s" % listed, "--Format=JobID:30,State:30,exit_code:20"]
    )
    if code != 0 and "Invalid job id" not in err:
        raise SlurmError("squeue failed (exit code %d): %s" % (code, _one_line(err or out)))
    for line in out.splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[0].isdigit() and int(fields[0]) in job_ids:
            running = LOGBOOK_STATE.get(fields[1].upper()) not in ("Done", "Failed", "Aborted")
            exit_code = (
                None if running or len(fields) < 3 or not fields[2].isdigit() else _exit_code_of_status(int(fields[2]))
            )
            found[int(fields[0])] = _entry(fields[1], exit_code, "squeue")
    missing = [job for job in job_ids if job not in found]
    if missing:
        found.update(_from_sacct(missing))
    return found


def _from_sacct(job_ids):
    listed = ",".join(str(job) for job in job_ids)
    try:
        code, out, err = _run(
            [
                "sacct",
                "--noheader",
                "--parsable2",
                "--allocations",
                "--jobs=%s" % listed,
                "--format=JobID,State,ExitCode",
            ]
        )
    except SlurmError as exc:
        code, out, err = 1, "", str(exc)
    found = {}
    if code == 0:
        for line in out.splitlines():
            fields = line.split("|")
            if len(fields) == 3 and fields[0].isdigit() and int(fields[0]) in job_ids:
                found[int(fields[0])] = _entry(fields[1], _exit_code_of_sacct(fields[2]), "sacct")
    why = "not in squeue (ended more than MinJobAge ago) nor in sacct (%s)" % (
        _one_line(err or out, 120) if code != 0 else "no record"
    )
    for job in job_ids:
        if job not in found:
            found[job] = {"slurm_state": UNKNOWN, "state": UNKNOWN, "exit_code": None, "source": why}
    return found
