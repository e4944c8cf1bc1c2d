"""How the reading CLI shows messages and pilots: the pilot's own pilot.out lines, tables, JSON."""

import json

from pilot_server.worker.logs.logger import utc_timestamp
from pilot_server.logbook.store import readable


def message_line(item):
    """One stored message (as ``store.readable`` made it) as the pilot wrote it in pilot.out
    (result and heartbeat marked); a time that is not one shows as "-"."""
    text = item["text"]
    if item["kind"] == "heartbeat" and not text:
        text = "heartbeat %s" % json.dumps(item.get("data") or {}, sort_keys=True)
    if item.get("stream") == "stderr":
        text = "[stderr] " + text
    when = readable.when(item["time"])
    return "%s %-7s [%s] %s" % (
        utc_timestamp(when) if when is not None else readable.utc(item["time"]),
        item["level"],
        item["source"],
        text,
    )


def iso(when):
    return readable.utc(when)


PILOT_COLUMNS = (
    ("STAMP", "stamp", 32),
    ("STATUS", "status", 9),
    ("SITE", "site", 22),
    ("CE", "ce", 26),
    ("LAST SEEN (UTC)", "last_seen", 19),
    ("SEQ", "last_seq", 6),
    ("MSGS", "message_count", 6),
    ("EXIT", "exit_code", 4),
)


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
    """Missing ranges in a sorted list of seqs starting at 1: ["3-5", "9"] (what is not a seq: skipped)."""
    missing, expected = [], 1
    for seq in seqs:
        if not isinstance(seq, int):
            continue
        if seq > expected:
            missing.append(str(expected) if seq - 1 == expected else "%d-%d" % (expected, seq - 1))
        expected = seq + 1
    return missing


def to_json(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _seconds(value):
    return "-" if value is None else "%.1f" % value


def stats_lines(figures):
    """stats.compute's figures as a readable report."""
    from pilot_server.logbook.store.states import STATES

    counts = figures["states"]
    shown = dict((key, value) for key, value in figures["filters"].items() if value is not None)
    lines = [
        "pilots: %d%s"
        % (
            sum(counts.values()),
            "  (%s)"
            % ", ".join(
                "%s=%s" % (key, iso(value) if key in ("since", "until") else value)
                for key, value in sorted(shown.items())
            )
            if shown
            else "",
        ),
        "  ".join("%s %d" % (state, counts[state]) for state in STATES),
    ]
    if figures["groups"]:
        lines.append("")
        lines.append(
            "%-28s %7s " % ((figures["filters"].get("group_by") or "").upper(), "TOTAL")
            + " ".join("%9s" % state for state in STATES)
        )
        for group in figures["groups"]:
            lines.append(
                "%-28s %7d " % (str(group["key"] if group["key"] is not None else "-")[:28], group["total"])
                + " ".join("%9d" % group["states"][state] for state in STATES)
            )
    lines.append("")
    lines.append(
        "%-28s %7s %7s %6s %9s %9s %9s  %s"
        % ("COMMAND", "COUNT", "FAILED", "RATE", "MEDIAN s", "P90 s", "MAX s", "TOP FAILURE REASONS")
    )
    for entry in figures["commands"]:
        reasons = "; ".join("%s (%d)" % (text[:60], count) for text, count in entry["reasons"][:3])
        lines.append(
            "%-28s %7d %7d %5.1f%% %9s %9s %9s  %s"
            % (
                entry["name"][:28],
                entry["count"],
                entry["failed"],
                100 * entry["failure_rate"],
                _seconds(entry["median"]),
                _seconds(entry["p90"]),
                _seconds(entry["max"]),
                reasons,
            )
        )
    if not figures["commands"]:
        lines.append("(no command rows)")
    wait = figures["submit_to_running"]
    lines.append("")
    lines.append(
        "submission to running: %d pilot(s); median %s s, p90 %s s, max %s s"
        % (wait["count"], _seconds(wait["median"]), _seconds(wait["p90"]), _seconds(wait["max"]))
    )
    db12 = figures["db12"]
    lines.append(
        "DB12: %d pilot(s); median %s, min %s, max %s"
        % (db12["count"], _seconds(db12["median"]), _seconds(db12["min"]), _seconds(db12["max"]))
    )
    for low, high, count in db12["histogram"]:
        lines.append("  %8.2f - %-8.2f %7d" % (low, high, count))
    return lines
