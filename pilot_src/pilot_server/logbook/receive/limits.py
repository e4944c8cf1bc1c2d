"""The limits of the front, and the log of what they refused (once per client and reason per minute).

Every limit is a ``serve`` option (docs/logbook.md, "The front"; docs/logbook-front.md); the defaults suit pilots that
send a batch every ~30 s on a kept-alive connection:

==========================  =========  ==========================================================
``handshake_timeout``       10 s       from the TCP accept to the end of the TLS handshake (abort)
``head_timeout``            10 s       a request head, from its first byte (the first request of a
                                       connection: from the end of the handshake); 408, close
``body_timeout``            60 s       the whole body, from the end of the head; 408, close
``idle_timeout``            90 s       between two requests of a kept-alive connection (close)
``max_connections``         files - 256  open connections at once (a new one is closed at once)
``max_per_address``         1000       open connections from one client address (0: no cap)
``backlog``                 4096       the listen queue (the kernel caps it at net.core.somaxconn)
``max_head_bytes``          16 KiB     request line and headers (431, close); also 100 headers
``max_body_bytes``          8 MiB      a batch body (413); registrations, states and forms less
``drain_timeout``           20 s       at SIGTERM, how long requests in progress may finish
==========================  =========  ==========================================================
"""

import collections
import logging
import resource
import time

from pilot_server.worker import messages as wire

RESERVED_FILES = 256  # kept for the database, the log files, the broker
MAX_HEADERS = 100
REPORT_EVERY = 60.0

Limits = collections.namedtuple(
    "Limits",
    "handshake_timeout head_timeout body_timeout idle_timeout max_connections "
    "max_per_address backlog max_head_bytes max_body_bytes drain_timeout",
)


def file_limit():
    """The process's open-file limit, raised to its hard limit first (the kernel allows that)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


def default_max_connections():
    return max(16, file_limit() - RESERVED_FILES)


DEFAULTS = Limits(
    handshake_timeout=10.0,
    head_timeout=10.0,
    body_timeout=60.0,
    idle_timeout=90.0,
    max_connections=None,
    max_per_address=1000,
    backlog=4096,
    max_head_bytes=16 * 1024,
    max_body_bytes=wire.MAX_BATCH_BYTES,
    drain_timeout=20.0,
)


def limits(**given):
    """Limits with the defaults for what is not given (or None); max_connections from the file limit."""
    values = DEFAULTS._asdict()
    values.update((key, value) for key, value in given.items() if value is not None)
    if values["max_connections"] is None:
        values["max_connections"] = default_max_connections()
    return Limits(**values)


class RefusalLog(object):
    """Logs a refusal once per (client, reason) per minute, with the count of those not logged since.

    Bounded: past ``keep`` entries, the ones older than a minute are dropped (and their
    suppressed counts with them: a log line is a report, the metrics keep the totals).
    """

    def __init__(self, logger, every=REPORT_EVERY, keep=10000, clock=time.monotonic):
        self.logger, self.every, self.keep, self.clock = logger, every, keep, clock
        self.seen = {}  # (address, reason) -> [last logged, suppressed since]

    def __call__(self, address, reason, detail="", level=logging.WARNING):
        now = self.clock()
        key = (address, reason)
        entry = self.seen.get(key)
        if entry is not None and now - entry[0] < self.every:
            entry[1] += 1
            return False
        suppressed = entry[1] if entry is not None else 0
        if entry is None and len(self.seen) >= self.keep:
            self.prune(now)
        self.seen[key] = [now, 0]
        self.logger.log(
            level,
            "refused %s: %s%s%s",
            address,
            reason,
            (": " + detail) if detail else "",
            " (%d more since the last report)" % suppressed if suppressed else "",
        )
        return True

    def prune(self, now):
        for key in [key for key, entry in self.seen.items() if now - entry[0] >= self.every]:
            del self.seen[key]
