"""The logbook's event-loop front: HTTP/1.1 (over TLS) on uvloop, requests parsed by httptools.

Why these pieces (docs/logbook-front.md has the measurements): one event loop holds
tens of thousands of idle kept-alive pilots at ~30 KB each (uvloop's TLS reads into
an allocation it never fills; the standard loop's TLS costs ~300 KB a connection on
3.11+), answers a batch in ~20 us of CPU, and gives us every moment of a connection, so
that each limit of ``limits.py`` is enforced where it belongs:

* accept: over ``max_connections`` or ``max_per_address``: closed at once (before TLS);
  while more than ``BUSY`` requests are in progress, new connections are accepted at a bounded
  pace (``ACCEPT_BUSY`` every ``ACCEPT_PAUSE`` s; the others wait in the kernel's backlog, their
  handshake deadline not yet running): the CPU goes to the pilots already connected first,
  and a burst of handshakes (a restart, an attack) cannot starve their requests;
* TLS (``loop.connect_accepted_socket``): ``handshake_timeout``; a failed handshake is logged, not raised;
  the verified chain stays reachable (``exchange.Peer`` reads the client DN from it);
* request head: ``head_timeout`` from its first byte (from the handshake for the first
  request), ``max_head_bytes`` (the parser is never fed more than that in a head);
* body: the route's size limit and a ``precheck`` (credential, size) from the head alone,
  so that a refused body is drained, not kept; ``body_timeout``;
* between requests: ``idle_timeout``.

One request of a connection is handled at a time (reading pauses meanwhile): the
handler (``routes.respond``) runs in a small thread pool, never on the loop; a batch of
messages is handed to the group commit, whose writer answers it once it is stored (the
worker goes on meanwhile).  At most ``QUEUE_LIMIT`` requests are in progress, whether
they wait for a worker or for the database (then 503 at once).  SIGTERM (``stop``):
the listening socket closes, idle connections close, requests in progress finish
(within ``drain_timeout``) and are answered with ``Connection: close``.
"""

import asyncio
import collections
import email.utils
import http
import logging
import queue
import socket
import threading
import time

import httptools

from pilot_server.worker import __version__
from pilot_server.logbook.receive import limits as limits_module
from pilot_server.logbook.receive import routes
from pilot_server.logbook.receive.exchange import Headers, Peer, Request, Response
from pilot_server.logbook.receive.intake import Refused

log = logging.getLogger("pilots2.logbook.http")

ACCEPT_BATCH = 64  # connections accepted per wake-up (the others wait in the backlog)
ACCEPT_BUSY = 8  # ... while more than BUSY requests are in progress: then accepting pauses for ACCEPT_PAUSE
BUSY = 64  # requests in progress (~0.1 s of a full receiver's) past which handshakes are paced
ACCEPT_PAUSE = 0.05  # seconds (so at most 160 new TLS handshakes a second take CPU from the requests)
QUEUE_LIMIT = 256  # requests in progress (with a worker, waiting for one or for the database); past it: 503
PIPELINE_LIMIT = 8  # requests of one connection parsed ahead of their answers
DRAIN_LIMIT = 16 << 20  # a refused body up to this size is read and dropped, so that the client sees the answer
TLS_SHUTDOWN_TIMEOUT = 5.0
SERVER = ("Server", "pilots2-logbook/%s" % __version__)
REASONS = dict((status.value, status.phrase) for status in http.HTTPStatus)


class HeadTooLarge(Exception):
    pass


