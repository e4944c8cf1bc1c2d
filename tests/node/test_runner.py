"""The runner and its record: pilot_result.json, exit codes, summary, log lines."""

import json
import os
import re
import sys

import pytest

import helpers
from pilot import exitcodes

EXTENSION = '''
import sys

from pilot.commands.base import Command
from pilot.errors import CommandFailed
from pilotTools import CommandBase


class FailTyped(Command):
    """Fails with a failure type."""

    def execute(self):
        raise CommandFailed("the installer said no", "install")


class FailAgent(Command):
    """Fails through self.fail() with the class failure type."""

    failure_type = "agent"

    def execute(self):
        self.fail("JobAgent ended badly", agent_rc=3)


class ExitThree(Command):
    """Calls sys.exit(3) as old DIRAC code does."""

    def execute(self):
        sys.exit(3)


class DiracExit(CommandBase):
    """DIRAC's exitWithError."""

    def execute(self):
        self.exitWithError(5)


class Buggy(Command):
    """Has a bug."""

    def execute(self):
        raise ValueError("first line\\nsecond line")


class Chatty(Command):
    """Logs at every level and runs a child."""

    def execute(self):
        self.log.debug("debug marker")
        self.log.info("line one\\nline two")
        self.log.warning("a warning")
        self.details["answer"] = 42
        result = self.run(["sh", "-c", "echo child-out; sleep 0.2; echo child-err >&2"])
        if result.returncode != 0:
            self.fail("child failed")
'''


@pytest.fixture
def ext_dir(tmpdir):
    folder = str(tmpdir.mkdir("exts"))
    helpers.write_text(os.path.join(folder, "TestCommands.py"), EXTENSION)
    return folder


def _ext_args(ext_dir, commands):
    return ["-E", "Test", "--extensions-dir", ext_dir, "-X", commands]


def _summary(out):
    """The end-of-run table as text lines without the log prefix."""
    texts = [re.sub(r"^.*?\[Pilot\] ", "", line) for line in out.splitlines() if "[Pilot] " in line]
    start = max(i for i, text in enumerate(texts) if re.match(r"^Command +Status +Duration$", text))
    return texts[start:]


def _check_log_lines(text):
    bad = [line for line in text.splitlines() if not helpers.LOG_LINE.match(line)]
    assert bad == [], "lines not in the log format:\n" + "\n".join(bad)


def test_successful_run_result(run_pilot, workdir, ext_dir, tmpdir):
    cvmfs = str(tmpdir.mkdir("cvmfs"))
    rc, out, err = run_pilot(_ext_args(ext_dir, "GetPilotVersion,CheckWorkerNode,Chatty") +
                             ["-r", "v9.0.1,v9.0.0", "-D", "1", "--CVMFS_locations", cvmfs,
                              "--pilotUUID", "0123456789abcdef0123456789abcdef", "-N", "ce.example.org"],
                             workdir)
    assert rc == 0, out + err
    assert err == ""
    result = helpers.load_result(workdir)
    assert result["schema"] == "pilots2/result/1"
    pilot = result["pilot"]
    assert pilot["exit_code"] == 0 and pilot["exit_name"] == "OK" and pilot["status"] == "done"
    assert pilot["failure_type"] is None and pilot["reason"] is None and pilot["failed_command"] is None
    assert isinstance(pilot["duration"], float) and pilot["duration"] >= 0
    assert helpers.TIMESTAMP.match(pilot["start"]) and helpers.TIMESTAMP.match(pilot["end"])
    assert pilot["start"] <= pilot["end"]
    assert pilot["stamp"] == "0123456789abcdef0123456789abcdef"
    assert pilot["python"] == sys.version.split()[0]
    assert os.path.realpath(pilot["work_dir"]) == os.path.realpath(workdir)
    names = [c["name"] for c in result["commands"]]
    assert names == ["GetPilotVersion", "CheckWorkerNode", "Chatty"]
    for command in result["commands"]:
        assert command["status"] == "ok"
        assert helpers.TIMESTAMP.match(command["start"])
        assert isinstance(command["duration"], (int, float)) and command["duration"] >= 0
        assert command["failure_type"] is None and command["reason"] is None
        for key in ("name", "status", "start", "duration", "failure_type", "reason", "origin", "details"):
            assert key in command
    assert result["commands"][0]["details"]["versions"] == ["v9.0.1", "v9.0.0"]
    assert result["commands"][1]["details"]["cvmfs"] == {cvmfs: "empty"}
    assert result["commands"][2]["details"] == {"answer": 42}
    parameters = result["parameters"]
    assert parameters["releaseVersions"] == {"value": ["v9.0.1", "v9.0.0"], "source": "command line",
                                             "origin": "-r"}
    assert parameters["releaseVersion"]["value"] == "v9.0.1"
    assert parameters["ceName"]["value"] == "ce.example.org"
    assert parameters["commands"]["value"] == names
    assert parameters["commandExtensions"]["value"] == ["Test"]


