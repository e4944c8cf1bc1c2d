"""The first two commands: GetPilotVersion and CheckWorkerNode."""

import json
import os
import re

import pytest

import helpers
import pilotjson_samples as samples
from pilot.node import nodeinfo
from pilot.commands.base import Context
from pilot.commands.checknode import CheckWorkerNode
from pilot.commands.version import GetPilotVersion
from pilot.errors import CommandFailed
from pilot.config.fetch import Downloader
from pilot.sequence.proc import ProcessRunner


def _command(cls, argv, work_dir, environ=None):
    params, _ = helpers.resolve_params(argv, work_dir, environ=environ)
    logger, sink = helpers.make_logger()
    downloader = Downloader(logger.source("Pilot"), attempts=1, timeout=10, sleep=lambda s: None)
    context = Context(logger, ProcessRunner(grace=1), downloader, work_dir, environ or {})
    command = cls(params)
    command.bind(context)
    return command, params, sink


# -- GetPilotVersion ---------------------------------------------------------------------------

def test_version_from_command_line(workdir):
    command, params, sink = _command(GetPilotVersion, ["-r", "v9.0.1,v9.0.0"], workdir)
    command.execute()
    assert params.releaseVersion == "v9.0.1"
    assert command.details == {"versions": ["v9.0.1", "v9.0.0"], "installed": "v9.0.1", "source": "command line"}
    assert "DIRAC version v9.0.1 (from command line -r)" in sink.text()


@pytest.mark.parametrize("document,argv,expected,origin", [
    (samples.new_schema(), ["--wnVO=gridpp"], ["v9.0.3", "v9.0.2"], "/gridpp/Pilot/Version"),
    (samples.new_schema(), [], ["v8.0.1"], "/Production/Pilot/Version"),
    (samples.old_schema(), [], ["v10r2p3", "v10r2p2"], "/Setups/LHCb-Production/Version"),
    (samples.old_schema(), ["-S", "Unknown"], ["v9r0"], "/Setups/Defaults/Version"),
])
def test_version_from_pilot_json(workdir, document, argv, expected, origin):
    helpers.write_json(os.path.join(workdir, "pilot.json"), document)
    command, params, sink = _command(GetPilotVersion, argv, workdir)
    command.execute()
    assert params.releaseVersions == expected
    assert command.details["source"] == "pilot.json"
    assert origin in sink.text()


def test_no_version_anywhere_is_a_config_failure(workdir):
    command, params, _ = _command(GetPilotVersion, [], workdir)
    with pytest.raises(CommandFailed) as info:
        command.execute()
    assert info.value.failure_type == "config"
    assert "no DIRAC version given" in info.value.reason


VERSIONS = {"Production": {"Version": ["v9.0.1", "v9.0.0"]}, "Defaults": {"Version": "v8.0.5, v8.0.4"}}


@pytest.mark.parametrize("argv,expected", [
    (["-S", "Production"], ["v9.0.1", "v9.0.0"]),
    (["-S", "Certification"], ["v8.0.5", "v8.0.4"]),   # missing setup: Defaults
    ([], ["v8.0.5", "v8.0.4"]),
])
def test_versions_file_local(workdir, argv, expected):
    helpers.write_json(os.path.join(workdir, "versions.json"), VERSIONS)
    command, params, sink = _command(GetPilotVersion, argv + ["--versions-file", "versions.json"], workdir)
    command.execute()
    assert params.releaseVersions == expected
    assert params.releaseVersion == expected[0]
    assert params.sources["releaseVersions"] == ("GetPilotVersion", os.path.join(workdir, "versions.json"))


def test_versions_file_from_url_list(workdir, http_server, no_proxy):
    http_server.put("versions.json", json.dumps(VERSIONS))
    urls = ",".join(["http://127.0.0.1:%d/versions.json" % helpers.free_port(), http_server.url("versions.json")])
    command, params, sink = _command(GetPilotVersion, ["-S", "Production", "--versions-file", urls], workdir)
    command.execute()
    assert params.releaseVersions == ["v9.0.1", "v9.0.0"]
    assert params.sources["releaseVersions"] == ("GetPilotVersion", http_server.url("versions.json"))


