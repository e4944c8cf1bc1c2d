"""pilotctl logbook: serve and consume as processes; pilots, show and follow on a real database."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from logbook_support import (
    PKI,
    SECRET,
    bearer,
    body,
    make_messages,
    new_stamp,
    post,
    result_message,  # noqa: F401
    token,
)
from support.ports import free_port
from support.waiting import wait_until
from pilot_server.worker import messages as wire
from cli_support import pilotctl

PILOTCTL = [sys.executable, "-m", "pilot_server.cli"]


@pytest.fixture
def filled(tmp_path):
    """A SQLite logbook with three pilots at two sites, one finished with a failure."""
    from pilot_server.logbook.store.logstore import Store

    url = "sqlite:///%s" % (tmp_path / "logbook.sqlite")
    store = Store.open(url)
    a, b, c = "a" * 32, "b" * 32, "c" * 32
    store.store_batch(a, make_messages(a, [1, 2], data={"site": "LCG.One.org", "ce": "ce1.one.org"}))
    store.store_batch(
        a,
        [
            wire.message(
                a, 3, 1763737440.25, "Installing DIRAC", source="InstallDIRAC", kind="command", status="started"
            ),
            wire.message(
                a, 5, 1763737441.5, "pip: no route to host", level="ERROR", source="InstallDIRAC", stream="stderr"
            ),
            result_message(a, 6, exit_code=11, failed="InstallDIRAC", reason="no network"),
        ],
    )
    time.sleep(0.01)
    store.store_batch(b, make_messages(b, [1], data={"site": "LCG.One.org", "ce": "ce2.one.org"}))
    time.sleep(0.01)
    store.store_batch(c, make_messages(c, [1, 2, 3], data={"site": "LCG.Two.org", "ce": "ce1.two.org"}))
    store.close()
    return url, (a, b, c)


def test_pilots_lists_and_filters(filled, capsys):
    url, (a, b, c) = filled
    code, out, _ = pilotctl(capsys, "logbook", "pilots", "--db", url)
    lines = out.splitlines()
    assert code == 0 and lines[0].startswith("STAMP") and [line.split()[0] for line in lines[1:]] == [c, b, a]
    assert lines[3].split()[1:3] == ["Failed", "LCG.One.org"] and lines[3].split()[-1] == "11"
    for options, expected in (
        (["--site", "LCG.One.org"], [b, a]),
        (["--ce", "ce1.two.org"], [c]),
        (["--status", "Failed"], [a]),
        (["--status", "Running", "--site", "LCG.One.org"], [b]),
        (["--limit", "1"], [c]),
        (["--since", "1h"], [c, b, a]),
        (["--until", "2020-01-01"], []),
        (["--since", "2099-01-01T00:00"], []),
    ):
        code, out, _ = pilotctl(capsys, "logbook", "pilots", "--db", url, "--json", *options)
        assert code == 0 and [json.loads(line)["stamp"] for line in out.splitlines()] == expected, options


def test_pilots_usage_errors_are_one_line(filled, capsys, tmp_path):
    url, _ = filled
    code, _, err = pilotctl(capsys, "logbook", "pilots", "--db", url, "--since", "last tuesday")
    assert code == 2 and "not a time" in err and len(err.strip().splitlines()) == 1
    code, _, err = pilotctl(capsys, "logbook", "pilots", "--db", "sqlite:///%s" % (tmp_path / "none.sqlite"))
    assert code == 1 and "no logbook database at" in err and not (tmp_path / "none.sqlite").exists()
    code, _, err = pilotctl(capsys, "logbook", "pilots", "--db", "oracle://x/y")
    assert code == 1 and "unsupported database" in err


def test_show_prints_pilot_out_lines_and_gaps(filled, capsys):
    url, (a, _b, _c) = filled
    code, out, err = pilotctl(capsys, "logbook", "show", a, "--db", url)
    lines = out.splitlines()
    assert code == 0 and len(lines) == 5
    assert lines[2] == "2025-11-21T15:04:00.250000Z INFO    [InstallDIRAC] Installing DIRAC"
    assert lines[3] == "2025-11-21T15:04:01.500000Z ERROR   [InstallDIRAC] [stderr] pip: no route to host"
    assert "messages not received (yet): 4" in err
    code, out, _ = pilotctl(capsys, "logbook", "show", a, "--db", url, "--json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert rows[0]["pilot"]["failed_command"] == "InstallDIRAC" and [row["seq"] for row in rows[1:]] == [1, 2, 3, 5, 6]
    code, _, err = pilotctl(capsys, "logbook", "show", "d" * 32, "--db", url)
    assert code == 1 and "no pilot dddd" in err


def test_follow_prints_new_messages_until_the_result(filled):
    from pilot_server.logbook.store.logstore import Store

    url, (_a, _b, c) = filled
    process = subprocess.Popen(
        PILOTCTL + ["logbook", "follow", c, "--db", url, "--interval", "0.1", "--timeout", "60"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    store = Store.open(url)
    seen = []

    def read_until(text):
        # follow prints as it finds: wait for each line before storing the next message, so the
        # order checked below is the order of arrival, whatever the machine's load
        while True:
            line = process.stdout.readline().decode()
            assert line, "follow ended before printing %r (got %r)" % (text, seen)
            seen.append(line.rstrip("\n"))
            if line.rstrip("\n").endswith(text):
                return

    try:
        read_until("line 3")
        store.store_batch(c, make_messages(c, [5], text="late five"))
        read_until("late five")
        store.store_batch(c, make_messages(c, [4], text="four, out of order"))
        read_until("four, out of order")
        store.store_batch(c, [result_message(c, 6, exit_code=0)])
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
        store.close()
    lines = seen + out.decode().splitlines()
    assert process.returncode == 0, err
    assert [line.split("] ", 1)[1] for line in lines] == [
        "line 1",
        "line 2",
        "line 3",
        "late five",
        "four, out of order",
        "pilot finished with exit code 0",
    ]


def test_follow_waits_for_a_pilot_and_times_out(filled):
    url, _ = filled
    done = subprocess.run(
        PILOTCTL + ["logbook", "follow", "e" * 32, "--db", url, "--interval", "0.1", "--timeout", "0.5"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert done.returncode == 1 and b"waiting for pilot" in done.stderr and b"no result from pilot" in done.stderr


@pytest.mark.parametrize(
    "argv, message",
    [
        ([], "give --tls-cert and --tls-key"),
        (["--insecure-http"], "nobody could write"),
        (["--insecure-http", "--token-secret", "S", "--tls-cert", "c"], "takes no --tls-cert"),
        (["--tls-cert", "c", "--tls-key", "k", "--trusted-dn", "/CN=x"], "needs --ca-dir"),
        (["--insecure-http", "--token-secret", "S", "--listen", "nowhere"], "HOST:PORT"),
        (["--insecure-http", "--token-secret", "/nonexistent/secret"], "/nonexistent/secret"),
    ],
)
def test_serve_option_errors_are_one_line(argv, message, tmp_path, capsys):
    from pilot_server import tokens

    secret = str(tmp_path / "secret")
    tokens.write_secret(secret, SECRET)
    argv = [secret if value == "S" else value for value in argv]
    code, _, err = pilotctl(capsys, "logbook", "serve", "--db", "sqlite:///%s" % (tmp_path / "l.sqlite"), *argv)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_a_world_readable_secret_is_refused(tmp_path, capsys):
    path = tmp_path / "secret"
    path.write_text(SECRET.hex())
    os.chmod(str(path), 0o644)
    code, _, err = pilotctl(capsys, "logbook", "consume", "--token-secret", str(path))
    assert code == 2 and "readable by others" in err


def test_serve_over_tls_end_to_end(tmp_path):
    """The real command: TLS from files, a token secret file, SQLite in the working directory."""
    from pilot_server import tokens

    pki = PKI(tmp_path / "pki")
    pki.rehash()
    cert, key = pki.server()
    secret = str(tmp_path / "secret")
    tokens.write_secret(secret, SECRET)
    port = free_port()
    work = tmp_path / "work"
    work.mkdir()
    process = subprocess.Popen(
        PILOTCTL
        + [
            "logbook",
            "serve",
            "--listen",
            "127.0.0.1:%d" % port,
            "--tls-cert",
            cert,
            "--tls-key",
            key,
            "--ca-dir",
            pki.ca_dir,
            "--token-secret",
            secret,
        ],
        cwd=str(work),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    stamp = new_stamp()
    good = token(stamp)
    try:
        url = "https://127.0.0.1:%d" % port

        def healthy():
            try:
                return post(url, "/api/v1/health", None, context=pki.client_context(), method="GET")[0] == 200
            except OSError:
                return False

        wait_until(healthy, 30, 0.1, what="pilotctl logbook serve to answer")
        assert post(url, "/api/v1/logs", body(stamp, range(1, 4)), bearer(good), context=pki.client_context()) == (
            200,
            {"stored": 3, "duplicates": 0, "last_seq": 3},
        )
        assert (
            post(url, "/api/v1/logs", body(stamp, [4]), bearer(good[:-2] + "zz"), context=pki.client_context())[0]
            == 401
        )
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0
    assert (work / "logbook.sqlite").exists()
    text = err.decode()
    assert "logbook serving https://127.0.0.1:%d" % port in text and "logbook stopped" in text
    assert good[:-2] not in text and SECRET.hex() not in text
    done = subprocess.run(PILOTCTL + ["logbook", "show", stamp], cwd=str(work), stdout=subprocess.PIPE)
    assert len(done.stdout.decode().splitlines()) == 3


def test_serve_with_broker_also_consumes(tmp_path):
    """serve --broker: HTTPS (here plain HTTP, with its warning) and a consumer in one process."""
    import uuid

    from logbook_services import delete_queue
    from pilot_server import tokens
    from pilot_server.logbook.clients.stompsend import StompSender
    from pilot_server.logbook.store.logstore import Store

    broker = "amqp://guest:guest@127.0.0.1:5672/"
    queue = "pilots2.test.%s" % uuid.uuid4().hex[:10]
    secret = str(tmp_path / "secret")
    tokens.write_secret(secret, SECRET)
    metrics_secret = str(tmp_path / "metrics.secret")
    tokens.write_secret(metrics_secret, b"m" * 32)
    port = free_port()
    url = "sqlite:///%s" % (tmp_path / "logbook.sqlite")
    process = subprocess.Popen(
        PILOTCTL
        + [
            "logbook",
            "serve",
            "--db",
            url,
            "--insecure-http",
            "--listen",
            "127.0.0.1:%d" % port,
            "--token-secret",
            secret,
            "--broker",
            broker,
            "--queue",
            queue,
            "--metrics-token-file",
            metrics_secret,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    by_http, by_stomp = new_stamp(), new_stamp()
    try:

        def healthy():
            try:
                return post("http://127.0.0.1:%d" % port, "/api/v1/health", None, method="GET")[0] == 200
            except OSError:
                return False

        wait_until(healthy, 30, 0.1, what="serve to answer")
        assert (
            post("http://127.0.0.1:%d" % port, "/api/v1/logs", body(by_http, [1, 2]), bearer(token(by_http)))[0] == 200
        )
        with StompSender("127.0.0.1", 61613) as sender:
            sender.send("/queue/" + queue, body(by_stomp, [1, 2, 3]), {"pilot-token": token(by_stomp)})
        store = Store.open(url, migrate=False)
        try:
            wait_until(lambda: len(store.messages(by_stomp)) == 3, 30, what="the STOMP batch stored")
            assert len(store.messages(by_http)) == 2
        finally:
            store.close()
        # the in-process consumer's figures are in the receiver's metrics
        import http.client

        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", "/metrics", headers={"Authorization": "Bearer " + (b"m" * 32).hex()})
        text = connection.getresponse().read().decode()
        connection.close()
        assert "pilots2_logbook_consumer_messages_total 1.0" in text
        assert "pilots2_logbook_consumer_queue_messages" in text
    finally:
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=30)
        delete_queue(broker, queue)
    assert process.returncode == 0
    assert b"serving plain HTTP" in err and b"guest:guest" not in err
