"""Pre-aggregated statistics: exact counts per hour and per day of the pilots' last seen.

``stats_buckets`` holds one row per (grain, bucket, fdim, fvalue): ``grain`` is ``h`` (hour)
or ``d`` (UTC day), ``bucket`` the epoch second the hour or day starts, and the row counts the
pilots last seen in it whose ``fdim`` column (site, ce, queue, version, vo, or '' for all
pilots) equals ``fvalue`` (a missing value is kept as '').  So a window of a month at a
million pilots reads some thirty day rows and up to 46 hour rows per filter.

``counts`` is a JSON object of counters (the groups' ones nested per column, ``decode``)::

    s|STATE                 pilots in the stored state (Lost of a silent Running one is applied on read)
    c|NAME|n, c|NAME|f      finished runs of a command, failed (or killed) ones
    c|NAME|b|BIN            finished runs by duration (log bins, ``bin_of``)
    c|NAME|m|BIN            the sum of their durations in ms (the bin's mean stands for its values)
    r|["NAME","REASON"]     failed runs by reason
    w|n, w|b|BIN, w|m|BIN   pilots with submission and running times, by wait
    d|n, d|b|BIN, d|m|BIN   pilots with a DB12 score, by score
    g|GDIM|STATE|GVALUE     pilots in the state whose GDIM column (not fdim) is GVALUE: the groups

Every write that changes a pilot (its last seen hour or day, state, dimensions, command rows,
times, DB12) subtracts the pilot's old contribution and adds the new one in the same
transaction, so the counts stay exact: the group write of batches computes both from the rows
it holds (``counted``, ``changes``, groupwrite.py), the other writes read the pilots before and after
(``track`` ... ``settle``); ``apply`` writes the difference with a bounded number of statements.
``rebuild`` recomputes them from the rows (``pilotctl logbook aggregates rebuild``).  Percentiles and maxima come from the
bins: the mean of the values in the bin of the rank wanted, within ``RATIO`` (4.4 %) of the true
value and exact when the bin holds one value (or several equal ones).
"""

import collections
import json
import math

from sqlalchemy import and_, delete, insert, select

from pilot_server.logbook.store import schema
from pilot_server.logbook.store.pilotinfo import COMMAND_END as FINISHED

DIMS = ("site", "ce", "queue", "version", "vo")
FAILED = ("failed", "killed")
HOUR, DAY = 3600, 86400
GRAINS = (("h", HOUR), ("d", DAY))
RATIO = 2 ** (1.0 / 16)  # bin width: 16 bins per doubling, a bin's mean is within 4.4 % of its values
ZERO_BIN = -10000  # values <= 0
PILOT_COLUMNS = ("stamp", "last_seen", "status", "submitted_time", "running_time", "db12") + DIMS
COMMAND_COLUMNS = ("stamp", "name", "status", "duration", "failure_type", "reason")
CHUNK = 500  # stamps per IN (...) query


def bin_of(value):
    if value <= 0:
        return ZERO_BIN
    return int(math.floor(math.log(value) / math.log(RATIO)))


def reason_key(name, reason):
    return "r|" + json.dumps([name, reason], separators=(",", ":"))


def _value(row, name):
    return row.get(name) or ""


def figures(pilot, commands, state=None):
    """The counters of one pilot (all figures): a Counter."""
    counts = collections.Counter()
    counts["s|%s" % (state or pilot["status"])] += 1
    for command in commands:
        if command["status"] not in FINISHED:
            continue
        name = command["name"]
        counts["c|%s|n" % name] += 1
        if command["duration"] is not None:
            _add_value(counts, "c|%s|" % name, command["duration"])
        if command["status"] in FAILED:
            counts["c|%s|f" % name] += 1
            counts[reason_key(name, command["reason"] or command["failure_type"] or command["status"])] += 1
    if pilot["submitted_time"] is not None and pilot["running_time"] is not None:
        counts["w|n"] += 1
        _add_value(counts, "w|", max(0.0, pilot["running_time"] - pilot["submitted_time"]))
    if pilot["db12"] is not None:
        counts["d|n"] += 1
        _add_value(counts, "d|", pilot["db12"])
    return counts


def _add_value(counts, prefix, value):
    """One value into its bin: the count (``b``) and the sum in thousandths (``m``, integers, so that
    subtracting gives back exactly what was added)."""
    index = bin_of(value)
    counts["%sb|%d" % (prefix, index)] += 1
    counts["%sm|%d" % (prefix, index)] += int(round(value * 1000))


