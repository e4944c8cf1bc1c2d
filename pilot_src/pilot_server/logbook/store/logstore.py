"""The logbook's storage: batches in, pilots and their messages out.

Writing (``store_batches``) is one transaction for any number of batches, of any
number of pilots, written by ``groupwrite`` with a constant number of statements:
each pilot row is created if missing and locked (``SELECT ... FOR UPDATE``, stamps
in sorted order; SQLite holds its write lock), the messages not already stored are
inserted with the database's own idempotent insert (``(stamp, seq)`` is the primary
key, so a message is stored once however often it comes), each pilot row is
updated once (last seen, last seq, counts, state, result, DB12), the state
transitions go to ``pilot_states`` and the commands to ``commands`` (``states``
has the rules).

Under the row lock the messages already stored are known exactly, and the
insert's own count of the rows it added is checked against the new ones (``NotStored``
otherwise, never acknowledged), so the reply (stored, duplicates, last_seq) is exact.
The statistics' aggregates get the difference each write makes to its pilots, in the same
transaction (the group write computes it from the rows it holds, the other writes here use
``aggregates.track`` ... ``settle``).

A pilot may hold at most ``max_messages`` messages and ``max_bytes`` bytes of text and
data (``receive/quota.py`` has the defaults): a batch whose new messages would pass either
is not stored and its Outcome says why (``refused``; HTTP 413).  Messages already stored
(re-sent) are acknowledged whatever the quota.  Deadlocks and serialisation
failures are retried; a database that cannot be reached raises
``Unavailable`` (HTTP 503, or no acknowledgement for the broker) and nothing
of the transaction stays.
"""

import collections
import random
import time

from sqlalchemy import and_, func, insert, select, update

from pilot_server.logbook.store import aggregates, groupwrite, migrations, readable, schema, states
from pilot_server.logbook.store.database import Unavailable, describe, family, is_conflict, is_unavailable, make_engine
from pilot_server.logbook.store.groupwrite import (
    Batch,
    NotStored,  # noqa: F401
    Outcome,  # noqa: F401
    Refusal,  # noqa: F401
    clean_text,  # noqa: F401
    encode_data,  # noqa: F401
)

Rejection = collections.namedtuple("Rejection", "origin reason body stamp")
Report = collections.namedtuple("Report", "stamp previous state changed")


class NotFound(LookupError):
    """No such pilot (HTTP 404); str() is one line."""


CONFLICT_RETRIES = 5


