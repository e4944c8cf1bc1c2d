"""The community extensions of examples/ through the real pilot.pyz and the DIRAC release double:
LHCb-style (release and CAs from CVMFS, fallback install), GridPP-style (install from git), -E from
beside the pyz, from --extensions-dir and from a URL with its checksum, and MyVOPilotCommands.py,
the example of docs/extensions.md.  The examples use only the pilot's public interface, pilot.extension."""

import hashlib
import os
import re
import shutil
import sys

import pytest

import helpers
pytest.register_assert_rewrite("dirac_fixtures")  # before its first import
from dirac_fixtures import AGENT_COMMANDS, base_args, command_entry, executed_configure, jobs_done, pilot_env

# release, lhcb_release, git_release, host_certs, server: made once per session for every module using them
pytest_plugins = ["dirac_fixtures"]

EXAMPLES = os.path.join(helpers.REPO, "examples")
LHCB = os.path.join(EXAMPLES, "LHCbPilotCommands.py")
GRIDPP = os.path.join(EXAMPLES, "GridPPPilotCommands.py")
MYVO = os.path.join(EXAMPLES, "MyVOPilotCommands.py")
LHCB_COMMANDS = AGENT_COMMANDS + ",LaunchAgent"


def _run(run_pilot, workdir, args, env=None, timeout=180, pyz_file=None):
    rc, out, err = run_pilot(args, workdir, env=pilot_env(env), timeout=timeout, pyz_file=pyz_file)
    assert "Traceback" not in out + err, out + err
    return rc, out, err


def _sha256(path):
    return hashlib.sha256(helpers.read_bytes(path)).hexdigest()


@pytest.mark.parametrize("path", [LHCB, GRIDPP, MYVO])
def test_examples_use_only_the_public_interface(path):
    text = helpers.read_text(path)
    imported = re.findall(r"^\s*(?:from|import) (\S+)", text, re.M)
    from_the_pilot = [name for name in imported if name.split(".")[0] in ("pilot", "pilotCommands", "pilotTools")]
    assert sorted(set(from_the_pilot)) == ["pilot.extension"], imported
    assert re.findall(r"\._[a-z]\w*", text) == []   # no private method or attribute of the pilot's


# -- LHCb-style ---------------------------------------------------------------------------------------

def _lhcb_args(release, server, certs, area, extra=()):
    """InstallDIRAC ... LaunchAgent with the LHCb extension; the -x prints the CA directory it gets."""
    args = base_args(release, server, certs, AGENT_COMMANDS) + [
        "-E", "LHCbPilot", "--extensions-dir", EXAMPLES, "-l", "LHCb", "-Z", "lhcbCVMFS=%s" % area]
    return args + list(extra)


def _cert_dir_seen(out):
    lines = [line.split("CERTDIR=", 1)[1] for line in out.splitlines() if "CERTDIR=" in line and "echo" not in line]
    return lines[-1].strip() if lines else None


def test_lhcb_release_from_cvmfs(run_pilot, workdir, lhcb_release, server, host_certs):
    area = lhcb_release["cvmfs_location"]
    rc, out, err = _run(run_pilot, workdir, _lhcb_args(lhcb_release, server, host_certs, area))
    assert rc == 0, out[-3000:] + err
    result = helpers.load_result(workdir)
    install = command_entry(result, "InstallDIRAC")
    assert install["origin"] == "LHCbPilotCommands"
    assert install["details"]["method"] == "lhcbcvmfs"
    assert install["details"]["rc_file"] == lhcb_release["cvmfs_rc"]
    assert command_entry(result, "ConfigureBasics")["origin"] == "LHCbPilotCommands"
    args = executed_configure(helpers.pilot_out(workdir), "ConfigureBasics")[0].split()
    assert "-D" in args and "-M" in args
    assert args[args.index("-e") + 1] == "LHCb"
    assert command_entry(result, "LaunchAgent")["details"]["jobs"] == 1
    assert "X509_CERT_DIR from CVMFS: %s" % os.path.join(area, "etc", "grid-security", "certificates") in out
    # the result says which ways were tried: the LHCb one first, then the fallbacks
    assert install["details"]["tried"] == ["lhcbcvmfs", "diracos"], \
        "pilot_result.json lists ways that were never tried: %s" % install["details"]["tried"]


