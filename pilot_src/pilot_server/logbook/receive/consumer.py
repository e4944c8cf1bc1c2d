"""The RabbitMQ consumer: pilots' STOMP frames into the logbook, acknowledged only after commit.

Pilots SEND to ``/queue/pilots2.logs`` through RabbitMQ's STOMP plugin, which
puts the frame on the AMQP queue ``pilots2.logs`` (declared durable, not
auto-deleted, no arguments -- the consumer declares it the same way, so either
side may come first).  STOMP headers arrive as AMQP headers: the pilot token
is the ``pilot-token`` header.

The loop takes up to ``flush_deliveries`` deliveries (or what arrived within
``max_wait`` seconds), checks each exactly as HTTPS does (token, batch,
scope, registration), stores the valid ones *and* records the invalid ones in
the ``rejected`` table in ONE transaction, and only then acknowledges them all
(one ``basic.ack`` with ``multiple``).  So:

* the consumer dies before the commit: nothing is acknowledged, the broker
  redelivers, the messages are stored then;
* it dies after the commit but before the ack: the broker redelivers, and
  the store counts the messages as duplicates (stored once);
* the database is down: nothing is acknowledged; the same deliveries are
  retried with back-off (0.5 s doubling to 30 s) while the broker connection
  is kept alive;
* the broker goes away: the consumer reconnects with back-off; what it held
  unacknowledged is redelivered.

Several consumers (``pilotctl logbook consume`` processes, on one host or many) may share
the queue and the database: the broker hands each delivery to one of them, at most
``prefetch`` unacknowledged at a time each, and gives a dead consumer's unacknowledged
deliveries to the others.  The store's insert is idempotent on ``(stamp, seq)`` and
takes the pilots' rows in one order (deadlocks between consumers are retried), so a
message is stored once whichever consumer gets it, however often.  Each consumer names
its connection (``pilots2-logbook-consume HOST pid N``, as the broker's management
shows it), says at start how many others consume the queue, and counts the
redeliveries it received.
"""

import logging
import os
import socket
import threading
import time

import pika
from pika.exceptions import AMQPError

from pilot_server.worker import messages as wire
from pilot_server.logbook.receive import intake, quota
from pilot_server.logbook.store.database import Unavailable
from pilot_server.logbook.receive.intake import Refused
from pilot_server.logbook.store.logstore import Batch, Rejection

log = logging.getLogger("pilots2.logbook.consumer")

DEFAULT_QUEUE = "pilots2.logs"
TOKEN_HEADER = "pilot-token"


def broker_name(url):
    """host:port/vhost of a broker URL, without its credentials."""
    parameters = pika.URLParameters(url)
    return "%s:%s%s" % (
        parameters.host,
        parameters.port,
        "" if parameters.virtual_host == "/" else "/" + parameters.virtual_host,
    )


class Backoff(object):
    def __init__(self, first=0.5, limit=30.0):
        self.first, self.limit, self.delay = first, limit, first

    def next(self):
        delay = self.delay
        self.delay = min(self.delay * 2, self.limit)
        return delay

    def reset(self):
        self.delay = self.first


