"""Parameter resolution (pilot/config/params.py): default < pilot.json < environment < command line."""

import os

import pytest

import helpers
import pilotjson_samples as samples
from pilot.config import options, params
from pilot.errors import ConfigError


def _write(work_dir, document, name="pilot.json"):
    return helpers.write_json(os.path.join(work_dir, name), document)


def _source(resolved, dest):
    return resolved.sources[dest]


def test_defaults_without_pilot_json(workdir):
    resolved, _ = helpers.resolve_params([], workdir)
    assert resolved.minDiskSpace == 2560 and _source(resolved, "minDiskSpace") == ("default", "")
    assert resolved.commands == options.DEFAULT_COMMANDS
    assert resolved.CVMFS_locations == ["/cvmfs/grid.cern.ch", "/cvmfs/dirac.egi.eu"]
    assert resolved.pilotJSON is None and resolved.jsonVO == "unknown"
    assert [w for w in resolved.warnings if "no pilot.json" in w]
    # a stamp is generated when none is given
    assert len(resolved.pilotUUID) == 32 and _source(resolved, "pilotUUID") == ("default", "generated")
    assert resolved.certsLocation == os.path.join(workdir, "etc/grid-security")


def test_defaults_are_fresh_copies(workdir):
    first, _ = helpers.resolve_params([], workdir)
    first.commands.append("Mutated")
    first.CVMFS_locations.append("/mutated")
    second, _ = helpers.resolve_params([], workdir)
    assert "Mutated" not in second.commands and "/mutated" not in second.CVMFS_locations
    assert "Mutated" not in options.BY_DEST["commands"].default


def test_pilot_json_beats_default_and_command_line_beats_pilot_json(workdir):
    _write(workdir, samples.new_schema())
    resolved, _ = helpers.resolve_params(["--wnVO", "gridpp"], workdir)
    assert resolved.releaseVersions == ["v9.0.3", "v9.0.2"]
    assert _source(resolved, "releaseVersions") == ("pilot.json", "/gridpp/Pilot/Version")
    assert resolved.releaseVersion == "v9.0.3"
    resolved, _ = helpers.resolve_params(["--wnVO", "gridpp", "-r", "v7.0.0", "-l", "Mine"], workdir)
    assert resolved.releaseVersions == ["v7.0.0"] and _source(resolved, "releaseVersions") == ("command line", "-r")
    assert resolved.releaseProject == "Mine" and _source(resolved, "releaseProject") == ("command line", "-l")


def test_full_precedence_chain(workdir, monkeypatch):
    """One parameter fed by all four sources (an env variable is attached for the test)."""
    monkeypatch.setattr(options.BY_DEST["releaseProject"], "env", "PILOTTEST_PROJECT")
    _write(workdir, {"Defaults": {"Pilot": {"Project": "FromJSON"}}})
    resolved, _ = helpers.resolve_params([], workdir)
    assert (resolved.releaseProject, _source(resolved, "releaseProject")[0]) == ("FromJSON", "pilot.json")
    resolved, _ = helpers.resolve_params([], workdir, environ={"PILOTTEST_PROJECT": "FromEnv"})
    assert resolved.releaseProject == "FromEnv"
    assert _source(resolved, "releaseProject") == ("environment", "$PILOTTEST_PROJECT")
    resolved, _ = helpers.resolve_params(["--project=FromCLI"], workdir, environ={"PILOTTEST_PROJECT": "FromEnv"})
    assert resolved.releaseProject == "FromCLI"
    assert _source(resolved, "releaseProject") == ("command line", "--project")
    os.remove(os.path.join(workdir, "pilot.json"))
    resolved, _ = helpers.resolve_params([], workdir)
    assert (resolved.releaseProject, _source(resolved, "releaseProject")[0]) == ("", "default")


def test_environment_values(workdir, tmpdir):
    features = tmpdir.mkdir("jobfeatures")
    features.join("allocated_cpu").write("8\n")
    environ = {"DIRAC_PILOT_VO": "gridpp", "DIRAC_PILOT_STAMP": "0123456789abcdef0123456789abcdef",
               "PILOT_EXTENSIONS_DIR": os.pathsep.join(["/a", "/b"]), "JOBFEATURES": str(features)}
    resolved, _ = helpers.resolve_params([], workdir, environ=environ)
    assert resolved.wnVO == "gridpp" and _source(resolved, "wnVO") == ("environment", "$DIRAC_PILOT_VO")
    assert resolved.pilotUUID == "0123456789abcdef0123456789abcdef"
    assert resolved.extensionsDirs == ["/a", "/b"]
    assert resolved.pilotProcessors == 8
    assert _source(resolved, "pilotProcessors") == ("environment", "$JOBFEATURES/allocated_cpu")
    resolved, _ = helpers.resolve_params(["--wnVO=dteam", "-P", "2", "--pilotUUID", "stamp-1"], workdir,
                                         environ=environ)
    assert resolved.wnVO == "dteam" and _source(resolved, "wnVO") == ("command line", "--wnVO")
    assert resolved.pilotProcessors == 2 and resolved.pilotUUID == "stamp-1"


