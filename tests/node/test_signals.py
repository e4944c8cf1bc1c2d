"""Signals: the running command's process tree is stopped, the result written, exit 128+N."""

import os
import signal

import pytest

import helpers

EXTENSION = '''
from pilot.commands.base import Command

SCRIPT = "sleep 300 & echo $! > grandchild.pid; echo $$ > child.pid; echo CHILD-READY; wait"


class LongRun(Command):
    """Starts a child that starts a grandchild, and waits for them."""

    def execute(self):
        result = self.run(["/bin/sh", "-c", SCRIPT])
        self.log.info("LongRun child ended with %s" % result.returncode)
'''


def _read_pid(path):
    text = helpers.read_text(path).strip()
    return int(text) if text.isdigit() else None


def _log_text(work_dir):
    path = os.path.join(work_dir, "pilot.out")
    return helpers.read_text(path) if os.path.exists(path) else ""


def _wait_for_line(proc, work_dir, text):
    """Wait until pilot.out shows text; fail at once if the pilot ended before."""
    helpers.wait_for(lambda: text in _log_text(work_dir) or proc.poll() is not None, timeout=30)
    if text not in _log_text(work_dir):
        out, err = helpers.communicate_with_timeout(proc, 30) if proc.poll() is not None else ("", "")
        raise AssertionError("the pilot never logged %r (rc %s):\n%s\n%s" % (text, proc.poll(), out, err))


@pytest.mark.parametrize("name", ["SIGTERM", "SIGINT", "SIGUSR1", "SIGXCPU"])
def test_signal_stops_the_tree_and_writes_the_result(workdir, tmpdir, pyz, name):
    signum = getattr(signal, name)
    folder = str(tmpdir.mkdir("exts"))
    helpers.write_text(os.path.join(folder, "SigCommands.py"), EXTENSION)
    proc = helpers.start_pilot(["-E", "Sig", "--extensions-dir", folder, "-X", "LongRun,GetPilotVersion",
                                "-r", "v1"], workdir, pyz=pyz)
    child = grandchild = None
    try:
        _wait_for_line(proc, workdir, "CHILD-READY")
        child = _read_pid(os.path.join(workdir, "child.pid"))
        grandchild = _read_pid(os.path.join(workdir, "grandchild.pid"))
        assert child and grandchild
        assert not helpers.process_gone(child) and not helpers.process_gone(grandchild)
        os.kill(proc.pid, signum)
        out, err = helpers.communicate_with_timeout(proc, 60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 128 + signum, "rc %s\n%s\n%s" % (proc.returncode, out, err)
    assert "Traceback" not in out + err
    result = helpers.load_result(workdir)
    assert [c["status"] for c in result["commands"]] == ["killed", "not run"]
    assert result["commands"][0]["failure_type"] == "killed"
    assert result["commands"][0]["reason"] == "stopped by %s" % name
    pilot = result["pilot"]
    assert pilot["status"] == "killed" and pilot["signal"] == name
    assert pilot["exit_code"] == 128 + signum
    assert pilot["failed_command"] == "LongRun"
    # the child and the grandchild are gone (the pilot waited for them before exiting)
    assert helpers.wait_for(lambda: helpers.process_gone(child), timeout=10), "child %d still runs" % child
    assert helpers.wait_for(lambda: helpers.process_gone(grandchild), timeout=10), \
        "grandchild %d still runs" % grandchild
    assert "GetPilotVersion" not in [line.split("===")[1].strip() for line in out.splitlines() if "===" in line]
    assert "KILLED by %s" % name in out  # the summary says so


def test_signal_while_pilot_json_is_retried(workdir, pyz):
    """Killed during set-up (pilot.json download back-off): exit 128+N, result written."""
    url = "http://127.0.0.1:%d/pilot.json" % helpers.free_port()
    proc = helpers.start_pilot(["-F", url, "-X", "GetPilotVersion"], workdir, pyz=pyz)
    try:
        _wait_for_line(proc, workdir, "retrying pilot.json")
        os.kill(proc.pid, signal.SIGTERM)
        out, err = helpers.communicate_with_timeout(proc, 60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 128 + signal.SIGTERM, out + err
    assert "Traceback" not in out + err
    pilot = helpers.load_result(workdir)["pilot"]
    assert pilot["status"] == "killed" and pilot["signal"] == "SIGTERM" and pilot["failure_type"] == "killed"


def test_second_signal_while_stopping_is_ignored(workdir, tmpdir, pyz):
    """The child ignores SIGTERM: the pilot waits its grace period, then SIGKILLs it; a
    SIGINT meanwhile changes nothing (exit 143, not 130)."""
    folder = str(tmpdir.mkdir("exts"))
    helpers.write_text(os.path.join(folder, "StubCommands.py"), (
        "from pilot.commands.base import Command\n\n"
        "class Stubborn(Command):\n"
        "    def execute(self):\n"
        "        self.run(['/bin/sh', '-c', \"trap '' TERM; echo $$ > child.pid; echo STUBBORN; \"\n"
        "                  \"while :; do sleep 1; done\"])\n"))
    proc = helpers.start_pilot(["-E", "Stub", "--extensions-dir", folder, "-X", "Stubborn"], workdir, pyz=pyz)
    try:
        _wait_for_line(proc, workdir, "STUBBORN")
        child = _read_pid(os.path.join(workdir, "child.pid"))
        os.kill(proc.pid, signal.SIGTERM)
        helpers.wait_for(lambda: proc.poll() is not None, timeout=1.0)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGINT)
        out, err = helpers.communicate_with_timeout(proc, 60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 128 + signal.SIGTERM, out + err
    assert helpers.load_result(workdir)["pilot"]["signal"] == "SIGTERM"
    assert helpers.wait_for(lambda: helpers.process_gone(child), timeout=10)


def test_signal_while_a_command_sleeps_in_python(workdir, tmpdir, pyz):
    """A pilot killed while a command waits on a plain Python call also ends cleanly."""
    folder = str(tmpdir.mkdir("exts"))
    helpers.write_text(os.path.join(folder, "NapCommands.py"), (
        "import time\n"
        "from pilot.commands.base import Command\n\n"
        "class Nap(Command):\n"
        "    def execute(self):\n"
        "        self.log.info('NAPPING')\n"
        "        time.sleep(300)\n"))
    proc = helpers.start_pilot(["-E", "Nap", "--extensions-dir", folder, "-X", "Nap"], workdir, pyz=pyz)
    try:
        _wait_for_line(proc, workdir, "NAPPING")
        os.kill(proc.pid, signal.SIGTERM)
        out, err = helpers.communicate_with_timeout(proc, 60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 128 + signal.SIGTERM
    assert "Traceback" not in out + err
    assert helpers.load_result(workdir)["commands"][0]["status"] == "killed"
