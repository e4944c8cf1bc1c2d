"""DIRAC's pilotTools and pilotCommands names, for extensions written for dirac-pilot.py.

Every public name of DIRAC's two modules (DIRACGrid/Pilot, Pilot/pilotTools.py and
Pilot/pilotCommands.py) is listed here: each either works as in DIRAC, or its import
fails with a message that says what to use instead.  Run in this process (the
modules of the pyz root, pilot_src/pilot/_pyzroot/) and through the real pilot.pyz.
"""

import os
import sys
import time
import warnings

import pytest

import helpers
from pilot import exitcodes
from pilot.commands import core_commands
from pilot.commands.base import Command
from test_credentials import LHCB_FQANS, creds  # noqa: F401  (creds: the fixture)

PYZ_ROOT = os.path.join(helpers.PILOT_SRC, "pilot", "_pyzroot")
if PYZ_ROOT not in sys.path:
    sys.path.insert(0, PYZ_ROOT)

import pilotCommands  # noqa: E402  (needs the path above)
import pilotTools  # noqa: E402

# The public names of DIRAC's modules: what they define, and what pilotCommands takes
# from pilotTools (pilotTools' getVO comes from proxyTools).
DIRAC_PILOT_TOOLS = [
    "load_module_from_path", "parseVersion", "pythonPathCheck", "alarmTimeoutHandler", "retrieveUrlTimeout",
    "safe_listdir", "getSubmitterInfo", "getFlavour", "ObjectLoader", "getCommand", "Logger", "RemoteLogger",
    "synchronized", "RepeatingTimer", "FixedSizeBuffer", "sendMessage", "CommandBase", "PilotParams", "getVO"]
DIRAC_COMMANDS = [
    "GetPilotVersion", "CheckWorkerNode", "InstallDIRAC", "ConfigureBasics", "RegisterPilot",
    "CheckCECapabilities", "CheckWNCapabilities", "ConfigureSite", "ConfigureArchitecture",
    "ConfigureArchitectureWithoutCLI", "ConfigureCPURequirements", "LaunchAgent", "NagiosProbes"]
DIRAC_PILOT_COMMANDS = ["logFinalizer"] + DIRAC_COMMANDS + [
    "CommandBase", "getSubmitterInfo", "retrieveUrlTimeout", "safe_listdir", "sendMessage"]

# Which of them work here; the others are refused with a message that names the way instead.
WORKING_TOOLS = ["CommandBase", "getFlavour", "getSubmitterInfo", "getVO", "load_module_from_path",
                 "parseVersion", "retrieveUrlTimeout", "safe_listdir"]
INSTEAD = {
    "pythonPathCheck": "-k/--keepPP", "alarmTimeoutHandler": "retrieveUrlTimeout(",
    "ObjectLoader": "self.executeAndGetOutput(", "getCommand": "from pilotCommands import InstallDIRAC",
    "Logger": "self.log", "RemoteLogger": "-g/--loggerURL", "sendMessage": "-g/--loggerURL",
    "FixedSizeBuffer": "-g/--loggerURL", "RepeatingTimer": "-g/--loggerURL", "synchronized": "-g/--loggerURL",
    "PilotParams": "self.pp",
}


def _import(module, name):
    """``from <module> import <name>``: (value, None) or (None, the ImportError)."""
    try:
        namespace = {}
        exec("from %s import %s as value" % (module, name), namespace)
        return namespace["value"], None
    except ImportError as exc:
        return None, exc


@pytest.mark.parametrize("module,name", [("pilotTools", n) for n in DIRAC_PILOT_TOOLS]
                         + [("pilotCommands", n) for n in DIRAC_PILOT_COMMANDS])
def test_every_dirac_name_works_or_says_what_to_use(module, name):
    value, error = _import(module, name)
    if name not in INSTEAD:
        assert error is None, error
        assert callable(value), value
        return
    assert value is None and isinstance(error, pilotTools.NotProvided), (value, error)
    message = str(error)
    assert message.startswith("%s.%s is DIRAC's and not part of Pilots 2.0: " % (module, name)), message
    assert INSTEAD[name] in message and "\n" not in message, message


