"""The index of the failure-reason text search (the pilot list's ``reason`` filter).

The search is a case-insensitive substring of the pilot's ``reason`` or ``failed_command``
(``ILIKE '%text%'``).  Without an index it reads pilots newest first until a page is full,
which at a million pilots costs 0.2 s for a rare reason.  Schema step 7 adds, per database:

* PostgreSQL: trigram GIN indexes (``pg_trgm``, ``gin_trgm_ops``) on both columns, which the
  planner may use for ``ILIKE`` (for the newest-first page it often prefers the last_seen
  index: forcing the trigram path, e.g. through a MATERIALIZED CTE, helps rare texts and hurts
  common ones, so it is left to the planner); without the extension (``CREATE EXTENSION``
  refused) the step leaves the search as it was;
* SQLite: ``pilots_text``, an FTS5 table with the trigram tokenizer over the two columns
  (external content: the ``pilots`` rows, kept by triggers); the search adds
  ``rowid IN (... MATCH ...)`` to the same ``ILIKE`` conditions, so the answer is the same;
* MySQL/MariaDB: nothing (their FULLTEXT indexes find words, not substrings).

A text of fewer than 3 characters has no trigram: it is searched without the index.
"""

from sqlalchemy import text

from pilot_server.logbook.store.database import family

FTS_TABLE = "pilots_text"
MIN_LENGTH = 3

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
            connection.execute(text("CREATE INDEX ix_pilots_%s_trgm ON pilots USING gin (%s gin_trgm_ops)"
                                    % (column, column)))


def rebuild(connection):
    """Refill SQLite's text index from the pilot rows (after a VACUUM, which renumbers rowids)."""
    if family(connection) == "sqlite" and has_index(connection):
        connection.exec_driver_sql("INSERT INTO pilots_text(pilots_text) VALUES ('rebuild')")


def has_index(connection):
    if family(connection) != "sqlite":
        return False
    return connection.exec_driver_sql("SELECT count(*) FROM sqlite_master WHERE name = 'pilots_text'").scalar() > 0


def sqlite_condition(store, wanted):
    """``pilots.rowid IN (the rows whose reason or failed command holds wanted)`` on a SQLite logbook
    with the index, else None (another database, or too short a text)."""
    from sqlalchemy import column, literal_column

    if store.kind != "sqlite" or len(wanted) < MIN_LENGTH:
        return None
    known = getattr(store, "_text_index", None)
    if known is None:
        known = store._text_index = store.read(has_index)
    if not known:
        return None
    phrase = '"%s"' % wanted.replace('"', '""')
    found = text("SELECT rowid FROM pilots_text WHERE pilots_text MATCH :phrase").bindparams(
        phrase=phrase).columns(column("rowid"))
    return literal_column("pilots.rowid").in_(found)
