"""Several receivers: `pilotctl logbook serve` processes behind Debian's HAProxy, one PostgreSQL database.

* pilots keep sending through HAProxy while each receiver in turn is stopped (SIGTERM) and
  started again: nothing is lost, nothing is stored twice, and no pilot is left with a spool;
* receivers given the same ``--session-key-file`` accept each other's web sessions (and keep
  them across a restart); a receiver with another key or none does not;
* a session key file that others may read, that is not hex, too short or missing is a
  one-line error with exit code 2.

HAProxy runs with examples/haproxy/logbook.cfg (TCP passthrough: TLS ends at the receivers),
changed only for loopback addresses and free ports (receivers_support.py).
"""

import os
import signal
import subprocess
import sys
import uuid
from urllib.parse import urlencode

import pytest

from logbook_support import PKI, SECRET, databases, token  # noqa: F401
from receivers_support import HAProxy, Receiver, SendingPilot, SetupError, get, haproxy_binary
from webui_support import ADMIN_SECRET, ADMIN_TOKEN

SESSION_SECRET = b"web-session-secret-0123456789abcdef"
OTHER_SESSION_SECRET = b"another-session-secret-0123456789ab"


@pytest.fixture(scope="module")
def layout(tmp_path_factory, databases):
    """Two receivers (A, B) on one PostgreSQL database with the same session key, behind HAProxy."""
    from pilot_server import tokens

    work = tmp_path_factory.mktemp("receivers")
    try:
        binary = haproxy_binary()
    except SetupError as exc:
        pytest.fail(str(exc))
    pki = PKI(work / "pki")
    cert, key = pki.server()
    files = {}
    for name, secret in (
        ("token", SECRET),
        ("admin", ADMIN_SECRET),
        ("session", SESSION_SECRET),
        ("other", OTHER_SESSION_SECRET),
    ):
        files[name] = str(work / ("%s.secret" % name))
        tokens.write_secret(files[name], secret)
    db = databases.create("postgresql")

    def receiver(name, session_key):
        return Receiver(
            name,
            work,
            db,
            cert,
            key,
            pki.ca_file,
            files["token"],
            files["admin"],
            session_key,
            extra=["--log-level", "debug", "--max-connections-per-address", "0"],
        )

    receivers = [receiver("a", files["session"]), receiver("b", files["session"])]
    proxy = None
    try:
        for item in receivers:
            item.start()
        proxy = HAProxy(binary, work, receivers, pki.ca_file).start()
        yield {
            "receivers": receivers,
            "proxy": proxy,
            "pki": pki,
            "db": db,
            "work": work,
            "files": files,
            "make": receiver,
        }
    except SetupError as exc:
        pytest.fail(str(exc))
    finally:
        if proxy is not None:
            proxy.stop()
        for item in receivers:
            item.stop()
    for item in receivers:
        assert ADMIN_TOKEN not in item.log_text() and SESSION_SECRET.hex() not in item.log_text()


