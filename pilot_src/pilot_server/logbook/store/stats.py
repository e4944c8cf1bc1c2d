"""Statistics of the logbook: pilots per state, commands, submission to running, DB12.

The public interface (the web page, ``pilotctl logbook stats``, ``GET /api/v1/stats``)::

    compute(store, site=None, ce=None, queue=None, version=None, vo=None, since=None, until=None,
            group_by=None) -> {"filters", "states", "groups", "commands", "submit_to_running", "db12"}

Filters are exact values; ``since``/``until`` (epoch seconds) select pilots by
``last_seen``, as the pilot list does.  ``group_by``: one of ``GROUPS`` or None.

Cost with a million pilots: never a scan of ``messages`` nor of every pilot.  With at
most one exact filter (site, ce, queue, version or vo), the figures are sums of the
pre-aggregated rows (aggregates.py) of the whole UTC days and hours in the window, plus
the pilot and command rows of its partial hours at either end: counts (states, groups,
command runs and failures, failure reasons, pilots with a wait or a DB12 score) are exact;
medians, p90, maxima, DB12 minimum and histogram come from the aggregates' log bins (the
mean of a bin's values: within 4.4 %, exact when they are equal).  With two or more filters the figures are aggregated in SQL over the indexed pilot
rows and the ``commands`` rows of the matching pilots (``compute_from_rows``): counts
exact, medians and percentiles of the ``SAMPLE`` most recently seen matching pilots.

A figure outside its range (a duration, time or DB12 score that is NaN, infinite or
1e300: old rows, or rows put there by hand) is left out of the figures; the counts
still count its pilot and command.
"""

import collections
import json
import math
import statistics
import time

from sqlalchemy import and_, case, cast, func, Integer, literal_column, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import Join

from pilot_server.worker import messages as wire
from pilot_server.logbook.store import aggregates, schema, states
from pilot_server.logbook.store.pilotinfo import COMMAND_END as FINISHED

GROUPS = ("site", "ce", "queue", "version", "vo")
FILTERS = ("site", "ce", "queue", "version", "vo", "since", "until")
SAMPLE = 20000  # pilots whose durations, waits and DB12 scores give the percentiles
TOP_REASONS = 5
REASON_ROWS = 5000  # (command, reason) pairs read at most, most frequent first
HISTOGRAM_BINS = 10
FAILED = ("failed", "killed")


def _valid_duration(column):
    return column.between(0, wire.MAX_DURATION)


def _valid_time(column):
    return column.between(0, wire.MAX_TIME)


def _valid_db12(column):
    return column.between(0, DB12_RANGE)


DB12_RANGE = 1e6  # pilotinfo.db12_from keeps scores in [0, 1e6)


class StatsError(ValueError):
    """A bad filter or grouping (HTTP 400, CLI exit 2); str() is one line."""


def compute(store, site=None, ce=None, queue=None, version=None, vo=None, since=None, until=None, group_by=None):
    filters = {
        "site": site,
        "ce": ce,
        "queue": queue,
        "version": version,
        "vo": vo,
        "since": since,
        "until": until,
        "group_by": group_by,
    }
    if group_by is not None and group_by not in GROUPS:
        raise StatsError("cannot group by %r: one of %s" % (str(group_by)[:40], ", ".join(GROUPS)))
    for name in ("since", "until"):
        value = filters[name]
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
        ):
            raise StatsError("%s must be epoch seconds" % name)
    for name in GROUPS:
        if filters[name] is not None and not isinstance(filters[name], str):
            raise StatsError("%s must be a string" % name)
    now = time.time()
    dims = [name for name in GROUPS if filters[name]]
    if len(dims) <= 1:
        return _aggregated(store, filters, dims[0] if dims else "", now)
    return compute_from_rows(store, filters, now)