def test_child_output_is_logged_with_the_program(run_pilot, workdir, ext_dir):
    rc, out, err = run_pilot(_ext_args(ext_dir, "Chatty"), workdir)
    assert rc == 0, out + err
    assert re.search(r" INFO    \[Chatty\] sh: child-out$", out, re.M), out
    assert re.search(r" INFO    \[Chatty\] sh \(stderr\): child-err$", out, re.M), out
    assert out.index("sh: child-out") < out.index("sh (stderr): child-err")


@pytest.mark.parametrize("command,code,failure_type,reason", [
    ("FailTyped", 15, "install", "the installer said no"),
    ("FailAgent", 17, "agent", "JobAgent ended badly"),
    ("ExitThree", 18, "command", "ExitThree called sys.exit(3)"),
    ("DiracExit", 18, "command", "DiracExit exited with code 5"),
    ("Buggy", 70, "internal", "internal error in Buggy: ValueError: first line second line"),
])
def test_failing_extension_commands(run_pilot, workdir, ext_dir, command, code, failure_type, reason):
    rc, out, err = run_pilot(_ext_args(ext_dir, "Chatty,%s,GetPilotVersion" % command) + ["-r", "v1"], workdir)
    assert rc == code, out + err
    assert exitcodes.for_failure_type(failure_type) == code
    assert "Traceback" not in err
    assert len(helpers.lines(err)) <= 1
    result = helpers.load_result(workdir)
    assert [c["status"] for c in result["commands"]] == ["ok", "failed", "not run"]
    failed = result["commands"][1]
    assert failed["failure_type"] == failure_type and failed["reason"] == reason
    assert failed["duration"] is not None
    pilot = result["pilot"]
    assert (pilot["exit_code"], pilot["failure_type"], pilot["failed_command"], pilot["status"]) == \
        (code, failure_type, command, "failed")
    assert pilot["reason"] == reason
    summary = _summary(out)
    assert summary[-1] == "Failed: %s: %s" % (command, reason)
    assert re.match(r"^Pilot exit code %d \(%s\) after \d+\.\d\d s$" % (code, exitcodes.describe(code)),
                    summary[-2])
    if command == "FailAgent":
        assert failed["details"] == {"agent_rc": 3}
    if command == "DiracExit":
        assert failed["details"] == {"exit_code": 5}


def test_internal_error_traceback_goes_to_the_log_only(run_pilot, workdir, ext_dir):
    rc, out, err = run_pilot(_ext_args(ext_dir, "Buggy"), workdir)
    assert rc == exitcodes.INTERNAL == 70
    log = helpers.pilot_out(workdir)
    assert "Traceback (most recent call last)" in log
    assert "TestCommands.py" in log  # the traceback points into the extension
    assert "Traceback" not in err
    _check_log_lines(log)
    _check_log_lines(out)


