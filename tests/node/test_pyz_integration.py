"""The real pilot.pyz end to end: the relative-path trap, every interpreter of the machine."""

import os
import re
import sys
import zipfile

import pytest

import helpers

TRAP = '''
import os
import sys

from pilot.commands.base import Command

KEEP = []  # Python 2 empties the globals of a module object that is freed: keep the old ones


class Trap(Command):
    """Leave the start directory, then import pilot modules that were not imported yet."""

    def execute(self):
        os.chdir("/")
        for name in ("pilot.config.fetch", "pilot.config.pilotjson"):
            KEEP.append(sys.modules.pop(name, None))
        import pilotCommands
        import pilotTools
        import pilot.config.fetch
        import pilot.config.pilotjson
        import compat
        data = compat.get_data("pilot", "__init__.py")
        self.log.info("TRAP-OK %s %s %d %s" % (pilotCommands.__name__, pilotTools.CommandBase.__name__,
                                               len(data), pilot.config.fetch.is_url("http://x")))
'''


def _trap_setup(base, pyz):
    """<base>/sub/pilot.pyz with TrapCommands.py beside it."""
    copy = helpers.copy_pyz(os.path.join(base, "sub"), pyz)
    helpers.write_text(os.path.join(base, "sub", "TrapCommands.py"), TRAP)
    return copy


def _run_trap(base, python):
    return helpers.run([python, os.path.join("sub", "pilot.pyz"), "-E", "Trap", "-X", "Trap,GetPilotVersion",
                        "-r", "v1"], base, timeout=60)


def test_relative_path_trap(workdir, pyz):
    _trap_setup(workdir, pyz)
    rc, out, err = _run_trap(workdir, sys.executable)
    assert rc == 0, out + err
    assert "TRAP-OK pilotCommands Command " in out
    result = helpers.load_result(workdir)  # written in the start directory, not in /
    assert [c["status"] for c in result["commands"]] == ["ok", "ok"]
    assert not os.path.exists("/pilot_result.json") or os.path.getmtime("/pilot_result.json") < \
        os.path.getmtime(os.path.join(workdir, "pilot_result.json"))


def test_relative_invocation_finds_extension_beside(workdir, pyz):
    _trap_setup(workdir, pyz)
    rc, out, err = helpers.run([sys.executable, "sub/pilot.pyz", "--list-commands", "-E", "Trap",
                                "-X", "Trap"], workdir)
    assert rc == 0, out + err
    assert "Extension Trap: %s" % os.path.join(workdir, "sub", "TrapCommands.py") in out


def test_path_with_spaces(tmpdir, pyz):
    base = str(tmpdir.mkdir("with space"))
    copy = helpers.copy_pyz(os.path.join(base, "pilot dir"), pyz)
    work = os.path.join(base, "work dir")
    os.makedirs(work)
    rc, out, err = helpers.run_pilot(["-X", "GetPilotVersion", "-r", "v1"], work, pyz=copy)
    assert rc == 0, out + err
    assert os.path.isfile(os.path.join(work, "pilot_result.json"))


def test_stdin_from_a_wrapper_does_not_block(run_pilot, workdir):
    log = "2024-01-01T00:00:00,000000Z INFO     [Wrapper] line\n" * 2000
    rc, out, err = run_pilot(["-X", "GetPilotVersion", "-r", "v1"], workdir, stdin=log, timeout=60)
    assert rc == 0, out + err


def test_pyz_layout(pyz):
    archive = zipfile.ZipFile(pyz)
    try:
        names = archive.namelist()
        assert archive.testzip() is None
    finally:
        archive.close()
    assert sorted(names) == ["__main__.py", "pilot.bz2", "pilot.idx", "pilot/__init__.py", "pyzimport.py"]
    sys.path.insert(0, os.path.join(helpers.PILOT_SRC, "pilot", "_pyzroot"))
    try:
        import pyzimport
    finally:
        del sys.path[0]
    modules = pyzimport.BlobImporter(pyz, lambda member: archive_member(pyz, member)).modules
    for name, path, package in (("pilotCommands", "pilotCommands.py", False), ("pilotTools", "pilotTools.py", False),
                                ("compat", "compat/__init__.py", True), ("compat.net", "compat/net.py", False),
                                ("pilot.cli", "pilot/cli.py", False), ("pilot.commands", "pilot/commands/__init__.py", True),
                                ("pilot.commands.base", "pilot/commands/base.py", False)):
        assert (modules[name][0], modules[name][3]) == (path, package), name
    assert "six" not in modules  # compat does without it (pilotctl build --with-six adds it)
    assert [n for n in names if n.startswith("pilot_server")] == []  # the server side never ships
    data = helpers.read_bytes(pyz)
    assert data[-22:].startswith(b"PK\x05\x06")  # nothing appended after the zip


