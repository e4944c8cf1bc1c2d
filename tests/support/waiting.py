"""Polling with a deadline, instead of fixed sleeps."""

import time


def wait_until(predicate, timeout=30.0, interval=0.05, what="condition"):
    """Return predicate()'s first true value; AssertionError naming `what` after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.0f s waiting for %s" % (timeout, what))
        time.sleep(interval)
