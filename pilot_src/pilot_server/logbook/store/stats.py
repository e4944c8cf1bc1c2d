"""Statistics of the logbook: pilots per state, commands, submission to running, DB12.

The public interface (the web page, ``pilotctl logbook stats``, ``GET /api/v1/stats``)::

    compute(store, site=None, ce=None, queue=None, version=None, vo=None, since=None, until=None,
            group_by=None) -> {"filters", "states", "groups", "commands", "submit_to_running", "db12"}

Filters are exact values; ``since``/``until`` (epoch seconds) select pilots by
``last_seen``, as the pilot list does.  ``group_by``: one of ``GROUPS`` or None.

Cost with a million pilots: never a scan of ``messages``.  Counts (states,
groups, commands and their failures, failure reasons, DB12 count/min/max and
histogram, submission-to-running count) are aggregated exactly in SQL over
indexed pilot rows and the ``commands`` rows of the matching pilots.  Medians
and percentiles come from a bounded sample: the ``SAMPLE`` most recently seen
matching pilots (by the (filter, last_seen) indexes).

A figure outside its range (a duration, time or DB12 score that is NaN, infinite or
1e300: old rows, or rows put there by hand) is left out of the figures; the counts
still count its pilot and command.
"""

import math
import statistics
import time

from sqlalchemy import and_, case, cast, func, Integer, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import Join

from pilot import messages as wire
from pilot_server.logbook.store import schema, states
from pilot_server.logbook.store.pilotinfo import COMMAND_END as FINISHED

GROUPS = ("site", "ce", "queue", "version", "vo")
FILTERS = ("site", "ce", "queue", "version", "vo", "since", "until")
SAMPLE = 20000           # pilots whose durations, waits and DB12 scores give the percentiles
TOP_REASONS = 5
REASON_ROWS = 5000       # (command, reason) pairs read at most, most frequent first
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
    filters = {"site": site, "ce": ce, "queue": queue, "version": version, "vo": vo, "since": since,
               "until": until, "group_by": group_by}
    if group_by is not None and group_by not in GROUPS:
        raise StatsError("cannot group by %r: one of %s" % (str(group_by)[:40], ", ".join(GROUPS)))
    for name in ("since", "until"):
        value = filters[name]
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not math.isfinite(value)):
            raise StatsError("%s must be epoch seconds" % name)
    for name in GROUPS:
        if filters[name] is not None and not isinstance(filters[name], str):
            raise StatsError("%s must be a string" % name)
    now = time.time()
    pilots = schema.pilots
    where = store.pilot_conditions(now, site=site, ce=ce, queue=queue, version=version, vo=vo, since=since,
                                   until=until)
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
    return (select(pilots.c.stamp).where(_condition(where)).order_by(pilots.c.last_seen.desc())
            .limit(SAMPLE).subquery("recent"))


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
            select(commands.c.name, func.count(), func.sum(failed),
                   func.max(case((_valid_duration(commands.c.duration), commands.c.duration), else_=None)))
            .select_from(joined).where(finished).group_by(commands.c.name)):
        failures = int(failures or 0)
        rows[name] = {"name": name, "count": count, "failed": failures,
                      "failure_rate": round(failures / float(count), 4) if count else 0.0,
                      "median": None, "p90": None, "max": None, "reasons": [],
                      "_max": round(longest, 3) if longest is not None else None}
    reason = func.coalesce(commands.c.reason, commands.c.failure_type, commands.c.status)
    for name, text, count in connection.execute(
            select(commands.c.name, reason, func.count()).select_from(joined)
            .where(and_(commands.c.status.in_(FAILED), *where)).group_by(commands.c.name, reason)
            .order_by(func.count().desc()).limit(REASON_ROWS)):
        entry = rows.get(name)
        if entry is not None and len(entry["reasons"]) < TOP_REASONS:
            entry["reasons"].append([text, count])
    durations = {}
    for name, duration in connection.execute(
            select(commands.c.name, commands.c.duration).select_from(
                PilotsFirst(recent, commands, recent.c.stamp == commands.c.stamp))
            .where(and_(commands.c.status.in_(FINISHED), _valid_duration(commands.c.duration)))):
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
    values = connection.execute(select(wait).where(both).order_by(pilots.c.last_seen.desc())
                                .limit(SAMPLE)).scalars().all()
    spread = _spread([max(0.0, value) for value in values])
    spread["max"] = round(max(0.0, longest), 3) if longest is not None else None
    return {"count": count, "median": spread["median"], "p90": spread["p90"], "max": spread["max"]}


def _db12(connection, where, kind):
    pilots = schema.pilots
    scored = and_(_valid_db12(pilots.c.db12), *where)
    count, low, high = connection.execute(select(func.count(), func.min(pilots.c.db12),
                                                 func.max(pilots.c.db12)).where(scored)).one()
    result = {"count": count, "median": None, "min": low, "max": high, "histogram": []}
    if not count:
        return result
    values = connection.execute(select(pilots.c.db12).where(scored).order_by(pilots.c.last_seen.desc())
                                .limit(SAMPLE)).scalars().all()
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
    result["histogram"] = [[round(low + i * width, 3), round(low + (i + 1) * width, 3), bins[i]]
                           for i in range(HISTOGRAM_BINS)]
    return result


def _spread(values):
    """median, p90 (nearest rank) and max of a list of seconds; None for each when empty."""
    if not values:
        return {"median": None, "p90": None, "max": None}
    ordered = sorted(values)
    p90 = ordered[max(0, int(math.ceil(0.9 * len(ordered))) - 1)]
    return {"median": round(statistics.median(ordered), 3), "p90": round(p90, 3), "max": round(ordered[-1], 3)}
