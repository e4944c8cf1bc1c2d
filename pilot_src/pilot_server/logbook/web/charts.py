"""Inline SVG charts of the web pages: a pilot's timeline and the statistics' charts.

The geometry (where each bar goes, how long it is, what its hover text says) is
computed here; the markup is the templates' ``chart-*.svg`` (views, autoescaped), so
no stored text reaches the SVG unescaped.  No script, no external resource, no
inline style: colours come from classes in webui.css, so the page's
Content-Security-Policy can forbid inline styles.  Hover texts are SVG ``<title>``
elements, which browsers show as tooltips.
"""

from pilot_server.logbook.web import views
from pilot_server.logbook.web.views import seconds  # noqa: F401 (the charts' unit, used by the pages)

LABEL_WIDTH = 180
PLOT_WIDTH = 640
ROW = 22
AXIS = 24
NICE_STEPS = (
    0.1,
    0.2,
    0.5,
    1,
    2,
    5,
    10,
    15,
    30,
    60,
    120,
    300,
    600,
    900,
    1800,
    3600,
    7200,
    14400,
    21600,
    43200,
    86400,
    172800,
    604800,
)
LABEL_CHARS = 28
NOTE_CHARS = 48


def _step(span, ticks=6):
    for step in NICE_STEPS:
        if span / step <= ticks:
            return step
    return NICE_STEPS[-1] * max(1, int(span / NICE_STEPS[-1] / ticks) + 1)


def _tick_label(value):
    if value >= 3600:
        return "%gh" % round(value / 3600.0, 2)
    if value >= 60:
        return "%gm" % round(value / 60.0, 2)
    return "%gs" % round(value, 2)


def _axis(x0, width, span, y, height, unit_label=_tick_label):
    """A time (or rate) axis along the top: its line and a tick with a grid line per step."""
    ticks = []
    step = _step(span)
    value = 0.0
    while value <= span + 1e-9:
        ticks.append({"x": x0 + width * value / span, "label": unit_label(value)})
        value += step
    return {"x0": x0, "x1": x0 + width, "y": y, "bottom": y + height, "ticks": ticks}


def _empty(text):
    return views.render("empty.html", text=text)


def _chart(template, label, width, height, css_class="chart", **context):
    return views.render(
        template,
        label=label,
        width=width,
        height=height,
        css_class=css_class,
        label_x=LABEL_WIDTH - 8,
        plot_x=LABEL_WIDTH,
        bar_height=ROW - 6,
        **context,
    )


def timeline(commands, not_run=(), start=None, end=None):
    """Each command a bar along time from the pilot's start; failures in their own colour,
    with the reason in the bar's title (hover) and a mark at the bar's end."""
    if not commands and not not_run:
        return _empty("No command messages: the pilot sent no command start or end.")
    starts = [entry["start"] for entry in commands] + ([start] if start else [])
    ends = [entry["end"] for entry in commands] + ([end] if end else [])
    t0 = min(starts) if starts else 0.0
    span = max(max(ends) - t0 if ends else 0.0, 1e-3)
    rows = []
    for index, entry in enumerate(list(commands) + [{"name": name, "not_run": True} for name in not_run]):
        row = {
            "name": entry["name"],
            "label": entry["name"][:LABEL_CHARS],
            "y": AXIS + index * ROW + 3,
            "not_run": bool(entry.get("not_run")),
        }
        rows.append(row)
        if row["not_run"]:
            continue
        status = entry["status"]
        kind = status if status in ("ok", "failed", "killed", "running") else "other"
        title = "%s: %s after %s" % (entry["name"], status, seconds(entry.get("duration")))
        if entry.get("failure_type"):
            title += " (%s)" % entry["failure_type"]
        if entry.get("reason"):
            title += ": %s" % entry["reason"]
        note = seconds(entry.get("duration"))
        if kind in ("failed", "killed"):
            note = "\u2716 %s: %s" % (status, (entry.get("reason") or "")[:NOTE_CHARS])
        row.update(
            status=status,
            kind=kind,
            title=title,
            note=note,
            x=LABEL_WIDTH + PLOT_WIDTH * (entry["start"] - t0) / span,
            width=max(PLOT_WIDTH * (entry["end"] - entry["start"]) / span, 2.0),
        )
    return _chart(
        "chart-timeline.svg",
        "timeline of the pilot's commands",
        LABEL_WIDTH + PLOT_WIDTH + 330,
        AXIS + ROW * len(rows) + 8,
        "chart timeline",
        rows=rows,
        axis=_axis(LABEL_WIDTH, PLOT_WIDTH, span, AXIS - 2, ROW * len(rows) + 4),
    )


def _legend(keys, y, spacing=None):
    """[{key, text, x, y}] of a legend row; spacing None: by the length of the text."""
    items, x = [], LABEL_WIDTH
    for key, text in keys:
        items.append({"key": key, "text": text, "x": x, "y": y})
        x += spacing if spacing else 14 + 8 * len(text) + 14
    return items


def stacked_states(groups, states, label="pilots per state"):
    """One horizontal bar per group, split into its states (a legend below)."""
    if not groups:
        return _empty("No pilots in this selection.")
    top = max(group.get("total") or 0 for group in groups) or 1
    rows = []
    for index, group in enumerate(groups):
        x = float(LABEL_WIDTH)
        segments = []
        counts = group.get("states") or {}
        for state in states:
            count = counts.get(state) or 0
            if not count:
                continue
            bar = PLOT_WIDTH * count / top
            segments.append(
                {
                    "state": state,
                    "x": x,
                    "width": max(bar, 1.0),
                    "title": "%s: %s %d" % (group.get("key"), state, count),
                }
            )
            x += bar
        rows.append(
            {
                "label": str(group.get("key"))[:LABEL_CHARS],
                "y": index * ROW + 4,
                "segments": segments,
                "total": group.get("total") or 0,
                "total_x": x + 4,
            }
        )
    height = ROW * len(groups) + 40
    return _chart(
        "chart-stacked.svg",
        label,
        LABEL_WIDTH + PLOT_WIDTH + 80,
        height + 4,
        rows=rows,
        legend=_legend([(state, state) for state in states], ROW * len(groups) + 20),
    )