def compute_from_rows(store, filters, now=None):
    """The figures from the pilot and command rows (any filters; cost grows with the selection)."""
    now = time.time() if now is None else now
    site, ce, queue, version, vo, since, until, group_by = [filters[name] for name in FILTERS + ("group_by",)]
    pilots = schema.pilots
    where = store.pilot_conditions(now, site=site, ce=ce, queue=queue, version=version, vo=vo, since=since, until=until)
    state = states.status_expression(pilots.c.status, pilots.c.last_seen, now, store.lost_after).label("state")

    def work(connection):
        return {
            "filters": filters,
            "states": _states(connection, where, state),
            "groups": _groups(connection, where, state, group_by) if group_by else [],
            "commands": _commands(connection, where, _recent(where)),
            "submit_to_running": _submit_to_running(connection, where),
            "db12": _db12(connection, where, store.kind),
        }

    return store.read(work)


def _condition(where):
    return and_(*where) if where else True


def _recent(where):
    """The stamps of the SAMPLE most recently seen matching pilots (a subquery)."""
    pilots = schema.pilots
    return (
        select(pilots.c.stamp)
        .where(_condition(where))
        .order_by(pilots.c.last_seen.desc())
        .limit(SAMPLE)
        .subquery("recent")
    )


def _states(connection, where, state):
    counts = states.empty_counts()
    query = select(state, func.count()).where(_condition(where)).group_by(state)
    for name, count in connection.execute(query):
        if name in counts:
            counts[name] += count
    return counts


def _groups(connection, where, state, group_by):
    column = schema.pilots.c[group_by]
    query = select(column, state, func.count()).where(_condition(where)).group_by(column, state)
    groups = {}
    for key, name, count in connection.execute(query):
        entry = groups.setdefault(key, {"key": key, "states": states.empty_counts(), "total": 0})
        if name in entry["states"]:
            entry["states"][name] += count
        entry["total"] += count
    return sorted(groups.values(), key=lambda entry: (-entry["total"], str(entry["key"])))


class PilotsFirst(Join):
    """pilots (or a subquery of them) JOIN commands, with SQLite told to loop over the pilots first:
    its planner, without ANALYZE figures, would scan every command row instead."""

    inherit_cache = True


@compiles(PilotsFirst)
def _join(element, compiler, **kw):
    return compiler.visit_join(element, **kw)


@compiles(PilotsFirst, "sqlite")
def _cross_join(element, compiler, **kw):
    return compiler.visit_join(element, **kw).replace(" JOIN ", " CROSS JOIN ", 1)


def _commands(connection, where, recent):
    pilots, commands = schema.pilots, schema.commands
    # without a filter the pilots are not needed: one pass over the command rows
    joined = PilotsFirst(pilots, commands, pilots.c.stamp == commands.c.stamp) if where else commands
    finished = and_(commands.c.status.in_(FINISHED), *where)
    failed = case((commands.c.status.in_(FAILED), 1), else_=0)
    rows = {}
    for name, count, failures, longest in connection.execute(
        select(
            commands.c.name,
            func.count(),
            func.sum(failed),
            func.max(case((_valid_duration(commands.c.duration), commands.c.duration), else_=None)),
        )
        .select_from(joined)
        .where(finished)
        .group_by(commands.c.name)
    ):
        failures = int(failures or 0)
        rows[name] = {
            "name": name,
            "count": count,
            "failed": failures,
            "failure_rate": round(failures / float(count), 4) if count else 0.0,
            "median": None,
            "p90": None,
            "max": None,
            "reasons": [],
            "_max": round(longest, 3) if longest is not None else None,
        }
    reason = func.coalesce(commands.c.reason, commands.c.failure_type, commands.c.status)
    for name, text, count in connection.execute(
        select(commands.c.name, reason, func.count())
        .select_from(joined)
        .where(and_(commands.c.status.in_(FAILED), *where))
        .group_by(commands.c.name, reason)
        .order_by(func.count().desc())
        .limit(REASON_ROWS)
    ):
        entry = rows.get(name)
        if entry is not None and len(entry["reasons"]) < TOP_REASONS:
            entry["reasons"].append([text, count])
    durations = {}
    for name, duration in connection.execute(
        select(commands.c.name, commands.c.duration)
        .select_from(PilotsFirst(recent, commands, recent.c.stamp == commands.c.stamp))
        .where(and_(commands.c.status.in_(FINISHED), _valid_duration(commands.c.duration)))
    ):
        durations.setdefault(name, []).append(duration)
    for name, values in durations.items():
        if name in rows:
            rows[name].update(_spread(values))
    for entry in rows.values():  # the max is exact (SQL); median and p90 come from the sample
        entry["max"] = entry.pop("_max")
    return sorted(rows.values(), key=lambda entry: (-entry["count"], entry["name"]))