def test_get_pilot_version_without_version_is_config(run_pilot, workdir):
    rc, out, err = run_pilot(["-X", "GetPilotVersion,CheckWorkerNode"], workdir)
    assert rc == 10, out + err
    result = helpers.load_result(workdir)
    assert result["commands"][0]["failure_type"] == "config"
    assert result["commands"][1]["status"] == "not run"
    assert "no DIRAC version given" in result["pilot"]["reason"]


def test_check_worker_node_with_huge_disk_requirement_is_node(run_pilot, workdir, tmpdir):
    rc, out, err = run_pilot(["-X", "CheckWorkerNode", "-D", "999999999999", "--CVMFS_locations",
                              str(tmpdir.mkdir("cvmfs"))], workdir)
    assert rc == 11, out + err
    result = helpers.load_result(workdir)
    command = result["commands"][0]
    assert command["status"] == "failed" and command["failure_type"] == "node"
    assert "999999999999 MB needed" in command["reason"]
    assert command["details"]["disk_needed_mb"] == 999999999999
    assert result["pilot"]["exit_name"] == "NODE"


def test_summary_table(run_pilot, workdir, ext_dir):
    rc, out, err = run_pilot(_ext_args(ext_dir, "Chatty,GetPilotVersion") + ["-r", "v1"], workdir)
    assert rc == 0, out + err
    summary = _summary(out)
    assert re.match(r"^Chatty +ok +\d+\.\d\d s$", summary[1]), summary
    assert re.match(r"^GetPilotVersion +ok +\d+\.\d\d s$", summary[2]), summary
    assert re.match(r"^Pilot exit code 0 \(OK\) after \d+\.\d\d s$", summary[3]), summary
    assert len(summary) == 4
    # the table is the end of stdout
    assert out.rstrip().splitlines()[-1].endswith(summary[-1])


def test_summary_shows_commands_not_run(run_pilot, workdir):
    rc, out, err = run_pilot(["-X", "GetPilotVersion,CheckWorkerNode"], workdir)
    summary = _summary(out)
    assert re.match(r"^GetPilotVersion +failed +\d+\.\d\d s$", summary[1]), summary
    assert re.match(r"^CheckWorkerNode +not run +-$", summary[2]), summary
    assert summary[-1].startswith("Failed: GetPilotVersion: no DIRAC version given")


def test_every_log_line_has_the_format(run_pilot, workdir, ext_dir):
    rc, out, err = run_pilot(_ext_args(ext_dir, "Chatty,Buggy") + ["-d"], workdir)
    assert rc == 70
    _check_log_lines(out)
    _check_log_lines(helpers.pilot_out(workdir))
    # multi-line text: one prefixed line per line
    assert re.search(r"\[Chatty\] line one$", out, re.M) is not None
    assert re.search(r"\[Chatty\] line two$", out, re.M) is not None


def test_debug_lines_only_with_d(run_pilot, workdir, ext_dir, tmpdir):
    rc, out, err = run_pilot(_ext_args(ext_dir, "Chatty"), workdir)
    assert rc == 0, out + err
    assert " DEBUG " not in out and "debug marker" not in out
    other = str(tmpdir.mkdir("second"))
    rc, out, err = run_pilot(_ext_args(ext_dir, "Chatty") + ["-d"], other)
    assert rc == 0, out + err
    assert re.search(r" DEBUG   \[Chatty\] debug marker$", out, re.M), out
    assert re.search(r" DEBUG   \[Chatty\] running sh -c ", out, re.M), out
    _check_log_lines(out)


def test_pilot_log_level_debug_from_pilot_json(run_pilot, workdir, ext_dir):
    helpers.write_json(os.path.join(workdir, "pilot.json"), {"Defaults": {"Pilot": {"PilotLogLevel": "DEBUG"}}})
    rc, out, err = run_pilot(_ext_args(ext_dir, "Chatty"), workdir)
    assert rc == 0, out + err
    assert "debug marker" in out


