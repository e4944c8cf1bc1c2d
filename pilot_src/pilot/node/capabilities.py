"""What this node really offers the pilot, and the DIRAC keys that say it in pilot.cfg.

Three calls for the commands that configure DIRAC (CheckWNCapabilities,
ConfigureArchitecture, ConfigureCPURequirements, CheckCECapabilities):

* ``detect(...)``: processors, memory, GPUs, disk, OS, platform, containers,
  user namespaces, batch system, time limits and tags, as a plain dict;
* ``queue_cpu_time(caps, cpu_factor, ...)``: the CPU time of the slot, as
  DIRAC's dirac-wms-get-queue-cpu-time computes it;
* ``cfg_values(caps, ...)``: {pilot.cfg key: value} for dirac-configure.

**Processors**, first answer wins, never more than the hard limits (the
cgroup CPU quota rounded down, the CPU affinity, the CPU count):

    -P  >  $JOBFEATURES/allocated_cpu  >  batch system (see pilot.node.batchenv)
        >  $MACHINEFEATURES/total_cpu  >  cgroup quota / affinity (when they
        restrict)  >  1 inside a batch job that says nothing  >  CPU count

The last two differ on purpose: a batch job that does not say how many
CPUs it has is given DIRAC's default of 1 (claiming the whole node there
would overload it), while a VM or a machine of its own gets all its CPUs.

Every reader takes its root (``/`` or a fixture tree), its paths and its
environment as arguments; nothing here reads ``os.environ`` by itself.
"""

import os
import platform
import threading
import time

from ..shims import compat
from . import batchenv, cgroups, mjf, nodeinfo, platforminfo

# Where grid sites find apptainer when it is not installed (DIRAC's SingularityCE fallbacks).
CVMFS_CONTAINER_DIRS = ("/cvmfs/oasis.opensciencegrid.org/mis/apptainer/current/bin",
                        "/cvmfs/oasis.opensciencegrid.org/mis/singularity/current/bin")
PROBE_TIMEOUT = 10.0
# DIRAC's dirac-wms-get-queue-cpu-time answer when nothing is known ("infinite").
DEFAULT_CPU_TIME = 9999999
CEDEFAULTS = "/Resources/Computing/CEDefaults/"


def _under(root, path):
    return os.path.join(root, path.lstrip("/"))


# -- processors ------------------------------------------------------------------------

def parse_cpu_list(text):
    """'0-3,8,10-11' -> 7; None if malformed."""
    count = 0
    for part in (text or "").strip().split(","):
        part = part.strip()
        if not part:
            continue
        bounds = part.split("-")
        if not all(bound.isdigit() for bound in bounds) or len(bounds) > 2:
            return None
        low, high = int(bounds[0]), int(bounds[-1])
        if high < low:
            return None
        count += high - low + 1
    return count or None


def affinity(root="/"):
    """(CPUs this process may run on, source) or (None, None)."""
    if root == "/" and hasattr(os, "sched_getaffinity"):
        try:
            return len(os.sched_getaffinity(0)), "CPU affinity"  # novm (3.3+)
        except OSError:
            pass
    for line in (nodeinfo.read_text(_under(root, "proc/self/status")) or "").splitlines():
        if line.startswith("Cpus_allowed_list:"):
            count = parse_cpu_list(line.split(":", 1)[1])
            if count:
                return count, "CPU affinity (Cpus_allowed_list)"
    return None, None


def node_cpus(root="/"):
    """Logical CPUs of the node (/proc/cpuinfo, else the interpreter's count)."""
    text = nodeinfo.read_text(_under(root, "proc/cpuinfo")) or ""
    count = len([line for line in text.splitlines() if line.split(":")[0].strip() == "processor"])
    if count:
        return count
    return compat.cpu_count() if root == "/" else 1


