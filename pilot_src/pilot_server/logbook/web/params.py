"""The web pages' query parameters: each page's filters, checked, or BadRequest (400, one line)."""

import re
from urllib.parse import parse_qs

from pilot_server.worker import messages as wire
from pilot_server.logbook.receive.intake import STAMP_PATTERN
from pilot_server.logbook.store import stats, timespec
from pilot_server.logbook.web import data as webdata

PAGE_SIZES = (25, 50, 100, 200, 500)
DEFAULT_PAGE = 50
TEXT_LIMIT = 128
REASON_LIMIT = 200
LIST_PARAMS = ("site", "ce", "queue", "vo", "version", "state", "since", "until", "reason", "stamp", "cursor", "limit")
STATS_PARAMS = ("site", "ce", "queue", "vo", "version", "since", "until", "group_by")
PILOT_PARAMS = ("after", "levels")
GROUPS = stats.GROUPS
# The statistics page opens on the last day: over all time, with a million pilots, the
# statistics take seconds (docs/benchmarks.md); since=all asks for all of it.
DEFAULT_STATS_SINCE = "24h"
DIGITS = re.compile(r"[0-9]{1,20}\Z")  # ASCII digits only (str.isdigit also takes '²'), never 30 of them


class BadRequest(Exception):
    """A bad parameter: 400 (or the status given) with this one-line reason."""

    def __init__(self, reason, status=400):
        Exception.__init__(self, " ".join(str(reason).split())[:300])
        self.status = status


def parse(query, allowed):
    """{name: value} of the non-blank parameters; BadRequest for an unknown or repeated one."""
    try:
        values = parse_qs(query, keep_blank_values=True, max_num_fields=40, strict_parsing=False)
    except ValueError:
        raise BadRequest("too many or malformed parameters")
    result = {}
    for name, items in values.items():
        if name not in allowed:
            raise BadRequest("unknown parameter: %s (known: %s)" % (name[:40], ", ".join(allowed)))
        if len(items) > 1:
            raise BadRequest("give %s once" % name)
        value = items[0].strip()
        if value:
            result[name] = value
    return result


def _text(params, name, limit=TEXT_LIMIT):
    value = params.get(name)
    if value is None:
        return None
    if len(value) > limit:
        raise BadRequest("%s must be at most %d characters" % (name, limit))
    if any(ord(char) < 32 for char in value):
        raise BadRequest("%s must not contain control characters" % name)
    return value


def _when(params, name):
    value = params.get(name)
    if value is None:
        return None
    try:
        return timespec.parse_when(value[:64])
    except ValueError as exc:
        raise BadRequest("%s: %s" % (name, exc))


def _window(params):
    since, until = _when(params, "since"), _when(params, "until")
    if since is not None and until is not None and since > until:
        raise BadRequest("since is after until")
    return since, until


def list_filters(query):
    """(filters for webdata.list_pilots, cursor, limit, the parameters as given) or BadRequest."""
    params = parse(query, LIST_PARAMS)
    filters = {}
    for name in ("site", "ce", "queue", "vo", "version"):
        filters[name] = _text(params, name)
    state = params.get("state")
    if state is not None:
        canonical = dict((known.lower(), known) for known in webdata.KNOWN_STATES).get(state.lower())
        if canonical is None:
            raise BadRequest("state must be one of %s, not %s" % (", ".join(webdata.KNOWN_STATES), state[:40]))
        filters["status"] = canonical
    filters["since"], filters["until"] = _window(params)
    filters["reason"] = _text(params, "reason", REASON_LIMIT)
    stamp = _text(params, "stamp")
    if stamp is not None and not all(char.isalnum() or char in "._:@+-" for char in stamp):
        raise BadRequest("stamp must be letters, digits and . _ : @ + - (the start of a pilot stamp)")
    filters["stamp"] = stamp
    cursor = None
    if "cursor" in params:
        seen, sep, last = params["cursor"].partition("~")
        try:
            seen = float(seen)
        except ValueError:
            seen = None
        if not sep or seen is None or seen != seen or not STAMP_PATTERN.match(last):
            raise BadRequest("bad cursor (use the page's own links)")
        cursor = (seen, last)
    limit = DEFAULT_PAGE
    if "limit" in params:
        text = params["limit"]
        if not DIGITS.match(text) or not 1 <= int(text) <= max(PAGE_SIZES):
            raise BadRequest("limit must be a number from 1 to %d" % max(PAGE_SIZES))
        limit = int(text)
    return filters, cursor, limit, params


def cursor_text(cursor):
    """The ``cursor`` parameter of the page after ``cursor`` (last seen, stamp)."""
    return "%r~%s" % (cursor[0], cursor[1])


def pilot_options(query):
    """(after, levels or None, the parameters as given) of a pilot's page, or BadRequest."""
    params = parse(query, PILOT_PARAMS)
    after = 0
    if "after" in params:
        if not DIGITS.match(params["after"]) or int(params["after"]) > wire.MAX_SEQ:
            raise BadRequest("after must be a message sequence number (0 to %d)" % wire.MAX_SEQ)
        after = int(params["after"])
    levels = None
    if "levels" in params:
        levels = set(part.strip().upper() for part in params["levels"].split(",") if part.strip())
        unknown = sorted(levels - set(wire.LEVELS))
        if unknown or not levels:
            raise BadRequest("levels must be among %s" % ", ".join(wire.LEVELS))
    return after, levels, params


def stats_filters(query):
    """(keyword arguments of stats.compute, the parameters as shown) or BadRequest."""
    params = parse(query, STATS_PARAMS)
    filters = {}
    for name in ("site", "ce", "queue", "vo", "version"):
        filters[name] = _text(params, name)
    if params.get("since") is None and params.get("until") is None:
        params = dict(params, since=DEFAULT_STATS_SINCE)
    if (params.get("since") or "").strip().lower() == "all":
        filters["since"], filters["until"] = None, _when(params, "until")
    else:
        filters["since"], filters["until"] = _window(params)
    group_by = params.get("group_by", "site")
    if group_by not in GROUPS:
        raise BadRequest("group_by must be one of %s" % ", ".join(GROUPS))
    filters["group_by"] = group_by
    return filters, params
