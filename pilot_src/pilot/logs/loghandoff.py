"""Logs that outlive their pilot: the hand-off of unsent log spools on the node.

A pilot that ends while the logbook is unreachable leaves its last messages
(the result among them) in ``pilot_log.spool`` in its work directory, which
the batch system deletes.  So, at exit with unsent messages, the pilot moves
that spool to a node-local **hand-off directory**; the next pilot of the same
uid on the node (or the wrapper's exit path, after a pilot that was killed)
sends every waiting spool from a background thread, bounded in time, never
delaying its own start.  The logbook stores each (stamp, seq) once, so a late
or repeated delivery is harmless.

**Location.**  ``$PILOT_LOG_HANDOFF``, else ``/var/tmp/pilots2-logs-<uid>``;
``PILOT_LOG_HANDOFF=off`` disables the hand-off.

**Threat model** (the DB12 cache's, pilot/cpu/db12cache.py): the directory must be
a real directory owned by the pilot's uid, writable by no one else (created
0700); a spool is used only if it is a regular file with one link, owned by
the uid, not older than ``MAX_AGE`` and not over ``MAX_SPOOL_BYTES``.  Others
are ignored with one warning; expired spools of the uid are removed.  The
directory holds at most ``MAX_SPOOLS`` spools and ``MAX_TOTAL_BYTES``.

**Files.**  ``<stamp>.<time>.<pid>.spool``: a header line (JSON: stamp,
logbook URL, VO, the pilot's logbook token if it had one: the file is 0600 in
a 0700 directory, as the token file was in the work directory) then the
spooled batches, one per line.  A pilot claims a spool by renaming it to
``<name>.claimed-<pid>-<time>`` (atomic: two pilots never send the same one);
what it could not send is put back under the waiting name; a claim older than
``CLAIM_STALE`` seconds (a pilot that died while sending) may be claimed
again.  At start, remote logging writes ``pilot_log.handoff.json`` in the work
directory (stamp, URL, VO, where the token file is), so that the wrapper can
hand off the spool of a pilot that never reached its own exit path.
"""

import errno
import json
import os
import re
import stat
import threading
import time

from ..shims import compat
from ..node import privatedir

ENV_VAR = "PILOT_LOG_HANDOFF"
SCHEMA = "pilots2/log-handoff/1"
META_FILE = "pilot_log.handoff.json"
SPOOL_FILE = "pilot_log.spool"      # logspool.SPOOL_FILE (not imported: the wrapper's path stays small)
MAX_SPOOL_BYTES = 64 * 1024 * 1024
MAX_SPOOLS = 200
MAX_TOTAL_BYTES = 256 * 1024 * 1024
MAX_AGE = 3 * 24 * 3600
CLAIM_STALE = 600.0
SEND_SECONDS = 60.0                 # the background sender of the next pilot, in all
EXIT_WAIT = 10.0                    # at the next pilot's exit: wait this long for the sender at most
SEND_TIMEOUT = 10.0                 # one batch

_WAITING = re.compile(r"^[A-Za-z0-9_-]{1,128}\.\d+\.\d+\.spool$")
_CLAIMED = re.compile(r"^([A-Za-z0-9_-]{1,128}\.\d+\.\d+\.spool)\.claimed-(\d+)-(\d+)$")


class HandoffRefused(Exception):
    """The hand-off directory or a spool is not safe or not usable; str() says why."""


def directory(environ=None):
    """The hand-off directory, or None when PILOT_LOG_HANDOFF=off."""
    environ = os.environ if environ is None else environ
    value = (environ.get(ENV_VAR) or "").strip()
    if value.lower() in ("off", "no", "none", "0", "false"):
        return None
    return value or "/var/tmp/pilots2-logs-%d" % os.geteuid()


def check_dir(path, create=False):
    """Raise HandoffRefused unless ``path`` is a safe hand-off directory (created 0700 if asked)."""
    problem = privatedir.check(path, create)
    if problem:
        raise HandoffRefused(problem)


def _problem(info, now):
    """Why a spool of the hand-off directory must not be used, or None (from its lstat)."""
    if stat.S_ISLNK(info.st_mode):
        return "link"
    if not stat.S_ISREG(info.st_mode):
        return "not a file"
    if info.st_uid != os.geteuid():
        return "foreign"
    if info.st_nlink != 1 or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return "linked or shared"
    if now - info.st_mtime > MAX_AGE:
        return "expired"
    if info.st_size > MAX_SPOOL_BYTES:
        return "over the size limit"
    return None


