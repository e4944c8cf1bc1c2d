"""The logbook's storage: batches in, pilots and their messages out.

Writing (``store_batches``) is one transaction for any number of batches:

1. each pilot row is created if missing (insert-or-ignore) and locked
   (``SELECT ... FOR UPDATE``; SQLite holds its write lock), stamps in sorted
   order so that two writers never wait on each other in a cycle;
2. the batch's messages not already stored are inserted with the database's
   own idempotent insert (SQLite ``INSERT OR IGNORE``, PostgreSQL
   ``ON CONFLICT DO NOTHING``, MySQL/MariaDB ``INSERT IGNORE``): ``(stamp, seq)``
   is the primary key, so a message is stored once however often it comes;
3. the pilot row is updated (last seen, last seq, counts, state, result, DB12),
   each state transition is kept in ``pilot_states`` and each command the
   batch tells about in ``commands`` (``states`` has the rules);
4. the statistics' aggregates get the difference the batches made to these
   pilots (``aggregates.track`` ... ``settle``).

Under the row lock the messages already stored are known exactly, so the
reply (stored, duplicates, last_seq) is exact.  Deadlocks and serialisation
failures are retried; a database that cannot be reached raises
``Unavailable`` (HTTP 503, or no acknowledgement for the broker) and nothing
of the transaction stays.
"""

import collections
import json
import random
import time

from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.dialects import mysql, postgresql

from pilot_server.logbook.store import aggregates, migrations, pilotinfo, schema, states
from pilot_server.logbook.store.database import (Unavailable, describe, family, is_conflict, is_unavailable,
                                           make_engine)

Batch = collections.namedtuple("Batch", "stamp messages")
Outcome = collections.namedtuple("Outcome", "stored duplicates last_seq")
Rejection = collections.namedtuple("Rejection", "origin reason body stamp")
Report = collections.namedtuple("Report", "stamp previous state changed")


class NotFound(LookupError):
    """No such pilot (HTTP 404); str() is one line."""

CONFLICT_RETRIES = 5
INSERT_COLUMNS = ("stamp", "seq", "time", "received", "kind", "level", "source", "phase", "status", "stream",
                  "text", "data")


def clean_text(value):
    """Text every database stores: no NUL (PostgreSQL refuses it), no unpaired surrogate."""
    if value is None:
        return None
    if "\x00" in value:
        value = value.replace("\x00", "\ufffd")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "replace").decode("utf-8")
    return value


def encode_data(data):
    if data is None:
        return None
    return json.dumps(data, separators=(",", ":"), sort_keys=True)


