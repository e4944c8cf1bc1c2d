"""A small STOMP 1.2 client: enough to send log batches to RabbitMQ's STOMP plugin.

Standard library only, Python 2.6 ... 3.13.  TCP or TLS (the server is
verified, host name included, which needs ``ssl.SSLContext``: 2.7.9+/3.4+).

* ``connect()``: CONNECT with login/passcode and the virtual host; the broker
  answers CONNECTED, or ERROR (bad credentials: StompRefused).
* ``send()``: SEND with ``content-length`` and a ``receipt``; the frame counts
  as delivered only when the broker's RECEIPT for it arrives within the
  timeout.  ERROR instead: StompError (the broker closes the connection).
* ``subscribe()`` / ``receive()`` / ``ack()``: for reading messages back (tests,
  tools).
* Any socket problem closes the connection and raises StompError; the next
  call connects again.

Heart-beating is off (``heart-beat:0,0``): a pilot sends a frame at most every
few seconds and reconnects when a send fails.
"""

import socket
import time

from ..shims import compat

NUL = b"\x00"
DEFAULT_PORT = 61613
DEFAULT_TLS_PORT = 61614
MAX_FRAME = 64 * 1024 * 1024   # refuse to buffer more than this for one frame


class StompError(Exception):
    """The connection or the broker failed; str() is one line."""


class StompRefused(StompError):
    """The broker refused the connection (ERROR in reply to CONNECT: credentials, vhost)."""


class Frame(object):
    def __init__(self, command, headers=None, body=b""):
        self.command = command
        self.headers = headers or {}
        self.body = body

    def describe(self):
        """One line: the ERROR frame's message header and the start of its body."""
        text = compat.to_text(self.headers.get("message", ""))
        body = " ".join(compat.to_text(self.body).split())
        if body and body not in text:
            text = (text + ": " + body) if text else body
        return text[:300] or self.command


_ESCAPES = (("\\", "\\\\"), ("\r", "\\r"), ("\n", "\\n"), (":", "\\c"))


def escape(value):
    text = compat.to_text(value)
    for raw, escaped in _ESCAPES:
        text = text.replace(raw, escaped)
    return text


def unescape(value):
    result = []
    index = 0
    table = {"\\": "\\", "r": "\r", "n": "\n", "c": ":"}
    while index < len(value):
        char = value[index]
        if char == "\\" and index + 1 < len(value):
            result.append(table.get(value[index + 1], value[index + 1]))
            index += 2
            continue
        result.append(char)
        index += 1
    return u"".join(result)


def encode_frame(command, headers=(), body=b""):
    """The bytes of one frame; ``headers`` is a list of (name, value) pairs.

    STOMP 1.2 escapes header names and values in every frame but CONNECT.
    """
    lines = [command]
    for name, value in headers:
        if command == "CONNECT":
            lines.append(u"%s:%s" % (compat.to_text(name), compat.to_text(value)))
        else:
            lines.append(u"%s:%s" % (escape(name), escape(value)))
    return compat.to_bytes(u"\n".join(lines) + u"\n\n") + compat.to_bytes(body) + NUL


class FrameReader(object):
    """Turns received bytes into frames (handles content-length and heart-beat EOLs)."""

    def __init__(self):
        self.buffer = b""

    def feed(self, data):
        self.buffer += data
        if len(self.buffer) > MAX_FRAME:
            raise StompError("a frame of more than %d bytes" % MAX_FRAME)

    def next_frame(self):
        """The next complete frame, or None if more bytes are needed."""
        buffer = self.buffer.lstrip(b"\r\n")   # heart-beats between frames
        self.buffer = buffer
        end_of_headers = buffer.find(b"\n\n")
        crlf = buffer.find(b"\r\n\r\n")
        if crlf != -1 and (end_of_headers == -1 or crlf < end_of_headers):
            end_of_headers, separator = crlf, 4
        else:
            separator = 2
        if end_of_headers == -1:
            return None
        head = compat.to_text(buffer[:end_of_headers]).replace("\r\n", "\n").split("\n")
        command = head[0].strip()
        headers = {}
        for line in head[1:]:
            if ":" not in line:
                continue
            name, value = line.split(":", 1)
            name = unescape(name) if command != "CONNECTED" else name
            if name not in headers:   # STOMP 1.2: the first occurrence wins
                headers[name] = unescape(value) if command != "CONNECTED" else value
        start = end_of_headers + separator
        length = headers.get("content-length")
        if length is not None and length.strip().isdigit():
            end = start + int(length)
            if len(buffer) < end + 1:
                return None
            body = buffer[start:end]
            self.buffer = buffer[end + 1:]   # skip the NUL
        else:
            end = buffer.find(NUL, start)
            if end == -1:
                return None
            body = buffer[start:end]
            self.buffer = buffer[end + 1:]
        return Frame(command, headers, body)


