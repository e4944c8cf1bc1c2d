"""A group of batches (of many pilots) written with a constant number of statements.

``write_group(kind, connection, batches, now)`` runs inside the caller's write
transaction and returns an ``Outcome`` per batch.  Whatever the group's size:

1. one ``SELECT ... FOR UPDATE`` of the group's pilot rows (stamps in sorted order,
   so that two writers never wait on each other in a cycle; SQLite holds its write
   lock); the pilots nobody knew yet are inserted in one multi-row insert-or-ignore
   and locked by a second SELECT;
2. one SELECT of the (stamp, seq) already stored, within each pilot's seq range;
3. one multi-row idempotent insert of the new messages (SQLite ``INSERT OR IGNORE``,
   PostgreSQL ``ON CONFLICT DO NOTHING``, MySQL/MariaDB ``INSERT IGNORE``);
4. one upsert of every pilot row the group changed (each stamp once, its final
   values after all its batches), one insert of the state transitions, one SELECT
   and one upsert of the command rows.

Under the pilot row locks the messages already stored are known exactly, so each
batch's outcome (stored, duplicates, last_seq) is exact: a seq seen earlier in the
group, or in an earlier group, counts as a duplicate, and ``stored`` adds up to the
rows inserted -- the insert's own count is checked against it (a row the database
drops silently, as SQLite's INSERT OR IGNORE does with a NOT NULL failure, fails the
group with ``NotStored``; the group commit then stores its batches one by one).  The
per-batch rules (states, results, commands, the pilot's quota: ``Refusal``) are
applied in the order of the batches, as if each batch were written alone.
"""

import collections
import functools
import json
import re

from pilot_server.logbook.store import aggregates, pilotinfo, schema, states

Batch = collections.namedtuple("Batch", "stamp messages")


class Outcome(collections.namedtuple("Outcome", "stored duplicates last_seq")):
    """What became of a batch; ``refused``: why it was not stored (the pilot's quota), else None."""

    __slots__ = ()
    refused = None


class Refusal(Outcome):
    """A batch not stored: over its pilot's quota (HTTP 413); ``refused`` is the one-line reason."""

    def __new__(cls, duplicates, last_seq, refused):
        self = Outcome.__new__(cls, 0, duplicates, last_seq)
        self.refused = refused
        return self


class NotStored(RuntimeError):
    """The database kept fewer rows than it was given (the transaction is rolled back)."""


INSERT_COLUMNS = (
    "stamp",
    "seq",
    "time",
    "received",
    "kind",
    "level",
    "source",
    "phase",
    "status",
    "stream",
    "text",
    "data",
)
PILOT_COLUMNS = tuple(column.name for column in schema.pilots.columns)
# what a batch may change on its pilot row (the upsert sets these, the others keep their value)
PILOT_CHANGES = tuple(
    name
    for name in (
        "last_seen",
        "last_seq",
        "message_count",
        "last_message_time",
        "heartbeat_time",
        "vo",
        "site",
        "ce",
        "queue",
        "version",
        "status",
        "status_time",
        "exit_code",
        "failed_command",
        "reason",
        "result_time",
        "status_source",
        "running_time",
        "db12",
        "message_bytes",
    )
    if name in PILOT_COLUMNS
)
COMMAND_COLUMNS = ("stamp", "name", "status", "start", "duration", "failure_type", "reason")
PAGE_ROWS = 5000  # rows per statement of PostgreSQL's multi-row insert (a few MB at most)


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


