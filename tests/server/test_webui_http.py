"""The web page over plain HTTP (no browser): access, sessions, escaping, paging, bad input."""

import logging
import re
import time
from urllib.parse import urlencode, urlsplit

import pytest

from logbook_support import PKI, result_message, sqlite_store, start_server, token  # noqa: F401
from pilot_server.logbook.store import schema
from pilot_server.logbook.web import session as websession
from webui_support import ADMIN, ADMIN_SECRET, ADMIN_TOKEN, HTML, populate, request


@pytest.fixture
def web(sqlite_store):
    made = populate(sqlite_store)
    running = start_server(sqlite_store, admin_secrets=(ADMIN_SECRET,))
    running.made = made
    yield running
    running.stop()


def error_of(text):
    match = re.search(r'<p class="error" id="error">([^<]*)</p>', text)
    assert match, text[:500]
    return match.group(1)


def login(web, token_value=ADMIN_TOKEN, origin=None, extra=None):
    host = urlsplit(web.url).netloc
    headers = {
        "Host": host,
        "Content-Type": "application/x-www-form-urlencoded",
        "Origin": origin if origin is not None else web.url,
    }
    headers.update(extra or {})
    if origin is False:
        del headers["Origin"]
    return request(web.url, "/login", headers, "POST", urlencode({"token": token_value, "next": "/?state=Failed"}))


def session_cookie(headers):
    for value in headers.get("set-cookie", []):
        if value.startswith(websession.COOKIE + "="):
            return value
    return None


# -- access -------------------------------------------------------------------------------------------


def test_without_a_credential_a_browser_goes_to_the_login_page_and_a_script_gets_401(web):
    status, headers, _ = request(web.url, "/pilot/%s?levels=INFO" % web.made["failed"], HTML)
    assert status == 303
    assert headers["location"] == ["/login?" + urlencode({"next": "/pilot/%s?levels=INFO" % web.made["failed"]})]
    for path in ("/", "/stats", "/pilot/" + web.made["failed"]):
        status, headers, text = request(web.url, path)
        assert status == 401 and "log in first" in error_of(text)
        assert headers["www-authenticate"] == ['Bearer realm="pilots2 logbook"']
        assert web.made["failed"] not in text
    status, _, text = request(web.url, "/login", HTML)
    assert status == 200 and 'type="password"' in text
    assert request(web.url, "/login?" + "&".join("a%d=1" % index for index in range(50)), HTML)[0] == 200
    # the style sheet and script need no credential
    assert request(web.url, "/static/webui.css")[0] == 200
    assert request(web.url, "/static/webui.js")[1]["content-type"] == ["text/javascript; charset=utf-8"]


def test_readers_need_an_admin_credential(web):
    status, _, text = request(web.url, "/", {"Authorization": "Bearer 0123456789abcdef" * 4})
    assert status == 401 and "malformed token" in error_of(text)
    pilot_token = token(web.made["failed"])  # valid: this logbook has the pilot-token secret
    status, _, text = request(web.url, "/pilot/" + web.made["failed"], {"Authorization": "Bearer " + pilot_token})
    assert status == 403 and "administrator" in error_of(text)  # a pilot token writes, it does not read
    assert web.made["failed"] not in text.split("<main>")[1]
    status, headers, text = request(web.url, "/", ADMIN)
    assert status == 200 and web.made["failed"] in text
    assert "default-src 'none'" in headers["content-security-policy"][0]
    assert headers["x-frame-options"] == ["DENY"] and headers["cache-control"] == ["no-store"]


def test_an_administrator_certificate_reads_without_logging_in(sqlite_store, tmp_path):
    """A client certificate whose DN is given with --admin-dn reads; another verified DN gets 403."""
    from pilot_server.logbook.receive import tlsconfig

    made = populate(sqlite_store)
    pki = PKI(tmp_path / "pki")
    pki.rehash()
    cert, key = pki.server()
    _, _, admin_dn, admin_files = pki.user("admin")
    _, _, _, other_files = pki.user("someone")
    server = start_server(
        sqlite_store,
        secrets=(),
        admin_dns=[admin_dn],
        tls_context=tlsconfig.server_context(cert, key, pki.ca_dir, None),
    )
    try:
        status, _, text = request(server.url, "/pilot/" + made["failed"], HTML, context=pki.client_context(admin_files))
        assert status == 200 and made["failed"] in text and "admin" in text.split("</header>")[0]
        status, _, text = request(server.url, "/", HTML, context=pki.client_context(other_files))
        assert status == 403 and "admin" in error_of(text) and made["failed"] not in text
        assert request(server.url, "/", HTML, context=pki.client_context())[0] == 303  # no certificate: log in
    finally:
        server.stop()


# -- login and sessions -----------------------------------------------------------------------------


