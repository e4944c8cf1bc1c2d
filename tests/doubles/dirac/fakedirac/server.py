"""The local "DIRAC server": a directory standing for the DIRAC services.

Layout (all JSON, UTF-8)::

    <server>/resources.json      {"<CE>": {"<queue>": {<queue parameters>}}}   (CS /Resources)
    <server>/jobs/<id>.json      waiting jobs (TaskQueues)
    <server>/running/<id>.json   jobs claimed by a JobAgent (atomic rename from jobs/)
    <server>/done/<id>.json      results: the job, ExitCode, Status, Output, pilot, site ...
    <server>/pilots/<name>.json  pilot records (PilotAgentsDB), <name> = stamp or reference
    <server>/operations.json     optional: {"CPUNormalizationCorrection": 1.0}

The tools find it from the first ``file://`` URL of /DIRAC/Configuration/Servers.
Standard library only, Python 3.6+.
"""

import io
import json
import os
import re
import time

WAITING, RUNNING, DONE, PILOTS = "jobs", "running", "done", "pilots"


def _write_json(path, data):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with io.open(tmp, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def _read_json(path):
    with io.open(path, "r", encoding="utf-8") as handle:
        return json.load(handle)


def now():
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())


def init_server(path, resources=None, jobs=None):
    """Create a fresh server directory; returns its path."""
    for sub in (WAITING, RUNNING, DONE, PILOTS):
        d = os.path.join(path, sub)
        if not os.path.isdir(d):
            os.makedirs(d)
    if resources is None:
        resources = default_resources()
    _write_json(os.path.join(path, "resources.json"), resources)
    for job in jobs if jobs is not None else [default_job()]:
        add_job(path, **job)
    return path


def default_resources():
    return {
        "ce.test.local": {
            "default": {
                "maxCPUTime": "2880",
                "SI00": "3100",
                "MaxRAM": "4096",
                "LocalCEType": "InProcess",
                "Tag": ["FakeTag", "TestQueue"],
            }
        }
    }


def default_job():
    return {
        "JobID": 1,
        "JobName": "hello",
        "Executable": "/bin/sh",
        "Arguments": ["-c", "echo hello from job $DIRACJOBID"],
    }


def _next_job_id(path):
    best = 0
    for sub in (WAITING, RUNNING, DONE):
        d = os.path.join(path, sub)
        if not os.path.isdir(d):
            continue
        for name in os.listdir(d):
            m = re.match(r"^(\d+)\.json$", name)
            if m:
                best = max(best, int(m.group(1)))
    return best + 1


def add_job(path, Executable="/bin/sh", Arguments=None, JobID=None, **extra):
    """Add a waiting job; returns its JobID.

    Recognised keys (all optional but Executable): Arguments (list), JobName,
    JobType, Owner, OwnerGroup, Site (str or list), BannedSites, CPUTime (HS06 s),
    Tags (list), Environment ({name: value}), NumberOfProcessors.
    """
    waiting = os.path.join(path, WAITING)
    if not os.path.isdir(waiting):
        os.makedirs(waiting)
    if JobID is None:
        JobID = _next_job_id(path)
    job = {
        "JobID": int(JobID),
        "JobName": "job%s" % JobID,
        "JobType": "User",
        "Owner": "testuser",
        "OwnerDN": "/DC=test/CN=testuser",
        "OwnerGroup": "test_user",
        "Executable": Executable,
        "Arguments": list(Arguments) if Arguments is not None else [],
    }
    job.update(extra)
    _write_json(os.path.join(waiting, "%d.json" % int(JobID)), job)
    return int(JobID)


def _listify(value):
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(v).strip() for v in value if str(v).strip()]
    return [v.strip() for v in str(value).split(",") if v.strip()]


def job_matches(job, ce):
    """DIRAC Matcher, reduced: returns None if it matches, else the reason."""
    sites = _listify(job.get("Site"))
    if sites and "ANY" not in sites and ce.get("Site") not in sites:
        return "site %s not in %s" % (ce.get("Site"), sites)
    if ce.get("Site") in _listify(job.get("BannedSites")):
        return "site banned"
    job_cpu = float(job.get("CPUTime", 0) or 0)
    if job_cpu and ce.get("CPUTime") is not None and job_cpu > float(ce["CPUTime"]):
        return "job CPUTime %s > %s" % (job_cpu, ce["CPUTime"])
    job_tags = set(_listify(job.get("Tags")))
    ce_tags = set(ce.get("Tag", []))
    if not job_tags <= ce_tags:
        return "job tags %s not offered" % sorted(job_tags - ce_tags)
    required = set(ce.get("RequiredTag", []))
    if not required <= job_tags:
        return "CE requires tags %s" % sorted(required - job_tags)
    groups = _listify(ce.get("OwnerGroup"))
    if groups and job.get("OwnerGroup") not in groups:
        return "owner group %s not in %s" % (job.get("OwnerGroup"), groups)
    return None


