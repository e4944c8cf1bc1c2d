"""pilot.extension, the interface a VO's command imports, and pilot.testing.run_command, which runs
a command in this process as the pilot runs it: the names are pinned, the hooks of InstallDIRAC
work under their public names and under the private names older extensions override, and
docs/extensions.md's unit-test example passes against the real pilot.pyz."""

import os
import re
import shutil
import sys

import pytest

import helpers
from pilot import extension
from pilot.commands import core_commands
from pilot.commands.base import Command
from pilot.commands.install import InstallDIRAC
from pilot.testing import run_command

EXAMPLES = os.path.join(helpers.REPO, "examples")
PYZ_ROOT = os.path.join(helpers.PILOT_SRC, "pilot", "_pyzroot")  # pilotTools and pilotCommands
for _path in (EXAMPLES, PYZ_ROOT):
    if _path not in sys.path:
        sys.path.append(_path)

from MyVOPilotCommands import CheckScratch  # noqa: E402  (needs the path above)

STANDARD_COMMANDS = [
    "GetPilotVersion", "CheckWorkerNode", "InstallDIRAC", "ConfigureBasics", "RegisterPilot",
    "CheckCECapabilities", "CheckWNCapabilities", "ConfigureSite", "ConfigureArchitecture",
    "ConfigureArchitectureWithoutCLI", "ConfigureCPURequirements", "LaunchAgent", "NagiosProbes"]
EXPORTED = ["Command", "CommandBase", "Context", "PilotParams", "CommandFailed", "ConfigError", "PilotError",
            "Skip", "FAILURE_TYPES", "exit_code", "system_dir"] + STANDARD_COMMANDS


# -- the names -------------------------------------------------------------------------------------------

def test_exported_names_are_pinned():
    assert sorted(extension.__all__) == sorted(EXPORTED)
    namespace = {}
    exec("from pilot.extension import *", namespace)
    assert sorted(name for name in namespace if not name.startswith("__")) == sorted(EXPORTED)


def test_the_exports_are_the_pilot_s_own_classes():
    import pilotCommands
    import pilotTools
    from pilot.commands.install import Skip
    from pilot.errors import CommandFailed

    assert extension.Command is extension.CommandBase is Command
    assert pilotCommands.CommandBase is pilotTools.CommandBase is Command
    assert extension.Skip is Skip and extension.CommandFailed is CommandFailed
    assert [command.command_name() for command in core_commands()] == STANDARD_COMMANDS
    for command in core_commands():
        assert getattr(extension, command.command_name()) is command is getattr(pilotCommands, command.command_name())
    assert extension.exit_code("node") == 11 and extension.exit_code("no such type") == 18
    assert "install" in extension.FAILURE_TYPES and "node" in extension.FAILURE_TYPES


# -- run_command -----------------------------------------------------------------------------------------

def test_run_command_success(tmpdir):
    scratch = str(tmpdir.mkdir("scratch"))
    workdir = str(tmpdir.mkdir("work"))
    run = run_command(CheckScratch, env={"MYVO_SCRATCH": scratch}, workdir=workdir)
    assert (run.status, run.exit_code, run.exit_name, run.reason) == ("ok", 0, "OK", None), run
    assert run.details == {"scratch": scratch}
    assert [line for line in run.log if line.startswith("INFO [CheckScratch] df: ")], run
    assert run.log[-1].startswith("INFO [CheckScratch] CheckScratch done in ")
    # the pilot's files, in the work directory that was given (kept)
    result = helpers.load_result(workdir)
    assert result == run.result
    assert [(c["name"], c["origin"], c["status"]) for c in result["commands"]] == [
        ("CheckScratch", "MyVOPilotCommands", "ok")]
    assert "CheckScratch done in" in helpers.read_text(os.path.join(workdir, "pilot.out"))


def test_run_command_failure():
    run = run_command(CheckScratch)
    assert (run.status, run.exit_code, run.exit_name) == ("failed", 11, "NODE"), run
    assert (run.failure_type, run.reason, run.failed_command) == ("node", "MYVO_SCRATCH is not set", "CheckScratch")
    assert "ERROR [CheckScratch] CheckScratch failed after" in run.log[-1]
    assert not os.path.exists(run.workdir)          # the temporary work directory is gone
    assert "exit code 11 (NODE): node: MYVO_SCRATCH is not set" in repr(run)


def test_run_command_runs_a_list_until_one_fails(tmpdir):
    run = run_command([extension.CheckWorkerNode, CheckScratch, extension.GetPilotVersion], options=["-D", "1"],
                      workdir=str(tmpdir))
    assert [(c["name"], c["origin"], c["status"]) for c in run.commands] == [
        ("CheckWorkerNode", "core", "ok"), ("CheckScratch", "MyVOPilotCommands", "failed"),
        ("GetPilotVersion", "core", "not run")]
    assert (run.status, run.exit_code, run.failed_command) == ("failed", 11, "CheckScratch")


