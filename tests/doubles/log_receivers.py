"""Test doubles of what the pilot logs to (Python 2.6-compatible: the worker-node tests use them).

* ``LogbookDouble``: a minimal HTTP(S) receiver that honours
  docs/logging-protocol.md exactly as far as the pilot can tell: POST
  <path> with a JSON batch, validated with pilot/messages.py (the contract's
  one definition); 200 ``{"stored", "duplicates", "last_seq"}``; 400 for a bad
  batch, 401 without a valid bearer token (when tokens are required), 403
  for a token of another stamp, 404 for another path, 413 over the limits,
  all with ``{"error": "..."}``; each (stamp, seq) stored once.  It can be
  stopped and started again on the same port (the logbook down for part of
  a run), forced to answer given statuses, or made to hang.
  It is NOT the real logbook (pilot_server.logbook, built in another
  worktree): the cross-integration tests against it remain to be written.
* ``DiracLoggingDouble``: DIRAC v9's TornadoPilotLogging as the pilot sees
  it (form-encoded sendMessage / finaliseLogs, client certificate required).
Both serve HTTPS on every Python with ``helpers.https`` (a TLS front where
the test's Python has no ssl module).
"""

import json
import socket
import threading
import time

import six
from six.moves import BaseHTTPServer
from six.moves.urllib.parse import parse_qs
from support.tls_front import TlsCapableHTTPServer

from pilot import messages


def _reply(handler, status, document):
    body = json.dumps(document).encode("utf-8")
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


