"""CPU quota and memory limit of this process's control group (cgroup v1 and v2).

The pilot's own cgroup comes from ``/proc/self/cgroup``
(``hierarchy:controllers:path``; v2 is ``0::path``) and the mount points of
the hierarchies from ``/proc/self/mountinfo``.  A limit set on any ancestor
applies too, so each reader walks from the pilot's cgroup up to the mount
point and keeps the tightest value.  Every function takes ``root`` (``/``,
or a fixture tree in tests) and returns None when there is no limit or no
way to know.
"""

import os
import re

from .nodeinfo import read_text

# v1 writes its "no limit" as PAGE_COUNTER_MAX pages (9223372036854771712 on
# x86_64); anything this large is no limit.
V1_UNLIMITED = 1 << 60


def _under(root, path):
    return os.path.join(root, path.lstrip("/"))


def own_cgroups(root="/"):
    """{controller: path}; the v2 hierarchy is under the key ''."""
    result = {}
    for line in (read_text(_under(root, "proc/self/cgroup")) or "").splitlines():
        parts = line.strip().split(":", 2)
        if len(parts) != 3:
            continue
        hierarchy, controllers, path = parts
        if hierarchy == "0" and controllers == "":
            result[""] = path
            continue
        for controller in controllers.split(","):
            if controller:
                result[controller] = path
    return result


def _unescape(text):
    # mountinfo writes space, tab, newline and backslash as \ooo
    return re.sub(r"\\([0-7]{3})", lambda match: chr(int(match.group(1), 8)), text)


def cgroup_mounts(root="/"):
    """[(file system type, mount root, mount point, super options)] of cgroup mounts."""
    mounts = []
    for line in (read_text(_under(root, "proc/self/mountinfo")) or "").splitlines():
        fields = line.split()
        if "-" not in fields:
            continue
        separator = fields.index("-")
        if separator < 5 or len(fields) < separator + 2:
            continue
        fstype = fields[separator + 1]
        if fstype not in ("cgroup", "cgroup2"):
            continue
        options = fields[separator + 3] if len(fields) > separator + 3 else ""
        mounts.append((fstype, _unescape(fields[3]), _unescape(fields[4]), options.split(",")))
    return mounts


def _relative(path, mount_root):
    """The cgroup path inside a mount whose root is ``mount_root``."""
    if mount_root == "/" or path == mount_root:
        rel = path if mount_root == "/" else ""
    elif path.startswith(mount_root.rstrip("/") + "/"):
        rel = path[len(mount_root.rstrip("/")):]
    else:
        rel = ""  # outside the mount (a cgroup namespace): the mount itself is ours
    if "/.." in rel or rel.startswith(".."):
        rel = ""
    return rel.strip("/")


def hierarchy_dirs(controller, root="/"):
    """Directories from the pilot's cgroup up to the mount point, for a v1
    controller ('cpu', 'memory') or, with controller None, for v2."""
    own = own_cgroups(root)
    key = "" if controller is None else controller
    if key not in own:
        return []
    for fstype, mount_root, mount_point, options in cgroup_mounts(root):
        if controller is None and fstype != "cgroup2":
            continue
        if controller is not None and (fstype != "cgroup" or controller not in options):
            continue
        top = _under(root, mount_point)
        rel = _relative(own[key], mount_root)
        dirs = []
        current = os.path.join(top, rel) if rel else top
        while True:
            dirs.append(current)
            if os.path.normpath(current) == os.path.normpath(top):
                break
            current = os.path.dirname(current)
        return dirs
    return []


def _int(text):
    text = (text or "").strip()
    if text.lstrip("-").isdigit():
        return int(text)
    return None


def cpu_quota(root="/"):
    """(CPUs as a float, file it came from) for the tightest CPU quota, or (None, None)."""
    best = (None, None)
    for folder in hierarchy_dirs(None, root):
        parts = (read_text(os.path.join(folder, "cpu.max")) or "").split()
        if len(parts) == 2 and parts[0] != "max":
            quota, period = _int(parts[0]), _int(parts[1])
            if quota and period and quota > 0 and period > 0:
                best = _tighter(best, float(quota) / period, os.path.join(folder, "cpu.max"))
    for folder in hierarchy_dirs("cpu", root):
        quota = _int(read_text(os.path.join(folder, "cpu.cfs_quota_us")))
        period = _int(read_text(os.path.join(folder, "cpu.cfs_period_us")))
        if quota and period and quota > 0 and period > 0:
            best = _tighter(best, float(quota) / period, os.path.join(folder, "cpu.cfs_quota_us"))
    return best


def memory_limit(root="/"):
    """(bytes, file it came from) for the tightest memory limit, or (None, None)."""
    best = (None, None)
    for folder in hierarchy_dirs(None, root):
        value = _int(read_text(os.path.join(folder, "memory.max")))  # "max": None
        if value and value > 0:
            best = _tighter(best, value, os.path.join(folder, "memory.max"))
    for folder in hierarchy_dirs("memory", root):
        value = _int(read_text(os.path.join(folder, "memory.limit_in_bytes")))
        if value and 0 < value < V1_UNLIMITED:
            best = _tighter(best, value, os.path.join(folder, "memory.limit_in_bytes"))
    return best


def _tighter(best, value, source):
    if best[0] is None or value < best[0]:
        return (value, source)
    return best
