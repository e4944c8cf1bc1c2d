"""The whole pilot, end to end, against the DIRAC release test double.

Runs the real pilot.pyz under this interpreter through each InstallDIRAC way
to a finished JobAgent that ran a job, and the documented failures.  The
release (tests/doubles/dirac) is made once per session by make_release.py
with a Python 3; each test gets a fresh "DIRAC server" directory.
"""

import hashlib
import json
import os

import pytest

import helpers
pytest.register_assert_rewrite("dirac_fixtures")  # before its first import
from dirac_fixtures import ISSUE_COMMANDS, VERSION, add_job, base_args, jobs_done, make, pilot_env  # noqa: F401

# release, host_certs, server: made once per session for every module using them
pytest_plugins = ["dirac_fixtures"]


def assert_agent_ran_a_job(rc, out, err, work, server):
    assert rc == 0, out[-3000:] + err
    result = helpers.load_result(work)
    assert result["pilot"]["status"] == "done"
    assert [c["status"] for c in result["commands"]] == ["ok"] * len(result["commands"])
    agent = result["commands"][-1]
    assert agent["name"] == "LaunchAgent"
    assert agent["details"]["jobs"] == 1
    assert len(jobs_done(server)) == 1
    done = json.loads(helpers.read_text(os.path.join(server, "done", jobs_done(server)[0])))
    assert done["ExitCode"] == 0 if "ExitCode" in done else True
    return result


def install_options(way, release, http_server):
    pip = "--pipInstallOptions=--no-index --find-links %s" % release["index"]
    if way == "preinstalled":
        return ["--install-methods=preinstalled"]
    if way == "diracos":
        return ["--install-methods=diracos", "--installer-url=file://%s" % release["installer"],
                "--installer-sha256=%s" % release["installer_sha256"], pip]
    if way == "venv":
        return ["--install-methods=venv", pip]
    if way == "tarball":
        name = os.path.basename(release["tarball"])
        http_server.put(name, helpers.read_bytes(release["tarball"]))
        return ["--install-methods=tarball", "--release-tarball-url=%s" % http_server.url(name),
                "--release-tarball-sha256=%s" % release["tarball_sha256"]]
    raise ValueError(way)


@pytest.mark.parametrize("way", ["preinstalled", "diracos", "venv", "tarball"])
def test_issue_command_line_runs_to_a_finished_job_agent(way, release, host_certs, server, workdir,
                                                         run_pilot, http_server):
    args = base_args(release, server, host_certs) + install_options(way, release, http_server)
    rc, out, err = run_pilot(args, workdir, env=pilot_env(), timeout=300)
    result = assert_agent_ran_a_job(rc, out, err, workdir, server)
    install = [c for c in result["commands"] if c["name"] == "InstallDIRAC"][0]
    assert install["details"]["method"] == way
    cfg = helpers.read_text(os.path.join(workdir, "pilot.cfg"))
    for key in ("Setup = Test-Setup", "GridCE = %s" % release["ce"], "CEQueue = %s" % release["queue"],
                "Site = DIRAC.Test.local", "Architecture = Linux_x86_64_glibc-", "CPUNormalizationFactor",
                "CPUTimeLeft"):
        assert key in cfg, key
    assert os.path.islink(os.path.join(workdir, "etc", "dirac.cfg"))
    exports = helpers.read_text(os.path.join(workdir, "environmentSourceDirac"))
    assert "export DIRAC_RC_PATH=" in exports
    assert "X509_USER_PROXY" not in exports


def test_venv_way_is_self_contained(release, host_certs, server, workdir, run_pilot, http_server):
    """The venv's python is a copy (DIRAC starts job wrappers with realpath(sys.executable)) and
    DIRAC's root is the venv (else DIRAC writes etc/ into the base Python's prefix)."""
    args = base_args(release, server, host_certs) + install_options("venv", release, http_server)
    rc, out, err = run_pilot(args, workdir, env=pilot_env(), timeout=300)
    assert_agent_ran_a_job(rc, out, err, workdir, server)
    venv = os.path.join(workdir, "diracenv")
    python = os.path.join(venv, "bin", "python3")
    assert os.path.isfile(python) and not os.path.islink(python)
    assert os.path.realpath(python).startswith(os.path.realpath(venv) + os.sep)
    exports = helpers.read_text(os.path.join(workdir, "environmentSourceDirac"))
    roots = [line.split("=", 1)[1].strip("'") for line in exports.splitlines()
             if line.startswith("export DIRAC_ROOT_PATH=")]
    assert roots == [venv], exports


