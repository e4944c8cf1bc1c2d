"""The pilot's log messages on the wire: the one definition, used by the pilot and the logbook.

A batch (one HTTPS POST body, or one STOMP frame body)::

    {"schema": "pilots2/log/1", "stamp": "<pilot stamp>",
     "messages": [{"stamp": ..., "seq": 1, "time": 1763737440.123456, "kind": "log",
                   "level": "INFO", "source": "InstallDIRAC", "phase": "Installing",
                   "status": null, "stream": null, "text": "...", "data": null}, ...]}

* ``seq``: 1, 2, 3 ... per pilot, never reused: (stamp, seq) is the message's
  identity, so the logbook stores each message exactly once however often it
  is sent (retries, the spool, a broker redelivery).
* ``time``: UTC, seconds since the epoch, microseconds.
* ``kind``: ``log`` (a line of the pilot's log, including its children's
  output: ``stream`` is then stdout/stderr), ``command`` (a command starts or
  ends: ``status`` is started/ok/failed/killed, ``data`` has duration,
  failure_type, reason), ``heartbeat`` (``data``: load, memory, disk, agent
  alive), ``stdin`` (what the wrapper piped to the pilot at start), ``result``
  (the last message: ``data`` has the pilot's result and usage).
* Every field has a type and a range (``message_problem``): whole numbers fit 64 bits,
  numbers are finite, ``time`` is 0 ... 253402300799 (9999-12-31T23:59:59Z), ``data``
  nests at most 32 levels, and the fields of ``data`` that the logbook reads (durations,
  exit code, reasons) have their own types.  The pilot checks its messages with it; the
  logbook refuses a batch with a problem (HTTP 400 naming the message and the field).
* The pilot builds its messages and batches here too (``record_message``, ``fit_data``,
  ``encode_batches``), beside the rules they must meet.
* Everything here runs on Python 2.6 ... 3.13 (the pilot) and 3.9+ (the logbook).
"""

import json
import math
import re

from .shims import compat

SCHEMA = "pilots2/log/1"
KINDS = ("log", "command", "heartbeat", "stdin", "result")
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
STREAMS = ("stdout", "stderr")
COMMAND_STATUSES = ("started", "ok", "failed", "killed")

MAX_TEXT = 64 * 1024            # characters of one message's text
MAX_NAME = 64                   # characters of source / phase / status
MAX_STAMP = 128                 # characters of a stamp
MAX_INFO = 128                  # characters of a registration's ce, queue, site, vo
MAX_BATCH_MESSAGES = 5000
MAX_BATCH_BYTES = 8 * 1024 * 1024
MAX_DATA_BYTES = 64 * 1024      # JSON size of one message's data
MAX_DATA_DEPTH = 32             # objects and lists nested in a message's data (data itself: 1)
MAX_SEQ = 2 ** 63 - 1           # a database's BIGINT
MAX_TIME = 253402300799         # 9999-12-31T23:59:59Z: the last second every date library can show
MAX_DURATION = MAX_TIME         # seconds
INT64 = (-2 ** 63, 2 ** 63 - 1)  # any whole number in data
INT32 = (-2 ** 31, 2 ** 31 - 1)  # an exit code
REGISTRATION_FIELDS = ("stamp", "ce", "queue", "site", "vo", "submitted")

# Stamps the logbook stores: what pilots use (32 hex, UUIDs) and DIRAC-like references,
# never whitespace or characters that a database may compare loosely.
STAMP_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@+-]{0,127}$")
STAMP_RULE = "1 to %d letters, digits and . _ : @ + - (starting with a letter or digit)" % MAX_STAMP
TIME_RULE = "a finite number from 0 to %d (UTC epoch seconds)" % MAX_TIME


class MessageError(ValueError):
    """A batch or message that cannot be stored; str() is the reason (one line)."""


def message(stamp, seq, when, text, level="INFO", source="Pilot", phase=None, status=None, stream=None,
            kind="log", data=None):
    return {"stamp": stamp, "seq": seq, "time": round(when, 6), "kind": kind, "level": level,
            "source": source, "phase": phase, "status": status, "stream": stream,
            "text": compat.to_text(text)[:MAX_TEXT], "data": data}


def batch(stamp, messages):
    return {"schema": SCHEMA, "stamp": stamp, "messages": list(messages)}


def encode(document):
    """Compact JSON as bytes."""
    return compat.to_bytes(json.dumps(document, separators=(",", ":"), sort_keys=True))


# -- the pilot's builders: a logger record as a message, batches within the limits ----------------

def record_message(stamp, record):
    """A record of the pilot's logger (pilot/logs/logger.py) as a message: names and data cut to fit."""
    return message(stamp, record.seq, record.time, record.text, record.level, _name(record.source) or "Pilot",
                   _name(record.phase), _name(record.status), record.stream, record.kind, fit_data(record.data))


