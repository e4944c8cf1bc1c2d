"""What one pilot (one credential) may cost the logbook: its messages, and its refusals.

* **Per-pilot quota** (``serve``/``consume`` ``--max-messages-per-pilot``, ``--max-bytes-per-pilot``):
  a pilot holds at most that many messages and bytes of text and data.  The store checks
  it under the pilot's row lock (``Store._over_quota``: exact however many receivers
  write), on the new messages only: a batch that would pass it is refused whole with
  **413** and ``{"error": "pilot ... holds N messages; M more would pass its quota of Q
  messages"}``; a re-sent batch already stored is still acknowledged.  0 means no cap.
* **Refusals kept** (``--max-rejected-per-hour``): each refused batch of an authenticated
  sender is kept in the ``rejected`` table (the body's first 4 KiB, for diagnosis), at
  most that many per credential (a pilot token: its stamp; a certificate: its DN) and
  clock hour; the others are only counted (``pilots2_logbook_rejected_total{kept="no"}``)
  and logged once a minute.  A token holder sending 800 bad batches a second thus adds
  100 rows an hour, not 2.9 million.  The table itself is purged by age
  (``--retention-rejected DAYS``, ``store/retention.py``).
"""

import threading
import time

DEFAULT_MAX_MESSAGES = 1000000
DEFAULT_MAX_BYTES = 256 * 1024 * 1024
DEFAULT_MAX_REJECTED_PER_HOUR = 100
HOUR = 3600.0
KEEP_KEYS = 100000  # credentials tracked at once; past it, the entries of past hours are dropped


def cap(value):
    """An option's value as the store's cap: None for 0 (no cap)."""
    return value or None


class RejectedBudget(object):
    """How many refused batches each credential may still have kept in ``rejected`` this hour.

    ``allow(key)`` is True for the first ``per_hour`` calls of each key in each clock hour
    (0: never).  Thread-safe; memory bounded by ``KEEP_KEYS`` credentials."""

    def __init__(self, per_hour=DEFAULT_MAX_REJECTED_PER_HOUR, clock=time.time):
        self.per_hour, self.clock = per_hour, clock
        self.counts = {}  # key -> [hour, kept this hour]
        self.lock = threading.Lock()

    def allow(self, key):
        if self.per_hour <= 0:
            return False
        hour = int(self.clock() // HOUR)
        with self.lock:
            entry = self.counts.get(key)
            if entry is None or entry[0] != hour:
                if entry is None and len(self.counts) >= KEEP_KEYS:
                    self._prune(hour)
                entry = self.counts[key] = [hour, 0]
            if entry[1] >= self.per_hour:
                return False
            entry[1] += 1
            return True

    def _prune(self, hour):
        for key in [key for key, entry in self.counts.items() if entry[0] != hour]:
            del self.counts[key]
        if len(self.counts) >= KEEP_KEYS:  # that many credentials within one hour: start the hour afresh
            self.counts.clear()
