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

HTML is built here, every value escaped (html.escape, quote=True); the pages load no
external resource and the Content-Security-Policy forbids inline script and style.
"""

import datetime
import json
import logging
import os
import string
import threading
from html import escape
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

from pilot import __version__
from pilot import messages as wire
from pilot_server.logbook.receive import access as access_rules
from pilot_server.logbook.store import stats, timespec
from pilot_server.logbook.web import charts as webcharts, data as webdata, session as websession
from pilot_server.logbook.store.database import Unavailable
from pilot_server.logbook.receive.exchange import Response
from pilot_server.logbook.receive.intake import STAMP_PATTERN, Refused

log = logging.getLogger("pilots2.logbook.web")

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
STATIC = {"/static/webui.css": ("webui.css", "text/css; charset=utf-8"),
          "/static/webui.js": ("webui.js", "text/javascript; charset=utf-8")}
SECURITY_HEADERS = (
    ("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                                "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),
)
PAGE_SIZES = (25, 50, 100, 200, 500)
DEFAULT_PAGE = 50
LOG_PAGE = 2000
TEXT_LIMIT = 128
REASON_LIMIT = 200
LIST_PARAMS = ("site", "ce", "queue", "vo", "version", "state", "since", "until", "reason", "stamp", "cursor",
               "limit")
STATS_PARAMS = ("site", "ce", "queue", "vo", "version", "since", "until", "group_by")
GROUPS = stats.GROUPS

_lock = threading.Lock()
_files = {}


def esc(value):
    return escape("" if value is None else str(value), quote=True)


def _asset(name):
    with _lock:
        if name not in _files:
            with open(os.path.join(HERE, name), "rb") as handle:
                _files[name] = handle.read()
        return _files[name]


def sessions_of(app):
    """The service's Sessions (one random key per process), made on first use."""
    sessions = getattr(app, "web_sessions", None)
    if sessions is None:
        with _lock:
            sessions = getattr(app, "web_sessions", None)
            if sessions is None:
                sessions = app.web_sessions = websession.Sessions()
    return sessions


class BadRequest(Exception):
    """A bad parameter: 400 with this one-line reason."""

    def __init__(self, reason, status=400):
        Exception.__init__(self, " ".join(str(reason).split())[:300])
        self.status = status


# -- answering ------------------------------------------------------------------------------------

def _send(status, body, content_type="text/html; charset=utf-8", headers=(), cache="no-store", close=False):
    return Response(status, body, content_type, [("Cache-Control", cache)] + list(SECURITY_HEADERS) + list(headers),
                    close)


def _redirect(location, headers=()):
    return _send(303, "", "text/plain; charset=utf-8", [("Location", location)] + list(headers))


def _page(title, body, page="", who=None, current=None):
    nav = ""
    if who is not None:
        links = [("/", "Pilots", "list"), ("/stats", "Statistics", "stats")]
        nav = "<nav>%s</nav>" % "".join('<a href="%s"%s>%s</a>' % (href, ' class="current"' if key == current
                                                                      else "", text) for href, text, key in links)
        nav += ('<span class="who">%s</span><form class="logout" method="post" action="/logout">'
                '<button type="submit" id="logout">Log out</button></form>' % esc(who))
    template = string.Template(_asset("page.html").decode("utf-8"))
    return template.substitute(title=esc(title), page=esc(page), nav=nav, body=body, version=esc(__version__))


def _error(status, reason, who=None, headers=(), close=False):
    titles = {400: "Bad request", 401: "Not logged in", 403: "Forbidden", 404: "Not found",
              405: "Method not allowed", 413: "Too large", 503: "Unavailable", 500: "Internal error"}
    title = titles.get(status, "Error")
    body = '<h1>%s</h1><p class="error" id="error">%s</p><p><a href="/">Back to the pilots</a></p>' % (
        esc(title), esc(reason))
    extra = list(headers)
    if status == 503:
        extra.append(("Retry-After", "10"))
    return _send(status, _page(title, body, "error", who), headers=extra, close=close)


def _wants_html(request):
    return "text/html" in (request.headers.get("Accept") or "")


# -- who is asking -------------------------------------------------------------------------------