def test_lhcb_cas_from_cvmfs_reach_the_children(run_pilot, workdir, lhcb_release, server, host_certs):
    area = lhcb_release["cvmfs_location"]
    args = base_args(lhcb_release, server, host_certs, "InstallDIRAC,ConfigureBasics,LaunchAgent") + [
        "-E", "LHCbPilot", "--extensions-dir", EXAMPLES, "-Z", "lhcbCVMFS=%s" % area,
        "-x", 'echo "CERTDIR=$X509_CERT_DIR VOMSDIR=$X509_VOMS_DIR"']
    rc, out, err = _run(run_pilot, workdir, args, env={"X509_CERT_DIR": "/etc/grid-security/certificates"})
    assert rc == 0, out + err
    grid = os.path.join(area, "etc", "grid-security")
    line = [text for text in out.splitlines() if "CERTDIR=" in text and "running" not in text][-1]
    assert "CERTDIR=%s" % os.path.join(grid, "certificates") in line
    assert "VOMSDIR=%s" % os.path.join(grid, "vomsdir") in line


def _area_without_release(tmpdir, lhcb_release):
    """A CVMFS area with the grid-security directories but no LHCbDIRAC release (a cold cache)."""
    area = str(tmpdir.mkdir("lhcb-cvmfs"))
    shutil.copytree(os.path.join(lhcb_release["cvmfs_location"], "etc"), os.path.join(area, "etc"))
    return area


def test_lhcb_falls_back_to_a_normal_install(run_pilot, workdir, lhcb_release, server, host_certs, tmpdir):
    area = _area_without_release(tmpdir, lhcb_release)
    extra = ["--install-methods=venv", "--pipInstallOptions=--no-index --find-links %s" % lhcb_release["index"]]
    rc, out, err = _run(run_pilot, workdir, _lhcb_args(lhcb_release, server, host_certs, area, extra))
    assert rc == 0, out[-3000:] + err
    result = helpers.load_result(workdir)
    install = command_entry(result, "InstallDIRAC")["details"]
    assert install["method"] == "venv"
    assert "LHCbDIRAC 9.0.0 is not on CVMFS yet" in out
    assert "pip install LHCbDIRAC[pilot]==9.0.0" in out
    # the CAs still come from CVMFS: dirac-configure downloads nothing
    args = executed_configure(helpers.pilot_out(workdir), "ConfigureBasics")[0].split()
    assert "-D" in args and "-M" in args
    assert "-H" not in args                          # not a preinstalled release
    assert args[-2:] == ["-O", "pilot.cfg"]
    assert command_entry(result, "LaunchAgent")["details"]["jobs"] == 1
    assert len(jobs_done(server)) == 1


def test_lhcb_cvmfs_only_without_the_release(run_pilot, workdir, lhcb_release, server, host_certs, tmpdir):
    area = _area_without_release(tmpdir, lhcb_release)
    rc, out, err = _run(run_pilot, workdir, _lhcb_args(lhcb_release, server, host_certs, area,
                                                       ["--install-methods=preinstalled,venv", "-o", "cvmfsOnly"]))
    assert rc == 15, out + err
    result = helpers.load_result(workdir)
    reason = result["pilot"]["reason"]
    assert "\n" not in reason
    assert "-o cvmfsOnly forbids installing it" in reason
    assert not os.path.exists(os.path.join(workdir, "diracenv"))


def test_lhcb_area_without_cas_lets_dirac_configure_fetch_them(run_pilot, workdir, lhcb_release, server, tmpdir):
    area = str(tmpdir.mkdir("area-without-cas"))
    os.symlink(os.path.join(lhcb_release["cvmfs_location"], "lhcbdirac"), os.path.join(area, "lhcbdirac"))
    args = base_args(lhcb_release, server, None, "InstallDIRAC,ConfigureBasics") + [
        "-E", "LHCbPilot", "--extensions-dir", EXAMPLES, "-Z", "lhcbCVMFS=%s" % area]
    rc, out, err = _run(run_pilot, workdir, args)
    assert rc == 0, out + err
    assert "no grid-security directories under %s: dirac-configure downloads them" % area in out
    assert "X509_CERT_DIR from CVMFS" not in out
    result = helpers.load_result(workdir)
    assert command_entry(result, "InstallDIRAC")["details"]["method"] == "lhcbcvmfs"


# -- GridPP-style -------------------------------------------------------------------------------------

def _has_git():
    try:
        rc, _, _ = helpers.run(["git", "--version"], "/", timeout=30)
    except OSError:
        return False
    return rc == 0


def _modern_python3():
    for version in ("3.13", "3.12", "3.11", "3.10", "3.9", "3.8", "3.7"):
        found = helpers.find_interpreter(version)
        if found and os.path.exists(os.path.join(os.path.dirname(found), "python3")):
            return found
    return None


