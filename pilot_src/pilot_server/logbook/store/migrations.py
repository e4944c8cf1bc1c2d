"""The logbook's schema, made and upgraded by the logbook itself.

``schema_version`` has one row per applied step (version, description, time).
``migrate(engine)`` applies the missing steps in order, under a lock (so that a
``serve`` and a ``consume`` starting together do not race), and refuses a
database whose schema is newer than this code.  Each step keeps its own
frozen table definitions: never edit a released step, add a new one (and
update ``schema.py`` to the result; a test compares the two).
"""

import time

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Double,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    inspect,
    select,
    text,
)

from pilot_server.logbook.store import schema
from pilot_server.logbook.store.database import DatabaseError, family

LOCK_NAME = "pilots2_logbook_migrate"
PG_LOCK_KEY = 727012606


def _step1_tables(connection):
    """Pilots, their messages, rejected batches."""
    md = MetaData()
    stamp, long_text = schema.stamp_type, schema.long_text
    Table(
        "pilots",
        md,
        Column("stamp", stamp(), primary_key=True),
        Column("first_seen", Double, nullable=False),
        Column("last_seen", Double, nullable=False),
        Column("last_seq", BigInteger, nullable=False),
        Column("message_count", BigInteger, nullable=False),
        Column("last_message_time", Double),
        Column("heartbeat_time", Double),
        Column("vo", String(128)),
        Column("site", String(128)),
        Column("ce", String(128)),
        Column("queue", String(128)),
        Column("version", String(64)),
        Column("status", String(32), nullable=False),
        Column("status_time", Double, nullable=False),
        Column("exit_code", Integer),
        Column("failed_command", String(64)),
        Column("reason", Text),
        Column("result_time", Double),
    )
    Table(
        "messages",
        md,
        Column("stamp", stamp(), primary_key=True),
        Column("seq", BigInteger, primary_key=True, autoincrement=False),
        Column("time", Double, nullable=False),
        Column("received", Double, nullable=False),
        Column("kind", String(16), nullable=False),
        Column("level", String(8), nullable=False),
        Column("source", String(64), nullable=False),
        Column("phase", String(64)),
        Column("status", String(64)),
        Column("stream", String(8)),
        Column("text", long_text(), nullable=False),
        Column("data", long_text()),
    )
    rejected = Table(
        "rejected",
        md,
        Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
        Column("time", Double, nullable=False),
        Column("origin", String(255), nullable=False),
        Column("stamp", String(128)),
        Column("reason", String(1000), nullable=False),
        Column("body", long_text(), nullable=False),
    )
    Index("ix_rejected_time", rejected.c.time)
    md.create_all(connection)


def _step2_registration_and_list_indexes(connection):
    """Registration columns on pilots; indexes for the list pages (site, CE, status, VO, last seen)."""
    boolean = Boolean().compile(dialect=connection.dialect)
    double = Double().compile(dialect=connection.dialect)
    connection.execute(
        text(
            "ALTER TABLE pilots ADD COLUMN registered %s DEFAULT %s NOT NULL"
            % (boolean, "0" if family(connection) == "sqlite" else "false")
        )
    )
    connection.execute(text("ALTER TABLE pilots ADD COLUMN submitted_time %s" % double))
    md = MetaData()
    pilots = Table(
        "pilots",
        md,
        Column("last_seen", Double),
        Column("site", String(128)),
        Column("ce", String(128)),
        Column("status", String(32)),
        Column("vo", String(128)),
    )
    for name, columns in (
        ("ix_pilots_last_seen", ("last_seen",)),
        ("ix_pilots_site_seen", ("site", "last_seen")),
        ("ix_pilots_ce_seen", ("ce", "last_seen")),
        ("ix_pilots_status_seen", ("status", "last_seen")),
        ("ix_pilots_vo_seen", ("vo", "last_seen")),
    ):
        Index(name, *[pilots.c[column] for column in columns]).create(connection)


