"""The node cache of DB12 results: pilots on one node do not rerun the benchmark for hours.

**Key.**  A result is valid for the same CPU model, logical CPU count, kernel
release, interpreter (implementation and full version), number of copies and
benchmark size; one file per key, ``db12-<sha256 of the key, 16 hex>.json``,
which also holds the key itself, the time of the measurement and the
measurement.  An entry expires after ``DEFAULT_MAX_AGE`` (6 h).  Only full
benchmarks are cached.

**Location.**  ``--db12-cache=DIR``, else ``$PILOT_DB12_CACHE``, else
``$XDG_CACHE_HOME/pilots2``, else ``/var/tmp/pilots2-<uid>``: node-local
(a home directory is often on a shared file system), kept across reboots,
and shared by every pilot of the same user on the node.

**Concurrency.**  Writers write a private temporary file (mode 0600) in the
cache directory and ``rename()`` it over the entry, which is atomic: readers
see the old entry or the new one, never a mix; with two writers the last
one wins and both are valid.  A reader that finds garbage, a truncated file
or an entry of another key treats it as a miss and the next full
measurement replaces it.

**Threat model.**  The cache decides the CPU power a pilot reports, hence
the CPU time it promises to jobs and how they are accounted, so another
local user must not be able to choose it.  Others can create names in
world-writable /var/tmp before us (squatting ``pilots2-<uid>``), plant
files or symbolic links there, or make files writable to themselves.  So
the directory must be a real directory (not a link), owned by the pilot's
effective uid and writable by no one else, and it is created with mode
0700; an entry is opened without following links and used only if it is a
regular file owned by the pilot's uid, writable by no one else and smaller
than 64 KiB.  Anything else is refused with a warning: an unsafe directory
is neither read nor written (the benchmark runs, its result is not
stored), an unsafe entry is ignored and replaced by the next full
measurement.  The cache cannot protect against the pilot's own uid or
root: both could also change the pilot itself.
"""

import errno
import hashlib
import json
import os
import platform
import stat
import tempfile

from ..shims import compat
from ..node import privatedir

SCHEMA = "pilots2/db12-cache/1"
ENV_VAR = "PILOT_DB12_CACHE"
DEFAULT_MAX_AGE = 6 * 3600
MAX_FILE_BYTES = 65536
CLOCK_SKEW = 300      # an entry from up to 5 min in the future is accepted
MAX_SCORE = 100000.0  # sanity bound on a stored score


class CacheRefused(Exception):
    """The cache directory or file is not safe (or not usable); str() says why."""


def default_dir(environ=None):
    """Where the cache lives unless --db12-cache says otherwise."""
    environ = os.environ if environ is None else environ
    if environ.get(ENV_VAR):
        return environ[ENV_VAR]
    xdg = environ.get("XDG_CACHE_HOME")
    if xdg and os.path.isabs(xdg):
        return os.path.join(xdg, "pilots2")
    return "/var/tmp/pilots2-%d" % os.geteuid()


def node_key(copies, draws, cpuinfo_path="/proc/cpuinfo"):
    """What a result depends on: CPU model, CPU count, kernel, interpreter, copies, size."""
    from ..node import nodeinfo

    cpu = nodeinfo.cpu_info(cpuinfo_path)
    return {"cpu_model": cpu["model"], "cpus": cpu["count"], "kernel": os.uname()[2],
            "python": "%s %s" % (platform.python_implementation(), platform.python_version()),
            "copies": copies, "draws": draws}


def _canonical(value):
    return json.dumps(value, sort_keys=True)


def file_name(key):
    return "db12-%s.json" % hashlib.sha256(compat.to_bytes(_canonical(key))).hexdigest()[:16]


def ensure_dir(path):
    """Create the cache directory (mode 0700) if needed; raise CacheRefused unless it is safe."""
    _refuse(privatedir.check(path, create=True))


def check_dir(path):
    _refuse(privatedir.check(path))


def _refuse(problem):
    if problem:
        raise CacheRefused(problem)


