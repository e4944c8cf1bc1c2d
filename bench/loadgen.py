#!/usr/bin/env python3
"""An asynchronous load generator for the logbook's front: many TLS keep-alive pilots and attackers.

One process drives thousands of non-blocking sockets with ``selectors`` (epoll) and
``ssl`` in non-blocking mode: no thread and no asyncio per connection, so that the
generator itself stays small (a few KB per socket) and leaves the CPU to the server.
The benches run several of these processes, each from its own loopback source
address (127.0.0.x), because one process may open at most 20,000 files here.

It reads a job (JSON) on stdin and prints its results (JSON) on stdout::

    {"host": "127.0.0.1", "port": 8443, "sources": ["127.0.0.2", "127.0.0.3"], "ca_file": "...",
     "duration": 60, "ramp": 10, "roles": {"pilot": 4000, "idle": 0, "slowloris": 0, "half": 0, "rps": 0},
     "interval": 30, "retry": 5, "messages": 5, "secret": "<hex>", "path": "/api/v1/logs",
     "start_at": <epoch>, "client_cert": ["cert.pem", "key.pem"]}

Roles (every socket lives until ``duration`` ends; a closed one is opened again):

* ``pilot``: connects at a random time within ``ramp``, then sends a batch (its own stamp,
  a pilot token, ``messages`` messages, seq going up) at once and every ``interval`` s on
  one kept-alive connection.  A connection the server closed between batches is opened
  again when the next batch is due; a refused or failed batch is sent again after a back-off
  (``retry`` s, doubling up to 120 s, as the pilot's sender does: its spool keeps the batch).  Each batch's latency (send -> full reply) and status are kept.
* ``rps``: TLS, then batches back to back (requests per second).
* ``idle``: TCP only, never a byte (the TLS handshake deadline must close it).
* ``half``: TCP, the first 6 bytes of a TLS ClientHello, then nothing.
* ``slowloris``: TLS, then a request head one byte every ``drip`` s.

Bounded: nothing runs past ``duration`` (+ 15 s to collect replies); loopback only.
"""

import errno
import heapq
import json
import os
import random
import selectors
import socket
import ssl
import sys
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(os.path.dirname(HERE), "pilot_src")]

READ, WRITE = selectors.EVENT_READ, selectors.EVENT_WRITE
HALF_HELLO = b"\x16\x03\x01\x02\x00\x01"  # a handshake record of 512 bytes announced, 1 sent


class Conn(object):
    __slots__ = (
        "role",
        "sock",
        "state",
        "out",
        "inbuf",
        "sent_at",
        "seq",
        "stamp",
        "token",
        "events",
        "opened_at",
        "expect",
        "index",
        "due",
        "backoff",
    )

    def __init__(self, role, index):
        self.role, self.index = role, index
        self.sock = None
        self.state = "new"
        self.out = b""
        self.inbuf = b""
        self.sent_at = 0.0
        self.seq = 0
        self.stamp = self.token = None
        self.events = 0
        self.opened_at = 0.0
        self.expect = None
        self.due = 0.0
        self.backoff = 0.0


