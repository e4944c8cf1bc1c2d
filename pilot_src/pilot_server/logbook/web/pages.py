"""The logbook's web page for administrators, served by the logbook itself.

Pages (every path outside ``/api/``; the front hands them here as a ``receive.exchange.Request``
and writes the ``Response`` they return):

* ``/``                 the pilots, newest first, filtered and paged by keyset (webdata);
* ``/pilot/<stamp>``    a pilot: its timeline (SVG), result, parameters and full log;
* ``/stats``            statistics as charts (stats.compute);
* ``/login``, ``/logout``, ``/static/webui.css|js``.

Reading needs an administrator credential: a session cookie (websession, set by the login
page where the admin token is pasted), or on each request ``Authorization: Bearer <admin
token>`` or an administrator's client certificate.  Without one a browser is sent to the
login page (303) and anything else gets 401; a credential that may not read gets 403.
Bad parameters get 400 with a one-line reason, an unknown stamp 404; never a traceback.

The markup is the Jinja2 templates of ``web/templates/`` (views), every value escaped; the
pages load no external resource and the Content-Security-Policy forbids inline script and
style.  The login and logout forms' bodies arrive read by the front, within its limit for
pages (413 above it).
"""

import json
import logging
import os
import threading
from urllib.parse import parse_qs, quote, unquote, urlencode

from pilot_server.worker import __version__
from pilot_server.worker import messages as wire
from pilot_server.logbook.receive import access as access_rules
from pilot_server.logbook.receive.exchange import Response
from pilot_server.logbook.receive.intake import STAMP_PATTERN, Refused
from pilot_server.logbook.store import stats
from pilot_server.logbook.store.database import Unavailable
from pilot_server.logbook.web import charts as webcharts, data as webdata, params as webparams, views
from pilot_server.logbook.web import session as websession
from pilot_server.logbook.web.params import BadRequest