def write_group(kind, connection, batches, now, max_messages=None, max_bytes=None):
    """Store ``batches`` ([Batch]) in the open transaction of ``connection``; [Outcome] in their order.
    ``max_messages``, ``max_bytes``: a pilot's quota (None: none)."""
    pilots = lock_pilots(kind, connection, sorted(set(batch.stamp for batch in batches)), now)
    # the statistics' aggregates get the difference this group makes to its pilots (aggregates.py),
    # computed from the rows this function holds anyway: the pilot rows it locked and writes, and the
    # command rows of the pilots that were there before (read once, also for merge_commands)
    known = [pilots[stamp] for stamp in sorted(pilots) if not pilots[stamp]["inserted"]]
    current = read_commands(kind, connection, [pilot["stamp"] for pilot in known])
    counted = aggregates.counted(known, current)
    stored = existing_messages(kind, connection, batches)
    rows, outcomes, transitions, commands = [], [], [], {}
    for batch in batches:
        pilot = pilots[batch.stamp]
        seen = stored.setdefault(batch.stamp, set())
        new, fresh = [], set()
        for item in batch.messages:
            if item["seq"] in seen or item["seq"] in fresh:
                continue
            fresh.add(item["seq"])
            new.append(item)
        added = [
            (
                batch.stamp,
                item["seq"],
                item["time"],
                now,
                item["kind"],
                item["level"],
                clean_text(item["source"]),
                clean_text(item.get("phase")),
                clean_text(item.get("status")),
                item.get("stream"),
                clean_text(item["text"]),
                encode_data(item.get("data")),
            )
            for item in new
        ]
        size = sum(len((row[10] or "").encode("utf-8")) + len((row[11] or "").encode("utf-8")) for row in added)
        refused = over_quota(pilot, len(new), size, max_messages, max_bytes) if new else None
        if refused:
            outcomes.append(Refusal(len(batch.messages) - len(new), pilot["last_seq"], refused))
            continue
        seen.update(fresh)
        rows.extend(added)
        facts = pilotinfo.summarise(new) if new else None
        changes, moves = pilot_changes(pilot, new, facts, now)
        if size:
            changes["message_bytes"] = (pilot.get("message_bytes") or 0) + size
        pilot.update(changes)
        pilot["created"] = False
        transitions.extend(
            {"stamp": batch.stamp, "state": state, "time": when, "source": states.PILOT} for state, when in moves
        )
        if facts and facts["commands"]:
            commands[batch.stamp] = commands.get(batch.stamp, []) + [facts["commands"]]
        outcomes.append(Outcome(len(new), len(batch.messages) - len(new), pilot["last_seq"]))
    if rows:
        count = insert_messages(kind, connection, rows)
        if count != len(rows):
            raise NotStored(
                "the database kept %d of the %d new messages of %d batches" % (count, len(rows), len(batches))
            )
    upsert(
        kind,
        connection,
        schema.pilots,
        PILOT_COLUMNS,
        ("stamp",),
        PILOT_CHANGES,
        [tuple(pilots[stamp][name] for name in PILOT_COLUMNS) for stamp in sorted(pilots)],
    )
    if transitions:
        connection.execute(schema.pilot_states.insert(), transitions)
    if commands:
        merge_commands(kind, connection, commands, current)
        if kind == "mysql" and not distinct_names(current):
            # MariaDB may take two of these names for one row (case, trailing spaces, accents): as stored
            current = read_commands(kind, connection, sorted(pilots))
    aggregates.apply(connection, aggregates.changes(counted, aggregates.counted(pilots.values(), current)))
    return outcomes


def over_quota(pilot, count, size, max_messages, max_bytes):
    """Why ``count`` new messages of ``size`` bytes pass the pilot's quota, or None."""
    held, held_bytes = pilot["message_count"] or 0, pilot.get("message_bytes") or 0
    if max_messages is not None and held + count > max_messages:
        return "pilot %s holds %d messages; %d more would pass its quota of %d messages" % (
            pilot["stamp"],
            held,
            count,
            max_messages,
        )
    if max_bytes is not None and held_bytes + size > max_bytes:
        return "pilot %s holds %d bytes of messages; %d more would pass its quota of %d bytes" % (
            pilot["stamp"],
            held_bytes,
            size,
            max_bytes,
        )
    return None


def insert_ignore(kind, table):
    from sqlalchemy import insert
    from sqlalchemy.dialects import mysql, postgresql

    if kind == "sqlite":
        return insert(table).prefix_with("OR IGNORE")
    if kind == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return mysql.insert(table).prefix_with("IGNORE")


def lock_pilots(kind, connection, stamps, now):
    """{stamp: the pilot row as a dict, locked}; the missing ones are created (Submitted, without a source:
    their messages make them Running, and record that transition, before anyone can see them)."""
    found = _locked(kind, connection, stamps)
    missing = [stamp for stamp in stamps if stamp not in found]
    if missing:
        connection.execute(
            insert_ignore(kind, schema.pilots),
            [
                {
                    "stamp": stamp,
                    "first_seen": now,
                    "last_seen": now,
                    "last_seq": 0,
                    "message_count": 0,
                    "status": states.SUBMITTED,
                    "status_time": now,
                }
                for stamp in missing
            ],
        )
        found.update(_locked(kind, connection, missing))
    inserted = set(missing)
    for row in found.values():
        row["created"] = row["status_source"] is None and not row["registered"] and row["message_count"] == 0
        # inserted by this transaction (another writer's row would have its own first_seen): not yet
        # counted in the statistics' aggregates
        row["inserted"] = row["created"] and row["stamp"] in inserted and row["first_seen"] == now
    return found


def _marker(kind):
    return "?" if kind == "sqlite" else "%s"