class Generator(object):
    def __init__(self, job):
        self.job = job
        self.host, self.port = job["host"], job["port"]
        self.sources = job.get("sources") or ([job["source"]] if job.get("source") else [])
        self.retry = job.get("retry", 5.0)
        self.selector = selectors.DefaultSelector()
        self.timers = []  # (when, counter, conn, action)
        self.counter = 0
        self.context = ssl.create_default_context(cafile=job["ca_file"]) if job.get("ca_file") else None
        if self.context is not None:
            self.context.check_hostname = False  # the test certificate names 127.0.0.1 and localhost
            if job.get("client_cert"):
                self.context.load_cert_chain(*job["client_cert"])
        self.statuses = {}  # status or error kind -> count
        self.answers = []  # [sent (seconds after start_at), status, latency (s)] of every batch answered
        self.first_connected = {}  # pilot index -> seconds after start_at its first TLS handshake ended
        self.pilots = job["roles"].get("pilot", 0)
        self.batches = []  # (stamp, last seq acknowledged) of the pilots
        self.closed_after = {}  # role -> [seconds a socket lived before the server closed it]
        self.reconnects = 0
        self.connect_errors = {}
        self.open_now = 0
        self.peak_open = 0
        self.acked = {}  # stamp -> highest seq answered 200
        self.secret = bytes.fromhex(job["secret"]) if job.get("secret") else None
        self.messages = job.get("messages", 5)
        self.end = job["start_at"] + job["duration"]

    # -- timers and the loop --------------------------------------------------------------------

    def at(self, when, conn, action):
        self.counter += 1
        heapq.heappush(self.timers, (when, self.counter, conn, action))

    def run(self):
        start = self.job["start_at"]
        ramp = self.job.get("ramp", 0)
        conns = []
        for role, count in sorted(self.job["roles"].items()):
            for index in range(count):
                conns.append(Conn(role, index))
        random.shuffle(conns)
        for position, conn in enumerate(conns):
            self.at(start + ramp * position / max(1, len(conns)), conn, self.open)
        deadline = self.end + 15
        while True:
            now = time.time()
            while self.timers and self.timers[0][0] <= now:
                _, _, conn, action = heapq.heappop(self.timers)
                action(conn)
            if now >= self.end and not self.pending_replies():
                break
            if now >= deadline:
                break
            timeout = min(1.0, max(0.0, (self.timers[0][0] - now) if self.timers else 1.0))
            for key, mask in self.selector.select(timeout):
                conn = key.data
                try:
                    self.ready(conn, mask)
                except (OSError, ssl.SSLError) as exc:
                    self.fail(conn, exc)
        for key in list(self.selector.get_map().values()):
            key.fileobj.close()

    def pending_replies(self):
        return any(key.data.state == "reading" for key in self.selector.get_map().values())

    # -- life of a connection ---------------------------------------------------------------------

    def open(self, conn):
        if time.time() >= self.end:
            return
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            if self.sources:
                sock.bind((self.sources[conn.index % len(self.sources)], 0))
            code = sock.connect_ex((self.host, self.port))
        except OSError as exc:
            sock.close()
            self.count(self.connect_errors, errno.errorcode.get(exc.errno, str(exc.errno)))
            self.at(time.time() + self.retry, conn, self.open)
            return
        if code not in (0, errno.EINPROGRESS):
            sock.close()
            self.count(self.connect_errors, errno.errorcode.get(code, str(code)))
            self.at(time.time() + self.retry, conn, self.open)
            return
        conn.sock, conn.state, conn.inbuf, conn.out = sock, "connecting", b"", b""
        conn.opened_at = time.time()
        self.open_now += 1
        self.peak_open = max(self.peak_open, self.open_now)
        self.watch(conn, WRITE)

    def watch(self, conn, events):
        if conn.events == events:
            return
        if conn.events == 0:
            self.selector.register(conn.sock, events, conn)
        elif events == 0:
            self.selector.unregister(conn.sock)
        else:
            self.selector.modify(conn.sock, events, conn)
        conn.events = events

    def ready(self, conn, mask):
        state = conn.state
        if state == "connecting":
            error = conn.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if error:
                raise OSError(error, os.strerror(error))
            return self.connected(conn)
        if state == "handshake":
            return self.handshake(conn)
        if state in ("sending", "dripping"):
            if mask & READ:
                return self.reading(conn)
            return self.sending(conn)
        return self.reading(conn)

    def connected(self, conn):
        role = conn.role
        if role == "idle":
            conn.state = "holding"
            return self.watch(conn, READ)
        if role == "half":
            conn.sock.send(HALF_HELLO)
            conn.state = "holding"
            return self.watch(conn, READ)
        self.watch(conn, 0)
        conn.sock = (
            self.context.wrap_socket(conn.sock, do_handshake_on_connect=False)
            if self.context is not None
            else conn.sock
        )
        conn.state = "handshake"
        if self.context is None:
            return self.handshaken(conn)
        self.handshake(conn)

    def handshake(self, conn):
        try:
            conn.sock.do_handshake()
        except ssl.SSLWantReadError:
            return self.watch(conn, READ)
        except ssl.SSLWantWriteError:
            return self.watch(conn, WRITE)
        self.handshaken(conn)

    def handshaken(self, conn):
        conn.state = "idle"
        self.watch(conn, READ)  # to see a close by the server
        now = time.time()
        if conn.role == "pilot" and conn.index not in self.first_connected:
            self.first_connected[conn.index] = now - self.job["start_at"]
        if conn.role in ("pilot", "rps"):
            if conn.stamp is None:
                conn.stamp = uuid.uuid4().hex
                from pilot_server import tokens

                conn.token = tokens.make_token(self.secret, conn.stamp, ttl=86400) if self.secret else None
            self.send(conn)  # a pilot connects when it has something to send
        elif conn.role == "slowloris":
            conn.out = b"POST /api/v1/logs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" * 100
            conn.state = "dripping"
            self.at(now, conn, self.drip)

    def drip(self, conn):
        if conn.state != "dripping" or conn.sock is None:
            return
        try:
            conn.sock.send(conn.out[:1])
        except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
            pass
        except (OSError, ssl.SSLError) as exc:
            return self.fail(conn, exc)
        conn.out = conn.out[1:]
        self.at(time.time() + self.job.get("drip", 1.0), conn, self.drip)

    def request(self, conn):
        from pilot_server.worker import messages as wire

        now = time.time()
        items = [
            wire.message(
                conn.stamp, conn.seq + i + 1, now, "JobAgent: no match found, waiting %d s" % i, source="JobAgent"
            )
            for i in range(self.messages)
        ]
        body = wire.encode(wire.batch(conn.stamp, items))
        conn.expect = conn.seq + self.messages
        head = "POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\nContent-Length: %d\r\n" % (
            self.job.get("path", "/api/v1/logs"),
            self.host,
            self.port,
            len(body),
        )
        if conn.token:
            head += "Authorization: Bearer %s\r\n" % conn.token
        return head.encode("ascii") + b"\r\n" + body

    def send(self, conn):
        if conn.sock is None or conn.state != "idle":
            return
        if time.time() >= self.end:
            return
        conn.out = self.request(conn)
        conn.sent_at = time.time()
        conn.state = "sending"
        self.sending(conn)

    def sending(self, conn):
        while conn.out:
            try:
                sent = conn.sock.send(conn.out)
            except ssl.SSLWantWriteError:
                return self.watch(conn, WRITE)
            except ssl.SSLWantReadError:
                return self.watch(conn, READ)
            conn.out = conn.out[sent:]
        conn.state = "reading"
        self.watch(conn, READ)

    def reading(self, conn):
        while True:
            try:
                data = conn.sock.recv(65536)
            except (ssl.SSLWantReadError, BlockingIOError):
                return
            except ssl.SSLWantWriteError:
                return self.watch(conn, WRITE)
            if not data:
                return self.closed(conn)
            if conn.state != "reading":
                continue  # an unasked reply (a timeout's status) before a close: ignore, wait for EOF
            conn.inbuf += data
            if self.reply(conn):
                return

    def reply(self, conn):
        """Parse a full reply when it is there; True when it was handled."""
        head_end = conn.inbuf.find(b"\r\n\r\n")
        if head_end < 0:
            return False
        head = conn.inbuf[:head_end].decode("latin-1").split("\r\n")
        length, close = 0, False
        for line in head[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value.strip())
            elif name == "connection" and value.strip().lower() == "close":
                close = True
        if len(conn.inbuf) < head_end + 4 + length:
            return False
        status = int(head[0].split()[1])
        body = conn.inbuf[head_end + 4 : head_end + 4 + length]
        conn.inbuf = conn.inbuf[head_end + 4 + length :]
        now = time.time()
        self.count(self.statuses, status)
        self.answers.append([round(conn.sent_at - self.job["start_at"], 3), status, round(now - conn.sent_at, 5)])
        if status == 200:
            try:
                last = json.loads(body.decode("utf-8")).get("last_seq", conn.expect)
            except ValueError:
                last = conn.expect
            conn.seq = max(conn.seq, conn.expect)
            self.acked[conn.stamp] = max(self.acked.get(conn.stamp, 0), last)
        conn.state = "idle"
        conn.due = now + (self.job.get("interval", 30) if status == 200 else self.next_retry(conn))
        if status == 200:
            conn.backoff = 0.0
        if conn.role == "rps":
            conn.due = now
        if close:
            self.shut(conn)
            self.at(conn.due, conn, self.open)
            return True
        if conn.role == "rps":
            self.send(conn)
        else:
            self.at(conn.due, conn, self.send)  # the next batch, or a retry as a pilot's spool would
        return True

    def closed(self, conn):
        """The server closed the connection."""
        lived = time.time() - conn.opened_at
        self.closed_after.setdefault(conn.role, []).append(round(lived, 2))
        in_request = conn.state in ("sending", "reading")
        if in_request:
            self.count(self.statuses, "closed-in-request")
        self.shut(conn)
        self.reconnect(conn, in_request)

    def fail(self, conn, exc):
        if conn.sock is None:
            return
        kind = type(exc).__name__  # SSLEOFError: the server closed during the handshake
        if isinstance(exc, OSError) and exc.errno and not isinstance(exc, ssl.SSLError):
            kind = errno.errorcode.get(exc.errno, kind)
        in_request = conn.state in ("sending", "reading")
        if in_request:
            self.count(self.statuses, "error-" + kind)
        elif conn.state in ("connecting", "handshake"):
            self.count(self.connect_errors, kind)
            in_request = True  # not connected: try again after the retry delay
        lived = time.time() - conn.opened_at
        self.closed_after.setdefault(conn.role, []).append(round(lived, 2))
        self.shut(conn)
        self.reconnect(conn, in_request)

    def reconnect(self, conn, in_request=False):
        self.reconnects += 1
        now = time.time()
        if conn.role in ("pilot", "rps"):
            when = now + self.next_retry(conn) if in_request or not conn.due else max(now, conn.due)
        else:
            when = now + 0.2  # an attacker comes back at once
        self.at(when, conn, self.open)

    def next_retry(self, conn):
        """A pilot's back-off, as pilot.logs.logsender's: ``retry`` s, doubling up to 120 s, reset by a 200."""
        conn.backoff = min(120.0, conn.backoff * 2) if conn.backoff else self.retry
        return conn.backoff

    def shut(self, conn):
        if conn.sock is None:
            return
        self.watch(conn, 0)
        try:
            conn.sock.close()
        except OSError:
            pass
        conn.sock = None
        conn.state = "new"
        self.open_now -= 1

    @staticmethod
    def count(table, key):
        table[key] = table.get(key, 0) + 1

    def results(self):
        return {
            "answers": self.answers,
            "pilots": self.pilots,
            "first_connected": sorted(round(value, 2) for value in self.first_connected.values()),
            "statuses": self.statuses,
            "closed_after": self.closed_after,
            "reconnects": self.reconnects,
            "connect_errors": self.connect_errors,
            "peak_open": self.peak_open,
            "acked": self.acked,
        }


def main():
    job = json.loads(sys.stdin.read())
    generator = Generator(job)
    generator.run()
    json.dump(generator.results(), sys.stdout)


if __name__ == "__main__":
    main()