class Front(object):
    """Serves ``app`` (a ``routes.Service``) on a listening socket ``sock`` (bound, and listening)."""

    def __init__(self, app, sock, tls_context=None, limits=None, threads=8):
        self.app = app
        self.sock = sock
        self.tls = tls_context
        self.limits = limits or limits_module.limits()
        self.metrics = app.metrics
        self.pool = Workers(threads, self.answered)
        self.accept_paused = False
        self.connections = set()
        self.per_address = {}
        self.refusal_log = limits_module.RefusalLog(log)
        self.loop = None
        self.in_progress = 0
        self.stopping = False
        self.done = None
        self.started = threading.Event()
        self._date = (0, "")

    @property
    def address(self):
        return self.sock.getsockname()[:2]

    @property
    def url(self):
        host, port = self.address
        return "%s://%s:%d" % ("https" if self.tls else "http", host, port)

    # -- running -------------------------------------------------------------------------------------

    async def run(self, signals=False):
        """Serve until ``stop()``; then let the requests in progress finish and return."""
        self.loop = asyncio.get_running_loop()
        self.pool.start(self.loop)
        self.done = self.loop.create_future()
        self.sock.setblocking(False)
        self.loop.add_reader(self.sock.fileno(), self.accept)
        if signals:
            import signal

            for signum in (signal.SIGTERM, signal.SIGINT):
                self.loop.add_signal_handler(signum, self.begin_stop)
        self.started.set()
        try:
            await self.done
        finally:
            self.pool.stop()
            self.app.close()  # the writers store what they hold: their answers too
            self.pool.deliver()

    def stop(self):
        """From any thread: begin the graceful stop (``run`` returns when it is over)."""
        if self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.begin_stop)

    def begin_stop(self):
        if self.stopping:
            return
        self.stopping = True
        log.info(
            "stopping: no new connections; %d open, %d requests in progress", len(self.connections), self.in_progress
        )
        self.loop.remove_reader(self.sock.fileno())
        self.sock.close()
        for connection in list(self.connections):
            connection.stop()
        self.loop.call_later(self.limits.drain_timeout, self.abort_all)
        self.check_stopped()

    def abort_all(self):
        if self.connections:
            log.warning(
                "stopping: %d connections did not finish within %g s, aborted",
                len(self.connections),
                self.limits.drain_timeout,
            )
        for connection in list(self.connections):
            connection.abort()
        self.connections.clear()
        self.check_stopped(force=True)

    def check_stopped(self, force=False):
        if (
            self.stopping
            and self.done is not None
            and not self.done.done()
            and (force or (not self.connections and not self.in_progress))
        ):
            self.done.set_result(None)

    # -- connections -----------------------------------------------------------------------------------

    def accept(self):
        """Accept what waits (a bounded number per call), admit each or close it at once."""
        busy = self.in_progress > BUSY  # pace the new connections
        for _ in range(ACCEPT_BUSY if busy else ACCEPT_BATCH):
            try:
                sock, peer = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # out of files: pause accepting for a moment
                self.metrics.refuse("capacity")
                self.refusal_log("?", "capacity", "accept: %s" % (exc.strerror or exc))
                self.pause_accepting(0.1)
                return
            connection = Connection(self, peer[0] if peer else "?")
            reason = self.admit(connection)
            if reason is not None:
                sock.close()
                if reason != "stopping":
                    self.refuse(
                        connection.address,
                        reason,
                        "%d connections open"
                        % (
                            len(self.connections)
                            if reason == "capacity"
                            else self.per_address.get(connection.address, 0)
                        ),
                    )
                continue
            connection.admitted = True
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            connection.start(sock)
        if busy:
            self.pause_accepting(ACCEPT_PAUSE)

    def pause_accepting(self, seconds):
        if not self.accept_paused and not self.stopping:
            self.accept_paused = True
            self.loop.remove_reader(self.sock.fileno())
            self.loop.call_later(seconds, self.resume_accepting)

    def resume_accepting(self):
        self.accept_paused = False
        if not self.stopping:
            self.loop.add_reader(self.sock.fileno(), self.accept)

    def admit(self, connection):
        """None, or the reason why a new connection is closed at once."""
        if self.stopping:
            return "stopping"
        limits = self.limits
        if len(self.connections) >= limits.max_connections:
            return "capacity"
        count = self.per_address.get(connection.address, 0)
        if limits.max_per_address and count >= limits.max_per_address:
            return "per_address"
        self.per_address[connection.address] = count + 1
        self.connections.add(connection)
        self.metrics.accepted.inc()
        self.metrics.open.inc()
        return None

    def release(self, connection):
        self.connections.discard(connection)
        count = self.per_address.get(connection.address, 1) - 1
        if count > 0:
            self.per_address[connection.address] = count
        else:
            self.per_address.pop(connection.address, None)
        self.metrics.open.dec()
        self.check_stopped()

    def refuse(self, address, reason, detail=""):
        """Count a refusal; log it once per client and reason per minute."""
        self.metrics.refuse(reason)
        self.refusal_log(address, reason.replace("_", " "), detail)

    # -- requests --------------------------------------------------------------------------------------

    def dispatch(self, connection, request, refused, close):
        if self.in_progress >= QUEUE_LIMIT:
            self.metrics.refuse("overloaded")
            self.refusal_log(connection.address, "overloaded", "%d requests in progress" % self.in_progress)
            return connection.answer(request, close, Response.error(503, "the logbook is busy, retry later"))
        self.in_progress += 1
        self.pool.submit((connection, request, refused, close))

    def answered(self, job, response):
        """On the loop: a worker's response to ``job``."""
        self.in_progress -= 1
        connection, request, _, close = job
        connection.answer(request, close, response)
        self.check_stopped()

    def head(self, response, length, close):
        now = int(time.time())
        if self._date[0] != now:
            self._date = (now, email.utils.formatdate(now, usegmt=True))
        lines = [
            "HTTP/1.1 %d %s" % (response.status, REASONS.get(response.status, "")),
            "%s: %s" % SERVER,
            "Date: %s" % self._date[1],
            "Content-Length: %d" % length,
        ]
        lines.extend("%s: %s" % item for item in response.headers)
        if close:
            lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class Workers(object):
    """The worker threads that run ``routes.respond``: a plain queue in, and the responses back to the
    loop in bunches (one wake-up of the loop for all the responses ready by then).  A thread pool of
    the standard library costs several times more of the loop's time per request (a future each, its
    lock and condition, one wake-up each)."""

    def __init__(self, threads, answered):
        self.count, self.answered = threads, answered
        self.jobs = queue.SimpleQueue()
        self.ready = collections.deque()
        self.lock = threading.Lock()
        self.scheduled = False
        self.loop = None
        self.threads = []

    def start(self, loop):
        self.loop = loop
        self.threads = [
            threading.Thread(target=self.run, name="logbook-worker-%d" % index, daemon=True)
            for index in range(self.count)
        ]
        for thread in self.threads:
            thread.start()

    def submit(self, job):
        """``job``: (connection, request, refused, close)."""
        self.jobs.put(job)

    def run(self):
        while True:
            job = self.jobs.get()
            if job is None:
                return
            _, request, refused, _ = job

            def reply(response, job=job):
                self.finish(job, response)

            try:
                routes.respond(request, refused, reply)
            except Exception:
                log.exception("answering %s %s failed", request.method, request.path[:100])
                reply(Response.error(500, "internal error", close=True))

    def finish(self, job, response):
        """From any thread: ``job``'s response, to the loop (one wake-up for all the responses ready by then)."""
        with self.lock:
            self.ready.append((job, response))
            if self.scheduled:
                return
            self.scheduled = True
        try:
            self.loop.call_soon_threadsafe(self.deliver)
        except RuntimeError:  # the loop is closed: the front stopped
            pass

    def deliver(self):
        with self.lock:
            ready, self.ready = self.ready, collections.deque()
            self.scheduled = False
        for job, response in ready:
            self.answered(job, response)

    def stop(self):
        """Let the jobs queued finish, then end the threads (their answers wait for ``deliver``)."""
        for _ in self.threads:
            self.jobs.put(None)
        for thread in self.threads:
            thread.join()