def _name(value):
    if value is None:
        return None
    text = compat.to_text(value).strip()
    return text[:MAX_NAME] or None


def fit_data(data):
    """``data`` within the contract's 64 KiB (long strings cut, then the biggest keys dropped)."""
    if data is None:
        return None
    try:
        if len(encode(data)) <= MAX_DATA_BYTES:
            return data
    except (TypeError, ValueError):
        return {"unencodable": True}
    cut = _cut_strings(data, 1000)
    while len(encode(cut)) > MAX_DATA_BYTES and isinstance(cut, dict) and cut:
        biggest = max(cut, key=lambda key: len(encode(cut[key])))
        cut = dict(cut)
        cut[biggest] = "(removed: over the size limit of message data)"
        if len(encode(cut)) > MAX_DATA_BYTES and len(cut) == 1:
            return {"truncated": True}
    return cut


def _cut_strings(value, limit):
    if isinstance(value, dict):
        return dict((key, _cut_strings(item, limit)) for key, item in value.items())
    if isinstance(value, list):
        return [_cut_strings(item, limit) for item in value[:200]]
    if isinstance(value, compat.string_types) and len(value) > limit:
        return value[:limit] + "..."
    return value


def encode_batches(stamp, records, max_messages, max_bytes):
    """Logger records as [(batch body as bytes, number of messages)], each within ``max_messages``
    and about ``max_bytes`` (a record that JSON cannot hold is left out)."""
    head = b'{"messages":['
    tail = compat.to_bytes('],"schema":%s,"stamp":%s}' % (json.dumps(SCHEMA), json.dumps(stamp)))
    bodies = []
    group, size = [], len(head) + len(tail)
    for record in records:
        try:
            item = encode(record_message(stamp, record))
        except (TypeError, ValueError):
            continue
        if group and (len(group) >= max_messages or size + len(item) + 1 > max_bytes):
            bodies.append((head + b",".join(group) + tail, len(group)))
            group, size = [], len(head) + len(tail)
        group.append(item)
        size += len(item) + 1
    if group:
        bodies.append((head + b",".join(group) + tail, len(group)))
    return bodies


def batch_count(body):
    """The number of messages in an encoded batch (0 when it is not one)."""
    try:
        return len(json.loads(compat.to_text(body)).get("messages") or [])
    except (ValueError, AttributeError, TypeError):
        return 0


def batch_stamp(body):
    """The stamp of an encoded batch, or None when it is not one."""
    try:
        return json.loads(compat.to_text(body)).get("stamp")
    except (ValueError, AttributeError):
        return None


def count_messages(data):
    """Messages in encoded batches, counted without parsing: a key "seq" appears once per
    message, and inside a JSON string its quotes would be escaped."""
    return data.count(b'"seq":')


def decode_batch(body, max_bytes=MAX_BATCH_BYTES):
    """Parse and validate a batch; return (stamp, [messages]) or raise MessageError."""
    if len(body) > max_bytes:
        raise MessageError("batch of %d bytes is over the limit of %d" % (len(body), max_bytes))
    try:
        document = json.loads(compat.to_text(body))
    except ValueError as exc:
        raise MessageError("malformed JSON: %s" % exc)
    except RuntimeError:  # RecursionError: nested deeper than the parser goes
        raise MessageError("malformed JSON: nested too deep")
    return validate_batch(document)


def validate_batch(document):
    if not isinstance(document, dict):
        raise MessageError("a batch must be a JSON object")
    if document.get("schema") != SCHEMA:
        raise MessageError("schema must be %s, not %r" % (SCHEMA, document.get("schema")))
    stamp = document.get("stamp")
    problem = stamp_problem(stamp)
    if problem:
        raise MessageError(problem)
    items = document.get("messages")
    if not isinstance(items, list) or not items:
        raise MessageError("missing or empty field: messages")
    if len(items) > MAX_BATCH_MESSAGES:
        raise MessageError("%d messages in one batch, the limit is %d" % (len(items), MAX_BATCH_MESSAGES))
    checked = []
    for index, item in enumerate(items):
        problem = message_problem(item, stamp)
        if problem:
            raise MessageError("message %d: %s" % (index, problem))
        checked.append(_normalised(item))
    return stamp, checked


def validate_message(item, stamp=None):
    """Check one message (all fields, their types and ranges); return it normalised."""
    problem = message_problem(item, stamp)
    if problem:
        raise MessageError(problem)
    return _normalised(item)


def _normalised(item):
    return dict((key, item.get(key)) for key in ("stamp", "seq", "time", "kind", "level", "source", "phase",
                                                  "status", "stream", "text", "data"))


