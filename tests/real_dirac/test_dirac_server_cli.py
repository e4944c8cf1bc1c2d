"""The local DIRAC server's command line (.ci/dirac-server.sh) on bad input: one line, exit 1 or 2,
no traceback.  These need no DIRAC."""

import json
import os
import subprocess

from conftest import REPO

SCRIPT = os.path.join(REPO, ".ci", "dirac-server.sh")


def cli(*args):
    proc = subprocess.run(
        [SCRIPT] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=60
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, proc.stdout, proc.stderr


def test_stop_env_and_status_need_a_server_directory(tmp_path):
    for action in ("stop", "env", "status"):
        code, out, err = cli(action, str(tmp_path))
        assert code == 1 and out == "", (action, out)
        assert err.startswith("dirac-server: no DIRAC server state in %s: " % tmp_path), err
        assert len(err.splitlines()) == 1, err
    code, out, err = cli("stop")
    assert code == 2 and "stop needs the server's directory" in err


def test_an_unknown_action_is_a_usage_error():
    code, out, err = cli("restart")
    assert code == 2 and "invalid choice: 'restart'" in err


def test_start_refuses_a_directory_that_holds_a_server(tmp_path):
    with open(str(tmp_path / "state.json"), "w") as handle:
        json.dump({"dir": str(tmp_path), "pids": {}}, handle)
    code, out, err = cli("start", str(tmp_path))
    assert code == 1
    assert err.splitlines()[-1] == "dirac-server: %s already holds a DIRAC server (stop it first)" % tmp_path


def test_a_stopped_server_says_so(tmp_path):
    with open(str(tmp_path / "state.json"), "w") as handle:
        json.dump({"dir": str(tmp_path), "pids": {}}, handle)
    code, out, err = cli("status", str(tmp_path))
    assert code == 0 and out == "dirac-server: stopped\n"