class ReadsOptions(Command):
    """Fails with the -Z options and the site it was given: the command line reaches self.pp."""

    failure_type = "configure"

    def execute(self):
        self.details["seen"] = self.pp.commandOptions
        self.fail("site %s" % self.pp.site)


def test_run_command_options_reach_the_parameters():
    run = run_command(ReadsOptions, options=["-Z", "a=1,b=two", "-n", "MY.Site.org"])
    assert run.details == {"seen": {"a": "1", "b": "two"}}
    assert (run.exit_code, run.failure_type, run.reason) == (16, "configure", "site MY.Site.org")
    assert run.params.site == "MY.Site.org"
    assert run.result["parameters"]["site"]["source"] == "command line"


def test_run_command_bad_option_runs_nothing():
    run = run_command(CheckScratch, options=["--no-such-option"])
    assert (run.status, run.exit_code, run.failure_type) == ("not run", 2, "usage"), run
    assert "--no-such-option" in run.reason
    assert [c["status"] for c in run.commands] == ["not run"]


class Downloads(Command):
    def execute(self):
        self.context.downloader.get(["https://example.invalid/file"], what="a file")


def test_run_command_has_no_network():
    run = run_command(Downloads)
    assert (run.exit_code, run.failure_type) == (13, "network"), run
    assert run.reason == "a file: no network in pilot.testing (https://example.invalid/file)"


class Broken(Command):
    def execute(self):
        return int("not a number")


def test_run_command_bug_is_an_internal_error_with_its_traceback():
    run = run_command(Broken)
    assert (run.exit_code, run.failure_type) == (70, "internal"), run
    assert run.reason.startswith("internal error in Broken: ValueError: invalid literal for int()"), run
    assert [line for line in run.log if "Traceback" in line]


def test_run_command_refuses_what_is_not_a_command():
    with pytest.raises(TypeError):
        run_command(object)
    with pytest.raises(TypeError):
        run_command(CheckScratch, options="-D 10")   # a list of arguments, never a shell string


# -- the hooks of InstallDIRAC, new names and old ----------------------------------------------------------

class NewStyleInstall(InstallDIRAC):
    """A VO way first, written with the public hooks."""

    def install_methods(self):
        return ["myway"] + InstallDIRAC.install_methods(self)

    def install_myway(self):
        rc_file = self.pp.commandOptions["rc"]
        return rc_file, self.capture_environment(rc_file)


class OldStyleInstall(InstallDIRAC):
    """The same, as extensions wrote it before the hooks: private names overridden and called."""

    def _methods(self):
        return ["myway"] + InstallDIRAC._methods(self)

    def _install_myway(self):
        rc_file = self.pp.commandOptions["rc"]
        return rc_file, self._capture(rc_file)


@pytest.mark.parametrize("command", [NewStyleInstall, OldStyleInstall])
def test_install_hooks(tmpdir, command):
    rc_file = helpers.write_text(str(tmpdir.join("diracosrc")), "export MYVO_RELEASE='1.2 beta'\n")
    workdir = str(tmpdir.mkdir("work"))
    run = run_command(command, options=["-Z", "rc=%s" % rc_file, "--userEnvVariables=EXTRA:::yes"],
                      workdir=workdir)
    assert run.status == "ok", run
    assert (run.details["method"], run.details["rc_file"]) == ("myway", rc_file)
    env = run.params.installEnv
    assert (env["MYVO_RELEASE"], env["DIRAC_RC_PATH"], env["EXTRA"]) == ("1.2 beta", rc_file, "yes")
    assert "MYVO_RELEASE" in helpers.read_text(os.path.join(workdir, "environmentSourceDirac"))


class NewCapture(InstallDIRAC):
    def capture_environment(self, rc_file):
        env = InstallDIRAC.capture_environment(self, rc_file)
        env["CAPTURED_BY"] = self.command_name()
        return env


class OldCapture(InstallDIRAC):
    def _capture(self, rc_file):
        env = InstallDIRAC._capture(self, rc_file)
        env["CAPTURED_BY"] = self.command_name()
        return env


@pytest.mark.parametrize("command", [NewCapture, OldCapture])
def test_a_capture_override_serves_the_standard_ways(tmpdir, command):
    rc_file = helpers.write_text(str(tmpdir.join("diracosrc")), "export A=1\n")
    run = run_command(command, options=["--install-methods=preinstalled", "--preinstalledEnv=%s" % rc_file])
    assert (run.status, run.details["method"]) == ("ok", "preinstalled"), run
    assert (run.params.installEnv["A"], run.params.installEnv["CAPTURED_BY"]) == ("1", command.__name__)
    assert run.params.preinstalled


class SkipsThenInstalls(InstallDIRAC):
    def install_methods(self):
        return ["first", "second"]

    def install_first(self):
        raise extension.Skip("not on this node")

    def install_second(self):
        rc_file = self.pp.commandOptions["rc"]
        return rc_file, self.capture_environment(rc_file)