def _submit_to_running(connection, where):
    pilots = schema.pilots
    both = and_(_valid_time(pilots.c.submitted_time), _valid_time(pilots.c.running_time), *where)
    wait = pilots.c.running_time - pilots.c.submitted_time
    count, longest = connection.execute(select(func.count(), func.max(wait)).where(both)).one()
    values = (
        connection.execute(select(wait).where(both).order_by(pilots.c.last_seen.desc()).limit(SAMPLE)).scalars().all()
    )
    spread = _spread([max(0.0, value) for value in values])
    spread["max"] = round(max(0.0, longest), 3) if longest is not None else None
    return {"count": count, "median": spread["median"], "p90": spread["p90"], "max": spread["max"]}


def _db12(connection, where, kind):
    pilots = schema.pilots
    scored = and_(_valid_db12(pilots.c.db12), *where)
    count, low, high = connection.execute(
        select(func.count(), func.min(pilots.c.db12), func.max(pilots.c.db12)).where(scored)
    ).one()
    result = {"count": count, "median": None, "min": low, "max": high, "histogram": []}
    if not count:
        return result
    values = (
        connection.execute(select(pilots.c.db12).where(scored).order_by(pilots.c.last_seen.desc()).limit(SAMPLE))
        .scalars()
        .all()
    )
    result["median"] = round(statistics.median(values), 3)
    if high <= low:
        result["histogram"] = [[low, high, count]]
        return result
    width = (high - low) / HISTOGRAM_BINS
    scaled = (pilots.c.db12 - low) / width
    # values are >= low: truncation is floor (SQLite has no FLOOR without its math extension)
    bucket = (cast(scaled, Integer) if kind == "sqlite" else func.floor(scaled)).label("bucket")
    bins = [0] * HISTOGRAM_BINS
    for index, number in connection.execute(select(bucket, func.count()).where(scored).group_by(bucket)):
        bins[min(max(int(index), 0), HISTOGRAM_BINS - 1)] += number
    result["histogram"] = [
        [round(low + i * width, 3), round(low + (i + 1) * width, 3), bins[i]] for i in range(HISTOGRAM_BINS)
    ]
    return result


def _spread(values):
    """median, p90 (nearest rank) and max of a list of seconds; None for each when empty."""
    if not values:
        return {"median": None, "p90": None, "max": None}
    ordered = sorted(values)
    p90 = ordered[max(0, int(math.ceil(0.9 * len(ordered))) - 1)]
    return {"median": round(statistics.median(ordered), 3), "p90": round(p90, 3), "max": round(ordered[-1], 3)}


# -- from the aggregates ---------------------------------------------------------------------------


