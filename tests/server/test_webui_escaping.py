"""Hostile values in the database come out as text on every page (the Jinja2 templates' autoescaping).

One pilot carries markup, quotes that would close an attribute, entities that must not be
decoded twice, and very long strings, in every field a page shows: site, CE, queue, VO,
version, a command's name, failure type and reason, log text, heartbeat data, result and
usage.  Each page is parsed as HTML: no element or event attribute came from the data, the
data reads back as the same text, and each chart is well-formed SVG.
"""

import uuid
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from urllib.parse import urlencode

import pytest

from logbook_support import sqlite_store, start_server  # noqa: F401
from pilot_server.worker import messages as wire
from pilot_server.logbook.store import stats
from webui_support import ADMIN, ADMIN_SECRET, HTML, request

SCRIPT = "<script>alert('s')</script>"
ATTRIBUTE = '" onmouseover="alert(1)" data-x="'
SINGLE = "' onfocus='alert(2)' autofocus='"
IMAGE = "<img src=x onerror=alert(3)>"
ENTITIES = "&lt;b&gt; &amp; &#34;"  # must be shown as written, not decoded
CLOSERS = "</td></table></svg></textarea><b>bold</b>"
SITE = (SCRIPT + ATTRIBUTE)[:128]
CE = (IMAGE + SINGLE)[:128]
QUEUE = (CLOSERS + ENTITIES)[:128]
VO = (ATTRIBUTE + SCRIPT)[:128]
VERSION = ("<i>" + SINGLE)[:64]
COMMAND = '<b onclick="x">C\'md</b>'  # a command name (message source, at most 64)
LONG_TEXT = "L" * 60000 + SCRIPT  # near the 64 KiB text limit
LONG_REASON = IMAGE + "R" * 1200 + ATTRIBUTE  # over the 1,000 characters a command row keeps
FORBIDDEN_TAGS = {"b", "i", "img", "iframe", "textarea"}


def hostile_messages(stamp, start):
    clock = iter(range(1, 100))

    def add(text, **fields):
        seq = len(out) + 1
        out.append(wire.message(stamp, seq, start + next(clock), text, **fields))

    out = []
    add(
        SCRIPT,
        data={
            "site": SITE,
            "ce": CE,
            "queue": QUEUE,
            "vo": VO,
            "version": VERSION,
            "release": ENTITIES,
            "hostname": ATTRIBUTE,
            "python": CLOSERS,
        },
    )
    add("=== started ===", source=COMMAND, kind="command", status="started", phase=COMMAND)
    add(LONG_TEXT, source=COMMAND, level="WARNING")
    add(IMAGE, source=COMMAND, level="ERROR", stream="stderr")
    add(ENTITIES, kind="heartbeat", data={"load": SCRIPT, ATTRIBUTE: CLOSERS})
    add(
        "failed",
        level="ERROR",
        source=COMMAND,
        kind="command",
        status="failed",
        phase=COMMAND,
        data={"duration": 3.5, "failure_type": ATTRIBUTE[:60], "reason": LONG_REASON},
    )
    add(
        "result",
        level="ERROR",
        kind="result",
        status="failed",
        data={
            "pilot": {
                "exit_code": 11,
                "failed_command": COMMAND,
                "reason": LONG_REASON,
                "hostname": SINGLE,
                "db12": 17.5,
                SCRIPT: ENTITIES,
            },
            "usage": {IMAGE: ATTRIBUTE, "wall_seconds": 12.0},
            "commands": [
                {"name": COMMAND, "status": "failed", "duration": 3.5, "failure_type": "network"},
                {"name": "<i>Never</i>", "status": "not run", "duration": None, "failure_type": None},
            ],
        },
    )
    return out


@pytest.fixture
def hostile(sqlite_store):
    import time

    stamp = uuid.uuid4().hex
    sqlite_store.store_batch(stamp, hostile_messages(stamp, time.time() - 300))
    running = start_server(sqlite_store, admin_secrets=(ADMIN_SECRET,))
    running.stamp = stamp
    yield running
    running.stop()


class Page(HTMLParser):
    """The elements, attributes and text of a page, as a browser would read them."""

    def __init__(self, text):
        HTMLParser.__init__(self, convert_charrefs=True)
        self.tags, self.attributes, self.texts, self.in_main = [], [], [], False
        self.feed(text)
        self.close()
        self.text = "".join(self.texts)

    def handle_starttag(self, tag, attrs):
        if tag == "main":
            self.in_main = True
        if self.in_main:
            self.tags.append(tag)
            self.attributes.extend((tag, name, value) for name, value in attrs)

    handle_startendtag = handle_starttag

    def handle_endtag(self, tag):
        if tag == "main":
            self.in_main = False

    def handle_data(self, data):
        if self.in_main:
            self.texts.append(data)