def test_the_names_are_dirac_s_and_only_these():
    assert sorted(pilotTools.NOT_PROVIDED) == sorted(INSTEAD) == sorted(set(DIRAC_PILOT_TOOLS) - set(WORKING_TOOLS))
    assert sorted(pilotTools.__all__) == sorted(WORKING_TOOLS)
    assert sorted(pilotCommands.__all__) == sorted(set(DIRAC_PILOT_COMMANDS) - set(["sendMessage"]))
    assert [command.command_name() for command in core_commands()] == DIRAC_COMMANDS


# The attributes DIRAC's PilotParams sets, which extensions read as self.pp.<name>; these few are
# DIRAC's own machinery (its option table and getopt result, its logger, its script's name).
DIRAC_PILOT_PARAMS = [
    "CVMFS_locations", "architectureScript", "batchSystemInfo", "ceName", "ceType", "certsLocation", "cmdOpts",
    "commandExtensions", "commandOptions", "commands", "configServer", "configureScript", "debugFlag",
    "executeCmd", "extensions", "flavour", "gateway", "genericOption", "gridCEType", "installEnv", "jobCPUReq",
    "keepPythonPath", "local", "localConfigFile", "log", "loggerBufsize", "loggerTimerInterval", "loggerURL",
    "maxCycles", "maxNumberOfProcessors", "minDiskSpace", "modules", "optList", "pilotCFGFile", "pilotJSON",
    "pilotLogging", "pilotProcessors", "pilotReference", "pilotRootPath", "pilotScriptName", "pilotUUID",
    "pipInstallOptions", "pollingTime", "preferredURLPatterns", "preinstalledEnv", "preinstalledEnvPrefix",
    "queueName", "queueParameters", "releaseProject", "releaseVersion", "reqtags", "rootPath", "setup", "site",
    "stopAfterFailedMatches", "stopOnApplicationFailure", "tags", "useServerCertificate", "userDN",
    "userEnvVariables", "userGroup", "wnVO", "workingDir"]
NOT_IN_PP = ["cmdOpts", "configureScript", "local", "log", "optList", "pilotScriptName"]


def test_self_pp_has_dirac_s_attributes(workdir):
    params, _ = helpers.resolve_params(["-N", "ce.example.org"], workdir)
    missing = [name for name in DIRAC_PILOT_PARAMS if not hasattr(params, name)]
    assert missing == NOT_IN_PP
    assert params.rootPath == params.pilotRootPath == params.workingDir == workdir


def test_star_import_gives_the_working_names():
    namespace = {}
    exec("from pilotCommands import *", namespace)
    assert namespace["InstallDIRAC"].command_name() == "InstallDIRAC"
    assert namespace["CommandBase"] is Command
    namespace = {}
    exec("from pilotTools import *", namespace)
    assert sorted(name for name in namespace if not name.startswith("__")) == sorted(WORKING_TOOLS)


def test_attribute_access_is_refused_too():
    with pytest.raises(ImportError) as info:
        pilotTools.Logger
    assert "self.log" in str(info.value)
    with pytest.raises(AttributeError):
        pilotTools.no_such_name


def test_commands_are_the_standard_ones():
    for command in core_commands():
        assert getattr(pilotCommands, command.command_name()) is command
    assert pilotTools.CommandBase is Command and pilotCommands.CommandBase is Command


@pytest.mark.parametrize("version,expected", [
    ("v10r2p3-pre4", "10.2.3a4"), ("v10r2", "10.2.0"), ("v9.0.3", "9.0.3"), ("9.0", "9.0.0"),
    ("10.0.0a3", "10.0.0a3"), ("DIRAC[pilot]==9.0.3", "DIRAC[pilot]==9.0.3"), ("master", "master"),
])
def test_parse_version(version, expected):
    assert pilotTools.parseVersion(version) == expected