def _locked(kind, connection, stamps):
    # plain SQL: SQLAlchemy's expression building costs more than the query for a long IN list
    marker = _marker(kind)
    query = "SELECT %s FROM pilots WHERE stamp IN (%s) ORDER BY stamp%s" % (
        ", ".join(PILOT_COLUMNS),
        ", ".join([marker] * len(stamps)),
        "" if kind == "sqlite" else " FOR UPDATE",
    )
    rows = {}
    for values in connection.exec_driver_sql(query, tuple(stamps)):
        row = dict(zip(PILOT_COLUMNS, values))
        row["registered"] = bool(row["registered"])
        rows[row["stamp"]] = row
    return rows


def seq_ranges(seqs, gap=64):
    """[(low, high)] covering ``seqs``: runs of seqs closer than ``gap`` make one range."""
    ranges = []
    for seq in sorted(seqs):
        if ranges and seq - ranges[-1][1] <= gap:
            ranges[-1][1] = seq
        else:
            ranges.append([seq, seq])
    return ranges


def existing_messages(kind, connection, batches):
    """{stamp: {seq}} of the batches' messages already stored: one SELECT over each pilot's seq ranges."""
    wanted = {}
    for batch in batches:
        wanted.setdefault(batch.stamp, set()).update(item["seq"] for item in batch.messages)
    terms, parameters = [], []
    term = "(stamp = %s AND seq BETWEEN %s AND %s)" % ((_marker(kind),) * 3)
    for stamp, seqs in sorted(wanted.items()):
        for low, high in seq_ranges(seqs):
            terms.append(term)
            parameters.extend((stamp, low, high))
    found = {}
    if terms:
        for stamp, seq in connection.exec_driver_sql(
            "SELECT stamp, seq FROM messages WHERE %s" % " OR ".join(terms), tuple(parameters)
        ):
            found.setdefault(stamp, set()).add(seq)
    return found


def insert_messages(kind, connection, rows):
    """The messages' multi-row insert, on the driver's fast path within the SQLAlchemy transaction
    (SQLAlchemy's generic executemany costs several times more per row, and psycopg2's sends a
    statement per row); the number of rows the database added."""
    columns = ", ".join(INSERT_COLUMNS)
    if kind == "postgresql":
        return insert_from_json(connection, schema.messages, INSERT_COLUMNS, "ON CONFLICT DO NOTHING", rows)
    marker = "?" if kind == "sqlite" else "%s"
    verb = "INSERT OR IGNORE" if kind == "sqlite" else "INSERT IGNORE"
    # pymysql turns an executemany of INSERT ... VALUES into multi-row statements; sqlite3 loops in C
    return connection.exec_driver_sql(
        "%s INTO messages (%s) VALUES (%s)" % (verb, columns, ", ".join([marker] * len(INSERT_COLUMNS))), rows
    ).rowcount


def upsert(kind, connection, table, columns, keys, changed, rows):
    """Insert ``rows`` (tuples of ``columns``) into ``table``, or set ``changed`` of the row with the same
    ``keys``: one statement on every database (rows whose keys are locked or new in this transaction)."""
    if not rows:
        return
    names = ", ".join(columns)
    if kind == "mysql":
        sets = ", ".join("%s = VALUES(%s)" % (name, name) for name in changed)
        connection.exec_driver_sql(
            "INSERT INTO %s (%s) VALUES (%s) ON DUPLICATE KEY UPDATE %s"
            % (table.name, names, ", ".join(["%s"] * len(columns)), sets),
            rows,
        )
        return
    sets = ", ".join("%s = excluded.%s" % (name, name) for name in changed)
    conflict = "ON CONFLICT (%s) DO UPDATE SET %s" % (", ".join(keys), sets)
    if kind == "postgresql":
        insert_from_json(connection, table, columns, conflict, rows)
        return
    connection.exec_driver_sql(
        "INSERT INTO %s (%s) VALUES (%s) %s" % (table.name, names, ", ".join(["?"] * len(columns)), conflict), rows
    )


# PostgreSQL's multi-row writes take their rows as one JSON parameter (an array of row arrays) that
# the server unpacks (jsonb_array_elements): psycopg2 quotes each value of a VALUES list in the
# receiver's process, under the GIL (~48 us a message row on a DB12-12 machine, against ~10 us for
# json.dumps and one quoted string), and the event loop waits for the GIL meanwhile.
def insert_from_json(connection, table, columns, tail, rows):
    """``INSERT INTO table (columns) <rows> tail`` on the driver's cursor, the rows sent as JSON,
    ``PAGE_ROWS`` a statement; the number of rows inserted or updated (RETURNING: every page's)."""
    cursor = connection.connection.cursor()
    try:
        count = 0
        for start in range(0, len(rows), PAGE_ROWS):
            # allow_nan=False: NaN is not JSON (the messages' numbers are checked finite before this)
            page = json.dumps(
                rows[start : start + PAGE_ROWS], ensure_ascii=False, separators=(",", ":"), allow_nan=False
            )
            cursor.execute(
                "INSERT INTO %s (%s) %s %s RETURNING 1"
                % (table.name, ", ".join(columns), from_json(table, columns), tail),
                (page,),
            )
            count += len(cursor.fetchall())
        return count
    finally:
        cursor.close()


