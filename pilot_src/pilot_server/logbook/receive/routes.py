"""What the front answers: ``POST /api/v1/logs``, ``POST /api/v1/pilots``, ``GET /api/v1/health``,
``GET /metrics``, the reads and state reports of ``api``, and the web pages (every path outside
``/api/``).

The front calls ``precheck`` on the event loop as soon as a request's head is in (cheap
checks, so that a request that will be refused is never buffered), then ``respond`` in a
worker thread with the whole body; a checked batch goes on to the group commit, whose writer
thread stores and answers it (the database is only ever used in these threads).

A write request is checked in this order, and the first failure answers:
credential (401) -> size (413) -> body (400/413; a bad field: 400 naming the message
and the field) -> scope (403) -> registration (404) -> the pilot's quota (413) ->
store (200, or 503 when the database is unavailable).  A 200's ``stored`` counts the
rows the database added, ``duplicates`` those it already held: nothing else.
Every error body is ``{"error": "<one line>"}``.  Refusals of an authenticated
sender are also recorded in the ``rejected`` table, at most ``--max-rejected-per-hour``
per credential and hour (``quota``).
"""

import hmac
import logging
import threading

from pilot_server.worker import __version__
from pilot_server.worker import messages as wire
from pilot_server.logbook.receive import access as access_rules
from pilot_server.logbook.receive import api, intake, quota
from pilot_server.logbook.receive.exchange import Response, unavailable
from pilot_server.logbook.receive.intake import Refused
from pilot_server.logbook.receive.metrics import CONTENT_TYPE as METRICS_TYPE
from pilot_server.logbook.store import migrations
from pilot_server.logbook.store.database import Unavailable
from pilot_server.logbook.store.logstore import Rejection

log = logging.getLogger("pilots2.logbook.http")

LOGS_PATH = "/api/v1/logs"
PILOTS_PATH = "/api/v1/pilots"
HEALTH_PATH = "/api/v1/health"
METRICS_PATH = "/metrics"
MAX_REGISTRATION_BYTES = 16 * 1024
MAX_FORM_BYTES = 4096  # the web page's login and logout forms; any GET


class Service(object):
    """What the handlers share: the store, the access rules, the options of the API, the web sessions."""

    def __init__(
        self,
        store,
        access,
        require_registration=False,
        metrics=None,
        metrics_tokens=(),
        web_sessions=None,
        max_body_bytes=wire.MAX_BATCH_BYTES,
        pages=None,
        writers=4,
        max_rejected_per_hour=quota.DEFAULT_MAX_REJECTED_PER_HOUR,
    ):
        from pilot_server.logbook.receive.groupcommit import GroupCommit
        from pilot_server.logbook.receive.metrics import Metrics

        self.store = store
        self.access = access
        self.require_registration = require_registration
        self.metrics = metrics or Metrics()
        self.metrics_tokens = [token.encode("utf-8") for token in metrics_tokens]
        self.web_sessions = web_sessions  # made on first use by the pages when None
        self.pages = pages  # the web pages (web/pages.py: handle_get, handle_post); None: no pages
        self.max_body_bytes = min(max_body_bytes, wire.MAX_BATCH_BYTES)
        self.registered_cache = set()
        self.rejected_budget = quota.RejectedBudget(max_rejected_per_hour)
        self.cache_lock = threading.Lock()
        self.writer = GroupCommit(store, self.metrics, writers)  # batches of many requests, one transaction

    def close(self):
        """Stop the writers (the batches they hold are stored first)."""
        self.writer.stop()

    def timed(self, operation, function, *args, **kwargs):
        return self.metrics.timed(operation, function, *args, **kwargs)

    def is_registered(self, stamp):
        if stamp in self.registered_cache:
            return True
        if self.timed("registered", self.store.registered, stamp):
            with self.cache_lock:
                self.registered_cache.add(stamp)
            return True
        return False

    def authenticate(self, request):
        if request.identity is None:
            request.identity = self.access.authenticate(bearer=request.bearer(), dn=request.client_dn())
        return request.identity


def body_limit(app, method, path):
    """The largest body a request may send, known from its head alone."""
    if method == "POST":
        if path == LOGS_PATH:
            return app.max_body_bytes
        if path == PILOTS_PATH:
            return MAX_REGISTRATION_BYTES
        if api.is_state_report(path):
            return api.MAX_STATE_BYTES
    return MAX_FORM_BYTES


def precheck(request, length):
    """Refused, or None: what can be said from the head (``length``: the Content-Length).

    Only the API's writes are checked here (credential, then size); the pages check
    their own.  Runs on the event loop: no database.
    """
    app, path = request.app, request.path
    try:
        if request.method == "POST" and (path in (LOGS_PATH, PILOTS_PATH) or api.is_state_report(path)):
            identity = app.authenticate(request)
            if path == LOGS_PATH:
                content_type = (request.headers.get("Content-Type") or "application/json").split(";")[0].strip()
                if content_type.lower() != "application/json":
                    raise Refused(400, "Content-Type must be application/json, not %s" % content_type[:60])
            else:
                app.access.may_register(identity)
        limit = body_limit(app, request.method, path)
        if length > limit:
            if path == LOGS_PATH:
                raise Refused(413, "batch of %d bytes is over the limit of %d" % (length, limit))
            raise Refused(413, "a body of %d bytes is over the limit of %d for %s" % (length, limit, path[:60]))
    except Refused as refused:
        return refused
    return None


