"""What the wrapper piped to the pilot's stdin, logged when remote logging is on.

A pipe that stays open (or a terminal) never makes the pilot wait: stdin is
read for at most STDIN_SECONDS, and no longer than STDIN_IDLE without data.
"""

import os
import time

from ..shims import compat

STDIN_BYTES = 1024 * 1024
STDIN_SECONDS = 2.0         # reading stdin: at most this long in all ...
STDIN_IDLE = 0.5            # ... and stop when nothing came for this long (a pipe that stays open)


def read_stdin(fd=0, max_bytes=STDIN_BYTES, total=STDIN_SECONDS, idle=STDIN_IDLE):
    """What is waiting on ``fd`` (bytes) and whether it was cut, reading at most ``total``
    seconds and stopping at end of file or after ``idle`` seconds without data: a pipe
    that stays open never makes the pilot hang."""
    import errno
    import select

    chunks, size = [], 0
    started = last = time.time()
    while size < max_bytes:
        now = time.time()
        wait = min(started + total - now, last + idle - now)
        if wait <= 0:
            break
        try:
            ready = select.select([fd], [], [], wait)[0]
        except (select.error, OSError, IOError, ValueError) as exc:
            if _errno(exc) == errno.EINTR:
                continue
            break
        if not ready:
            break
        try:
            data = os.read(fd, min(65536, max_bytes - size))
        except (OSError, IOError) as exc:
            if _errno(exc) == errno.EINTR:
                continue
            break
        if not data:
            break
        chunks.append(data)
        size += len(data)
        last = time.time()
    data = b"".join(chunks)
    return data[:max_bytes], size >= max_bytes


def _errno(exc):
    number = getattr(exc, "errno", None)
    if number is None and getattr(exc, "args", None):
        number = exc.args[0]
    return number


def capture_stdin(logger, fd=0):
    """With remote logging on and stdin not a terminal: log what the wrapper piped there
    (records of kind ``stdin``).  Returns the number of lines."""
    try:
        if os.isatty(fd):
            return 0
    except (OSError, IOError, ValueError):
        return 0
    data, cut = read_stdin(fd)
    if not data:
        return 0
    log = logger.source("stdin", "setup")
    lines = compat.to_text(data).splitlines()
    for line in lines:
        log.event("INFO", line, "stdin")
    if cut:
        log.event("WARNING", "(stdin cut after %d bytes)" % STDIN_BYTES, "stdin")
    return len(lines)