def may_read(access, identity):
    """None, or Refused(403): reading needs an administrator (an admin token or --admin-dn)."""
    access.may_read(identity)


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
    may_read(request.app.access, identity)
    return access_rules.describe(identity)


def _safe_next(target):
    """A local path to go to after logging in (never another site)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    if any(ord(char) < 32 for char in target) or len(target) > 2000:
        return "/"
    return target


# -- entry points (from the front) -----------------------------------------------------------------

def handle_get(request):
    """The Response to a GET of a page (receive/exchange.py: a Request in, a Response out)."""
    try:
        return _get(request)
    except Unavailable as exc:
        log.warning("database unavailable: %s", exc)
        return _error(503, "the database is unavailable, retry later")
    except Exception:
        log.exception("web page %s failed", request.path[:100])
        return _error(500, "internal error (see the logbook's log)")


def handle_post(request):
    """The Response to a POST of a form (the front has read the body, within its limit)."""
    try:
        return _post(request)
    except Unavailable as exc:
        log.warning("database unavailable: %s", exc)
        return _error(503, "the database is unavailable, retry later", close=True)
    except Exception:
        log.exception("web form %s failed", request.path[:100])
        return _error(500, "internal error (see the logbook's log)", close=True)


def _get(request):
    parts = urlsplit(request.target)
    path = parts.path
    if path in STATIC:
        name, content_type = STATIC[path]
        return _send(200, _asset(name), content_type, cache="private, max-age=300")
    if path == "/login":
        return login_page(request, parts.query)
    routes = {"/": list_page, "/stats": stats_page}
    route = routes.get(path)
    stamp = None
    if route is None and path.startswith("/pilot/"):
        stamp = unquote(path[len("/pilot/"):])
        route = pilot_page
    if route is None:
        return _error(404, "no such page: %s" % path[:100])
    try:
        who = reader(request)
    except Refused as refused:
        if refused.status == 401 and not request.headers.get("Authorization") and _wants_html(request):
            return _redirect("/login?" + urlencode({"next": request.target}))
        return _error(refused.status, str(refused),
                      headers=[("WWW-Authenticate", 'Bearer realm="pilots2 logbook"')]
                      if refused.status == 401 else ())
    try:
        if stamp is not None:
            return pilot_page(request, who, stamp, parts.query)
        return route(request, who, parts.query)
    except BadRequest as bad:
        return _error(bad.status, str(bad), who)


def _post(request):
    path = urlsplit(request.target).path
    if path not in ("/login", "/logout"):
        return _error(404, "no such page: %s" % path[:100])
    if not websession.same_origin(request.headers, request.secure):
        return _error(403, "this form must be sent from the logbook's own page (Origin check)")
    if path == "/logout":
        cookie = websession.cookie_value(request.headers.get("Cookie"))
        if cookie:
            sessions_of(request.app).revoke(cookie)
        return _redirect("/login", [("Set-Cookie", websession.Sessions.clear_cookie(request.secure))])
    return login_post(request, request.body)


# -- login -----------------------------------------------------------------------------------------

def _login_form(target, problem=None):
    error = '<p class="error" id="error">%s</p>' % esc(problem) if problem else ""
    return ('<div class="login"><h1>Log in</h1>%s'
            '<p>Paste the administrator token: the hex secret of the logbook\'s <code>--admin-token-file</code>. '
            'It is checked once and then kept by a session cookie, not by this page.</p>'
            '<form method="post" action="/login" autocomplete="off">'
            '<input type="hidden" name="next" value="%s">'
            '<label for="token">Admin token</label>'
            '<input type="password" id="token" name="token" required autofocus autocomplete="off" spellcheck="false">'
            '<button type="submit" id="login">Log in</button></form>'
            '<p class="empty">A browser holding an administrator\'s client certificate needs no login.</p></div>'
            % (error, esc(target)))


def login_page(request, query):
    try:
        values = parse_qs(query, max_num_fields=10)
    except ValueError:
        values = {}
    target = _safe_next((values.get("next") or ["/"])[0])
    cookie = websession.cookie_value(request.headers.get("Cookie"))
    if cookie and sessions_of(request.app).check(cookie):
        return _redirect(target)
    return _send(200, _page("Log in", _login_form(target), "login"))


def login_post(request, body):
    try:
        form = parse_qs(body.decode("utf-8"), max_num_fields=10, strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        return _error(400, "the login form is malformed")
    target = _safe_next((form.get("next") or ["/"])[0])
    token = "".join((form.get("token") or [""])[0].split())
    problem = None
    if not token:
        problem = "paste the admin token"
    else:
        try:
            identity = request.app.access.authenticate(bearer=token)
            may_read(request.app.access, identity)
        except Refused as refused:
            problem = ("this is not an administrator token" if refused.status == 403
                       else "the token was not accepted: %s" % refused)
    if problem:
        log.info("web login refused from %s", request.client)  # never the token
        return _send(401, _page("Log in", _login_form(target, problem), "login"))
    who = access_rules.describe(identity)
    log.info("web login by %s from %s", who, request.client)
    cookie = sessions_of(request.app).issue(who)
    return _redirect(target, [("Set-Cookie", sessions_of(request.app).set_cookie(cookie, request.secure))])


# -- parameters ----------------------------------------------------------------------------------------

def _params(query, allowed):
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
    params = _params(query, LIST_PARAMS)
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
        if not text.isdigit() or not 1 <= int(text) <= max(PAGE_SIZES):
            raise BadRequest("limit must be a number from 1 to %d" % max(PAGE_SIZES))
        limit = int(text)
    return filters, cursor, limit, params


# -- formatting -------------------------------------------------------------------------------------

def iso(when):
    if when is None:
        return "-"
    moment = datetime.datetime.fromtimestamp(when, datetime.timezone.utc)
    return '<time datetime="%s">%s</time>' % (moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                              moment.strftime("%Y-%m-%d %H:%M:%S"))


def _cell(value, css=None):
    return '<td%s>%s</td>' % (' class="%s"' % css if css else "", "-" if value is None or value == "" else esc(value))


def _kv_table(items, css_id=None):
    rows = []
    for key, value in items:
        if isinstance(value, (dict, list)):
            value = json.dumps(value, sort_keys=True)
        rows.append("<tr><th>%s</th><td>%s</td></tr>" % (esc(key), "-" if value is None else esc(value)))
    return '<table class="kv"%s>%s</table>' % (' id="%s"' % css_id if css_id else "", "".join(rows))


def _select(name, options, chosen, blank="any"):
    parts = ['<select name="%s" id="f-%s">' % (name, name)]
    if blank is not None:
        parts.append('<option value="">%s</option>' % esc(blank))
    for option in options:
        parts.append('<option value="%s"%s>%s</option>' % (esc(option), " selected" if option == chosen else "",
                                                           esc(option)))
    return "".join(parts) + "</select>"


def _input(name, label, params, placeholder=""):
    return ('<label>%s<input type="text" name="%s" id="f-%s" value="%s" placeholder="%s"></label>'
            % (esc(label), name, name, esc(params.get(name, "")), esc(placeholder)))


# -- the list ------------------------------------------------------------------------------------------

def list_page(request, who, query):
    filters, cursor, limit, params = list_filters(query)
    page = webdata.list_pilots(request.app.store, filters, cursor, limit)
    form = ['<form class="filters" method="get" action="/" id="filters">',
            _input("stamp", "Stamp starts with", params),
            _input("site", "Site", params, "LCG.CERN.ch"),
            _input("ce", "CE", params),
            _input("queue", "Queue", params),
            _input("vo", "VO", params),
            _input("version", "Version", params),
            '<label>State%s</label>' % _select("state", webdata.KNOWN_STATES, filters.get("status")),
            _input("since", "Seen since", params, "2h, 3d, 2026-11-21"),
            _input("until", "Seen until", params, "UTC"),
            _input("reason", "Failure reason contains", params, "text"),
            '<label>Per page%s</label>' % _select("limit", [str(size) for size in PAGE_SIZES],
                                                   str(limit) if "limit" in params else "", "50"),
            '<button type="submit" id="apply">Filter</button> <a href="/" id="clear">Clear</a></form>']
    rows = []
    for row in page.rows:
        link = "/pilot/%s" % quote(row["stamp"], safe="")
        rows.append('<tr class="pilot state-%s" data-stamp="%s"><td><a href="%s">%s</a></td>%s%s%s%s%s%s'
                    '<td>%s</td>%s%s%s<td class="num">%s</td></tr>' % (
                        esc(row["status"]), esc(row["stamp"]), esc(link), esc(row["stamp"]),
                        _cell(row["status"], "state"), _cell(row["site"]), _cell(row["ce"]), _cell(row["queue"]),
                        _cell(row["vo"]), _cell(row["version"]), iso(row["last_seen"]),
                        _cell(row["exit_code"], "num"), _cell(row["failed_command"]),
                        '<td class="reason" title="%s">%s</td>' % (esc(row["reason"]), esc(row["reason"] or "-")),
                        esc(row["message_count"])))
    kept = dict((key, value) for key, value in params.items() if key != "cursor")
    pager = ['<div class="pager">']
    if cursor is not None:
        pager.append('<a href="/?%s" id="first-page">&laquo; newest</a>' % esc(urlencode(kept)))
    if page.next_cursor is not None:
        following = dict(kept, cursor="%r~%s" % (page.next_cursor[0], page.next_cursor[1]))
        pager.append('<a href="/?%s" id="next-page">older &raquo;</a>' % esc(urlencode(following)))
    pager.append("</div>")
    if rows:
        table = ('<table class="grid" id="pilots"><thead><tr><th>Stamp</th><th>State</th><th>Site</th><th>CE</th>'
                 '<th>Queue</th><th>VO</th><th>Version</th><th>Last seen</th><th>Exit</th><th>Failed command</th>'
                 '<th>Reason</th><th>Msgs</th></tr></thead><tbody>%s</tbody></table>' % "".join(rows))
    else:
        table = '<p class="empty" id="no-pilots">No pilot matches these filters.</p>'
    summary = '<p id="shown"><span id="row-count">%d</span> pilot%s on this page, newest first (by last seen).</p>' % (
        len(rows), "" if len(rows) == 1 else "s")
    body = "<h1>Pilots</h1>%s%s%s%s" % ("".join(form), summary, table, "".join(pager))
    return _send(200, _page("Pilots", body, "list", who, "list"))


# -- a pilot --------------------------------------------------------------------------------------------

def pilot_page(request, who, stamp, query):
    if not STAMP_PATTERN.match(stamp):
        raise BadRequest("not a pilot stamp: %s" % stamp[:60], 404)
    params = _params(query, ("after", "levels"))
    after = 0
    if "after" in params:
        if not params["after"].isdigit():
            raise BadRequest("after must be a message sequence number")
        after = int(params["after"])
    levels = None
    if "levels" in params:
        levels = set(part.strip().upper() for part in params["levels"].split(",") if part.strip())
        unknown = sorted(levels - set(wire.LEVELS))
        if unknown or not levels:
            raise BadRequest("levels must be among %s" % ", ".join(wire.LEVELS))
    store = request.app.store
    pilot = store.pilot(stamp)
    if pilot is None:
        raise BadRequest("no pilot %s in this logbook" % stamp, 404)
    events, described = webdata.structured(store, stamp)
    commands, result, not_run = webdata.timeline(events, pilot)
    messages, more = webdata.log_page(store, stamp, after, LOG_PAGE, levels)

    summary = _kv_table([
        ("state", pilot.get("status")), ("site", pilot.get("site")), ("CE", pilot.get("ce")),
        ("queue", pilot.get("queue")), ("VO", pilot.get("vo")), ("version", pilot.get("version")),
        ("submitted", _plain_time(pilot.get("submitted_time"))), ("first seen", _plain_time(pilot.get("first_seen"))),
        ("last seen", _plain_time(pilot.get("last_seen"))), ("last heartbeat", _plain_time(pilot.get("heartbeat_time"))),
        ("messages", pilot.get("message_count")), ("exit code", pilot.get("exit_code")),
        ("failed command", pilot.get("failed_command")), ("reason", pilot.get("reason"))], "summary")
    start = min([item["time"] for item in messages[:1]] + [entry["start"] for entry in commands]) \
        if (messages[:1] and after == 0) or commands else None
    svg = webcharts.timeline(commands, not_run, start=start)
    commands_table = ""
    if commands or not_run:
        lines = []
        for entry in commands:
            lines.append('<tr class="command %s"><td>%s</td><td>%s</td><td>%s</td><td class="num">%s</td><td>%s</td>'
                         '<td>%s</td></tr>' % (esc(entry["status"]), esc(entry["name"]), esc(entry["status"]),
                                               iso(entry["start"]), esc(webcharts.seconds(entry["duration"])),
                                               esc(entry.get("failure_type") or "-"), esc(entry.get("reason") or "-")))
        for name in not_run:
            lines.append('<tr class="command notrun"><td>%s</td><td>not run</td><td>-</td><td>-</td><td>-</td>'
                         '<td>-</td></tr>' % esc(name))
        commands_table = ('<table class="grid" id="commands"><thead><tr><th>Command</th><th>Status</th><th>Start</th>'
                          '<th>Duration</th><th>Failure type</th><th>Reason</th></tr></thead><tbody>%s</tbody></table>'
                          % "".join(lines))
    if result:
        outcome = result.get("pilot") if isinstance(result.get("pilot"), dict) else {}
        result_html = "<h3>Pilot</h3>%s" % _kv_table(sorted(outcome.items()), "result")
        if isinstance(result.get("usage"), dict):
            result_html += "<h3>Usage</h3>%s" % _kv_table(sorted(result["usage"].items()), "usage")
    else:
        result_html = '<p class="empty" id="result">No result yet: the pilot has not sent its last message.</p>'
    history = store.states(stamp)
    if history:
        history_html = ('<table class="grid" id="history"><thead><tr><th>State</th><th>Since</th><th>Reported by</th>'
                        '</tr></thead><tbody>%s</tbody></table>' % "".join(
                            '<tr><td>%s</td><td>%s</td><td>%s</td></tr>' % (esc(item["state"]), iso(item["time"]),
                                                                            esc(item["source"])) for item in history))
    else:
        history_html = '<p class="empty" id="history">No state transition recorded.</p>'
    found = webdata.parameters(described)
    parameters_html = (_kv_table(found.items(), "parameters") if found
                       else '<p class="empty" id="parameters">The pilot sent no parameters.</p>')

    boxes = "".join('<label><input type="checkbox" class="level-toggle" value="%s" id="level-%s"%s> %s</label>'
                    % (level, level, "" if levels and level not in levels else " checked", level)
                    for level in wire.LEVELS)
    lines = []
    for item in messages:
        text = item["text"]
        if item["kind"] == "heartbeat" and item.get("data"):
            text = (text + " " if text else "heartbeat ") + json.dumps(item["data"], sort_keys=True)
        if item.get("stream") == "stderr":
            text = "[stderr] " + text
        lines.append('<tr class="lvl-%s kind-%s" data-seq="%d"><td class="num">%d</td><td>%s</td><td>%s</td>'
                     '<td>%s</td><td class="text">%s</td></tr>' % (
                         esc(item["level"]), esc(item["kind"]), item["seq"], item["seq"],
                         esc(_clock(item["time"])), esc(item["level"]), esc(item["source"]), esc(text)))
    base = "/pilot/%s" % quote(stamp, safe="")
    pager = []
    if after:
        pager.append('<a href="%s%s">&laquo; from the start</a>' % (
            esc(base), esc("?" + urlencode({"levels": params["levels"]}) if levels else "")))
    if more is not None:
        following = {"after": more}
        if levels:
            following["levels"] = params["levels"]
        pager.append('<a id="log-more" href="%s?%s">next %d messages &raquo;</a>' % (esc(base), esc(urlencode(following)),
                                                                                    LOG_PAGE))
    log_html = ('<form class="levels" method="get" action="%s" id="levels-form">Levels: %s '
                '<input type="hidden" name="levels" value="%s"><span>(<span id="log-shown">%d</span> of %d shown%s)'
                '</span></form><table class="grid log" id="log"><thead><tr><th>Seq</th><th>Time</th><th>Level</th>'
                '<th>Source</th><th>Text</th></tr></thead><tbody>%s</tbody></table><div class="pager">%s</div>'
                % (esc(base), boxes, esc(",".join(sorted(levels)) if levels else ",".join(wire.LEVELS)),
                   len(messages), len(messages), " from seq %d" % (after + 1) if after else "",
                   "".join(lines), "".join(pager)))
    body = ('<h1>Pilot <span id="stamp">%s</span> <span class="badge state-%s" id="state">%s</span></h1>%s'
            '<h2>Timeline</h2><div id="timeline">%s</div>%s<h2>States</h2>%s<h2>Result</h2>%s<h2>Parameters</h2>%s'
            '<h2>Log</h2>%s' % (esc(stamp), esc(pilot["status"]), esc(pilot["status"]), summary, svg, commands_table,
                                history_html, result_html, parameters_html, log_html))
    return _send(200, _page("Pilot %s" % stamp, body, "pilot", who, "list"))


def _plain_time(when):
    if when is None:
        return None
    return datetime.datetime.fromtimestamp(when, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _clock(when):
    moment = datetime.datetime.fromtimestamp(when, datetime.timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + "%03d" % (moment.microsecond // 1000)


# -- statistics --------------------------------------------------------------------------------------------

# The statistics page opens on the last day: over all time, with a million pilots, the
# statistics take seconds (README "Benchmarks"); since=all asks for all of it.
DEFAULT_STATS_SINCE = "24h"


def stats_filters(query):
    params = _params(query, STATS_PARAMS)
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


def stats_page(request, who, query):
    filters, params = stats_filters(query)
    try:
        figures = stats.compute(request.app.store, **filters)
    except stats.StatsError as exc:
        raise BadRequest(str(exc))
    states = list(webdata.STATES) + sorted(set(figures.get("states") or {}) - set(webdata.STATES))
    form = ['<form class="filters" method="get" action="/stats" id="filters">',
            _input("site", "Site", params), _input("ce", "CE", params), _input("queue", "Queue", params),
            _input("version", "Version", params), _input("vo", "VO", params),
            _input("since", "Since", params, "24h, 7d, 2026-11-21, all"),
            _input("until", "Until", params, "UTC"),
            '<label>Group by%s</label>' % _select("group_by", GROUPS, filters["group_by"], None),
            '<button type="submit" id="apply">Show</button> <a href="/stats">Clear</a></form>']
    cards = "".join('<div class="card state-%s"><div class="n">%d</div>%s</div>' % (
        esc(state), (figures.get("states") or {}).get(state) or 0, esc(state)) for state in states)
    commands = figures.get("commands") or []
    reasons = []
    for entry in commands:
        for reason, count in (entry.get("reasons") or [])[:5]:
            reasons.append("<tr><td>%s</td><td>%s</td><td class=\"num\">%d</td></tr>" % (
                esc(entry["name"]), esc(reason), count))
    reasons_table = ('<table class="grid" id="reasons"><thead><tr><th>Command</th><th>Reason</th><th>Pilots</th>'
                     '</tr></thead><tbody>%s</tbody></table>' % "".join(reasons)) if reasons else ""
    submit = figures.get("submit_to_running") or {}
    db12 = figures.get("db12") or {}
    db12_text = ("%d pilots: median %s, min %s, max %s" % (db12.get("count"), _num(db12.get("median")),
                                                          _num(db12.get("min")), _num(db12.get("max")))
                 if db12.get("count") else "")
    body = ('<h1>Statistics</h1>%s<div class="cards" id="state-cards">%s</div>'
            '<h2>Pilots per state, by %s</h2><div id="chart-states">%s</div>'
            '<h2>Command durations (median, p90, max)</h2><div id="chart-durations">%s</div>'
            '<h2>Command failure rates and reasons</h2><div id="chart-failures">%s</div>%s'
            '<h2>Submission to running</h2><p>%s</p><div id="chart-submit">%s</div>'
            '<h2>DB12 CPU power</h2><p>%s</p><div id="chart-db12">%s</div>'
            % ("".join(form), cards, esc(filters["group_by"]),
               webcharts.stacked_states(figures.get("groups") or [], states),
               webcharts.durations(commands), webcharts.failures(commands), reasons_table,
               esc("%s pilots" % submit.get("count", 0)), webcharts.spread(submit, "submission to running"),
               esc(db12_text), webcharts.histogram(db12.get("histogram") or [], "DB12")))
    return _send(200, _page("Statistics", body, "stats", who, "stats"))


def _num(value):
    if value is None:
        return "-"
    return "%g" % round(value, 2) if isinstance(value, float) else str(value)
