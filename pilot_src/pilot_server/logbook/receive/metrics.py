"""The logbook's Prometheus metrics (``GET /metrics``, text format 0.0.4).

One registry per front (never the process-wide default: tests run several fronts).
Who may read them: the ``--metrics-token-file`` bearer token, or an administrator
credential (``routes.metrics``); anybody else gets 401/403.

=============================================  =======  ============================================
``pilots2_logbook_connections_open``           gauge    connections open now (TLS handshakes too)
``pilots2_logbook_connections_total``          counter  connections accepted
``pilots2_logbook_connections_refused_total``  counter  by ``reason``: capacity, per_address,
                                                        handshake_timeout, handshake_failed,
                                                        head_timeout, body_timeout, head_too_large,
                                                        bad_request, overloaded
``pilots2_logbook_requests_total``             counter  by ``code`` class: 2xx, 3xx, 4xx, 5xx
``pilots2_logbook_batches_total``              counter  batches stored (POST /api/v1/logs, 200)
``pilots2_logbook_messages_total``             counter  messages stored (duplicates not counted)
``pilots2_logbook_duplicates_total``           counter  messages that were already stored
``pilots2_logbook_rejected_total``             counter  refused batches of authenticated senders, by
                                                        ``kept``: yes (in the rejected table), no
                                                        (past --max-rejected-per-hour: only counted)
``pilots2_logbook_database_seconds``           histo.   time of each database call, by ``operation``
``pilots2_logbook_group_batches``              histo.   batches stored in one transaction (group commit)
``pilots2_logbook_consumer_queue_messages``    gauge    messages waiting in the broker queue (the
                                                        in-process consumer of ``serve --broker``)
``pilots2_logbook_consumer_messages_total``    counter  deliveries the in-process consumer committed
=============================================  =======  ============================================

Rates (batches and messages per second) are Prometheus' ``rate()`` of the counters.
"""

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
PREFIX = "pilots2_logbook_"
REFUSALS = (
    "capacity",
    "per_address",
    "handshake_timeout",
    "handshake_failed",
    "head_timeout",
    "body_timeout",
    "head_too_large",
    "bad_request",
    "overloaded",
)
DB_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics(object):
    def __init__(self):
        self.registry = registry = CollectorRegistry(auto_describe=True)
        self.children = {}  # (metric, label) -> its labelled child (dict operations are atomic)
        self.open = Gauge(PREFIX + "connections_open", "Connections open now", registry=registry)
        self.accepted = Counter(PREFIX + "connections", "Connections accepted", registry=registry)
        self.refused = Counter(
            PREFIX + "connections_refused", "Connections refused or closed by a limit", ["reason"], registry=registry
        )
        for reason in REFUSALS:
            self.refused.labels(reason)
        self.requests = Counter(PREFIX + "requests", "Requests answered, by status class", ["code"], registry=registry)
        for code in ("2xx", "3xx", "4xx", "5xx"):
            self.requests.labels(code)
        self.batches = Counter(PREFIX + "batches", "Batches stored", registry=registry)
        self.messages = Counter(PREFIX + "messages", "Messages stored (not duplicates)", registry=registry)
        self.duplicates = Counter(PREFIX + "duplicates", "Messages received again, already stored", registry=registry)
        self.rejected = Counter(
            PREFIX + "rejected",
            "Refused batches of authenticated senders, by whether "
            "the rejected table kept them (--max-rejected-per-hour)",
            ["kept"],
            registry=registry,
        )
        for kept in ("yes", "no"):
            self.rejected.labels(kept)
        self.database = Histogram(
            PREFIX + "database_seconds",
            "Time of the database calls",
            ["operation"],
            buckets=DB_BUCKETS,
            registry=registry,
        )
        self.request_time = Histogram(
            PREFIX + "request_seconds",
            "Time from a request's head to its answer in the receiver "
            "(waiting for a worker, the database and the loop included)",
            buckets=DB_BUCKETS,
            registry=registry,
        )
        self.groups = Histogram(
            PREFIX + "group_batches",
            "Batches stored in one transaction (group commit)",
            buckets=(1, 2, 4, 8, 16, 32, 64),
            registry=registry,
        )
        self.queue_depth = Gauge(
            PREFIX + "consumer_queue_messages",
            "Messages waiting in the broker queue of the in-process consumer",
            registry=registry,
        )
        self.consumed = Counter(
            PREFIX + "consumer_messages", "Deliveries committed by the in-process consumer", registry=registry
        )

    def child(self, metric, label):
        """``metric.labels(label)``, kept: prometheus_client's labels() costs as much as a request's parsing."""
        key = (metric, label)
        found = self.children.get(key)
        if found is None:
            found = self.children[key] = metric.labels(label)
        return found

    def refuse(self, reason):
        self.child(self.refused, reason).inc()

    def answered(self, status, seconds=None):
        self.child(self.requests, "%dxx" % (status // 100)).inc()
        if seconds is not None:
            self.request_time.observe(seconds)

    def timed(self, operation, function, *args, **kwargs):
        """Call ``function`` and observe its duration under ``operation`` (failures too)."""
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            self.child(self.database, operation).observe(time.perf_counter() - start)

    def render(self):
        return generate_latest(self.registry)