def _step3_states_commands(connection):
    """Pilot state history, per-command rows, state source, running time and DB12 on pilots."""
    double = Double().compile(dialect=connection.dialect)
    short = String(16).compile(dialect=connection.dialect)
    for column, kind in (("status_source", short), ("running_time", double), ("db12", double)):
        connection.execute(text("ALTER TABLE pilots ADD COLUMN %s %s" % (column, kind)))
    md = MetaData()
    stamp = schema.stamp_type
    states = Table(
        "pilot_states",
        md,
        Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
        Column("stamp", stamp(), nullable=False),
        Column("state", String(16), nullable=False),
        Column("time", Double, nullable=False),
        Column("source", String(16), nullable=False),
    )
    Table(
        "commands",
        md,
        Column("stamp", stamp(), primary_key=True),
        Column("name", String(64), primary_key=True),
        Column("status", String(16), nullable=False),
        Column("start", Double),
        Column("duration", Double),
        Column("failure_type", String(64)),
        Column("reason", String(1000)),
    )
    Index("ix_pilot_states_stamp", states.c.stamp, states.c.time)
    md.create_all(connection)
    pilots = Table(
        "pilots", MetaData(), Column("last_seen", Double), Column("queue", String(128)), Column("version", String(64))
    )
    Index("ix_pilots_queue_seen", pilots.c.queue, pilots.c.last_seen).create(connection)
    Index("ix_pilots_version_seen", pilots.c.version, pilots.c.last_seen).create(connection)


def _step4_statistics_indexes(connection):
    """Covering indexes for the statistics of a time window: the pilots seen in it (stamp, DB12,
    submission and running times read from the index alone) and their command rows (status, name,
    duration).  With a million pilots on SQLite, the last day's statistics take half the time."""
    md = MetaData()
    stamp = schema.stamp_type
    pilots = Table(
        "pilots",
        md,
        Column("last_seen", Double),
        Column("stamp", stamp()),
        Column("db12", Double),
        Column("submitted_time", Double),
        Column("running_time", Double),
    )
    commands = Table(
        "commands",
        md,
        Column("stamp", stamp()),
        Column("status", String(16)),
        Column("name", String(64)),
        Column("duration", Double),
    )
    Index(
        "ix_pilots_seen_figures",
        pilots.c.last_seen,
        pilots.c.stamp,
        pilots.c.db12,
        pilots.c.submitted_time,
        pilots.c.running_time,
    ).create(connection)
    Index(
        "ix_commands_stamp_figures", commands.c.stamp, commands.c.status, commands.c.name, commands.c.duration
    ).create(connection)


def _step5_message_bytes(connection):
    """The bytes of each pilot's messages (text and data), counted from this step on: the per-pilot quota."""
    bigint = BigInteger().compile(dialect=connection.dialect)
    connection.execute(text("ALTER TABLE pilots ADD COLUMN message_bytes %s DEFAULT 0 NOT NULL" % bigint))


def _step6_statistics_aggregates(connection):
    """The statistics' pre-aggregated counts (aggregates.py), filled from the rows already stored."""
    from pilot_server.logbook.store import aggregates

    md = MetaData()
    Table(
        "stats_buckets",
        md,
        Column("grain", String(1), primary_key=True),
        Column("bucket", BigInteger, primary_key=True, autoincrement=False),
        Column("fdim", String(8), primary_key=True),
        Column("fvalue", schema.exact_text(128), primary_key=True),
        Column("counts", schema.long_text(), nullable=False),
    )
    md.create_all(connection)
    aggregates.rebuild(connection)


def _step7_reason_text_index(connection):
    """An index for the failure-reason text search (textsearch.py): trigrams on PostgreSQL, FTS5 on SQLite."""
    from pilot_server.logbook.store import textsearch

    textsearch.create(connection)


def _step8_failure_text_index(connection):
    """The pilots that have a failure text, newest first, for the reason search (textsearch.py)."""
    from pilot_server.logbook.store import textsearch

    textsearch.create_failure_index(connection)