def test_default_command_list(release, host_certs, server, workdir, run_pilot):
    args = base_args(release, server, host_certs)
    at = args.index("-X")
    del args[at:at + 2]
    rc, out, err = run_pilot(args + ["--install-methods=preinstalled"], workdir, env=pilot_env(), timeout=300)
    result = assert_agent_ran_a_job(rc, out, err, workdir, server)
    names = [c["name"] for c in result["commands"]]
    assert names == ["CheckWorkerNode", "InstallDIRAC", "ConfigureBasics", "RegisterPilot",
                     "CheckCECapabilities", "CheckWNCapabilities", "ConfigureSite", "ConfigureArchitecture",
                     "ConfigureCPURequirements", "LaunchAgent"]
    pilot_record = json.loads(helpers.read_text(os.path.join(server, "pilots", os.listdir(
        os.path.join(server, "pilots"))[0])))
    assert pilot_record["Status"] == "Done"


def run_failure(run_pilot, release, host_certs, server, workdir, extra, env=None, commands=ISSUE_COMMANDS):
    args = base_args(release, server, host_certs, commands) + extra
    rc, out, err = run_pilot(args, workdir, env=pilot_env(env), timeout=300)
    result = helpers.load_result(workdir)
    reason = result["pilot"]["reason"]
    assert reason and "\n" not in reason
    assert "Traceback" not in err
    return rc, result


def test_release_missing_on_cvmfs_without_fallback(release, host_certs, server, workdir, run_pilot):
    rc, result = run_failure(run_pilot, release, host_certs, server, workdir,
                             ["--install-methods=preinstalled", "-r", "9.9.9"])
    assert rc == 15
    assert result["pilot"]["failed_command"] == "InstallDIRAC"
    assert "9.9.9 not found" in result["pilot"]["reason"]


def test_cvmfs_only_forbids_other_ways(release, host_certs, server, workdir, run_pilot):
    rc, result = run_failure(run_pilot, release, host_certs, server, workdir,
                             ["--install-methods=preinstalled,venv", "-r", "9.9.9", "-o", "cvmfsOnly"])
    assert rc == 15
    assert result["commands"][2]["details"]["tried"] == ["preinstalled"]


def test_installer_checksum_mismatch(release, host_certs, server, workdir, run_pilot):
    rc, result = run_failure(run_pilot, release, host_certs, server, workdir,
                             ["--install-methods=diracos", "--installer-url=file://%s" % release["installer"],
                              "--installer-sha256=%s" % ("0" * 64)])
    assert rc == 14
    assert "wrong checksum" in result["pilot"]["reason"] or "expected" in result["pilot"]["reason"]
    assert not os.path.exists(os.path.join(workdir, "diracos"))


def test_unreachable_download_locations(release, host_certs, server, workdir, run_pilot):
    port = helpers.free_port()
    rc, result = run_failure(run_pilot, release, host_certs, server, workdir,
                             ["--install-methods=tarball",
                              "--release-tarball-url=http://127.0.0.1:%d/a.tgz,http://127.0.0.1:%d/b.tgz"
                              % (port, port)])
    assert rc == 13
    assert "no location answered" in result["pilot"]["reason"]


def test_dirac_configure_failing(release, host_certs, server, workdir, run_pilot):
    rc, result = run_failure(run_pilot, release, host_certs, server, workdir, ["--install-methods=preinstalled"],
                             env={"FAKE_DIRAC_FAIL": "dirac-configure:5"})
    assert rc == 16
    assert result["pilot"]["failed_command"] == "ConfigureBasics"
    assert "dirac-configure" in result["pilot"]["reason"]


def test_agent_killed(release, host_certs, server, workdir, run_pilot):
    for name in os.listdir(os.path.join(server, "jobs")):
        os.remove(os.path.join(server, "jobs", name))
    add_job(server, "/bin/sh", "-c", "kill -9 $PPID")
    rc, result = run_failure(run_pilot, release, host_certs, server, workdir, ["--install-methods=preinstalled"])
    assert rc == 17
    assert result["pilot"]["failed_command"] == "LaunchAgent"
    assert "killed by SIGKILL" in result["pilot"]["reason"]


def test_too_little_disk(release, host_certs, server, workdir, run_pilot):
    rc, result = run_failure(run_pilot, release, host_certs, server, workdir,
                             ["--install-methods=preinstalled", "-D", "999999999"])
    assert rc == 11
    assert result["pilot"]["failed_command"] == "CheckWorkerNode"
    assert "MB needed" in result["pilot"]["reason"]


def test_pilot_cfg_and_exports_keep_secrets_out(release, host_certs, server, workdir, run_pilot):
    secret = "s3cr3t-" + hashlib.sha256(workdir.encode("utf-8")).hexdigest()[:12]
    args = base_args(release, server, host_certs) + ["--install-methods=preinstalled"]
    rc, out, err = run_pilot(args, workdir, env=pilot_env({"PILOT_LOGBOOK_TOKEN": secret}), timeout=300)
    assert rc == 0, out[-2000:]
    for name in ("pilot.out", "environmentSourceDirac", "bashrc", "pilot_result.json", "pilot.cfg"):
        assert secret not in helpers.read_text(os.path.join(workdir, name)), name
    assert secret not in out
