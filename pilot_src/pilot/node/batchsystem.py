"""Where the pilot runs: its flavour, its pilot reference and the batch system.

DIRAC's detection: the variables are checked in this order
and later matches override earlier ones; the default flavour is DIRAC and
the default reference the pilot stamp.  Added here: BOINC (as DIRAC's older
pilots did), VMDIRAC, and the Vacuum platform (Vac/Vcycle VMs, recognised by
$JOBOUTPUTS together with $JOBFEATURES/$MACHINEFEATURES).
"""

import os

UNKNOWN = "Unknown"


class Where(object):
    def __init__(self):
        self.flavour = "DIRAC"
        self.reference = ""
        self.batch = {"Type": UNKNOWN, "JobID": UNKNOWN, "Queue": UNKNOWN, "BinaryPath": UNKNOWN,
                      "Host": UNKNOWN, "InfoPath": UNKNOWN}
        self.extra = {}  # other /LocalSite keys (BOINC host information)

    def as_dict(self):
        return {"flavour": self.flavour, "reference": self.reference, "batch": dict(self.batch),
                "extra": dict(self.extra)}


def _first_token(value):
    return value.split(".")[0]


def detect(environ, ce_name, stamp, read_file=None):
    """A Where for this environment (a mapping); ``read_file(path)`` reads MJF files."""
    env = environ.get
    where = Where()
    ce = ce_name or "unknown"
    where.reference = env("DIRAC_PILOT_STAMP") or stamp or ""

    def batch(kind, job_id, **info):
        where.batch["Type"] = kind
        where.batch["JobID"] = job_id
        for key, value in info.items():
            if value:
                where.batch[key] = value

    if env("PBS_JOBID"):
        job = _first_token(env("PBS_JOBID"))
        where.flavour, where.reference = "SSHPBS", "sshpbs://%s/%s" % (ce, job)
        batch("PBS", job, BinaryPath=env("PBS_O_PATH"), Queue=env("PBS_O_QUEUE"))
    if env("OAR_JOBID"):
        where.flavour, where.reference = "SSHOAR", "sshoar://%s/%s" % (ce, env("OAR_JOBID"))
        batch("OAR", env("OAR_JOBID"))
    if env("SGE_TASK_ID"):
        job = env("JOB_ID") or env("SGE_TASK_ID")
        where.flavour, where.reference = "SSHSGE", "sshge://%s/%s" % (ce, job)
        batch("SGE", job, BinaryPath=env("SGE_BINARY_PATH"), Queue=env("QUEUE"))
    if env("LSB_BATCH_JID"):
        job = env("LSB_BATCH_JID")
        where.flavour, where.reference = "SSHLSF", "sshlsf://%s/%s" % (ce, job)
        batch("LSF", job, BinaryPath=env("LSF_BINDIR"), Host=env("LSB_HOSTS"), InfoPath=env("LSF_ENVDIR"),
              Queue=env("LSB_QUEUE"))
    if env("SLURM_JOBID") or env("SLURM_JOB_ID"):
        job = env("SLURM_JOBID") or env("SLURM_JOB_ID")
        where.flavour, where.reference = "SSHSLURM", "sshslurm://%s/%s" % (ce, job)
        batch("SLURM", job, Queue=env("SLURM_JOB_PARTITION"))
    if env("_CONDOR_JOB_AD"):
        job = env("CONDOR_JOBID") or where.reference
        where.flavour, where.reference = "SSHHTCondor", "sshcondor://%s/%s" % (ce, job)
        batch("HTCondor", job, InfoPath=env("_CONDOR_JOB_AD"))
    if env("LOCAL_JOBID"):
        where.flavour, where.reference = "Local", "local://%s/%s" % (ce, env("LOCAL_JOBID"))
    if env("SSHCE_JOBID"):
        where.flavour, where.reference = "SSH", "ssh://%s/%s" % (ce, env("SSHCE_JOBID"))
    if env("SSHBATCH_JOBID") and env("SSH_NODE_HOST"):
        where.flavour = "SSHBATCH"
        where.reference = "sshbatchhost://%s/%s/%s" % (ce, env("SSH_NODE_HOST"), env("SSHBATCH_JOBID"))
    if env("HTCONDOR_JOBID"):
        where.flavour, where.reference = "HTCondorCE", "htcondorce://%s/%s" % (ce, env("HTCONDOR_JOBID"))
        if where.batch["Type"] == UNKNOWN:
            batch("HTCondor", env("HTCONDOR_JOBID"), InfoPath=env("_CONDOR_JOB_AD"))
    if env("GRID_GLOBAL_JOBURL") or env("GRID_GLOBAL_JOBID"):
        where.flavour, where.reference = "ARC", env("GRID_GLOBAL_JOBURL") or env("GRID_GLOBAL_JOBID")
    if env("PILOT_UUID"):
        where.flavour, where.reference = "CLOUD", env("PILOT_UUID")
    if env("VMDIRAC_VERSION") and env("JOB_ID"):
        where.flavour, where.reference = "VMDIRAC", "vm://%s/%s" % (ce, env("JOB_ID"))
    if env("JOBOUTPUTS") and (env("JOBFEATURES") or env("MACHINEFEATURES")):
        job = _mjf_value(env("JOBFEATURES"), "job_id", read_file) or where.reference
        where.flavour, where.reference = "Vac", "vac://%s/%s" % (ce, job)
    if env("BOINC_JOB_ID"):
        where.flavour, where.reference = "BOINC", env("BOINC_JOB_ID")
        for variable, key in (("BOINC_USER_ID", "BoincUserID"), ("BOINC_HOST_ID", "BoincHostID"),
                              ("BOINC_HOST_PLATFORM", "BoincHostPlatform"), ("BOINC_HOST_NAME", "BoincHostName")):
            if env(variable):
                where.extra[key] = env(variable)
    return where


def _mjf_value(folder, key, read_file):
    if not folder or "://" in folder:
        return None
    reader = read_file or _read
    value = reader(os.path.join(folder, key))
    return value.strip() if value else None


def _read(path):
    try:
        handle = open(path)
        try:
            return handle.read(4096)
        finally:
            handle.close()
    except (IOError, OSError):
        return None