def test_login_sets_a_strict_http_only_cookie_and_logout_revokes_it(web, caplog):
    caplog.set_level(logging.DEBUG)
    status, headers, _ = login(web)
    assert status == 303 and headers["location"] == ["/?state=Failed"]
    cookie = session_cookie(headers)
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain HTTP here; see the TLS test
    value = cookie.split(";")[0]
    status, _, text = request(web.url, "/?state=Failed", {"Cookie": value})
    assert status == 200 and web.made["failed"] in text and web.made["done"][0] not in text
    assert ADMIN_TOKEN not in text and ADMIN_TOKEN not in caplog.text and ADMIN_TOKEN not in value

    host = urlsplit(web.url).netloc
    logout = {"Cookie": value, "Origin": web.url, "Host": host, "Content-Type": "application/x-www-form-urlencoded"}
    status, headers, _ = request(web.url, "/logout", logout, "POST", "")
    assert status == 303 and headers["location"] == ["/login"]
    assert "Max-Age=0" in session_cookie(headers)
    assert request(web.url, "/", dict(HTML, Cookie=value))[0] == 303  # revoked in this process


def test_a_wrong_token_is_refused_without_echoing_it(web, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = "ab" * 32
    status, headers, text = login(web, wrong)
    assert status == 401 and session_cookie(headers) is None
    assert "not accepted" in error_of(text) and wrong not in text and wrong not in caplog.text
    status, _, text = login(web, "")
    assert status == 401 and error_of(text) == "paste the admin token"


def test_login_from_another_site_is_refused(web):
    assert login(web, origin="http://evil.example")[0] == 403
    assert login(web, origin="null")[0] == 403
    assert login(web, origin=False)[0] == 403  # neither Origin nor Referer
    assert login(web, origin=False, extra={"Referer": web.url + "/login"})[0] == 303
    assert login(web, origin=False, extra={"Referer": "http://evil.example/login"})[0] == 403
    assert login(web, extra={"Sec-Fetch-Site": "cross-site"})[0] == 403


def test_login_goes_back_only_to_a_local_page(web):
    host = urlsplit(web.url).netloc
    for target, expected in (
        ("//evil.example/x", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil", "/"),
        ("/pilot/abc", "/pilot/abc"),
    ):
        status, headers, _ = request(
            web.url,
            "/login",
            {"Host": host, "Origin": web.url, "Content-Type": "application/x-www-form-urlencoded"},
            "POST",
            urlencode({"token": ADMIN_TOKEN, "next": target}),
        )
        assert (status, headers["location"]) == (303, [expected])


def test_forged_expired_and_tampered_cookies_are_refused():
    sessions = websession.Sessions(lifetime=60)
    value = sessions.issue("admin token", now=1000)
    assert sessions.check(value, now=1001) == "admin token"
    assert sessions.check(value, now=1061) is None  # expired
    body, _, signature = value.rpartition(".")
    later = body.split(".")
    later[1] = str(int(later[1]) + 3600)
    assert sessions.check(".".join(later) + "." + signature, now=1001) is None  # extended: bad signature
    assert websession.Sessions(lifetime=60).check(value, now=1001) is None  # another process's key
    for junk in ("", "x", "v1.1.2.3.4", "v1..." + signature, "\u00e9" * 10, "a" * 600):
        assert sessions.check(junk, now=1001) is None
    sessions.revoke(value, now=1001)
    assert sessions.check(value, now=1001) is None
    assert websession.cookie_value("a=b; %s=%s; c=d" % (websession.COOKIE, value)) == value


def test_over_tls_the_cookie_is_secure(sqlite_store, tmp_path):
    from pilot_server.logbook.receive import tlsconfig

    pki = PKI(tmp_path / "pki")
    cert, key = pki.server()
    running = start_server(
        sqlite_store, admin_secrets=(ADMIN_SECRET,), tls_context=tlsconfig.server_context(cert, key, None, None)
    )
    try:
        host = urlsplit(running.url).netloc
        status, headers, _ = request(
            running.url,
            "/login",
            {"Host": host, "Origin": running.url, "Content-Type": "application/x-www-form-urlencoded"},
            "POST",
            urlencode({"token": ADMIN_TOKEN}),
            context=pki.client_context(),
        )
        assert status == 303 and "; Secure" in session_cookie(headers)
        assert login_origin_is_checked_against_https(running, pki)
    finally:
        running.stop()


def login_origin_is_checked_against_https(running, pki):
    host = urlsplit(running.url).netloc
    status, _, _ = request(
        running.url,
        "/login",
        {"Host": host, "Origin": "http://" + host, "Content-Type": "application/x-www-form-urlencoded"},
        "POST",
        urlencode({"token": ADMIN_TOKEN}),
        context=pki.client_context(),
    )
    return status == 403


# -- pages ------------------------------------------------------------------------------------------------


def test_everything_stored_is_escaped(web):
    nasty = web.made["nasty"]
    for path in ("/", "/?state=Failed", "/pilot/" + nasty):
        status, _, text = request(web.url, path, ADMIN)
        assert status == 200
        main = text.split("<main>")[1]
        assert "<script>alert" not in main and "<img src=x" not in main and '"><b>' not in main
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in main
        if path.startswith("/pilot/"):
            assert "&lt;script&gt;alert(3)&lt;/script&gt;" in main
            assert "&lt;img src=x onerror=alert(2)&gt; &amp; more" in main
    # parameters are echoed escaped too
    status, _, text = request(web.url, "/?" + urlencode({"site": '"><script>x</script>'}), ADMIN)
    assert status == 200 and '"><script>x' not in text and 'value="&#34;&gt;&lt;script&gt;x&lt;/script&gt;"' in text


def test_bad_stamps_are_404(web):
    for path in ("/pilot/" + "0" * 32, "/pilot/%3Cscript%3E", "/pilot/", "/pilot/a%20b", "/pilot/" + "a" * 200):
        status, _, text = request(web.url, path, ADMIN)
        assert status == 404, path
        assert "\n" not in error_of(text) and "<script>" not in text.split("<main>")[1]
    assert request(web.url, "/nothing/here", ADMIN)[0] == 404
    assert request(web.url, "/api/v1/nothing", ADMIN)[0] == 404  # the API keeps its JSON 404


@pytest.mark.parametrize(
    "query, reason",
    [
        ("state=Bogus", "state must be one of"),
        ("since=last+tuesday", "since: not a time"),
        ("since=1h&until=3h", "since is after until"),
        ("limit=0", "limit must be a number from 1 to 500"),
        ("limit=lots", "limit must be a number"),
        ("cursor=junk", "bad cursor"),
        ("cursor=nan~abc", "bad cursor"),
        ("colour=red", "unknown parameter: colour"),
        ("site=a&site=b", "give site once"),
        ("site=" + "x" * 129, "site must be at most 128 characters"),
        ("stamp=a%20b", "stamp must be letters"),
        ("reason=%00", "reason must not contain control characters"),
    ],
)
def test_bad_filters_are_400_with_a_one_line_reason(web, query, reason):
    status, _, text = request(web.url, "/?" + query, ADMIN)
    assert status == 400
    found = error_of(text)
    assert reason in found and "\n" not in found and "Traceback" not in text


def test_bad_pilot_page_parameters_are_400(web):
    base = "/pilot/" + web.made["failed"]
    assert "levels must be among" in error_of(request(web.url, base + "?levels=LOUD", ADMIN)[2])
    assert "after must be" in error_of(request(web.url, base + "?after=-1", ADMIN)[2])
    assert request(web.url, "/stats?group_by=colour", ADMIN)[0] == 400


def test_filters_select_the_right_pilots(web):
    made = web.made

    def stamps(query):
        status, _, text = request(web.url, "/?" + query, ADMIN)
        assert status == 200, text
        return set(re.findall(r'data-stamp="([0-9a-f]{32})"', text))

    everyone = set(made["done"]) | {made["failed"], made["running"], made["submitted"], made["nasty"]}
    assert stamps("") == everyone
    assert stamps("state=failed") == {made["failed"], made["nasty"]}
    assert stamps("state=Submitted") == {made["submitted"]}
    assert stamps("site=LCG.CERN.ch") == set(made["done"])
    assert stamps("ce=ce02.ral.uk&state=Running") == {made["running"]}
    assert stamps("vo=dteam") == everyone
    assert stamps("vo=lhcb") == set()
    assert stamps("reason=TIMEOUT") == {made["failed"]}
    assert stamps("reason=%25") == set()  # LIKE wildcards are plain text
    assert stamps("reason=installdirac") == {made["failed"]}  # the failed command too
    assert stamps("stamp=" + made["failed"][:6]) == {made["failed"]}
    assert stamps("since=1h") == everyone
    assert stamps("until=2000-01-01") == set()
    assert stamps("since=%d&until=%d" % (time.time() - 3600, time.time() + 60)) == everyone


def test_keyset_pages_visit_every_pilot_once_newest_first(web):
    seen, path = [], "/?limit=2&vo=dteam"
    while path:
        status, _, text = request(web.url, path, ADMIN)
        assert status == 200
        page = re.findall(r'data-stamp="([0-9a-f]{32})"', text)
        assert 1 <= len(page) <= 2
        seen.extend(page)
        following = re.search(r'<a href="([^"]*)" id="next-page">', text)
        path = following.group(1).replace("&amp;", "&") if following else None
        assert path is None or "vo=dteam" in path
    assert len(seen) == len(set(seen)) == 7
    rows = web.server.store.pilots(limit=100)
    expected = [row["stamp"] for row in sorted(rows, key=lambda row: (row["last_seen"], row["stamp"]), reverse=True)]
    assert seen == expected


def test_the_pilot_page_has_the_timeline_result_parameters_and_log(web):
    status, _, text = request(web.url, "/pilot/" + web.made["failed"], ADMIN)
    assert status == 200
    bars = re.findall(r'<g class="bar (\w+)" data-command="(\w+)" data-status="(\w+)">', text)
    assert bars == [("ok", "CheckWorkerNode", "ok"), ("failed", "InstallDIRAC", "failed")]
    assert re.search(
        r"<title>InstallDIRAC: failed after [0-9.]+ s \(network\): download of DIRAC failed: timeout"
        r"</title>",
        text,
    )
    assert text.count('class="notrun"') == 2
    assert 'id="result"' in text and "wn042.example.org" in text and 'id="parameters"' in text
    levels = re.findall(r'<tr class="lvl-(\w+) kind-(\w+)"', text)
    assert {level for level, _ in levels} == {"DEBUG", "INFO", "WARNING", "ERROR"}
    assert ("ERROR", "result") in levels
    # the log filtered by level on the server, and paged
    status, _, text = request(web.url, "/pilot/%s?levels=ERROR,warning" % web.made["failed"], ADMIN)
    assert {level for level, _ in re.findall(r'<tr class="lvl-(\w+) kind-(\w+)"', text)} == {"ERROR", "WARNING"}
    assert 'value="INFO" id="level-INFO">' in text  # its checkbox unticked
    status, _, text = request(web.url, "/pilot/%s?after=5" % web.made["failed"], ADMIN)
    assert re.findall(r'data-seq="(\d+)"', text)[0] == "6"


def test_the_api_health_is_unchanged(web):
    status, headers, text = request(web.url, "/api/v1/health")
    assert status == 200 and headers["content-type"] == ["application/json"]


def test_the_statistics_page_draws_the_figures_of_stats_compute(web):
    status, _, text = request(web.url, "/stats?group_by=site", ADMIN)
    assert status == 200, text
    for chart in ("chart-states", "chart-durations", "chart-failures", "chart-submit", "chart-db12"):
        assert 'id="%s"' % chart in text
    main = text.split("<main>")[1]
    assert "<script>alert" not in main and "&lt;script&gt;alert(1)&lt;/script&gt;" in main  # a site as a group
    # the failed InstallDIRAC of the RAL pilot: its rate and reason
    assert re.search(
        r'<g class="failrate" data-command="InstallDIRAC"><title>InstallDIRAC: 1 of \d+ failed '
        r"\([0-9.]+%\): download of DIRAC failed: timeout \(1\)</title>",
        text,
    )
    assert text.count('<g data-command="') >= 4  # a duration bar group per command
    status, _, text = request(web.url, "/stats?site=LCG.CERN.ch&group_by=ce", ADMIN)
    assert status == 200 and '<div class="n">3</div>Done' in text and '<div class="n">0</div>Failed' in text
    assert "ce01.cern.ch" in text and "ce02.ral.uk" not in text
    for query, reason in (
        ("group_by=colour", "group_by must be one of"),
        ("since=soon", "since: not a time"),
        ("state=Done", "unknown parameter: state"),
    ):
        status, _, text = request(web.url, "/stats?" + query, ADMIN)
        assert status == 400 and reason in error_of(text)


def test_the_statistics_page_opens_on_the_last_day(web, sqlite_store):
    _, _, default = request(web.url, "/stats", ADMIN)
    assert 'id="f-since" value="24h"' in default
    # a pilot last seen two days ago counts over all time, not in the default window
    store = sqlite_store
    done = lambda text: int(re.search(r'<div class="n">(\d+)</div>Done', text).group(1))
    before_default, before_all = done(default), done(request(web.url, "/stats?since=all", ADMIN)[2])
    old = "e" * 32
    store.register(old, site="LCG.Old.org")
    store.store_batch(old, [result_message(old, 1, exit_code=0)])
    with store.engine.begin() as connection:
        from pilot_server.logbook.store import aggregates

        tracker = aggregates.track(connection, [old])  # the statistics follow, as for the store's writes
        connection.execute(
            schema.pilots.update().where(schema.pilots.c.stamp == old).values(last_seen=time.time() - 2 * 86400)
        )
        tracker.settle()
    assert done(request(web.url, "/stats", ADMIN)[2]) == before_default
    assert done(request(web.url, "/stats?since=all", ADMIN)[2]) == before_all + 1