def test_pilot_out_is_appended(run_pilot, workdir):
    for _ in range(2):
        rc, out, err = run_pilot(["-X", "GetPilotVersion", "-r", "v1"], workdir)
        assert rc == 0, out + err
    log = helpers.pilot_out(workdir)
    assert len(re.findall(r"\[Pilot\] Pilots 2\.0 pilot .* starting", log)) == 2
    assert log.count("=== GetPilotVersion (core) ===") == 2


def test_pilot_out_matches_stdout(run_pilot, workdir, ext_dir):
    rc, out, err = run_pilot(_ext_args(ext_dir, "Chatty"), workdir)
    assert rc == 0
    assert helpers.pilot_out(workdir) == out


def test_work_directory_only_gets_the_documented_files(run_pilot, workdir):
    rc, out, err = run_pilot(["-X", "GetPilotVersion", "-r", "v1"], workdir)
    assert rc == 0
    assert sorted(os.listdir(workdir)) == ["pilot.out", "pilot_result.json"]


def test_setup_failure_still_records_the_parameters(run_pilot, workdir):
    """An unknown command is found after the parameters are resolved: they matter to the admin."""
    rc, out, err = run_pilot(["-X", "CheckWorkerNode,NoSuchCommand", "-N", "ce.example.org"], workdir)
    assert rc == 10
    parameters = helpers.load_result(workdir)["parameters"]
    assert parameters["commands"]["value"] == ["CheckWorkerNode", "NoSuchCommand"]
    assert parameters["ceName"]["value"] == "ce.example.org"


def test_unwritable_pilot_out_is_one_line_and_not_fatal(run_pilot, workdir):
    os.mkdir(os.path.join(workdir, "pilot.out"))
    rc, out, err = run_pilot(["-X", "GetPilotVersion", "-r", "v1"], workdir)
    assert rc == 0, out + err
    helpers.assert_one_line_error(0, 0, "", err, "cannot write pilot.out", "Is a directory")
    assert "Pilot exit code 0 (OK)" in out
    assert helpers.load_result(workdir)["pilot"]["status"] == "done"


def test_unwritable_result_is_a_warning_and_leaves_no_temporary_file(run_pilot, workdir):
    os.mkdir(os.path.join(workdir, "pilot_result.json"))
    rc, out, err = run_pilot(["-X", "GetPilotVersion", "-r", "v1"], workdir)
    assert rc == 0, out + err
    assert re.search(r" WARNING \[Pilot\] cannot write .*pilot_result\.json", out)
    assert [name for name in os.listdir(workdir) if ".part-" in name] == []


def test_exit_code_table_is_consistent():
    codes = [entry.code for entry in exitcodes.TABLE]
    assert len(codes) == len(set(codes))
    for reserved in (1, 3, 255):  # DIRAC's wrapper uses them
        assert reserved not in codes
    for entry in exitcodes.TABLE:
        assert entry.code < 128
        if entry.failure_type:
            assert exitcodes.for_failure_type(entry.failure_type) == entry.code
    assert exitcodes.for_failure_type("made-up") == 18
    import signal
    assert exitcodes.for_signal(signal.SIGTERM) == 143
    assert exitcodes.describe(143) == "KILLED by SIGTERM"
    assert exitcodes.describe(10) == "CONFIG"


def test_result_is_compact_while_running_and_indented_at_the_end(tmpdir):
    from pilot.sequence.result import PilotResult

    path = str(tmpdir.join("pilot_result.json"))
    result = PilotResult(path)
    result.plan([("CheckWorkerNode", "core")])
    assert result.write() is None
    running = helpers.read_text(path)
    assert running.count("\n") == 1 and "\": " not in running  # one line, no padding
    assert json.loads(running)["pilot"]["status"] == "running"
    result.finish(0)
    assert result.write() is None
    done = helpers.read_text(path)
    assert done.count("\n") > 10 and json.loads(done)["pilot"]["status"] == "done"
