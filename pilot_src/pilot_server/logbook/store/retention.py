"""Retention: pilots not seen for longer than their VO's retention are removed, whole.

``Retention(default_days=30, per_vo={"lhcb": 90})``; ``purge(store, retention)``
removes, in transactions of at most ``batch`` pilots, each pilot whose
``last_seen`` is older than its VO's retention (the default for a VO not
listed and for pilots without a VO) with its messages, command rows and
state history.  ``dry_run`` counts instead (messages from the pilots'
``message_count``).  ``purge_rejected(store, retention)`` removes the
``rejected`` rows older than ``rejected_days`` (default 7), in transactions of
at most ``REJECTED_BATCH`` rows.  The service runs both periodically
(``serve``), an administrator by hand (``pilotctl logbook purge``).
"""

import collections
import math
import time

from sqlalchemy import and_, delete, func, or_, select

from pilot_server.logbook.store import aggregates, schema

DEFAULT_DAYS = 30
DEFAULT_REJECTED_DAYS = 7
BATCH = 500
REJECTED_BATCH = 5000
DAY = 86400.0

Purged = collections.namedtuple("Purged", "pilots messages commands states")


class Retention(object):
    def __init__(self, default_days=DEFAULT_DAYS, per_vo=None, rejected_days=DEFAULT_REJECTED_DAYS):
        self.default_days = check_days(default_days, "--retention-default")
        self.per_vo = dict((vo, check_days(days, "--retention %s" % vo)) for vo, days in (per_vo or {}).items())
        self.rejected_days = check_days(rejected_days, "--retention-rejected")

    @classmethod
    def from_options(cls, default_days, items, rejected_days=None):
        """From --retention-default DAYS, repeated --retention VO=DAYS and --retention-rejected DAYS;
        ValueError (one line)."""
        per_vo = {}
        for item in items or ():
            vo, sep, days = item.partition("=")
            vo = vo.strip()
            if not sep or not vo:
                raise ValueError("--retention wants VO=DAYS, not %r" % item[:60])
            if vo in per_vo:
                raise ValueError("--retention %s is given twice" % vo)
            per_vo[vo] = parse_days(days, "--retention %s" % vo)
        default = DEFAULT_DAYS if default_days is None else parse_days(default_days, "--retention-default")
        rejected = DEFAULT_REJECTED_DAYS if rejected_days is None else parse_days(rejected_days, "--retention-rejected")
        return cls(default, per_vo, rejected)

    def describe(self):
        parts = ["%s %g d" % (vo, days) for vo, days in sorted(self.per_vo.items())]
        return ", ".join(parts + ["others %g d" % self.default_days, "rejected batches %g d" % self.rejected_days])


def parse_days(text, what):
    try:
        value = float(str(text).strip())
    except ValueError:
        raise ValueError("%s: %r is not a number of days" % (what, str(text)[:40]))
    return check_days(value, what)


def check_days(value, what):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError("%s: the retention must be a positive number of days" % what)
    return value


def _groups(retention, now):
    """(condition on pilots, cutoff) per VO rule."""
    pilots = schema.pilots
    groups = [(pilots.c.vo == vo, now - days * DAY) for vo, days in sorted(retention.per_vo.items())]
    others = pilots.c.vo.is_(None)
    if retention.per_vo:
        others = or_(others, pilots.c.vo.notin_(sorted(retention.per_vo)))
    groups.append((others, now - retention.default_days * DAY))
    return groups


def purge(store, retention, now=None, batch=BATCH, dry_run=False, max_batches=None):
    """Remove (or, with dry_run, count) the pilots past their retention; returns Purged totals.

    ``max_batches``: stop after that many transactions (the service's periodic round), None: all."""
    now = time.time() if now is None else now
    pilots = schema.pilots
    totals = [0, 0, 0, 0]
    done = 0
    for condition, cutoff in _groups(retention, now):
        expired = and_(condition, pilots.c.last_seen < cutoff)
        if dry_run:
            count, messages = store.read(
                lambda c: c.execute(select(func.count(), func.sum(pilots.c.message_count)).where(expired)).one()
            )
            totals[0] += count
            totals[1] += int(messages or 0)
            continue
        while max_batches is None or done < max_batches:
            counts = store.write(lambda connection: _purge_batch(connection, expired, batch))
            done += 1
            totals = [a + b for a, b in zip(totals, counts)]
            if counts[0] < batch:
                break
    return Purged(*totals)


def _purge_batch(connection, expired, batch):
    pilots = schema.pilots
    stamps = connection.execute(select(pilots.c.stamp).where(expired).limit(batch).with_for_update()).scalars().all()
    if not stamps:
        return (0, 0, 0, 0)
    tracker = aggregates.track(connection, stamps)  # their counts leave the statistics with them
    counts = []
    for table in (schema.messages, schema.commands, schema.pilot_states):
        counts.append(connection.execute(delete(table).where(table.c.stamp.in_(stamps))).rowcount)
    connection.execute(delete(pilots).where(pilots.c.stamp.in_(stamps)))
    tracker.settle()
    return (len(stamps),) + tuple(counts)


def purge_rejected(store, retention, now=None, batch=REJECTED_BATCH, dry_run=False, max_batches=None):
    """Remove (or count) the ``rejected`` rows older than ``retention.rejected_days``; how many."""
    now = time.time() if now is None else now
    rejected = schema.rejected
    old = rejected.c.time < now - retention.rejected_days * DAY
    if dry_run:
        return int(store.read(lambda c: c.execute(select(func.count()).select_from(rejected).where(old)).scalar()))
    total, done = 0, 0

    def work(connection):
        # ids first: MySQL refuses a LIMIT in a subquery of its own DELETE
        ids = connection.execute(select(rejected.c.id).where(old).order_by(rejected.c.id).limit(batch)).scalars().all()
        if ids:
            connection.execute(delete(rejected).where(rejected.c.id.in_(ids)))
        return len(ids)

    while max_batches is None or done < max_batches:
        count = store.write(work)
        done += 1
        total += count
        if count < batch:
            break
    return total