class Store(object):
    """``lost_after``: seconds after which a silent Running pilot reads as Lost (0: never);
    ``max_messages``, ``max_bytes``: a pilot's quota (None: none)."""

    def __init__(self, engine, lost_after=states.DEFAULT_LOST_AFTER, max_messages=None, max_bytes=None):
        self.engine = engine
        self.kind = family(engine)
        self.lost_after = lost_after
        self.max_messages, self.max_bytes = max_messages, max_bytes

    @classmethod
    def open(
        cls,
        url=None,
        migrate=True,
        log=None,
        pool_size=8,
        lost_after=states.DEFAULT_LOST_AFTER,
        max_messages=None,
        max_bytes=None,
    ):
        """Open the database at ``url``; make or upgrade its schema unless ``migrate`` is false."""
        engine = make_engine(url, pool_size=pool_size)
        try:
            if migrate:
                migrations.migrate(engine, log=log)
            else:
                migrations.check_current(engine)
        except Exception as exc:
            engine.dispose()
            if is_unavailable(exc):
                raise Unavailable(describe(exc))
            raise
        return cls(engine, lost_after, max_messages, max_bytes)

    def close(self):
        self.engine.dispose()

    # -- writing ---------------------------------------------------------------------------

    def _insert_ignore(self, table):
        return groupwrite.insert_ignore(self.kind, table)

    def _write(self, work):
        """Run work(connection) in one write transaction; retry conflicts; map outages."""
        attempt = 0
        while True:
            attempt += 1
            try:
                lock = self.engine.write_lock
                if lock is not None:
                    with lock:
                        return self._transaction(work)
                return self._transaction(work)
            except Exception as exc:
                if is_conflict(exc) and attempt < CONFLICT_RETRIES:
                    time.sleep(random.uniform(0.005, 0.02) * attempt)
                    continue
                if is_unavailable(exc):
                    raise Unavailable(describe(exc))
                raise

    write = _write  # for the sibling modules (retention, maintenance)

    def _transaction(self, work):
        with self.engine.connect() as connection:
            connection.execution_options(logbook_write=True)
            with connection.begin():
                return work(connection)

    def store_batches(self, batches, rejections=()):
        """Store whole batches (and record rejections) in one transaction; [Outcome] per batch."""
        batches = list(batches)
        rejections = list(rejections)
        if not batches and not rejections:
            return []
        return self._write(lambda connection: self._store(connection, batches, rejections))

    def store_batch(self, stamp, messages):
        return self.store_batches([Batch(stamp, messages)])[0]

    def _store(self, connection, batches, rejections):
        now = time.time()
        outcomes = (
            groupwrite.write_group(self.kind, connection, batches, now, self.max_messages, self.max_bytes)
            if batches
            else []
        )
        if rejections:
            connection.execute(insert(schema.rejected), [self._rejection_row(item, now) for item in rejections])
        return outcomes

    def _record(self, connection, stamp, transitions, source):
        if transitions:
            connection.execute(
                insert(schema.pilot_states),
                [{"stamp": stamp, "state": state, "time": when, "source": source} for state, when in transitions],
            )

    def _rejection_row(self, item, now):
        body = item.body
        if isinstance(body, bytes):
            body = body[: schema.BODY_KEPT * 4].decode("utf-8", "replace")
        return {
            "time": now,
            "origin": clean_text(item.origin)[:255],
            "reason": clean_text(item.reason)[:1000],
            "stamp": clean_text(item.stamp)[: schema.STAMP_LENGTH] if isinstance(item.stamp, str) else None,
            "body": clean_text(body[: schema.BODY_KEPT]),
        }

    def reject(self, origin, reason, body, stamp=None):
        self.store_batches([], [Rejection(origin, reason, body, stamp)])

    def register(self, stamp, ce=None, queue=None, site=None, vo=None, submitted=None):
        """A submitter registers a pilot (status Submitted unless it already reported); True if new."""
        fields = {"ce": ce, "queue": queue, "site": site, "vo": vo}
        fields = dict((key, clean_text(value)[: schema.INFO_LENGTH]) for key, value in fields.items() if value)

        def work(connection):
            now = time.time()
            pilots = schema.pilots
            tracker = aggregates.track(connection, [stamp])
            created = (
                connection.execute(
                    self._insert_ignore(pilots).values(
                        stamp=stamp,
                        first_seen=now,
                        last_seen=now,
                        last_seq=0,
                        message_count=0,
                        status=states.SUBMITTED,
                        status_time=now,
                        status_source=states.SUBMITTER,
                        registered=True,
                        submitted_time=submitted or now,
                        **fields,
                    )
                ).rowcount
                == 1
            )
            if created:
                self._record(connection, stamp, [(states.SUBMITTED, submitted or now)], states.SUBMITTER)
            else:
                connection.execute(
                    update(pilots)
                    .where(pilots.c.stamp == stamp)
                    .values(registered=True, submitted_time=submitted or now, **fields)
                )
            tracker.settle()
            return created

        return self._write(work)

    def report_state(self, stamp, state, when=None):
        """A submitter reports a batch state; a Report, or NotFound / states.BadState /
        states.InvalidTransition.  Reporting the current state again changes nothing."""
        state = states.reportable(state)

        def work(connection):
            pilots = schema.pilots
            now = time.time()
            row = connection.execute(
                select(pilots.c.status, pilots.c.running_time).where(pilots.c.stamp == stamp).with_for_update()
            ).first()
            if row is None:
                raise NotFound("unknown pilot stamp %s" % stamp[:130])
            if not states.check_report(row.status, state):
                return Report(stamp, row.status, state, False)
            values = {"status": state, "status_time": now, "status_source": states.SUBMITTER, "last_seen": now}
            if state == states.RUNNING and row.running_time is None:
                values["running_time"] = when or now
            tracker = aggregates.track(connection, [stamp])
            connection.execute(update(pilots).where(pilots.c.stamp == stamp).values(**values))
            tracker.settle()
            self._record(connection, stamp, [(state, when or now)], states.SUBMITTER)
            return Report(stamp, row.status, state, True)

        return self._write(work)

    def mark_lost(self, now=None, limit=1000):
        """Running pilots not heard of for ``lost_after`` seconds become Lost (at most ``limit``);
        returns how many.  The service calls it periodically; reads show Lost meanwhile."""
        if not self.lost_after:
            return 0
        now = time.time() if now is None else now
        pilots = schema.pilots

        def work(connection):
            rows = connection.execute(
                select(pilots.c.stamp, pilots.c.last_seen)
                .where(and_(pilots.c.status == states.RUNNING, pilots.c.last_seen < now - self.lost_after))
                .limit(limit)
                .with_for_update()
            ).all()
            if rows:
                tracker = aggregates.track(connection, [row.stamp for row in rows])
                connection.execute(
                    update(pilots)
                    .where(pilots.c.stamp.in_([row.stamp for row in rows]))
                    .values(status=states.LOST, status_time=now, status_source=states.LOGBOOK)
                )
                tracker.settle()
                connection.execute(
                    insert(schema.pilot_states),
                    [
                        {
                            "stamp": row.stamp,
                            "state": states.LOST,
                            "time": row.last_seen + self.lost_after,
                            "source": states.LOGBOOK,
                        }
                        for row in rows
                    ],
                )
            return len(rows)

        return self._write(work)

    # -- reading ---------------------------------------------------------------------------

    def _read(self, work):
        try:
            with self.engine.connect() as connection:
                return work(connection)
        except Exception as exc:
            if is_unavailable(exc):
                raise Unavailable(describe(exc))
            raise

    def known(self, stamp):
        pilots = schema.pilots
        return self._read(
            lambda c: c.execute(select(pilots.c.stamp).where(pilots.c.stamp == stamp)).first() is not None
        )

    def registered(self, stamp):
        pilots = schema.pilots
        return bool(
            self._read(lambda c: c.execute(select(pilots.c.registered).where(pilots.c.stamp == stamp)).scalar())
        )

    read = _read  # for the sibling modules (stats, export)

    def shown(self, row, now=None):
        """A pilot row as read (``readable``): its state with Lost applied (see ``states.effective``)."""
        row = readable.row(row)
        row["status"] = states.effective(
            row["status"], row["last_seen"], time.time() if now is None else now, self.lost_after
        )
        return row

    def pilot(self, stamp):
        pilots = schema.pilots
        row = self._read(lambda c: c.execute(select(pilots).where(pilots.c.stamp == stamp)).mappings().first())
        return self.shown(row) if row else None

    def states(self, stamp):
        """The pilot's state transitions, oldest first: [{state, time, source}]."""
        table = schema.pilot_states
        query = select(table.c.state, table.c.time, table.c.source).where(table.c.stamp == stamp).order_by(table.c.id)
        return [readable.row(row) for row in self._read(lambda c: c.execute(query).mappings().all())]

    def commands(self, stamp):
        """The pilot's command rows, by start time: [{name, status, start, duration, failure_type, reason}]."""
        table = schema.commands
        query = (
            select(table.c.name, table.c.status, table.c.start, table.c.duration, table.c.failure_type, table.c.reason)
            .where(table.c.stamp == stamp)
            .order_by(table.c.start, table.c.name)
        )
        return [readable.row(row) for row in self._read(lambda c: c.execute(query).mappings().all())]

    def messages(self, stamp, after=0, limit=None):
        """A pilot's messages with seq > after, in seq order (``readable``: data decoded)."""
        messages = schema.messages
        query = select(messages).where(and_(messages.c.stamp == stamp, messages.c.seq > after)).order_by(messages.c.seq)
        if limit:
            query = query.limit(limit)
        return [readable.message(row) for row in self._read(lambda c: c.execute(query).mappings().all())]

    def pilots(
        self, site=None, ce=None, status=None, vo=None, since=None, until=None, limit=100, queue=None, version=None
    ):
        """Pilots seen (last_seen) in [since, until], newest first, filtered by exact values
        (``status`` as read: Running excludes, Lost includes, the silent Running ones)."""
        pilots = schema.pilots
        now = time.time()
        query = select(pilots).where(
            *self.pilot_conditions(
                now,
                site=site,
                ce=ce,
                vo=vo,
                queue=queue,
                version=version,
                status=states.canonical(status) if status else None,
                since=since,
                until=until,
            )
        )
        query = query.order_by(pilots.c.last_seen.desc(), pilots.c.stamp).limit(limit)
        return [self.shown(row, now) for row in self._read(lambda c: c.execute(query).mappings().all())]

    def pilot_conditions(
        self, now, site=None, ce=None, queue=None, version=None, vo=None, status=None, since=None, until=None
    ):
        """The WHERE conditions on ``pilots`` of the usual filters: exact site/ce/queue/version/vo,
        ``status`` as shown at ``now`` (Lost for a silent Running pilot), last seen in [since, until].
        Each uses a (column, last_seen) index."""
        pilots = schema.pilots
        where = [
            pilots.c[name] == value
            for name, value in (("site", site), ("ce", ce), ("queue", queue), ("version", version), ("vo", vo))
            if value
        ]
        if status:
            where.append(states.status_filter(pilots.c.status, pilots.c.last_seen, status, now, self.lost_after))
        if since is not None:
            where.append(pilots.c.last_seen >= since)
        if until is not None:
            where.append(pilots.c.last_seen <= until)
        return where

    def rejected(self, limit=100):
        rejected = schema.rejected
        query = select(rejected).order_by(rejected.c.id.desc()).limit(limit)
        return [readable.row(row) for row in self._read(lambda c: c.execute(query).mappings().all())]

    def counts(self):
        """(pilots, messages, rejected) rows: for tests and the benchmark."""

        def work(connection):
            return tuple(
                connection.execute(select(func.count()).select_from(table)).scalar()
                for table in (schema.pilots, schema.messages, schema.rejected)
            )

        return self._read(work)