GIT_COMMANDS = "GitInstallDIRAC,ConfigureBasics,ConfigureSite,ConfigureArchitectureWithoutCLI,LaunchAgent"


@pytest.mark.skipif(not _has_git(), reason="the git install needs the git command")
@pytest.mark.skipif(sys.version_info[:2] == (3, 6),
                    reason="the venv of Python 3.6 has pip 18, too old for the git form's in-tree PEP 517 backend")
def test_gridpp_git_install_runs_a_job(run_pilot, workdir, git_release, server, host_certs):
    env = None
    if sys.version_info[0] == 2:
        # the pilot makes the venv with the first python3 on PATH: give it one whose pip is recent
        modern = _modern_python3()
        if not modern:
            pytest.skip("no Python >= 3.7 on this machine for the virtual environment")
        env = {"PATH": os.path.dirname(modern) + os.pathsep + os.environ.get("PATH", "")}
    args = base_args(git_release, server, host_certs, GIT_COMMANDS) + [
        "-E", "GridPPPilot", "--extensions-dir", EXAMPLES,
        "-Z", "gitRepo=%s,gitBranch=%s" % (git_release["git_url"], git_release["git_branch"]),
        "--pipInstallOptions=--no-index"]
    rc, out, err = _run(run_pilot, workdir, args, env=env, timeout=300)
    assert rc == 0, out[-3000:] + err
    result = helpers.load_result(workdir)
    install = command_entry(result, "GitInstallDIRAC")
    assert install["origin"] == "GridPPPilotCommands"
    assert install["details"]["method"] == "venv"
    assert install["details"]["git"] == {"repository": git_release["git_url"], "branch": "devel", "project": "DIRAC"}
    assert "pip install DIRAC[pilot] @ %s@devel" % git_release["git_url"] in out
    assert command_entry(result, "LaunchAgent")["details"]["jobs"] == 1
    assert os.path.isfile(os.path.join(workdir, "diracenv", "bin", "dirac-agent"))


def test_gridpp_without_git_repo(run_pilot, workdir, release, server, host_certs):
    args = base_args(release, server, host_certs, GIT_COMMANDS) + [
        "-E", "GridPPPilot", "--extensions-dir", EXAMPLES, "-Z", "gitBranch=devel"]
    rc, out, err = _run(run_pilot, workdir, args)
    assert rc == 10, out + err
    result = helpers.load_result(workdir)
    assert result["pilot"]["failed_command"] == "GitInstallDIRAC"
    assert "needs -Z gitRepo=" in result["pilot"]["reason"]
    assert not os.path.exists(os.path.join(workdir, "diracenv"))


# -- where -E finds an extension ----------------------------------------------------------------------

def _list_commands(run_pilot, workdir, args, pyz_file=None):
    rc, out, err = run_pilot(["--list-commands"] + list(args), workdir, env=pilot_env(), timeout=60,
                             pyz_file=pyz_file)
    assert "Traceback" not in out + err, out + err
    return rc, out, err


def _assert_lhcb_loaded(out, location, prefix="LHCbPilot"):
    lines = out.splitlines()
    install = [line for line in lines if line.lstrip("* ").startswith("InstallDIRAC ")]
    assert install and "[LHCbPilotCommands, overrides core]" in install[0], out
    extension = [line for line in lines if line.startswith("Extension ")]
    assert "Extension %s: %s (sha256 %s)" % (prefix, location, _sha256(LHCB)) in extension, out


def test_extension_beside_the_pyz(run_pilot, workdir, tmpdir, pyz):
    folder = str(tmpdir.mkdir("dist"))
    copy = helpers.copy_pyz(folder, pyz)
    shutil.copy(LHCB, folder)
    rc, out, err = _list_commands(run_pilot, workdir, ["-E", "LHCbPilot"], pyz_file=copy)
    assert rc == 0, out + err
    _assert_lhcb_loaded(out, os.path.join(folder, "LHCbPilotCommands.py"))


def test_extension_from_the_extensions_dir(run_pilot, workdir):
    rc, out, err = _list_commands(run_pilot, workdir, ["-E", "LHCbPilot,GridPPPilot", "--extensions-dir", EXAMPLES])
    assert rc == 0, out + err
    _assert_lhcb_loaded(out, LHCB)
    assert [line for line in out.splitlines() if "GitInstallDIRAC" in line and "[GridPPPilotCommands]" in line]


