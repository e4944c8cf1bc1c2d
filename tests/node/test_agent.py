"""LaunchAgent through the real pilot.pyz against the DIRAC release double: the JobAgent's options,
jobs counted, its end mapped to the pilot's exit code, -x, and signals forwarded to it."""

import os
import re
import signal

import pytest

import helpers
pytest.register_assert_rewrite("dirac_fixtures")  # before its first import
from dirac_fixtures import (AGENT_COMMANDS, add_job, base_args, command_entry, done_records, empty_server,
                            jobs_done, log_lines, pilot_env)

# release, lhcb_release, git_release, host_certs, server: made once per session for every module using them
pytest_plugins = ["dirac_fixtures"]


def _args(release, server, certs, extra=(), commands=AGENT_COMMANDS):
    return base_args(release, server, certs, commands) + ["--install-methods=preinstalled"] + list(extra)


def _run(run_pilot, workdir, args, env=None, traceback_ok=False):
    rc, out, err = run_pilot(args, workdir, env=pilot_env(env), timeout=120)
    if not traceback_ok:
        assert "Traceback" not in out + err, out + err
    return rc, out, err, helpers.load_result(workdir)


def _agent_options(out):
    """{name: value} of the JobAgent's 'Options ...' line."""
    for message in log_lines(out, "LaunchAgent"):
        match = re.search(r"INFO: Options (.*)$", message)
        if match:
            return dict(item.split("=", 1) for item in match.group(1).split())
    raise AssertionError("no Options line in:\n%s" % out)


def test_pool_inner_ce_fills_the_slot(run_pilot, workdir, release, server, host_certs):
    add_job(server, "/bin/sh", "-c", "echo second job", job_id=2)
    rc, out, err, result = _run(run_pilot, workdir, _args(release, server, host_certs,
                                                          ["-y", "Pool", "-M", "1", "-T", "10000000"]))
    assert rc == 0, out + err
    options = _agent_options(out)
    assert options["MaxCycles"] == "5000"               # not -M
    assert options["FillingModeFlag"] == "True"
    assert options["StopOnApplicationFailure"] == "False"
    assert options["PollingTime"] == "0.0"
    assert options["StopAfterFailedMatches"] == "1"     # max(processors, --StopAfterFailedMatches)
    assert options["CEType"] == "Pool"
    details = command_entry(result, "LaunchAgent")["details"]
    assert details["jobs"] == 2
    assert details["job_ids"] == ["1", "2"]
    assert details["exit_code"] == 0
    assert len(jobs_done(server)) == 2
    assert "Nothing to do for more than 1 cycles" in out


@pytest.mark.parametrize("ce_type,polling,expected", [("Pool", "50", "20.0"), ("Pool/Sudo", "7", "7.0")])
def test_pool_polling_time_is_at_most_twenty(run_pilot, workdir, release, server, host_certs, tmpdir, ce_type,
                                             polling, expected):
    drain = str(tmpdir.join("dirac_drain"))   # the agent stops at once: no waiting between cycles
    helpers.write_text(drain, "")
    rc, out, err, result = _run(run_pilot, workdir, _args(release, server, host_certs,
                                                          ["-y", ce_type, "--PollingTime=%s" % polling]),
                                env={"FAKE_DIRAC_DRAIN_FILE": drain})
    assert rc == 0, out + err
    options = _agent_options(out)
    assert options["PollingTime"] == expected
    assert options["MaxCycles"] == "5000"
    assert options["CEType"] == ce_type
    assert "Node is being drained by an operator" in out
    assert command_entry(result, "LaunchAgent")["details"]["jobs"] == 0


def test_other_inner_ce_gets_max_cycles(run_pilot, workdir, release, server, host_certs):
    add_job(server, "/bin/sh", "-c", "echo second job", job_id=2)
    rc, out, err, result = _run(run_pilot, workdir, _args(release, server, host_certs,
                                                          ["-M", "2", "--StopOnApplicationFailure=False"]))
    assert rc == 0, out + err
    options = _agent_options(out)
    assert options["MaxCycles"] == "2"
    assert options["FillingModeFlag"] == "False"
    assert options["StopOnApplicationFailure"] == "False"
    assert options["StopAfterFailedMatches"] == "1"
    assert options["CEType"] == "InProcess"
    # without filling mode the JobAgent stops after its first job, as DIRAC's does
    details = command_entry(result, "LaunchAgent")["details"]
    assert details["jobs"] == 1
    assert "Filling Mode is Disabled" in out
    assert [record["JobID"] for record in done_records(server)] == [1]