def processors(environ, root="/", requested=None, features=None, queue_value=None, whole_node=False):
    """How many processors this pilot may use: {"count", "source", "limit", "limit_source", "seen"}.

    As DIRAC: ``requested`` (-P when given), then MJF, the batch system, the
    queue's NumberOfProcessors (``queue_value``, from pilot.json or the CS),
    else 1.  The whole machine (its CPU count, affinity or cgroup quota) only
    when the resource says so (``whole_node``: a WholeNode tag, the VM wrapper's
    -t WholeNode).  ``seen`` lists every answer found (source -> count), for the log.
    """
    features = features or mjf.Features(environ)
    seen = {}
    total = node_cpus(root)
    hard = [(total, "CPU count")]
    quota, quota_file = cgroups.cpu_quota(root)
    if quota:
        hard.append((max(1, int(quota + 1e-9)), "cgroup CPU quota (%s: %.2f CPUs)" % (quota_file, quota)))
    count, source = affinity(root)
    if count:
        hard.append((count, source))
    for count, source in hard:
        seen[source] = count
    limit, limit_source = min(hard, key=lambda pair: pair[0])  # on a tie, the first named

    explicit = []
    if requested:
        explicit.append((requested, "-P"))
    allocated = features.number("job", "allocated_cpu")
    if allocated:
        explicit.append((allocated, features.describe("job", "allocated_cpu")))
    count, source = batchenv.processors(environ)
    if count:
        explicit.append((count, source))
    machine_total = features.number("machine", "total_cpu")
    if machine_total:
        explicit.append((machine_total, features.describe("machine", "total_cpu")))
    if queue_value and queue_value > 0:
        explicit.append((queue_value, "queue NumberOfProcessors"))
    for count, source in explicit:
        seen[source] = count

    result = {"limit": limit, "limit_source": limit_source, "seen": seen, "total": total}
    if explicit:
        count, source = explicit[0]
        if count > limit:
            result.update(count=limit, source="%s (%d, capped by %s)" % (source, count, limit_source))
        else:
            result.update(count=count, source=source)
        return result
    if whole_node:
        result.update(count=limit, source="WholeNode: %s" % limit_source)
        return result
    name, variable = batchenv.batch_system(environ)
    if name:
        result.update(count=1, source="DIRAC's default: batch job ($%s) with no CPU count" % variable)
    else:
        result.update(count=1, source="DIRAC's default (no batch system, no WholeNode tag)")
    return result


# -- memory, GPUs, disk ------------------------------------------------------------

