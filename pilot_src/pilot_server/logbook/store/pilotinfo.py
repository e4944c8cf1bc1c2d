"""What a batch tells the logbook about its pilot: where it runs, whether it ended, how.

States and their transitions are ``states`` (one definition); this module only
reads messages: the identifying fields, the result (exit code, failed command,
reason, DB12), heartbeats, and one row per command.

Identifying fields (``vo``, ``site``, ``ce``, ``queue``, ``version``) are taken
from any message's ``data`` (docs/logging-protocol.md, "What the logbook
records"): top-level keys, the ``pilot`` section of a result, or a
``parameters`` section with DIRAC's option names (``wnVO``, ``site``, ``ceName``,
``queueName``), whose values may be plain or ``{"value": ...}``.
"""

import calendar
import math
import time

from pilot_server.worker import messages as wire
from pilot_server.logbook.store import schema
from pilot_server.logbook.store.states import DONE, FAILED

COMMAND_END = tuple(status for status in wire.COMMAND_STATUSES if status != "started")  # ok, failed, killed

INFO_FIELDS = {
    "vo": ("vo", "wnVO"),
    "site": ("site",),
    "ce": ("ce", "ceName"),
    "queue": ("queue", "queueName"),
    "version": ("version",),
}
INFO_LIMITS = {
    "vo": schema.INFO_LENGTH,
    "site": schema.INFO_LENGTH,
    "ce": schema.INFO_LENGTH,
    "queue": schema.INFO_LENGTH,
    "version": schema.NAME_LENGTH,
}


def _plain(value):
    if isinstance(value, dict) and "value" in value:
        value = value["value"]
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def info_from(data):
    """{field: value} of the identifying fields found in one message's data."""
    found = {}
    if not isinstance(data, dict):
        return found
    sections = [data]
    for key in ("pilot", "parameters"):
        if isinstance(data.get(key), dict):
            sections.append(data[key])
    for field, names in INFO_FIELDS.items():
        for section in sections:
            for name in names:
                value = _plain(section.get(name))
                if value:
                    found[field] = value[: INFO_LIMITS[field]]
                    break
            if field in found:
                break
    return found


def result_from(data):
    """exit_code, failed_command, reason and the status of a ``result`` message's data."""
    data = data if isinstance(data, dict) else {}
    pilot = data.get("pilot") if isinstance(data.get("pilot"), dict) else data
    code = pilot.get("exit_code", data.get("exit_code"))
    if isinstance(code, bool) or not isinstance(code, int):
        code = None
    failed = _plain(pilot.get("failed_command"))
    reason = pilot.get("reason")
    reason = " ".join(str(reason).split())[:2000] if reason else None
    return {
        "exit_code": code,
        "failed_command": failed[: schema.NAME_LENGTH] if failed else None,
        "reason": reason,
        "status": DONE if code == 0 else FAILED,
    }


def _number(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def db12_from(data):
    """The DB12 score of a result's data (``db12``: a number, or {"score": n}), or None."""
    value = data.get("db12") if isinstance(data, dict) else None
    if isinstance(value, dict):
        value = value.get("score")
    value = _number(value)
    return value if value is not None and 0 <= value < 1e6 else None


def parse_utc(text):
    """Epoch seconds of the pilot's UTC time strings ('2026-11-21T16:48:50.120031Z'), or None."""
    if not isinstance(text, str):
        return _number(text)
    text = text.strip().rstrip("Z")
    whole, _, fraction = text.partition(".")
    try:
        seconds = calendar.timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S"))
        return seconds + (float("0." + fraction) if fraction.isdigit() else 0.0)
    except ValueError:
        return None


def _cut(text, limit):
    if text is None:
        return None
    return " ".join(str(text).split())[:limit] or None


def command_rows(messages):
    """{name: {status, start, duration, failure_type, reason}} of the commands these messages
    tell about: ``command`` messages (start, end) and the result's list.  Values that a
    message does not know are left out, so that rows merge."""
    rows = {}
    for item in sorted(messages, key=lambda message: message["seq"]):
        data = item.get("data") if isinstance(item.get("data"), dict) else {}
        if item["kind"] == "command" and item.get("status"):
            row = rows.setdefault(item["source"][: schema.NAME_LENGTH], {})
            if item["status"] == "started":
                row.setdefault("status", "running")
                row["start"] = item["time"]
            elif item["status"] in COMMAND_END:
                row["status"] = item["status"]
                _command_end(row, data, item["time"])
        elif item["kind"] == "result" and isinstance(data.get("commands"), list):
            for entry in data["commands"]:
                if (
                    not isinstance(entry, dict)
                    or entry.get("status") not in COMMAND_END
                    or not isinstance(entry.get("name"), str)
                    or not entry["name"]
                ):
                    continue
                row = rows.setdefault(entry["name"][: schema.NAME_LENGTH], {})
                row["status"] = entry["status"]
                start = parse_utc(entry.get("start"))
                if start is not None:
                    row["start"] = start
                _command_end(row, entry, None)
    return rows


def _command_end(row, data, end_time):
    duration = _number(data.get("duration"))
    if duration is not None and duration >= 0:
        row["duration"] = duration
        if end_time is not None and "start" not in row and end_time >= duration:
            row["start"] = end_time - duration
    for key, limit in (("failure_type", schema.NAME_LENGTH), ("reason", schema.REASON_LENGTH)):
        value = _cut(data.get(key), limit)
        if value:
            row[key] = value


def summarise(messages):
    """What a list of (new) messages changes on the pilot row, as a dict of facts."""
    facts = {
        "info": {},
        "heartbeat_time": None,
        "result": None,
        "result_time": None,
        "db12": None,
        "first_time": None,
        "commands": {},
    }
    has_commands = False
    for item in messages:
        data = item.get("data")
        if facts["first_time"] is None or item["time"] < facts["first_time"]:
            facts["first_time"] = item["time"]
        if data:
            for field, value in info_from(data).items():
                facts["info"].setdefault(field, value)
        if item["kind"] == "heartbeat":
            facts["heartbeat_time"] = max(facts["heartbeat_time"] or 0, item["time"])
        elif item["kind"] == "result":
            facts["result"] = result_from(data)
            facts["result_time"] = item["time"]
            facts["db12"] = db12_from(data)
            has_commands = True
        elif item["kind"] == "command":
            has_commands = True
    if has_commands:
        facts["commands"] = command_rows(messages)
    return facts
