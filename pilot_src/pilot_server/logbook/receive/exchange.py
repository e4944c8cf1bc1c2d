"""One request and its response: what the front hands to the API and the web pages, and takes back.

The front (``front.py``) parses a request on the event loop, reads its whole body
(within the route's limit), then calls a handler in a worker thread with a
``Request``; the handler returns a ``Response``, which the front writes.  Handlers
never touch sockets, so the same code answers whatever the transport.

``Request``                              ``Response``
  ``method``  GET, POST, ...               ``status``   200, 404, ...
  ``target``  path and query, as sent      ``headers``  [(name, value), ...] (Content-Length and
  ``path``    the path, not decoded                     Date are added by the front)
  ``query``   the query string (no ``?``)  ``body``     bytes
  ``headers`` ``Headers`` (case-blind)     ``close``    close the connection after it
  ``cookies`` {name: value}
  ``body``    bytes (b"" when none)
  ``client``  the peer's address (text)
  ``secure``  True over TLS
  ``app``     the ``Service`` (store, access rules, web sessions, metrics)
  ``client_dn()``  the verified client DN (x509identity), or None
  ``bearer()``     the ``Authorization: Bearer`` credential, or None
"""

import json
import logging
import time

from pilot_server.logbook.receive.x509identity import peer_dn

JSON = "application/json"


class Headers(object):
    """Request headers: ``get`` (first value), ``get_all``; names compared without case."""

    __slots__ = ("items",)

    def __init__(self, items=()):
        self.items = [(name.lower(), value) for name, value in items]

    def get(self, name, default=None):
        name = name.lower()
        for key, value in self.items:
            if key == name:
                return value
        return default

    def get_all(self, name):
        name = name.lower()
        return [value for key, value in self.items if key == name]

    def __contains__(self, name):
        return self.get(name) is not None

    def __iter__(self):
        return iter(self.items)

    def __len__(self):
        return len(self.items)


class Peer(object):
    """What the connection knows about its client, shared by its requests (the DN is read once)."""

    __slots__ = ("address", "ssl_object", "_dn")

    def __init__(self, address, ssl_object=None):
        self.address, self.ssl_object, self._dn = address, ssl_object, False

    def dn(self):
        if self._dn is False:
            self._dn = peer_dn(self.ssl_object) if self.ssl_object is not None else None
        return self._dn


class Request(object):
    __slots__ = (
        "method",
        "target",
        "path",
        "query",
        "headers",
        "body",
        "peer",
        "app",
        "identity",
        "_cookies",
        "received",
    )

    def __init__(self, method, target, headers, body=b"", peer=None, app=None):
        self.method = method
        self.target = target
        self.path, _, self.query = target.partition("?")
        self.headers = headers if isinstance(headers, Headers) else Headers(headers)
        self.body = body
        self.peer = peer or Peer("?")
        self.app = app
        self.identity = None  # set by the checks made before the body is read (routes.precheck)
        self._cookies = None
        self.received = time.monotonic()  # its head was read: the request-time histogram counts from here

    @property
    def client(self):
        return self.peer.address

    @property
    def secure(self):
        return self.peer.ssl_object is not None

    @property
    def cookies(self):
        if self._cookies is None:
            cookies = {}
            for header in self.headers.get_all("Cookie"):
                for part in header.split(";"):
                    name, sep, value = part.strip().partition("=")
                    if sep and name not in cookies:
                        cookies[name] = value.strip().strip('"')
            self._cookies = cookies
        return self._cookies

    def client_dn(self):
        return self.peer.dn()

    def bearer(self):
        value = self.headers.get("Authorization") or ""
        scheme, _, credential = value.strip().partition(" ")
        if scheme.lower() != "bearer":
            return None
        return credential.strip() or None


class Response(object):
    __slots__ = ("status", "headers", "body", "close")

    def __init__(self, status, body=b"", content_type=None, headers=(), close=False):
        if isinstance(body, str):
            body = body.encode("utf-8")
        self.status = status
        self.headers = ([("Content-Type", content_type)] if content_type else []) + list(headers)
        self.body = body
        self.close = close

    @classmethod
    def json(cls, status, document, headers=(), close=False):
        try:
            body = json.dumps(document, separators=(",", ":"), allow_nan=False)
        except ValueError:  # NaN or an infinity from an odd row: strict JSON all the same (null)
            from pilot_server.logbook.store import readable

            body = json.dumps(readable.jsonable(document, depth=-(10**6)), separators=(",", ":"))
        body = body.encode("utf-8")
        return cls(status, body, JSON, [("Cache-Control", "no-store")] + list(headers), close)

    @classmethod
    def error(cls, status, reason, headers=(), close=False):
        """``{"error": "<one line>"}``; 503 says when to retry."""
        extra = list(headers)
        if status == 503:
            extra.append(("Retry-After", str(RETRY_AFTER)))
        return cls.json(status, {"error": " ".join(str(reason).split())}, extra, close)

    def header(self, name):
        name = name.lower()
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None


RETRY_AFTER = 10  # seconds a client is told to wait when the database is unavailable
UNAVAILABLE = "the database is unavailable, retry later"


def unavailable(exc):
    """The one 503 reply (with Retry-After) of the API when the database is down or busy."""
    logging.getLogger("pilots2.logbook.http").warning("database unavailable: %s", exc)
    return Response.error(503, UNAVAILABLE)