def login(receiver, pki):
    """The session cookie ("name=value") that receiver sets for the admin token."""
    import http.client

    host, port = receiver.url.split("//")[1].split(":")
    connection = http.client.HTTPSConnection(host, int(port), context=pki.client_context(), timeout=10)
    try:
        connection.request(
            "POST",
            "/login",
            body=urlencode({"token": ADMIN_TOKEN, "next": "/"}),
            headers={
                "Host": "%s:%s" % (host, port),
                "Origin": receiver.url,
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
        response = connection.getresponse()
        response.read()
        assert response.status == 303, response.status
        return response.getheader("Set-Cookie").split(";")[0]
    finally:
        connection.close()


def reads_with(receiver, cookie, pki):
    """True if the receiver shows the pilot list for this cookie (else it sends to the login page)."""
    status, headers, text = get(receiver.url, "/", pki.client_context(), {"Cookie": cookie, "Accept": "text/html"})
    assert status in (200, 303), status
    return status == 200 and 'id="filters"' in text


def test_receivers_with_one_session_key_share_sessions(layout):
    pki = layout["pki"]
    a, b = layout["receivers"]
    cookie = login(a, pki)
    assert reads_with(a, cookie, pki) and reads_with(b, cookie, pki)
    assert reads_with(b, login(b, pki), pki) and reads_with(a, login(b, pki), pki)
    # through HAProxy, whichever receiver each new connection reaches
    proxy = layout["proxy"]
    before = dict((name, int(row["stot"])) for name, row in proxy.servers().items())
    for _ in range(6):
        assert reads_with(proxy, cookie, pki)
    after = dict((name, int(row["stot"])) for name, row in proxy.servers().items())
    assert all(after[name] > before[name] for name in ("a", "b")), (before, after)  # both served some
    # a restart keeps the key, so the session
    assert a.stop() == 0
    a.start()
    assert reads_with(a, cookie, pki)
    # another key, or none (a random key per process): the cookie is refused
    for name, key in (("c", layout["files"]["other"]), ("d", None)):
        other = layout["make"](name, key).start()
        try:
            assert not reads_with(other, cookie, pki)
            assert reads_with(other, login(other, pki), pki)
        finally:
            assert other.stop() == 0
        said = "random key of this process" in other.log_text()
        assert said == (key is None), other.log_tail()  # the warning, only without a key file
    layout["proxy"].wait_status("a", "UP")


def test_a_rolling_restart_loses_and_duplicates_nothing(layout):
    """Pilots send through HAProxy (their own sender: spool, retries) while A, then B, is stopped with
    SIGTERM and started again; every line each pilot logged is stored once, in order."""
    from pilot_server.logbook.store.logstore import Store

    proxy, pki = layout["proxy"], layout["pki"]
    a, b = layout["receivers"]
    pilots = []
    for index in range(4):
        stamp = uuid.uuid4().hex
        pilots.append(
            SendingPilot(proxy.url, pki.ca_file, stamp, token(stamp), str(layout["work"] / ("pilot%d" % index)))
        )
    store = Store.open(layout["db"])
    try:

        def stored():
            return sum(store.pilot(pilot.stamp)["message_count"] if store.pilot(pilot.stamp) else 0 for pilot in pilots)

        counts = [stored()]
        for receiver in (a, b):
            wait_for_more(stored, counts)
            assert receiver.stop(signal.SIGTERM) == 0, receiver.log_tail()
            proxy.wait_status(receiver.name, "DOWN")
            wait_for_more(stored, counts)  # the other receiver alone
            receiver.start()
            proxy.wait_status(receiver.name, "UP")
        wait_for_more(stored, counts)
        summaries = [pilot.finish(60) for pilot in pilots]
        for pilot, summary in zip(pilots, summaries):
            assert summary["unsent"] == 0 and not summary["refused"] and summary["rejected"] == 0, summary
            assert summary["spool_file"] is None and not summary["final_flush_timed_out"], summary
            row = store.pilot(pilot.stamp)
            seqs = [item["seq"] for item in store.messages(pilot.stamp)]
            assert seqs == list(range(1, summary["messages"] + 1)), (pilot.stamp, len(seqs), summary)
            assert row["message_count"] == summary["messages"] == row["last_seq"]
            assert summary["messages"] > 100
        assert sum(len(pilot.transport.sends) for pilot in pilots) > 20
    finally:
        for pilot in pilots:
            pilot.finish(5)
        store.close()
    for receiver in (a, b):
        assert receiver.starts >= 2 and "logbook stopped" in receiver.log_text()


def wait_for_more(stored, counts, timeout=60):
    """Wait until more lines are stored than at the last call (the pilots keep getting through)."""
    from support.waiting import wait_until

    last = counts[-1]
    counts.append(
        wait_until(lambda: stored() > last + 50 and stored(), timeout, 0.1, what="more lines stored than %d" % last)
    )


@pytest.mark.parametrize(
    "problem, mode, content, message",
    [
        ("readable by others", 0o644, SESSION_SECRET.hex(), "is readable by others"),
        ("not hex", 0o600, "not a hex secret", "does not hold a hex secret"),
        ("too short", 0o600, "00" * 8, "the secret is too short"),
        ("missing", None, None, "No such file or directory"),
    ],
)
def test_a_bad_session_key_file_is_a_one_line_error(tmp_path, problem, mode, content, message):
    from pilot_server import tokens

    secret = str(tmp_path / "token.secret")
    tokens.write_secret(secret, SECRET)
    path = tmp_path / "session.key"
    if content is not None:
        path.write_text(content)
        os.chmod(str(path), mode)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pilot_server.cli",
            "logbook",
            "serve",
            "--insecure-http",
            "--listen",
            "127.0.0.1:0",
            "--db",
            "sqlite:///%s" % (tmp_path / "l.sqlite"),
            "--token-secret",
            secret,
            "--session-key-file",
            str(path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        timeout=60,
    )
    err = done.stderr.decode()
    assert done.returncode == 2, err
    assert len(err.strip().splitlines()) == 1 and "--session-key-file" in err and message in err, err
    assert "Traceback" not in err and not (tmp_path / "l.sqlite").exists()