def test_extension_from_a_url_with_its_checksum(run_pilot, workdir, http_server):
    http_server.put("LHCbPilotCommands.py", helpers.read_bytes(LHCB))
    url = http_server.url("LHCbPilotCommands.py")
    spec = "%s#sha256=%s" % (url, _sha256(LHCB))
    rc, out, err = _list_commands(run_pilot, workdir, ["-E", spec])
    assert rc == 0, out + err
    _assert_lhcb_loaded(out, url, prefix=spec)
    assert "/LHCbPilotCommands.py" in http_server.requests


def test_extension_url_real_run(run_pilot, workdir, http_server, release, server, host_certs):
    """A downloaded extension really runs its commands (here the GridPP one, failing on purpose)."""
    http_server.put("GridPPPilotCommands.py", helpers.read_bytes(GRIDPP))
    spec = "%s#sha256=%s" % (http_server.url("GridPPPilotCommands.py"), _sha256(GRIDPP))
    rc, out, err = _run(run_pilot, workdir, base_args(release, server, host_certs, "GitInstallDIRAC") + ["-E", spec])
    assert rc == 10
    assert "needs -Z gitRepo=" in helpers.load_result(workdir)["pilot"]["reason"]


def test_extension_url_with_a_wrong_checksum(run_pilot, workdir, http_server, release, server, host_certs):
    http_server.put("LHCbPilotCommands.py", helpers.read_bytes(LHCB))
    spec = "%s#sha256=%s" % (http_server.url("LHCbPilotCommands.py"), "0" * 64)
    rc, out, err = _run(run_pilot, workdir, base_args(release, server, host_certs, "InstallDIRAC") + ["-E", spec])
    assert rc == 14, out + err
    result = helpers.load_result(workdir)
    assert result["pilot"]["failure_type"] == "integrity"
    assert "\n" not in result["pilot"]["reason"]
    assert "sha256 %s, expected %s" % (_sha256(LHCB), "0" * 64) in result["pilot"]["reason"]
    assert [c["status"] for c in result["commands"]] in ([], ["not run"])


@pytest.mark.parametrize("fragment", ["", "#sha256=", "#sha256=abc", "#md5=0123456789abcdef0123456789abcdef"])
def test_extension_url_without_a_checksum(run_pilot, workdir, http_server, fragment):
    http_server.put("LHCbPilotCommands.py", helpers.read_bytes(LHCB))
    rc, out, err = _list_commands(run_pilot, workdir, ["-E", http_server.url("LHCbPilotCommands.py") + fragment])
    assert rc == 10, out + err
    assert "needs #sha256=" in err
    assert http_server.requests == []        # nothing downloaded


def test_extension_url_with_a_bad_file_name(run_pilot, workdir, http_server):
    http_server.put("lhcb.py", helpers.read_bytes(LHCB))
    rc, out, err = _list_commands(run_pilot, workdir, ["-E", "%s#sha256=%s" % (http_server.url("lhcb.py"),
                                                                              _sha256(LHCB))])
    assert rc == 10, out + err
    assert "<Prefix>Commands.py" in err


# -- docs/extensions.md's example --------------------------------------------------------------------------

needs_myvo = pytest.mark.skipif(not os.path.isfile(MYVO), reason="examples/MyVOPilotCommands.py is missing")


@needs_myvo
def test_myvo_check_scratch(run_pilot, workdir, tmpdir):
    scratch = str(tmpdir.mkdir("scratch"))
    rc, out, err = _run(run_pilot, workdir, ["-E", "MyVOPilot", "--extensions-dir", EXAMPLES,
                                             "-X", "CheckWorkerNode,CheckScratch", "-D", "10"],
                        env={"MYVO_SCRATCH": scratch})
    assert rc == 0, out + err
    result = helpers.load_result(workdir)
    entry = command_entry(result, "CheckScratch")
    assert entry["status"] == "ok"
    assert entry["origin"] == "MyVOPilotCommands"


@needs_myvo
def test_myvo_check_scratch_unset(run_pilot, workdir):
    rc, out, err = _run(run_pilot, workdir, ["-E", "MyVOPilot", "--extensions-dir", EXAMPLES,
                                             "-X", "CheckWorkerNode,CheckScratch", "-D", "10"])
    assert rc == 11, out + err
    result = helpers.load_result(workdir)
    assert result["pilot"]["failed_command"] == "CheckScratch"
    assert "MYVO_SCRATCH" in result["pilot"]["reason"]
