"""The on-disk spool of remote logging: the batches not sent yet, in the work directory.

``pilot_log.spool`` holds one encoded batch (pilot/messages.py) per line, each
append fsync'd, so a pilot killed at any moment loses nothing it spooled; it
is sent before anything newer (pilot/logs/logsender.py) and what is still unsent at
exit stays there or is handed off (pilot/logs/loghandoff.py).  ``pilot_log.rejected``
keeps the batches the logbook rejected.  Nothing here raises: a failed write
returns its reason.
"""

import os
import threading
import time

from .. import messages

SPOOL_FILE = "pilot_log.spool"
REJECTED_FILE = "pilot_log.rejected"


class Spool(object):
    """The spool and rejected files of one work directory.  ``lock`` serialises the writers;
    ``read`` and ``rewrite`` leave locking to the caller (a read-then-rewrite holds it throughout)."""

    def __init__(self, work_dir):
        self.path = os.path.join(work_dir, SPOOL_FILE)
        self.rejected_path = os.path.join(work_dir, REJECTED_FILE)
        self.lock = threading.Lock()

    def read(self):
        """The whole spool (bytes; empty when there is none)."""
        try:
            handle = open(self.path, "rb")
        except (IOError, OSError):
            return b""
        try:
            return handle.read()
        finally:
            handle.close()

    def first(self):
        """The first batch in the spool, or None."""
        with self.lock:
            try:
                handle = open(self.path, "rb")
            except (IOError, OSError):
                return None
            try:
                while True:
                    line = handle.readline()
                    if not line:
                        return None
                    if line.strip():
                        return line.rstrip(b"\n")
            finally:
                handle.close()

    def append(self, bodies):
        """Append batches (fsync'd).  None, or why they could not be written."""
        try:
            with self.lock:
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                try:
                    for body, _ in bodies:
                        os.write(fd, body + b"\n")
                    os.fsync(fd)
                finally:
                    os.close(fd)
        except (IOError, OSError) as exc:
            return "cannot write %s: %s" % (SPOOL_FILE, exc.strerror or exc)
        return None

    def rewrite(self, lines):
        """Replace the spool by ``lines`` (atomically), or remove it when there are none.
        None, or why it could not be done (the spool then stays as it was)."""
        try:
            if not lines:
                if os.path.exists(self.path):
                    os.remove(self.path)
                return None
            tmp = "%s.tmp-%d" % (self.path, os.getpid())
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, b"\n".join(lines) + b"\n")
                os.fsync(fd)
            finally:
                os.close(fd)
            os.rename(tmp, self.path)
        except (IOError, OSError) as exc:
            try:   # a full disk: the partial copy goes
                os.remove("%s.tmp-%d" % (self.path, os.getpid()))
            except OSError:
                pass
            return "cannot rewrite %s: %s" % (SPOOL_FILE, exc.strerror or exc)
        return None

    def reject(self, body):
        """Set a rejected batch aside."""
        try:
            handle = open(self.rejected_path, "ab")
            try:
                handle.write(body + b"\n")
            finally:
                handle.close()
        except (IOError, OSError):
            pass

    def keep_own(self, stamp):
        """A spool left by another pilot in this directory is moved aside, never sent as ours."""
        found = lines(self.read())
        if not found:
            return
        other = messages.batch_stamp(found[0])
        if other is None or other != stamp:
            try:
                os.rename(self.path, "%s.%d" % (self.path, int(time.time())))
            except (IOError, OSError):
                pass

    def unsent(self):
        """Messages waiting in the spool."""
        return messages.count_messages(self.read())

    def has_rejected(self):
        return os.path.exists(self.rejected_path)


def lines(data):
    """The batches of spool data (bytes)."""
    return [line for line in data.split(b"\n") if line.strip()]