def plan(since, until):
    """How a window [since, until] (None: open) is read: (edges, days, hours).

    ``edges``: [(low, high, high included)] of last_seen read from the rows (the partial hours);
    ``days``: (first, end) of the whole UTC days read from day rows, or None; ``hours``: [(first, end)]
    of the whole hours outside those days, read from hour rows.  None in a range is open."""
    hour, day = aggregates.HOUR, aggregates.DAY
    first = None if since is None else int(math.ceil(since / float(hour))) * hour
    end = None if until is None else int(math.floor(until / float(hour))) * hour
    if first is not None and end is not None and first >= end:
        return [(since, until, True)], None, []
    edges = []
    if since is not None and since < first:
        edges.append((since, first, False))
    if until is not None:
        edges.append((end, until, True))
    day_first = None if first is None else int(math.ceil(first / float(day))) * day
    day_end = None if end is None else int(math.floor(end / float(day))) * day
    if day_first is None or day_end is None or day_first < day_end:
        hours = [
            (low, high)
            for low, high in ((first, day_first), (day_end, end))
            if low is not None and high is not None and low < high
        ]
        return edges, (day_first, day_end), hours
    return edges, None, [(first, end)]


def _aggregated(store, filters, fdim, now):
    fvalue = filters[fdim] if fdim else ""
    group_by = filters["group_by"]
    edges, days, hours = plan(filters["since"], filters["until"])
    cutoff = now - store.lost_after if store.lost_after else None
    table = schema.stats_buckets
    ranges = [("d", days)] if days else []
    ranges += [("h", pair) for pair in hours]
    parts = []
    for edge in edges:
        whole, rows = _cheaper_side(edge)
        if whole:
            ranges.append(("h", whole))
        parts.extend(rows)

    def add(connection, grain, low, high, total, splits):
        condition = [table.c.grain == grain, table.c.fdim == fdim, table.c.fvalue == fvalue]
        if low is not None:
            condition.append(table.c.bucket >= low)
        if high is not None:
            condition.append(table.c.bucket < high)
        size = aggregates.DAY if grain == "d" else aggregates.HOUR
        for bucket, counts in connection.execute(select(table.c.bucket, table.c.counts).where(and_(*condition))):
            counts = aggregates.decode(counts, (group_by,) if group_by and group_by != fdim else ())
            if cutoff is not None and counts.get("s|Running"):
                if bucket + size <= cutoff:
                    counts = _all_lost(counts)
                elif bucket < cutoff and grain == "d":
                    # the day of the cutoff from its hours: only the cutoff's hour is split from rows,
                    # not every Running pilot of the day
                    add(connection, "h", bucket, bucket + size, total, splits)
                    continue
                elif bucket < cutoff:
                    splits.add((bucket, cutoff))  # those last seen before the cutoff: below, from rows
            total.update(counts)

    def work(connection):
        total, splits = collections.Counter(), set()
        for grain, (low, high) in ranges:
            add(connection, grain, low, high, total, splits)
        for low, high in sorted(splits):
            _lost_in(connection, fdim, fvalue, group_by, low, high, total)
        for low, high, low_included, high_included, sign in parts:
            _edge(connection, store, fdim, fvalue, group_by, (low, high, low_included, high_included), now, total, sign)
        return _figures(filters, total, fdim, fvalue)

    return store.read(work)


def _all_lost(counts):
    """The counters of a bucket older than the Lost cutoff: its Running pilots read as Lost."""
    moved = collections.Counter()
    for name, value in counts.items():
        if name == "s|Running":
            moved["s|Lost"] += value
        elif name.startswith("g|") and name.split("|", 3)[2] == "Running":
            _, gdim, _, gvalue = name.split("|", 3)
            moved["g|%s|Lost|%s" % (gdim, gvalue)] += value
        else:
            moved[name] += value
    return moved


def _lost_in(connection, fdim, fvalue, group_by, low, high, total):
    """Running pilots of a bucket that holds the Lost cutoff, last seen before it: Lost on read."""
    grouped = bool(group_by and group_by != fdim)
    for key, count in connection.execute(lost_query(fdim, fvalue, group_by if grouped else None, low, high)):
        total["s|Running"] -= count
        total["s|Lost"] += count
        if grouped:
            total["g|%s|Running|%s" % (group_by, key or "")] -= count
            total["g|%s|Lost|%s" % (group_by, key or "")] += count


RUNNING_INDEX = "ix_pilots_running_seen"  # schema step 9 (SQLite, PostgreSQL)