@functools.lru_cache(maxsize=None)
def from_json(table, columns):
    """``SELECT`` of ``columns`` (typed as in ``table``) from the rows of the JSON parameter."""
    from sqlalchemy import String
    from sqlalchemy.dialects import postgresql

    dialect = postgresql.dialect()
    # strings as text: a cast to varchar(n) would cut a longer value, the column refuses it
    return "SELECT %s FROM jsonb_array_elements(%%s::jsonb) AS r" % ", ".join(
        "(r->>%d)::%s"
        % (index, "text" if isinstance(table.c[name].type, String) else table.c[name].type.compile(dialect=dialect))
        for index, name in enumerate(columns)
    )


def pilot_changes(pilot, new, facts, now):
    """({column: value} to set on the pilot row, [(state, time)] transitions) after a batch whose
    messages not stored before are ``new`` (``facts``: pilotinfo.summarise(new))."""
    changes = {"last_seen": now}
    if not new:
        if pilot["created"]:
            changes.update(status=states.RUNNING, status_time=now, status_source=states.PILOT, running_time=now)
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
    path = states.after_messages(
        pilot["status"], result and result["status"], pilot["result_time"] is not None, pilot["status_source"]
    )
    if result is not None:
        changes.update(
            {
                "exit_code": result["exit_code"],
                "failed_command": result["failed_command"],
                "reason": result["reason"],
                "result_time": facts["result_time"],
            }
        )
        if facts["db12"] is not None:
            changes["db12"] = facts["db12"]
    transitions = [
        (state, facts["result_time"] if result is not None and state in states.FINAL else facts["first_time"])
        for state in path
    ]
    if path:
        changes.update({"status": path[-1], "status_time": now, "status_source": states.PILOT})
        if states.RUNNING in path and pilot["running_time"] is None:
            changes["running_time"] = facts["first_time"]
    return changes, transitions


PLAIN_NAME = re.compile(r"[!-~](?:[ -~]*[!-~])?\Z")


def distinct_names(keys):
    """True if MySQL/MariaDB hold a row of its own for each of these (stamp, name) command keys, as
    Python does: names of printable ASCII without spaces at their ends (MariaDB's collations may ignore
    trailing spaces and accents), no two of a pilot that differ only by case."""
    seen = set()
    for stamp, name in keys:
        folded = (stamp, name.lower())
        if folded in seen or not PLAIN_NAME.match(name):
            return False
        seen.add(folded)
    return True


def read_commands(kind, connection, stamps):
    """{(stamp, name): command row dict} of the pilots ``stamps`` (locked by the caller): one SELECT."""
    current = {}
    if not stamps:
        return current
    query = "SELECT %s FROM commands WHERE stamp IN (%s)" % (
        ", ".join(COMMAND_COLUMNS),
        ", ".join([_marker(kind)] * len(stamps)),
    )
    for values in connection.exec_driver_sql(query, tuple(stamps)):
        current[(values[0], values[1])] = dict(zip(COMMAND_COLUMNS, values))
    return current


def merge_commands(kind, connection, updates, current):
    """Insert or complete the command rows of ``updates`` ({stamp: [{name: fields}, ...]}, one dict per
    batch, in order): a late 'started' never reopens a finished command.  ``current``: the command rows
    of these pilots as stored (``read_commands``; a pilot inserted by this transaction has none), updated
    in place to the rows written.  One upsert."""
    table = schema.commands
    changed = {}
    for stamp in sorted(updates):
        for part in updates[stamp]:
            for name, fields in sorted(part.items()):
                key = (stamp, name)
                row = current.get(key)
                if row is None:
                    row = {
                        "stamp": stamp,
                        "name": name,
                        "status": "running",
                        "start": None,
                        "duration": None,
                        "failure_type": None,
                        "reason": None,
                    }
                elif fields.get("status") == "running" and row["status"] != "running":
                    continue  # a late 'started' after the end
                elif not fields:
                    continue
                row.update(fields)
                current[key] = changed[key] = row
    upsert(
        kind,
        connection,
        table,
        COMMAND_COLUMNS,
        ("stamp", "name"),
        COMMAND_COLUMNS[2:],
        [tuple(changed[key][name] for name in COMMAND_COLUMNS) for key in sorted(changed)],
    )