@pytest.mark.parametrize("content", [b"zero\n", b"0\n", b"-4\n", u"\u00b2\n".encode("utf-8"), b""])
def test_bad_jobfeatures_allocated_cpu_is_ignored(workdir, tmpdir, content):
    features = tmpdir.mkdir("jobfeatures")
    helpers.write_text(str(features.join("allocated_cpu")), content)
    resolved, _ = helpers.resolve_params([], workdir, environ={"JOBFEATURES": str(features)})
    assert resolved.pilotProcessors == 1 and _source(resolved, "pilotProcessors") == ("default", "")


def test_environment_is_not_modified(workdir):
    environ = {"DIRAC_PILOT_VO": "gridpp"}
    helpers.resolve_params(["-N", "x"], workdir, environ=environ)
    assert environ == {"DIRAC_PILOT_VO": "gridpp"}


def test_bad_stamp_is_a_config_error(workdir):
    with pytest.raises(ConfigError) as info:
        helpers.resolve_params([], workdir, environ={"DIRAC_PILOT_STAMP": "bad stamp; rm -rf"})
    assert "pilot stamp" in info.value.reason


@pytest.mark.parametrize("argv,environ,vo,origin", [
    (["--wnVO=gridpp"], {}, "gridpp", "/gridpp/Pilot/Version"),
    ([], {"DIRAC_PILOT_VO": "gridpp"}, "gridpp", "/gridpp/Pilot/Version"),
    (["--wnVO=dteam"], {"DIRAC_PILOT_VO": "gridpp"}, "dteam", "/dteam/Production/Pilot/Version"),
    ([], {}, "unknown", "/Production/Pilot/Version"),
])
def test_vo_selects_the_sections(workdir, argv, environ, vo, origin):
    _write(workdir, samples.new_schema())
    resolved, _ = helpers.resolve_params(argv, workdir, environ=environ)
    assert resolved.jsonVO == vo
    assert _source(resolved, "releaseVersions") == ("pilot.json", origin)


def test_vo_source_is_recorded(workdir):
    _write(workdir, samples.new_schema())
    resolved, _ = helpers.resolve_params([], workdir, environ={"DIRAC_PILOT_VO": "gridpp"})
    assert resolved.jsonVOSource == "environment"
    resolved, _ = helpers.resolve_params(["--wnVO=gridpp"], workdir, environ={"DIRAC_PILOT_VO": "x"})
    assert resolved.jsonVOSource == "command line"


def test_ce_values_and_their_overrides(workdir):
    _write(workdir, samples.old_schema())
    resolved, _ = helpers.resolve_params(["-N", "ce1.example.org", "-Q", "long"], workdir)
    assert resolved.site == "LCG.Example.org"
    assert resolved.gridCEType == "HTCondorCE"
    assert resolved.ceType == "Pool/Singularity"
    assert _source(resolved, "ceType") == ("pilot.json", "/CEs/ce1.example.org/long/LocalCEType")
    assert resolved.commands == ["CheckWorkerNode", "GetPilotVersion"]
    resolved, _ = helpers.resolve_params(["-N", "ce1.example.org", "-Q", "long", "-n", "LCG.Mine.org",
                                          "-a", "ARC", "-y", "InProcess"], workdir)
    assert resolved.site == "LCG.Mine.org" and _source(resolved, "site") == ("command line", "-n")
    assert resolved.gridCEType == "ARC"
    assert resolved.ceType == "InProcess"
    # -a picks the command list: LHCb-Production has no ARC entry, its Defaults apply
    assert _source(resolved, "commands") == ("pilot.json", "/Setups/LHCb-Production/Commands/Defaults")


def test_default_setup_and_dash_S(workdir):
    _write(workdir, samples.old_schema())
    resolved, _ = helpers.resolve_params([], workdir)
    assert resolved.setup == "LHCb-Production" and _source(resolved, "setup") == ("pilot.json", "/DefaultSetup")
    resolved, _ = helpers.resolve_params(["-S", "LHCb-Certification"], workdir)
    assert resolved.setup == "LHCb-Certification"
    assert resolved.releaseVersions == ["v10r3-pre4"]
    assert resolved.configServer == ["dips://defaults-cs.example.org:9135/Configuration/Server"]


def test_configuration_servers_string(workdir):
    _write(workdir, samples.new_schema())
    resolved, _ = helpers.resolve_params([], workdir)
    assert resolved.configServer == [samples.CS1, samples.CS2]
    resolved, _ = helpers.resolve_params(["-C", "dips://mine:9135/Configuration/Server"], workdir)
    assert resolved.configServer == ["dips://mine:9135/Configuration/Server"]


def test_string_values_are_parsed(workdir):
    _write(workdir, samples.new_schema())
    resolved, _ = helpers.resolve_params(["--wnVO=gridpp", "-N", "ce1.example.org"], workdir)
    assert resolved.pilotLogging is True                  # "True"
    assert resolved.releaseVersions == ["v9.0.3", "v9.0.2"]  # "v9.0.3, v9.0.2"
    assert resolved.loggerTimerInterval == 30             # "30"
    assert resolved.debugFlag is False                    # PilotLogLevel INFO
    resolved, _ = helpers.resolve_params(["--wnVO=dteam"], workdir)
    assert resolved.debugFlag is True                     # PilotLogLevel "debug"