def check_page(text):
    """The page's main part holds no element or attribute that came from stored data."""
    page = Page(text)
    assert "script" not in page.tags and not FORBIDDEN_TAGS & set(page.tags), sorted(set(page.tags))
    injected = [
        item
        for item in page.attributes
        if item[1].startswith("on")
        or item[1] == "data-x"
        or item[1] == "autofocus"
        and item != ("input", "autofocus", None)
    ]  # the login field's own
    assert not injected, injected[:3]
    for chart in text.split("<svg")[1:]:
        ET.fromstring("<svg" + chart.split("</svg>")[0] + "</svg>")  # well-formed, or it raises
    return page


def get(running, path, status=200):
    code, headers, text = request(running.url, path, dict(ADMIN, **HTML))
    assert code == status, (path, text[:300])
    assert "default-src 'none'" in headers["content-security-policy"][0]
    return text


def test_the_pilot_page_shows_every_hostile_field_as_text(hostile):
    for query in ("", "?levels=ERROR,WARNING", "?after=1"):
        page = check_page(get(hostile, "/pilot/%s%s" % (hostile.stamp, query)))
        for value in (IMAGE, LONG_TEXT):
            assert value in page.text
    page = check_page(get(hostile, "/pilot/" + hostile.stamp))
    for value in (
        SITE,
        CE,
        QUEUE,
        VO,
        VERSION,
        COMMAND,
        SCRIPT,
        ENTITIES,
        CLOSERS,
        ATTRIBUTE,
        SINGLE,
        LONG_REASON,
        "[stderr] " + IMAGE,
        "<i>Never</i>",
    ):
        assert value in page.text, value[:40]
    assert LONG_REASON[:1000] in page.text  # the command row keeps 1,000 characters of it
    titles = [
        node.text
        for node in ET.fromstring(
            "<svg" + get(hostile, "/pilot/" + hostile.stamp).split("<svg")[1].split("</svg>")[0] + "</svg>"
        ).iter("{http://www.w3.org/2000/svg}title")
    ]
    assert titles and titles[0].startswith(COMMAND + ": failed after 3.50 s (") and IMAGE in titles[0]


def test_the_list_shows_hostile_values_as_text(hostile):
    for query in (
        "",
        "?state=Failed",
        "?" + urlencode({"site": SITE}),
        "?" + urlencode({"vo": VO}),
        "?" + urlencode({"reason": "<img src=x"}),
        "?" + urlencode({"reason": '"', "limit": "25"}),
    ):
        page = check_page(get(hostile, "/" + query))
        assert hostile.stamp in page.text, query
        for value in (SITE, CE, QUEUE, VO, VERSION, COMMAND):
            assert value in page.text, (query, value[:40])
    # the reason also sits in a title attribute, whole, as text
    page = check_page(get(hostile, "/"))
    assert ("td", "title", LONG_REASON) in page.attributes


@pytest.mark.parametrize("group_by", stats.GROUPS)
def test_the_statistics_show_hostile_values_as_text(hostile, group_by):
    page = check_page(get(hostile, "/stats?" + urlencode({"since": "all", "group_by": group_by})))
    assert COMMAND in page.text and LONG_REASON[:100] in page.text
    shown = {"site": SITE, "ce": CE, "queue": QUEUE, "vo": VO, "version": VERSION}.get(group_by)
    if shown is not None:
        assert shown[:28] in page.text  # a group's label in the chart (its first 28 characters)
    check_page(get(hostile, "/stats?" + urlencode({"since": "all", "site": SITE, "group_by": group_by})))


def test_hostile_parameters_are_echoed_as_text(hostile):
    for path, status, echoed in (
        ("/?" + urlencode({SCRIPT: "1"}), 400, "unknown parameter: " + SCRIPT),
        ("/?" + urlencode({"site": "<b>" * 60}), 400, "site must be at most 128 characters"),
        ("/?" + urlencode({"state": ATTRIBUTE}), 400, ATTRIBUTE[:40]),
        ("/nothing/" + urlencode({"x": SCRIPT}), 404, "no such page"),
        ("/pilot/%3Cscript%3E", 404, "not a pilot stamp: <script>"),
        ("/stats?" + urlencode({"since": SCRIPT}), 400, "since: "),
        ("/?" + urlencode({"since": SINGLE, "ce": ATTRIBUTE}), 400, "since: "),
    ):
        page = check_page(get(hostile, path, status))
        assert echoed in page.text, (path, page.text[:300])
    # a form's own fields keep what was typed, inside the value attribute
    page = check_page(get(hostile, "/?" + urlencode({"ce": CE, "queue": QUEUE})))
    assert ("input", "value", CE) in page.attributes and ("input", "value", QUEUE) in page.attributes
    # the login page keeps a local "next" page as text in its hidden field
    target = "/pilot/x" + ATTRIBUTE + SCRIPT
    code, _, text = request(hostile.url, "/login?" + urlencode({"next": target}), HTML)
    assert code == 200
    page = check_page(text)
    assert ("input", "value", target) in page.attributes
    assert ("input", "autofocus", None) in page.attributes  # the token field's own, the only one
