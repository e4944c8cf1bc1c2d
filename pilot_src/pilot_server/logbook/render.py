"""How the reading CLI shows messages and pilots: the pilot's own pilot.out lines, tables, JSON."""

import datetime
import json

from pilot.logger import utc_timestamp


def message_line(item):
    """One stored message as the pilot wrote it in pilot.out (result and heartbeat marked)."""
    text = item["text"]
    if item["kind"] == "heartbeat" and not text:
        text = "heartbeat %s" % json.dumps(item.get("data") or {}, sort_keys=True)
    if item.get("stream") == "stderr":
        text = "[stderr] " + text
    return "%s %-7s [%s] %s" % (utc_timestamp(item["time"]), item["level"], item["source"], text)


def iso(when):
    if when is None:
        return "-"
    return datetime.datetime.fromtimestamp(when, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


PILOT_COLUMNS = (("STAMP", "stamp", 32), ("STATUS", "status", 9), ("SITE", "site", 22), ("CE", "ce", 26),
                 ("LAST SEEN (UTC)", "last_seen", 19), ("SEQ", "last_seq", 6), ("MSGS", "message_count", 6),
                 ("EXIT", "exit_code", 4))


def pilots_table(rows):
    lines = ["  ".join(title.ljust(width) for title, _key, width in PILOT_COLUMNS).rstrip()]
    for row in rows:
        cells = []
        for _title, key, width in PILOT_COLUMNS:
            value = row.get(key)
            if key == "last_seen":
                value = iso(value)
            cells.append(("-" if value is None else str(value)).ljust(width))
        lines.append("  ".join(cells).rstrip())
    return lines


def gaps(seqs):
    """Missing ranges in a sorted list of seqs starting at 1: ["3-5", "9"]."""
    missing, expected = [], 1
    for seq in seqs:
        if seq > expected:
            missing.append(str(expected) if seq - 1 == expected else "%d-%d" % (expected, seq - 1))
        expected = seq + 1
    return missing


def to_json(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"))
