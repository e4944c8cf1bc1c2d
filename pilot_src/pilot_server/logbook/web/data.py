"""What the web pages read: the pilot list (keyset pages), a pilot's log, timeline and result.

The list is ordered newest first by ``(last_seen, stamp)`` and paged by keyset: the
next page starts after the last row shown (``last_seen <= L and (last_seen < L or
stamp < S)``), never with OFFSET, so page 1,000 costs what page 1 costs.  Each exact
filter (site, CE, state, VO) has an index on (column, last_seen) (schema.py), the time
window is a range of last_seen; the failure-reason text search has a text index on
SQLite and PostgreSQL (textsearch.py) and reads rows until it has filled a page on MySQL.
"""

import collections
import time

from sqlalchemy import and_, or_, select

from pilot_server.logbook.store import readable, schema, states, textsearch

STATES = states.STATES
KNOWN_STATES = STATES
LIST_COLUMNS = (
    "stamp",
    "status",
    "site",
    "ce",
    "queue",
    "vo",
    "version",
    "first_seen",
    "last_seen",
    "exit_code",
    "failed_command",
    "reason",
    "message_count",
)
EXACT_FILTERS = ("site", "ce", "queue", "vo", "version", "status")

Page = collections.namedtuple("Page", "rows next_cursor")


def _like_pattern(text, prefix_only=False):
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%" if prefix_only else "%" + escaped + "%"


def list_pilots(store, filters, cursor=None, limit=50):
    """One page of pilots; ``filters``: site ce queue vo version status (exact), since until
    (epoch, on last_seen), reason (text in the reason or the failed command), stamp (prefix).
    ``cursor``: (last_seen, stamp) of the last row of the previous page."""
    pilots = schema.pilots
    now = time.time()
    # the state as shown: a silent Running pilot is Lost (states.py)
    query = select(*[pilots.c[name] for name in LIST_COLUMNS]).where(
        *store.pilot_conditions(now, **dict((name, filters.get(name)) for name in EXACT_FILTERS + ("since", "until")))
    )
    if filters.get("reason"):
        query = query.where(*textsearch.conditions(store, filters["reason"], _like_pattern(filters["reason"])))
    if filters.get("stamp"):
        query = query.where(pilots.c.stamp.like(_like_pattern(filters["stamp"], prefix_only=True), escape="\\"))
    if cursor is not None:
        seen, stamp = cursor
        query = query.where(and_(pilots.c.last_seen <= seen, or_(pilots.c.last_seen < seen, pilots.c.stamp < stamp)))
    query = query.order_by(pilots.c.last_seen.desc(), pilots.c.stamp.desc()).limit(limit + 1)
    raw = store.read(lambda c: c.execute(query).mappings().all())
    next_cursor = None
    if len(raw) > limit:
        raw = raw[:limit]
        # the stored value (readable shows an odd one as None): the next page starts after it
        next_cursor = (raw[-1]["last_seen"], raw[-1]["stamp"])
    return Page([store.shown(row, now) for row in raw], next_cursor)


def _decode(row):
    return readable.message(row)  # whatever the row holds (NaN, odd types, bad JSON): a page never fails


def log_page(store, stamp, after=0, limit=2000, levels=None):
    """(messages with seq > after in seq order, at most limit; the seq to continue after or None)."""
    messages = schema.messages
    query = select(messages).where(and_(messages.c.stamp == stamp, messages.c.seq > after))
    if levels:
        query = query.where(messages.c.level.in_(sorted(levels)))
    query = query.order_by(messages.c.seq).limit(limit + 1)
    rows = [_decode(row) for row in store.read(lambda c: c.execute(query).mappings().all())]
    more = None
    if len(rows) > limit:
        rows = rows[:limit]
        more = rows[-1]["seq"]
    return rows, more


def structured(store, stamp):
    """The pilot's command and result messages, and its first messages that carry data."""
    messages = schema.messages
    events = (
        select(messages)
        .where(and_(messages.c.stamp == stamp, messages.c.kind.in_(("command", "result"))))
        .order_by(messages.c.seq)
    )
    described = (
        select(messages)
        .where(and_(messages.c.stamp == stamp, messages.c.kind == "log", messages.c.data.isnot(None)))
        .order_by(messages.c.seq)
        .limit(5)
    )

    def work(connection):
        return (
            [_decode(row) for row in connection.execute(events).mappings().all()],
            [_decode(row) for row in connection.execute(described).mappings().all()],
        )

    return store.read(work)


def timeline(events, pilot=None):
    """Commands as bars: [{name, start, end, status, duration, reason, failure_type}], the
    result message's data (or None), and commands of the plan that never ran (names).

    A command is opened by its ``started`` message and closed by its ok/failed/killed
    message; a command still open has status ``running`` and ends at the pilot's last
    message.  An end without a start (lost message) starts ``duration`` before its end.
    """
    commands, open_commands, result = [], {}, None
    for item in events:
        if item["time"] is None:  # not a time (an old row): nowhere on a timeline
            continue
        if item["kind"] == "result":
            result = item
            continue
        name, status = item["source"], item.get("status")
        if status == "started":
            entry = {
                "name": name,
                "start": item["time"],
                "end": None,
                "status": "running",
                "duration": None,
                "reason": None,
                "failure_type": None,
            }
            commands.append(entry)
            open_commands[name] = entry
            continue
        data = item.get("data") if isinstance(item.get("data"), dict) else {}
        duration = readable.duration(data.get("duration"))
        entry = open_commands.pop(name, None)
        if entry is None:
            entry = {"name": name, "start": max(item["time"] - (duration or 0.0), 0.0)}
            commands.append(entry)
        entry.update(
            {
                "end": item["time"],
                "status": status or "ended",
                "duration": duration,
                "reason": readable.text(data.get("reason")),
                "failure_type": readable.text(data.get("failure_type")),
            }
        )
        if entry["duration"] is None:
            entry["duration"] = entry["end"] - entry["start"]
    last = None
    if pilot is not None:
        last = readable.when(pilot.get("last_message_time")) or readable.when(pilot.get("last_seen"))
    if result is not None:
        last = max(last or 0, result["time"])
    for entry in commands:
        if entry["end"] is None:
            entry["end"] = max(last or entry["start"], entry["start"])
    ran = set(entry["name"] for entry in commands)
    not_run = []
    data = result.get("data") if result is not None and isinstance(result.get("data"), dict) else {}
    for planned in data.get("commands") or []:
        if isinstance(planned, dict) and planned.get("name") and planned["name"] not in ran:
            not_run.append(str(planned["name"]))
    return commands, (data or None), not_run


def parameters(described):
    """Where and how the pilot ran, from the first log messages that carry data."""
    found = collections.OrderedDict()
    for item in described:
        data = item.get("data")
        if not isinstance(data, dict):
            continue
        for key, value in data.items():
            if key == "parameters" and isinstance(value, dict):
                for name, inner in value.items():
                    found.setdefault(
                        name, inner.get("value") if isinstance(inner, dict) and "value" in inner else inner
                    )
            else:
                found.setdefault(key, value)
    return found
