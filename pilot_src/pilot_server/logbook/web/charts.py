"""Inline SVG charts of the web pages: a pilot's timeline and the statistics' charts.

Plain SVG markup as text (no script, no external resource, no inline style: colours come
from classes in webui.css, so the page's Content-Security-Policy can forbid inline styles).
Every text placed in the SVG is escaped.  Hover texts are SVG ``<title>`` elements, which
browsers show as tooltips.
"""

from html import escape

LABEL_WIDTH = 180
PLOT_WIDTH = 640
ROW = 22
AXIS = 24
NICE_STEPS = (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 21600,
              43200, 86400, 172800, 604800)


def esc(value):
    return escape("" if value is None else str(value), quote=True)


def seconds(value):
    """A duration for people: 0.42 s, 12.5 s, 3 min 20 s, 2 h 05 min."""
    if value is None:
        return "-"
    value = float(value)
    if value < 10:
        return "%.2f s" % value
    if value < 120:
        return "%.1f s" % value
    if value < 7200:
        return "%d min %02d s" % (value // 60, value % 60)
    return "%d h %02d min" % (value // 3600, (value % 3600) // 60)


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
    parts = ['<g class="axis">', '<line x1="%d" y1="%d" x2="%d" y2="%d"/>' % (x0, y, x0 + width, y)]
    step = _step(span)
    value = 0.0
    while value <= span + 1e-9:
        x = x0 + width * value / span
        parts.append('<line class="grid" x1="%.1f" y1="%d" x2="%.1f" y2="%d"/>' % (x, y, x, y + height))
        parts.append('<text x="%.1f" y="%d" text-anchor="middle">%s</text>' % (x, y - 6, esc(unit_label(value))))
        value += step
    parts.append("</g>")
    return parts


def _svg(width, height, label, body, css_class="chart"):
    return ('<svg class="%s" role="img" aria-label="%s" viewBox="0 0 %d %d" width="%d" height="%d" '
            'xmlns="http://www.w3.org/2000/svg">%s</svg>'
            % (css_class, esc(label), width, height, width, height, "".join(body)))


def timeline(commands, not_run=(), start=None, end=None):
    """Each command a bar along time from the pilot's start; failures in their own colour,
    with the reason in the bar's title (hover) and a mark at the bar's end."""
    if not commands and not not_run:
        return '<p class="empty">No command messages: the pilot sent no command start or end.</p>'
    starts = [entry["start"] for entry in commands] + ([start] if start else [])
    ends = [entry["end"] for entry in commands] + ([end] if end else [])
    t0 = min(starts) if starts else 0.0
    span = max(max(ends) - t0 if ends else 0.0, 1e-3)
    rows = list(commands) + [{"name": name, "not_run": True} for name in not_run]
    height = AXIS + ROW * len(rows) + 8
    width = LABEL_WIDTH + PLOT_WIDTH + 330
    body = _axis(LABEL_WIDTH, PLOT_WIDTH, span, AXIS - 2, ROW * len(rows) + 4)
    for index, entry in enumerate(rows):
        y = AXIS + index * ROW + 3
        label = entry["name"]
        body.append('<text class="label" x="%d" y="%d" text-anchor="end">%s</text>'
                    % (LABEL_WIDTH - 8, y + 12, esc(label[:28])))
        if entry.get("not_run"):
            body.append('<text class="notrun" x="%d" y="%d" data-command="%s">not run</text>'
                        % (LABEL_WIDTH + 4, y + 12, esc(label)))
            continue
        x = LABEL_WIDTH + PLOT_WIDTH * (entry["start"] - t0) / span
        bar = max(PLOT_WIDTH * (entry["end"] - entry["start"]) / span, 2.0)
        status = entry["status"]
        kind = status if status in ("ok", "failed", "killed", "running") else "other"
        title = "%s: %s after %s" % (label, status, seconds(entry.get("duration")))
        if entry.get("failure_type"):
            title += " (%s)" % entry["failure_type"]
        if entry.get("reason"):
            title += ": %s" % entry["reason"]
        body.append('<g class="bar %s" data-command="%s" data-status="%s"><title>%s</title>'
                    '<rect x="%.1f" y="%d" width="%.1f" height="%d" rx="2"/>'
                    % (kind, esc(label), esc(status), esc(title), x, y, bar, ROW - 6))
        note = seconds(entry.get("duration"))
        if kind in ("failed", "killed"):
            note = "\u2716 %s: %s" % (status, (entry.get("reason") or "")[:48])
        body.append('<text class="note" x="%.1f" y="%d">%s</text></g>' % (x + bar + 4, y + 12, esc(note)))
    return _svg(width, height, "timeline of the pilot's commands", body, "chart timeline")


def stacked_states(groups, states, label="pilots per state"):
    """One horizontal bar per group, split into its states (a legend below)."""
    if not groups:
        return '<p class="empty">No pilots in this selection.</p>'
    top = max(group.get("total") or 0 for group in groups) or 1
    height = ROW * len(groups) + 40
    width = LABEL_WIDTH + PLOT_WIDTH + 80
    body = []
    for index, group in enumerate(groups):
        y = index * ROW + 4
        body.append('<text class="label" x="%d" y="%d" text-anchor="end">%s</text>'
                    % (LABEL_WIDTH - 8, y + 12, esc(str(group.get("key"))[:28])))
        x = float(LABEL_WIDTH)
        counts = group.get("states") or {}
        for state in states:
            count = counts.get(state) or 0
            if not count:
                continue
            bar = PLOT_WIDTH * count / top
            body.append('<rect class="state-%s" x="%.1f" y="%d" width="%.1f" height="%d"><title>%s: %s %d</title>'
                        '</rect>' % (esc(state), x, y, max(bar, 1.0), ROW - 6, esc(group.get("key")), esc(state),
                                     count))
            x += bar
        body.append('<text class="note" x="%.1f" y="%d">%d</text>' % (x + 4, y + 12, group.get("total") or 0))
    y = ROW * len(groups) + 20
    x = LABEL_WIDTH
    for state in states:
        body.append('<rect class="state-%s" x="%d" y="%d" width="10" height="10"/>' % (esc(state), x, y))
        body.append('<text class="legend" x="%d" y="%d">%s</text>' % (x + 14, y + 9, esc(state)))
        x += 14 + 8 * len(state) + 14
    return _svg(width, height + 4, label, body)


def durations(commands):
    """Per command: max (light), p90 (medium) and median (dark) bars of its duration."""
    rows = [entry for entry in commands if entry.get("max") is not None]
    if not rows:
        return '<p class="empty">No command durations in this selection.</p>'
    top = max(entry["max"] for entry in rows) or 1e-3
    height = ROW * len(rows) + AXIS + 30
    width = LABEL_WIDTH + PLOT_WIDTH + 200
    body = _axis(LABEL_WIDTH, PLOT_WIDTH, top, AXIS - 2, ROW * len(rows) + 4)
    for index, entry in enumerate(rows):
        y = AXIS + index * ROW + 3
        body.append('<text class="label" x="%d" y="%d" text-anchor="end">%s</text>'
                    % (LABEL_WIDTH - 8, y + 12, esc(entry["name"][:28])))
        title = "%s: median %s, p90 %s, max %s (%d runs)" % (
            entry["name"], seconds(entry.get("median")), seconds(entry.get("p90")), seconds(entry["max"]),
            entry.get("count") or 0)
        body.append('<g data-command="%s"><title>%s</title>' % (esc(entry["name"]), esc(title)))
        for key in ("max", "p90", "median"):
            value = entry.get(key)
            if value is None:
                continue
            body.append('<rect class="dur-%s" x="%d" y="%d" width="%.1f" height="%d"/>'
                        % (key, LABEL_WIDTH, y, max(PLOT_WIDTH * value / top, 1.0), ROW - 6))
        body.append('<text class="note" x="%d" y="%d">%s / %s / %s</text></g>'
                    % (LABEL_WIDTH + PLOT_WIDTH + 6, y + 12, esc(seconds(entry.get("median"))),
                       esc(seconds(entry.get("p90"))), esc(seconds(entry["max"]))))
    y = height - 14
    x = LABEL_WIDTH
    for key, text in (("median", "median"), ("p90", "90th percentile"), ("max", "maximum")):
        body.append('<rect class="dur-%s" x="%d" y="%d" width="10" height="10"/>' % (key, x, y))
        body.append('<text class="legend" x="%d" y="%d">%s</text>' % (x + 14, y + 9, text))
        x += 140
    return _svg(width, height, "command durations", body)


def failures(commands):
    """Per command: its failure rate as a bar, the most frequent reasons in the title and beside it."""
    rows = [entry for entry in commands if entry.get("count")]
    if not rows:
        return '<p class="empty">No commands in this selection.</p>'
    height = ROW * len(rows) + AXIS + 6
    width = LABEL_WIDTH + PLOT_WIDTH + 300
    body = _axis(LABEL_WIDTH, PLOT_WIDTH, 1.0, AXIS - 2, ROW * len(rows) + 4,
                 lambda value: "%d%%" % round(value * 100))
    for index, entry in enumerate(rows):
        y = AXIS + index * ROW + 3
        rate = entry.get("failure_rate") or 0.0
        reasons = entry.get("reasons") or []
        top_reasons = "; ".join("%s (%d)" % (reason, count) for reason, count in reasons[:3])
        title = "%s: %d of %d failed (%.1f%%)%s" % (entry["name"], entry.get("failed") or 0, entry["count"],
                                                    rate * 100, (": " + top_reasons) if top_reasons else "")
        body.append('<text class="label" x="%d" y="%d" text-anchor="end">%s</text>'
                    % (LABEL_WIDTH - 8, y + 12, esc(entry["name"][:28])))
        body.append('<g class="failrate" data-command="%s"><title>%s</title>' % (esc(entry["name"]), esc(title)))
        body.append('<rect class="track" x="%d" y="%d" width="%d" height="%d"/>' % (LABEL_WIDTH, y, PLOT_WIDTH, ROW - 6))
        if rate > 0:
            body.append('<rect class="failed" x="%d" y="%d" width="%.1f" height="%d"/>'
                        % (LABEL_WIDTH, y, max(PLOT_WIDTH * rate, 1.5), ROW - 6))
        body.append('<text class="note" x="%d" y="%d">%.1f%% %s</text></g>'
                    % (LABEL_WIDTH + PLOT_WIDTH + 6, y + 12, rate * 100,
                       esc(("- " + reasons[0][0])[:48] if reasons else "")))
    return _svg(width, height, "command failure rates", body)


def histogram(bins, label="DB12 scores", unit=""):
    """Vertical bars of [[lo, hi, n], ...]."""
    bins = [entry for entry in bins or [] if len(entry) == 3]
    if not bins:
        return '<p class="empty">No values in this selection.</p>'
    top = max(entry[2] for entry in bins) or 1
    width, height, base = 760, 220, 190
    bar = (width - 60) / float(len(bins))
    body = ['<g class="axis"><line x1="40" y1="%d" x2="%d" y2="%d"/></g>' % (base, width - 20, base)]
    for index, (low, high, count) in enumerate(bins):
        h = (base - 20) * count / float(top)
        x = 40 + index * bar
        body.append('<g class="bin"><title>%s %s-%s: %d</title><rect x="%.1f" y="%.1f" width="%.1f" height="%.1f"/>'
                    '</g>' % (esc(label), esc(_short(low)), esc(_short(high)), count, x + 1, base - h,
                              max(bar - 2, 1), h))
        if len(bins) <= 24 or index % max(1, len(bins) // 12) == 0:
            body.append('<text class="tick" x="%.1f" y="%d" text-anchor="middle">%s</text>'
                        % (x + bar / 2, base + 14, esc(_short(low))))
    body.append('<text class="tick" x="36" y="28" text-anchor="end">%d</text>' % top)
    return _svg(width, height, label, body)


def _short(value):
    if isinstance(value, float):
        return "%g" % round(value, 2)
    return str(value)


def spread(summary, label):
    """median / p90 / max of one quantity (e.g. submission to running) as three bars."""
    if not summary or not summary.get("count"):
        return '<p class="empty">No values in this selection.</p>'
    top = summary.get("max") or 1e-3
    width, height = LABEL_WIDTH + PLOT_WIDTH + 120, 3 * ROW + 8
    body = []
    for index, key in enumerate(("median", "p90", "max")):
        value = summary.get(key)
        y = index * ROW + 4
        body.append('<text class="label" x="%d" y="%d" text-anchor="end">%s</text>' % (LABEL_WIDTH - 8, y + 12, key))
        if value is not None:
            body.append('<rect class="dur-%s" x="%d" y="%d" width="%.1f" height="%d"><title>%s %s: %s</title></rect>'
                        % (key, LABEL_WIDTH, y, max(PLOT_WIDTH * value / top, 1.0), ROW - 6, esc(label), key,
                           esc(seconds(value))))
            body.append('<text class="note" x="%.1f" y="%d">%s</text>'
                        % (LABEL_WIDTH + max(PLOT_WIDTH * value / top, 1.0) + 6, y + 12, esc(seconds(value))))
    return _svg(width, height, label, body)