log = logging.getLogger("pilots2.logbook.web")

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
STATIC = {
    "/static/webui.css": ("webui.css", "text/css; charset=utf-8"),
    "/static/webui.js": ("webui.js", "text/javascript; charset=utf-8"),
}
HTML = "text/html; charset=utf-8"
SECURITY_HEADERS = (
    (
        "Content-Security-Policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),
)
FORM_PATHS = ("/login", "/logout")
LOG_PAGE = 2000
TITLES = {
    400: "Bad request",
    401: "Not logged in",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    413: "Too large",
    503: "Unavailable",
    500: "Internal error",
}

_lock = threading.Lock()
_files = {}


def _asset(name):
    with _lock:
        if name not in _files:
            with open(os.path.join(HERE, name), "rb") as handle:
                _files[name] = handle.read()
        return _files[name]


# -- answers ---------------------------------------------------------------------------------------


def answer(status, body, content_type=HTML, headers=(), cache="no-store", close=False):
    return Response(
        status, body, content_type, [("Cache-Control", cache)] + list(SECURITY_HEADERS) + list(headers), close
    )


def sessions_of(app):
    """The service's Sessions: those of ``serve --session-key-file``, else one random key per
    process, made on first use."""
    sessions = getattr(app, "web_sessions", None)
    if sessions is None:
        with _lock:
            sessions = getattr(app, "web_sessions", None)
            if sessions is None:
                sessions = app.web_sessions = websession.Sessions()
    return sessions


def redirect(location, headers=()):
    return answer(303, "", "text/plain; charset=utf-8", [("Location", location)] + list(headers))


def page(template, status=200, headers=(), close=False, **context):
    """A page of ``template``; its context needs title and page (the body's class)."""
    context.setdefault("who", None)
    context.setdefault("current", None)
    return answer(status, views.render(template, version=__version__, **context), headers=headers, close=close)


def error(status, reason, who=None, headers=(), close=False):
    title = TITLES.get(status, "Error")
    extra = list(headers) + ([("Retry-After", "10")] if status == 503 else [])
    return page("error.html", status, extra, close, title=title, page="error", who=who, reason=reason)


def _wants_html(request):
    return "text/html" in (request.headers.get("Accept") or "")


# -- who is asking -------------------------------------------------------------------------------


def reader(request):
    """A description of the administrator reading (for the page), or Refused(401/403)."""
    cookie = websession.cookie_value(request.headers.get("Cookie"))
    if cookie:
        who = sessions_of(request.app).check(cookie)
        if who:
            return who
    bearer, dn = request.bearer(), request.client_dn()
    if not bearer and not dn:
        raise Refused(401, "log in first: an administrator credential is needed to read the logbook")
    identity = request.app.access.authenticate(bearer=bearer, dn=dn)
    request.app.access.may_read(identity)
    return access_rules.describe(identity)


def _safe_next(target):
    """A local path to go to after logging in (never another site)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    if any(ord(char) < 32 for char in target) or len(target) > 2000:
        return "/"
    return target


# -- the answer to a request ----------------------------------------------------------------------


def respond(request):
    """The Response to a GET (HEAD) or POST of the web page; never raises."""
    posting = request.method == "POST"
    try:
        return _post(request) if posting else _get(request)
    except Unavailable as exc:
        log.warning("database unavailable: %s", exc)
        return error(503, "the database is unavailable, retry later", close=posting)
    except Exception:
        log.exception("web %s %s failed", "form" if posting else "page", request.path[:100])
        return error(500, "internal error (see the logbook's log)", close=posting)


def _get(request):
    if request.path in STATIC:
        name, content_type = STATIC[request.path]
        return answer(200, _asset(name), content_type, cache="private, max-age=300")
    if request.path == "/login":
        return login_page(request)
    routes = {"/": list_page, "/stats": stats_page}
    route = routes.get(request.path)
    stamp = None
    if route is None and request.path.startswith("/pilot/"):
        stamp = unquote(request.path[len("/pilot/") :])
    elif route is None:
        return error(404, "no such page: %s" % request.path[:100])
    try:
        who = reader(request)
    except Refused as refused:
        if refused.status == 401 and not request.headers.get("Authorization") and _wants_html(request):
            return redirect("/login?" + urlencode({"next": request.target}))
        return error(
            refused.status,
            str(refused),
            headers=[("WWW-Authenticate", 'Bearer realm="pilots2 logbook"')] if refused.status == 401 else (),
        )
    try:
        if stamp is not None:
            return pilot_page(request, who, stamp)
        return route(request, who)
    except BadRequest as bad:
        return error(bad.status, str(bad), who)


def _post(request):
    if request.path not in FORM_PATHS:
        return error(404, "no such page: %s" % request.path[:100])
    if not websession.same_origin(request.headers, request.secure):
        return error(403, "this form must be sent from the logbook's own page (Origin check)")
    if request.path == "/logout":
        cookie = websession.cookie_value(request.headers.get("Cookie"))
        if cookie:
            sessions_of(request.app).revoke(cookie)
        return redirect("/login", [("Set-Cookie", websession.Sessions.clear_cookie(request.secure))])
    return login_post(request, request.body)


# -- login -----------------------------------------------------------------------------------------


def _login_form(target, problem=None, status=200):
    return page("login.html", status, title="Log in", page="login", target=target, problem=problem)


def login_page(request):
    try:
        values = parse_qs(request.query, max_num_fields=10)
    except ValueError:
        values = {}
    target = _safe_next((values.get("next") or ["/"])[0])
    cookie = websession.cookie_value(request.headers.get("Cookie"))
    if cookie and sessions_of(request.app).check(cookie):
        return redirect(target)
    return _login_form(target)


def login_post(request, body):
    try:
        form = parse_qs(body.decode("utf-8"), max_num_fields=10, strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        return error(400, "the login form is malformed")
    target = _safe_next((form.get("next") or ["/"])[0])
    token = "".join((form.get("token") or [""])[0].split())
    problem = None
    if not token:
        problem = "paste the admin token"
    else:
        try:
            identity = request.app.access.authenticate(bearer=token)
            request.app.access.may_read(identity)
        except Refused as refused:
            problem = (
                "this is not an administrator token"
                if refused.status == 403
                else "the token was not accepted: %s" % refused
            )
    if problem:
        log.info("web login refused from %s", request.client)  # never the token
        return _login_form(target, problem, 401)
    who = access_rules.describe(identity)
    log.info("web login by %s from %s", who, request.client)
    cookie = sessions_of(request.app).issue(who)
    return redirect(target, [("Set-Cookie", sessions_of(request.app).set_cookie(cookie, request.secure))])


# -- the list ------------------------------------------------------------------------------------------


def list_page(request, who):
    filters, cursor, limit, params = webparams.list_filters(request.query)
    found = webdata.list_pilots(request.app.store, filters, cursor, limit)
    rows = [dict(row, link="/pilot/%s" % quote(row["stamp"], safe="")) for row in found.rows]
    kept = dict((key, value) for key, value in params.items() if key != "cursor")
    following = None
    if found.next_cursor is not None:
        following = urlencode(dict(kept, cursor=webparams.cursor_text(found.next_cursor)))
    return page(
        "list.html",
        title="Pilots",
        page="list",
        who=who,
        current="list",
        params=params,
        rows=rows,
        states=webdata.KNOWN_STATES,
        state=filters.get("status"),
        page_sizes=[str(size) for size in webparams.PAGE_SIZES],
        limit=str(limit) if "limit" in params else "",
        first_page=urlencode(kept) if cursor is not None else None,
        next_page=following,
    )


# -- a pilot --------------------------------------------------------------------------------------------


def _utc_or_none(when):
    return None if when is None else views.utc(when, "%Y-%m-%d %H:%M:%S UTC")


def _log_lines(messages):
    lines = []
    for item in messages:
        text = item["text"]
        if item["kind"] == "heartbeat" and item.get("data"):
            text = (text + " " if text else "heartbeat ") + json.dumps(item["data"], sort_keys=True)
        if item.get("stream") == "stderr":
            text = "[stderr] " + text
        lines.append(dict(item, text=text))
    return lines


def pilot_page(request, who, stamp):
    if not STAMP_PATTERN.match(stamp):
        raise BadRequest("not a pilot stamp: %s" % stamp[:60], 404)
    after, levels, params = webparams.pilot_options(request.query)
    store = request.app.store
    pilot = store.pilot(stamp)
    if pilot is None:
        raise BadRequest("no pilot %s in this logbook" % stamp, 404)
    events, described = webdata.structured(store, stamp)
    commands, result, not_run = webdata.timeline(events, pilot)
    messages, more = webdata.log_page(store, stamp, after, LOG_PAGE, levels)

    summary = [
        ("state", pilot.get("status")),
        ("site", pilot.get("site")),
        ("CE", pilot.get("ce")),
        ("queue", pilot.get("queue")),
        ("VO", pilot.get("vo")),
        ("version", pilot.get("version")),
        ("submitted", _utc_or_none(pilot.get("submitted_time"))),
        ("first seen", _utc_or_none(pilot.get("first_seen"))),
        ("last seen", _utc_or_none(pilot.get("last_seen"))),
        ("last heartbeat", _utc_or_none(pilot.get("heartbeat_time"))),
        ("messages", pilot.get("message_count")),
        ("exit code", pilot.get("exit_code")),
        ("failed command", pilot.get("failed_command")),
        ("reason", pilot.get("reason")),
    ]
    starts = [item["time"] for item in messages[:1] if item["time"] is not None and after == 0] + [
        entry["start"] for entry in commands
    ]
    start = min(starts) if starts else None
    outcome = None
    if result:
        outcome = {
            "pilot": sorted((result.get("pilot") if isinstance(result.get("pilot"), dict) else {}).items()),
            "usage": sorted(result["usage"].items()) if isinstance(result.get("usage"), dict) else None,
        }
    base = "/pilot/%s" % quote(stamp, safe="")
    chosen = {"levels": params["levels"]} if levels else {}
    following = None
    if more is not None:
        following = "%s?%s" % (base, urlencode(dict({"after": more}, **chosen)))
    return page(
        "pilot.html",
        title="Pilot %s" % stamp,
        page="pilot",
        who=who,
        current="list",
        stamp=stamp,
        pilot=pilot,
        summary=summary,
        timeline=webcharts.timeline(commands, not_run, start=start),
        commands=commands,
        not_run=not_run,
        history=store.states(stamp),
        result=outcome,
        parameters=list(webdata.parameters(described).items()),
        levels=[{"name": level, "checked": not (levels and level not in levels)} for level in wire.LEVELS],
        levels_value=",".join(sorted(levels) if levels else wire.LEVELS),
        after=after,
        lines=_log_lines(messages),
        log_page=LOG_PAGE,
        more=following,
        base=base,
        from_start=base + ("?" + urlencode(chosen) if chosen else "") if after else None,
    )


# -- statistics --------------------------------------------------------------------------------------------


def stats_page(request, who):
    filters, params = webparams.stats_filters(request.query)
    try:
        figures = stats.compute(request.app.store, **filters)
    except stats.StatsError as exc:
        raise BadRequest(str(exc))
    counts = figures.get("states") or {}
    states = list(webdata.STATES) + sorted(set(counts) - set(webdata.STATES))
    commands = figures.get("commands") or []
    submit = figures.get("submit_to_running") or {}
    db12 = figures.get("db12") or {}
    charts = {
        "states": webcharts.stacked_states(figures.get("groups") or [], states),
        "durations": webcharts.durations(commands),
        "failures": webcharts.failures(commands),
        "submit": webcharts.spread(submit, "submission to running"),
        "db12": webcharts.histogram(db12.get("histogram") or [], "DB12"),
    }
    return page(
        "stats.html",
        title="Statistics",
        page="stats",
        who=who,
        current="stats",
        params=params,
        groups=webparams.GROUPS,
        group_by=filters["group_by"],
        cards=[(state, counts.get(state) or 0) for state in states],
        reasons=[
            (entry["name"], reason, count) for entry in commands for reason, count in (entry.get("reasons") or [])[:5]
        ],
        submitted=submit.get("count", 0),
        db12=db12,
        charts=charts,
    )


# -- entry points (from the front: receive/routes.py) -----------------------------------------------

handle_get = handle_post = respond
