"""Fixtures and helpers shared by the tests that run pilot.pyz against the DIRAC release double.

A test module gets the fixtures (release, lhcb_release, git_release,
host_certs, server) with::

    pytest_plugins = ["dirac_fixtures"]

and imports the helpers it uses (base_args, pilot_env, ...).  The releases
are made once per pytest process (make_release.py, run with a Python 3:
$PILOT_BUILDER_PYTHON or python3), whichever module asks first; each test
gets a fresh "DIRAC server" directory.  Python 2.6-compatible.
"""

import json
import os
import subprocess

import pytest

import helpers
from support.certificates import openssl, self_signed  # noqa: F401  (test_credentials takes openssl from here)

HERE = os.path.dirname(os.path.abspath(__file__))
MAKER = os.path.join(os.path.dirname(HERE), "doubles", "dirac", "make_release.py")
VERSION = "9.0.0"
SITE = "DIRAC.Test.local"
SETUP = "Test-Setup"
ISSUE_COMMANDS = ("GetPilotVersion,CheckWorkerNode,InstallDIRAC,ConfigureBasics,ConfigureSite,"
                  "ConfigureArchitecture,ConfigureCPURequirements,LaunchAgent")
# The shortest list that runs the JobAgent: no DB12, no release script but dirac-configure and the agent.
AGENT_COMMANDS = "InstallDIRAC,ConfigureBasics,ConfigureSite,ConfigureArchitectureWithoutCLI,LaunchAgent"

_MADE = {}  # one release per kind per process, whichever module's fixture asks first


def make(*args):
    """Run the double's maker; returns the last line it printed."""
    proc = subprocess.Popen([helpers.builder_python(), MAKER] + list(args), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    out, err = proc.communicate()
    assert proc.returncode == 0, "make_release.py %s failed: %s" % (" ".join(args), helpers.to_text(err))
    return helpers.to_text(out).strip().splitlines()[-1]


def _release(tmpdir_factory, kind, *extra):
    if kind not in _MADE:
        out = str(tmpdir_factory.mktemp("release-" + kind))
        manifest = make("--version", VERSION, "--out", out, *extra)
        _MADE[kind] = json.loads(helpers.read_text(manifest))
    return _MADE[kind]


@pytest.fixture(scope="session")
def release(tmpdir_factory):
    """The plain DIRAC release (project '')."""
    return _release(tmpdir_factory, "dirac")


@pytest.fixture(scope="session")
def lhcb_release(tmpdir_factory):
    """LHCbDIRAC: cvmfs/lhcbdirac/<version>/..., the wheel LHCbDIRAC-<version>."""
    return _release(tmpdir_factory, "lhcb", "--project", "LHCb")


@pytest.fixture(scope="session")
def git_release(tmpdir_factory):
    """The plain release with its git repository (branch devel)."""
    return _release(tmpdir_factory, "git", "--git")


@pytest.fixture(scope="session")
def host_certs(tmpdir_factory):
    """A directory with hostcert.pem and hostkey.pem (valid two days)."""
    if "host_certs" not in _MADE:
        folder = str(tmpdir_factory.mktemp("hostcerts"))
        self_signed(folder, subject="/DC=org/DC=test/CN=pilot.test.local", san="")
        _MADE["host_certs"] = folder
    return _MADE["host_certs"]


@pytest.fixture
def server(tmpdir):
    """A fresh DIRAC server with one waiting job (JobID 1)."""
    folder = str(tmpdir.join("server"))
    make("--new-server", folder)
    return folder


def empty_server(folder):
    """A fresh server without jobs."""
    make("--new-server", folder, "--no-job")
    return folder


def add_job(server_dir, *command, **keys):
    """Add a waiting job running ``command``; keys: job_id=N."""
    args = ["--add-job", server_dir]
    if keys.get("job_id"):
        args += ["--job-id", str(keys["job_id"])]
    return make(*(args + ["--"] + list(command)))


def base_args(release, server, certs, commands=ISSUE_COMMANDS):
    """The command line of the issue: python pilot.pyz -S -r -C -N -Q -n -M 1 --cert --certLocation -X."""
    args = ["-S", SETUP, "-r", VERSION, "-C", "file://" + server, "-N", release["ce"],
            "-Q", release["queue"], "-n", SITE, "-M", "1"]
    if certs:
        args += ["--cert", "--certLocation=%s" % certs]
    return args + ["-X", commands,
                   # test-machine settings: a small disk need, the release's CVMFS area, no waiting
                   "-D", "10", "--CVMFS_locations=%s" % release["cvmfs_location"], "--PollingTime=0",
                   "--StopAfterFailedMatches=1", "--db12=quick"]


def preinstalled_args(release, server, certs, commands=AGENT_COMMANDS):
    return base_args(release, server, certs, commands) + ["--install-methods=preinstalled"]


def pilot_env(extra=None):
    """A clean environment (no proxy, no VO, no stamp ...) plus ``extra`` (None removes)."""
    return helpers.clean_env(extra)


def jobs_done(server_dir):
    folder = os.path.join(server_dir, "done")
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


def done_records(server_dir):
    return [json.loads(helpers.read_text(os.path.join(server_dir, "done", name))) for name in jobs_done(server_dir)]


def pilot_records(server_dir):
    folder = os.path.join(server_dir, "pilots")
    if not os.path.isdir(folder):
        return []
    return [json.loads(helpers.read_text(os.path.join(folder, name))) for name in sorted(os.listdir(folder))]


def command_entry(result, name):
    found = [entry for entry in result["commands"] if entry["name"] == name]
    assert found, "%s not in %s" % (name, [entry["name"] for entry in result["commands"]])
    return found[0]


def log_lines(text, source):
    """The messages that [source] logged (the text after '[source] ')."""
    marker = "[%s] " % source
    return [line.split(marker, 1)[1] for line in text.splitlines() if marker in line]


def executed_configure(text, source):
    """The argument lines of each 'Executing: dirac-configure ...' that [source] logged."""
    found = []
    for message in log_lines(text, source):
        if "Executing: dirac-configure" in message:
            found.append(message.split("Executing: ", 1)[1].strip())
    return found


def load_cfg(work_dir, name="pilot.cfg"):
    from pilot.config.cfg import CFG

    return CFG.load(os.path.join(work_dir, name))


def overlay_release(folder, release, tools):
    """A diracosrc that sources the release's and puts ``tools`` ({name: shell script}) first on PATH.

    Returns the rc path, for --preinstalledEnv.
    """
    bin_dir = os.path.join(folder, "bin")
    os.makedirs(bin_dir)
    for name, script in tools.items():
        path = os.path.join(bin_dir, name)
        helpers.write_text(path, "#!/bin/bash\n" + script)
        os.chmod(path, 0o755)
    rc = os.path.join(folder, "diracosrc")
    helpers.write_text(rc, 'source "%s"\nexport PATH="%s:$PATH"\n' % (release["preinstalled_rc"], bin_dir))
    return rc