def durations(commands):
    """Per command: max (light), p90 (medium) and median (dark) bars of its duration."""
    entries = [entry for entry in commands if entry.get("max") is not None]
    if not entries:
        return _empty("No command durations in this selection.")
    top = max(entry["max"] for entry in entries) or 1e-3
    height = ROW * len(entries) + AXIS + 30
    rows = []
    for index, entry in enumerate(entries):
        bars = [
            {"key": key, "width": max(PLOT_WIDTH * entry[key] / top, 1.0)}
            for key in ("max", "p90", "median")
            if entry.get(key) is not None
        ]
        rows.append(
            {
                "name": entry["name"],
                "label": entry["name"][:LABEL_CHARS],
                "y": AXIS + index * ROW + 3,
                "bars": bars,
                "title": "%s: median %s, p90 %s, max %s (%d runs)"
                % (
                    entry["name"],
                    seconds(entry.get("median")),
                    seconds(entry.get("p90")),
                    seconds(entry["max"]),
                    entry.get("count") or 0,
                ),
                "note": "%s / %s / %s"
                % (seconds(entry.get("median")), seconds(entry.get("p90")), seconds(entry["max"])),
            }
        )
    return _chart(
        "chart-durations.svg",
        "command durations",
        LABEL_WIDTH + PLOT_WIDTH + 200,
        height,
        rows=rows,
        note_x=LABEL_WIDTH + PLOT_WIDTH + 6,
        axis=_axis(LABEL_WIDTH, PLOT_WIDTH, top, AXIS - 2, ROW * len(entries) + 4),
        legend=_legend((("median", "median"), ("p90", "90th percentile"), ("max", "maximum")), height - 14, 140),
    )


def failures(commands):
    """Per command: its failure rate as a bar, the most frequent reasons in the title and beside it."""
    entries = [entry for entry in commands if entry.get("count")]
    if not entries:
        return _empty("No commands in this selection.")
    rows = []
    for index, entry in enumerate(entries):
        rate = entry.get("failure_rate") or 0.0
        reasons = entry.get("reasons") or []
        top_reasons = "; ".join("%s (%d)" % (reason, count) for reason, count in reasons[:3])
        rows.append(
            {
                "name": entry["name"],
                "label": entry["name"][:LABEL_CHARS],
                "y": AXIS + index * ROW + 3,
                "width": max(PLOT_WIDTH * rate, 1.5) if rate > 0 else None,
                "title": "%s: %d of %d failed (%.1f%%)%s"
                % (
                    entry["name"],
                    entry.get("failed") or 0,
                    entry["count"],
                    rate * 100,
                    (": " + top_reasons) if top_reasons else "",
                ),
                "note": "%.1f%% %s" % (rate * 100, ("- " + reasons[0][0])[:NOTE_CHARS] if reasons else ""),
            }
        )
    return _chart(
        "chart-failures.svg",
        "command failure rates",
        LABEL_WIDTH + PLOT_WIDTH + 300,
        ROW * len(entries) + AXIS + 6,
        rows=rows,
        note_x=LABEL_WIDTH + PLOT_WIDTH + 6,
        plot_width=PLOT_WIDTH,
        axis=_axis(
            LABEL_WIDTH, PLOT_WIDTH, 1.0, AXIS - 2, ROW * len(entries) + 4, lambda value: "%d%%" % round(value * 100)
        ),
    )


def histogram(bins, label="DB12 scores"):
    """Vertical bars of [[lo, hi, n], ...]."""
    bins = [entry for entry in bins or [] if len(entry) == 3]
    if not bins:
        return _empty("No values in this selection.")
    top = max(entry[2] for entry in bins) or 1
    width, height, base = 760, 220, 190
    step = (width - 60) / float(len(bins))
    bars = []
    for index, (low, high, count) in enumerate(bins):
        tall = (base - 20) * count / float(top)
        x = 40 + index * step
        bars.append(
            {
                "title": "%s %s-%s: %d" % (label, _short(low), _short(high), count),
                "x": x + 1,
                "y": base - tall,
                "width": max(step - 2, 1),
                "height": tall,
                "centre": x + step / 2,
                "tick": _short(low) if len(bins) <= 24 or index % max(1, len(bins) // 12) == 0 else None,
            }
        )
    return _chart("chart-histogram.svg", label, width, height, bars=bars, base=base, right=width - 20, top=top)


def _short(value):
    if isinstance(value, float):
        return "%g" % round(value, 2)
    return str(value)


def spread(summary, label):
    """median / p90 / max of one quantity (e.g. submission to running) as three bars."""
    if not summary or not summary.get("count"):
        return _empty("No values in this selection.")
    top = summary.get("max") or 1e-3
    rows = []
    for index, key in enumerate(("median", "p90", "max")):
        value = summary.get(key)
        row = {"key": key, "y": index * ROW + 4, "width": None}
        if value is not None:
            bar = max(PLOT_WIDTH * value / top, 1.0)
            row.update(
                width=bar,
                note_x=LABEL_WIDTH + bar + 6,
                text=seconds(value),
                title="%s %s: %s" % (label, key, seconds(value)),
            )
        rows.append(row)
    return _chart("chart-spread.svg", label, LABEL_WIDTH + PLOT_WIDTH + 120, 3 * ROW + 8, rows=rows)
