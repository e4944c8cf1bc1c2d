"""The logbook's tables as they are after the last migration (``migrations.LATEST``).

Times are UTC epoch seconds (double precision) everywhere: the same type on
every database, sortable, and what the pilot sends.  ``*_seen`` and
``received`` are the logbook's clock; ``time`` and ``*_time`` of messages are
the pilot's.

The indexes on (site|ce|queue|version|status|vo, last_seen) and last_seen serve
the list page and the statistics with a million pilots (filter, newest first).
Issue 7 adds ``pilot_states`` (each state transition: time and source),
``commands`` (one row per command a pilot ran, so that statistics never scan
messages) and the pilot's state source, first running time and DB12 score.
Migration 5 adds ``message_bytes`` (the per-pilot quota, ``receive/quota.py``).
Migration 6 adds ``stats_buckets``, the statistics' exact pre-aggregated counts (aggregates.py).
Migrations 7 and 8 add the failure-reason search's indexes (textsearch.py), and migration 9 a
partial index of the Running pilots by last seen (the statistics' Lost cutoff, stats.py); they
differ per database, so they are not declared here.
"""

from sqlalchemy import BigInteger, Boolean, Column, Double, Index, Integer, MetaData, String, Table, Text, false
from sqlalchemy.dialects import mysql

STAMP_LENGTH = 128
NAME_LENGTH = 64  # pilot.messages.MAX_NAME
INFO_LENGTH = 128  # vo, site, ce, queue
BODY_KEPT = 4096  # characters of a rejected body that are kept
REASON_LENGTH = 1000  # a command's failure reason, as kept in ``commands``


def stamp_type():
    # MySQL/MariaDB compare strings case-insensitively by default: stamps are compared exactly
    return String(STAMP_LENGTH).with_variant(mysql.VARCHAR(STAMP_LENGTH, collation="utf8mb4_bin"), "mysql", "mariadb")


def exact_text(length):
    # a key compared exactly on MySQL/MariaDB too (site names differing in case are two sites)
    return String(length).with_variant(mysql.VARCHAR(length, collation="utf8mb4_bin"), "mysql", "mariadb")


def long_text():
    # MySQL's TEXT holds 64 KiB of bytes; a 64 Ki-character text needs up to 256 KiB
    return Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")


metadata = MetaData()

schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("description", String(200), nullable=False),
    Column("applied", Double, nullable=False),
)

pilots = Table(
    "pilots",
    metadata,
    Column("stamp", stamp_type(), primary_key=True),
    Column("first_seen", Double, nullable=False),
    Column("last_seen", Double, nullable=False),
    Column("last_seq", BigInteger, nullable=False, default=0),
    Column("message_count", BigInteger, nullable=False, default=0),
    Column("last_message_time", Double),
    Column("heartbeat_time", Double),
    Column("vo", String(INFO_LENGTH)),
    Column("site", String(INFO_LENGTH)),
    Column("ce", String(INFO_LENGTH)),
    Column("queue", String(INFO_LENGTH)),
    Column("version", String(NAME_LENGTH)),
    Column("status", String(32), nullable=False),
    Column("status_time", Double, nullable=False),
    Column("exit_code", Integer),
    Column("failed_command", String(NAME_LENGTH)),
    Column("reason", Text),
    Column("result_time", Double),
    # added by migration 2: registration by a submitter
    Column("registered", Boolean, nullable=False, server_default=false()),
    Column("submitted_time", Double),
    # added by migration 3: states, DB12
    Column("status_source", String(16)),
    Column("running_time", Double),
    Column("db12", Double),
    # added by migration 5: what the pilot's messages hold (text and data, UTF-8 bytes), for its quota
    Column("message_bytes", BigInteger, nullable=False, server_default="0"),
)

pilot_states = Table(
    "pilot_states",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("stamp", stamp_type(), nullable=False),
    Column("state", String(16), nullable=False),
    Column("time", Double, nullable=False),
    Column("source", String(16), nullable=False),
)

commands = Table(
    "commands",
    metadata,
    Column("stamp", stamp_type(), primary_key=True),
    Column("name", String(NAME_LENGTH), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("start", Double),
    Column("duration", Double),
    Column("failure_type", String(NAME_LENGTH)),
    Column("reason", String(REASON_LENGTH)),
)

messages = Table(
    "messages",
    metadata,
    Column("stamp", stamp_type(), primary_key=True),
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("time", Double, nullable=False),
    Column("received", Double, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("level", String(8), nullable=False),
    Column("source", String(NAME_LENGTH), nullable=False),
    Column("phase", String(NAME_LENGTH)),
    Column("status", String(NAME_LENGTH)),
    Column("stream", String(8)),
    Column("text", long_text(), nullable=False),
    Column("data", long_text()),
)

rejected = Table(
    "rejected",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("time", Double, nullable=False),
    Column("origin", String(255), nullable=False),
    Column("stamp", String(STAMP_LENGTH)),
    Column("reason", String(1000), nullable=False),
    Column("body", long_text(), nullable=False),
)

# added by migration 6: pre-aggregated statistics (aggregates.py)
stats_buckets = Table(
    "stats_buckets",
    metadata,
    Column("grain", String(1), primary_key=True),
    Column("bucket", BigInteger, primary_key=True, autoincrement=False),
    Column("fdim", String(8), primary_key=True),
    Column("fvalue", exact_text(INFO_LENGTH), primary_key=True),
    Column("counts", long_text(), nullable=False),
)

# migration 1
Index("ix_rejected_time", rejected.c.time)
# migration 2
Index("ix_pilots_last_seen", pilots.c.last_seen)
Index("ix_pilots_site_seen", pilots.c.site, pilots.c.last_seen)
Index("ix_pilots_ce_seen", pilots.c.ce, pilots.c.last_seen)
Index("ix_pilots_status_seen", pilots.c.status, pilots.c.last_seen)
Index("ix_pilots_vo_seen", pilots.c.vo, pilots.c.last_seen)
# migration 3
Index("ix_pilots_queue_seen", pilots.c.queue, pilots.c.last_seen)
Index("ix_pilots_version_seen", pilots.c.version, pilots.c.last_seen)
Index("ix_pilot_states_stamp", pilot_states.c.stamp, pilot_states.c.time)
# migration 4
Index(
    "ix_pilots_seen_figures",
    pilots.c.last_seen,
    pilots.c.stamp,
    pilots.c.db12,
    pilots.c.submitted_time,
    pilots.c.running_time,
)
Index("ix_commands_stamp_figures", commands.c.stamp, commands.c.status, commands.c.name, commands.c.duration)
