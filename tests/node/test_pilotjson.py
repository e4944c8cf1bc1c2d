"""pilot.json (pilot/config/pilotjson.py): both DIRAC schemas, bad files, URL lists."""

import json
import os

import pytest

import helpers
import pilotjson_samples as samples
from pilot.config import pilotjson
from pilot.errors import ConfigError


def _extract(document, setup="", vo="unknown", ce="", queue="", grid_ce_type=""):
    return pilotjson.extract(document, "/x/pilot.json", setup, vo, ce, queue, grid_ce_type)


def _value(found, dest):
    assert dest in found.values, "%s not found in %s" % (dest, sorted(found.values))
    return found.values[dest]


# -- schema detection ------------------------------------------------------------------------

def test_schema_detection():
    assert pilotjson.schema_of(samples.old_schema()).startswith("old")
    assert pilotjson.schema_of(samples.new_schema()).startswith("new")


# -- the old schema (Setups) -------------------------------------------------------------------

@pytest.mark.parametrize("setup,ce,grid,expected,path", [
    ("", "ce1.example.org", "", ["CheckWorkerNode", "GetPilotVersion"],
     "/Setups/LHCb-Production/Commands/HTCondorCE"),
    ("", "cream.example.org", "", ["GetPilotVersion", "CheckWorkerNode", "InstallDIRAC"],
     "/Setups/LHCb-Production/Commands/Defaults"),
    ("LHCb-Production", "ce1.example.org", "ARC", ["GetPilotVersion", "CheckWorkerNode", "InstallDIRAC"],
     "/Setups/LHCb-Production/Commands/Defaults"),
    ("LHCb-Certification", "arc.example.org", "", ["CheckWorkerNode"], "/Setups/Defaults/Commands/ARC"),
    # DIRAC's fourth lookup can never succeed; here Setups.Defaults.Commands.Defaults is reachable.
    ("LHCb-Certification", "cream.example.org", "", ["GetPilotVersion"], "/Setups/Defaults/Commands/Defaults"),
    ("NoSuchSetup", "", "", ["GetPilotVersion"], "/Setups/Defaults/Commands/Defaults"),
])
def test_old_schema_commands(setup, ce, grid, expected, path):
    found = _extract(samples.old_schema(), setup=setup, ce=ce, grid_ce_type=grid)
    assert _value(found, "commands") == (expected, path)


def test_old_schema_setup_values_then_defaults():
    found = _extract(samples.old_schema())  # DefaultSetup LHCb-Production
    assert _value(found, "setup") == ("LHCb-Production", "/DefaultSetup")
    assert _value(found, "releaseVersions") == (["v10r2p3", "v10r2p2"], "/Setups/LHCb-Production/Version")
    assert _value(found, "releaseProject") == ("LHCb", "/Setups/LHCb-Production/Project")
    assert _value(found, "commandExtensions") == (["LHCbPilot"], "/Setups/LHCb-Production/CommandExtensions")
    found = _extract(samples.old_schema(), setup="LHCb-Certification")
    assert "setup" not in found.values  # given, so DefaultSetup is not used
    assert _value(found, "releaseVersions") == (["v10r3-pre4"], "/Setups/LHCb-Certification/Version")
    assert _value(found, "releaseProject") == ("DIRAC", "/Setups/Defaults/Project")
    assert _value(found, "commandExtensions") == (["DefaultPilot"], "/Setups/Defaults/CommandExtensions")
    assert _value(found, "nagiosProbes") == (["probe1", "probe2"], "/Setups/Defaults/NagiosProbes")
    assert _value(found, "nagiosPutURL")[0] == "https://nagios.example.org/put/"