def test_no_module_the_pyz_ships_imports_six():
    """The pyz carries no six (above): a module importing it fails on a node without six, which
    a real pilot run here would not show where the test interpreter has six installed."""
    import ast

    found = []
    for top in (os.path.join(helpers.PILOT_SRC, "pilot"), os.path.join(helpers.REPO, "compat")):
        for folder, _, names in os.walk(top):
            for name in sorted(n for n in names if n.endswith(".py")):
                path = os.path.join(folder, name)
                for node in ast.walk(ast.parse(helpers.read_bytes(path), path)):
                    if isinstance(node, ast.Import):
                        modules = [alias.name for alias in node.names]
                    elif isinstance(node, ast.ImportFrom):
                        modules = [node.module or ""]
                    else:
                        continue
                    if [module for module in modules if module.split(".")[0] == "six"]:
                        found.append("%s:%d" % (os.path.relpath(path, helpers.REPO), node.lineno))
    assert found == []


def archive_member(pyz, name):
    archive = zipfile.ZipFile(pyz)
    try:
        return archive.read(name)
    finally:
        archive.close()


# -- every interpreter of the machine -------------------------------------------------------------

@pytest.fixture(params=list(helpers.MATRIX))
def interpreter(request):
    python = helpers.find_interpreter(request.param)
    if python is None:
        pytest.skip("Python %s is not installed on this machine (looked in $(pyenv root)/versions, "
                    "on PATH and where .ci/provision-python27.sh and provision-python26.sh put them)"
                    % request.param)
    return request.param, python


def test_matrix_version_and_usage_error(interpreter, workdir, pyz):
    version, python = interpreter
    rc, out, err = helpers.run_pilot(["--version"], workdir, python=python, pyz=pyz)
    assert rc == 0, err
    assert re.search(r"\(Python %s(\.|rc)" % re.escape(version), out), out  # a release candidate: 2.6rc2
    rc, out, err = helpers.run_pilot(["--no-such-option"], workdir, python=python, pyz=pyz)
    helpers.assert_one_line_error(rc, 2, out, err, "unknown option --no-such-option")


def test_matrix_real_run_with_relative_path_trap(interpreter, workdir, pyz, tmpdir):
    version, python = interpreter
    _trap_setup(workdir, pyz)
    helpers.write_json(os.path.join(workdir, "pilot.json"),
                       {"Defaults": {"Pilot": {"Version": "v9.0.3, v9.0.2"}}, "CEs": {}})
    rc, out, err = helpers.run([python, os.path.join("sub", "pilot.pyz"), "-E", "Trap", "-X",
                                "Trap,GetPilotVersion,CheckWorkerNode", "-D", "1", "--CVMFS_locations",
                                str(tmpdir.mkdir("cvmfs")), "-o", u"/LocalSite/Name=caf\u00e9"],
                               workdir, env=helpers.clean_env({"PYTHONIOENCODING": "utf-8"}), timeout=60)
    assert rc == 0, "Python %s: rc %s\n%s\n%s" % (version, rc, out, err)
    assert "TRAP-OK" in out
    result = helpers.load_result(workdir)
    assert re.match(r"%s(\.|rc)" % re.escape(version), result["pilot"]["python"])
    assert [c["status"] for c in result["commands"]] == ["ok", "ok", "ok"]
    assert result["parameters"]["releaseVersions"]["value"] == ["v9.0.3", "v9.0.2"]
    bad = [line for line in helpers.pilot_out(workdir).splitlines() if not helpers.LOG_LINE.match(line)]
    assert bad == []


@pytest.mark.parametrize("locale,argument", [
    ("C", u"/LocalSite/Name=caf\u00e9"),         # C locale: Python 3.6 decodes argv as ASCII
    (None, b"/LocalSite/Name=caf\xe9"),          # not UTF-8 at all (Latin-1 byte)
])
def test_matrix_non_ascii_argument_keeps_the_log(interpreter, workdir, pyz, locale, argument):
    version, python = interpreter
    env = helpers.clean_env({"LC_ALL": locale, "LANG": locale} if locale else None)
    rc, out, err = helpers.run_pilot(["-X", "GetPilotVersion", "-r", "v1", "-o", argument], workdir,
                                     env=env, python=python, pyz=pyz)
    assert rc == 0, out + err
    assert "dropped" not in err, "Python %s: %s" % (version, err)
    log = helpers.pilot_out(workdir)
    assert len(log.splitlines()) == len(out.splitlines())
    assert "Pilot exit code 0 (OK)" in log


def test_matrix_bad_pilot_json(interpreter, workdir, pyz):
    version, python = interpreter
    helpers.write_text(os.path.join(workdir, "pilot.json"), b"{\"Setups\": ")
    rc, out, err = helpers.run_pilot(["-X", "GetPilotVersion"], workdir, python=python, pyz=pyz)
    helpers.assert_one_line_error(rc, 10, out, err, os.path.join(workdir, "pilot.json"), "not valid JSON")
