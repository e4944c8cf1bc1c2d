"""What the batch system tells its job through the environment (and HTCondor's ClassAd files).

Processors:

* HTCondor: ``Cpus`` of the slot's machine ad (``$_CONDOR_MACHINE_AD``), else
  ``RequestCpus`` of the job ad (``$_CONDOR_JOB_AD``), else
  ``$OMP_NUM_THREADS``, which HTCondor's starter sets to the slot's CPUs
  (``STARTER_NUM_THREADS_ENV_VARS``); read only inside an HTCondor job;
* SLURM: ``$SLURM_CPUS_ON_NODE``, else ``$SLURM_JOB_CPUS_PER_NODE`` (first
  node of ``4(x2),2``), else ``$SLURM_CPUS_PER_TASK``;
* PBS/Torque: ``$PBS_NP``, else ``$PBS_NUM_PPN``, else ``$NCPUS`` (PBS Pro);
* LSF: ``$LSB_DJOB_NUMPROC``, else ``$LSB_MAX_NUM_PROCESSORS``;
* SGE/UGE: ``$NSLOTS``.

Memory: HTCondor machine ad ``Memory`` / job ad ``RequestMemory`` (MB),
``$SLURM_MEM_PER_NODE`` (MB).  Time limits, where they are cheap to read:
HTCondor job ad ``MaxRuntime`` (CERN's) with ``JobCurrentStartDate``,
``$SLURM_JOB_END_TIME``, Torque's ``$PBS_WALLTIME``.
"""

import re

from .nodeinfo import read_text

# Variables that say "this is a batch job" (DIRAC's pilot and its TimeLeft).
BATCH_MARKERS = [
    ("HTCondor", ("_CONDOR_JOB_AD", "_CONDOR_MACHINE_AD")),
    ("SLURM", ("SLURM_JOB_ID", "SLURM_JOBID")),
    ("PBS", ("PBS_JOBID",)),
    ("LSF", ("LSB_JOBID", "LSB_BATCH_JID")),
    ("SGE", ("SGE_TASK_ID", "NSLOTS")),
    ("OAR", ("OAR_JOBID",)),
    ("HTCondorCE", ("HTCONDOR_JOBID",)),
    ("ARC", ("GRID_GLOBAL_JOBURL", "GRID_GLOBAL_JOBID")),
    ("Local", ("LOCAL_JOBID",)),
    ("SSH", ("SSHCE_JOBID", "SSHBATCH_JOBID")),
]


def batch_system(environ):
    """(name, variable) of the first batch system whose variable is set, or (None, None)."""
    for name, variables in BATCH_MARKERS:
        for variable in variables:
            if environ.get(variable):
                return name, variable
    return None, None


def read_classad(path):
    """{lower-case attribute: raw value text} of an old-syntax ClassAd file."""
    result = {}
    for line in (read_text(path) or "").splitlines():
        if "=" not in line:
            continue
        name, value = line.split("=", 1)
        name = name.strip()
        if re.match(r"^[A-Za-z_][A-Za-z0-9_.]*$", name):
            result[name.lower()] = value.strip()
    return result


def _positive(text):
    text = (text or "").strip()
    return int(text) if text.isdigit() and int(text) > 0 else None


def _ads(environ):
    machine = read_classad(environ["_CONDOR_MACHINE_AD"]) if environ.get("_CONDOR_MACHINE_AD") else {}
    job = read_classad(environ["_CONDOR_JOB_AD"]) if environ.get("_CONDOR_JOB_AD") else {}
    return machine, job


def _first_node_cpus(text):
    match = re.match(r"^\s*(\d+)", text or "")
    return int(match.group(1)) if match and int(match.group(1)) > 0 else None


def processors(environ):
    """(count, source) from the batch system's variables, or (None, None)."""
    if environ.get("_CONDOR_MACHINE_AD") or environ.get("_CONDOR_JOB_AD"):
        machine, job = _ads(environ)
        if _positive(machine.get("cpus")):
            return _positive(machine["cpus"]), "HTCondor machine ad Cpus"
        if _positive(job.get("requestcpus")):
            return _positive(job["requestcpus"]), "HTCondor job ad RequestCpus"
        if _positive(environ.get("OMP_NUM_THREADS")):
            return _positive(environ["OMP_NUM_THREADS"]), "$OMP_NUM_THREADS (set by HTCondor)"
    candidates = [("SLURM_CPUS_ON_NODE", _positive), ("SLURM_JOB_CPUS_PER_NODE", _first_node_cpus),
                  ("SLURM_CPUS_PER_TASK", _positive), ("PBS_NP", _positive), ("PBS_NUM_PPN", _positive)]
    if environ.get("PBS_JOBID") or environ.get("PBS_ENVIRONMENT"):
        candidates.append(("NCPUS", _positive))  # a generic name: PBS Pro's only inside a PBS job
    candidates += [("LSB_DJOB_NUMPROC", _positive), ("LSB_MAX_NUM_PROCESSORS", _positive),
                   ("NSLOTS", _positive)]
    for variable, convert in candidates:
        value = convert(environ.get(variable))
        if value:
            return value, "$" + variable
    return None, None


def memory_mb(environ):
    """(MB, source) of the batch allocation, or (None, None)."""
    if environ.get("_CONDOR_MACHINE_AD") or environ.get("_CONDOR_JOB_AD"):
        machine, job = _ads(environ)
        if _positive(machine.get("memory")):
            return _positive(machine["memory"]), "HTCondor machine ad Memory"
        if _positive(job.get("requestmemory")):
            return _positive(job["requestmemory"]), "HTCondor job ad RequestMemory"
    if _positive(environ.get("SLURM_MEM_PER_NODE")):
        return _positive(environ["SLURM_MEM_PER_NODE"]), "$SLURM_MEM_PER_NODE"
    return None, None


def time_limit(environ):
    """The batch system's limit on this job, or None.

    A dict: ``unit`` ('WallClock' or 'CPU', as DIRAC's TimeLeft plugins),
    ``limit`` (seconds), ``start`` (epoch of the job start, None if unknown),
    ``end`` (epoch of the end, None if unknown), ``source``.
    """
    if environ.get("_CONDOR_JOB_AD"):
        _, job = _ads(environ)
        limit = _positive(job.get("maxruntime"))
        if limit:
            start = _positive(job.get("jobcurrentstartdate")) or _positive(job.get("jobstartdate"))
            return {"unit": "WallClock", "limit": limit, "start": start, "end": None,
                    "source": "HTCondor job ad MaxRuntime"}
    end = _positive(environ.get("SLURM_JOB_END_TIME"))
    if end:
        start = _positive(environ.get("SLURM_JOB_START_TIME"))
        return {"unit": "WallClock", "limit": end - start if start else None, "start": start, "end": end,
                "source": "$SLURM_JOB_END_TIME"}
    walltime = _positive(environ.get("PBS_WALLTIME"))
    if walltime:
        return {"unit": "WallClock", "limit": walltime, "start": None, "end": None, "source": "$PBS_WALLTIME"}
    return None
