"""A small STOMP 1.2 sender: what a pilot does, for the tests and the benchmark.

``StompSender(host, port).send(destination, body, headers)`` sends one SEND
frame with a receipt and returns when the broker's RECEIPT arrives (so the
message is the broker's: with RabbitMQ, a persistent message on a durable
queue is then on disk).  ``send_many`` pipelines frames and waits for all the
receipts.  An ERROR frame raises ``StompError``; a lost connection raises
OSError: the caller resends what was not receipted.
"""

import itertools
import socket


class StompError(Exception):
    pass


def _escape(value):
    return value.replace("\\", "\\\\").replace("\r", "\\r").replace("\n", "\\n").replace(":", "\\c")


def frame(command, headers, body=b""):
    lines = [command]
    for key, value in headers.items():
        lines.append("%s:%s" % (_escape(key), _escape(str(value))))
    return ("\n".join(lines) + "\n\n").encode("utf-8") + body + b"\x00"


class StompSender(object):
    def __init__(self, host, port, login="guest", passcode="guest", vhost="/", timeout=30, tls_context=None):
        sock = socket.create_connection((host, port), timeout=timeout)
        if tls_context is not None:
            sock = tls_context.wrap_socket(sock, server_hostname=host)
        self.sock = sock
        self.buffer = b""
        self.receipts = itertools.count(1)
        self.sock.sendall(
            frame(
                "CONNECT",
                {"accept-version": "1.2", "host": vhost, "login": login, "passcode": passcode, "heart-beat": "0,0"},
            )
        )
        command, headers, _ = self.read_frame()
        if command != "CONNECTED":
            raise StompError("broker refused the connection: %s" % headers.get("message", command))

    def read_frame(self):
        while True:
            # skip heart-beat newlines between frames
            self.buffer = self.buffer.lstrip(b"\r\n")
            head_end = self.buffer.find(b"\n\n")
            if head_end >= 0:
                head = self.buffer[:head_end].decode("utf-8").split("\n")
                headers = {}
                for line in head[1:]:
                    key, _, value = line.partition(":")
                    headers.setdefault(key, value)
                length = int(headers["content-length"]) if "content-length" in headers else None
                if length is not None and len(self.buffer) >= head_end + 2 + length + 1:
                    body = self.buffer[head_end + 2 : head_end + 2 + length]
                    self.buffer = self.buffer[head_end + 2 + length + 1 :]
                    return head[0], headers, body
                if length is None:
                    end = self.buffer.find(b"\x00", head_end)
                    if end >= 0:
                        body = self.buffer[head_end + 2 : end]
                        self.buffer = self.buffer[end + 1 :]
                        return head[0], headers, body
            data = self.sock.recv(65536)
            if not data:
                raise OSError("the broker closed the connection")
            self.buffer += data

    def send_many(self, destination, items):
        """items: [(body bytes, headers dict)]; waits for every receipt."""
        wanted = set()
        payload = []
        for body, headers in items:
            receipt = "r%d" % next(self.receipts)
            wanted.add(receipt)
            full = {
                "destination": destination,
                "content-type": "application/json",
                "persistent": "true",
                "content-length": len(body),
                "receipt": receipt,
            }
            full.update(headers or {})
            payload.append(frame("SEND", full, body))
        self.sock.sendall(b"".join(payload))
        while wanted:
            command, headers, body = self.read_frame()
            if command == "RECEIPT":
                wanted.discard(headers.get("receipt-id"))
            elif command == "ERROR":
                raise StompError("broker error: %s" % headers.get("message", body[:200]))

    def send(self, destination, body, headers=None):
        self.send_many(destination, [(body, headers)])

    def close(self):
        try:
            self.sock.sendall(frame("DISCONNECT", {}))
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
