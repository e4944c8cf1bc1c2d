"""The checks a batch passes before it is stored: the same for HTTPS and RabbitMQ.

``parse(body)`` returns (stamp, messages) or raises ``Refused`` with the HTTP
status and a one-line reason:

* 413: the body is over ``MAX_BATCH_BYTES``, or it holds more than
  ``MAX_BATCH_MESSAGES`` messages (batch limits);
* 400: not UTF-8 JSON, not a batch, a missing or bad field -- including a
  field over its own limit (text, names, data): the message is wrong, not the batch too big;
  a stamp outside ``STAMP_PATTERN``.

The schema itself is ``pilot.messages`` (one definition, shared with the pilot).
"""

import json
import re

from pilot import messages as wire

# Stamps the logbook stores: what pilots use (32 hex, UUIDs) and DIRAC-like references,
# never whitespace or characters that a database may compare loosely.
STAMP_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@+-]{0,127}$")


class Refused(Exception):
    """A request the logbook refuses: ``status`` (HTTP) and str() = the one-line reason."""

    def __init__(self, status, reason):
        Exception.__init__(self, " ".join(str(reason).split()))
        self.status = status


def parse(body):
    """Decode and validate a batch body (bytes); (stamp, [messages]) or raise Refused."""
    if len(body) > wire.MAX_BATCH_BYTES:
        raise Refused(413, "batch of %d bytes is over the limit of %d" % (len(body), wire.MAX_BATCH_BYTES))
    try:
        document = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise Refused(400, "the body is not UTF-8")
    except ValueError as exc:
        raise Refused(400, "malformed JSON: %s" % exc)
    if isinstance(document, dict) and isinstance(document.get("messages"), list) \
            and len(document["messages"]) > wire.MAX_BATCH_MESSAGES:
        raise Refused(413, "%d messages in one batch, the limit is %d"
                      % (len(document["messages"]), wire.MAX_BATCH_MESSAGES))
    try:
        stamp, items = wire.validate_batch(document)
    except wire.MessageError as exc:
        raise Refused(400, str(exc))
    if not STAMP_PATTERN.match(stamp):
        raise Refused(400, "bad field: stamp (1-128 letters, digits and . _ : @ + -)")
    return stamp, items


def json_object(body, what, fields):
    """The JSON object of a small request body (a registration, a state report) whose keys are
    all in ``fields``, or Refused(400)."""
    try:
        document = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise Refused(400, "malformed JSON: %s" % exc)
    if not isinstance(document, dict):
        raise Refused(400, "%s must be a JSON object" % what)
    unknown = sorted(set(document) - set(fields))
    if unknown:
        raise Refused(400, "unknown field: %s" % unknown[0][:60])
    return document


def peek_stamp(body):
    """The batch's stamp if the body is readable enough to say it (for the rejected table), else None."""
    try:
        document = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    stamp = document.get("stamp") if isinstance(document, dict) else None
    return stamp if isinstance(stamp, str) else None
