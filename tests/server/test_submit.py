"""pilotctl submit: real pilots as local batch jobs, registered with a real HTTPS logbook."""

import binascii
import json
import os
import subprocess
import sys

import pytest

from logbook_support import SECRET, pki, sqlite_store, start_server  # noqa: F401
from pilot_server.logbook.receive import tlsconfig

ADMIN_SECRET = b"admin-secret-0123456789abcdef01234567"
PILOT = [
    "-X",
    "GetPilotVersion,CheckWorkerNode",
    "-r",
    "v9.0.0",
    "-N",
    "ce.local.test",
    "-Q",
    "default",
    "-n",
    "LCG.Local.test",
    "--wnVO",
    "demo",
    "--heartbeat=0",
]


def secret_file(path, secret):
    path.write_text(binascii.hexlify(secret).decode("ascii") + "\n")
    path.chmod(0o600)
    return str(path)


@pytest.fixture
def logbook(sqlite_store, pki):
    context = tlsconfig.server_context(pki.server_files[0], pki.server_files[1])
    running = start_server(sqlite_store, admin_secrets=(ADMIN_SECRET,), tls_context=context)
    yield running
    running.stop()


@pytest.fixture
def submit(logbook, pki, signed_pyz, keys, tmp_path):
    token_file = secret_file(tmp_path / "token.secret", SECRET)
    admin_file = secret_file(tmp_path / "admin.secret", ADMIN_SECRET)

    def run(*extra, pilot=PILOT, timeout=240):
        argv = [
            sys.executable,
            "-m",
            "pilot_server.cli",
            "submit",
            "--workdir",
            str(tmp_path / "jobs"),
            "--artifact",
            signed_pyz,
            "--trust",
            keys.public["a"],
            "--token-secret",
            token_file,
            "--logbook",
            logbook.url,
            "--ca",
            pki.ca_file,
            "--admin-token-file",
            admin_file,
        ] + list(extra)
        done = subprocess.run(
            argv + ["--"] + pilot,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            timeout=timeout,
            universal_newlines=True,
        )
        return done.returncode, done.stdout, done.stderr

    return run


def test_pilots_go_submitted_running_done_and_a_failing_one_failed(submit, logbook, tmp_path):
    store = logbook.server.store
    code, out, err = submit("--count", "2", "--wait")
    assert code == 0, out + err
    stamps = [line.split()[2].rstrip(":") for line in out.splitlines() if line.startswith("submitted pilot")]
    assert len(stamps) == 2 and "2 pilot(s) submitted to the local CE ce.local.test" in out
    for stamp in stamps:
        pilot = store.pilot(stamp)
        assert (pilot["status"], pilot["site"], pilot["ce"], pilot["vo"]) == (
            "Done",
            "LCG.Local.test",
            "ce.local.test",
            "demo",
        )
        assert [item["state"] for item in store.states(stamp)] == ["Submitted", "Running", "Done"]
        assert pilot["message_count"] > 5 and pilot["exit_code"] == 0
        assert [row["name"] for row in store.commands(stamp)] == ["GetPilotVersion", "CheckWorkerNode"]
        job = json.load(open(os.path.join(str(tmp_path / "jobs"), stamp, "job.json")))
        assert (job["state"], job["exit_code"], job["stamp"]) == ("Done", 0, stamp) and job["job_id"] > 1
        assert "pilot %s: Done (exit code 0)" % stamp in out
    code, out, err = submit("--wait", pilot=PILOT + ["-D", "99999999"])
    assert code == 1 and "Failed (exit code" in out
    stamp = [line.split()[2].rstrip(":") for line in out.splitlines() if line.startswith("submitted pilot")][0]
    assert store.pilot(stamp)["status"] == "Failed" and store.pilot(stamp)["failed_command"] == "CheckWorkerNode"
    assert [item["state"] for item in store.states(stamp)] == ["Submitted", "Running", "Failed"]


@pytest.mark.parametrize(
    "extra, pilot, message",
    [
        (["--count", "0"], PILOT, "--count must be from 1 to 1000"),
        ([], ["--no-such-option"], "pilot options:"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(submit, extra, pilot, message):
    code, out, err = submit(*extra, pilot=pilot)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_no_logbook_and_an_unreachable_one(submit, logbook, tmp_path, signed_pyz, keys):
    argv = [
        sys.executable,
        "-m",
        "pilot_server.cli",
        "submit",
        "--workdir",
        str(tmp_path / "j"),
        "--artifact",
        signed_pyz,
        "--trust",
        keys.public["a"],
    ]
    done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    assert done.returncode == 2 and "give the logbook" in done.stderr
    logbook.stop()
    code, out, err = submit()
    assert code == 1 and "unreachable" in err and len(err.strip().splitlines()) == 1