def test_agent_options_and_inner_ce_options(run_pilot, workdir, release, server, host_certs):
    rc, out, err, result = _run(run_pilot, workdir, _args(release, server, host_certs, ["-d", "-G", "lhcb_user"]))
    assert rc == 0, out + err
    debug = [line for line in helpers.pilot_out(workdir).splitlines()
             if "DEBUG" in line and "running dirac-agent" in line]
    assert len(debug) == 1, out
    command = debug[0].split("running ", 1)[1]
    assert command.startswith("dirac-agent WorkloadManagement/JobAgent -o MaxCycles=1 ")
    for part in ("-o LogLevel=DEBUG", "-s /Resources/Computing/CEDefaults", "-o WorkingDirectory=%s" % workdir,
                 "-o /LocalSite/CPUTime=", "-o OwnerGroup=lhcb_user",
                 "-o /DIRAC/Security/UseServerCertificate=yes", "-o /LocalSite/InstancePath=%s" % workdir,
                 "-o /AgentJobRequirements/ExtraOptions=pilot.cfg"):
        assert part in command, part
    assert command.endswith("--cfg pilot.cfg")


def test_stray_cfg_files_are_not_passed(run_pilot, workdir, release, server, host_certs):
    helpers.write_text(os.path.join(workdir, "stray.cfg"), "LocalSite\n{\n  Site = Elsewhere\n}\n")
    rc, out, err, result = _run(run_pilot, workdir, _args(release, server, host_certs, ["-d"]))
    assert rc == 0, out + err
    command = [line for line in out.splitlines() if "running dirac-agent" in line][0]
    assert "stray.cfg" not in command
    assert done_records(server)[0]["Site"] == "DIRAC.Test.local"


def test_job_output_does_not_count_as_a_job(run_pilot, workdir, release, tmpdir, host_certs):
    """Only the JobAgent's own 'Received JobID=' lines count, not a payload printing the same words."""
    folder = str(tmpdir.join("srv"))
    empty_server(folder)
    add_job(folder, "/bin/sh", "-c", "echo 'Received JobID=77, JobType=User'; echo 'Received  JobID=78'", job_id=5)
    rc, out, err, result = _run(run_pilot, workdir, _args(release, folder, host_certs))
    assert rc == 0, out + err
    details = command_entry(result, "LaunchAgent")["details"]
    assert details["job_ids"] == ["5"]
    assert details["jobs"] == 1


def test_job_agent_crash(run_pilot, workdir, release, server, host_certs):
    rc, out, err, result = _run(run_pilot, workdir, _args(release, server, host_certs,
                                                          ["-o", "/LocalSite/FakeJobAgentCrash=yes"]),
                                traceback_ok=True)
    assert rc == 17, out + err
    pilot = result["pilot"]
    assert pilot["failed_command"] == "LaunchAgent"
    assert pilot["failure_type"] == "agent"
    reason = pilot["reason"]
    assert "\n" not in reason
    assert reason.startswith("the JobAgent failed: ")
    assert "exited with code 1" in reason
    # The reason ends with a line the agent printed: here it should be the RuntimeError (its last line, on
    # stderr), but the pilot reads stdout and stderr in two threads and sometimes takes the "Starting"
    # line of stdout instead (seen on Python 2.7): only the robust part is asserted here.
    agent_lines = [message.split(": ", 1)[1] for message in log_lines(out, "LaunchAgent")
                   if message.startswith("JobAgent: ") or message.startswith("JobAgent (stderr): ")]
    assert "RuntimeError: JobAgent crashed on purpose (test hook /LocalSite/FakeJobAgentCrash)" in agent_lines
    assert reason.split("exited with code 1: ", 1)[1] in agent_lines
    assert command_entry(result, "LaunchAgent")["details"]["exit_code"] == 1
    assert jobs_done(server) == []


def test_job_agent_configuration_error(run_pilot, workdir, release, server, host_certs):
    """No /LocalSite/Architecture (ConfigureArchitecture not run): dirac-agent exits 1."""
    rc, out, err, result = _run(run_pilot, workdir, _args(
        release, server, host_certs, commands="InstallDIRAC,ConfigureBasics,ConfigureSite,LaunchAgent"))
    assert rc == 17
    assert "Cannot load configuration" in result["pilot"]["reason"]
    assert "Architecture" in result["pilot"]["reason"]


def test_nothing_to_do_is_a_normal_end(run_pilot, workdir, release, tmpdir, host_certs):
    empty = str(tmpdir.join("empty-server"))
    empty_server(empty)
    rc, out, err, result = _run(run_pilot, workdir, _args(release, empty, host_certs))
    assert rc == 0, out + err
    assert command_entry(result, "LaunchAgent")["details"]["jobs"] == 0
    assert "no match found" in out


def test_failed_payload_that_stops_the_agent_fails_the_pilot(run_pilot, workdir, release, tmpdir, host_certs):
    """StopOnApplicationFailure (the default): the JobAgent gives the slot up after a failed payload,
    and says so; the pilot ends 17 with that message (a node whose every job fails is then visible)."""
    folder = str(tmpdir.join("srv"))
    empty_server(folder)
    add_job(folder, "/bin/sh", "-c", "echo failing; exit 3", job_id=5)
    rc, out, err, result = _run(run_pilot, workdir, _args(release, folder, host_certs))
    assert rc == 17, out + err
    details = command_entry(result, "LaunchAgent")["details"]
    assert details["job_ids"] == ["5"]
    assert details["exit_code"] == 0
    assert details["stop"] == "Payload execution failed with error code 3"
    assert result["pilot"]["reason"] == "the JobAgent stopped after job 5: Payload execution failed with error code 3"
    assert done_records(folder)[0]["ExitCode"] == 3


