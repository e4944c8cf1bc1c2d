"""What a batch tells the logbook about its pilot: where it runs, whether it ended, how.

The pilot row keeps DIRAC's statuses (reference §9).  Issue 6 sets only what
the messages show: a pilot that sends is ``Running``; its ``result`` message
makes it ``Done`` (exit code 0) or ``Failed``; a registered pilot starts as
``Submitted``.  A final status is never left because of a late message
(batches may arrive out of order).  Issue 7 adds validated transitions,
Waiting/Aborted/Deleted from submitters, and Lost.

Identifying fields (``vo``, ``site``, ``ce``, ``queue``, ``version``) are taken
from any message's ``data`` (docs/logging-protocol.md, "What the logbook
records"): top-level keys, the ``pilot`` section of a result, or a
``parameters`` section with DIRAC's option names (``wnVO``, ``site``, ``ceName``,
``queueName``), whose values may be plain or ``{"value": ...}``.
"""

from pilot_server.logbook import schema

SUBMITTED, WAITING, RUNNING, DONE, FAILED, ABORTED, DELETED, UNKNOWN = (
    "Submitted", "Waiting", "Running", "Done", "Failed", "Aborted", "Deleted", "Unknown")
STATUSES = (SUBMITTED, WAITING, RUNNING, DONE, FAILED, ABORTED, DELETED, UNKNOWN)
WAITING_STATES = (SUBMITTED, WAITING)
FINAL_STATES = (DONE, FAILED, ABORTED, DELETED)

INFO_FIELDS = {
    "vo": ("vo", "wnVO"),
    "site": ("site",),
    "ce": ("ce", "ceName"),
    "queue": ("queue", "queueName"),
    "version": ("version",),
}
INFO_LIMITS = {"vo": schema.INFO_LENGTH, "site": schema.INFO_LENGTH, "ce": schema.INFO_LENGTH,
               "queue": schema.INFO_LENGTH, "version": schema.NAME_LENGTH}


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
                    found[field] = value[:INFO_LIMITS[field]]
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
    return {"exit_code": code,
            "failed_command": failed[:schema.NAME_LENGTH] if failed else None,
            "reason": reason,
            "status": DONE if code == 0 else FAILED}


def summarise(messages):
    """What a list of (new) messages changes on the pilot row, as a dict of facts."""
    facts = {"info": {}, "heartbeat_time": None, "result": None, "result_time": None}
    for item in messages:
        data = item.get("data")
        if data:
            for field, value in info_from(data).items():
                facts["info"].setdefault(field, value)
        if item["kind"] == "heartbeat":
            facts["heartbeat_time"] = max(facts["heartbeat_time"] or 0, item["time"])
        elif item["kind"] == "result":
            facts["result"] = result_from(data)
            facts["result_time"] = item["time"]
    return facts


def next_status(current, has_result, result_status):
    """The status after a batch: a result ends the pilot; any message means it runs."""
    if has_result:
        return result_status if current not in (ABORTED, DELETED) else current
    if current in FINAL_STATES:
        return current
    return RUNNING