def respond(request, refused, reply):
    """Answer a whole request, in a worker thread: ``reply(Response)`` is called once, at once, or for a
    batch of messages by the group commit's writer once it is stored (the worker goes on meanwhile);
    ``refused``: the precheck's verdict."""
    if refused is None and request.method == "POST" and request.path == LOGS_PATH:
        post_logs(request, reply)
    else:
        reply(answer(request, refused))


def answer(request, refused):
    """The Response to any request but a batch of messages to store."""
    app, path, method = request.app, request.path, request.method
    if refused is not None:
        if method == "POST" and path == LOGS_PATH:
            record(app, request, refused, None, None)
        return Response.error(refused.status, refused)
    if method in ("GET", "HEAD"):
        if path == HEALTH_PATH:
            return Response.json(200, {"status": "ok", "version": __version__, "schema": migrations.LATEST})
        if path == METRICS_PATH:
            return metrics(request)
        if api.handles(path):
            return api.get(request)
        if not path.startswith("/api/") and app.pages is not None:
            return app.pages.handle_get(request)  # the web page: every path outside /api/
        return Response.error(404, "no such resource: %s" % path[:100])
    if method == "POST":
        if path == PILOTS_PATH:
            return post_pilots(request)
        if api.is_state_report(path):
            return api.post_state(request)
        if not path.startswith("/api/") and app.pages is not None:
            return app.pages.handle_post(request)  # the web page's login and logout forms
        return Response.error(404, "no such resource: %s" % path[:100])
    return Response.error(405, "method not allowed")


def post_logs(request, reply):
    """Check a batch, then hand it to the group commit, whose writer answers it (``stored``)."""
    app = request.app
    stamp = None
    try:
        stamp, items = intake.parse(request.body)
        app.access.may_write(request.identity, stamp)
        if app.require_registration and not app.is_registered(stamp):
            raise Refused(404, "unknown pilot stamp %s: this logbook requires pilots to be registered" % stamp)
    except Exception as exc:
        reply(stored(request, stamp, None, exc))
        return
    app.writer.submit(stamp, items, lambda outcome, error: reply(stored(request, stamp, outcome, error)))


def stored(request, stamp, outcome, error):
    """The answer to a batch: ``outcome`` of the group commit, or the ``error`` that stopped it."""
    app = request.app
    if error is None and outcome.refused:
        error = Refused(413, outcome.refused)
    if isinstance(error, Refused):
        record(app, request, error, request.body, stamp)
        return Response.error(error.status, error)
    if isinstance(error, Unavailable):
        return unavailable(error)
    if error is not None:
        log.error("storing a batch from %s failed", request.client, exc_info=error)
        return Response.error(500, "internal error", close=True)
    app.metrics.batches.inc()
    app.metrics.messages.inc(outcome.stored)
    app.metrics.duplicates.inc(outcome.duplicates)
    return Response.json(
        200, {"stored": outcome.stored, "duplicates": outcome.duplicates, "last_seq": outcome.last_seq}
    )


def record(app, request, refused, body, stamp):
    """Keep an authenticated sender's refused batch in the rejected table (best effort), within
    the credential's budget of the hour (``quota.RejectedBudget``); beyond it, only count it."""
    identity = request.identity
    if identity is None or refused.status == 401:
        return
    who = access_rules.describe(identity)
    kept = app.rejected_budget.allow(who)
    app.metrics.rejected.labels("yes" if kept else "no").inc()
    if not kept:
        return
    origin = "https %s %s" % (request.client, who)
    try:
        app.timed(
            "record_rejected",
            app.store.store_batches,
            [],
            [
                Rejection(
                    origin,
                    "%d %s" % (refused.status, refused),
                    body or b"",
                    stamp or (intake.peek_stamp(body) if body else None),
                )
            ],
        )
    except Exception as exc:  # the refusal is answered whatever happens here
        log.warning("could not record a rejected batch: %s", " ".join(str(exc).split())[:200])


def post_pilots(request):
    app = request.app
    try:
        fields = registration_fields(request.body)
        created = app.timed("register", app.store.register, **fields)
    except Refused as refused:
        return Response.error(refused.status, refused)
    except Unavailable as exc:
        return unavailable(exc)
    except Exception:
        log.exception("registering a pilot failed")
        return Response.error(500, "internal error", close=True)
    log.info("pilot %s registered by %s", fields["stamp"], access_rules.describe(request.identity))
    return Response.json(201 if created else 200, {"stamp": fields["stamp"], "created": created})


def registration_fields(body):
    """{stamp, ce, queue, site, vo, submitted} from a registration body, or Refused(400)."""
    return intake.registration(body)


def metrics(request):
    """The metrics, for the metrics token or an administrator (401 without credential, 403 otherwise)."""
    app = request.app
    bearer = request.bearer()
    if bearer and any(hmac.compare_digest(token, bearer.encode("utf-8", "replace")) for token in app.metrics_tokens):
        return Response(200, app.metrics.render(), METRICS_TYPE, [("Cache-Control", "no-store")])
    try:
        app.access.may_read(app.authenticate(request))
    except Refused as refused:
        if refused.status == 403:
            refused = Refused(
                403, "reading the metrics needs the metrics token (--metrics-token-file) or an administrator credential"
            )
        return Response.error(refused.status, refused)
    return Response(200, app.metrics.render(), METRICS_TYPE, [("Cache-Control", "no-store")])
