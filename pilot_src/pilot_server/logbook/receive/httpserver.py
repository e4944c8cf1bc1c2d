"""The logbook's HTTP(S) front: ``POST /api/v1/logs``, ``POST /api/v1/pilots``, ``GET /api/v1/health``;
the reads and state reports of ``api`` (``GET /api/v1/pilots...``, ``/api/v1/stats``,
``POST /api/v1/pilots/<stamp>/state``).

The standard library's threading HTTP server, one thread per connection,
HTTP/1.1 keep-alive.  TLS is done in the connection's thread (a slow client
cannot hold up the others); the client certificate, when there is one, is
verified by OpenSSL and its end-entity DN read once per connection.

A write request is checked in this order, and the first failure answers:
credential (401) -> size (413) -> body (400/413) -> scope (403) ->
registration (404) -> store (200, or 503 when the database is unavailable).
Every error body is ``{"error": "<one line>"}``.  Refusals of an
authenticated sender are also recorded in the ``rejected`` table.
"""

import json
import logging
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from pilot import __version__
from pilot import messages as wire
from pilot_server.logbook.receive import access as access_rules
from pilot_server.logbook.receive import api, intake
from pilot_server.logbook.store import migrations
from pilot_server.logbook.web import pages as webui
from pilot_server.logbook.store.database import Unavailable
from pilot_server.logbook.receive.intake import Refused
from pilot_server.logbook.store.logstore import Rejection
from pilot_server.logbook.receive.x509identity import peer_dn

log = logging.getLogger("pilots2.logbook.http")

LOGS_PATH = "/api/v1/logs"
PILOTS_PATH = "/api/v1/pilots"
HEALTH_PATH = "/api/v1/health"
HANDSHAKE_TIMEOUT = 20
IDLE_TIMEOUT = 60
MAX_REGISTRATION_BYTES = 16 * 1024
RETRY_AFTER = 10
UNAVAILABLE = "the database is unavailable, retry later"
MAX_CONNECTIONS = 1000  # open connections (threads) at once
DRAIN_LIMIT = 2 * wire.MAX_BATCH_BYTES  # an unread body up to this size is read and dropped


class LogbookHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True

    def __init__(self, address, store, access, tls_context=None, require_registration=False,
                 max_connections=MAX_CONNECTIONS):
        self.connections = threading.BoundedSemaphore(max_connections)
        self.store = store
        self.access = access
        self.tls_context = tls_context
        self.require_registration = require_registration
        self.registered_cache = set()
        self.cache_lock = threading.Lock()
        ThreadingHTTPServer.__init__(self, address, LogbookHandler)

    @property
    def url(self):
        host, port = self.server_address[:2]
        return "%s://%s:%d" % ("https" if self.tls_context else "http", host, port)

    def process_request(self, request, client_address):
        # one thread per connection, but not without bound: past the cap, a new connection is closed
        if not self.connections.acquire(blocking=False):
            log.warning("too many connections (%s): closing one from %s", MAX_CONNECTIONS, client_address[0])
            self.shutdown_request(request)
            return
        try:
            ThreadingHTTPServer.process_request(self, request, client_address)
        except Exception:
            self.connections.release()
            raise

    def process_request_thread(self, request, client_address):
        try:
            ThreadingHTTPServer.process_request_thread(self, request, client_address)
        finally:
            self.connections.release()

    def finish_request(self, request, client_address):
        if self.tls_context is None:
            request.settimeout(IDLE_TIMEOUT)
            return LogbookHandler(request, client_address, self)
        request.settimeout(HANDSHAKE_TIMEOUT)
        try:
            secure = self.tls_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            log.info("TLS handshake with %s failed: %s", client_address[0], " ".join(str(exc).split()))
            request.close()
            return None
        try:
            secure.settimeout(IDLE_TIMEOUT)
            return LogbookHandler(secure, client_address, self)
        finally:
            try:
                secure.close()
            except OSError:
                pass

    def handle_error(self, request, client_address):
        log.exception("connection from %s ended by an error", client_address[0])

    def is_registered(self, stamp):
        if stamp in self.registered_cache:
            return True
        if self.store.registered(stamp):
            with self.cache_lock:
                self.registered_cache.add(stamp)
            return True
        return False


class LogbookHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # headers and body leave in separate writes: with Nagle's algorithm and the client's delayed
    # ACK, a reply on a kept-alive connection would wait some 40 ms (TCP_NODELAY, set in setup())
    disable_nagle_algorithm = True
    server_version = "pilots2-logbook/%s" % __version__
    sys_version = ""
    _dn = False  # not looked at yet

    # -- plumbing -------------------------------------------------------------------------

    def log_message(self, fmt, *args):  # the default writes every request (and its path) to stderr
        log.debug("%s %s", self.client_address[0], fmt % args)

    def reply(self, status, document, close=False):
        body = json.dumps(document, separators=(",", ":")).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        if status == 503:
            self.send_header("Retry-After", str(RETRY_AFTER))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def reply_bytes(self, status, body, content_type, headers=None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def unavailable(self, exc, body=b""):
        """503 (with Retry-After): the database is down or busy.  ``body`` None: the request body
        was not read, and the connection is kept only if it can be drained."""
        log.warning("database unavailable: %s", exc)
        self.reply(503, {"error": UNAVAILABLE}, close=body is None and not self.discard_body())

    def refuse(self, refused, close=False):
        self.reply(refused.status, {"error": str(refused)}, close=close)

    def client_dn(self):
        if self._dn is False:
            self._dn = peer_dn(self.connection) if isinstance(self.connection, ssl.SSLSocket) else None
        return self._dn

    def bearer(self):
        value = self.headers.get("Authorization") or ""
        scheme, _, credential = value.strip().partition(" ")
        if scheme.lower() != "bearer":
            return None
        return credential.strip() or None

    def body_length(self, limit):
        """Content-Length, checked; raises Refused (the connection closes: the body stays unread)."""
        if self.headers.get("Transfer-Encoding"):
            raise Refused(400, "send the body with a Content-Length, not a Transfer-Encoding")
        text = self.headers.get("Content-Length")
        if text is None or not text.strip().isdigit():
            raise Refused(400, "a Content-Length header is required")
        length = int(text)
        if length > limit:
            raise Refused(413, "batch of %d bytes is over the limit of %d" % (length, limit))
        return length

    def discard_body(self):
        """Read and drop an unread body (up to DRAIN_LIMIT) so that the client sees our answer.

        A client such as Python's http.client sends its whole body before it reads
        the reply: closing at once would give it a broken pipe instead of the status.
        Returns False (the connection must close) when the body cannot be drained.
        """
        text = (self.headers.get("Content-Length") or "").strip()
        if self.headers.get("Transfer-Encoding") or not text.isdigit() or int(text) > DRAIN_LIMIT:
            return False
        left = int(text)
        try:
            while left > 0:
                chunk = self.rfile.read(min(left, 1 << 20))
                if not chunk:
                    return False
                left -= len(chunk)
        except OSError:
            return False
        return True

    def read_body(self, limit):
        length = self.body_length(limit)
        body = self.rfile.read(length)
        if len(body) != length:
            raise Refused(400, "the body ended after %d of %d bytes" % (len(body), length))
        return body

    # -- routes ---------------------------------------------------------------------------

    def do_GET(self):
        path, _, query = self.path.partition("?")
        if path == HEALTH_PATH:
            self.reply(200, {"status": "ok", "version": __version__, "schema": migrations.LATEST})
        elif api.handles(path):
            api.get(self, path, query)
        elif not path.startswith("/api/"):
            webui.handle_get(self)  # the web page (webui.py): every path outside /api/
        else:
            self.reply(404, {"error": "no such resource: %s" % self.path.split("?")[0][:100]})

    def do_POST(self):
        path = self.path.split("?")[0]
        if path == LOGS_PATH:
            return self.post_logs()
        if path == PILOTS_PATH:
            return self.post_pilots()
        if api.is_state_report(path):
            return api.post_state(self, path)
        if not path.startswith("/api/"):
            return webui.handle_post(self)  # the web page's login and logout forms
        self.reply(404, {"error": "no such resource: %s" % path[:100]}, close=not self.discard_body())

    def do_PUT(self):
        self.reply(405, {"error": "method not allowed"}, close=not self.discard_body())

    do_DELETE = do_PATCH = do_PUT

    def authenticate(self):
        return self.server.access.authenticate(bearer=self.bearer(), dn=self.client_dn())

    def post_logs(self):
        identity = body = stamp = None
        try:
            identity = self.authenticate()
            content_type = (self.headers.get("Content-Type") or "application/json").split(";")[0].strip()
            if content_type.lower() != "application/json":
                raise Refused(400, "Content-Type must be application/json, not %s" % content_type[:60])
            body = self.read_body(wire.MAX_BATCH_BYTES)
            stamp, items = intake.parse(body)
            self.server.access.may_write(identity, stamp)
            if self.server.require_registration and not self.server.is_registered(stamp):
                raise Refused(404, "unknown pilot stamp %s: this logbook requires pilots to be registered"
                              % stamp)
            outcome = self.server.store.store_batch(stamp, items)
        except Refused as refused:
            self.record(identity, refused, body, stamp)
            return self.refuse(refused, close=body is None and not self.discard_body())
        except Unavailable as exc:
            return self.unavailable(exc, body)
        except Exception:
            log.exception("storing a batch from %s failed", self.client_address[0])
            return self.reply(500, {"error": "internal error"}, close=True)
        self.reply(200, {"stored": outcome.stored, "duplicates": outcome.duplicates,
                         "last_seq": outcome.last_seq})

    def record(self, identity, refused, body, stamp):
        """Keep an authenticated sender's refused batch in the rejected table (best effort)."""
        if identity is None or refused.status == 401:
            return
        origin = "https %s %s" % (self.client_address[0], access_rules.describe(identity))
        try:
            self.server.store.store_batches([], [Rejection(
                origin, "%d %s" % (refused.status, refused), body or b"",
                stamp or (intake.peek_stamp(body) if body else None))])
        except Exception as exc:  # the refusal is answered whatever happens here
            log.warning("could not record a rejected batch: %s", " ".join(str(exc).split())[:200])

    def post_pilots(self):
        body = None
        try:
            identity = self.authenticate()
            self.server.access.may_register(identity)
            body = self.read_body(MAX_REGISTRATION_BYTES)
            fields = registration_fields(body)
            created = self.server.store.register(**fields)
        except Refused as refused:
            return self.refuse(refused, close=body is None and not self.discard_body())
        except Unavailable as exc:
            return self.unavailable(exc, body)
        except Exception:
            log.exception("registering a pilot failed")
            return self.reply(500, {"error": "internal error"}, close=True)
        log.info("pilot %s registered by %s", fields["stamp"], access_rules.describe(identity))
        self.reply(201 if created else 200, {"stamp": fields["stamp"], "created": created})


REGISTRATION_FIELDS = ("stamp", "ce", "queue", "site", "vo", "submitted")


def registration_fields(body):
    """{stamp, ce, queue, site, vo, submitted} from a registration body, or Refused(400)."""
    document = intake.json_object(body, "a registration", REGISTRATION_FIELDS)
    stamp = document.get("stamp")
    if not isinstance(stamp, str) or not intake.STAMP_PATTERN.match(stamp):
        raise Refused(400, "missing or bad field: stamp")
    fields = {"stamp": stamp}
    for name in ("ce", "queue", "site", "vo"):
        value = document.get(name)
        if value is not None and (not isinstance(value, str) or not value or len(value) > 128):
            raise Refused(400, "%s must be a string of 1 to 128 characters" % name)
        fields[name] = value
    submitted = document.get("submitted")
    if submitted is not None and (isinstance(submitted, bool) or not isinstance(submitted, (int, float))
                                  or submitted <= 0):
        raise Refused(400, "submitted must be a positive number (UTC epoch seconds)")
    fields["submitted"] = submitted
    return fields


def serve_in_thread(server):
    """Start serving in a daemon thread (tests, and serve --broker); returns the thread."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                              name="logbook-http", daemon=True)
    thread.start()
    return thread


def wait_for_port(host, port, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection((host, port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False