# -- the rules: each returns None, or the first problem as one line naming the field -----------------

def message_problem(item, stamp=None):
    """The first problem of one message (None: it may be stored), e.g.
    "field 'time' must be a finite number from 0 to 253402300799 (UTC epoch seconds), not nan"."""
    if not isinstance(item, dict):
        return "a message must be a JSON object"
    for field in ("stamp", "seq", "time", "kind", "level", "source", "text"):
        if field not in item:
            return "missing field '%s'" % field
    if stamp is not None and item["stamp"] != stamp:
        return "field 'stamp' %s differs from the batch's" % _shown(item["stamp"])
    problem = ((stamp_problem(item["stamp"]) if stamp is None else None)  # the batch's was checked
               or whole_problem("seq", item["seq"], 1, MAX_SEQ) or time_problem("time", item["time"]))
    if problem:
        return problem
    if item["kind"] not in KINDS:
        return "field 'kind' must be one of %s, not %s" % (", ".join(KINDS), _shown(item["kind"]))
    if item["level"] not in LEVELS:
        return "field 'level' must be one of %s, not %s" % (", ".join(LEVELS), _shown(item["level"]))
    for field in ("source", "phase", "status"):
        value = item.get(field)
        if value is None and field != "source":
            continue
        if not _text(value) or len(value) > MAX_NAME:
            return "field '%s' must be a string of 1 to %d characters%s" % (
                field, MAX_NAME, "" if field == "source" else " or null")
    if item.get("stream") not in (None,) + STREAMS:
        return "field 'stream' must be stdout, stderr or null"
    if not isinstance(item["text"], compat.string_types) or len(item["text"]) > MAX_TEXT:
        return "field 'text' must be a string of at most %d characters" % MAX_TEXT
    return data_problem(item.get("data"), item["kind"])


def data_problem(data, kind=None):
    """The first problem of a message's ``data`` (``kind``: the message's, for the fields the logbook reads)."""
    if data is None:
        return None
    if not isinstance(data, dict):
        return "field 'data' must be an object or null"
    # the fields the logbook reads first (their own rules name them best), then every value, then the size
    problem = (_command_problem(data, "data") if kind == "command" else _result_problem(data) if kind == "result"
               else None) or (_value_problem(data, "data", 1) if not _plain(data, 1) else None)
    if problem:
        return problem
    try:
        size = len(encode(data))
    except (TypeError, ValueError):
        return "field 'data' holds a value JSON cannot hold"
    if size > MAX_DATA_BYTES:
        return "field 'data' is %d bytes, over the limit of %d" % (size, MAX_DATA_BYTES)
    return None


_SCALARS = (type(None), bool, float) + compat.integer_types + compat.string_types


def _plain(value, depth):
    """True when every value is fine (the fast check; ``_value_problem`` then says what is not)."""
    kind = type(value)
    if kind is dict:
        if depth > MAX_DATA_DEPTH:
            return False
        for key in value:
            if not isinstance(key, compat.string_types) or not _plain(value[key], depth + 1):
                return False
        return True
    if kind is list:
        if depth > MAX_DATA_DEPTH:
            return False
        for inner in value:
            if not _plain(inner, depth + 1):
                return False
        return True
    if kind is float:
        return value - value == 0.0  # NaN and the infinities give NaN
    if kind is int:
        return INT64[0] <= value <= INT64[1]
    if kind in _SIMPLE:
        return True
    return _value_problem(value, "", depth) is None  # subclasses, Python 2's long and unicode


_SIMPLE = (type(None), bool, str)


def _value_problem(value, path, depth):
    """Any JSON value: finite numbers, whole numbers within 64 bits, nesting within MAX_DATA_DEPTH."""
    if value is None or isinstance(value, (bool,) + compat.string_types):
        return None
    if isinstance(value, compat.integer_types):
        return whole_problem(path, value, INT64[0], INT64[1])
    if isinstance(value, float):
        return None if _finite(value) else "field '%s' must be a finite number, not %s" % (path, _shown(value))
    if isinstance(value, (dict, list)):
        if depth > MAX_DATA_DEPTH:
            return "field '%s' is nested deeper than %d levels" % (path.split(".")[0].split("[")[0],
                                                                   MAX_DATA_DEPTH)
        if isinstance(value, dict):
            inner = []
            for key in value:
                if not isinstance(key, compat.string_types):
                    return "field '%s' has a key that is not a string" % path
                inner.append(("%s.%s" % (path, key[:40]), value[key]))
        else:
            inner = [("%s[%d]" % (path, index), item) for index, item in enumerate(value)]
        for where, item in inner:
            problem = _value_problem(item, where, depth + 1)
            if problem:
                return problem
        return None
    return "field '%s' holds a value JSON cannot hold (%s)" % (path, type(value).__name__)


