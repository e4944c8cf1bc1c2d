"""Remote logging's sender: the pilot's log, sent to the logbook while the pilot runs.

``RemoteLog`` is a sink of the pilot's logger (pilot/logs/logger.py).  Every record
becomes a message of pilot/messages.py and waits in a bounded in-memory queue
that a background thread empties:

* it sends a batch when ``RemoteLoggerBufsize`` records wait (default 1000),
  when the oldest waiting record is ``RemoteLoggerTimerInterval`` seconds old
  (DEFAULT_INTERVAL when pilot.json says 0, DIRAC's "never"), at once for a
  heartbeat or the result, at the end of each command (the runner waits at
  most 2 s) and at exit (at most logsession.FINAL_SECONDS in all, signals
  included);
* a batch that cannot be sent (network, HTTP 5xx, no RECEIPT) is appended to
  the spool (pilot/logs/logspool.py: ``pilot_log.spool`` in the work directory,
  one JSON batch per line, fsync'd); while the spool holds anything, new
  batches are appended behind it, so the logbook receives everything in
  order; the spool is retried with back-off (2 s, doubling, at most 120 s)
  and once more at exit; what is still unsent at exit stays there;
* the queue full (the sender stuck on a slow network while a child prints
  fast): the records go straight to the spool;
* a batch the logbook rejects (HTTP 400, 413) is set aside in
  ``pilot_log.rejected`` with one warning; a refused credential or stamp
  (HTTP 401, 403, 404, a broker refusing the login) stops sending, with one
  warning, and the log stays in the spool.

Nothing here raises into the pilot and nothing blocks it for longer than the
bounds above.  ``pilot_result.json`` records the figures (``summary()``).
"""

import collections
import threading
import time

from ..shims import compat
from .. import messages
from .logspool import REJECTED_FILE, SPOOL_FILE, Spool
from .logspool import lines as spool_lines
from .logtransport import Refused, Rejected, SendError, display_url
from ..messages import batch_count, encode_batches

DEFAULT_INTERVAL = 30       # seconds; pilot.json's RemoteLoggerTimerInterval 0 ("never") means this
CAPACITY = 20000            # records held in memory; beyond that they go straight to the spool
BATCH_MESSAGES = 2000       # at most this many messages per batch (the contract allows 5000)
BATCH_BYTES = 1024 * 1024   # and about this many bytes (the contract allows 8 MiB)
FIRST_RETRY = 2.0
MAX_RETRY = 120.0
SLOW_SECONDS = 2.0          # a send in flight for longer: flushes stop waiting for it and spool
HUNG_SECONDS = 5.0          # a send in flight for longer at exit: the final flush stops waiting
OUTAGE_FINAL_TIMEOUT = 3.0  # the final attempt after an outage gets this long (a firewall that drops)
MAX_WARNINGS = 10
URGENT_KINDS = ("heartbeat", "result")


