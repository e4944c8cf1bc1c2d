"""The logbook's JSON API besides ingestion: administrators' reads, submitters' state reports.

Reads need an administrator credential (``Access.may_read``): no credential 401,
any other 403.  Every error body is ``{"error": "<one line>"}``.

=====================================================  ==============================================
``GET /api/v1/pilots?site=&ce=&queue=&version=&vo=``    ``{"pilots": [row, ...]}``, newest first;
``&status=&since=&until=&limit=``                       limit 1-1000 (default 100)
``GET /api/v1/pilots/<stamp>``                          ``{"pilot": row, "states": [...], "commands": [...]}``
``GET /api/v1/pilots/<stamp>/messages?after=&limit=``   ``{"messages": [...]}`` in seq order (limit <= 10000)
``GET /api/v1/pilots/<stamp>/export``                   the gzip archive of ``export`` (application/gzip)
``GET /api/v1/stats?site=&ce=&queue=&version=&vo=``     ``stats.compute(...)``
``&since=&until=&by=``
``POST /api/v1/pilots/<stamp>/state``                   body ``{"state": "Running", "time": epoch?}``:
                                                        200 ``{"stamp", "state", "previous", "changed"}``
=====================================================  ==============================================

Statuses: 400 a bad parameter, state or body; 404 unknown stamp; 409 a transition
the states do not allow (``states``); 503 the database is unavailable.
Times are epoch seconds, ``2026-11-21[T15:00[:00]]`` (UTC) or an age (``2h``).
"""

import logging
import re
from urllib.parse import parse_qs, unquote

from pilot_server.worker import messages as wire
from pilot_server.logbook.receive import access as access_rules
from pilot_server.logbook.store import export, states, stats, timespec
from pilot_server.logbook.receive import intake
from pilot_server.logbook.receive.exchange import Response, unavailable
from pilot_server.logbook.store.database import Unavailable
from pilot_server.logbook.receive.intake import STAMP_PATTERN, Refused
from pilot_server.logbook.store.logstore import NotFound

log = logging.getLogger("pilots2.logbook.http")

PILOTS_PATH = "/api/v1/pilots"
STATS_PATH = "/api/v1/stats"
PILOT_PATH = re.compile(r"^/api/v1/pilots/([^/]+)(?:/(messages|export|state))?$")
LIST_LIMIT = 1000
MESSAGES_LIMIT = 10000
MAX_STATE_BYTES = 4096


def handles(path):
    return path in (PILOTS_PATH, STATS_PATH) or PILOT_PATH.match(path) is not None


def is_state_report(path):
    match = PILOT_PATH.match(path)
    return match is not None and match.group(2) == "state"


# -- parameters ---------------------------------------------------------------------------------


def query_parameters(query, allowed):
    """{name: value} of a query string; Refused(400) for an unknown or repeated parameter."""
    try:
        parsed = parse_qs(query, keep_blank_values=True, strict_parsing=bool(query), max_num_fields=50)
    except ValueError:
        raise Refused(400, "malformed query string")
    values = {}
    for name, items in parsed.items():
        if name not in allowed:
            raise Refused(400, "unknown parameter %r (known: %s)" % (name[:40], ", ".join(allowed)))
        if len(items) > 1:
            raise Refused(400, "parameter %s is given more than once" % name)
        values[name] = items[0].strip()
    return dict((name, value) for name, value in values.items() if value != "")


def _when(values, name):
    if name not in values:
        return None
    try:
        return timespec.parse_when(values[name])
    except ValueError as exc:
        raise Refused(400, "%s: %s" % (name, exc))


DIGITS = re.compile(r"[0-9]{1,20}\Z")  # ASCII digits only (str.isdigit also takes '²'), never 30 of them


def _integer(values, name, default, low, high):
    text = values.get(name)
    if text is None:
        return default
    if not DIGITS.match(text) or not low <= int(text) <= high:
        raise Refused(400, "%s must be an integer from %d to %d" % (name, low, high))
    return int(text)


def _stamp(text):
    stamp = unquote(text)
    if not STAMP_PATTERN.match(stamp):
        raise Refused(400, "bad pilot stamp in the path")
    return stamp


# -- GET ------------------------------------------------------------------------------------------


