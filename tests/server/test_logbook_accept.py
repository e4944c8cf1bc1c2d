"""The front's accept pacing (receive/front.py): while many requests are in progress, new connections
are admitted a few at a time, so that their TLS handshakes do not take the CPU of those requests."""

import socket
import threading

from logbook_support import sqlite_store, start_server  # noqa: F401
from support.waiting import wait_until


def on_loop(front, function):
    """function() run on the front's event loop; its result."""
    done, result = threading.Event(), []

    def call():
        try:
            result.append(function())
        finally:
            done.set()

    front.loop.call_soon_threadsafe(call)
    assert done.wait(30)
    return result[0]


def test_new_connections_are_paced_while_many_requests_are_in_progress(sqlite_store):
    from pilot_server.logbook.receive import front as frontmodule

    running = start_server(sqlite_store, threads=1)
    front = running.front
    sockets = []
    try:
        on_loop(front, lambda: front.loop.remove_reader(front.sock.fileno()))  # connections wait in the backlog
        for _ in range(20):
            sockets.append(socket.create_connection(front.address, timeout=30))

        def accept_while_busy():
            front.in_progress += frontmodule.BUSY + 1
            try:
                front.accept()
            finally:
                front.in_progress -= frontmodule.BUSY + 1
            return len(front.connections), front.accept_paused

        assert on_loop(front, accept_while_busy) == (frontmodule.ACCEPT_BUSY, True)
        # the pause ends by itself, and with no request waiting the others are admitted at once
        wait_until(lambda: len(front.connections) == 20 and not front.accept_paused, what="all admitted")
    finally:
        for sock in sockets:
            sock.close()
        running.stop()
