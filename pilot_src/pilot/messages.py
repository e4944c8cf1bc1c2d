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
* Everything here runs on Python 2.6 ... 3.13 (the pilot) and 3.9+ (the logbook).
"""

import json

import compat

SCHEMA = "pilots2/log/1"
KINDS = ("log", "command", "heartbeat", "stdin", "result")
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
STREAMS = ("stdout", "stderr")
COMMAND_STATUSES = ("started", "ok", "failed", "killed")

MAX_TEXT = 64 * 1024            # characters of one message's text
MAX_NAME = 64                   # characters of source / phase / status
MAX_BATCH_MESSAGES = 5000
MAX_BATCH_BYTES = 8 * 1024 * 1024
MAX_DATA_BYTES = 64 * 1024      # JSON size of one message's data


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


def decode_batch(body, max_bytes=MAX_BATCH_BYTES):
    """Parse and validate a batch; return (stamp, [messages]) or raise MessageError."""
    if len(body) > max_bytes:
        raise MessageError("batch of %d bytes is over the limit of %d" % (len(body), max_bytes))
    try:
        document = json.loads(compat.to_text(body))
    except ValueError as exc:
        raise MessageError("malformed JSON: %s" % exc)
    return validate_batch(document)


def validate_batch(document):
    if not isinstance(document, dict):
        raise MessageError("a batch must be a JSON object")
    if document.get("schema") != SCHEMA:
        raise MessageError("schema must be %s, not %r" % (SCHEMA, document.get("schema")))
    stamp = document.get("stamp")
    if not _text(stamp) or len(stamp) > 128:
        raise MessageError("missing or bad field: stamp")
    items = document.get("messages")
    if not isinstance(items, list) or not items:
        raise MessageError("missing or empty field: messages")
    if len(items) > MAX_BATCH_MESSAGES:
        raise MessageError("%d messages in one batch, the limit is %d" % (len(items), MAX_BATCH_MESSAGES))
    checked = []
    for index, item in enumerate(items):
        try:
            checked.append(validate_message(item, stamp))
        except MessageError as exc:
            raise MessageError("message %d: %s" % (index, exc))
    return stamp, checked


def validate_message(item, stamp=None):
    """Check one message (all fields, their types and sizes); return it normalised."""
    if not isinstance(item, dict):
        raise MessageError("not an object")
    for field in ("stamp", "seq", "time", "kind", "level", "source", "text"):
        if field not in item:
            raise MessageError("missing field: %s" % field)
    if stamp is not None and item["stamp"] != stamp:
        raise MessageError("stamp %r differs from the batch's" % (item["stamp"],))
    seq = item["seq"]
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
        raise MessageError("seq must be a whole number >= 1")
    when = item["time"]
    if isinstance(when, bool) or not isinstance(when, (int, float)) or when <= 0:
        raise MessageError("time must be a positive number (UTC epoch seconds)")
    if item["kind"] not in KINDS:
        raise MessageError("kind must be one of %s" % ", ".join(KINDS))
    if item["level"] not in LEVELS:
        raise MessageError("level must be one of %s" % ", ".join(LEVELS))
    for field in ("source", "phase", "status"):
        value = item.get(field)
        if value is None and field != "source":
            continue
        if not _text(value) or len(value) > MAX_NAME:
            raise MessageError("%s must be a string of 1 to %d characters" % (field, MAX_NAME))
    if item.get("stream") not in (None,) + STREAMS:
        raise MessageError("stream must be stdout, stderr or null")
    if not isinstance(item["text"], compat.string_types) or len(item["text"]) > MAX_TEXT:
        raise MessageError("text must be a string of at most %d characters" % MAX_TEXT)
    data = item.get("data")
    if data is not None:
        if not isinstance(data, dict):
            raise MessageError("data must be an object or null")
        if len(encode(data)) > MAX_DATA_BYTES:
            raise MessageError("data is over %d bytes" % MAX_DATA_BYTES)
    result = dict((key, item.get(key)) for key in ("stamp", "seq", "time", "kind", "level", "source",
                                                    "phase", "status", "stream", "text", "data"))
    return result


def _text(value):
    return isinstance(value, compat.string_types) and bool(value)
