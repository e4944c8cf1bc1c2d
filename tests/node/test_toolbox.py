"""The toolbox and extensions (pilot/sequence/toolbox.py): DIRAC's <Prefix>Commands rules."""

import os

import pytest

import helpers
from pilot.sequence import toolbox
from pilot.commands.base import Command
from pilot.errors import ConfigError

MARKED = '''
from pilot.commands.base import Command


class FooHello(Command):
    """Say where this extension was loaded from."""

    def execute(self):
        self.log.info("FooHello from %(where)s")
'''

OVERRIDE = '''
from pilot.commands.base import Command


class CheckWorkerNode(Command):
    """An override of the core CheckWorkerNode."""

    def execute(self):
        self.log.info("overridden CheckWorkerNode runs")
'''

DIRAC_STYLE = '''
from pilotCommands import CheckWorkerNode
from pilotTools import CommandBase


class CheckWorkerNode(CheckWorkerNode):
    def __init__(self, pilotParams):
        super(CheckWorkerNode, self).__init__(pilotParams)

    def execute(self):
        self.log.info("VO pre-check for %s" % self.pp.ceName)
        super(CheckWorkerNode, self).execute()


class VOInstall(CommandBase):
    """A command written for DIRAC's dirac-pilot.py."""

    def __init__(self, pilotParams):
        super(VOInstall, self).__init__(pilotParams)
        self.opts = pilotParams.commandOptions

    def execute(self):
        rc, out = self.executeAndGetOutput("echo from-shell $((1+2))")
        self.log.warn("VOInstall rc=%s out=%s opt=%s debug=%s release=%s"
                      % (rc, out.strip(), self.opts.get("k"), self.debugFlag, self.releaseVersion))
'''


def _marked(where):
    return MARKED % {"where": where}


def _ext(folder, prefix, source):
    if not os.path.isdir(folder):
        os.makedirs(folder)
    return helpers.write_text(os.path.join(folder, prefix + "Commands.py"), source)


@pytest.fixture(scope="module")
def ext_pyz(tmpdir_factory, pyz):
    """A pilot.pyz built with FooCommands.py inside."""
    folder = str(tmpdir_factory.mktemp("extpyz"))
    source = _ext(os.path.join(folder, "src"), "Foo", _marked("inside"))
    return helpers.build_pyz(os.path.join(folder, "pilot.pyz"), [source])


def _plain_run(run_pilot, workdir, args, **kwargs):
    rc, out, err = run_pilot(args, workdir, **kwargs)
    assert rc == 0, "rc %s\n%s\n%s" % (rc, out, err)
    return out


# -- unit --------------------------------------------------------------------------------------

def test_module_name_rule():
    assert toolbox.module_name_for("LHCbPilot") == "LHCbPilotCommands"
    assert toolbox.module_name_for("GridPPCommands") == "GridPPCommands"


def test_core_toolbox():
    box = toolbox.Toolbox.core()
    assert "CheckWorkerNode" in box.names() and "GetPilotVersion" in box.names()
    assert box.entries["CheckWorkerNode"].origin == "core"
    for name in box.names():
        assert box.get(name).summary(), name  # every command has a one-line description


def test_plan_reports_every_unknown_name_at_once():
    box = toolbox.Toolbox.core()
    with pytest.raises(ConfigError) as info:
        box.plan(["CheckWorkerNode", "Nope1", "GetPilotVersion", "Nope2"])
    assert "Nope1" in info.value.reason and "Nope2" in info.value.reason
    assert [c.command_name() for c in box.plan(["GetPilotVersion", "CheckWorkerNode"])] == \
        ["GetPilotVersion", "CheckWorkerNode"]