def test_old_schema_configuration_servers():
    # Setups.<setup>.ConfigurationServer overrides the top-level ConfigurationServers ...
    found = _extract(samples.old_schema())
    assert _value(found, "configServer") == (["dips://lhcb-conf.cern.ch:9135/Configuration/Server"],
                                             "/Setups/LHCb-Production/ConfigurationServer")
    # ... else Setups.Defaults.ConfigurationServer ...
    found = _extract(samples.old_schema(), setup="LHCb-Certification")
    assert _value(found, "configServer") == (["dips://defaults-cs.example.org:9135/Configuration/Server"],
                                             "/Setups/Defaults/ConfigurationServer")
    # ... else the top-level list.
    document = samples.old_schema()
    del document["Setups"]["Defaults"]["ConfigurationServer"]
    found = _extract(document, setup="LHCb-Certification")
    assert _value(found, "configServer") == ([samples.CS1, samples.CS2], "/ConfigurationServers")


def test_old_schema_reads_no_logging_or_cvmfs_settings():
    found = _extract(samples.old_schema())
    assert "pilotLogging" not in found.values
    assert "CVMFS_locations" not in found.values


# -- the new schema (Operations-shaped) ------------------------------------------------------------

MERGE_PATHS = [
    ("/gridpp/Pilot", ["gridpp", "Pilot"]),
    ("/gridpp/Production/Pilot", ["gridpp", "Production", "Pilot"]),
    ("/gridpp/Defaults/Pilot", ["gridpp", "Defaults", "Pilot"]),
    ("/Production/Pilot", ["Production", "Pilot"]),
    ("/Defaults/Pilot", ["Defaults", "Pilot"]),
]


@pytest.mark.parametrize("removed", [0, 1, 2, 3, 4])
def test_new_schema_merge_order(removed):
    """/Defaults/Pilot < /<setup>/Pilot < /<vo>/Defaults/Pilot < /<vo>/<setup>/Pilot < /<vo>/Pilot."""
    document = {"DefaultSetup": "Production"}
    for label, path in MERGE_PATHS:
        node = document
        for key in path:
            node = node.setdefault(key, {})
        node["Version"] = "v-" + label.strip("/").replace("/", "-")
    # Remove the `removed` strongest sections: the next one must win.
    for label, path in MERGE_PATHS[:removed]:
        node = document
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]["Version"]
    found = _extract(document, vo="gridpp")
    label = MERGE_PATHS[removed][0]
    assert _value(found, "releaseVersions") == (["v-" + label.strip("/").replace("/", "-")], label + "/Version")


def test_setup_less_vo_section_beats_the_setup_one():
    merged = pilotjson.merged_pilot_options(samples.new_schema(), "Production", "gridpp")
    assert merged["Version"] == ("v9.0.3, v9.0.2", "/gridpp/Pilot")
    assert merged["CVMFS_locations"][1] == "/gridpp/Production/Pilot"
    assert merged["Project"] == ("GridPP", "/gridpp/Defaults/Pilot")
    assert merged["CommandExtensions"] == ("ProdPilot", "/Production/Pilot")
    assert merged["UploadSE"] == ("CERN-DST", "/Defaults/Pilot")


def test_new_schema_values_for_a_vo():
    found = _extract(samples.new_schema(), vo="gridpp", ce="ce1.example.org", queue="long")
    assert _value(found, "setup") == ("Production", "/DefaultSetup")
    assert _value(found, "releaseVersions") == (["v9.0.3", "v9.0.2"], "/gridpp/Pilot/Version")
    assert _value(found, "releaseProject") == ("GridPP", "/gridpp/Defaults/Pilot/Project")
    assert _value(found, "CVMFS_locations")[0] == ["/cvmfs/gridpp.example.org", "/cvmfs/dirac.egi.eu"]
    assert _value(found, "pilotLogging") == (True, "/gridpp/Pilot/RemoteLogging")
    assert _value(found, "loggerURL")[0] == "https://logbook.example.org/pilots"
    assert _value(found, "loggerTimerInterval")[0] == 30
    assert _value(found, "loggerBufsize")[0] == 100
    assert _value(found, "loggerCEsWhiteList")[0] == ["ce1.example.org", "ce2.example.org"]
    assert _value(found, "preferredURLPatterns") == (["*.cern.ch", "*.example.org"], "/PreferredURLPatterns")
    # A later Commands dict replaces an earlier one whole (shallow merge): the HTCondorCE
    # entry of /Defaults/Pilot is gone, /gridpp/Pilot's Defaults applies.
    assert _value(found, "commands") == (["CheckWorkerNode"], "/gridpp/Pilot/Commands/Defaults")


