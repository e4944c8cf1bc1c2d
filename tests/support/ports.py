"""Local TCP ports for test servers (Python 2.6 syntax: the node tests use it too)."""

import random
import socket


def free_port():
    """A port on 127.0.0.1 that nobody listens on now (a connection to it is refused)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
    finally:
        sock.close()


def port_open(port, host="127.0.0.1", timeout=0.5):
    """True when something accepts a TCP connection on host:port."""
    try:
        socket.create_connection((host, port), timeout=timeout).close()
        return True
    except (socket.error, OSError):
        return False


def ports_below_ephemeral(count, low=20000, high=32000):
    """``count`` distinct ports free now on 127.0.0.1, between low and high: below the kernel's
    ephemeral range, where outgoing connections take theirs, so that none of those takes one while
    a server starts (another process may still take one first: callers retry)."""
    ports = []
    while len(ports) < count:
        port = random.randrange(low, high)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind(("127.0.0.1", port))
        except (socket.error, OSError):
            continue
        finally:
            sock.close()
        if port not in ports:
            ports.append(port)
    return ports