def get(request):
    """The Response to a read request (in a worker thread)."""
    app, path = request.app, request.path
    try:
        app.access.may_read(app.authenticate(request))
        status, answer = app.timed("read", _route, app.store, path, request.query)
    except Refused as refused:
        return Response.error(refused.status, refused)
    except Unavailable as exc:
        return unavailable(exc)
    except Exception:
        log.exception("reading %s failed", path[:100])
        return Response.error(500, "internal error", close=True)
    if isinstance(answer, bytes):
        return Response(
            status,
            answer,
            "application/gzip",
            [
                ("Cache-Control", "no-store"),
                ("Content-Disposition", 'attachment; filename="pilot-%s.json.gz"' % path.split("/")[-2]),
            ],
        )
    return Response.json(status, answer)


def _route(store, path, query):
    if path == PILOTS_PATH:
        values = query_parameters(query, ("site", "ce", "queue", "version", "vo", "status", "since", "until", "limit"))
        status = values.get("status")
        if status:
            try:
                status = states.canonical(status)
            except states.BadState as exc:
                raise Refused(400, "status: %s" % exc)
        rows = store.pilots(
            site=values.get("site"),
            ce=values.get("ce"),
            queue=values.get("queue"),
            version=values.get("version"),
            vo=values.get("vo"),
            status=status,
            since=_when(values, "since"),
            until=_when(values, "until"),
            limit=_integer(values, "limit", 100, 1, LIST_LIMIT),
        )
        return 200, {"pilots": rows}
    if path == STATS_PATH:
        values = query_parameters(query, stats.FILTERS + ("by",))
        try:
            return 200, stats.compute(
                store,
                site=values.get("site"),
                ce=values.get("ce"),
                queue=values.get("queue"),
                version=values.get("version"),
                vo=values.get("vo"),
                since=_when(values, "since"),
                until=_when(values, "until"),
                group_by=values.get("by"),
            )
        except stats.StatsError as exc:
            raise Refused(400, exc)
    match = PILOT_PATH.match(path)
    stamp, part = _stamp(match.group(1)), match.group(2)
    if part == "state":
        raise Refused(405, "report a state with POST")
    if part == "messages":
        values = query_parameters(query, ("after", "limit"))
        items = store.messages(
            stamp,
            after=_integer(values, "after", 0, 0, wire.MAX_SEQ),
            limit=_integer(values, "limit", MESSAGES_LIMIT, 1, MESSAGES_LIMIT),
        )
        if not items and store.pilot(stamp) is None:
            raise Refused(404, "unknown pilot stamp %s" % stamp)
        return 200, {"messages": items}
    query_parameters(query, ())
    if part == "export":
        doc = export.document(store, stamp)
        if doc is None:
            raise Refused(404, "unknown pilot stamp %s" % stamp)
        return 200, export.compress(doc)
    pilot = store.pilot(stamp)
    if pilot is None:
        raise Refused(404, "unknown pilot stamp %s" % stamp)
    return 200, {"pilot": pilot, "states": store.states(stamp), "commands": store.commands(stamp)}


# -- POST .../state -----------------------------------------------------------------------------------


def post_state(request):
    """The Response to a state report (in a worker thread); the credential was checked (routes.precheck)."""
    app = request.app
    try:
        stamp = _stamp(PILOT_PATH.match(request.path).group(1))
        state, when = state_fields(request.body)
        report = app.timed("report_state", app.store.report_state, stamp, state, when)
    except Refused as refused:
        return Response.error(refused.status, refused)
    except states.BadState as exc:
        return Response.error(400, exc)
    except NotFound as exc:
        return Response.error(404, exc)
    except states.InvalidTransition as exc:
        return Response.error(409, exc)
    except Unavailable as exc:
        return unavailable(exc)
    except Exception:
        log.exception("a state report failed")
        return Response.error(500, "internal error", close=True)
    if report.changed:
        log.info(
            "pilot %s: %s -> %s, reported by %s",
            stamp,
            report.previous,
            report.state,
            access_rules.describe(request.identity),
        )
    return Response.json(
        200, {"stamp": stamp, "state": report.state, "previous": report.previous, "changed": report.changed}
    )


def state_fields(body):
    """(state, time or None) of a state report body, or Refused(400)."""
    document = intake.json_object(body, "a state report", ("state", "time"))
    state = document.get("state")
    if not isinstance(state, str):
        raise Refused(400, "missing or bad field: state")
    try:
        state = states.reportable(state)
    except states.BadState as exc:
        raise Refused(400, exc)
    when = document.get("time")
    problem = wire.time_problem("time", when, null=True)
    if problem:
        raise Refused(400, problem)
    return state, when