class _LogbookHandler(BaseHTTPServer.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a production server does

    def do_POST(self):
        self.server.owner.handle(self)

    def log_message(self, *args):
        pass


class _Server(TlsCapableHTTPServer):
    def process_request(self, request, client_address):
        try:  # the reply's headers and body are two writes: no Nagle delay between them
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except (socket.error, OSError, AttributeError):
            pass
        self.connections.add(request)
        TlsCapableHTTPServer.process_request(self, request, client_address)

    def drop_connections(self):
        """A server that goes down also closes the connections it kept alive."""
        for request in list(self.connections):
            try:
                request.shutdown(socket.SHUT_RDWR)
            except (socket.error, OSError):
                pass
            try:
                request.close()
            except (socket.error, OSError):
                pass
        self.connections.clear()

    def tls_accepted(self, request):
        self.connections.add(request)  # the wrapped socket is the one to close


class _Base(object):
    handler = _LogbookHandler
    front = None  # the TLS front that serves it over HTTPS, if any (helpers.https)

    def __init__(self, ssl_context=None, port=0):
        self.ssl_context = ssl_context
        self.port = port
        self.server = None
        self.thread = None
        self.lock = threading.Lock()
        self.start()

    @property
    def running(self):
        return self.server is not None

    def start(self):
        server = _Server(("127.0.0.1", self.port), self.handler)
        server.connections = set()
        server.owner = self
        server.ssl_context = self.ssl_context
        self.port = server.server_address[1]
        self.server = server
        self.thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
        self.thread.daemon = True
        self.thread.start()

    def stop(self):
        """Down: the port refuses connections until start() (behind a TLS front: the
        handshake works, then the connection closes)."""
        server, self.server = self.server, None
        if server is not None:
            server.shutdown()
            server.server_close()
            server.drop_connections()
            self.thread.join(5)

    def close(self):
        self.stop()
        if self.front is not None:
            self.front.close()

    def url(self, path):
        if self.front is not None:
            return "https://localhost:%d%s" % (self.front.port, path)
        # HTTPS by name: Python 2.7's match_hostname does not match IP addresses.
        host = "localhost" if self.ssl_context is not None else "127.0.0.1"
        return "%s://%s:%d%s" % ("https" if self.ssl_context is not None else "http", host, self.port, path)


class LogbookDouble(_Base):
    PATH = "/api/v1/logs"

    def __init__(self, ssl_context=None, tokens=None, port=0):
        """``tokens``: {token: stamp}; when given, every POST needs one of them."""
        self.tokens = tokens
        self.stored = {}  # (stamp, seq) -> message
        self.arrivals = []  # (stamp, seq) of stored messages, in the order they arrived
        self.duplicates = 0
        self.posts = []  # one dict per POST: status, count, authorization (as sent)
        self.force = []  # statuses to answer to the next POSTs, whatever they hold
        self.hang = False
        _Base.__init__(self, ssl_context, port)

    @property
    def endpoint(self):
        return self.url(self.PATH)

    def handle(self, request):
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        post = {
            "path": request.path,
            "authorization": request.headers.get("Authorization"),
            "content_type": request.headers.get("Content-Type"),
            "status": None,
            "count": 0,
        }
        with self.lock:
            self.posts.append(post)
            forced = self.force.pop(0) if self.force else None
        if self.hang:
            time.sleep(3600)
        status, document = self._answer(request, body, forced, post)
        post["status"] = status
        _reply(request, status, document)

    def _answer(self, request, body, forced, post):
        if request.path.split("?", 1)[0] != self.PATH:
            return 404, {"error": "no such endpoint"}
        if forced is not None:
            return forced, {"error": "forced by the test"}
        if len(body) > messages.MAX_BATCH_BYTES:
            return 413, {"error": "batch of %d bytes is over the limit" % len(body)}
        token_stamp = None
        if self.tokens is not None:
            header = request.headers.get("Authorization") or ""
            if not header.startswith("Bearer ") or header[7:] not in self.tokens:
                return 401, {"error": "no credential or a bad token"}
            token_stamp = self.tokens[header[7:]]
        try:
            document = json.loads(body.decode("utf-8"))
        except ValueError as exc:
            return 400, {"error": "malformed JSON: %s" % exc}
        if (
            isinstance(document, dict)
            and isinstance(document.get("messages"), list)
            and len(document["messages"]) > messages.MAX_BATCH_MESSAGES
        ):
            return 413, {"error": "too many messages"}
        try:
            stamp, items = messages.validate_batch(document)
        except messages.MessageError as exc:
            return 400, {"error": str(exc)}
        if token_stamp is not None and token_stamp != stamp:
            return 403, {"error": "the token is for another stamp"}
        stored = duplicates = 0
        with self.lock:  # all or nothing
            for item in items:
                key = (stamp, item["seq"])
                if key in self.stored:
                    duplicates += 1
                    continue
                self.stored[key] = item
                self.arrivals.append(key)
                stored += 1
            self.duplicates += duplicates
            last = max([seq for (s, seq) in self.stored if s == stamp] or [0])
        post["count"] = len(items)
        return 200, {"stored": stored, "duplicates": duplicates, "last_seq": last}

    # -- reading back ------------------------------------------------------------------
    def messages_of(self, stamp=None):
        """Stored messages (of one stamp), ordered by seq, as the logbook returns them."""
        with self.lock:
            items = [item for (s, seq), item in self.stored.items() if stamp is None or s == stamp]
        return sorted(items, key=lambda item: (item["stamp"], item["seq"]))

    def arrival_seqs(self, stamp):
        with self.lock:
            return [seq for (s, seq) in self.arrivals if s == stamp]

    def statuses(self):
        with self.lock:
            return [post["status"] for post in self.posts]


class _DiracHandler(BaseHTTPServer.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        form = parse_qs(self.rfile.read(length).decode("utf-8"))
        self.server.owner.calls.append(form)
        method = form.get("method", [""])[0]
        try:
            payload, uuid, vo = json.loads(form["args"][0])
            payload = json.loads(payload)
        except (KeyError, ValueError, TypeError):
            _reply(self, 200, {"OK": False, "Message": "bad arguments"})
            return
        owner = self.server.owner
        if method == "sendMessage":
            owner.logs.setdefault(uuid, []).extend(payload)
            owner.vos[uuid] = vo
            _reply(self, 200, {"OK": True, "Value": "Message logged successfully for pilot: %s" % uuid})
        elif method == "finaliseLogs":
            owner.finalised[uuid] = payload.get("retCode")
            _reply(self, 200, {"OK": True, "Value": None})
        else:
            _reply(self, 200, {"OK": False, "Message": "Unknown method %s" % method})

    def log_message(self, *args):
        pass


class DiracLoggingDouble(_Base):
    """``https://localhost:PORT/WorkloadManagement/TornadoPilotLogging``; needs a client certificate."""

    handler = _DiracHandler
    PATH = "/WorkloadManagement/TornadoPilotLogging"

    def __init__(self, ssl_context):
        self.calls = []
        self.logs = {}
        self.vos = {}
        self.finalised = {}
        _Base.__init__(self, ssl_context)

    @property
    def endpoint(self):
        return self.url(self.PATH)


def text_of(items):
    return "\n".join(six.text_type(item.get("text", "")) for item in items)