def test_remote_logger_whitelist_turns_logging_off(workdir):
    _write(workdir, samples.new_schema())
    resolved, _ = helpers.resolve_params(["--wnVO=gridpp", "-N", "ce1.example.org"], workdir)
    assert resolved.pilotLogging is True
    resolved, _ = helpers.resolve_params(["--wnVO=gridpp", "-N", "other.example.org"], workdir)
    assert resolved.pilotLogging is False
    assert _source(resolved, "pilotLogging") == ("pilot.json", "RemoteLoggerCEsWhiteList")
    assert [w for w in resolved.warnings if "RemoteLoggerCEsWhiteList" in w]
    # -g URL alone does not beat the white list (DIRAC: -g only sets the URL)
    resolved, _ = helpers.resolve_params(["--wnVO=gridpp", "-N", "other.example.org", "-g", "https://l.test/"],
                                         workdir)
    assert resolved.pilotLogging is False


def test_option_z_wins_over_the_remote_logger_whitelist(workdir):
    """DIRAC reads the command line after pilot.json: -z turns remote logging back on."""
    _write(workdir, samples.new_schema())
    for extra in (["-z"], ["-g", "https://l.test/", "-z"], ["--pilotLogging"]):
        resolved, _ = helpers.resolve_params(["--wnVO=gridpp", "-N", "other.example.org"] + extra, workdir)
        assert resolved.pilotLogging is True, extra
        assert _source(resolved, "pilotLogging")[0] == "command line"
        assert not [w for w in resolved.warnings if "RemoteLoggerCEsWhiteList" in w]


def test_reported_parameters(workdir):
    resolved, _ = helpers.resolve_params(["-N", "ce", "-r", "v1,v2", "-X", "CheckWorkerNode"], workdir)
    reported = resolved.reported()
    assert reported["ceName"] == "ce" and reported["releaseVersion"] == "v1"
    assert reported["commands"] == ["CheckWorkerNode"]
    for dest in ("setup", "site", "wnVO", "pilotUUID", "configServer", "commandExtensions"):
        assert dest in reported


@pytest.mark.parametrize("version,expected", [
    ("v10r2p3-pre4", "10.2.3a4"),
    ("v10r2p3", "10.2.3"),
    ("v10r2", "10.2.0"),
    ("v7r0-pre12", "7.0.0a12"),
    ("v9.0.3", "9.0.3"),
    ("9.0.3", "9.0.3"),
    ("9.0", "9.0.0"),
    ("10.0.0a3", "10.0.0a3"),
    ("DIRAC[pilot]==9.0.3", "DIRAC[pilot]==9.0.3"),
    ("integration", "integration"),
    ("", ""),
])
def test_pep440_version(version, expected):
    assert params.pep440_version(version) == expected


# -- --explain through the real pilot.pyz ---------------------------------------------------------

def test_pyz_explain_shows_sources(run_pilot, workdir):
    _write(workdir, samples.new_schema(extensions=False))
    env = helpers.clean_env({"DIRAC_PILOT_VO": "gridpp"})
    rc, out, err = run_pilot(["--explain", "-N", "ce1.example.org", "-D", "100", "-X", "GetPilotVersion"],
                             workdir, env=env)
    assert rc == 0, out + err
    table = helpers.explain_table(out)
    assert table["releaseVersions"] == ("v9.0.3,v9.0.2", "pilot.json /gridpp/Pilot/Version")
    assert table["site"] == ("LCG.Example.org", "pilot.json /CEs/ce1.example.org/Site")
    assert table["wnVO"] == ("gridpp", "environment $DIRAC_PILOT_VO")
    assert table["ceName"] == ("ce1.example.org", "command line -N")
    assert table["minDiskSpace"] == ("100", "command line -D")
    assert table["maxCycles"] == ("10", "default")
    assert table["configServer"][1] == "pilot.json /ConfigurationServers"
    assert "VO used for its sections: gridpp [environment]" in out
    assert "new (Operations) schema" in out
    assert "1. GetPilotVersion" in out
    assert "Nothing was run" in out
    # --explain runs nothing and leaves the work directory alone
    assert sorted(os.listdir(workdir)) == ["pilot.json"]


def test_pyz_dry_run_is_explain(run_pilot, workdir):
    rc, out, err = run_pilot(["--dry-run", "-X", "CheckWorkerNode,GetPilotVersion", "-r", "v1"], workdir)
    assert rc == 0, out + err
    assert "1. CheckWorkerNode" in out and "2. GetPilotVersion" in out
    assert helpers.explain_table(out)["releaseVersions"] == ("v1", "command line -r")
    assert os.listdir(workdir) == []


def test_generated_stamps_are_uuid4_hex():
    import uuid

    from pilot.config.params import new_stamp

    stamps = set(new_stamp() for _ in range(50))
    assert len(stamps) == 50
    for stamp in stamps:
        assert len(stamp) == 32 and uuid.UUID(stamp).version == 4 and uuid.UUID(stamp).hex == stamp