def test_first_listed_extension_wins_then_core(tmpdir):
    folder = str(tmpdir)
    _ext(folder, "A", "from pilot.commands.base import Command\n\nclass Same(Command):\n    description = 'A'\n")
    _ext(folder, "B", "from pilot.commands.base import Command\n\nclass Same(Command):\n    description = 'B'\n"
                      "\n\nclass CheckWorkerNode(Command):\n    description = 'B-cwn'\n")
    logger, sink = helpers.make_logger()
    box = toolbox.Toolbox.core()
    loaded = box.load_extensions(["A", "B"], [folder], None, logger.source("Pilot"))
    assert [e.module_name for e in loaded] == ["ACommands", "BCommands"]
    assert box.get("Same").summary() == "A" and box.entries["Same"].origin == "ACommands"
    assert box.entries["Same"].overrides == "BCommands"
    assert box.get("CheckWorkerNode").summary() == "B-cwn"
    assert box.entries["CheckWorkerNode"].overrides == "core"
    assert issubclass(box.get("Same"), Command)
    assert "sha256" in sink.text()


def test_find_extension_order(tmpdir):
    first, second, beside = [str(tmpdir.mkdir(name)) for name in ("first", "second", "beside")]
    archive = os.path.join(beside, "pilot.pyz")
    _ext(second, "Foo", "# second")
    _ext(beside, "Foo", "# beside")
    source, location = toolbox.find_extension("FooCommands", [first, second], archive)
    assert location == os.path.join(second, "FooCommands.py") and source == b"# second"
    source, location = toolbox.find_extension("FooCommands", [first], archive)
    assert location == os.path.join(beside, "FooCommands.py")
    source, looked = toolbox.find_extension("BarCommands", [first], archive)
    assert source is None and first in looked and beside in looked


# -- through the real pilot.pyz ---------------------------------------------------------------

def test_extension_from_extensions_dir(run_pilot, workdir, tmpdir):
    folder = str(tmpdir.mkdir("exts"))
    path = _ext(folder, "Foo", _marked("dir"))
    out = _plain_run(run_pilot, workdir, ["-E", "Foo", "--extensions-dir", folder, "-X", "FooHello"])
    assert "FooHello from dir" in out
    assert "extension Foo: %s (sha256 " % path in out
    result = helpers.load_result(workdir)
    assert result["commands"][0]["name"] == "FooHello"
    assert result["commands"][0]["origin"] == "FooCommands"
    assert result["commands"][0]["status"] == "ok"


def test_extensions_dir_from_environment(run_pilot, workdir, tmpdir):
    folder = str(tmpdir.mkdir("envexts"))
    _ext(folder, "Foo", _marked("env dir"))
    env = helpers.clean_env({"PILOT_EXTENSIONS_DIR": folder})
    out = _plain_run(run_pilot, workdir, ["-E", "Foo", "-X", "FooHello"], env=env)
    assert "FooHello from env dir" in out


def test_extension_beside_the_pyz(run_pilot, workdir, tmpdir, pyz):
    copy = helpers.copy_pyz(str(tmpdir.join("beside")), pyz)
    _ext(os.path.dirname(copy), "Foo", _marked("beside"))
    out = _plain_run(run_pilot, workdir, ["-E", "Foo", "-X", "FooHello"], pyz_file=copy)
    assert "FooHello from beside" in out


def test_extension_inside_the_pyz(run_pilot, workdir, ext_pyz):
    out = _plain_run(run_pilot, workdir, ["-E", "Foo", "-X", "FooHello"], pyz_file=ext_pyz)
    assert "FooHello from inside" in out
    assert "extension Foo: %s/FooCommands.py" % ext_pyz in out


def test_extension_precedence_dir_beside_inside(run_pilot, workdir, tmpdir, ext_pyz):
    copy = helpers.copy_pyz(str(tmpdir.join("prec")), ext_pyz)
    folder = str(tmpdir.mkdir("dir"))
    _ext(folder, "Foo", _marked("dir"))
    out = _plain_run(run_pilot, workdir, ["-E", "Foo", "--extensions-dir", folder, "-X", "FooHello"],
                     pyz_file=copy)
    assert "FooHello from dir" in out
    _ext(os.path.dirname(copy), "Foo", _marked("beside"))
    out = _plain_run(run_pilot, workdir, ["-E", "Foo", "--extensions-dir", folder, "-X", "FooHello"],
                     pyz_file=copy)
    assert "FooHello from dir" in out
    out = _plain_run(run_pilot, workdir, ["-E", "Foo", "-X", "FooHello"], pyz_file=copy)
    assert "FooHello from beside" in out
    os.remove(os.path.join(os.path.dirname(copy), "FooCommands.py"))
    out = _plain_run(run_pilot, workdir, ["-E", "Foo", "-X", "FooHello"], pyz_file=copy)
    assert "FooHello from inside" in out