def memory(environ, root="/", features=None):
    """{"mb", "source", "total_mb"}: the tightest of the cgroup limit, MJF, batch and MemTotal."""
    features = features or mjf.Features(environ)
    total_mb = nodeinfo.mem_info(_under(root, "proc/meminfo"))["total_kb"] // 1024
    candidates = []
    if total_mb:
        candidates.append((total_mb, "/proc/meminfo MemTotal"))
    limit, limit_file = cgroups.memory_limit(root)
    if limit:
        candidates.append((limit // (1024 * 1024), "cgroup limit (%s)" % limit_file))
    rss = features.number("job", "max_rss_bytes")
    if rss:
        candidates.append((rss // (1024 * 1024), features.describe("job", "max_rss_bytes")))
    batch_mb, batch_source = batchenv.memory_mb(environ)
    if batch_mb:
        candidates.append((batch_mb, batch_source))
    if not candidates:
        return {"mb": 0, "source": "unknown", "total_mb": 0}
    mb, source = min(candidates)
    return {"mb": mb, "source": source, "total_mb": total_mb}


def which(name, environ):
    for folder in (environ.get("PATH") or "").split(os.pathsep):
        candidate = os.path.join(folder, name)
        if folder and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def _run(args, environ, timeout):
    """(returncode or None, stdout) of a probe; never raises."""
    try:
        code, out, _ = compat.run_with_timeout(args, timeout, env=dict(environ))
        return code, out
    except (OSError, ValueError) as exc:
        return None, compat.to_text(exc)


def _visible_gpus(listed, value):
    """How many GPUs CUDA shows for CUDA_VISIBLE_DEVICES (it stops at the first invalid entry)."""
    count = 0
    for entry in value.split(","):
        entry = entry.strip()
        if entry.isdigit() and (listed is None or int(entry) < len(listed)):
            count += 1
        elif entry[:4] in ("GPU-", "MIG-") and (
                listed is None or [gpu for gpu in listed if gpu["uuid"].startswith(entry)]):
            count += 1
        else:
            break
    return count


def gpus(environ, timeout=PROBE_TIMEOUT):
    """{"count", "source", "models"}: nvidia-smi when present, restricted by CUDA_VISIBLE_DEVICES."""
    listed = None
    smi = which("nvidia-smi", environ)
    if smi:
        code, out = _run([smi, "--query-gpu=index,uuid,name,memory.total", "--format=csv,noheader"],
                         environ, timeout)
        if code == 0:
            listed = []
            for line in out.splitlines():
                fields = [field.strip() for field in line.split(",")]
                if len(fields) >= 3 and fields[0].isdigit():
                    listed.append({"index": int(fields[0]), "uuid": fields[1], "name": fields[2],
                                   "memory": fields[3] if len(fields) > 3 else ""})
    models = [gpu["name"] for gpu in listed or []]
    visible = environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        count = _visible_gpus(listed, visible)
        where = "nvidia-smi, " if listed is not None else ""
        return {"count": count, "source": "%s$CUDA_VISIBLE_DEVICES=%s" % (where, visible), "models": models}
    if listed is not None:
        return {"count": len(listed), "source": "nvidia-smi", "models": models}
    return {"count": 0, "source": "no nvidia-smi" if not smi else "nvidia-smi failed", "models": []}


def disk(work_dir):
    try:
        return {"free_mb": nodeinfo.free_disk_mb(work_dir), "path": work_dir}
    except OSError:
        return {"free_mb": 0, "path": work_dir}


# -- containers, namespaces ------------------------------------------------------------

def _exists(path, timeout):
    """os.path.isfile in a thread: a lazy CVMFS mount can hang."""
    found = []
    thread = threading.Thread(target=lambda: found.append(os.path.isfile(path)), name="pilot-probe")
    thread.daemon = True
    thread.start()
    thread.join(timeout)
    return bool(found and found[0])


def container_runtime(environ, cvmfs_dirs=CVMFS_CONTAINER_DIRS, timeout=PROBE_TIMEOUT):
    """{"name", "path", "source", "runs", "version"}: apptainer or singularity, or name None."""
    candidates = []
    for name in ("apptainer", "singularity"):
        path = which(name, environ)
        if path:
            candidates.append((name, path, "PATH"))
    for folder in cvmfs_dirs:
        for name in ("apptainer", "singularity"):
            path = os.path.join(folder, name)
            if _exists(path, timeout):
                candidates.append((name, path, "CVMFS"))
    for name, path, source in candidates:
        code, out = _run([path, "--version"], environ, timeout)
        if code == 0:
            return {"name": name, "path": path, "source": source, "runs": True,
                    "version": (out.strip().splitlines() or [""])[0]}
    if candidates:
        name, path, source = candidates[0]
        return {"name": name, "path": path, "source": source, "runs": False, "version": ""}
    return {"name": None, "path": None, "source": None, "runs": False, "version": ""}


def user_namespaces(root="/"):
    """{"enabled", "max", "reason"}: can an unprivileged user create a user namespace?"""
    def number(path):
        text = (nodeinfo.read_text(_under(root, path)) or "").strip()
        return int(text) if text.isdigit() else None

    maximum = number("proc/sys/user/max_user_namespaces")
    clone = number("proc/sys/kernel/unprivileged_userns_clone")          # Debian/Ubuntu patch
    apparmor = number("proc/sys/kernel/apparmor_restrict_unprivileged_userns")  # Ubuntu 23.10+
    if maximum is None:
        return {"enabled": False, "max": None, "reason": "no /proc/sys/user/max_user_namespaces"}
    if maximum == 0:
        return {"enabled": False, "max": 0, "reason": "user.max_user_namespaces = 0"}
    if clone == 0:
        return {"enabled": False, "max": maximum, "reason": "kernel.unprivileged_userns_clone = 0"}
    if apparmor == 1:
        return {"enabled": False, "max": maximum, "reason": "kernel.apparmor_restrict_unprivileged_userns = 1"}
    return {"enabled": True, "max": maximum, "reason": "user.max_user_namespaces = %d" % maximum}


# -- time limits ------------------------------------------------------------------------

def slurm_duration(text):
    """Seconds of a Slurm duration: [D-]H:MM:SS, M:SS or M; None for UNLIMITED, NOT_SET and garbage."""
    text = (text or "").strip()
    days = 0
    if "-" in text:
        day_text, text = text.split("-", 1)
        if not day_text.isdigit():
            return None
        days = int(day_text)
    parts = text.split(":")
    if not 1 <= len(parts) <= 3 or not all(part.isdigit() for part in parts):
        return None
    values = [int(part) for part in parts]
    if len(parts) == 1:
        seconds = values[0] * 60  # minutes alone, as in --time=30
    elif len(parts) == 2:
        seconds = values[0] * 60 + values[1]
    else:
        seconds = values[0] * 3600 + values[1] * 60 + values[2]
    return days * 86400 + seconds


def slurm_time_limit(environ, now=None, timeout=PROBE_TIMEOUT):
    """The limit of this Slurm job from squeue (%l TimeLimit, %L TimeLeft), or None.

    Slurm sets $SLURM_JOB_END_TIME only from 23.02 on; before (Debian 12 has
    22.05) the job's environment does not say its limit, squeue does.
    """
    job = environ.get("SLURM_JOB_ID") or environ.get("SLURM_JOBID")
    if not job or not job.isdigit() or not which("squeue", environ):
        return None
    code, out = _run(["squeue", "--noheader", "--jobs=" + job, "--format=%l|%L"], environ, timeout)
    lines = [line for line in (out or "").splitlines() if "|" in line]
    if code != 0 or len(lines) != 1:
        return None
    limit_text, left_text = lines[0].split("|", 1)
    limit, left = slurm_duration(limit_text), slurm_duration(left_text)
    if limit is None or left is None:
        return None
    now = time.time() if now is None else now
    return {"unit": "WallClock", "limit": limit, "start": None, "end": int(now) + left,
            "source": "squeue of Slurm job %s (TimeLimit %s, TimeLeft %s)" % (job, limit_text.strip(),
                                                                              left_text.strip())}


def time_limits(environ, features=None, timeout=PROBE_TIMEOUT):
    """The slot's time limit as DIRAC's TimeLeft plugins see it, or None.

    Batch system first (pilot.node.batchenv; inside a Slurm job whose environment
    does not say, squeue), then MJF (DIRAC's MJF plugin: unit 'CPU', limit
    ``cpu_limit_secs``, else ``wall_limit_secs``; used = time since
    ``jobstart_secs``).  ``shutdown`` is the earliest MJF shutdown time, if any.
    """
    features = features or mjf.Features(environ)
    limit = batchenv.time_limit(environ)
    if limit is None:
        limit = slurm_time_limit(environ, timeout=timeout)
    if limit is None and features.present:
        cpu = features.number("job", "cpu_limit_secs")
        wall = features.number("job", "wall_limit_secs")
        if cpu or wall:
            limit = {"unit": "CPU" if cpu else "WallClock", "limit": cpu or wall, "end": None,
                     "start": features.number("job", "jobstart_secs"),
                     "source": features.describe("job", "cpu_limit_secs" if cpu else "wall_limit_secs")}
    shutdowns = [value for value in (features.number("job", "shutdowntime_job"),
                                     features.number("machine", "shutdowntime")) if value]
    if limit is not None and shutdowns:
        limit["shutdown"] = min(shutdowns)
    return limit


def seconds_left(limit, now):
    """Seconds left in a time limit of time_limits(); None if it cannot tell."""
    if not limit:
        return None
    if limit.get("end"):
        left = limit["end"] - now
    elif limit.get("limit"):
        used = now - limit["start"] if limit.get("start") else 0
        left = limit["limit"] - max(0, used)
    else:
        return None
    if limit.get("shutdown"):
        left = min(left, limit["shutdown"] - now)
    return max(0, int(left))


# -- everything ---------------------------------------------------------------------------

def tags_for(processor_count, node_total, gpu_count):
    """DIRAC's tags for what was found: MultiProcessor, WholeNode, GPU."""
    tags = []
    if processor_count > 1:
        tags.append("MultiProcessor")
        if processor_count >= node_total:
            tags.append("WholeNode")
    if gpu_count > 0:
        tags.append("GPU")
    return tags


def detect(environ=None, root="/", work_dir=None, requested_processors=None,
           cvmfs_container_dirs=CVMFS_CONTAINER_DIRS, timeout=PROBE_TIMEOUT, queue_processors=None,
           whole_node=False):
    """Everything the node offers this pilot, as a plain dict.

    ``environ``: the pilot's environment (a mapping, default os.environ);
    ``root``: '/' or a fixture tree holding proc/, sys/, etc/;
    ``work_dir``: where disk space counts (default: the current directory);
    ``requested_processors``: -P if it was given (params.sources says so; the
    default of params.pilotProcessors, 1 or $JOBFEATURES/allocated_cpu, is
    not a request: MJF is read here anyway); ``queue_processors``: the queue's
    NumberOfProcessors; ``whole_node``: the resource gives this pilot the
    whole machine (see processors()).

    Keys: ``processors`` {count, source, limit, limit_source, seen, total},
    ``memory`` {mb, source, total_mb}, ``gpus`` {count, source, models},
    ``disk`` {free_mb, path}, ``os`` (os-release values), ``os_name``,
    ``cpu`` {model, count, mhz}, ``platform`` (dirac-platform string),
    ``machine``, ``container`` {name, path, source, runs, version},
    ``user_namespaces`` {enabled, max, reason}, ``batch_system``,
    ``time_limit`` (see time_limits), ``tags`` (list).
    """
    environ = os.environ if environ is None else environ
    features = mjf.Features(environ)
    cpus = processors(environ, root, requested_processors, features, queue_processors, whole_node)
    found_gpus = gpus(environ, timeout)
    release = nodeinfo.os_release((_under(root, "etc/os-release"), _under(root, "usr/lib/os-release")))
    batch_name, _ = batchenv.batch_system(environ)
    return {
        "processors": cpus,
        "memory": memory(environ, root, features),
        "gpus": found_gpus,
        "disk": disk(work_dir or os.getcwd()),
        "os": release,
        "os_name": nodeinfo.os_description(release, _under(root, "etc/redhat-release")),
        "cpu": nodeinfo.cpu_info(_under(root, "proc/cpuinfo")),
        "platform": platforminfo.platform_string(root),
        "machine": platform.machine(),
        "container": container_runtime(environ, cvmfs_container_dirs, timeout),
        "user_namespaces": user_namespaces(root),
        "batch_system": batch_name,
        "time_limit": time_limits(environ, features, timeout),
        "tags": tags_for(cpus["count"], cpus["total"], found_gpus["count"]),
    }


# -- DIRAC's queue CPU time and pilot.cfg keys ------------------------------------------------

def queue_cpu_time(caps, cpu_factor, cpu_time_left=None, queue_parameters=None, job_cpu_req=None,
                   now=None):
    """The CPU time of this slot in seconds, as dirac-wms-get-queue-cpu-time computes it.

    In order, the first that gives an answer:

    1. ``cpu_time_left``: /LocalSite/CPUTimeLeft already known (HS06.s, e.g.
       from -o), divided by ``cpu_factor``;
    2. the batch system or MJF limit (``caps['time_limit']``) minus what is
       used: DIRAC's TimeLeft, which needs a CPU factor;
    3. the queue's ``maxCPUTime`` (minutes, from CheckCECapabilities) x 60;
    4. ``job_cpu_req``: an explicit -T (HS06.s) / ``cpu_factor`` (Pilots 2.0:
       DIRAC ignores -T here);
    5. 9,999,999 s, DIRAC's "infinite".

    Returns {"seconds": int, "work": int(seconds x cpu_factor) in HS06.s (the
    value ConfigureCPURequirements writes as CPUTimeLeft; None without a
    factor), "source"}.
    """
    now = time.time() if now is None else now
    factor = float(cpu_factor or 0)
    seconds, source = None, None
    if cpu_time_left and factor:
        seconds, source = float(cpu_time_left) / factor, "/LocalSite/CPUTimeLeft"
    if seconds is None and factor:
        left = seconds_left((caps or {}).get("time_limit"), now)
        if left is not None:
            seconds, source = left, caps["time_limit"]["source"]
    minutes = _float((queue_parameters or {}).get("maxCPUTime"))
    if seconds is None and minutes:
        seconds, source = minutes * 60.0, "queue maxCPUTime"
    if seconds is None and job_cpu_req and factor:
        seconds, source = float(job_cpu_req) / factor, "-T"
    if seconds is None:
        seconds, source = DEFAULT_CPU_TIME, "DIRAC's default"
    seconds = int(seconds)
    return {"seconds": seconds, "work": int(seconds * factor) if factor else None, "source": source}


def _float(value):
    try:
        return float(value) if value not in (None, "", True, False) else None
    except (TypeError, ValueError):
        return None


def _unique(items):
    result = []
    for item in items:
        item = compat.to_text(item).strip()
        if item and item not in result:
            result.append(item)
    return result


def cfg_values(caps, cpu_factor=None, queue_time=None, tags=(), required_tags=(), queue_parameters=None,
               max_processors=0):
    """The pilot.cfg keys DIRAC's JobAgent needs, as {full key: value}.

    ``caps``: detect()'s dict; ``cpu_factor``: db12.measure()'s score;
    ``queue_time``: queue_cpu_time()'s dict; ``tags``/``required_tags``: the
    pilot's (-t, --requiredTag, CE tags); ``queue_parameters``: from
    CheckCECapabilities (its MaxRAM wins, as in DIRAC); ``max_processors``:
    -m.  Values are int, float or str (lists comma-joined); keys whose value
    is unknown or zero are left out, as DIRAC does.
    """
    queue_parameters = queue_parameters or {}
    count = caps["processors"]["count"]
    all_tags = _unique(list(tags) + list(caps.get("tags") or []))
    payload = count if "WholeNode" in all_tags else 1
    if max_processors and max_processors > 0:
        payload = min(count, max_processors)
    values = {CEDEFAULTS + "NumberOfProcessors": count, CEDEFAULTS + "NumberOfPayloadProcessors": payload}
    max_ram = _float(queue_parameters.get("MaxRAM")) or caps["memory"]["mb"]
    if max_ram:
        values[CEDEFAULTS + "MaxRAM"] = int(max_ram)
    if caps["gpus"]["count"]:
        values[CEDEFAULTS + "NumberOfGPUs"] = caps["gpus"]["count"]
    if all_tags:
        values[CEDEFAULTS + "Tag"] = ",".join(all_tags)
    required = _unique(required_tags)
    if required:
        values[CEDEFAULTS + "RequiredTag"] = ",".join(required)
    values["/LocalSite/Architecture"] = caps["platform"]
    values["/LocalSite/Platform"] = caps["machine"]
    if cpu_factor:
        values["/LocalSite/CPUNormalizationFactor"] = round(float(cpu_factor), 1)
    if queue_time and queue_time.get("work"):
        values["/LocalSite/CPUTimeLeft"] = queue_time["work"]
        values["/LocalSite/CPUTime"] = queue_time["work"]
    return values
