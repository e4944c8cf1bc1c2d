"""Group commit: the batches of many requests stored in one transaction.

Thousands of pilots each send a small batch every ~30 s; one transaction per batch
spends most of its time on the transaction itself.  A worker thread that has checked a
batch hands it here (``submit``, with the callback that answers its request) and goes on
with the next request; ``writers`` threads each take whatever batches
wait (up to ``max_group``) and store them with one ``Store.store_batches`` call, which
``store.groupwrite`` writes with a constant number of statements whatever the group's size.

Nothing waits for a clock: a batch that arrives while no writer is busy is written at
once (under a light load a group is one batch).  While a writer is busy, another one
starts only when ``min_group`` batches wait (a quarter of ``max_group``), or
``MIN_GROUP_MESSAGES`` messages: the small batches that arrive meanwhile make one big
group when the busy writer is done, rather than many groups of one that cost a whole
transaction each, while big batches (whose rows cost more than their transaction) are
written side by side.

A group the database refuses for another reason than being unavailable is stored again
batch by batch, so that one bad batch fails alone.  ``Unavailable`` fails the whole
group (each request answers 503; the pilots send again).  Stored exactly once all the
same: the store is idempotent on (stamp, seq).
"""

import collections
import logging
import threading

from pilot_server.logbook.store.database import Unavailable
from pilot_server.logbook.store.logstore import Batch

log = logging.getLogger("pilots2.logbook.http")

# writers for the workers: small batches make big groups whatever the number of writers (see the module
# doc), big batches (a pilot's spool sent at once) need a few writers side by side: with 2 writers,
# HTTPS ingestion of 250-message batches was 0.70 of the rate with 8 (paired runs, docs/logbook-front.md)
WORKERS_PER_WRITER = 8
MIN_GROUP_MESSAGES = 500  # messages waiting that make a group worth a transaction of its own
READER_CONNECTIONS = 16  # what the workers' reads (registrations, pages, the API) get of the pool at most


def writers_for(threads):
    """Writer threads for ``threads`` workers: one per WORKERS_PER_WRITER, at least one."""
    return max(1, threads // WORKERS_PER_WRITER)


def pool_size(threads):
    """Database connections for ``threads`` workers and their writers."""
    return min(READER_CONNECTIONS, threads) + writers_for(threads)


class Waiter(object):
    """What ``store_batch`` waits on: ``done`` is the batch's callback."""

    __slots__ = ("event", "outcome", "error")

    def __init__(self):
        self.event = threading.Event()
        self.outcome = self.error = None

    def done(self, outcome=None, error=None):
        self.outcome, self.error = outcome, error
        self.event.set()


class GroupCommit(object):
    def __init__(self, store, metrics, writers=4, max_group=64, min_group=None):
        self.store, self.metrics, self.max_group = store, metrics, max_group
        self.min_group = min_group if min_group is not None else max(1, max_group // 4)
        self.pending = collections.deque()
        self.ready = threading.Condition()
        self.stopping = False
        self.busy = 0  # writers writing a group
        self.pending_messages = 0
        self.threads = [
            threading.Thread(target=self.run, name="logbook-writer-%d" % index, daemon=True) for index in range(writers)
        ]
        for thread in self.threads:
            thread.start()

    def store_batch(self, stamp, messages):
        """Store one batch with others and wait; its Outcome, or the group's exception (Unavailable, ...)."""
        waiter = Waiter()
        self.submit(stamp, messages, waiter.done)
        waiter.event.wait()
        if waiter.error is not None:
            raise waiter.error
        return waiter.outcome

    def submit(self, stamp, messages, done):
        """Store one batch with others without waiting: ``done(outcome)`` or ``done(error=exception)`` is
        called later, from a writer thread (or at once: Unavailable while stopping)."""
        with self.ready:
            if not self.stopping:
                self.pending.append((Batch(stamp, messages), done))
                self.pending_messages += len(messages)
                self.ready.notify()
                return
        done(error=Unavailable("the logbook is stopping"))

    def stop(self):
        with self.ready:
            self.stopping = True
            self.ready.notify_all()
        for thread in self.threads:
            thread.join(30)

    def may_start(self):
        return self.pending and (
            self.busy == 0
            or len(self.pending) >= self.min_group
            or self.stopping
            or self.pending_messages >= MIN_GROUP_MESSAGES
        )

    def run(self):
        while True:
            with self.ready:
                while not self.may_start() and not (self.stopping and not self.pending):
                    self.ready.wait()
                if not self.pending:
                    return
                group = [self.pending.popleft() for _ in range(min(self.max_group, len(self.pending)))]
                self.pending_messages -= sum(len(batch.messages) for batch, _ in group)
                self.busy += 1
            try:
                self.write(group)
            finally:
                with self.ready:
                    self.busy -= 1
                    self.ready.notify()

    def write(self, group):
        try:
            outcomes = self.metrics.timed("store_batches", self.store.store_batches, [batch for batch, _ in group])
        except Unavailable as exc:
            for _, done in group:
                self.tell(done, None, exc)
            return
        except Exception as exc:
            if len(group) == 1:
                self.tell(group[0][1], None, exc)
                return
            log.warning(
                "a group of %d batches failed (%s); storing them one by one",
                len(group),
                " ".join(str(exc).split())[:200],
            )
            for item in group:
                self.write([item])
            return
        self.metrics.groups.observe(len(group))
        for (_, done), outcome in zip(group, outcomes):
            self.tell(done, outcome, None)

    @staticmethod
    def tell(done, outcome, error):
        try:
            done(outcome, error)
        except Exception:  # a callback's bug must not end the writer (the others' batches wait on it)
            log.exception("answering a stored batch failed")
