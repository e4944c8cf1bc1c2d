"""The schema is made and upgraded by the logbook: ordered steps, a version table, a lock."""

import threading

import pytest
from sqlalchemy import inspect, text

from logbook_support import backend, databases, make_messages, new_stamp  # noqa: F401
from pilot_server.logbook.store import migrations, schema, stats
from pilot_server.logbook.store.database import DatabaseError, make_engine
from pilot_server.logbook.store.logstore import Store


@pytest.fixture
def fresh_url(backend, databases, tmp_path):
    if backend == "sqlite":
        return "sqlite:///%s" % (tmp_path / "fresh.sqlite")
    return databases.create(backend)


def test_upgrade_from_version_1_keeps_the_data(fresh_url):
    engine = make_engine(fresh_url)
    try:
        assert migrations.migrate(engine, target=1) == [(1, "pilots, messages, rejected")]
        stamp = new_stamp()
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO pilots (stamp, first_seen, last_seen, last_seq, message_count, status, status_time) "
                    "VALUES (:stamp, 1.0, 2.0, 1, 1, 'Running', 2.0)"
                ),
                {"stamp": stamp},
            )
            connection.execute(
                text(
                    "INSERT INTO messages (stamp, seq, time, received, kind, level, source, text) "
                    "VALUES (:stamp, 1, 1.5, 2.0, 'log', 'INFO', 'Pilot', 'from version 1')"
                ),
                {"stamp": stamp},
            )
        columns = set(column["name"] for column in inspect(engine).get_columns("pilots"))
        assert "registered" not in columns
        applied = migrations.migrate(engine)
        assert [number for number, _ in applied] == list(range(2, migrations.LATEST + 1))
        assert migrations.migrate(engine) == []  # nothing left to do
        store = Store(engine)
        # step 6 filled the statistics' aggregates from the rows already there (a silent Running pilot: Lost)
        assert stats.compute(store)["states"]["Lost"] == 1
        assert store.pilot(stamp)["registered"] is False
        assert store.messages(stamp)[0]["text"] == "from version 1"
        assert store.store_batch(stamp, make_messages(stamp, [1, 2])) == (1, 1, 2)
        assert store.register(stamp, ce="ce01") is False and store.pilot(stamp)["registered"] is True
        with engine.connect() as connection:
            versions = connection.execute(text("SELECT version FROM schema_version ORDER BY version")).scalars().all()
        assert versions == list(range(1, migrations.LATEST + 1))
        assert store.pilot(stamp)["status"] == "Running" and store.pilot(stamp)["db12"] is None
    finally:
        engine.dispose()


def test_migrated_schema_is_what_schema_py_says(fresh_url):
    engine = make_engine(fresh_url)
    try:
        migrations.migrate(engine)
        found = inspect(engine)
        for table in schema.metadata.sorted_tables:
            columns = dict((column["name"], column) for column in found.get_columns(table.name))
            assert sorted(columns) == sorted(column.name for column in table.columns), table.name
            for column in table.columns:
                assert columns[column.name]["nullable"] == column.nullable, (table.name, column.name)
            assert sorted(found.get_pk_constraint(table.name)["constrained_columns"]) == sorted(
                column.name for column in table.primary_key.columns
            )
            indexes = dict((index["name"], index["column_names"]) for index in found.get_indexes(table.name))
            for index in table.indexes:
                assert indexes.get(index.name) == [column.name for column in index.columns], index.name
    finally:
        engine.dispose()


def test_two_processes_migrating_at_once_apply_each_step_once(fresh_url):
    engines = [make_engine(fresh_url), make_engine(fresh_url)]
    results, errors = [], []

    def run(engine):
        try:
            results.append(migrations.migrate(engine))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(engine,)) for engine in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert not errors
        # each step once, by one of the two (on SQLite the lock is a step's transaction, so the two
        # may take turns; PostgreSQL's and MariaDB's locks hold for the whole migration)
        steps = sorted(number for applied in results for number, _ in applied)
        assert steps == list(range(1, migrations.LATEST + 1))
        if not fresh_url.startswith("sqlite"):
            assert sorted(len(applied) for applied in results) == [0, migrations.LATEST]
        with engines[0].connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM schema_version")).scalar() == migrations.LATEST
    finally:
        for engine in engines:
            engine.dispose()


def test_a_newer_schema_is_refused_and_readers_do_not_migrate(fresh_url):
    engine = make_engine(fresh_url)
    try:
        with pytest.raises(DatabaseError, match="version 0, this pilotctl needs"):
            migrations.check_current(engine)
        migrations.migrate(engine)
        with engine.begin() as connection:
            connection.execute(schema.schema_version.insert().values(version=99, description="future", applied=1.0))
        with pytest.raises(DatabaseError, match="newer than this pilotctl knows"):
            migrations.migrate(engine)
    finally:
        engine.dispose()