def test_new_schema_commands_per_grid_ce_type_then_defaults():
    found = _extract(samples.new_schema(), vo="dteam", ce="ce1.example.org")
    assert _value(found, "commands") == (["CheckWorkerNode"], "/Defaults/Pilot/Commands/HTCondorCE")
    found = _extract(samples.new_schema(), vo="dteam", ce="arc.example.org")
    assert _value(found, "commands") == (["GetPilotVersion", "CheckWorkerNode"], "/Defaults/Pilot/Commands/Defaults")
    assert _value(found, "releaseVersions") == (["v9.1.0"], "/dteam/Production/Pilot/Version")
    assert _value(found, "pilotLogLevel")[0] == "debug"


def test_new_schema_without_vo_or_setup():
    found = _extract(samples.new_schema(), vo="unknown")
    assert _value(found, "releaseVersions") == (["v8.0.1"], "/Production/Pilot/Version")
    found = _extract(samples.new_schema(), setup="Other", vo="unknown")
    assert _value(found, "releaseVersions") == (["v8.0.0"], "/Defaults/Pilot/Version")
    assert _value(found, "pilotLogging") == (False, "/Defaults/Pilot/RemoteLogging")


def test_configuration_servers_string_is_not_split_into_characters():
    found = _extract(samples.new_schema())
    assert _value(found, "configServer") == ([samples.CS1, samples.CS2], "/ConfigurationServers")
    document = samples.new_schema()
    document["ConfigurationServers"] = samples.CS1
    assert _value(_extract(document), "configServer")[0] == [samples.CS1]


@pytest.mark.parametrize("queue,expected,path", [
    ("long", "Pool/Singularity", "/CEs/ce1.example.org/long/LocalCEType"),
    ("short", "Pool", "/CEs/ce1.example.org/LocalCEType"),
    ("", "Pool", "/CEs/ce1.example.org/LocalCEType"),
])
def test_ce_section(queue, expected, path):
    found = _extract(samples.new_schema(), ce="ce1.example.org", queue=queue)
    assert _value(found, "site") == ("LCG.Example.org", "/CEs/ce1.example.org/Site")
    assert _value(found, "gridCEType") == ("HTCondorCE", "/CEs/ce1.example.org/GridCEType")
    assert _value(found, "ceType") == (expected, path)


def test_unknown_ce_reads_nothing_from_ces():
    found = _extract(samples.new_schema(), ce="other.example.org")
    for dest in ("site", "gridCEType", "ceType"):
        assert dest not in found.values


def test_document_is_never_modified():
    for document in (samples.old_schema(), samples.new_schema()):
        before = json.dumps(document, sort_keys=True)
        _extract(document, setup="Nope", vo="novo", ce="ce1.example.org", queue="long")
        _extract(document, vo="gridpp", ce="nope")
        assert json.dumps(document, sort_keys=True) == before


# -- values and bad documents (unit) -------------------------------------------------------------

@pytest.mark.parametrize("data,needle", [
    (b"{\"Setups\": {", "not valid JSON"),
    (b"", "not valid JSON"),
    (b"[1, 2]", "the top level is a list"),
    (b"\"text\"", "the top level is a string"),
])
def test_parse_rejects(data, needle):
    with pytest.raises(ConfigError) as info:
        pilotjson.parse(data, "/some/pilot.json")
    assert "/some/pilot.json" in info.value.reason and needle in info.value.reason
    assert info.value.failure_type == "config"