class Connection(asyncio.Protocol):
    """One client connection: its TLS handshake, then its requests one after the other.

    ``phase``: "tls" (handshake), "between" (no request begun), "head", "body", "closed".
    """

    __slots__ = (
        "front",
        "transport",
        "address",
        "peer",
        "parser",
        "phase",
        "timer",
        "first",
        "admitted",
        "released",
        "busy",
        "closing",
        "queue",
        "url",
        "headers",
        "head_bytes",
        "body",
        "discard",
        "request",
        "refused",
        "handshake",
    )

    def __init__(self, front, address):
        self.front = front
        self.transport = self.peer = self.parser = self.timer = self.request = self.refused = None
        self.handshake = None
        self.address = address
        self.phase = "tls"
        self.first = True
        self.admitted = self.released = self.busy = self.closing = self.discard = False
        self.queue = collections.deque()
        self.url = b""
        self.headers = []
        self.head_bytes = 0
        self.body = []

    # -- the connection's start -------------------------------------------------------------------

    def start(self, sock):
        """An accepted socket (admitted): its TLS handshake (bounded), then connection_made."""
        front = self.front
        if front.tls is None:
            coroutine = front.loop.connect_accepted_socket(self.factory, sock)
        else:
            coroutine = front.loop.connect_accepted_socket(
                self.factory,
                sock,
                ssl=front.tls,
                ssl_handshake_timeout=front.limits.handshake_timeout,
                ssl_shutdown_timeout=TLS_SHUTDOWN_TIMEOUT,
            )
        self.handshake = asyncio.ensure_future(coroutine)
        self.handshake.add_done_callback(self.handshaken)

    def factory(self):
        return self

    def handshaken(self, task):
        self.handshake = None
        if task.cancelled():
            return self.lost()
        exc = task.exception()
        if exc is None:
            return
        front = self.front
        text = " ".join(str(exc).split()) or type(exc).__name__
        if self.phase == "closed":  # the front stopped
            pass
        elif "longer than" in text or isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
            front.refuse(
                self.address, "handshake_timeout", "no TLS handshake within %g s" % front.limits.handshake_timeout
            )
        elif isinstance(exc, (ConnectionResetError, BrokenPipeError)) or "onnection lost" in text:
            log.debug("%s closed the connection during the TLS handshake", self.address)
        else:
            front.refuse(self.address, "handshake_failed", text[:200])
        self.lost()

    # -- asyncio protocol ------------------------------------------------------------------------------

    def connection_made(self, transport):
        self.ready(transport, transport.get_extra_info("ssl_object"))

    def ready(self, transport, ssl_object):
        self.transport = transport
        self.peer = Peer(self.address, ssl_object)
        self.parser = httptools.HttpRequestParser(self)
        self.phase = "between"
        self.arm(self.front.limits.head_timeout)  # the first request's head, counted from now
        if self.front.stopping:
            self.stop()

    def data_received(self, data):
        if self.phase == "closed" or self.parser is None:
            return
        limit = self.front.limits.max_head_bytes
        try:
            while data:
                if self.phase == "body" or self.closing:
                    chunk, data = data, b""
                else:  # never more than the head may hold: the parser keeps a header line whole
                    room = limit - self.head_bytes
                    if room <= 0:
                        raise HeadTooLarge()
                    chunk, data = data[:room], data[room:]
                    self.head_bytes += len(chunk)
                self.parser.feed_data(chunk)
                if self.phase == "closed":
                    return
        except HeadTooLarge:
            self.fail(
                431,
                "the request head is over %d bytes or %d headers" % (limit, limits_module.MAX_HEADERS),
                "head_too_large",
            )
        except httptools.HttpParserCallbackError as exc:
            if isinstance(exc.__context__, HeadTooLarge):
                return self.fail(
                    431,
                    "the request head is over %d bytes or %d headers" % (limit, limits_module.MAX_HEADERS),
                    "head_too_large",
                )
            log.error("parsing a request from %s failed: %r", self.address, exc.__context__)
            self.fail(400, "malformed request", "bad_request")
        except httptools.HttpParserUpgrade:
            if not self.queue and not self.busy:
                self.fail(400, "protocol upgrades are not served here", "bad_request")
            else:
                self.closing = True
        except httptools.HttpParserError as exc:
            self.fail(400, "malformed request: %s" % " ".join(str(exc).split())[:100], "bad_request")

    def eof_received(self):
        return False  # close our side too

    def connection_lost(self, exc):
        self.lost()

    def pause_writing(self):
        pass

    def resume_writing(self):
        pass

    # -- parser callbacks ------------------------------------------------------------------------------

    def on_message_begin(self):
        self.url = b""
        self.headers = []
        self.body = []
        self.discard = False
        self.phase = "head"
        if not self.first:
            self.arm(self.front.limits.head_timeout)

    def on_url(self, url):
        self.url += url

    def on_header(self, name, value):
        self.headers.append((name.decode("latin-1"), value.decode("latin-1")))
        if len(self.headers) > limits_module.MAX_HEADERS:
            raise HeadTooLarge()

    def on_headers_complete(self):
        self.first = False
        self.head_bytes = 0
        front = self.front
        method = self.parser.get_method().decode("ascii", "replace")
        headers = Headers(self.headers)
        self.headers = []
        request = Request(method, self.url.decode("latin-1"), headers, peer=self.peer, app=front.app)
        self.request = request
        lengths = headers.get_all("Content-Length")
        length = int(lengths[0].strip()) if len(lengths) == 1 else None  # the parser checked its digits
        refused = None
        if len(lengths) > 1:  # the parser refuses them already (400); never pick one of two lengths
            refused, early = Refused(400, "give one Content-Length header, not %d" % len(lengths)), True
        elif headers.get("Transfer-Encoding") is not None:
            refused, early = Refused(400, "send the body with a Content-Length, not a Transfer-Encoding"), True
        elif length is None and method == "POST":
            refused, early = Refused(400, "a Content-Length header is required"), False
        else:
            refused = routes.precheck(request, length or 0)
            early = refused is not None and (
                length > DRAIN_LIMIT or "100-continue" in (headers.get("Expect") or "").lower()
            )
        self.refused = refused
        if early:  # answer now and close: the body will not be read
            self.phase = "closed-early"
            self.closing = self.discard = True
            self.cancel_timer()
            self.enqueue(request, refused, True)
            return
        self.discard = refused is not None
        if length:
            self.phase = "body"
            self.arm(front.limits.body_timeout)
            if (
                refused is None
                and "100-continue" in (headers.get("Expect") or "").lower()
                and not self.busy
                and not self.queue
            ):
                self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        else:
            self.cancel_timer()

    def on_body(self, chunk):
        if not self.discard:
            self.body.append(chunk)

    def on_message_complete(self):
        if self.phase == "closed-early":
            return
        self.phase = "between"
        self.cancel_timer()
        request = self.request
        request.body = b"".join(self.body) if not self.discard else b""
        self.body = []
        self.request = None
        self.enqueue(request, self.refused, not self.parser.should_keep_alive())

    # -- answering -------------------------------------------------------------------------------------

    def enqueue(self, request, refused, close):
        self.queue.append((request, refused, close))
        if len(self.queue) > PIPELINE_LIMIT:
            return self.abort()
        self.transport.pause_reading()
        if not self.busy:
            self.next()

    def next(self):
        request, refused, close = self.queue.popleft()
        self.busy = True
        self.front.dispatch(self, request, refused, close)

    def answer(self, request, close, response):
        """Write ``response`` (on the loop); then the next request, or wait for one."""
        self.busy = False
        front = self.front
        front.metrics.answered(response.status, time.monotonic() - request.received)
        if self.phase == "closed" or self.transport is None or self.transport.is_closing():
            return
        close = close or response.close or self.closing or front.stopping
        body = response.body if request.method != "HEAD" else b""
        self.transport.write(front.head(response, len(response.body), close) + body)
        if close:
            self.phase = "closed"
            self.cancel_timer()
            self.transport.close()
            return
        if self.queue:
            return self.next()
        if self.phase == "between":
            self.arm(front.limits.idle_timeout)
        elif self.timer is None:  # a pipelined request begun meanwhile: its deadline goes on
            self.arm(front.limits.body_timeout if self.phase == "body" else front.limits.head_timeout)
        self.transport.resume_reading()

    def fail(self, status, reason, metric):
        """A request that cannot be parsed or is too big: answer (when nothing is in progress) and close."""
        self.front.refuse(self.address, metric, reason)
        self.cancel_timer()
        if self.busy or self.queue:
            self.closing = True
            self.transport.pause_reading()
            return
        self.phase = "closed"
        self.busy = False
        self.front.metrics.answered(status)
        response = Response.error(status, reason)
        self.transport.write(self.front.head(response, len(response.body), True) + response.body)
        self.transport.close()

    # -- time limits ---------------------------------------------------------------------------------

    def arm(self, seconds):
        if self.timer is not None:
            self.timer.cancel()
        self.timer = self.front.loop.call_later(seconds, self.timed_out)

    def cancel_timer(self):
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def timed_out(self):
        self.timer = None
        if self.busy or self.phase == "closed":
            return
        limits = self.front.limits
        if self.phase == "between" and not self.first:  # idle between two requests: a quiet close
            self.phase = "closed"
            self.transport.close()
            return
        if self.phase == "body":
            reason, what = "body_timeout", "the request body did not arrive within %g s" % limits.body_timeout
        else:
            reason, what = "head_timeout", "the request head did not arrive within %g s" % limits.head_timeout
        self.front.refuse(self.address, reason, what)
        self.phase = "closed"
        if self.head_bytes or reason == "body_timeout":  # a request begun: say why it ends
            response = Response.error(408, what)
            self.front.metrics.answered(408)
            self.transport.write(self.front.head(response, len(response.body), True) + response.body)
        self.transport.close()

    # -- the end ---------------------------------------------------------------------------------------

    def stop(self):
        """The front stops: close now when idle, else after the answer in progress."""
        if self.phase == "tls":
            self.phase = "closed"
            if self.handshake is not None:
                self.handshake.cancel()
            return
        if self.busy or self.queue:
            self.closing = True
            return
        self.phase = "closed"
        self.cancel_timer()
        self.transport.close()

    def abort(self):
        self.phase = "closed"
        self.cancel_timer()
        if self.transport is not None:
            self.transport.abort()
        self.lost()

    def lost(self):
        self.phase = "closed"
        self.cancel_timer()
        if self.admitted and not self.released:
            self.released = True
            self.front.release(self)
        self.parser = None


