"""Facts about the node, read from /proc, /etc and the file system.

Every reader takes the file it reads as an argument, so tests can point it at
fixture trees, and returns plain values (never raises for a missing file).
"""

import os
import platform
import socket
import sys
import threading

from ..shims import compat


def read_text(path):
    try:
        return compat.to_text(compat.read_bytes(path))
    except (IOError, OSError):
        return None


def os_release(paths=("/etc/os-release", "/usr/lib/os-release")):
    """KEY=value pairs of os-release (quotes removed); {} if none is readable."""
    for path in paths:
        text = read_text(path)
        if text is None:
            continue
        result = {}
        for line in text.splitlines():
            line = line.strip()
            if not line or line.startswith("#") or "=" not in line:
                continue
            key, value = line.split("=", 1)
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                value = value[1:-1]
            result[key.strip()] = value
        return result
    return {}


def os_description(release=None, redhat_release="/etc/redhat-release"):
    release = os_release() if release is None else release
    if release.get("PRETTY_NAME"):
        return release["PRETTY_NAME"]
    if release.get("NAME"):
        return ("%s %s" % (release.get("NAME", ""), release.get("VERSION", ""))).strip()
    text = read_text(redhat_release)  # EL6 has no os-release
    if text and text.strip():
        return text.strip().splitlines()[0]
    return "%s %s" % (platform.system(), platform.release())


def cpu_info(path="/proc/cpuinfo"):
    """{'model': ..., 'count': N logical CPUs listed, 'mhz': ...}"""
    text = read_text(path) or ""
    model, mhz, count = "", "", 0
    for line in text.splitlines():
        if ":" not in line:
            continue
        key, value = [part.strip() for part in line.split(":", 1)]
        if key == "processor":
            count += 1
        elif key == "model name" and not model:
            model = value
        elif key == "cpu MHz" and not mhz:
            mhz = value
    return {"model": model or "unknown", "count": count or compat.cpu_count(), "mhz": mhz or "unknown"}


def mem_info(path="/proc/meminfo"):
    """{'total_kb': ..., 'available_kb': ...}; available = MemAvailable, else free + cached."""
    text = read_text(path) or ""
    values = {}
    for line in text.splitlines():
        parts = line.replace(":", " ").split()
        if len(parts) >= 2 and parts[1].isdigit():
            values[parts[0]] = int(parts[1])
    available = values.get("MemAvailable")
    if available is None:
        available = values.get("MemFree", 0) + values.get("Cached", 0)
    return {"total_kb": values.get("MemTotal", 0), "available_kb": available}


def free_disk_mb(path):
    """Free space for unprivileged users, in MiB (DIRAC's f_bavail x block size)."""
    stats = os.statvfs(path)
    return int(stats.f_bavail * (stats.f_frsize or stats.f_bsize) // (1024 * 1024))


def host_names():
    try:
        fqdn = socket.getfqdn()
    except Exception:
        fqdn = ""
    return socket.gethostname(), fqdn


def python_description():
    ssl_text = "no ssl module"
    if compat.ssl_module() is not None:
        ssl_text = getattr(compat.ssl_module(), "OPENSSL_VERSION", "ssl")
    return "%s %s (%s; %s)" % (platform.python_implementation(), sys.version.split()[0],
                               sys.executable, ssl_text)


def call_within(timeout, function):
    """(True, function()) or (False, None) when it did not return within ``timeout`` seconds.

    Lazy CVMFS mounts can hang: the call runs in a daemon thread that is abandoned
    after ``timeout`` seconds.  ``function`` must not raise.
    """
    outcome = []
    thread = threading.Thread(target=lambda: outcome.append(function()), name="pilot-probe")
    thread.daemon = True
    thread.start()
    thread.join(timeout)
    return (True, outcome[0]) if outcome else (False, None)


def probe_directory(path, timeout):
    """('visible', n) / ('empty', 0) / ('missing', 0) / ('timed out', 0) / ('unreadable: why', 0).

    "timed out" (a hanging mount, see call_within) is never confused with "empty".
    """
    def look():
        try:
            if not os.path.isdir(path):
                return ("missing", 0)
            entries = os.listdir(path)
            return ("visible", len(entries)) if entries else ("empty", 0)
        except (IOError, OSError) as exc:
            return ("unreadable: %s" % (exc.strerror or exc), 0)

    done, state = call_within(timeout, look)
    return state if done else ("timed out", 0)


def check_writable(folder):
    """None if a file can be created and removed in ``folder``, else the reason."""
    import tempfile

    name = None
    try:
        fd, name = tempfile.mkstemp(prefix=".pilot-write-test-", dir=folder)
        try:
            os.write(fd, b"x")   # ENOSPC on a full disk: the file must not stay behind
        finally:
            os.close(fd)
        return None
    except (IOError, OSError) as exc:
        return exc.strerror or str(exc)
    finally:
        if name is not None:
            try:
                os.remove(name)
            except OSError:
                pass