def claim_job(path, ce):
    """Atomically claim the first matching waiting job (rename jobs/ -> running/)."""
    waiting = os.path.join(path, WAITING)
    running = os.path.join(path, RUNNING)
    if not os.path.isdir(waiting):
        raise IOError("no jobs/ directory in %s" % path)
    if not os.path.isdir(running):
        os.makedirs(running)

    def key(name):
        m = re.match(r"^(\d+)\.json$", name)
        return (0, int(m.group(1)), name) if m else (1, 0, name)

    for name in sorted((n for n in os.listdir(waiting) if n.endswith(".json")), key=key):
        src = os.path.join(waiting, name)
        try:
            job = _read_json(src)
        except (IOError, OSError, ValueError):
            continue
        if job_matches(job, ce):
            continue
        dst = os.path.join(running, name)
        try:
            os.rename(src, dst)
        except OSError:
            continue  # another agent took it
        job.setdefault("JobID", os.path.splitext(name)[0])
        job["_RunningFile"] = dst
        return job
    return None


def finish_job(path, job, result):
    done = os.path.join(path, DONE)
    if not os.path.isdir(done):
        os.makedirs(done)
    running_file = job.pop("_RunningFile", None)
    record = dict(result)
    record["Job"] = job
    record["JobID"] = job.get("JobID")
    _write_json(os.path.join(done, "%s.json" % job.get("JobID")), record)
    if running_file and os.path.exists(running_file):
        os.remove(running_file)


def load_resources(path):
    try:
        return _read_json(os.path.join(path, "resources.json"))
    except (IOError, OSError, ValueError):
        return None


def get_queue(path, ce, queue):
    resources = load_resources(path)
    if resources is None:
        return None, "Cannot read the resources description (resources.json) of %s" % path
    if ce not in resources:
        return None, "CE %s not found" % ce
    if queue not in resources[ce]:
        return None, "Queue %s not found for CE %s" % (queue, ce)
    return resources[ce][queue], None


def operations(path):
    try:
        return _read_json(os.path.join(path, "operations.json"))
    except (IOError, OSError, ValueError):
        return {}


# -- pilots ----------------------------------------------------------------
def _safe(name):
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


def find_pilot(path, reference=None, stamp=None):
    """(file, record) of a pilot by reference or stamp, or (None, None)."""
    d = os.path.join(path, PILOTS)
    if not os.path.isdir(d):
        return None, None
    if stamp:
        candidate = os.path.join(d, "%s.json" % _safe(stamp))
        if os.path.exists(candidate):
            try:
                return candidate, _read_json(candidate)
            except ValueError:
                pass
    for name in sorted(os.listdir(d)):
        if not name.endswith(".json"):
            continue
        f = os.path.join(d, name)
        try:
            record = _read_json(f)
        except (IOError, OSError, ValueError):
            continue
        if reference and record.get("PilotReference") == reference:
            return f, record
        if stamp and record.get("PilotStamp") == stamp:
            return f, record
    return None, None


def add_pilot(path, reference, vo, grid_type, stamp):
    d = os.path.join(path, PILOTS)
    if not os.path.isdir(d):
        os.makedirs(d)
    f = os.path.join(d, "%s.json" % _safe(stamp or reference))
    record = {
        "PilotReference": reference,
        "PilotStamp": stamp,
        "VO": vo,
        "GridType": grid_type,
        "Status": "Submitted",
        "SubmissionTime": now(),
        "History": [["Submitted", now(), "dirac-admin-add-pilot"]],
    }
    _write_json(f, record)
    return f, record


def set_pilot(f, record, status=None, source="", **fields):
    if status:
        record["Status"] = status
        record.setdefault("History", []).append([status, now(), source])
    record.update(fields)
    record["LastUpdateTime"] = now()
    _write_json(f, record)
