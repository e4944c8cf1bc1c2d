"""The checks a batch passes before it is stored: the same for HTTPS and RabbitMQ.

``parse(body)`` returns (stamp, messages) or raises ``Refused`` with the HTTP
status and a one-line reason:

* 413: the body is over ``MAX_BATCH_BYTES``, or it holds more than
  ``MAX_BATCH_MESSAGES`` messages (batch limits);
* 400: not UTF-8 JSON, nested deeper than JSON is read, not a batch, a missing or bad
  field -- a value of the wrong type or out of its range (NaN, 1e300 as a time, a seq
  past 2^63-1, data nested over 32 levels ...), a field over its own limit (text, names,
  data): the message is wrong, not the batch too big; a stamp outside ``STAMP_PATTERN``.
  The whole batch is refused, and the reason names the message and the field:
  ``message 3: field 'time' must be a finite number from 0 to 253402300799 ...``.

The schema and its rules are ``pilot.messages`` (one definition, shared with the pilot).
"""

import json

from pilot_server.worker import messages as wire

STAMP_PATTERN = wire.STAMP_PATTERN


class Refused(Exception):
    """A request the logbook refuses: ``status`` (HTTP) and str() = the one-line reason."""

    def __init__(self, status, reason):
        Exception.__init__(self, " ".join(str(reason).split()))
        self.status = status


def parse(body):
    """Decode and validate a batch body (bytes); (stamp, [messages]) or raise Refused."""
    if len(body) > wire.MAX_BATCH_BYTES:
        raise Refused(413, "batch of %d bytes is over the limit of %d" % (len(body), wire.MAX_BATCH_BYTES))
    document = _json(body)
    if (
        isinstance(document, dict)
        and isinstance(document.get("messages"), list)
        and len(document["messages"]) > wire.MAX_BATCH_MESSAGES
    ):
        raise Refused(
            413, "%d messages in one batch, the limit is %d" % (len(document["messages"]), wire.MAX_BATCH_MESSAGES)
        )
    try:
        stamp, items = wire.validate_batch(document)
    except wire.MessageError as exc:
        raise Refused(400, str(exc))
    return stamp, items


def _json(body):
    """The JSON document of a body, or Refused(400)."""
    try:
        return json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise Refused(400, "the body is not UTF-8")
    except ValueError as exc:
        raise Refused(400, "malformed JSON: %s" % exc)
    except RecursionError:
        raise Refused(400, "malformed JSON: nested too deep")


def json_object(body, what, fields):
    """The JSON object of a small request body (a registration, a state report) whose keys are
    all in ``fields``, or Refused(400)."""
    document = _json(body)
    if not isinstance(document, dict):
        raise Refused(400, "%s must be a JSON object" % what)
    unknown = sorted(set(document) - set(fields))
    if unknown:
        raise Refused(400, "unknown field: %s" % unknown[0][:60])
    return document


def registration(body):
    """{stamp, ce, queue, site, vo, submitted} of a registration body (``wire.registration_problem``),
    or Refused(400)."""
    document = json_object(body, "a registration", wire.REGISTRATION_FIELDS)
    problem = wire.registration_problem(document)
    if problem:
        raise Refused(400, problem)
    return dict((name, document.get(name)) for name in wire.REGISTRATION_FIELDS)


def peek_stamp(body):
    """The batch's stamp if the body is readable enough to say it (for the rejected table), else None."""
    try:
        document = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    stamp = document.get("stamp") if isinstance(document, dict) else None
    return stamp if isinstance(stamp, str) else None
