"""Database engines for the logbook, from a URL, and how their errors are classified.

* no URL: ``sqlite:///logbook.sqlite`` in the current directory, in WAL mode;
* ``postgresql://user@host/db`` (psycopg2), ``mysql+pymysql://user@host/db``
  or ``mariadb+pymysql://...`` (utf8mb4 is added when the URL names no charset).

Passwords never appear in what this module prints: use ``safe_url``.
"""

import os
import sqlite3
import threading
import time

import sqlalchemy
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

DEFAULT_FILE = "logbook.sqlite"


class DatabaseError(Exception):
    """A database URL or schema problem; str() is one line."""


class Unavailable(Exception):
    """The database cannot be reached or is not answering: retry later (HTTP 503)."""


def default_url():
    return "sqlite:///" + os.path.abspath(DEFAULT_FILE)


def normalise_url(url):
    """Return a SQLAlchemy URL object; plain ``postgresql://`` and ``mysql://`` get our drivers."""
    try:
        parsed = make_url(url or default_url())
    except ArgumentError as exc:
        raise DatabaseError("bad database URL: %s" % exc)
    driver = parsed.drivername
    if driver in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg2")
    elif driver in ("mysql", "mariadb"):
        parsed = parsed.set(drivername=driver + "+pymysql")
    family = parsed.get_backend_name()
    if family in ("mysql", "mariadb") and "charset" not in parsed.query:
        parsed = parsed.update_query_dict({"charset": "utf8mb4"})
    if family not in ("sqlite", "postgresql", "mysql", "mariadb"):
        raise DatabaseError("unsupported database %r: use sqlite, postgresql or mysql/mariadb" % family)
    return parsed


def safe_url(url):
    return normalise_url(url).render_as_string(hide_password=True)


def family(engine):
    """'sqlite', 'postgresql' or 'mysql' (MariaDB included)."""
    name = engine.dialect.name
    return "mysql" if name == "mariadb" else name


def make_engine(url=None, pool_size=8):
    """An engine with the settings the logbook relies on (see the module doc)."""
    parsed = normalise_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        database = parsed.database
        if not database or database == ":memory:":
            raise DatabaseError("the logbook needs a SQLite file, not an in-memory database")
        folder = os.path.dirname(os.path.abspath(database))
        if not os.path.isdir(folder):
            raise DatabaseError("no such directory for the SQLite file: %s" % folder)
        engine = sqlalchemy.create_engine(
            parsed, pool_size=pool_size, max_overflow=4, connect_args={"timeout": 30, "check_same_thread": False}
        )
        _sqlite_settings(engine)
        engine.write_lock = threading.Lock()  # one writer at a time inside a process
        return engine
    connect_args = {"connect_timeout": 5}
    if backend == "postgresql":
        # fail fast when the server is gone, rather than hang on a dead socket
        connect_args.update({"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3})
    else:
        connect_args.update({"read_timeout": 60, "write_timeout": 60})
    options = {}
    if backend != "postgresql":
        options["isolation_level"] = "READ COMMITTED"  # InnoDB: fewer gap locks between writers
    engine = sqlalchemy.create_engine(
        parsed,
        pool_size=pool_size,
        max_overflow=4,
        pool_pre_ping=True,
        pool_recycle=3600,
        pool_timeout=10,
        connect_args=connect_args,
        **options,
    )
    engine.write_lock = None
    return engine


def _wal_mode(cursor, patience=30.0):
    """Switch the file to WAL; retried, because SQLite answers "database is locked" at once (without
    its busy handler) when two processes open a fresh file and both try to change its journal mode."""
    deadline = time.time() + patience
    delay = 0.01
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.time() + delay > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.5)


def _sqlite_settings(engine):
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record):
        # we issue BEGIN ourselves (the driver's own transaction handling is not SQLite's)
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA busy_timeout=30000")
            _wal_mode(cursor)
            cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection):
        # writers take the write lock at once: no lock upgrade, so no deadlock between processes
        immediate = connection.get_execution_options().get("logbook_write")
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def is_unavailable(exc):
    """True when an error means 'the database is down or busy', not 'this request is wrong'."""
    if isinstance(exc, (PoolTimeout, Unavailable)):
        return True
    if isinstance(exc, (OperationalError, InterfaceError)):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return False


def is_conflict(exc):
    """A deadlock or serialisation failure: the transaction can simply run again."""
    if not isinstance(exc, DBAPIError) or exc.orig is None:
        return False
    code = getattr(exc.orig, "pgcode", None)
    if code in ("40001", "40P01"):
        return True
    args = getattr(exc.orig, "args", ())
    return bool(args) and args[0] in (1205, 1213)  # MySQL lock wait timeout, deadlock


def describe(exc):
    """One line about a database error, without the SQL or parameters."""
    orig = getattr(exc, "orig", None) or exc
    text = " ".join(str(orig).split())
    return "%s: %s" % (type(orig).__name__, text[:300])