def test_a_way_that_skips_lets_the_next_one_try(tmpdir):
    rc_file = helpers.write_text(str(tmpdir.join("diracosrc")), "export A=1\n")
    run = run_command(SkipsThenInstalls, options=["-Z", "rc=%s" % rc_file])
    assert (run.status, run.details["method"]) == ("ok", "second"), run
    assert "INFO [SkipsThenInstalls] first: not on this node" in run.log


class NoSuchWay(InstallDIRAC):
    def install_methods(self):
        return ["nowhere", "venv"]


def test_a_way_without_its_method_is_a_configuration_error():
    run = run_command(NoSuchWay)
    assert (run.exit_code, run.failure_type) == (10, "config"), run
    assert run.reason == "install method nowhere: NoSuchWay has no install_nowhere()"
    assert not [line for line in run.log if "venv" in line]   # nothing tried after it


def test_the_old_names_are_aliases_of_the_hooks():
    for old, new in [("_methods", "install_methods"), ("_capture", "capture_environment"),
                     ("_pip_install", "pip_install"), ("_install_preinstalled", "install_preinstalled"),
                     ("_install_diracos", "install_diracos"), ("_install_venv", "install_venv"),
                     ("_install_tarball", "install_tarball")]:
        alias = getattr(InstallDIRAC, old)
        assert getattr(alias, "legacy_alias", False), old
        assert new in alias.__doc__


def _python3_for_venv():
    if sys.version_info[0] >= 3:
        return sys.executable
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        if folder and os.access(os.path.join(folder, "python3"), os.X_OK):
            return os.path.join(folder, "python3")
    return None


class OldPipInstall(InstallDIRAC):
    """An old override of _pip_install that calls the core's, around a new pip_requirements()."""

    calls = []

    def _pip_install(self, env):
        OldPipInstall.calls.append(env["VIRTUAL_ENV"])
        InstallDIRAC._pip_install(self, env)

    def pip_requirements(self):
        return ["myvo-no-such-package==0.0.1"]


@pytest.mark.skipif(not _python3_for_venv(), reason="the venv way needs a python3 on PATH")
def test_an_old_pip_install_override_is_still_called_by_the_venv_way(tmpdir):
    OldPipInstall.calls[:] = []
    run = run_command(OldPipInstall, workdir=str(tmpdir), options=["--install-methods=venv", "--pipInstallOptions=--no-index"])
    assert OldPipInstall.calls == [os.path.join(run.workdir, "diracenv")], run
    assert (run.exit_code, run.failure_type) == (15, "install"), run
    assert "venv: pip install myvo-no-such-package==0.0.1 failed: " in run.reason
    assert "INFO [OldPipInstall] pip install myvo-no-such-package==0.0.1" in run.log


# -- docs/extensions.md's unit-test example, against the real pilot.pyz -----------------------------------

def _doc_example():
    text = helpers.read_text(os.path.join(helpers.REPO, "docs", "extensions.md"))
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    found = [block for block in blocks if "pilot.testing" in block]
    assert len(found) == 1, "docs/extensions.md should have one pilot.testing example"
    return found[0]


def test_the_node_pyz_has_no_pilot_testing(tmpdir, pyz):
    # pilot.testing is for a VO's unit tests: the pyz a node runs goes without it (its size).
    rc, out, err = helpers.run([sys.executable, "-c", 'import sys; sys.path[:0] = [sys.argv[1]]; import pilot.testing',
                                pyz], str(tmpdir))
    assert rc != 0 and "No module named" in err, out + err


def test_the_documented_unit_test_passes(tmpdir):
    folder = str(tmpdir.mkdir("myvo"))
    # as docs/extensions.md says: a pyz built --with-testing
    helpers.build_pyz(os.path.join(folder, "pilot.pyz"), with_testing=True)
    shutil.copy(os.path.join(EXAMPLES, "MyVOPilotCommands.py"), folder)
    helpers.write_text(os.path.join(folder, "test_myvo.py"), _doc_example())
    # the pilot must come from pilot.pyz: keep PYTHONPATH (pytest may come from it) without this checkout
    env = dict(os.environ)
    kept = [entry for entry in env.get("PYTHONPATH", "").split(os.pathsep)
            if entry and not os.path.isdir(os.path.join(entry, "pilot"))
            and not os.path.isdir(os.path.join(entry, "compat"))]
    env["PYTHONPATH"] = os.pathsep.join(kept)
    rc, out, err = helpers.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_myvo.py"],
                               folder, env=env, timeout=120)
    assert rc == 0, out + err
    assert "2 passed" in out, out + err
    rc, out, err = helpers.run([sys.executable, "-c", 'import sys; sys.path[:0] = ["pilot.pyz", "."]; '
                                'import pilot.testing; print(pilot.testing.__file__)'], folder, env=env)
    assert rc == 0, out + err
    assert out.strip() == os.path.join(folder, "pilot.pyz", "pilot", "testing.py"), out + err