def lost_query(fdim, fvalue, group_by, low, high):
    """(group value or "", count) of the Running pilots last seen in [low, high) with fdim = fvalue.

    Read from ``RUNNING_INDEX`` alone: (last_seen, site, ce, queue, version, vo) of the Running
    pilots.  The status is a literal: a database uses a partial index only for a query whose
    condition implies the index's, and a bound parameter implies nothing (SQLite)."""
    pilots = schema.pilots
    where = [
        pilots.c.status == literal_column("'%s'" % states.RUNNING),
        pilots.c.last_seen >= low,
        pilots.c.last_seen < high,
    ]
    if fdim:
        where.append(pilots.c[fdim] == fvalue)
    if group_by:
        column = pilots.c[group_by]
        return select(column, func.count()).where(and_(*where)).group_by(column)
    return select(literal_column("''"), func.count()).where(and_(*where))


def _cheaper_side(edge):
    """How a partial hour (low, high, high included) of plan() is read: (the whole hour to read from
    its hour row, or None; [(low, high, low included, high included, sign)] of pilot rows to add
    (+1) or take away (-1)).  The rows are what costs (a few thousand pilots an hour at a million),
    so the hour row less the rest of the hour is read when the rest spans less time."""
    low, high, included = edge
    hour = aggregates.HOUR
    if not included and high % hour == 0 and high - low > hour / 2.0:  # since .. the next whole hour
        return (high - hour, high), [(high - hour, low, True, False, -1)]
    if included and low % hour == 0 and high - low < hour and high - low > hour / 2.0:  # its hour .. until
        return (low, low + hour), [(high, low + hour, False, False, -1)]
    return None, [(low, high, True, included, 1)]


def _edge(connection, store, fdim, fvalue, group_by, span, now, total, sign=1):
    """Add (sign 1) or take away (-1) the pilots last seen in span (low, high, low included, high
    included), from their rows."""
    pilots, commands = schema.pilots, schema.commands
    low, high, low_included, high_included = span
    where = [
        pilots.c.last_seen >= low if low_included else pilots.c.last_seen > low,
        pilots.c.last_seen <= high if high_included else pilots.c.last_seen < high,
    ]
    if fdim:
        where.append(pilots.c[fdim] == fvalue)
    found = dict(
        (row["stamp"], (dict(row), []))
        for row in connection.execute(
            select(*[pilots.c[name] for name in aggregates.PILOT_COLUMNS]).where(and_(*where))
        ).mappings()
    )
    if not found:
        return
    for row in connection.execute(
        select(*[commands.c[name] for name in aggregates.COMMAND_COLUMNS])
        .select_from(PilotsFirst(pilots, commands, pilots.c.stamp == commands.c.stamp))
        .where(and_(*where))
    ).mappings():
        found[row["stamp"]][1].append(row)
    for pilot, rows in found.values():
        state = states.effective(pilot["status"], pilot["last_seen"], now, store.lost_after)
        figures = aggregates.figures(pilot, rows, state)
        if group_by and group_by != fdim:
            figures["g|%s|%s|%s" % (group_by, state, pilot[group_by] or "")] += 1
        if sign > 0:
            total.update(figures)
        else:
            total.subtract(figures)


def _mean(pair):
    """The value a bin stands for: the mean of its values ([count, sum in thousandths])."""
    return round(pair[1] / 1000.0 / pair[0], 3)


def _binned(bins):
    """median, p90 (nearest rank) and max of {bin: [count, sum]}; None for each when empty."""
    bins = sorted((index, pair) for index, pair in bins.items() if pair[0] > 0)
    number = sum(pair[0] for _, pair in bins)
    if not number:
        return {"median": None, "p90": None, "max": None}

    def rank(share):
        wanted, seen = max(1, int(math.ceil(share * number))), 0
        for _, pair in bins:
            seen += pair[0]
            if seen >= wanted:
                return _mean(pair)

    return {"median": rank(0.5), "p90": rank(0.9), "max": _mean(bins[-1][1])}