def test_extension_overrides_a_core_command(run_pilot, workdir, tmpdir):
    folder = str(tmpdir.mkdir("exts"))
    _ext(folder, "Over", OVERRIDE)
    out = _plain_run(run_pilot, workdir, ["-E", "Over", "--extensions-dir", folder, "-X", "CheckWorkerNode"])
    assert "overridden CheckWorkerNode runs" in out
    assert "Disk:" not in out  # the core command did not run
    result = helpers.load_result(workdir)
    assert result["commands"][0]["origin"] == "OverCommands"


def test_dirac_style_extension(run_pilot, workdir, tmpdir):
    folder = str(tmpdir.mkdir("exts"))
    cvmfs = str(tmpdir.mkdir("cvmfs"))
    _ext(folder, "VO", DIRAC_STYLE)
    out = _plain_run(run_pilot, workdir, ["-E", "VO", "--extensions-dir", folder, "-X", "CheckWorkerNode,VOInstall",
                                          "-Z", "k=val", "-r", "v10r2p3", "-D", "1", "-N", "ce.example.org",
                                          "--CVMFS_locations", cvmfs])
    assert "VO pre-check for ce.example.org" in out
    assert "Disk:" in out  # the core CheckWorkerNode ran through super()
    assert "VOInstall rc=0 out=from-shell 3 opt=val debug=False release=10.2.3" in out
    result = helpers.load_result(workdir)
    assert [(c["name"], c["origin"], c["status"]) for c in result["commands"]] == \
        [("CheckWorkerNode", "VOCommands", "ok"), ("VOInstall", "VOCommands", "ok")]


def test_missing_extension(run_pilot, workdir, tmpdir):
    folder = str(tmpdir.mkdir("exts"))
    rc, out, err = run_pilot(["-E", "Nope", "--extensions-dir", folder, "-X", "CheckWorkerNode"], workdir)
    helpers.assert_one_line_error(rc, 10, out, err, "extension Nope", "NopeCommands.py", folder)
    result = helpers.load_result(workdir)
    assert result["pilot"]["failure_type"] == "config"
    assert "=== " not in helpers.pilot_out(workdir)


@pytest.mark.parametrize("source,needle,line", [
    ("from pilot.commands.base import Command\n\nclass Broken(Command)\n    pass\n", "SyntaxError", "line 3"),
    ("import os\n\nraise RuntimeError('boom at import')\n", "RuntimeError: boom at import", "line 3"),
    ("import no_such_module_for_pilot_tests\n", "no_such_module_for_pilot_tests", "line 1"),
])
def test_broken_extension(run_pilot, workdir, tmpdir, source, needle, line):
    folder = str(tmpdir.mkdir("exts"))
    path = _ext(folder, "Bad", source)
    rc, out, err = run_pilot(["-E", "Bad", "--extensions-dir", folder, "-X", "CheckWorkerNode"], workdir)
    helpers.assert_one_line_error(rc, 10, out, err, "extension Bad", path, needle, line)
    assert helpers.load_result(workdir)["pilot"]["status"] == "failed"
    assert "=== " not in helpers.pilot_out(workdir)  # the core command did not run instead