def _read_safely(path, limit=MAX_SPOOL_BYTES):
    """The bytes of a regular file of ours, opened without following links (HandoffRefused else)."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise HandoffRefused("%s is a symbolic link" % path)
        raise HandoffRefused("%s: %s" % (path, exc.strerror or exc))
    try:
        info = os.fstat(fd)
        problem = _problem(info, time.time())
        if problem:
            raise HandoffRefused("%s: %s" % (path, problem))
        chunks, size = [], 0
        while size <= limit:
            data = os.read(fd, 1024 * 1024)
            if not data:
                break
            chunks.append(data)
            size += len(data)
        if size > limit:
            raise HandoffRefused("%s is over %d bytes" % (path, limit))
        return b"".join(chunks)
    finally:
        os.close(fd)


def _write_file(path, data):
    """Write bytes to a new private file through a temporary name and a rename (fsync'd)."""
    tmp = "%s.tmp-%d" % (path, os.getpid())
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        try:
            while data:
                data = data[os.write(fd, data):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, path)
        tmp = None
    finally:
        if tmp is not None:
            _remove(tmp)


def _remove(path):
    try:
        os.remove(path)
    except OSError:
        pass


def _lines(data):
    return [line for line in data.split(b"\n") if line.strip()]


def _count(line):
    return line.count(b'"seq":')


# -- at start of remote logging: what the wrapper needs ----------------------------------

def write_meta(work_dir, stamp, url, vo=None, token_file=None):
    """Note in the work directory where this pilot logs to (no secret: the token file's path)."""
    meta = {"schema": SCHEMA, "stamp": stamp, "url": url, "vo": vo or None,
            "token_file": os.path.abspath(token_file) if token_file else None}
    try:
        _write_file(os.path.join(work_dir, META_FILE), compat.to_bytes(json.dumps(meta, sort_keys=True)))
    except (IOError, OSError):
        pass   # the pilot's own exit path hands off without it


# -- at exit: move the spool -----------------------------------------------------------------

def _entries(folder, now):
    """[(name, lstat, problem)] of the spools (waiting or claimed) in the hand-off directory."""
    found = []
    for name in sorted(os.listdir(folder)):
        if not (_WAITING.match(name) or _CLAIMED.match(name)):
            continue
        try:
            info = os.lstat(os.path.join(folder, name))
        except OSError:
            continue
        found.append((name, info, _problem(info, now)))
    return found


def _expire(folder, entries):
    """Remove the expired spools of this uid; return the entries left."""
    kept = []
    for name, info, problem in entries:
        if problem == "expired" and stat.S_ISREG(info.st_mode) and info.st_uid == os.geteuid():
            _remove(os.path.join(folder, name))
            continue
        kept.append((name, info, problem))
    return kept


def hand_off(work_dir, environ=None, stamp=None, url=None, vo=None, token=None, now=None):
    """Move the work directory's unsent spool to the hand-off directory.

    Returns (path, None) when handed off, (None, None) when there was nothing to
    hand off or the hand-off is off, (None, one-line reason) when it could not be
    done (the spool then stays in the work directory).  Never raises.
    """
    try:
        return _hand_off(work_dir, environ, stamp, url, vo, token, now)
    except HandoffRefused as exc:
        return None, "log hand-off: %s" % exc
    except Exception as exc:
        return None, "log hand-off: %s: %s" % (exc.__class__.__name__, exc)


def _hand_off(work_dir, environ, stamp, url, vo, token, now):
    environ = os.environ if environ is None else environ
    folder = directory(environ)
    source = os.path.join(work_dir, SPOOL_FILE)
    if folder is None or not os.path.exists(source):
        return None, None
    now = time.time() if now is None else now
    meta = {}
    try:
        meta = json.loads(compat.to_text(_read_safely(os.path.join(work_dir, META_FILE), 65536)))
    except (HandoffRefused, ValueError):
        meta = {}
    if not isinstance(meta, dict):
        meta = {}
    data = _read_safely(source)
    lines = _lines(data)
    if not lines:
        _remove(source)
        return None, None
    stamp = stamp or meta.get("stamp") or _stamp_of(lines[0])
    url = url or meta.get("url")
    if not stamp or not re.match(r"^[A-Za-z0-9_-]{1,128}$", stamp) or not url:
        raise HandoffRefused("%s: no stamp or logbook URL known for it" % source)
    if token is None and meta.get("token_file"):
        from .logtransport import token_from_file

        token, _ = token_from_file(meta["token_file"], os.getuid())
    header = {"handoff": SCHEMA, "stamp": stamp, "url": url, "vo": vo or meta.get("vo"), "token": token,
              "created": now, "messages": sum(_count(line) for line in lines)}
    body = compat.to_bytes(json.dumps(header, sort_keys=True)) + b"\n" + b"\n".join(lines) + b"\n"
    if len(body) > MAX_SPOOL_BYTES:
        raise HandoffRefused("the spool (%d bytes) is over the limit of %d bytes: it stays in %s"
                             % (len(body), MAX_SPOOL_BYTES, work_dir))
    check_dir(folder, create=True)
    entries = _expire(folder, _entries(folder, now))
    mine = [info for _, info, problem in entries if problem is None]
    if len(mine) >= MAX_SPOOLS or sum(info.st_size for info in mine) + len(body) > MAX_TOTAL_BYTES:
        raise HandoffRefused("%s is full (%d spools, limits %d spools / %d bytes): the spool stays in %s"
                             % (folder, len(mine), MAX_SPOOLS, MAX_TOTAL_BYTES, work_dir))
    target = os.path.join(folder, "%s.%d.%d.spool" % (stamp, int(now), os.getpid()))
    _write_file(target, body)
    _remove(source)
    return target, None


def _stamp_of(line):
    try:
        return json.loads(compat.to_text(line)).get("stamp")
    except (ValueError, AttributeError):
        return None


# -- the next pilot: claim and send ------------------------------------------------------------

def claim_waiting(folder, now=None):
    """Claim the spools waiting in ``folder``: ([claimed paths], {problem: count}).

    Raises HandoffRefused when the directory itself is unsafe.  Expired spools
    of this uid are removed; links, foreign and odd files are left alone and counted.
    """
    now = time.time() if now is None else now
    check_dir(folder)
    ignored = {}
    claimed = []
    for name, info, problem in _entries(folder, now):
        if problem is not None:
            if problem == "expired" and stat.S_ISREG(info.st_mode) and info.st_uid == os.geteuid():
                _remove(os.path.join(folder, name))
            ignored[problem] = ignored.get(problem, 0) + 1
            continue
        match = _CLAIMED.match(name)
        if match:
            if now - int(match.group(3)) < CLAIM_STALE:
                continue   # another pilot is sending it
            base = match.group(1)
        else:
            base = name
        target = os.path.join(folder, "%s.claimed-%d-%d" % (base, os.getpid(), int(now)))
        try:
            os.rename(os.path.join(folder, name), target)
        except OSError:
            continue       # another pilot claimed it first
        claimed.append(target)
    return claimed, ignored


def release(claimed_path, lines_left, header_line):
    """Put what was not sent back under the waiting name (or remove the spool when all went)."""
    match = _CLAIMED.match(os.path.basename(claimed_path))
    waiting = os.path.join(os.path.dirname(claimed_path), match.group(1)) if match else claimed_path
    if not lines_left:
        _remove(claimed_path)
        return
    try:
        _write_file(claimed_path, header_line + b"\n" + b"\n".join(lines_left) + b"\n")
        os.rename(claimed_path, waiting)
    except (IOError, OSError):
        pass   # it stays claimed; a later pilot takes it over once the claim is stale


class Sender(object):
    """Sends the spools waiting in the hand-off directory from a daemon thread.

    ``credentials``: the running pilot's (pilot.logs.logtransport.Credentials): its
    certificate or proxy and CAs; a spool's own token, if it has one, replaces
    the token.  Figures: ``spools``, ``sent`` (messages), ``left`` (messages put
    back), ``ignored`` ({problem: count}).
    """

    def __init__(self, folder, credentials, environ, log=None, seconds=SEND_SECONDS):
        self.folder = folder
        self.credentials = credentials
        self.environ = environ
        self.log = log
        self.deadline = time.time() + seconds
        self.stopping = threading.Event()
        self.thread = None
        self.spools = 0
        self.sent = 0
        self.left = 0
        self.rejected = 0
        self.ignored = {}
        self.problem = None

    def start(self):
        self.thread = threading.Thread(target=self._run, name="pilot-log-handoff")
        self.thread.daemon = True
        self.thread.start()
        return self

    def finish(self, wait=EXIT_WAIT):
        """At the pilot's exit: wait at most ``wait`` s, then make the thread put back what is left."""
        if self.thread is None:
            return self.figures()
        self.thread.join(max(0.0, min(wait, self.deadline - time.time())))
        self.stopping.set()
        self.thread.join(1.0)
        return self.figures()

    def figures(self):
        return {"spools": self.spools, "sent": self.sent, "left": self.left, "rejected": self.rejected,
                "ignored": dict(self.ignored), "problem": self.problem}

    def _say(self, level, text):
        if self.log is not None:
            try:
                getattr(self.log, level)("log hand-off: %s" % text)
            except Exception:
                pass

    def _run(self):
        try:
            try:
                claimed, self.ignored = claim_waiting(self.folder)
            except HandoffRefused as exc:
                if os.path.lexists(self.folder):
                    self.problem = str(exc)
                    self._say("warning", "%s: waiting spools not sent" % exc)
                return
            if self.ignored:
                self._say("warning", "ignored %s in %s" % (", ".join(
                    "%d %s" % (count, problem) for problem, count in sorted(self.ignored.items())), self.folder))
            for path in claimed:
                self._send_spool(path)
            if self.spools:
                self._say("info", "%d spool(s) of earlier pilots: %d messages sent, %d left for a later pilot"
                          % (self.spools, self.sent, self.left))
        except Exception as exc:  # never into the pilot
            self.problem = "%s: %s" % (exc.__class__.__name__, exc)

    def _send_spool(self, path):
        from .logtransport import Credentials, Refused, Rejected, make_transport

        try:
            data = _read_safely(path)
        except HandoffRefused as exc:
            self._say("warning", "%s: not sent" % exc)
            return
        lines = _lines(data)
        if not lines:
            _remove(path)
            return
        try:
            header = json.loads(compat.to_text(lines[0]))
            if not isinstance(header, dict) or header.get("handoff") != SCHEMA:
                raise ValueError("not a hand-off spool")
        except ValueError:
            self._say("warning", "%s is not a hand-off spool: removed" % path)
            _remove(path)
            return
        created = header.get("created")
        if isinstance(created, (int, float)) and time.time() - created > MAX_AGE:
            self.ignored["expired"] = self.ignored.get("expired", 0) + 1
            _remove(path)
            return
        self.spools += 1
        batches = lines[1:]
        if self.stopping.is_set() or time.time() >= self.deadline:
            self.left += sum(_count(line) for line in batches)
            release(path, batches, lines[0])
            return
        mine = self.credentials
        creds = Credentials(header.get("token"), mine.certfile, mine.keyfile, mine.host_certificate,
                            mine.cafile, mine.capath)
        try:
            transport = make_transport(header["url"], creds, header["stamp"], header.get("vo"), self.environ,
                                       timeout=SEND_TIMEOUT)
        except Exception as exc:
            self._say("warning", "spool of %s: %s: not sent" % (header.get("stamp"), exc))
            self.left += sum(_count(line) for line in batches)
            release(path, batches, lines[0])
            return
        done = 0
        try:
            for line in batches:
                if self.stopping.is_set() or time.time() >= self.deadline:
                    break
                for holder in (transport, getattr(transport, "client", None)):
                    if holder is not None and hasattr(holder, "timeout"):
                        holder.timeout = max(1.0, min(SEND_TIMEOUT, self.deadline - time.time()))
                try:
                    transport.send(line, _count(line))
                    self.sent += _count(line)
                except Rejected:
                    self.rejected += _count(line)
                except Refused as exc:
                    # Put back: it expires after MAX_AGE unless the logbook takes it by then.
                    self._say("warning", "the logbook refused the spool of %s (%s)" % (header.get("stamp"), exc))
                    break
                except Exception as exc:
                    # the logbook is down again: a later pilot goes on
                    self.problem = " ".join(compat.to_text(exc).split())[:300] or exc.__class__.__name__
                    break
                done += 1
        finally:
            try:
                transport.close(1.0)
            except Exception:
                pass
        self.left += sum(_count(line) for line in batches[done:])
        release(path, batches[done:], lines[0])


def start_sending(credentials, environ, log=None, seconds=SEND_SECONDS):
    """Start sending the waiting spools in the background; the Sender, or None when off."""
    folder = directory(environ)
    if folder is None or not os.path.lexists(folder):
        return None
    return Sender(folder, credentials, environ, log, seconds).start()


# -- the wrapper's exit path: python pilot.pyz --hand-off-log WORKDIR ----------------------

def main(work_dir, environ, stream):
    """Hand off the spool left in ``work_dir``; one line on ``stream``; exit code 0 (never fails the job)."""
    path, problem = hand_off(work_dir, environ)
    if path:
        line = "log hand-off: the unsent log of %s waits in %s for the next pilot" % (work_dir, path)
    elif problem:
        line = problem
    else:
        line = "log hand-off: nothing to hand off in %s" % work_dir
    compat.write_text(stream, line + "\n")
    stream.flush()
    return 0
