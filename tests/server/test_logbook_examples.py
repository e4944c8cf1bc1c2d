"""The deployment examples of examples/ (docs/logbook.md, "Production layout"): valid for their tools and for pilotctl.

* the systemd units pass ``systemd-analyze verify`` (with this checkout's pilotctl and the
  example environment file in place of the installed paths);
* their ``ExecStart`` command lines, with the receivers' ``logbook.toml``, are options that
  ``pilotctl`` knows and accepts together;
* the HAProxy configuration passes ``haproxy -c`` as shipped, only its CA file pointed at a
  real one (test_logbook_receivers.py runs it, with two receivers).
"""

import os
import shlex
import shutil
import subprocess
import sys

import pytest

from receivers_support import SetupError, haproxy_binary

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SYSTEMD = os.path.join(REPO, "examples", "systemd")
UNITS = {"pilots2-logbook@.service": "8441", "pilots2-logbook-consume@.service": "1"}
PILOTCTL = os.path.join(os.path.dirname(sys.executable), "pilotctl")


def read(path):
    with open(path) as handle:
        return handle.read()


def exec_start(unit_text, instance):
    """The ExecStart= command of a unit as a list of arguments (continuation lines joined)."""
    text = unit_text.replace("\\\n", " ")
    line = [item for item in text.splitlines() if item.startswith("ExecStart=")]
    assert len(line) == 1, line
    return shlex.split(line[0][len("ExecStart=") :].replace("%i", instance))


def test_the_systemd_units_pass_systemd_analyze(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.fail("systemd-analyze (Debian's systemd package) is needed to check examples/systemd")
    assert os.access(PILOTCTL, os.X_OK), PILOTCTL
    for name, instance in UNITS.items():
        text = read(os.path.join(SYSTEMD, name))
        text = text.replace("/opt/pilots2/bin/pilotctl", PILOTCTL)
        text = text.replace("/etc/pilots2/logbook.env", os.path.join(SYSTEMD, "logbook.env"))
        path = tmp_path / name.replace("@.", "@%s." % instance)
        path.write_text(text)
        done = subprocess.run(
            [analyze, "verify", "--man=no", str(path)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120
        )
        said = [line for line in done.stdout.decode().splitlines() if path.name in line]
        assert done.returncode == 0 and not said, done.stdout.decode()[-1500:]


def test_the_units_give_pilotctl_options_it_accepts():
    from pilot_server import cli
    from pilot_server.logbook.cli import cmd_consume, cmd_serve, config

    serve = exec_start(read(os.path.join(SYSTEMD, "pilots2-logbook@.service")), "8441")
    assert serve[0] == "/opt/pilots2/bin/pilotctl"
    assert serve[serve.index("--config") + 1] == "/etc/pilots2/logbook.toml"
    args = cli.parser().parse_args(serve[1:])
    assert args.handler is cmd_serve.serve_command
    config.apply(args.parser, args, os.path.join(SYSTEMD, "logbook.toml"))  # as serve does with --config
    assert cmd_serve.check_options(args) is None
    assert args.listen == "0.0.0.0:8441" and args.session_key_file and args.admin_token_file
    assert args.max_connections_per_address == 0  # HAProxy caps each client address
    assert args.admin_dn == ["/DC=org/DC=example/CN=Jane Admin"]
    consume = exec_start(read(os.path.join(SYSTEMD, "pilots2-logbook-consume@.service")), "1")
    args = cli.parser().parse_args(consume[1:])
    assert args.handler is cmd_consume.consume_command and args.token_secret
    environment = dict(
        line.split("=", 1)
        for line in read(os.path.join(SYSTEMD, "logbook.env")).splitlines()
        if line and not line.startswith("#")
    )
    assert set(environment) == {"PILOTS2_LOGBOOK_DB", "PILOTS2_BROKER_URL"}


def test_the_haproxy_example_is_valid(tmp_path):
    from logbook_support import PKI

    try:
        binary = haproxy_binary()
    except SetupError as exc:
        pytest.fail(str(exc))
    pki = PKI(tmp_path / "pki")
    config = tmp_path / "logbook.cfg"
    config.write_text(
        read(os.path.join(REPO, "examples", "haproxy", "logbook.cfg")).replace(
            "/etc/pilots2/logbook-ca.pem", pki.ca_file
        )
    )
    done = subprocess.run(
        [binary, "-c", "-f", str(config)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60
    )
    assert done.returncode == 0, done.stdout.decode()[-1500:]
    assert "mode tcp" in config.read_text() and " ssl " not in config.read_text().split("backend")[0]
