"""Polling with a deadline, instead of fixed sleeps (Python 2.6 syntax: the node tests use it too)."""

import time

_clock = getattr(time, "monotonic", time.time)  # no monotonic clock before Python 3.3


def wait_for(predicate, timeout=20.0, step=0.05):
    """Poll ``predicate`` until it is true or ``timeout`` seconds have passed; return its last value."""
    deadline = _clock() + timeout
    value = predicate()
    while not value and _clock() < deadline:
        time.sleep(step)
        value = predicate()
    return value


def wait_until(predicate, timeout=30.0, interval=0.05, what="condition"):
    """Return predicate()'s first true value; AssertionError naming `what` after timeout seconds."""
    value = wait_for(predicate, timeout, interval)
    if not value:
        raise AssertionError("timed out after %.0f s waiting for %s" % (timeout, what))
    return value
