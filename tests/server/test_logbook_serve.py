"""pilotctl logbook serve: --config FILE (TOML), a taken port refused before the database, SIGTERM."""

import os
import signal
import socket
import subprocess
import sys

import pytest

from cli_support import pilotctl
from logbook_support import SECRET, bearer, body, new_stamp, post, token
from support.ports import free_port
from support.waiting import wait_until

PILOTCTL = [sys.executable, "-m", "pilot_server.cli"]


@pytest.fixture
def secret(tmp_path):
    from pilot_server import tokens

    path = str(tmp_path / "token.secret")
    tokens.write_secret(path, SECRET)
    return path


def write(path, text):
    path.write_text(text)
    return str(path)


def parse_serve(*argv):
    """serve's arguments with --config applied, as serve_command sees them."""
    from pilot_server import cli
    from pilot_server.logbook.cli import config

    args = cli.parser().parse_args(["logbook", "serve"] + list(argv))
    return config.apply(args.parser, args, args.config)


def test_every_option_from_the_file_and_the_command_line_wins(tmp_path, secret):
    path = write(
        tmp_path / "serve.toml",
        """
listen = "127.0.0.1:9999"
insecure-http = true
token-secret = ["%s", "/etc/other.secret"]
idle-timeout = 120
max-connections-per-address = 50
retention = "lhcb=90"
log-level = "debug"
"""
        % secret,
    )
    args = parse_serve("--config", path)
    assert (
        args.listen,
        args.insecure_http,
        args.token_secret,
        args.idle_timeout,
        args.max_connections_per_address,
        args.retention,
        args.log_level,
    ) == ("127.0.0.1:9999", True, [secret, "/etc/other.secret"], 120.0, 50, ["lhcb=90"], "debug")
    args = parse_serve("--config", path, "--listen", "127.0.0.1:7777", "--token-secret", secret, "--idle-timeout", "60")
    assert (args.listen, args.token_secret, args.idle_timeout, args.insecure_http) == (
        "127.0.0.1:7777",
        [secret],
        60.0,
        True,
    )
    # options that the file does not name keep their defaults
    assert (args.backlog, args.head_timeout) == (4096, 10.0)


@pytest.mark.parametrize(
    "text, message",
    [
        ('colour = "red"\n', "unknown key 'colour'"),
        ('listen = "x"\nconfig = "other.toml"\n', "unknown key 'config'"),
        ('insecure-http = "yes"\n', "insecure-http: want true or false"),
        ("idle-timeout = -1\n", "idle-timeout: '-1' is not a number of seconds"),
        ("idle-timeout = 0\n", "idle-timeout: '0' is not a positive number of seconds"),
        ("max-connections = 2.5\n", "max-connections: '2.5' is not an integer"),
        ('log-level = "loud"\n', "log-level: 'loud' is not one of"),
        ('listen = ["a", "b"]\n', "listen: want a string or a number, not list"),
        ('listen = "127.0.0.1:8443\n', "not TOML"),
    ],
)
def test_a_bad_config_is_one_line_and_exit_2(tmp_path, capsys, secret, text, message):
    path = write(tmp_path / "serve.toml", text)
    code, _, err = pilotctl(
        capsys,
        "logbook",
        "serve",
        "--db",
        "sqlite:///%s" % (tmp_path / "l.sqlite"),
        "--insecure-http",
        "--token-secret",
        secret,
        "--config",
        path,
    )
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert not (tmp_path / "l.sqlite").exists()


def test_a_missing_config_file_is_exit_2(tmp_path, capsys, secret):
    code, _, err = pilotctl(
        capsys, "logbook", "serve", "--insecure-http", "--token-secret", secret, "--config", str(tmp_path / "none.toml")
    )
    assert code == 2 and "none.toml" in err and len(err.strip().splitlines()) == 1


def test_a_taken_port_is_refused_before_the_database_is_made(tmp_path, capsys, secret):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        database = tmp_path / "logbook.sqlite"
        code, _, err = pilotctl(
            capsys,
            "logbook",
            "serve",
            "--db",
            "sqlite:///%s" % database,
            "--insecure-http",
            "--token-secret",
            secret,
            "--listen",
            "127.0.0.1:%d" % taken.getsockname()[1],
        )
        assert code == 1 and "cannot listen on 127.0.0.1:%d" % taken.getsockname()[1] in err
        assert "Address already in use" in err and len(err.strip().splitlines()) == 1
        assert not database.exists() and os.listdir(str(tmp_path)) == ["token.secret"]
    finally:
        taken.close()


def test_serve_from_a_config_file_then_sigterm_exits_0(tmp_path, secret):
    port = free_port()
    database = tmp_path / "logbook.sqlite"
    metrics_secret = str(tmp_path / "metrics.secret")
    from pilot_server import tokens

    tokens.write_secret(metrics_secret, b"metrics-secret-0123456789abcdef0123")
    path = write(
        tmp_path / "serve.toml",
        """
db = "sqlite:///%s"
listen = "127.0.0.1:%d"
insecure-http = true
token-secret = "%s"
metrics-token-file = "%s"
threads = 2
"""
        % (database, port, secret, metrics_secret),
    )
    process = subprocess.Popen(
        PILOTCTL + ["logbook", "serve", "--config", path], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    url = "http://127.0.0.1:%d" % port
    try:

        def healthy():
            try:
                return post(url, "/api/v1/health", None, method="GET")[0] == 200
            except OSError:
                return False

        wait_until(healthy, 30, 0.1, what="serve --config to answer")
        stamp = new_stamp()
        assert post(url, "/api/v1/logs", body(stamp, [1, 2]), bearer(token(stamp)))[0] == 200
        import http.client

        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request(
            "GET", "/metrics", headers={"Authorization": "Bearer " + b"metrics-secret-0123456789abcdef0123".hex()}
        )
        response = connection.getresponse()
        text = response.read().decode()
        connection.close()
        assert response.status == 200 and "pilots2_logbook_messages_total 2.0" in text
    finally:
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err.decode()
    assert "logbook stopped" in err.decode() and database.exists()