def test_failed_payload_without_stop_on_application_failure_is_a_normal_end(run_pilot, workdir, release, tmpdir,
                                                                            host_certs):
    folder = str(tmpdir.join("srv"))
    empty_server(folder)
    add_job(folder, "/bin/sh", "-c", "echo failing; exit 3", job_id=5)
    rc, out, err, result = _run(run_pilot, workdir, _args(release, folder, host_certs,
                                                          ["--StopOnApplicationFailure=False"]))
    assert rc == 0, out + err
    assert command_entry(result, "LaunchAgent")["details"]["job_ids"] == ["5"]
    assert done_records(folder)[0]["ExitCode"] == 3


def test_execute_command_instead_of_the_agent(run_pilot, workdir, release, server, host_certs):
    rc, out, err, result = _run(run_pilot, workdir, _args(release, server, host_certs,
                                                          ["-x", "echo hello from -x in $FAKE_DIRAC_FORM; exit 0"],
                                                          commands="InstallDIRAC,LaunchAgent"))
    assert rc == 0, out + err
    assert "hello from -x in preinstalled" in helpers.pilot_out(workdir)
    assert command_entry(result, "LaunchAgent")["details"]["exit_code"] == 0
    assert jobs_done(server) == []               # no JobAgent
    assert "Starting WorkloadManagement/JobAgent" not in out


def test_execute_command_failing(run_pilot, workdir, release, server, host_certs):
    rc, out, err, result = _run(run_pilot, workdir, _args(release, server, host_certs, ["-x", "echo bye; exit 7"],
                                                          commands="InstallDIRAC,LaunchAgent"))
    assert rc == 17, out + err
    assert command_entry(result, "LaunchAgent")["details"]["exit_code"] == 7
    assert result["pilot"]["failed_command"] == "LaunchAgent"
    assert "exited with code 7" in result["pilot"]["reason"]
    assert "the -x command failed" in result["pilot"]["reason"]


def test_execute_command_is_bash(run_pilot, workdir, release, server, host_certs):
    """DIRAC ran 'source ...' under /bin/sh; the command gets bash and the release environment."""
    rc, out, err, result = _run(run_pilot, workdir, _args(
        release, server, host_certs, ["-x", 'arr=(a b c); echo "n=${#arr[@]} $(command -v dirac-agent)"'],
        commands="InstallDIRAC,LaunchAgent"))
    assert rc == 0, out + err
    assert "n=3 %s" % os.path.join(os.path.dirname(release["cvmfs_rc"]), "bin", "dirac-agent") in out


# -- signals -----------------------------------------------------------------------------------------

def _read_pids(path):
    if not os.path.exists(path):
        return None
    parts = helpers.read_text(path).split()
    return [int(part) for part in parts] if len(parts) == 2 else None


@pytest.mark.parametrize("name,code", [("SIGTERM", 143), ("SIGUSR1", 138)])
def test_signal_is_forwarded_to_the_agent_and_its_job(workdir, tmpdir, pyz, release, host_certs, name, code):
    folder = str(tmpdir.join("srv"))
    empty_server(folder)
    pids = str(tmpdir.join("job.pids"))
    add_job(folder, "/bin/sh", "-c", "echo $$ $PPID > %s; exec sleep 300" % pids, job_id=9)
    proc = helpers.start_pilot(_args(release, folder, host_certs), workdir,
                               env=pilot_env({"FAKE_DIRAC_KILL_GRACE": "2"}), pyz=pyz)
    job = agent = None
    try:
        found = helpers.wait_for(lambda: _read_pids(pids) or proc.poll() is not None, timeout=60)
        assert found is not True and _read_pids(pids), "the job never started (pilot rc %s)" % proc.poll()
        job, agent = _read_pids(pids)
        assert not helpers.process_gone(job) and not helpers.process_gone(agent)
        os.kill(proc.pid, getattr(signal, name))
        out, err = helpers.communicate_with_timeout(proc, 90)
        assert proc.returncode == code, "rc %s\n%s\n%s" % (proc.returncode, out[-3000:], err)
        assert helpers.wait_for(lambda: helpers.process_gone(agent), timeout=10), \
            "the JobAgent %d still runs" % agent
        assert helpers.wait_for(lambda: helpers.process_gone(job), timeout=5), \
            "the job %d still runs after the pilot ended (%s)" % (job, name)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        for pid in (job, agent):  # never leave a stray payload behind, whatever happened
            if pid and not helpers.process_gone(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
    result = helpers.load_result(workdir)
    pilot = result["pilot"]
    assert pilot["status"] == "killed"
    assert pilot["signal"] == name
    assert pilot["failed_command"] == "LaunchAgent"
    agent_entry = command_entry(result, "LaunchAgent")
    assert agent_entry["status"] == "killed"
    assert agent_entry["reason"] == "stopped by %s" % name
    assert "%s received: sending SIGTERM to JobAgent" % name in out