def _figures(filters, total, fdim, fvalue):
    group_by = filters["group_by"]
    counts = states.empty_counts()
    commands, reasons, waits, scores, groups = {}, {}, {}, {}, {}
    for key, value in total.items():
        if not value:
            continue
        kind = key[:2]
        if kind == "s|":
            if key[2:] in counts:
                counts[key[2:]] += value
        elif kind == "c|":
            head, last = key[2:].rsplit("|", 1)
            if last in ("n", "f"):
                commands.setdefault(head, {"n": 0, "f": 0, "bins": {}})[last] += value
            else:
                name, part = head.rsplit("|", 1)
                bins = commands.setdefault(name, {"n": 0, "f": 0, "bins": {}})["bins"]
                bins.setdefault(int(last), [0, 0])[part == "m"] += value
        elif kind == "g|":
            _, gdim, state, gvalue = key.split("|", 3)
            if gdim == group_by:
                groups.setdefault(gvalue, collections.Counter())["s|" + state] += value
        elif kind == "r|":
            name, reason = json.loads(key[2:])
            reasons.setdefault(name, []).append((-value, reason))
        elif key[:4] in ("w|b|", "w|m|"):
            waits.setdefault(int(key[4:]), [0, 0])[key[2] == "m"] += value
        elif key[:4] in ("d|b|", "d|m|"):
            scores.setdefault(int(key[4:]), [0, 0])[key[2] == "m"] += value
    rows = []
    for name, entry in commands.items():
        if not entry["n"]:
            continue
        row = {
            "name": name,
            "count": entry["n"],
            "failed": entry["f"],
            "failure_rate": round(entry["f"] / float(entry["n"]), 4),
            "reasons": [[reason, -negative] for negative, reason in sorted(reasons.get(name, []))[:TOP_REASONS]],
        }
        row.update(_binned(entry["bins"]))
        rows.append(row)
    rows.sort(key=lambda entry: (-entry["count"], entry["name"]))
    wait = dict(_binned(waits), count=total.get("w|n", 0))
    if group_by and group_by == fdim:  # grouped by the filter's column: one group
        groups = {fvalue: collections.Counter(dict(("s|" + name, number) for name, number in counts.items()))}
    grouped = []
    for key, value in groups.items():
        entry = {"key": key or None, "states": states.empty_counts(), "total": 0}
        for name, number in value.items():
            if name[2:] in entry["states"] and number:
                entry["states"][name[2:]] += number
                entry["total"] += number
        if entry["total"]:
            grouped.append(entry)
    grouped.sort(key=lambda entry: (-entry["total"], str(entry["key"])))
    return {
        "filters": filters,
        "states": counts,
        "groups": grouped,
        "commands": rows,
        "submit_to_running": {"count": wait["count"], "median": wait["median"], "p90": wait["p90"], "max": wait["max"]},
        "db12": _db12_binned(total.get("d|n", 0), scores),
    }


def _db12_binned(count, scores):
    result = {"count": count, "median": None, "min": None, "max": None, "histogram": []}
    if not count:
        return result
    spread = _binned(scores)
    ordered = sorted((index, pair) for index, pair in scores.items() if pair[0] > 0)
    low, high = _mean(ordered[0][1]), spread["max"]
    result.update(median=spread["median"], min=low, max=high)
    if high <= low:
        result["histogram"] = [[low, high, count]]
        return result
    width = (high - low) / HISTOGRAM_BINS
    bins = [0] * HISTOGRAM_BINS
    for _, pair in ordered:
        place = int((_mean(pair) - low) / width)
        bins[min(max(place, 0), HISTOGRAM_BINS - 1)] += pair[0]
    result["histogram"] = [
        [round(low + i * width, 3), round(low + (i + 1) * width, 3), bins[i]] for i in range(HISTOGRAM_BINS)
    ]
    return result