@pytest.mark.parametrize("document,needle", [
    ({"Setups": []}, "/Setups"),
    ({"Defaults": {"Pilot": {"Version": {"v": 1}}}}, "/Defaults/Pilot/Version"),
    ({"Defaults": {"Pilot": {"RemoteLogging": "maybe"}}}, "/Defaults/Pilot/RemoteLogging"),
    ({"Defaults": {"Pilot": {"RemoteLoggerBufsize": "many"}}}, "/Defaults/Pilot/RemoteLoggerBufsize"),
    ({"Defaults": {"Pilot": {"RemoteLoggerBufsize": u"\u00b2"}}}, "/Defaults/Pilot/RemoteLoggerBufsize"),
    ({"Defaults": {"Pilot": {"Project": ["a"]}}}, "/Defaults/Pilot/Project"),
    ({"ConfigurationServers": {"a": 1}}, "/ConfigurationServers"),
    ({"Setups": {"Defaults": {"Version": [["v1"]]}}}, "/Setups/Defaults/Version"),
    ({"Defaults": {"Pilot": {"Commands": 5}}}, "/Defaults/Pilot/Commands"),
    ({"Defaults": {"Pilot": {"Commands": {"Defaults": 7}}}}, "/Defaults/Pilot/Commands/Defaults"),
    ({"Setups": {"Defaults": {"Commands": 5}}}, "/Setups/Defaults/Commands"),
])
def test_wrong_types_name_the_path(document, needle):
    with pytest.raises(ConfigError) as info:
        _extract(document)
    assert "/x/pilot.json" in info.value.reason and needle in info.value.reason


# -- through the real pilot.pyz ------------------------------------------------------------------

BAD_FILES = [
    ("malformed", b"{\"Setups\": {\"Defaults\": ", "not valid JSON"),
    ("empty", b"", "not valid JSON"),
    ("list", b"[{\"Setups\": {\"a\": 1}}]", "top level"),
    ("setups-list", b"{\"Setups\": [\"a\"]}", "/Setups"),
    ("version-object", b"{\"Defaults\": {\"Pilot\": {\"Version\": {\"a\": 1}}}}", "/Defaults/Pilot/Version"),
    ("cs-object", b"{\"ConfigurationServers\": {\"a\": 1}}", "/ConfigurationServers"),
    ("commands-number-new", b"{\"Defaults\": {\"Pilot\": {\"Commands\": 5}}}", "/Defaults/Pilot/Commands"),
    ("commands-number-old", b"{\"Setups\": {\"Defaults\": {\"Commands\": 5}}}", "/Setups/Defaults/Commands"),
]


def _assert_config_failure(work_dir, rc, out, err, path, needle):
    line = helpers.assert_one_line_error(rc, 10, out, err, path, needle)
    result = helpers.load_result(work_dir)
    assert result["pilot"]["status"] == "failed"
    assert result["pilot"]["failure_type"] == "config"
    assert result["pilot"]["exit_code"] == 10
    assert [c for c in result["commands"] if c["status"] != "not run"] == []
    assert "=== " not in helpers.pilot_out(work_dir)  # no command started
    return line


@pytest.mark.parametrize("name,data,needle", BAD_FILES)
def test_pyz_bad_pilot_json(run_pilot, workdir, name, data, needle):
    path = os.path.join(workdir, "cfg", "bad.json")
    os.makedirs(os.path.dirname(path))
    helpers.write_text(path, data)
    rc, out, err = run_pilot(["-F", "cfg/bad.json", "-N", "ce1.example.org"], workdir)
    _assert_config_failure(workdir, rc, out, err, path, needle)


def test_pyz_bad_default_pilot_json(run_pilot, workdir):
    helpers.write_text(os.path.join(workdir, "pilot.json"), b"{oops")
    rc, out, err = run_pilot(["-X", "GetPilotVersion", "-r", "v1"], workdir)
    _assert_config_failure(workdir, rc, out, err, os.path.join(workdir, "pilot.json"), "not valid JSON")


def test_pyz_missing_pilot_json_given_with_F(run_pilot, workdir):
    rc, out, err = run_pilot(["-F", "nothere.json", "-X", "GetPilotVersion", "-r", "v1"], workdir)
    _assert_config_failure(workdir, rc, out, err, os.path.join(workdir, "nothere.json"), "cannot read")