class RemoteLog(object):
    """A log sink sending the pilot's records to the logbook from a background thread.

    Records accepted before ``start()`` wait for it (the pilot hands over those
    of its MemorySink); ``discard()`` drops them.
    """

    def __init__(self, capacity=CAPACITY, batch_messages=BATCH_MESSAGES, batch_bytes=BATCH_BYTES,
                 first_retry=FIRST_RETRY, max_retry=MAX_RETRY):
        self.cond = threading.Condition(threading.Lock())
        self.pending = collections.deque()
        self.capacity = capacity
        self.batch_messages = min(batch_messages, messages.MAX_BATCH_MESSAGES)
        self.batch_bytes = batch_bytes
        self.first_retry = first_retry
        self.max_retry = max_retry
        self.backoff = first_retry
        self.bufsize = 1000
        self.interval = float(DEFAULT_INTERVAL)
        self.accepted = 0          # records taken in
        self.settled = 0           # records sent, spooled, rejected or dropped
        self.oldest = None         # when the oldest pending record arrived
        self.urgent = False
        self.flush_target = 0
        self.started = False
        self.closing = False
        self.closed = False
        self.ended = False         # the result was logged: later records stay local
        self.abandoned = False     # close() gave up waiting for the sender
        self.finished = False      # the sender thread ended
        self.busy = False          # the sender is sending (or retrying the spool)
        self.inflight = []
        self.attempt_started = None  # when the send in flight started
        self.retry_at = None       # set while the spool waits for a retry
        self.refused = False
        self.outage = False
        self.spool_lines = 0
        self.spool = None          # the logspool.Spool of the work directory, from start()
        self.thread = None
        self.on_close = None       # called with the figures at close() (logsession: the hand-off)
        self.transport = None
        self.stamp = None
        self.log = None
        self.exit_code = None
        self.warnings = 0
        self.close_deadline = None
        self.close_started = None
        self.close_seconds = None
        self.close_timed_out = False
        self.last_error = None
        self.flush_wait = 0.0      # seconds the pilot waited in flush() (its end-of-command cost)
        self.stats = dict((key, 0) for key in (
            "sent", "batches_sent", "spooled", "resent_from_spool", "rejected", "dropped", "attempts",
            "failures", "flush_timeouts"))

    # -- the sink ----------------------------------------------------------------------
    def emit(self, record, line):
        try:
            self._accept(record)
        except Exception:
            pass  # never into the pilot

    def _accept(self, record):
        overflow = None
        with self.cond:
            if self.closed or self.ended:
                return   # the result is the story's last message (a background thread may log later)
            if record.kind == "result":
                self.ended = True
            first = not self.pending
            if first:
                self.oldest = time.time()
            self.pending.append(record)
            self.accepted += 1
            if record.kind in URGENT_KINDS:
                self.urgent = True
            if len(self.pending) > self.capacity:
                if self.started and not self.abandoned:
                    overflow = self._take(len(self.pending))
                else:
                    self.pending.popleft()
                    self._settle_locked(1, "dropped")
            if self.started and (first or self.urgent or len(self.pending) >= self.bufsize):
                self.cond.notify_all()   # (the first record starts the timer of the sender)
        if overflow:
            self._append_spool(self._encode(overflow), len(overflow))

    def flush(self, timeout):
        """Send (or spool) everything logged so far; wait at most ``timeout`` s.  True when done."""
        began = time.time()
        try:
            return self._flush(began + max(0.0, timeout))
        finally:
            self.flush_wait += time.time() - began

    def _flush(self, deadline):
        spool_now = None
        with self.cond:
            if not self.started or self.closing or self.closed:
                return True
            target = self.accepted
            if self.settled >= target:
                return True
            if self.busy and (self.refused or self.retry_at is not None or self._slow(SLOW_SECONDS)):
                # The logbook is failing or slow and the sender is busy with it: spool here, now.
                spool_now = self._take(len(self.pending))
            else:
                self.flush_target = max(self.flush_target, target)
                self.cond.notify_all()
        if spool_now is not None:
            # What is in flight stays the sender's (sent, or spooled at the latest by close()).
            if spool_now:
                self._append_spool(self._encode(spool_now), len(spool_now))
            return True
        with self.cond:
            while self.settled < target:
                remaining = deadline - time.time()
                if remaining <= 0 or self.finished:
                    self.stats["flush_timeouts"] += 1
                    return False
                self.cond.wait(remaining)
        return True

    def close(self, timeout=0.0, exit_code=None):
        """The final flush: at most ``timeout`` s in all, however often it is called (a signal
        may interrupt it; calling again continues within the same bound).  Returns summary()."""
        with self.cond:
            if self.closed:
                return self.summary() if self.started else None
            if not self.started:
                self.closed = True
                self.pending.clear()
                return None
            if self.close_deadline is None:
                self.close_started = time.time()
                self.close_deadline = self.close_started + max(0.0, timeout)
                self.exit_code = exit_code
            self.closing = True
            self.cond.notify_all()
        while self.thread.is_alive():
            remaining = self.close_deadline - time.time()
            if remaining <= 0 or self._slow(HUNG_SECONDS):
                break
            self.thread.join(min(0.25, remaining))
        with self.cond:
            if self.thread.is_alive():
                self.abandoned = True
                self.close_timed_out = True
                leftovers = list(self.inflight) + list(self.pending)
            else:
                leftovers = list(self.pending)
            self.inflight = []
            self.pending.clear()
            self.closed = True
        if leftovers:
            self._append_spool(self._encode(leftovers), len(leftovers), force=True)
        self.close_seconds = time.time() - self.close_started
        figures = self.summary()
        if self.on_close is not None:
            hook, self.on_close = self.on_close, None   # once, even when close() is called again
            hook(self, figures)
        return figures

    def _slow(self, seconds):
        started = self.attempt_started
        return started is not None and time.time() - started > seconds

    def discard(self, logger=None):
        """Remote logging is off: forget the records held so far."""
        if logger is not None:
            logger.remove_sink(self)
        with self.cond:
            self.closed = True
            self.pending.clear()

    # -- set-up ------------------------------------------------------------------------
    def start(self, transport, stamp, work_dir, bufsize=1000, interval=DEFAULT_INTERVAL, log=None):
        self.spool = Spool(work_dir)
        self.spool.keep_own(stamp)
        with self.cond:
            self.transport = transport
            self.stamp = stamp
            self.bufsize = max(1, int(bufsize))
            self.interval = float(interval) if interval and interval > 0 else float(DEFAULT_INTERVAL)
            self.log = log
            self.spool_lines = len(spool_lines(self.spool.read()))
            if self.spool_lines:
                self.retry_at = time.time()
            self.started = True
        self.thread = threading.Thread(target=self._run, name="pilot-remote-log")
        self.thread.daemon = True
        self.thread.start()
        ticker = threading.Thread(target=self._tick, name="pilot-remote-log-timer")
        ticker.daemon = True
        ticker.start()

    # -- the sender thread ---------------------------------------------------------------
    def _run(self):
        try:
            while True:
                with self.cond:
                    action = self._next_action()
                    while action is None:
                        # Untimed: woken at once by notify (a timed wait polls on Python 2,
                        # every 50 ms at worst); the ticker thread wakes it for the timers.
                        self.cond.wait()
                        action = self._next_action()
                    if action == "close":
                        break
                    records = None
                    if action == "send":
                        records = self._take(self.batch_messages)
                        self.inflight = records
                    self.busy = True
                try:
                    if records:
                        self._deliver(records)
                    elif action == "retry":
                        self._retry_spool()
                finally:
                    with self.cond:
                        self.busy = False
                        self.inflight = []
            self._final()
        except Exception as exc:  # a bug here must not stop the pilot; close() spools what is left
            self.last_error = "internal error: %s: %s" % (exc.__class__.__name__, exc)
            self._note("remote logging stopped by an internal error (%s); the log stays in %s"
                       % (self.last_error, SPOOL_FILE))
        finally:
            with self.cond:
                self.finished = True
                self.busy = False
                self.cond.notify_all()

    def _next_action(self):
        """What the sender should do now (the lock is held): 'close', 'send', 'retry' or None."""
        if self.closing:
            return "close"
        now = time.time()
        if self.pending:
            if (self.urgent or len(self.pending) >= self.bufsize or self.flush_target > self.settled
                    or now - self.oldest >= self.interval):
                self.urgent = False
                return "send"
        if self.spool_lines and not self.refused and self.retry_at is not None and now >= self.retry_at:
            return "retry"
        return None

    def _due_at(self):
        """When the next timer (the interval, a retry) falls due, or None (the lock is held)."""
        times = []
        if self.pending:
            times.append(self.oldest + self.interval)
        if self.spool_lines and not self.refused and self.retry_at is not None:
            times.append(self.retry_at)
        return min(times) if times else None

    def _tick(self):
        """Wakes the sender when a timer falls due (time.sleep is exact on every Python)."""
        while True:
            with self.cond:
                if self.finished or self.closed:
                    return
                due = self._due_at()
                now = time.time()
                if due is not None and due <= now:
                    self.cond.notify_all()
            pause = 1.0 if due is None else max(0.05, due - now)
            time.sleep(min(1.0, pause))

    def _deliver(self, records):
        """Send these records now, or behind the spool when it holds anything (order)."""
        bodies = self._encode(records)
        with self.cond:
            direct = not (self.refused or self.spool_lines or self.retry_at is not None)
        index = 0
        if direct:
            while index < len(bodies):
                body, count = bodies[index]
                outcome = self._send(body, count)
                if outcome == "sent":
                    self._settle(count, "sent", batches=1)
                elif outcome == "rejected":
                    self.spool.reject(body)
                    self._settle(count, "rejected")
                else:
                    break
                index += 1
        rest = bodies[index:]
        if rest:
            self._append_bodies(rest)
            with self.cond:
                if not self.refused and self.retry_at is None:
                    self.retry_at = time.time()

    def _send(self, body, count):
        """'sent', 'rejected', 'refused' or 'failed'; updates the state, never raises."""
        self.stats["attempts"] += 1
        self.attempt_started = time.time()
        try:
            self.transport.send(body, count)
        except Rejected as exc:
            self._note("the logbook rejected a batch of %d messages (%s): set aside in %s"
                       % (count, exc, REJECTED_FILE))
            return "rejected"
        except Refused as exc:
            with self.cond:
                self.refused = True
                self.retry_at = None
            self.last_error = compat.to_text(exc)
            self._note("the logbook refused this pilot (%s): remote logging stops; the log stays in %s"
                       % (exc, SPOOL_FILE))
            return "refused"
        except (SendError, Exception) as exc:
            self._failed(exc)
            return "failed"
        finally:
            self.attempt_started = None
        return "sent"

    def _failed(self, exc):
        reason = " ".join(compat.to_text(exc).split())[:300] or exc.__class__.__name__
        if not isinstance(exc, SendError):
            reason = "%s: %s" % (exc.__class__.__name__, reason)
        self.last_error = reason
        with self.cond:
            self.stats["failures"] += 1
            self.retry_at = time.time() + self.backoff
            pause = self.backoff
            self.backoff = min(self.max_retry, self.backoff * 2)
            first = not self.outage
            self.outage = True
        if first:
            self._note("cannot send the log to the logbook (%s): it is kept in %s and retried (next in %.0f s)"
                       % (reason, SPOOL_FILE, pause))

    def _retry_spool(self):
        # The first batch alone first: while the logbook is down, a retry costs one batch,
        # not a read of the whole spool.
        first = self.spool.first()
        if first is not None:
            outcome = self._send(first, batch_count(first))
            if outcome in ("failed", "refused"):
                return
        with self.spool.lock:
            data = self.spool.read()
        lines = spool_lines(data)
        done = 0
        resent = 0
        stopped = False
        if first is not None and lines and lines[0] == first:
            self._account(first, outcome)
            resent += batch_count(first) if outcome == "sent" else 0
            done = 1
        for line in lines[done:]:
            outcome = self._send(line, batch_count(line))
            if outcome not in ("sent", "rejected"):
                stopped = True
                break
            self._account(line, outcome)
            resent += batch_count(line) if outcome == "sent" else 0
            done += 1
        if self.abandoned:
            return
        with self.spool.lock:
            tail = self.spool.read()[len(data):]
            remaining = lines[done:] + spool_lines(tail)
            problem = self.spool.rewrite(remaining)
        if problem:
            self.last_error = problem
        with self.cond:
            self.spool_lines = len(remaining)
            recovered = not remaining and self.outage
            if not remaining:
                self.retry_at = None
                self.backoff = self.first_retry
                self.outage = False
            elif not stopped and not self.refused:
                self.retry_at = time.time()   # more was spooled meanwhile: go on
        if recovered and resent:
            self._note("the logbook answers again: %d spooled messages sent" % resent, warning=False)

    def _account(self, line, outcome):
        """Figures for a spooled batch that was sent or rejected."""
        count = batch_count(line)
        if outcome == "rejected":
            self.spool.reject(line)
        with self.cond:
            if outcome == "sent":
                self.stats["sent"] += count
                self.stats["batches_sent"] += 1
                self.stats["resent_from_spool"] += count
            else:
                self.stats["rejected"] += count

    def _final(self):
        """At exit: the spool once more (whatever the back-off), then everything pending."""
        remaining = self.close_deadline - time.time()
        if self.outage:
            remaining = min(remaining, OUTAGE_FINAL_TIMEOUT)
        for holder in (self.transport, getattr(self.transport, "client", None)):
            if holder is not None and hasattr(holder, "timeout"):
                holder.timeout = max(1.0, min(holder.timeout, remaining))
        with self.cond:
            retry = self.spool_lines and not self.refused
            if retry:
                self.retry_at = time.time()
        if retry:
            self._retry_spool()
        while not self.abandoned:
            with self.cond:
                records = self._take(self.batch_messages)
                self.inflight = records
            if not records:
                break
            self._deliver(records)
            with self.cond:
                self.inflight = []
        if self.refused or self.abandoned:
            return
        remaining = max(0.5, self.close_deadline - time.time())
        try:
            self.transport.finish(self.exit_code, remaining)
        except Exception as exc:
            self.last_error = "closing the log: %s" % " ".join(compat.to_text(exc).split())[:300]
        try:
            self.transport.close(max(0.5, self.close_deadline - time.time()))
        except Exception:
            pass

    # -- batches, the spool ---------------------------------------------------------------
    def _take(self, limit):
        """Up to ``limit`` pending records, oldest first (the lock is held)."""
        taken = []
        while self.pending and len(taken) < limit:
            taken.append(self.pending.popleft())
        if not self.pending:
            self.oldest = None
        elif taken:
            self.oldest = time.time()
        return taken

    def _settle_locked(self, count, what, batches=0):
        """``count`` records are dealt with (the caller holds the lock)."""
        self.settled += count
        self.stats[what] += count
        if batches:
            self.stats["batches_sent"] += batches
        self.cond.notify_all()

    def _settle(self, count, what, batches=0):
        with self.cond:
            self._settle_locked(count, what, batches)

    def _encode(self, records):
        """[(batch body as bytes, number of messages)], each within the batch limits."""
        return encode_batches(self.stamp, records, self.batch_messages, self.batch_bytes)

    def _append_bodies(self, bodies):
        self._append_spool(bodies, sum(count for _, count in bodies))

    def _append_spool(self, bodies, count, force=False):
        """Append batches to the spool (fsync'd) and count their records as settled."""
        if self.abandoned and not force:
            return   # close() took over: what this thread holds is spooled there
        problem = self.spool.append(bodies)
        written = problem is None
        if not written:
            self.last_error = problem
        with self.cond:
            if written:
                self.spool_lines += len(bodies)
                if not self.refused and self.retry_at is None:
                    self.retry_at = time.time()   # the spool is sent before anything newer
        self._settle(count, "spooled" if written else "dropped")
        if not written:
            self._note("%s; %d messages are lost" % (self.last_error, count))

    def _note(self, text, warning=True):
        """One line in the pilot's log (at most MAX_WARNINGS warnings).  Not while closing: the
        result is the last message (the outcome of the final flush is in pilot_result.json and
        in the local summary line)."""
        if self.log is None or self.closing:
            return
        try:
            if not warning:
                self.log.info("remote logging: %s" % text)
                return
            self.warnings += 1
            if self.warnings <= MAX_WARNINGS:
                self.log.warning("remote logging: %s" % text)
            elif self.warnings == MAX_WARNINGS + 1:
                self.log.warning("remote logging: further warnings are not logged")
        except Exception:
            pass

    # -- figures ---------------------------------------------------------------------
    def unsent(self):
        """Messages waiting in the spool file."""
        return self.spool.unsent()

    def summary(self):
        """The remote_logging section of pilot_result.json."""
        if not self.started:
            return None
        unsent = self.unsent()
        rejected = self.spool.has_rejected()
        figures = {
            "enabled": True,
            "transport": self.transport.name,
            "url": display_url(getattr(self.transport, "url", "") or ""),
            "messages": self.accepted,
            "unsent": unsent,
            "refused": self.refused,
            "duplicates": getattr(self.transport, "duplicates", 0),
            "last_error": self.last_error,
            "spool_file": SPOOL_FILE if unsent else None,
            "rejected_file": REJECTED_FILE if rejected else None,
            "flush_wait_seconds": round(self.flush_wait, 3),
            "final_flush_seconds": round(self.close_seconds, 3) if self.close_seconds is not None else None,
            "final_flush_timed_out": self.close_timed_out,
        }
        figures.update(self.stats)
        return figures
