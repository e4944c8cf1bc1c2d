"""Rows as the readers show them, whatever the database holds: the API, the pages, the CLI, exports.

Intake refuses what does not follow ``pilot.messages`` (NaN, 1e300 as a time, 30-digit
numbers, data nested 900 deep ...), but a database may hold such rows from before those
rules, or put there by hand.  Every reader goes through here, so that one odd row never
makes a page answer 500 or ``show``/``follow`` crash:

* a time that is not a finite number from 0 to ``MAX_TIME`` reads as None (shown "-");
* a duration or figure that is not a finite number reads as None; a duration out of its range too;
* a whole number stays a whole number (JSON carries any size), anything else in its place None;
* text that is not text becomes its ``str()``;
* ``data`` that is not JSON, or nested deeper than ``MAX_DATA_DEPTH``, keeps its text
  (the deep part as compact JSON text); NaN and infinities in it read as None.

The results are plain JSON values: ``json.dumps`` of them is strict JSON.
"""

import datetime
import json
import math

from pilot_server.worker import messages as wire

MAX_TIME = wire.MAX_TIME
TIME_FIELDS = (
    "time",
    "received",
    "first_seen",
    "last_seen",
    "last_message_time",
    "heartbeat_time",
    "status_time",
    "result_time",
    "submitted_time",
    "running_time",
    "start",
    "applied",
)
INTEGER_FIELDS = ("seq", "last_seq", "message_count", "message_bytes", "exit_code", "id")
NUMBER_FIELDS = ("db12",)
DURATION_FIELDS = ("duration",)


def finite(value):
    """A finite number (int or float, not bool) as it is, else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def when(value):
    """A time (epoch seconds from 0 to MAX_TIME), else None."""
    value = finite(value)
    return float(value) if value is not None and 0 <= value <= MAX_TIME else None


def duration(value):
    value = finite(value)
    return float(value) if value is not None and 0 <= value <= wire.MAX_DURATION else None


def integer(value):
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and math.isfinite(value) and value == int(value):
        return int(value)
    return None


def text(value):
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def jsonable(value, depth=1):
    """A decoded JSON value with NaN/infinities as None and what is nested past MAX_DATA_DEPTH as text."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (dict, list)):
        if depth > wire.MAX_DATA_DEPTH:
            return _compact(value)
        if isinstance(value, dict):
            return dict((str(key), jsonable(inner, depth + 1)) for key, inner in value.items())
        return [jsonable(inner, depth + 1) for inner in value]
    return value


def _compact(value):
    try:
        return json.dumps(value, separators=(",", ":"), sort_keys=True)
    except (ValueError, TypeError, RecursionError):
        return repr(value)[:1000]


def data(raw):
    """A message's stored ``data`` column: its JSON value, made readable; text that is not JSON as text."""
    if raw is None or raw == "":
        return None
    if not isinstance(raw, (str, bytes)):
        return jsonable(raw)
    try:
        return jsonable(json.loads(raw))
    except (ValueError, RecursionError):
        return text(raw)


def row(mapping):
    """Any logbook row (pilot, message, state, command, rejected) as a dict readers can use."""
    item = dict(mapping)
    for key, value in item.items():
        if key in TIME_FIELDS:
            item[key] = when(value)
        elif key in INTEGER_FIELDS:
            item[key] = integer(value)
        elif key in DURATION_FIELDS:
            item[key] = duration(value)
        elif key in NUMBER_FIELDS:
            item[key] = finite(value)
        elif key == "data":
            item[key] = data(value)
        elif key == "registered":
            item[key] = bool(value) if value is not None else None
        elif isinstance(value, float):
            item[key] = finite(value)
        elif not isinstance(value, (str, int, type(None))):
            item[key] = text(value)
    return item


def message(mapping):
    """A stored message; ``text``, ``kind``, ``level``, ``source`` always text ("" for nothing)."""
    item = row(mapping)
    for key in ("text", "kind", "level", "source"):
        if key in item:
            item[key] = text(item[key]) or ""
    return item


def utc(value, fmt="%Y-%m-%d %H:%M:%S"):
    """A time as UTC text: "-" for None, "(bad time <value>)" for what is not a time."""
    if value is None:
        return "-"
    moment = when(value)
    if moment is None:
        return "(bad time %s)" % text(value)[:30]
    return datetime.datetime.fromtimestamp(moment, datetime.timezone.utc).strftime(fmt)