class StompClient(object):
    def __init__(self, host, port, login=None, passcode=None, vhost=None, ssl_context=None, timeout=10.0):
        self.host = host
        self.port = port
        self.login = login
        self.passcode = passcode
        self.vhost = vhost
        self.ssl_context = ssl_context
        self.timeout = timeout
        self.sock = None
        self.reader = FrameReader()
        self.counter = 0
        self.messages = []          # MESSAGE frames received while waiting for something else
        self.server = None

    @property
    def connected(self):
        return self.sock is not None

    # -- connection ------------------------------------------------------------------
    def connect(self):
        if self.sock is not None:
            return
        try:
            sock = socket.create_connection((self.host, self.port), self.timeout)
        except (socket.error, socket.timeout, IOError, OSError) as exc:
            raise StompError("cannot connect to %s:%s: %s" % (self.host, self.port, _describe(exc)))
        try:
            if self.ssl_context is not None:
                sock = self.ssl_context.wrap_socket(sock, server_hostname=self.host)
        except Exception as exc:  # ssl.SSLError, certificate errors
            _close(sock)
            raise StompError("TLS with %s:%s failed: %s" % (self.host, self.port, _describe(exc)))
        self.sock = sock
        self.reader = FrameReader()
        headers = [("accept-version", "1.2"), ("host", self.vhost or "/"), ("heart-beat", "0,0")]
        if self.login is not None:
            headers += [("login", self.login), ("passcode", self.passcode or "")]
        self._write(encode_frame("CONNECT", headers))
        frame = self._read_frame(time.time() + self.timeout)
        if frame.command == "CONNECTED":
            self.server = frame.headers.get("server")
            return
        self.close()
        if frame.command == "ERROR":
            raise StompRefused("the broker refused the connection: %s" % frame.describe())
        raise StompError("unexpected %s frame in reply to CONNECT" % frame.command)

    def close(self):
        sock, self.sock = self.sock, None
        _close(sock)

    def disconnect(self, timeout=2.0):
        """DISCONNECT politely (waiting briefly for the receipt), then close."""
        if self.sock is None:
            return
        try:
            receipt = self._next_id("bye")
            self._write(encode_frame("DISCONNECT", [("receipt", receipt)]))
            self._wait_receipt(receipt, time.time() + timeout)
        except StompError:
            pass
        self.close()

    # -- frames ----------------------------------------------------------------------
    def send(self, destination, body, headers=None, content_type="application/json", receipt=True):
        """SEND one frame; with ``receipt``, return only once the broker confirmed it."""
        self.connect()
        body = compat.to_bytes(body)
        frame_headers = [("destination", destination), ("content-type", content_type),
                         ("content-length", str(len(body)))]
        for name, value in (headers or []):
            frame_headers.append((name, value))
        receipt_id = None
        if receipt:
            receipt_id = self._next_id("send")
            frame_headers.append(("receipt", receipt_id))
        self._write(encode_frame("SEND", frame_headers, body))
        if receipt_id is not None:
            self._wait_receipt(receipt_id, time.time() + self.timeout)

    def subscribe(self, destination, subscription="0", ack="auto", headers=None):
        self.connect()
        frame_headers = [("destination", destination), ("id", subscription), ("ack", ack)]
        frame_headers.extend(headers or [])
        receipt_id = self._next_id("sub")
        frame_headers.append(("receipt", receipt_id))
        self._write(encode_frame("SUBSCRIBE", frame_headers))
        self._wait_receipt(receipt_id, time.time() + self.timeout)

    def receive(self, timeout):
        """The next MESSAGE frame, or None after ``timeout`` seconds."""
        if self.messages:
            return self.messages.pop(0)
        deadline = time.time() + timeout
        while True:
            try:
                frame = self._read_frame(deadline)
            except _Timeout:
                return None
            if frame.command == "MESSAGE":
                return frame
            if frame.command == "ERROR":
                self.close()
                raise StompError("the broker sent ERROR: %s" % frame.describe())

    def ack(self, frame):
        self._write(encode_frame("ACK", [("id", frame.headers.get("ack", ""))]))

    # -- plumbing --------------------------------------------------------------------
    def _next_id(self, prefix):
        self.counter += 1
        return "%s-%d" % (prefix, self.counter)

    def _wait_receipt(self, receipt_id, deadline):
        while True:
            try:
                frame = self._read_frame(deadline)
            except _Timeout:
                self.close()
                raise StompError("no RECEIPT from the broker within %.0f s" % self.timeout)
            if frame.command == "RECEIPT" and frame.headers.get("receipt-id") == receipt_id:
                return
            if frame.command == "MESSAGE":
                self.messages.append(frame)
                continue
            if frame.command == "ERROR":
                self.close()
                raise StompError("the broker sent ERROR: %s" % frame.describe())

    def _write(self, data):
        if self.sock is None:
            raise StompError("not connected")
        try:
            self.sock.settimeout(self.timeout)
            self.sock.sendall(data)
        except Exception as exc:  # socket.error, ssl errors, timeouts
            self.close()
            raise StompError("sending to %s:%s failed: %s" % (self.host, self.port, _describe(exc)))

    def _read_frame(self, deadline):
        while True:
            frame = self.reader.next_frame()
            if frame is not None:
                return frame
            if self.sock is None:
                raise StompError("not connected")
            remaining = deadline - time.time()
            if remaining <= 0:
                raise _Timeout()
            try:
                self.sock.settimeout(remaining)
                data = self.sock.recv(65536)
            except socket.timeout:
                raise _Timeout()
            except Exception as exc:
                if _is_timeout(exc):
                    raise _Timeout()
                self.close()
                raise StompError("reading from %s:%s failed: %s" % (self.host, self.port, _describe(exc)))
            if not data:
                self.close()
                raise StompError("the broker closed the connection")
            self.reader.feed(data)


class _Timeout(Exception):
    pass


def _is_timeout(exc):
    # Python 2's ssl raises SSLError("The read operation timed out") instead of socket.timeout
    return "timed out" in compat.to_text(exc)


def _describe(exc):
    if isinstance(exc, socket.timeout):
        return "timed out"
    text = getattr(exc, "strerror", None) or compat.to_text(exc) or exc.__class__.__name__
    return " ".join(compat.to_text(text).split())


def _close(sock):
    if sock is None:
        return
    try:
        sock.close()
    except Exception:
        pass