class Store(object):
    """``lost_after``: seconds after which a silent Running pilot reads as Lost (0: never)."""

    def __init__(self, engine, lost_after=states.DEFAULT_LOST_AFTER):
        self.engine = engine
        self.kind = family(engine)
        self.lost_after = lost_after

    @classmethod
    def open(cls, url=None, migrate=True, log=None, pool_size=8, lost_after=states.DEFAULT_LOST_AFTER):
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
        return cls(engine, lost_after)

    def close(self):
        self.engine.dispose()

    # -- writing ---------------------------------------------------------------------------

    def _insert_ignore(self, table):
        if self.kind == "sqlite":
            return insert(table).prefix_with("OR IGNORE")
        if self.kind == "postgresql":
            return postgresql.insert(table).on_conflict_do_nothing()
        return mysql.insert(table).prefix_with("IGNORE")

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
        rows = {}
        for stamp in sorted(set(batch.stamp for batch in batches)):
            rows[stamp] = self._lock_pilot(connection, stamp, now)
            rows[stamp]["created"] = rows[stamp]["status_source"] is None and not rows[stamp]["registered"] \
                and rows[stamp]["message_count"] == 0
        outcomes = []
        tracker = aggregates.track(connection, rows, [stamp for stamp in rows if rows[stamp]["created"]])
        for batch in batches:
            outcomes.append(self._store_one(connection, batch, rows[batch.stamp], now))
        tracker.settle()
        if rejections:
            connection.execute(insert(schema.rejected), [self._rejection_row(item, now) for item in rejections])
        return outcomes

    def _lock_pilot(self, connection, stamp, now):
        pilots = schema.pilots
        locked = select(pilots).where(pilots.c.stamp == stamp).with_for_update()
        row = connection.execute(locked).mappings().first()
        if row is not None:  # the usual case: no INSERT IGNORE, whose shared lock invites deadlocks
            return dict(row)
        # a pilot nobody registered starts as Submitted, without a source, inside this transaction:
        # its messages make it Running (and record that transition) before anyone can see it
        connection.execute(self._insert_ignore(pilots).values(
            stamp=stamp, first_seen=now, last_seen=now, last_seq=0, message_count=0,
            status=states.SUBMITTED, status_time=now))
        return dict(connection.execute(locked).mappings().one())

    def _insert_messages(self, connection, rows):
        """The bulk insert, on the driver's fast path within the SQLAlchemy transaction.

        SQLAlchemy's generic executemany costs 3-5 times more per row here (and with
        psycopg2 it sends one INSERT per row), which is most of the ingestion time.
        """
        columns = ", ".join(INSERT_COLUMNS)
        if self.kind == "postgresql":
            from psycopg2.extras import execute_values

            cursor = connection.connection.cursor()
            try:
                execute_values(cursor, "INSERT INTO messages (%s) VALUES %%s ON CONFLICT DO NOTHING" % columns,
                               rows, page_size=1000)
            finally:
                cursor.close()
            return
        marker = "?" if self.kind == "sqlite" else "%s"
        verb = "INSERT OR IGNORE" if self.kind == "sqlite" else "INSERT IGNORE"
        connection.exec_driver_sql("%s INTO messages (%s) VALUES (%s)"
                                   % (verb, columns, ", ".join([marker] * len(INSERT_COLUMNS))), rows)

    def _existing(self, connection, stamp, seqs):
        messages = schema.messages
        low, high = min(seqs), max(seqs)
        if high - low < 4 * len(seqs) + 100:
            where = and_(messages.c.stamp == stamp, messages.c.seq.between(low, high))
        else:
            where = and_(messages.c.stamp == stamp, messages.c.seq.in_(sorted(seqs)))
        return set(connection.execute(select(messages.c.seq).where(where)).scalars())

    def _store_one(self, connection, batch, pilot, now):
        seqs = set(item["seq"] for item in batch.messages)
        existing = self._existing(connection, batch.stamp, seqs)
        new, seen = [], set(existing)
        for item in batch.messages:
            if item["seq"] in seen:
                continue
            seen.add(item["seq"])
            new.append(item)
        if new:
            self._insert_messages(connection, [
                (batch.stamp, item["seq"], item["time"], now, item["kind"], item["level"],
                 clean_text(item["source"]), clean_text(item.get("phase")), clean_text(item.get("status")),
                 item.get("stream"), clean_text(item["text"]), encode_data(item.get("data")))
                for item in new])
        facts = pilotinfo.summarise(new) if new else None
        changes, transitions = self._pilot_changes(pilot, new, facts, now)
        connection.execute(update(schema.pilots).where(schema.pilots.c.stamp == batch.stamp).values(**changes))
        pilot.update(changes)
        pilot["created"] = False
        self._record(connection, batch.stamp, transitions, states.PILOT)
        if facts and facts["commands"]:
            self._merge_commands(connection, batch.stamp, facts["commands"])
        return Outcome(len(new), len(batch.messages) - len(new), pilot["last_seq"])

    def _pilot_changes(self, pilot, new, facts, now):
        changes = {"last_seen": now}
        if not new:
            if pilot["created"]:
                changes.update(status=states.RUNNING, status_time=now, status_source=states.PILOT,
                               running_time=now)
                return changes, [(states.RUNNING, now)]
            return changes, []
        newest = max(new, key=lambda item: item["seq"])
        if newest["seq"] > pilot["last_seq"]:
            changes["last_seq"] = newest["seq"]
            changes["last_message_time"] = newest["time"]
        changes["message_count"] = pilot["message_count"] + len(new)
        if facts["heartbeat_time"] and facts["heartbeat_time"] > (pilot["heartbeat_time"] or 0):
            changes["heartbeat_time"] = facts["heartbeat_time"]
        for field, value in facts["info"].items():
            if not pilot.get(field):
                changes[field] = value
        result = facts["result"]
        path = states.after_messages(pilot["status"], result and result["status"],
                                     pilot["result_time"] is not None, pilot["status_source"])
        if result is not None:
            changes.update({"exit_code": result["exit_code"], "failed_command": result["failed_command"],
                            "reason": result["reason"], "result_time": facts["result_time"]})
            if facts["db12"] is not None:
                changes["db12"] = facts["db12"]
        transitions = [(state, facts["result_time"] if result is not None and state in states.FINAL
                        else facts["first_time"]) for state in path]
        if path:
            changes.update({"status": path[-1], "status_time": now, "status_source": states.PILOT})
            if states.RUNNING in path and pilot["running_time"] is None:
                changes["running_time"] = facts["first_time"]
        return changes, transitions

    def _record(self, connection, stamp, transitions, source):
        if transitions:
            connection.execute(insert(schema.pilot_states), [
                {"stamp": stamp, "state": state, "time": when, "source": source} for state, when in transitions])

    def _merge_commands(self, connection, stamp, rows):
        """Insert or complete the pilot's command rows (a late 'started' never reopens a finished one)."""
        commands = schema.commands
        existing = dict((row.name, row.status) for row in connection.execute(
            select(commands.c.name, commands.c.status).where(and_(commands.c.stamp == stamp,
                                                                  commands.c.name.in_(sorted(rows))))))
        fresh = []
        for name, fields in sorted(rows.items()):
            fields = dict(fields)
            if name not in existing:
                fresh.append(dict({"stamp": stamp, "name": name, "status": "running", "start": None,
                                   "duration": None, "failure_type": None, "reason": None}, **fields))
                continue
            if fields.get("status") == "running" and existing[name] != "running":
                continue  # a late 'started' after the end
            if fields:
                connection.execute(update(commands).where(and_(commands.c.stamp == stamp,
                                                               commands.c.name == name)).values(**fields))
        if fresh:
            connection.execute(insert(commands), fresh)

    def _rejection_row(self, item, now):
        body = item.body
        if isinstance(body, bytes):
            body = body[:schema.BODY_KEPT * 4].decode("utf-8", "replace")
        return {"time": now, "origin": clean_text(item.origin)[:255], "reason": clean_text(item.reason)[:1000],
                "stamp": clean_text(item.stamp)[:schema.STAMP_LENGTH] if isinstance(item.stamp, str) else None,
                "body": clean_text(body[:schema.BODY_KEPT])}

    def reject(self, origin, reason, body, stamp=None):
        self.store_batches([], [Rejection(origin, reason, body, stamp)])

    def register(self, stamp, ce=None, queue=None, site=None, vo=None, submitted=None):
        """A submitter registers a pilot (status Submitted unless it already reported); True if new."""
        fields = {"ce": ce, "queue": queue, "site": site, "vo": vo}
        fields = dict((key, clean_text(value)[:schema.INFO_LENGTH]) for key, value in fields.items() if value)

        def work(connection):
            now = time.time()
            pilots = schema.pilots
            tracker = aggregates.track(connection, [stamp])
            created = connection.execute(self._insert_ignore(pilots).values(
                stamp=stamp, first_seen=now, last_seen=now, last_seq=0, message_count=0,
                status=states.SUBMITTED, status_time=now, status_source=states.SUBMITTER, registered=True,
                submitted_time=submitted or now, **fields)).rowcount == 1
            if created:
                self._record(connection, stamp, [(states.SUBMITTED, submitted or now)], states.SUBMITTER)
            else:
                connection.execute(update(pilots).where(pilots.c.stamp == stamp).values(
                    registered=True, submitted_time=submitted or now, **fields))
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
            row = connection.execute(select(pilots.c.status, pilots.c.running_time)
                                     .where(pilots.c.stamp == stamp).with_for_update()).first()
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
                .limit(limit).with_for_update()).all()
            if rows:
                tracker = aggregates.track(connection, [row.stamp for row in rows])
                connection.execute(update(pilots).where(pilots.c.stamp.in_([row.stamp for row in rows])).values(
                    status=states.LOST, status_time=now, status_source=states.LOGBOOK))
                tracker.settle()
                connection.execute(insert(schema.pilot_states), [
                    {"stamp": row.stamp, "state": states.LOST, "time": row.last_seen + self.lost_after,
                     "source": states.LOGBOOK} for row in rows])
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
        return self._read(lambda c: c.execute(select(pilots.c.stamp).where(pilots.c.stamp == stamp))
                          .first() is not None)

    def registered(self, stamp):
        pilots = schema.pilots
        return bool(self._read(lambda c: c.execute(select(pilots.c.registered)
                                                   .where(pilots.c.stamp == stamp)).scalar()))

    read = _read  # for the sibling modules (stats, export)

    def shown(self, row, now=None):
        """A pilot row as read: its state with Lost applied (see ``states.effective``)."""
        row = dict(row)
        row["status"] = states.effective(row["status"], row["last_seen"], time.time() if now is None else now,
                                         self.lost_after)
        return row

    def pilot(self, stamp):
        pilots = schema.pilots
        row = self._read(lambda c: c.execute(select(pilots).where(pilots.c.stamp == stamp)).mappings().first())
        return self.shown(row) if row else None

    def states(self, stamp):
        """The pilot's state transitions, oldest first: [{state, time, source}]."""
        table = schema.pilot_states
        query = (select(table.c.state, table.c.time, table.c.source).where(table.c.stamp == stamp)
                 .order_by(table.c.id))
        return [dict(row) for row in self._read(lambda c: c.execute(query).mappings().all())]

    def commands(self, stamp):
        """The pilot's command rows, by start time: [{name, status, start, duration, failure_type, reason}]."""
        table = schema.commands
        query = (select(table.c.name, table.c.status, table.c.start, table.c.duration, table.c.failure_type,
                        table.c.reason).where(table.c.stamp == stamp).order_by(table.c.start, table.c.name))
        return [dict(row) for row in self._read(lambda c: c.execute(query).mappings().all())]

    def messages(self, stamp, after=0, limit=None):
        """A pilot's messages with seq > after, in seq order (data decoded)."""
        messages = schema.messages
        query = (select(messages).where(and_(messages.c.stamp == stamp, messages.c.seq > after))
                 .order_by(messages.c.seq))
        if limit:
            query = query.limit(limit)
        rows = self._read(lambda c: c.execute(query).mappings().all())
        result = []
        for row in rows:
            item = dict(row)
            item["data"] = json.loads(item["data"]) if item["data"] else None
            result.append(item)
        return result

    def pilots(self, site=None, ce=None, status=None, vo=None, since=None, until=None, limit=100, queue=None,
               version=None):
        """Pilots seen (last_seen) in [since, until], newest first, filtered by exact values
        (``status`` as read: Running excludes, Lost includes, the silent Running ones)."""
        pilots = schema.pilots
        now = time.time()
        query = select(pilots).where(*self.pilot_conditions(
            now, site=site, ce=ce, vo=vo, queue=queue, version=version,
            status=states.canonical(status) if status else None, since=since, until=until))
        query = query.order_by(pilots.c.last_seen.desc(), pilots.c.stamp).limit(limit)
        return [self.shown(row, now) for row in self._read(lambda c: c.execute(query).mappings().all())]

    def pilot_conditions(self, now, site=None, ce=None, queue=None, version=None, vo=None, status=None,
                         since=None, until=None):
        """The WHERE conditions on ``pilots`` of the usual filters: exact site/ce/queue/version/vo,
        ``status`` as shown at ``now`` (Lost for a silent Running pilot), last seen in [since, until].
        Each uses a (column, last_seen) index."""
        pilots = schema.pilots
        where = [pilots.c[name] == value for name, value in (("site", site), ("ce", ce), ("queue", queue),
                                                               ("version", version), ("vo", vo)) if value]
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
        return [dict(row) for row in self._read(lambda c: c.execute(query).mappings().all())]

    def counts(self):
        """(pilots, messages, rejected) rows: for tests and the benchmark."""
        def work(connection):
            return tuple(connection.execute(select(func.count()).select_from(table)).scalar()
                         for table in (schema.pilots, schema.messages, schema.rejected))
        return self._read(work)