def listen(address, backlog=limits_module.DEFAULTS.backlog):
    """A listening TCP socket on (host, port); OSError when the port is taken (before anything else starts)."""
    host, port = address
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(backlog)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


# The cyclic garbage collector with CPython's default thresholds (700, 10, 10) ran a full
# collection every few seconds while pilots connected and twice a minute while 18,000 were held:
# 200-400 ms each, during which nothing else runs (bench/bench_connections.py; it found nothing
# to free), so the requests waiting passed the queue limit and got 503.  With a young generation
# of 50,000 allocations, a request's objects are gone before it is collected and next to nothing
# reaches the old generation: no full collection in a 105 s run.  Reference counting still frees
# everything that is not in a cycle at once.
GC_THRESHOLDS = (50000, 20, 100)


def tune_collector():
    """For a long-running receiver: the thresholds above, and what start-up made (modules, the
    configuration, the database pool) moved out of the collector's sight (gc.freeze)."""
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def new_loop():
    import uvloop

    return uvloop.new_event_loop()


def serve_in_thread(front):
    """Run ``front`` on a loop of its own in a daemon thread (tests, benchmarks); returns the thread."""

    def main():
        loop = new_loop()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(front.run())
        finally:
            loop.close()

    thread = threading.Thread(target=main, name="logbook-front", daemon=True)
    thread.start()
    if not front.started.wait(30):
        raise RuntimeError("the logbook front did not start")
    return thread