def test_extension_calling_sys_exit_at_import(run_pilot, workdir, tmpdir):
    """A DIRAC-era module that exits while loading must not kill the pilot silently."""
    folder = str(tmpdir.mkdir("exts"))
    path = _ext(folder, "Exit", "import sys\nsys.exit(1)\n")
    rc, out, err = run_pilot(["-E", "Exit", "--extensions-dir", folder, "-X", "CheckWorkerNode"], workdir)
    helpers.assert_one_line_error(rc, 10, out, err, "extension Exit", path)
    assert helpers.load_result(workdir)["pilot"]["failure_type"] == "config"


def test_unknown_commands_reported_before_anything_runs(run_pilot, workdir):
    rc, out, err = run_pilot(["-X", "CheckWorkerNode,NoSuch1,GetPilotVersion,NoSuch2", "-r", "v1", "-D", "1"],
                             workdir)
    helpers.assert_one_line_error(rc, 10, out, err, "NoSuch1", "NoSuch2", "unknown command")
    log = helpers.pilot_out(workdir)
    assert "=== " not in log and "Disk:" not in log
    result = helpers.load_result(workdir)
    assert [c for c in result["commands"] if c["status"] != "not run"] == []
    assert result["pilot"]["failure_type"] == "config"


def test_list_commands(run_pilot, workdir):
    rc, out, err = run_pilot(["--list-commands"], workdir)
    assert rc == 0, out + err
    for name in ("CheckWorkerNode", "GetPilotVersion", "InstallDIRAC", "LaunchAgent", "NagiosProbes"):
        assert name in out
    assert "Not available in this toolbox" not in out  # every command of DIRAC's default list is there


def test_list_commands_with_extension(run_pilot, workdir, tmpdir):
    folder = str(tmpdir.mkdir("exts"))
    path = _ext(folder, "Foo", _marked("dir"))
    _ext(folder, "Over", OVERRIDE)
    rc, out, err = run_pilot(["--list-commands", "-E", "Foo,Over", "--extensions-dir", folder,
                              "-X", "CheckWorkerNode"], workdir)
    assert rc == 0, out + err
    rows = dict((line.split()[1 if line.startswith("*") else 0], line) for line in out.splitlines()
                if line.startswith(("* ", "  ")))
    assert "Say where this extension was loaded from." in rows["FooHello"]
    assert "[FooCommands]" in rows["FooHello"]
    assert "[OverCommands, overrides core]" in rows["CheckWorkerNode"]
    assert "[core]" in rows["GetPilotVersion"]
    assert "Extension Foo: %s (sha256 " % path in out
    assert not os.path.exists(os.path.join(workdir, "pilot.out"))


def test_list_commands_with_extension_and_default_plan(run_pilot, workdir, tmpdir):
    folder = str(tmpdir.mkdir("exts"))
    _ext(folder, "Foo", _marked("dir"))
    rc, out, err = run_pilot(["--list-commands", "-E", "Foo", "--extensions-dir", folder], workdir)
    assert rc == 0, out + err
    assert "FooHello" in out


def test_explain_shows_extension_origin(run_pilot, workdir, tmpdir):
    folder = str(tmpdir.mkdir("exts"))
    _ext(folder, "Foo", _marked("dir"))
    _ext(folder, "Over", OVERRIDE)
    rc, out, err = run_pilot(["--explain", "-E", "Foo,Over", "--extensions-dir", folder,
                              "-X", "CheckWorkerNode,FooHello"], workdir)
    assert rc == 0, out + err
    assert "1. CheckWorkerNode" in out and "[OverCommands]" in out
    assert "2. FooHello" in out and "[FooCommands]" in out
    assert helpers.explain_table(out)["commandExtensions"] == ("Foo,Over", "command line -E")


def test_extension_named_in_pilot_json(run_pilot, workdir, tmpdir):
    folder = str(tmpdir.mkdir("exts"))
    _ext(folder, "Foo", _marked("json"))
    helpers.write_json(os.path.join(workdir, "pilot.json"),
                       {"Defaults": {"Pilot": {"CommandExtensions": "Foo", "Commands": {"Defaults": "FooHello"}}}})
    out = _plain_run(run_pilot, workdir, ["--extensions-dir", folder])
    assert "FooHello from json" in out