@pytest.mark.parametrize("content,needle", [
    (b"{not json", "not valid JSON"),
    (b"[\"v1\"]", "not an object"),
    (b"{\"Other\": {\"Version\": \"v1\"}}", "no Version for setup"),
    (b"{\"Defaults\": {\"Version\": \"\"}}", "empty"),
    (b"{\"Defaults\": {\"Version\": true}}", "not a list or a string"),
    (b"{\"Defaults\": {\"Version\": {\"a\": 1}}}", "Version"),
])
def test_bad_versions_file_is_a_config_failure(workdir, content, needle):
    helpers.write_text(os.path.join(workdir, "versions.json"), content)
    command, params, _ = _command(GetPilotVersion, ["--versions-file", "versions.json"], workdir)
    with pytest.raises(CommandFailed) as info:
        command.execute()
    assert info.value.failure_type == "config"
    assert needle in info.value.reason
    assert os.path.join(workdir, "versions.json") in info.value.reason


def test_missing_versions_file(workdir):
    command, _, _ = _command(GetPilotVersion, ["--versions-file", "nothere.json"], workdir)
    with pytest.raises(CommandFailed) as info:
        command.execute()
    assert "cannot read" in info.value.reason and info.value.failure_type == "config"


def test_versions_url_all_dead_is_network(workdir, no_proxy):
    url = "http://127.0.0.1:%d/versions.json" % helpers.free_port()
    command, _, _ = _command(GetPilotVersion, ["--versions-file", url], workdir)
    with pytest.raises(Exception) as info:
        command.execute()
    assert getattr(info.value, "failure_type", None) == "network"


def test_release_version_property_is_pep440(workdir):
    command, _, _ = _command(GetPilotVersion, ["-r", "v10r2p3-pre4"], workdir)
    assert command.releaseVersion == "10.2.3a4"


def test_pyz_versions_file_url(run_pilot, workdir, http_server):
    http_server.put("versions.json", json.dumps(VERSIONS))
    rc, out, err = run_pilot(["-X", "GetPilotVersion", "-S", "Production", "--versions-file",
                              http_server.url("versions.json")], workdir)
    assert rc == 0, out + err
    result = helpers.load_result(workdir)
    assert result["commands"][0]["details"]["versions"] == ["v9.0.1", "v9.0.0"]
    assert result["commands"][0]["details"]["installed"] == "v9.0.1"


def test_pyz_malformed_versions_file(run_pilot, workdir):
    helpers.write_text(os.path.join(workdir, "versions.json"), b"{oops")
    rc, out, err = run_pilot(["-X", "GetPilotVersion", "--versions-file", "versions.json"], workdir)
    assert rc == 10, out + err
    result = helpers.load_result(workdir)
    assert result["commands"][0]["failure_type"] == "config"
    assert "not valid JSON" in result["commands"][0]["reason"]


# -- CheckWorkerNode ---------------------------------------------------------------------------

def _cvmfs(tmpdir):
    visible = tmpdir.mkdir("visible")
    visible.join("lhcb.cern.ch").mkdir()
    visible.join("README").write("x")
    empty = str(tmpdir.mkdir("empty"))
    missing = str(tmpdir.join("missing"))
    return str(visible), empty, missing


def test_check_worker_node_logs_and_cvmfs_states(workdir, tmpdir):
    visible, empty, missing = _cvmfs(tmpdir)
    command, _, sink = _command(CheckWorkerNode, ["-D", "1", "--CVMFS_locations",
                                                  ",".join([visible, empty, missing])], workdir)
    command.execute()
    text = sink.text()
    for prefix in ("Host: ", "User: ", "Python: ", "OS: ", "CPU: ", "Memory: ", "Disk: "):
        assert re.search(r"\[CheckWorkerNode\] " + re.escape(prefix), text), prefix
    assert "CVMFS %s: visible (2 entries)" % visible in text
    assert "CVMFS %s: empty" % empty in text
    assert "CVMFS %s: missing" % missing in text
    assert command.details["cvmfs"] == {visible: "visible", empty: "empty", missing: "missing"}
    assert command.details["disk_needed_mb"] == 1 and command.details["disk_free_mb"] >= 1
    assert command.details["cpus"] >= 1
    import sys
    assert sys.version.split()[0] in command.details["python"]


def test_check_worker_node_not_enough_disk(workdir, tmpdir):
    command, _, _ = _command(CheckWorkerNode, ["-D", "999999999999", "--CVMFS_locations", str(tmpdir)], workdir)
    with pytest.raises(CommandFailed) as info:
        command.execute()
    assert info.value.failure_type == "node"
    assert "999999999999 MB needed" in info.value.reason