@pytest.mark.skipif(os.geteuid() == 0, reason="running as root: chmod 000 does not stop root from reading")
def test_pyz_unreadable_pilot_json(run_pilot, workdir):
    path = helpers.write_json(os.path.join(workdir, "pilot.json"), samples.new_schema(extensions=False))
    os.chmod(path, 0)
    rc, out, err = run_pilot(["-X", "GetPilotVersion"], workdir)
    _assert_config_failure(workdir, rc, out, err, path, "cannot read")


def test_pyz_missing_default_pilot_json_is_a_warning(run_pilot, workdir):
    rc, out, err = run_pilot(["-X", "GetPilotVersion", "-r", "v9.0.1"], workdir)
    assert rc == 0, out + err
    warnings = [line for line in out.splitlines() if " WARNING " in line and "no pilot.json" in line]
    assert len(warnings) == 1, out


def test_pyz_pilot_json_from_url_list(run_pilot, workdir, http_server):
    http_server.put("pilot.json", json.dumps(samples.new_schema(extensions=False)))
    dead = "http://127.0.0.1:%d/pilot.json" % helpers.free_port()
    missing = http_server.url("missing/pilot.json")
    urls = ",".join([dead, missing, http_server.url("pilot.json")])
    rc, out, err = run_pilot(["-F", urls, "--wnVO=gridpp", "-X", "GetPilotVersion"], workdir)
    assert rc == 0, out + err
    assert "pilot.json read from %s" % http_server.url("pilot.json") in out
    result = helpers.load_result(workdir)
    assert result["parameters"]["releaseVersions"]["value"] == ["v9.0.3", "v9.0.2"]
    assert result["parameters"]["releaseVersions"]["source"] == "pilot.json"
    assert "/missing/pilot.json" in http_server.requests


def test_pyz_pilot_json_from_file_url(run_pilot, workdir, tmpdir):
    path = helpers.write_json(str(tmpdir.join("published.json")), samples.old_schema(extensions=False))
    rc, out, err = run_pilot(["-F", "file://" + path, "-X", "GetPilotVersion"], workdir)
    assert rc == 0, out + err
    assert helpers.load_result(workdir)["parameters"]["releaseVersions"]["value"] == ["v10r2p3", "v10r2p2"]


def test_pyz_pilot_json_all_urls_dead(run_pilot, workdir):
    urls = ",".join("http://127.0.0.1:%d/pilot.json" % helpers.free_port() for _ in range(2))
    rc, out, err = run_pilot(["-F", urls, "-X", "GetPilotVersion", "-r", "v1"], workdir, timeout=90)
    line = helpers.assert_one_line_error(rc, 13, out, err, "pilot.json")
    assert "Traceback" not in line
    result = helpers.load_result(workdir)
    assert result["pilot"]["failure_type"] == "network"
    assert result["pilot"]["status"] == "failed"


def test_pyz_pilot_json_over_https_with_ca(run_pilot, workdir, https_server, certs):
    https_server.put("pilot.json", json.dumps(samples.old_schema(extensions=False)))
    env = helpers.clean_env({"X509_CERT_DIR": certs.ca_dir})
    rc, out, err = run_pilot(["-F", https_server.url("pilot.json"), "-X", "GetPilotVersion"], workdir, env=env)
    assert rc == 0, out + err
    result = helpers.load_result(workdir)
    assert result["parameters"]["releaseVersions"]["value"] == ["v10r2p3", "v10r2p2"]


def test_pyz_pilot_json_over_https_without_ca_is_rejected(run_pilot, workdir, https_server):
    https_server.put("pilot.json", json.dumps(samples.old_schema(extensions=False)))
    rc, out, err = run_pilot(["-F", https_server.url("pilot.json"), "-X", "GetPilotVersion"], workdir,
                             timeout=90)
    line = helpers.assert_one_line_error(rc, 13, out, err, "pilot.json")
    assert "CERTIFICATE" in line.upper() or "certificate" in out, line