def test_load_module_from_path(tmpdir):
    path = helpers.write_text(str(tmpdir.join("voext.py")), "VALUE = 6 * 7\n")
    module = pilotTools.load_module_from_path("voext", path)
    assert module.VALUE == 42 and module.__file__ == path
    assert "voext" not in sys.modules


def test_safe_listdir(tmpdir):
    tmpdir.join("a").write("")
    assert pilotTools.safe_listdir(str(tmpdir)) == ["a"]
    assert pilotTools.safe_listdir(str(tmpdir.join("missing"))) == []


def test_safe_listdir_times_out(monkeypatch, tmpdir):
    monkeypatch.setattr(os, "listdir", lambda path: time.sleep(5))  # a hanging mount
    started = time.time()
    assert pilotTools.safe_listdir(str(tmpdir), timeout=0.2) is None
    assert time.time() - started < 4  # gave up, did not wait for the listing


def test_get_submitter_info(monkeypatch):
    for name in list(os.environ):
        if name.endswith("JOBID") or name.endswith("JOB_ID") or name in ("PILOT_UUID", "DIRAC_PILOT_STAMP"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("SLURM_JOBID", "4242")
    flavour, reference, batch = pilotTools.getSubmitterInfo("ce.example.org")
    assert (flavour, reference) == ("SSHSLURM", "sshslurm://ce.example.org/4242")
    assert batch["Type"] == "SLURM" and batch["JobID"] == "4242"
    assert sorted(batch["Parameters"]) == ["BinaryPath", "Host", "InfoPath", "Queue"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert pilotTools.getFlavour("ce.example.org") == ("SSHSLURM", "sshslurm://ce.example.org/4242")
    assert [w.category for w in caught] == [DeprecationWarning]


def test_get_vo(creds):  # noqa: F811  (the creds fixture)
    assert pilotTools.getVO(helpers.read_bytes(creds.voms_proxy)) == LHCB_FQANS[0].split("/")[1]
    with pytest.raises(NotImplementedError):
        pilotTools.getVO(helpers.read_bytes(creds.plain_proxy))


def test_retrieve_url_timeout(http_server, tmpdir, no_proxy):
    logger, sink = helpers.make_logger()
    log = logger.source("VOInstall")
    http_server.put("f.txt", b"content")
    target = str(tmpdir.join("f.txt"))
    assert pilotTools.retrieveUrlTimeout(http_server.url("f.txt"), target, log, timeout=10) is True
    assert helpers.read_bytes(target) == b"content"
    assert pilotTools.retrieveUrlTimeout(http_server.url("f.txt"), "", log, timeout=10) == "content"
    assert pilotTools.retrieveUrlTimeout(http_server.url("missing"), target, log, timeout=10) is False
    assert "URL retrieve: " in sink.text() and "404" in sink.text()


class _CountingLogger(object):
    """The pilot logger as logFinalizer sees it: flush(timeout) is counted."""

    def __init__(self):
        self.flushes = []
        self.logger, self.sink = helpers.make_logger()

    def source(self, name, phase=None):
        return self.logger.source(name, phase)

    def flush(self, timeout):
        self.flushes.append(timeout)


@pytest.mark.parametrize("ending", ["return", "exit", "raise"])
def test_log_finalizer_flushes_however_execute_ends(ending, workdir):
    from pilot.commands.base import Context

    class Ends(pilotCommands.CommandBase):
        @pilotCommands.logFinalizer
        def execute(self):
            """Ends as asked."""
            if ending == "exit":
                sys.exit(3)
            if ending == "raise":
                raise ValueError("broken")
            return "done"

    logger = _CountingLogger()
    command = Ends.create(None, Context(logger, None, None, workdir, {}))
    if ending == "return":
        assert command.execute() == "done"
    else:
        with pytest.raises((SystemExit, ValueError)):
            command.execute()
    assert logger.flushes == [pilotCommands.FLUSH_SECONDS]
    assert Ends.execute.__doc__ == "Ends as asked."


# -- through the real pilot.pyz -------------------------------------------------------------------

DIRAC_EXTENSION = '''
import os
import sys

try:
    from Pilot.pilotTools import CommandBase          # DIRAC's own tests import it this way first
except ImportError:
    from pilotTools import CommandBase
from pilotTools import getSubmitterInfo, parseVersion, retrieveUrlTimeout, safe_listdir
from pilotCommands import GetPilotVersion, logFinalizer


class VOCommandBase(CommandBase):
    def __init__(self, pilotParams):
        super(VOCommandBase, self).__init__(pilotParams)
        self.log.info("init of %s for CE %s" % (self.__class__.__name__, pilotParams.ceName))
        pilotParams.localConfigFile = "vo.cfg"


class VOGetPilotVersion(VOCommandBase, GetPilotVersion):
    """A standard command, subclassed."""


class OldStyle(CommandBase):
    def __init__(self, pilotParams):
        CommandBase.__init__(self, pilotParams, "OldStyle")     # DIRAC's old second argument

    @logFinalizer
    def execute(self):
        flavour, reference, batch = getSubmitterInfo(self.pp.ceName)
        self.log.warn("flavour=%s reference=%s batch=%s" % (flavour, reference, batch["Type"]))
        self.log.info("listing=%s version=%s release=%s" % (safe_listdir(os.getcwd()) is not None,
                                                            parseVersion("v10r2p3"), self.releaseVersion))
        ok = retrieveUrlTimeout(os.environ["VO_URL"], "fetched.txt", self.log, timeout=10)
        rc, out = self.executeAndGetOutput("cat fetched.txt")
        self.log.info("fetched=%s rc=%s out=%s cfg=%s" % (ok, rc, out.strip(), self.pp.localConfigFile))
'''


def test_a_dirac_extension_runs(run_pilot, workdir, http_server, no_proxy):
    folder = os.path.join(workdir, "exts")
    helpers.write_text(os.path.join(os.makedirs(folder) or folder, "VOPilotCommands.py"), DIRAC_EXTENSION)
    http_server.put("vo.txt", b"from-the-vo")
    env = helpers.clean_env({"SLURM_JOBID": "77", "VO_URL": http_server.url("vo.txt")})
    rc, out, err = run_pilot(["-E", "VOPilot", "--extensions-dir", folder, "-X", "VOGetPilotVersion,OldStyle",
                              "-r", "DIRAC[pilot]==9.0.3", "-N", "ce.example.org"], workdir, env=env)
    assert rc == 0, out + err
    assert "[VOGetPilotVersion] init of VOGetPilotVersion for CE ce.example.org" in out
    assert "[OldStyle] flavour=SSHSLURM reference=sshslurm://ce.example.org/77 batch=SLURM" in out
    assert "listing=True version=10.2.3 release=9.0.3" in out
    assert "fetched=True rc=0 out=from-the-vo cfg=vo.cfg" in out
    result = helpers.load_result(workdir)
    assert [c["status"] for c in result["commands"]] == ["ok", "ok"]


@pytest.mark.parametrize("statement,needle", [
    ("from pilotTools import CommandBase, Logger", "self.log"),
    ("from pilotCommands import InstallDIRAC, sendMessage", "-g/--loggerURL"),
    ("from pilotTools import PilotParams", "self.pp"),
])
def test_a_dirac_name_that_is_not_provided_stops_the_pilot_in_one_line(run_pilot, workdir, statement, needle):
    folder = os.path.join(workdir, "exts")
    os.makedirs(folder)
    helpers.write_text(os.path.join(folder, "OldVOCommands.py"), statement + "\n")
    rc, out, err = run_pilot(["-E", "OldVO", "--extensions-dir", folder, "-X", "GetPilotVersion", "-r", "v1"],
                             workdir)
    name = statement.split(", ")[-1].split()[-1]
    helpers.assert_one_line_error(rc, exitcodes.CONFIG, out, err, "extension OldVO", "failed to load: NotProvided: ",
                                  "%s is DIRAC's and not part of Pilots 2.0" % name, needle, "(line 1)")