def test_check_worker_node_missing_work_dir(tmpdir):
    gone = str(tmpdir.join("gone"))
    command, _, _ = _command(CheckWorkerNode, ["-D", "1", "--CVMFS_locations", str(tmpdir)], str(tmpdir))
    command.context.work_dir = gone
    with pytest.raises(CommandFailed) as info:
        command.execute()
    assert info.value.failure_type == "node"
    assert "not writable" in info.value.reason and gone in info.value.reason


@pytest.mark.skipif(os.geteuid() == 0, reason="running as root: a mode-0500 directory stays writable for root")
def test_check_worker_node_read_only_work_dir(tmpdir):
    folder = tmpdir.mkdir("ro")
    command, _, _ = _command(CheckWorkerNode, ["-D", "1", "--CVMFS_locations", str(tmpdir)], str(folder))
    os.chmod(str(folder), 0o500)
    try:
        with pytest.raises(CommandFailed) as info:
            command.execute()
    finally:
        os.chmod(str(folder), 0o700)
    assert info.value.failure_type == "node" and "not writable" in info.value.reason


def test_pyz_check_worker_node(run_pilot, workdir, tmpdir):
    visible, empty, missing = _cvmfs(tmpdir)
    rc, out, err = run_pilot(["-X", "CheckWorkerNode", "-D", "1", "--CVMFS_locations",
                              ",".join([visible, empty, missing])], workdir)
    assert rc == 0, out + err
    for prefix in ("Host: ", "OS: ", "CPU: ", "Memory: ", "Python: "):
        assert "[CheckWorkerNode] " + prefix in out
    details = helpers.load_result(workdir)["commands"][0]["details"]
    assert details["cvmfs"] == {visible: "visible", empty: "empty", missing: "missing"}


# -- nodeinfo readers ----------------------------------------------------------------------------

def test_os_release_parsing(tmpdir):
    path = tmpdir.join("os-release")
    path.write('NAME="AlmaLinux"\nVERSION="9.3 (Shamrock Pampas Cat)"\n# comment\nPRETTY_NAME=\'AlmaLinux 9.3\'\n')
    release = nodeinfo.os_release((str(tmpdir.join("none")), str(path)))
    assert release["NAME"] == "AlmaLinux" and release["PRETTY_NAME"] == "AlmaLinux 9.3"
    assert nodeinfo.os_description(release) == "AlmaLinux 9.3"
    assert nodeinfo.os_description({"NAME": "SL", "VERSION": "6.10"}) == "SL 6.10"
    redhat = tmpdir.join("redhat-release")
    redhat.write("Scientific Linux release 6.10 (Carbon)\n")
    assert nodeinfo.os_description({}, str(redhat)) == "Scientific Linux release 6.10 (Carbon)"


def test_cpu_and_memory_parsing(tmpdir):
    cpuinfo = tmpdir.join("cpuinfo")
    cpuinfo.write("processor\t: 0\nmodel name\t: Intel(R) Xeon(R)\ncpu MHz\t\t: 2400.000\n\n"
                  "processor\t: 1\nmodel name\t: Intel(R) Xeon(R)\ncpu MHz\t\t: 2500.000\n")
    assert nodeinfo.cpu_info(str(cpuinfo)) == {"model": "Intel(R) Xeon(R)", "count": 2, "mhz": "2400.000"}
    meminfo = tmpdir.join("meminfo")
    meminfo.write("MemTotal:       16000000 kB\nMemFree:         1000000 kB\nCached:          2000000 kB\n")
    assert nodeinfo.mem_info(str(meminfo)) == {"total_kb": 16000000, "available_kb": 3000000}
    meminfo.write("MemTotal: 100 kB\nMemFree: 1 kB\nMemAvailable: 50 kB\n")
    assert nodeinfo.mem_info(str(meminfo))["available_kb"] == 50
    assert nodeinfo.mem_info(str(tmpdir.join("none"))) == {"total_kb": 0, "available_kb": 0}


def test_probe_directory_states(tmpdir):
    visible, empty, missing = _cvmfs(tmpdir)
    assert nodeinfo.probe_directory(visible, 10) == ("visible", 2)
    assert nodeinfo.probe_directory(empty, 10) == ("empty", 0)
    assert nodeinfo.probe_directory(missing, 10) == ("missing", 0)