def _command_problem(data, path):
    """The fields of a command's end the logbook reads: duration, failure_type, reason."""
    return (number_problem("%s.duration" % path, data.get("duration"), 0, MAX_DURATION, null=True)
            or text_problem("%s.failure_type" % path, data.get("failure_type"))
            or text_problem("%s.reason" % path, data.get("reason")))


def _result_problem(data):
    """The fields of a result the logbook reads: the pilot's exit code, failed command, reason;
    each command's start, duration, failure type and reason; the DB12 score."""
    pilot, path = (data["pilot"], "data.pilot") if isinstance(data.get("pilot"), dict) else (data, "data")
    code = pilot.get("exit_code", data.get("exit_code"))
    problem = (whole_problem("%s.exit_code" % path, code, INT32[0], INT32[1], null=True)
               or text_problem("%s.failed_command" % path, pilot.get("failed_command"))
               or text_problem("%s.failure_type" % path, pilot.get("failure_type"))
               or text_problem("%s.reason" % path, pilot.get("reason")))
    if problem:
        return problem
    commands = data.get("commands")
    if commands is not None and not isinstance(commands, list):
        return "field 'data.commands' must be a list or null"
    for index, entry in enumerate(commands or ()):
        where = "data.commands[%d]" % index
        if not isinstance(entry, dict):
            return "field '%s' must be an object" % where
        start = entry.get("start")
        problem = (text_problem("%s.name" % where, entry.get("name"))
                   or (None if start is None or isinstance(start, compat.string_types)
                       else time_problem("%s.start" % where, start))
                   or _command_problem(entry, where))
        if problem:
            return problem
    db12 = data.get("db12")
    if isinstance(db12, dict):
        return number_problem("data.db12.score", db12.get("score"), 0, 1e6, null=True)
    return number_problem("data.db12", db12, 0, 1e6, null=True)


def stamp_problem(stamp, field="stamp"):
    if not isinstance(stamp, compat.string_types) or not STAMP_PATTERN.match(stamp):
        return "field '%s' must be %s, not %s" % (field, STAMP_RULE, _shown(stamp))
    return None


def time_problem(field, value, null=False):
    """A time: a finite number from 0 to MAX_TIME (UTC epoch seconds)."""
    if value is None and null:
        return None
    if _number(value) and _finite(value) and 0 <= value <= MAX_TIME:
        return None
    return "field '%s' must be %s%s, not %s" % (field, TIME_RULE, " or null" if null else "", _shown(value))


def number_problem(field, value, low, high, null=False):
    if value is None and null:
        return None
    if _number(value) and _finite(value) and low <= value <= high:
        return None
    return "field '%s' must be a finite number from %s to %s%s, not %s" % (
        field, low, high, " or null" if null else "", _shown(value))


def whole_problem(field, value, low, high, null=False):
    if value is None and null:
        return None
    if isinstance(value, compat.integer_types) and not isinstance(value, bool) and low <= value <= high:
        return None
    return "field '%s' must be a whole number from %d to %d%s, not %s" % (
        field, low, high, " or null" if null else "", _shown(value))


def text_problem(field, value, limit=None):
    """A string (of at most ``limit`` characters) or null."""
    if value is None or (isinstance(value, compat.string_types) and (limit is None or len(value) <= limit)):
        return None
    return "field '%s' must be a string%s or null, not %s" % (
        field, "" if limit is None else " of at most %d characters" % limit, _shown(value))


def registration_problem(document):
    """The first problem of a submitter's registration ``{stamp, ce, queue, site, vo, submitted}``."""
    if not isinstance(document, dict):
        return "a registration must be a JSON object"
    unknown = sorted(set(document) - set(REGISTRATION_FIELDS))
    if unknown:
        return "unknown field '%s' (known: %s)" % (unknown[0][:60], ", ".join(REGISTRATION_FIELDS))
    problem = stamp_problem(document.get("stamp"))
    if problem:
        return problem
    for field in ("ce", "queue", "site", "vo"):
        value = document.get(field)
        if value is not None and (not _text(value) or len(value) > MAX_INFO):
            return "field '%s' must be a string of 1 to %d characters or null" % (field, MAX_INFO)
    return time_problem("submitted", document.get("submitted"), null=True)


def _number(value):
    return isinstance(value, compat.integer_types + (float,)) and not isinstance(value, bool)


def _finite(value):
    if isinstance(value, float):
        return not (math.isinf(value) or math.isnan(value))  # math.isfinite is 3.2+
    return True


def _shown(value):
    """A value in an error message: short, one line."""
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    if isinstance(value, float) and not _finite(value):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _text(value):
    return isinstance(value, compat.string_types) and bool(value)