def _step9_running_seen_index(connection):
    """The Running pilots by last seen, with the statistics' filter and group columns: the statistics
    count those of the Lost cutoff's hour from this index alone (stats.py).  A partial index, which
    MariaDB lacks: there the count reads ix_pilots_status_seen and the rows, as before."""
    if family(connection) in ("sqlite", "postgresql"):
        connection.execute(
            text(
                "CREATE INDEX ix_pilots_running_seen ON pilots (status, last_seen, site, ce, queue, version, vo) "
                "WHERE status = 'Running'"
            )
        )


STEPS = [
    (1, "pilots, messages, rejected", _step1_tables),
    (2, "pilot registration; list indexes on site, ce, status, vo and last_seen", _step2_registration_and_list_indexes),
    (
        3,
        "pilot_states, commands; state source, running time and DB12 of pilots; queue and version indexes",
        _step3_states_commands,
    ),
    (4, "covering indexes for the statistics of a time window", _step4_statistics_indexes),
    (5, "bytes of each pilot's messages (per-pilot quota)", _step5_message_bytes),
    (6, "pre-aggregated statistics per hour and day of last seen", _step6_statistics_aggregates),
    (7, "text index of the failure reasons", _step7_reason_text_index),
    (8, "last-seen index of the pilots with a failure text", _step8_failure_text_index),
    (9, "last-seen index of the Running pilots (the statistics' Lost cutoff)", _step9_running_seen_index),
]
LATEST = STEPS[-1][0]


def current_version(connection):
    if not inspect(connection).has_table("schema_version"):
        return 0
    value = connection.execute(
        select(schema.schema_version.c.version).order_by(schema.schema_version.c.version.desc()).limit(1)
    ).scalar()
    return value or 0


def _locked(engine):
    """A connection holding the migration lock (released when it closes)."""
    connection = engine.connect()
    kind = family(engine)
    if kind == "sqlite":
        connection.execution_options(logbook_write=True)
    elif kind == "mysql":
        got = connection.execute(text("SELECT GET_LOCK(:name, 120)"), {"name": LOCK_NAME}).scalar()
        connection.commit()
        if got != 1:
            connection.close()
            raise DatabaseError("could not take the schema migration lock within 120 s")
    return connection


def migrate(engine, target=None, log=None):
    """Bring the schema to ``target`` (default: the latest); return the steps applied."""
    target = LATEST if target is None else target
    applied = []
    kind = family(engine)
    connection = _locked(engine)
    try:
        if kind == "postgresql":
            with connection.begin():
                connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": PG_LOCK_KEY})
        with connection.begin():
            schema.schema_version.create(connection, checkfirst=True)
        if kind == "mysql":
            connection.commit()
        version = _version_checked(connection)
        for number, description, step in STEPS:
            if number <= version or number > target:
                continue
            # one transaction per step: on PostgreSQL and SQLite a failed step leaves nothing behind;
            # the version is read again under the lock (another process may have just migrated)
            with connection.begin():
                if current_version(connection) >= number:
                    continue
                step(connection)
                connection.execute(
                    schema.schema_version.insert().values(version=number, description=description, applied=time.time())
                )
            applied.append((number, description))
            if log:
                log("schema: applied step %d (%s)" % (number, description))
    finally:
        try:
            if kind == "postgresql":
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": PG_LOCK_KEY})
                connection.commit()
            elif kind == "mysql":
                connection.execute(text("SELECT RELEASE_LOCK(:name)"), {"name": LOCK_NAME})
                connection.commit()
        finally:
            connection.close()
    return applied


def _version_checked(connection):
    with connection.begin():
        version = current_version(connection)
    if version > LATEST:
        raise DatabaseError(
            "the database schema is version %d, newer than this pilotctl knows (%d): "
            "upgrade pilotctl" % (version, LATEST)
        )
    return version


def check_current(engine):
    """Raise DatabaseError unless the schema is exactly the latest (readers do not migrate)."""
    with engine.connect() as connection:
        version = current_version(connection)
    if version != LATEST:
        raise DatabaseError(
            "the database schema is version %d, this pilotctl needs %d: run "
            "'pilotctl logbook serve' or 'consume' once to migrate it" % (version, LATEST)
        )
    return version