def contribution(pilot, commands, into=None, grains=GRAINS):
    """Add one pilot's counters to ``into`` {(grain, bucket, fdim, fvalue): Counter}."""
    into = {} if into is None else into
    full = figures(pilot, commands)
    state = pilot["status"]
    groups = dict((gdim, "g|%s|%s|%s" % (gdim, state, _value(pilot, gdim))) for gdim in DIMS)
    for grain, size in grains:
        bucket = int(pilot["last_seen"] // size) * size
        for fdim in ("",) + DIMS:
            key = (grain, bucket, fdim, _value(pilot, fdim) if fdim else "")
            counts = into.get(key)
            if counts is None:
                counts = into[key] = collections.Counter()
            counts.update(full)
            for gdim in DIMS:
                if gdim != fdim:
                    counts[groups[gdim]] += 1
    return into


def _marker(connection):
    return "?" if connection.dialect.name == "sqlite" else "%s"


def _chunks(items):
    items = sorted(items)
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def read_pilots(connection, stamps):
    """{stamp: (pilot row dict, [command row dicts])} of the given pilots (one query per CHUNK, plain SQL:
    SQLAlchemy's building of an IN list costs more than the query on the write path)."""
    names = [name for name in COMMAND_COLUMNS if name != "stamp"]
    columns = ", ".join(["p.%s" % name for name in PILOT_COLUMNS] + ["c.%s" % name for name in names])
    marker = _marker(connection)
    found = {}
    width = len(PILOT_COLUMNS)
    for part in _chunks(stamps):
        query = "SELECT %s FROM pilots p LEFT OUTER JOIN commands c ON p.stamp = c.stamp WHERE p.stamp IN (%s)" % (
            columns,
            ", ".join([marker] * len(part)),
        )
        for row in connection.exec_driver_sql(query, tuple(part)):
            entry = found.get(row[0])
            if entry is None:
                entry = found[row[0]] = (dict(zip(PILOT_COLUMNS, row[:width])), [])
            if row[width] is not None:
                entry[1].append(dict(zip(names, row[width:])))
    return found


def counted(pilots, commands):
    """{stamp: (buckets, values, figures, state)} of pilots whose rows the caller holds (``pilots`` pilot row
    dicts, ``commands`` {(stamp, name): command row dict} of these pilots or more): what ``changes`` needs."""
    by_stamp = {}
    for (stamp, _), row in commands.items():
        by_stamp.setdefault(stamp, []).append(row)
    found = {}
    for pilot in pilots:
        found[pilot["stamp"]] = (
            tuple(int(pilot["last_seen"] // size) * size for _, size in GRAINS),
            tuple(_value(pilot, fdim) for fdim in DIMS),
            figures(pilot, by_stamp.get(pilot["stamp"], ())),
            pilot["status"],
        )
    return found


def changes(before, after):
    """The deltas {key: {name: delta}} from the pilots ``before`` to ``after`` (``counted``; a pilot only in
    ``after`` counted nowhere before).  A pilot still in the same buckets with the same values (most
    writes) adds the difference of its figures once, spread over its keys, instead of leaving all its
    rows and entering them again."""
    deltas = {}
    for stamp in set(before) | set(after):
        old, new = before.get(stamp), after.get(stamp)
        if old is None or new is None or old[:2] != new[:2]:
            if old is not None:
                _spread(deltas, old, old[2], old[3], -1)
            if new is not None:
                _spread(deltas, new, new[2], new[3], 1)
            continue
        moved = collections.Counter(new[2])
        moved.subtract(old[2])
        if old[3] != new[3] or any(moved.values()):
            _spread(deltas, new, moved, new[3], 1, old[3])
    found = {}
    for key, delta in deltas.items():
        delta = dict((name, value) for name, value in delta.items() if value)
        if delta:
            found[key] = delta
    return found


def _spread(deltas, pilot, figures_, state, sign, left=None):
    """Add ``sign`` times ``figures_`` and the pilot's group counters in ``state`` to each of its keys; with
    ``left`` (its former state), move the group counters from that state to ``state`` instead."""
    buckets, values = pilot[0], pilot[1]
    groups = []
    if left != state:
        for gdim, value in zip(DIMS, values):
            names = [("g|%s|%s|%s" % (gdim, state, value), sign)]
            if left is not None:
                names.append(("g|%s|%s|%s" % (gdim, left, value), -sign))
            groups.append((gdim, names))
    for (grain, _), bucket in zip(GRAINS, buckets):
        for fdim, fvalue in (("", ""),) + tuple(zip(DIMS, values)):
            key = (grain, bucket, fdim, fvalue)
            delta = deltas.get(key)
            if delta is None:
                delta = deltas[key] = collections.Counter()
            for name, value in figures_.items():
                delta[name] += sign * value
            for gdim, names in groups:
                if gdim != fdim:
                    for name, value in names:
                        delta[name] += value


def snapshot(connection, stamps):
    """``counted`` of the pilots ``stamps`` as stored."""
    found = read_pilots(connection, stamps)
    return counted(
        [pilot for pilot, _ in found.values()],
        dict(((stamp, index), row) for stamp, (_, rows) in found.items() for index, row in enumerate(rows)),
    )


class Tracker(object):
    """The pilots' contributions before a change; ``settle`` writes the difference afterwards."""

    def __init__(self, connection, stamps, created=()):
        self.connection = connection
        self.stamps = sorted(set(stamps))
        self.before = snapshot(connection, sorted(set(self.stamps) - set(created)))

    def settle(self):
        apply(self.connection, changes(self.before, snapshot(self.connection, self.stamps)))


def track(connection, stamps, created=()):
    """Call before changing the pilots ``stamps`` inside a write transaction; ``.settle()`` after.
    ``created``: those of them whose rows this transaction inserted (they counted nowhere before)."""
    return Tracker(connection, stamps, created)


KEY = ("grain", "bucket", "fdim", "fvalue")
_TERM = "(grain = %s AND bucket = %s AND fdim = %s AND fvalue = %s)"


def _where(marker, count):
    """The WHERE clause of ``count`` keys: an OR of one equality per key column each (every database
    reads it as that many lookups of the primary key, so that a locking read locks only those rows)."""
    return " OR ".join([_TERM % ((marker,) * 4)] * count)


def apply(connection, deltas):
    """Add the deltas ({key: {name: delta}}) to their rows.  Whatever their number, with plain SQL on the
    driver: one locking read of the rows (one per CHUNK keys, in key order, so that two writers never wait
    in a cycle), then the changed rows in one upsert, the emptied ones in one DELETE and the new ones in
    one insert (those four statements at most, and no round trip per row)."""
    if not deltas:
        return
    marker = _marker(connection)
    keys = sorted(deltas)
    stored = {}
    lock = "" if marker == "?" else " FOR UPDATE"
    for start in range(0, len(keys), CHUNK):
        part = keys[start : start + CHUNK]
        query = "SELECT grain, bucket, fdim, fvalue, counts FROM stats_buckets WHERE %s ORDER BY %s%s" % (
            _where(marker, len(part)),
            ", ".join(KEY),
            lock,
        )
        for row in connection.exec_driver_sql(query, tuple(value for key in part for value in key)):
            stored[tuple(row[:4])] = row[4]
    changed, emptied, fresh = [], [], []
    for key in keys:
        text = stored.get(key)
        if text is None:
            counts = dict((name, value) for name, value in deltas[key].items() if value > 0)
            if counts:
                fresh.append((key, counts))
            continue
        nested = _add(json.loads(text), deltas[key])
        if nested:
            changed.append(key + (json.dumps(nested, separators=(",", ":"), sort_keys=True),))
        else:
            emptied.append(key)
    if changed:
        _set_counts(connection, changed)
    if emptied:
        connection.exec_driver_sql(
            "DELETE FROM stats_buckets WHERE %s" % _where(marker, len(emptied)),
            tuple(value for key in emptied for value in key),
        )
    if fresh:
        _insert_or_add(connection, fresh)


def _add(nested, delta):
    """The counters of a row as stored (``_encode``) plus ``delta`` (flat names), the same JSON object as
    ``_encode`` of the sum would give: counters that reach zero and emptied groups are left out."""
    for name, value in delta.items():
        into, group = nested, None
        if name.startswith("g|"):
            _, gdim, name = name.split("|", 2)
            group = "g|" + gdim
            into = nested.get(group)
            if into is None:
                into = nested[group] = {}
        total = into.get(name, 0) + value
        if total > 0:
            into[name] = total
        else:
            into.pop(name, None)
            if group and not into:
                del nested[group]
    return nested


def _set_counts(connection, rows):
    """New counts of rows that exist and are locked: (grain, bucket, fdim, fvalue, counts) tuples, one
    statement (an upsert that always finds its row: on PostgreSQL and MariaDB one multi-row INSERT, where
    an executemany of UPDATE would cost a round trip per row; SQLite's executemany loops in C)."""
    from pilot_server.logbook.store import groupwrite  # it imports this module

    kind = connection.dialect.name
    if kind == "sqlite":
        connection.exec_driver_sql(
            "UPDATE stats_buckets SET counts = ? WHERE grain = ? AND bucket = ? AND fdim = ? AND fvalue = ?",
            [row[4:] + row[:4] for row in rows],
        )
        return
    groupwrite.upsert(
        "mysql" if kind == "mariadb" else kind,
        connection,
        schema.stats_buckets,
        KEY + ("counts",),
        KEY,
        ("counts",),
        rows,
    )


def _insert_or_add(connection, fresh):
    """Insert new rows; if another writer inserted one meanwhile (unique key), add to the rows instead."""
    from sqlalchemy.exc import IntegrityError

    nested = connection.begin_nested()
    try:
        connection.execute(
            insert(schema.stats_buckets), [dict(zip(KEY, key), counts=_encode(counts)) for key, counts in fresh]
        )
        nested.commit()
    except IntegrityError:
        nested.rollback()
        for key, counts in fresh:
            apply(connection, {key: counts})


def _encode(counts):
    """JSON of the counters, the groups' ones nested per column ({"g|site": {"Done|X": n}}), so that a
    reader takes the column it groups by without going through the others."""
    nested = {}
    for name, value in counts.items():
        if name.startswith("g|"):
            _, gdim, rest = name.split("|", 2)
            nested.setdefault("g|" + gdim, {})[rest] = value
        else:
            nested[name] = value
    return json.dumps(nested, separators=(",", ":"), sort_keys=True)


def decode(text, groups=DIMS):
    """The flat counters of a row; of the groups' counters only those of the columns ``groups``."""
    counts = json.loads(text)
    for gdim in DIMS:
        nested = counts.pop("g|" + gdim, None)
        if nested and gdim in groups:
            for rest, value in nested.items():
                counts["g|%s|%s" % (gdim, rest)] = value
    return counts


def rebuild(connection, log=None):
    """Recompute every row from the pilots and their command rows, one UTC day at a time; the number of
    pilots counted."""
    from pilot_server.logbook.store.stats import PilotsFirst

    pilots, commands = schema.pilots, schema.commands
    connection.execute(delete(schema.stats_buckets))
    low = connection.execute(select(pilots.c.last_seen).order_by(pilots.c.last_seen).limit(1)).scalar()
    if low is None:
        return 0
    day = int(low // DAY) * DAY
    total = 0
    while True:
        window = and_(pilots.c.last_seen >= day, pilots.c.last_seen < day + DAY)
        found = dict(
            (row["stamp"], (dict(row), []))
            for row in connection.execute(select(*[pilots.c[name] for name in PILOT_COLUMNS]).where(window)).mappings()
        )
        if found:
            for row in connection.execute(
                select(*[commands.c[name] for name in COMMAND_COLUMNS])
                .select_from(PilotsFirst(pilots, commands, pilots.c.stamp == commands.c.stamp))
                .where(window)
                .order_by(commands.c.stamp, commands.c.name)
            ).mappings():
                found[row["stamp"]][1].append(dict(row))
            into = {}
            for pilot, rows in found.values():
                contribution(pilot, rows, into, GRAINS[:1])
            for (grain, bucket, fdim, fvalue), counts in list(into.items()):  # the day: the sum of its hours
                into.setdefault(("d", day, fdim, fvalue), collections.Counter()).update(counts)
            rows = [dict(zip(KEY, key), counts=_encode(value)) for key, value in sorted(into.items())]
            for start in range(0, len(rows), 5000):
                connection.execute(insert(schema.stats_buckets), rows[start : start + 5000])
            total += len(found)
            if log:
                log("aggregates: %d pilot(s) counted" % total)
        following = connection.execute(
            select(pilots.c.last_seen).where(pilots.c.last_seen >= day + DAY).order_by(pilots.c.last_seen).limit(1)
        ).scalar()
        if following is None:
            return total
        day = int(following // DAY) * DAY