def read_entry(path):
    """The parsed entry, None if there is none; CacheRefused if it is unsafe or not JSON."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return None
        if exc.errno == errno.ELOOP:
            raise CacheRefused("%s is a symbolic link" % path)
        raise CacheRefused("%s: %s" % (path, exc.strerror or exc))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise CacheRefused("%s is not a regular file" % path)
        _refuse(privatedir.owner_problem(path, info))
        if info.st_size > MAX_FILE_BYTES:
            raise CacheRefused("%s is too large (%d bytes)" % (path, info.st_size))
        data = os.read(fd, MAX_FILE_BYTES + 1)
    finally:
        os.close(fd)
    try:
        return json.loads(compat.to_text(data))
    except ValueError:
        raise CacheRefused("%s is not valid JSON (a partial or foreign file)" % path)


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def valid_measurement(entry, key, now, max_age):
    """The measurement of a cache entry if it is for ``key`` and fresh, else (None, why)."""
    if not isinstance(entry, dict) or entry.get("schema") != SCHEMA:
        return None, "not a DB12 cache entry"
    if _canonical(entry.get("key")) != _canonical(key):
        return None, "entry of another node or interpreter"
    measured = entry.get("measurement")
    when = entry.get("measured_at")
    if not _number(when) or not isinstance(measured, dict):
        return None, "incomplete entry"
    if when > now + CLOCK_SKEW:
        return None, "entry from the future"
    if now - when > max_age:
        return None, "expired (%.0f s old, limit %d s)" % (now - when, max_age)
    raw = measured.get("raw")
    if (not isinstance(raw, list) or len(raw) != key["copies"]
            or not all(_number(v) and 0 < v < MAX_SCORE for v in raw)):
        return None, "bad scores"
    if not (_number(measured.get("cpu_seconds")) and _number(measured.get("wall_seconds"))):
        return None, "incomplete entry"
    result = {"raw": sorted(float(v) for v in raw), "cpu_seconds": measured["cpu_seconds"],
              "wall_seconds": measured["wall_seconds"], "measured_at": when}
    return result, "hit"


class NodeCache(object):
    """The cache entry of one key (this node, interpreter, copies) in one directory."""

    def __init__(self, directory, copies, draws, max_age=None, key=None):
        self.directory = os.path.abspath(directory)
        self.key = key or node_key(copies, draws)
        self.max_age = DEFAULT_MAX_AGE if max_age is None else max_age
        self.path = os.path.join(self.directory, file_name(self.key))

    def load(self, now):
        """(measurement or None, status): status is 'hit', or why there was no hit."""
        try:
            check_dir(self.directory)
            entry = read_entry(self.path)
        except CacheRefused as exc:
            if not os.path.lexists(self.directory):
                return None, "miss (no cache directory yet)"
            return None, "refused: %s" % exc
        if entry is None:
            return None, "miss"
        measured, status = valid_measurement(entry, self.key, now, self.max_age)
        return measured, status if measured is not None else "miss: %s" % status

    def store(self, measured, now):
        """Write the entry atomically; returns 'stored' or why it was not."""
        entry = {"schema": SCHEMA, "key": self.key, "measured_at": now,
                 "measurement": {"raw": measured["raw"], "cpu_seconds": measured["cpu_seconds"],
                                 "wall_seconds": measured["wall_seconds"]}}
        try:
            ensure_dir(self.directory)
        except CacheRefused as exc:
            return "refused: %s" % exc
        tmp = None
        try:
            fd, tmp = tempfile.mkstemp(prefix=".db12-", suffix=".tmp", dir=self.directory)
            try:
                data = compat.to_bytes(json.dumps(entry, sort_keys=True) + "\n")
                while data:
                    data = data[os.write(fd, data):]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.rename(tmp, self.path)
            tmp = None
            return "stored"
        except (IOError, OSError) as exc:
            return "cannot write %s: %s" % (self.path, exc.strerror or exc)
        finally:
            if tmp is not None:
                try:
                    os.remove(tmp)
                except OSError:
                    pass
