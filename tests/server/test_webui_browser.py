"""The web page in a real browser: Debian's headless chromium, driven through chromedriver.

A real ``pilotctl logbook serve`` process serves a SQLite logbook whose pilots were stored
through the store API as pilots send them (webui_support).  The browser logs in with the
admin token, then uses the list, its filters, a pilot's timeline and log, the statistics,
and logs out.  Screenshots go to tests/artifacts/webui/ (kept by CI as artifacts; the path is
printed).  Without chromium and chromedriver (.ci/provision-chromium.sh installs them) these
tests fail and say so: they never skip.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile

import pytest

from logbook_support import SECRET, post
from support.ports import free_port
from support.waiting import wait_until
from webui_support import ADMIN_SECRET, ADMIN_TOKEN, populate

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ARTIFACTS = os.path.join(REPO, "tests", "artifacts", "webui")
CHROMIUM = os.environ.get("PILOTS2_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("PILOTS2_CHROMEDRIVER", "/usr/bin/chromedriver")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1400,1000",
)


@pytest.fixture(scope="module")
def logbook(tmp_path_factory):
    """(base URL, the stored pilots) of a `pilotctl logbook serve` process."""
    from pilot_server import tokens
    from pilot_server.logbook.store.logstore import Store

    work = tmp_path_factory.mktemp("weblogbook")
    url = "sqlite:///%s" % (work / "logbook.sqlite")
    store = Store.open(url)
    made = populate(store)
    store.close()
    secret, admin = str(work / "token.secret"), str(work / "admin.secret")
    tokens.write_secret(secret, SECRET)
    tokens.write_secret(admin, ADMIN_SECRET)
    port = free_port()
    log_path = str(work / "serve.log")
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pilot_server.cli",
                "logbook",
                "serve",
                "--db",
                url,
                "--listen",
                "127.0.0.1:%d" % port,
                "--insecure-http",
                "--token-secret",
                secret,
                "--admin-token-file",
                admin,
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    base = "http://127.0.0.1:%d" % port

    def healthy():
        try:
            return post(base, "/api/v1/health", None, method="GET")[0] == 200
        except OSError:
            return process.poll() is not None

    try:
        wait_until(healthy, 30, 0.1, what="pilotctl logbook serve to answer")
        assert process.poll() is None, open(log_path).read()[-2000:]
        yield base, made
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    served = open(log_path).read()
    assert ADMIN_TOKEN not in served, "the admin token was written to the service's log"


@pytest.fixture(scope="module")
def browser():
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    if missing:
        pytest.fail(
            "the browser tests need Debian's chromium and chromium-driver: %s missing "
            "(.ci/provision-chromium.sh installs them as root; ./run-tests calls it)" % ", ".join(missing)
        )
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError as exc:
        pytest.fail("selenium is needed (setup.py dev extras: pip install -e .[dev]): %s" % exc)
    os.environ["SE_OFFLINE"] = "true"  # never let Selenium Manager download a browser or driver
    profile = tempfile.mkdtemp(prefix="pilots2-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument("--user-data-dir=%s" % profile)
    try:
        driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    except Exception as exc:
        shutil.rmtree(profile, ignore_errors=True)
        pytest.fail("headless chromium did not start: %s" % " ".join(str(exc).split())[:500])
    driver.set_page_load_timeout(30)
    os.makedirs(ARTIFACTS, exist_ok=True)
    print("\nweb page screenshots: %s" % ARTIFACTS)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def screenshot(driver, name):
    """A full-page PNG in tests/artifacts/webui/; its path is printed."""
    height = driver.execute_script("return Math.max(document.body.scrollHeight, 600)")
    driver.set_window_size(1400, min(int(height) + 40, 6000))
    path = os.path.join(ARTIFACTS, "%s.png" % name)
    assert driver.save_screenshot(path), "no screenshot written to %s" % path
    driver.set_window_size(1400, 1000)
    print("screenshot: %s" % path)
    return path


def by_css(driver, selector):
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, selector)


def one(driver, selector):
    found = by_css(driver, selector)
    assert len(found) == 1, "%d elements match %s on %s" % (len(found), selector, driver.current_url)
    return found[0]


def click_and_wait(driver, element):
    """Click a link or a submit button and wait until the next page has loaded (a new window
    object: the marker set on this one is gone)."""
    from selenium.webdriver.support.ui import WebDriverWait

    driver.execute_script("window.pilots2OldPage = true")
    element.click()
    WebDriverWait(driver, 30).until(
        lambda d: d.execute_script("return window.pilots2OldPage === undefined && document.readyState === 'complete'")
    )


def listed(driver):
    return [row.get_attribute("data-stamp") for row in by_css(driver, "#pilots tbody tr")]


def no_alert(driver):
    from selenium.common.exceptions import NoAlertPresentException

    try:
        text = driver.switch_to.alert.text
    except NoAlertPresentException:
        return True
    raise AssertionError("a script of stored data ran: alert(%r)" % text)


def login(driver, base, token):
    driver.get(base + "/login")
    box = one(driver, "#token")
    box.clear()
    box.send_keys(token)
    click_and_wait(driver, one(driver, "#login"))


def test_a_browser_logs_in_and_sees_every_pilot(logbook, browser):
    base, made = logbook
    browser.delete_all_cookies()
    browser.get(base + "/")
    assert browser.current_url.startswith(base + "/login?next=")  # not logged in: the login page
    login(browser, base, "00" * 32)
    assert "not accepted" in one(browser, "#error").text
    screenshot(browser, "login-refused")
    login(browser, base, ADMIN_TOKEN)
    assert browser.current_url == base + "/"
    stamps = listed(browser)
    everyone = set(made["done"]) | {made["failed"], made["running"], made["submitted"], made["nasty"]}
    assert set(stamps) == everyone and len(stamps) == len(everyone)
    assert one(browser, "#row-count").text == str(len(everyone))
    cookies = [cookie for cookie in browser.get_cookies() if cookie["name"] == "pilots2_session"]
    assert len(cookies) == 1 and cookies[0]["httpOnly"] and cookies[0]["sameSite"] == "Strict"
    assert browser.execute_script("return document.cookie") == ""  # HttpOnly: no script sees it
    no_alert(browser)
    screenshot(browser, "list")


def test_the_list_filters_reduce_the_rows(logbook, browser):
    from selenium.webdriver.support.ui import Select

    base, made = logbook
    browser.get(base + "/")
    Select(one(browser, "#f-state")).select_by_visible_text("Failed")
    click_and_wait(browser, one(browser, "#apply"))
    assert "state=Failed" in browser.current_url
    assert set(listed(browser)) == {made["failed"], made["nasty"]}
    assert all(cell.text == "Failed" for cell in by_css(browser, "#pilots tbody td.state"))
    screenshot(browser, "list-failed")

    browser.get(base + "/")
    one(browser, "#f-site").send_keys("LCG.RAL.uk")
    click_and_wait(browser, one(browser, "#apply"))
    assert set(listed(browser)) == {made["failed"], made["running"]}
    Select(one(browser, "#f-state")).select_by_visible_text("Running")
    click_and_wait(browser, one(browser, "#apply"))
    assert listed(browser) == [made["running"]]

    browser.get(base + "/")
    one(browser, "#f-reason").send_keys("timeout")
    click_and_wait(browser, one(browser, "#apply"))
    assert listed(browser) == [made["failed"]]
    click_and_wait(browser, one(browser, "#clear"))
    assert len(listed(browser)) == 7

    browser.get(base + "/?limit=2")  # keyset pages: following "older" visits every pilot once
    seen = []
    while True:
        seen.extend(listed(browser))
        following = by_css(browser, "#next-page")
        if not following:
            break
        click_and_wait(browser, following[0])
    assert len(seen) == 7 and len(set(seen)) == 7

    browser.get(base + "/?state=bogus")
    assert "state must be one of" in one(browser, "#error").text


def test_a_pilot_page_shows_the_timeline_and_the_log_by_level(logbook, browser):
    base, made = logbook
    browser.get(base + "/?state=Failed&site=LCG.RAL.uk")
    click_and_wait(browser, one(browser, "#pilots tbody a"))
    assert browser.current_url == base + "/pilot/" + made["failed"]
    assert one(browser, "#state").text == "Failed"
    bars = by_css(browser, "#timeline svg g.bar")
    assert [bar.get_attribute("data-command") for bar in bars] == ["CheckWorkerNode", "InstallDIRAC"]
    failed = one(browser, "#timeline svg g.bar.failed")
    assert failed.get_attribute("data-command") == "InstallDIRAC"
    title = browser.execute_script("return arguments[0].querySelector('title').textContent", failed)
    assert "download of DIRAC failed: timeout" in title and "failed" in title
    colours = browser.execute_script(
        "return Array.from(document.querySelectorAll('#timeline g.bar rect')).map(r => getComputedStyle(r).fill)"
    )
    assert len(set(colours)) == 2, colours  # the failed bar has its own colour
    not_run = [node.get_attribute("data-command") for node in by_css(browser, "#timeline svg text.notrun")]
    assert not_run == ["ConfigureDIRAC", "LaunchAgent"]
    assert one(browser, "#result").is_displayed()
    assert [row.text.split()[0] for row in by_css(browser, "#history tbody tr")] == ["Running", "Failed"]
    assert "wn042.example.org" in one(browser, "#parameters").text

    levels = set(row.get_attribute("class").split()[0] for row in by_css(browser, "#log tbody tr"))
    assert {"lvl-DEBUG", "lvl-INFO", "lvl-WARNING", "lvl-ERROR"} <= levels
    total = len(by_css(browser, "#log tbody tr"))
    screenshot(browser, "pilot-failed")
    for level in ("DEBUG", "INFO"):
        one(browser, "#level-" + level).click()
    visible = [row for row in by_css(browser, "#log tbody tr") if row.is_displayed()]
    assert visible and all(row.get_attribute("class").split()[0] in ("lvl-WARNING", "lvl-ERROR") for row in visible)
    assert int(one(browser, "#log-shown").text) == len(visible) < total
    screenshot(browser, "pilot-failed-warnings")


def test_stored_markup_is_shown_as_text(logbook, browser):
    base, made = logbook
    browser.get(base + "/pilot/" + made["nasty"])
    no_alert(browser)
    assert "<script>alert(3)</script>" in one(browser, "#log").text
    assert "<script>alert(1)</script>" in one(browser, "#summary").text
    assert not by_css(browser, "main script") and not by_css(browser, "main img")
    browser.get(base + "/?state=Failed")
    no_alert(browser)
    assert "<img src=x onerror=alert(2)> & more" in one(browser, "#pilots").text


def test_a_running_pilot_has_an_open_bar_and_no_result(logbook, browser):
    base, made = logbook
    browser.get(base + "/pilot/" + made["running"])
    bars = by_css(browser, "#timeline svg g.bar")
    assert [bar.get_attribute("data-status") for bar in bars] == ["ok", "ok", "ok", "ok"]
    assert "No result yet" in one(browser, "#result").text
    browser.get(base + "/pilot/" + made["submitted"])
    assert one(browser, "#state").text == "Submitted"
    assert "no command" in one(browser, "#timeline").text.lower()


def test_the_statistics_page_draws_its_charts(logbook, browser):
    base, _ = logbook
    browser.get(base + "/")
    click_and_wait(browser, one(browser, "header nav a[href='/stats']"))
    assert browser.current_url == base + "/stats"
    for chart in ("#chart-states", "#chart-durations", "#chart-failures", "#chart-submit", "#chart-db12"):
        assert one(browser, chart + " svg, " + chart + " p.empty").is_displayed()
    assert len(by_css(browser, "#chart-states svg rect")) >= 5  # state segments per site, and the legend
    durations = by_css(browser, "#chart-durations svg g[data-command]")
    assert {group.get_attribute("data-command") for group in durations} >= {"CheckWorkerNode", "InstallDIRAC"}
    failing = one(browser, "#chart-failures g.failrate[data-command='InstallDIRAC'] rect.failed")
    assert failing.size["width"] > 0
    assert "download of DIRAC failed: timeout" in one(browser, "#reasons").text
    no_alert(browser)
    screenshot(browser, "stats")
    one(browser, "#f-site").send_keys("LCG.CERN.ch")
    click_and_wait(browser, one(browser, "#apply"))
    cards = dict((card.text.split("\n")[1], int(card.text.split("\n")[0])) for card in by_css(browser, ".card"))
    assert cards["Done"] == 3 and cards["Failed"] == 0 and sum(cards.values()) == 3


def test_logging_out_ends_the_session(logbook, browser):
    base, _ = logbook
    browser.get(base + "/")
    click_and_wait(browser, one(browser, "#logout"))
    assert browser.current_url.startswith(base + "/login")
    browser.get(base + "/")
    assert browser.current_url.startswith(base + "/login?next=")