class Consumer(object):
    def __init__(
        self,
        store,
        access,
        broker_url,
        queue=DEFAULT_QUEUE,
        require_registration=False,
        flush_deliveries=100,
        max_wait=0.05,
        prefetch=None,
        backoff_limit=30.0,
        metrics=None,
        rejected_budget=None,
    ):
        self.store = store
        self.rejected_budget = rejected_budget or quota.RejectedBudget()  # rows kept in `rejected` per hour
        self.access = access
        self.broker_url = broker_url
        self.queue = queue
        self.require_registration = require_registration
        self.flush_deliveries = flush_deliveries
        self.max_wait = max_wait
        self.prefetch = prefetch or max(2 * flush_deliveries, 50)
        self.backoff_limit = backoff_limit
        self.stop_event = threading.Event()
        self.connection = None
        self.registered = set()
        self.totals = {"deliveries": 0, "redelivered": 0, "stored": 0, "duplicates": 0, "rejected": 0, "commits": 0}
        self.name = "pilots2-logbook-consume %s pid %d" % (socket.gethostname(), os.getpid())
        self.origin = "amqp %s %s" % (broker_name(broker_url), queue)
        self.metrics = metrics  # receive/metrics.py, when the consumer runs inside `serve`
        self.sampled = 0.0

    def stop(self):
        self.stop_event.set()

    # -- the loop -------------------------------------------------------------------------

    def run(self):
        """Consume until stop(); reconnect to the broker with back-off."""
        backoff = Backoff(limit=self.backoff_limit)
        while not self.stop_event.is_set():
            try:
                self._connect()
                backoff.reset()
                self._consume()
            except (AMQPError, OSError) as exc:
                delay = backoff.next()
                log.warning(
                    "broker %s: %s; reconnecting in %.1f s",
                    broker_name(self.broker_url),
                    " ".join(str(exc).split())[:200] or type(exc).__name__,
                    delay,
                )
                self.stop_event.wait(delay)
            finally:
                self._close()
        log.info("consumer stopped: %s", self.summary())

    def summary(self):
        return ", ".join("%s %d" % (key, value) for key, value in sorted(self.totals.items()))

    def _connect(self):
        parameters = pika.URLParameters(self.broker_url)
        parameters.heartbeat = 30
        parameters.blocked_connection_timeout = 60
        parameters.socket_timeout = 10
        parameters.connection_attempts = 1
        parameters.client_properties = {"connection_name": self.name}
        self.connection = pika.BlockingConnection(parameters)
        channel = self.connection.channel()
        # what the STOMP plugin declares for /queue/<name>
        declared = channel.queue_declare(self.queue, durable=True)
        channel.basic_qos(prefetch_count=self.prefetch)
        self.channel = channel
        others = declared.method.consumer_count
        log.info(
            "consuming %s from %s as %s (%d other consumer%s, %d messages waiting)",
            self.queue,
            broker_name(self.broker_url),
            self.name,
            others,
            "" if others == 1 else "s",
            declared.method.message_count,
        )

    def _close(self):
        connection, self.connection = self.connection, None
        if connection is not None and connection.is_open:
            try:
                connection.close()
            except (AMQPError, OSError):
                pass

    def _consume(self):
        pending = []
        first = None
        for method, properties, body in self.channel.consume(self.queue, inactivity_timeout=self.max_wait):
            if method is not None:
                pending.append((method.delivery_tag, properties, body))
                self.totals["redelivered"] += 1 if method.redelivered else 0
                first = first or time.time()
            if self.stop_event.is_set():
                break
            self._sample_queue()
            full = len(pending) >= self.flush_deliveries
            due = pending and (method is None or time.time() - first >= self.max_wait)
            if full or due:
                if not self._flush(pending):
                    return  # stopping while the database is down: nothing acknowledged
                pending, first = [], None
        if pending and not self._flush(pending):
            return
        try:
            self.channel.cancel()
        except (AMQPError, OSError):
            pass

    def _sample_queue(self, every=5.0):
        """The queue's depth (messages ready) for the metrics, at most every ``every`` seconds."""
        if self.metrics is None or time.time() - self.sampled < every:
            return
        self.sampled = time.time()
        declared = self.channel.queue_declare(self.queue, durable=True, passive=True)
        self.metrics.queue_depth.set(declared.method.message_count)

    # -- one group of deliveries ----------------------------------------------------------------

    def check(self, properties, body):
        """A delivery's batch, or Refused -- the same checks as HTTPS."""
        headers = properties.headers or {}
        token = headers.get(TOKEN_HEADER)
        if isinstance(token, bytes):
            token = token.decode("utf-8", "replace")
        if not isinstance(token, str) or not token:
            raise Refused(401, "no %s header" % TOKEN_HEADER)
        identity = self.access.authenticate(bearer=token)
        stamp, items = intake.parse(body)
        self.access.may_write(identity, stamp)
        return Batch(stamp, items)

    def _classify(self, pending):
        batches, rejections = [], []
        for _tag, properties, body in pending:
            try:
                batch = self.check(properties, body)
                if self.require_registration and batch.stamp not in self.registered:
                    if not self.store.registered(batch.stamp):
                        raise Refused(
                            404, "unknown pilot stamp %s: this logbook requires pilots to be registered" % batch.stamp
                        )
                    self.registered.add(batch.stamp)
                batches.append(batch)
            except Refused as refused:
                rejections.append(
                    Rejection(self.origin, "%d %s" % (refused.status, refused), body, intake.peek_stamp(body))
                )
        return batches, self._kept(rejections)

    def _kept(self, rejections):
        """The rejections the ``rejected`` table keeps (``quota.RejectedBudget``, per stamp and hour);
        the others are counted and logged only."""
        kept, dropped = [], []
        for item in rejections:
            (kept if self.rejected_budget.allow("amqp %s" % (item.stamp or "?")) else dropped).append(item)
        self.totals["rejected"] += len(dropped)
        if self.metrics is not None:
            self.metrics.rejected.labels("yes").inc(len(kept))
            self.metrics.rejected.labels("no").inc(len(dropped))
        for rejection in dropped:
            log.info("rejected a message for %s (not kept): %s", rejection.stamp or "?", rejection.reason)
        return kept

    def _flush(self, pending):
        """Commit then acknowledge ``pending``; False if stopped before the database came back."""
        backoff = Backoff(limit=self.backoff_limit)
        while True:
            try:
                outcomes, rejections = self.commit(pending)
                break
            except Unavailable as exc:
                delay = backoff.next()
                log.warning(
                    "database unavailable (%s); %d deliveries wait, retry in %.1f s",
                    " ".join(str(exc).split())[:200],
                    len(pending),
                    delay,
                )
                deadline = time.time() + delay
                while time.time() < deadline:
                    if self.stop_event.is_set():
                        return False
                    self.connection.sleep(min(0.2, max(0.0, deadline - time.time())))  # keeps heartbeats
        self.channel.basic_ack(delivery_tag=pending[-1][0], multiple=True)
        self.totals["deliveries"] += len(pending)
        self.totals["commits"] += 1
        self.totals["stored"] += sum(outcome.stored for outcome in outcomes if outcome is not None)
        self.totals["duplicates"] += sum(outcome.duplicates for outcome in outcomes if outcome is not None)
        self.totals["rejected"] += len(rejections)
        if self.metrics is not None:
            self.metrics.consumed.inc(len(pending))
        for rejection in rejections:
            log.info("rejected a message for %s: %s", rejection.stamp or "?", rejection.reason)
        return True

    def commit(self, pending):
        """Check and store ``pending`` deliveries [(tag, properties, body)]: (outcomes, rejections kept).
        Raises Unavailable (nothing committed)."""
        batches, rejections = self._classify(pending)
        outcomes = self._store(batches, rejections)
        over = [
            Rejection(
                self.origin,
                "413 %s" % outcome.refused,
                wire.encode(wire.batch(batch.stamp, batch.messages)),
                batch.stamp,
            )
            for batch, outcome in zip(batches, outcomes)
            if outcome is not None and outcome.refused
        ]
        if over:  # over the pilot's quota: acknowledged, not stored, recorded like any refusal
            kept = self._kept(over)
            self.store.store_batches([], kept)
            rejections.extend(kept)
        return outcomes, rejections

    def _store(self, batches, rejections):
        try:
            return self.store.store_batches(batches, rejections)
        except Unavailable:
            raise
        except Exception:
            # a batch the database refuses for another reason must not block the queue:
            # store one by one, and record the ones that still fail
            log.exception("a group of %d batches failed; storing them one by one", len(batches))
            outcomes, failed = [], list(rejections)
            for batch in batches:
                try:
                    outcomes.extend(self.store.store_batches([batch]))
                except Unavailable:
                    raise
                except Exception as exc:
                    outcomes.append(None)  # in step with ``batches``
                    failed.append(
                        Rejection(
                            self.origin,
                            "500 the database refused it: %s" % " ".join(str(exc).split())[:300],
                            wire.encode(wire.batch(batch.stamp, batch.messages)),
                            batch.stamp,
                        )
                    )
            failed = self._kept(failed[len(rejections) :]) + failed[: len(rejections)]
            if failed:
                self.store.store_batches([], failed)
            del rejections[:]
            rejections.extend(failed)
            return outcomes
