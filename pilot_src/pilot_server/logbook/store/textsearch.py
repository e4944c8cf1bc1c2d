"""The index of the failure-reason text search (the pilot list's ``reason`` filter).

The search is a case-insensitive substring of the pilot's ``reason`` or ``failed_command``
(``ILIKE '%text%'``).  Without an index it reads pilots newest first until a page is full,
which at a million pilots costs 0.2 s for a rare reason.  Schema step 7 adds, per database:

* PostgreSQL: trigram GIN indexes (``pg_trgm``, ``gin_trgm_ops``) on both columns, which the
  planner uses for ``ILIKE`` with a rare text (a common one is read newest first, step 8);
  without the extension (``CREATE EXTENSION`` refused) the step leaves the search as it was;
* SQLite: ``pilots_text``, an FTS5 table with the trigram tokenizer over the two columns
  (external content: the ``pilots`` rows, kept by triggers); the search adds
  ``rowid IN (... MATCH ...)`` to the same ``ILIKE`` conditions, so the answer is the same,
  unless a probe finds the text common among the newest pilots with a failure text (``_common``);
* MySQL/MariaDB: nothing (their FULLTEXT indexes find words, not substrings).

A text of fewer than 3 characters has no trigram: it is searched without the index.

Schema step 8 adds ``ix_pilots_failure_seen``, an index on (last_seen, stamp) of only the pilots
that have a reason or a failed command (PostgreSQL and SQLite; MySQL/MariaDB have no partial
indexes).  The newest-first walk of ``ix_pilots_last_seen`` first reads every pilot that is
running or waiting, which has no reason (at a million pilots, 82,000 rows before the first
match); this index holds only the pilots the search can find, so a common text fills its page
after a few hundred rows, while a rare one is still cheaper through the trigram indexes: the
planner chooses from the column statistics.  ``conditions`` repeats the index's WHERE in the
query, since SQLite uses a partial index only when the query holds its condition.
"""

from sqlalchemy import or_, text

from pilot_server.logbook.store import schema
from pilot_server.logbook.store.database import family

FTS_TABLE = "pilots_text"
MIN_LENGTH = 3
FAILURE_INDEX = "ix_pilots_failure_seen"
PROBE_ROWS, PROBE_MATCHES = 2000, 50

_SQLITE = [
    "CREATE VIRTUAL TABLE pilots_text USING fts5(reason, failed_command, content='pilots', "
    "content_rowid='rowid', tokenize='trigram')",
    "CREATE TRIGGER pilots_text_insert AFTER INSERT ON pilots BEGIN "
    "INSERT INTO pilots_text(rowid, reason, failed_command) VALUES (new.rowid, new.reason, new.failed_command); END",
    "CREATE TRIGGER pilots_text_delete AFTER DELETE ON pilots BEGIN "
    "INSERT INTO pilots_text(pilots_text, rowid, reason, failed_command) "
    "VALUES ('delete', old.rowid, old.reason, old.failed_command); END",
    "CREATE TRIGGER pilots_text_update AFTER UPDATE OF reason, failed_command ON pilots BEGIN "
    "INSERT INTO pilots_text(pilots_text, rowid, reason, failed_command) "
    "VALUES ('delete', old.rowid, old.reason, old.failed_command); "
    "INSERT INTO pilots_text(rowid, reason, failed_command) VALUES (new.rowid, new.reason, new.failed_command); END",
    "INSERT INTO pilots_text(pilots_text) VALUES ('rebuild')",
]


def create(connection):
    """Schema step 7 (inside its transaction)."""
    kind = family(connection)
    if kind == "sqlite":
        if not connection.exec_driver_sql("SELECT sqlite_compileoption_used('ENABLE_FTS5')").scalar():
            return
        for statement in _SQLITE:
            connection.exec_driver_sql(statement)
    elif kind == "postgresql":
        savepoint = connection.begin_nested()
        try:
            connection.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
            savepoint.commit()
        except Exception:  # no extension or no right to create it: the search works without the index
            savepoint.rollback()
            return
        for column in ("reason", "failed_command"):
            connection.execute(
                text("CREATE INDEX ix_pilots_%s_trgm ON pilots USING gin (%s gin_trgm_ops)" % (column, column))
            )


def has_failure_text():
    """The WHERE of ``ix_pilots_failure_seen``, as the query must spell it."""
    pilots = schema.pilots
    return or_(pilots.c.reason.isnot(None), pilots.c.failed_command.isnot(None))


def create_failure_index(connection):
    """Schema step 8 (inside its transaction)."""
    if family(connection) in ("sqlite", "postgresql"):
        connection.execute(
            text(
                "CREATE INDEX %s ON pilots (last_seen, stamp) "
                "WHERE reason IS NOT NULL OR failed_command IS NOT NULL" % FAILURE_INDEX
            )
        )


def conditions(store, wanted, pattern):
    """The WHERE conditions of the search for ``wanted`` (a case-insensitive substring of the
    reason or the failed command; ``pattern``: its LIKE pattern, escaped with \\), with what lets
    each database use its indexes."""
    pilots = schema.pilots
    found = [
        or_(pilots.c.reason.ilike(pattern, escape="\\"), pilots.c.failed_command.ilike(pattern, escape="\\")),
        has_failure_text(),
    ]
    indexed = sqlite_condition(store, wanted, pattern)
    if indexed is not None:
        found.append(indexed)
    return found


def _common(store, pattern):
    """Whether the newest PROBE_ROWS pilots with a failure text hold PROBE_MATCHES matches: then a
    page is read fastest from ``ix_pilots_failure_seen`` newest first (SQLite's planner would collect
    every FTS5 match and sort them, 0.1 s for a text of 6 % of a million pilots)."""
    probe = text(
        "SELECT count(*) FROM (SELECT reason, failed_command FROM pilots "
        "WHERE reason IS NOT NULL OR failed_command IS NOT NULL ORDER BY last_seen DESC, stamp DESC "
        "LIMIT :rows) WHERE lower(reason) LIKE lower(:pattern) ESCAPE '\\' "
        "OR lower(failed_command) LIKE lower(:pattern) ESCAPE '\\'"
    )
    return store.read(lambda c: c.execute(probe, {"rows": PROBE_ROWS, "pattern": pattern}).scalar()) >= PROBE_MATCHES


def rebuild(connection):
    """Refill SQLite's text index from the pilot rows (after a VACUUM, which renumbers rowids)."""
    if family(connection) == "sqlite" and has_index(connection):
        connection.exec_driver_sql("INSERT INTO pilots_text(pilots_text) VALUES ('rebuild')")


def has_index(connection):
    if family(connection) != "sqlite":
        return False
    return connection.exec_driver_sql("SELECT count(*) FROM sqlite_master WHERE name = 'pilots_text'").scalar() > 0


def sqlite_condition(store, wanted, pattern):
    """``pilots.rowid IN (the rows whose reason or failed command holds wanted)`` on a SQLite logbook
    with the index, else None (another database, too short a text, or one common among the newest
    pilots with a failure text)."""
    from sqlalchemy import column, literal_column

    if store.kind != "sqlite" or len(wanted) < MIN_LENGTH:
        return None
    known = getattr(store, "_text_index", None)
    if known is None:
        known = store._text_index = store.read(has_index)
    if not known or _common(store, pattern):
        return None
    phrase = '"%s"' % wanted.replace('"', '""')
    found = (
        text("SELECT rowid FROM pilots_text WHERE pilots_text MATCH :phrase")
        .bindparams(phrase=phrase)
        .columns(column("rowid"))
    )
    return literal_column("pilots.rowid").in_(found)
