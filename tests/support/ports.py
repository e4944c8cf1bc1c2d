"""Local TCP ports for test servers."""

import socket


def free_port():
    """A port on 127.0.0.1 that nobody listens on now (a connection to it is refused)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
    finally:
        sock.close()
