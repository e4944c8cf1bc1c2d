"""The logbook's storage: batches in, pilots and their messages out.

Writing (``store_batches``) is one transaction for any number of batches:

1. each pilot row is created if missing (insert-or-ignore) and locked
   (``SELECT ... FOR UPDATE``; SQLite holds its write lock), stamps in sorted
   order so that two writers never wait on each other in a cycle;
2. the batch's messages not already stored are inserted with the database's
   own idempotent insert (SQLite ``INSERT OR IGNORE``, PostgreSQL
   ``ON CONFLICT DO NOTHING``, MySQL/MariaDB ``INSERT IGNORE``): ``(stamp, seq)``
   is the primary key, so a message is stored once however often it comes;
3. the pilot row is updated (last seen, last seq, counts, status, result).

Under the row lock the messages already stored are known exactly, so the
reply (stored, duplicates, last_seq) is exact.  Deadlocks and serialisation
failures are retried; a database that cannot be reached raises
``Unavailable`` (HTTP 503, or no acknowledgement for the broker) and nothing
of the transaction stays.
"""

import collections
import json
import time

from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.dialects import mysql, postgresql

from pilot_server.logbook import migrations, pilotinfo, schema
from pilot_server.logbook.database import (Unavailable, describe, family, is_conflict, is_unavailable,
                                           make_engine)

Batch = collections.namedtuple("Batch", "stamp messages")
Outcome = collections.namedtuple("Outcome", "stored duplicates last_seq")
Rejection = collections.namedtuple("Rejection", "origin reason body stamp")

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
    def __init__(self, engine):
        self.engine = engine
        self.kind = family(engine)

    @classmethod
    def open(cls, url=None, migrate=True, log=None, pool_size=8):
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
        return cls(engine)

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
                    time.sleep(0.01 * attempt)
                    continue
                if is_unavailable(exc):
                    raise Unavailable(describe(exc))
                raise

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
        outcomes = []
        for batch in batches:
            outcomes.append(self._store_one(connection, batch, rows[batch.stamp], now))
        if rejections:
            connection.execute(insert(schema.rejected), [self._rejection_row(item, now) for item in rejections])
        return outcomes

    def _lock_pilot(self, connection, stamp, now):
        pilots = schema.pilots
        connection.execute(self._insert_ignore(pilots).values(
            stamp=stamp, first_seen=now, last_seen=now, last_seq=0, message_count=0,
            status=pilotinfo.RUNNING, status_time=now))
        row = connection.execute(select(pilots).where(pilots.c.stamp == stamp).with_for_update()).mappings().one()
        return dict(row)

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
        changes = self._pilot_changes(pilot, new, now)
        connection.execute(update(schema.pilots).where(schema.pilots.c.stamp == batch.stamp).values(**changes))
        pilot.update(changes)
        return Outcome(len(new), len(batch.messages) - len(new), pilot["last_seq"])

    def _pilot_changes(self, pilot, new, now):
        changes = {"last_seen": now}
        if not new:
            return changes
        facts = pilotinfo.summarise(new)
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
        status = pilotinfo.next_status(pilot["status"], result is not None, result and result["status"])
        if result is not None:
            changes.update({"exit_code": result["exit_code"], "failed_command": result["failed_command"],
                            "reason": result["reason"], "result_time": facts["result_time"]})
        if status != pilot["status"]:
            changes.update({"status": status, "status_time": now})
        return changes

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
            created = connection.execute(self._insert_ignore(pilots).values(
                stamp=stamp, first_seen=now, last_seen=now, last_seq=0, message_count=0,
                status=pilotinfo.SUBMITTED, status_time=now, registered=True,
                submitted_time=submitted or now, **fields)).rowcount == 1
            if not created:
                connection.execute(update(pilots).where(pilots.c.stamp == stamp).values(
                    registered=True, submitted_time=submitted or now, **fields))
            return created

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

    def pilot(self, stamp):
        pilots = schema.pilots
        row = self._read(lambda c: c.execute(select(pilots).where(pilots.c.stamp == stamp)).mappings().first())
        return dict(row) if row else None

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

    def pilots(self, site=None, ce=None, status=None, vo=None, since=None, until=None, limit=100):
        """Pilots seen (last_seen) in [since, until], newest first, filtered by exact values."""
        pilots = schema.pilots
        query = select(pilots)
        for column, value in (("site", site), ("ce", ce), ("status", status), ("vo", vo)):
            if value:
                query = query.where(pilots.c[column] == value)
        if since is not None:
            query = query.where(pilots.c.last_seen >= since)
        if until is not None:
            query = query.where(pilots.c.last_seen <= until)
        query = query.order_by(pilots.c.last_seen.desc(), pilots.c.stamp).limit(limit)
        return [dict(row) for row in self._read(lambda c: c.execute(query).mappings().all())]

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
