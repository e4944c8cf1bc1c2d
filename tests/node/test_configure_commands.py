"""The commands that write pilot.cfg, through the real pilot.pyz against the DIRAC release double.

One rich run of the whole default command list (module fixture ``full``: a
SLURM job, -ddd, -P 3, --wnVO, -G, -o options) is checked by several tests;
the failures each get a short run that stops at the failing command.
"""

import json
import os
import re

import pytest

import helpers
pytest.register_assert_rewrite("dirac_fixtures")  # before its first import
from dirac_fixtures import (SETUP, SITE, VERSION, base_args, command_entry, executed_configure, load_cfg,
                            log_lines, make, overlay_release, pilot_env, pilot_records)

# release, lhcb_release, git_release, host_certs, server: made once per session for every module using them
pytest_plugins = ["dirac_fixtures"]

STAMP = "0123456789abcdef0123456789abcdef"
SLURM = {"SLURM_JOBID": "4242", "SLURM_JOB_PARTITION": "grid", "DIRAC_PILOT_STAMP": STAMP}
UNKNOWN = "Unknown"


class Run(object):
    def __init__(self, rc, out, err, work):
        self.rc, self.out, self.err, self.work = rc, out, err, work
        self.result = helpers.load_result(work)
        self.log = helpers.pilot_out(work)

    def details(self, name):
        return command_entry(self.result, name)["details"]

    def cfg(self):
        return load_cfg(self.work)


def _run(pyz, work, args, env=None, timeout=120):
    rc, out, err = helpers.run_pilot(args, work, env=pilot_env(env), timeout=timeout, pyz=pyz)
    assert "Traceback" not in out + err, out + err
    return Run(rc, out, err, work)


@pytest.fixture(scope="module")
def full(tmpdir_factory, pyz, release, host_certs):
    """The default command list (no -X) under a fake SLURM job, with many options."""
    base = tmpdir_factory.mktemp("full")
    server_dir = str(base.join("server"))
    make("--new-server", server_dir)
    # with -G the JobAgent only matches jobs of that group (/AgentJobRequirements/OwnerGroup)
    make("--add-job", server_dir, "--job-id", "2", "--job-json", '{"OwnerGroup": "lhcb_pilot"}', "--",
         "/bin/sh", "-c", "echo group job")
    work = str(base.mkdir("work"))
    args = base_args(release, server_dir, host_certs)
    at = args.index("-X")
    del args[at:at + 2]
    args += ["--install-methods=preinstalled", "-ddd", "-P", "3", "--wnVO=lhcb", "-G", "lhcb_pilot",
             "-y", "InProcess",
             "-o", "/LocalSite/SharedArea=/cvmfs/lhcb.cern.ch", "-o", "/Resources/Computing/CEDefaults/Extra=a=b",
             "-o", "cvmfsOnly", "-o", "RelativeName=ignored"]
    run = _run(pyz, work, args, env=SLURM, timeout=300)
    run.server = server_dir
    assert run.rc == 0, run.out[-4000:] + run.err
    return run


# -- ConfigureBasics -------------------------------------------------------------------------------

def _configure_args(run, source="ConfigureBasics"):
    lines = executed_configure(run.log, source)
    assert len(lines) == 1, lines
    return lines[0].split()


def _option_values(args):
    return [args[index + 1] for index, word in enumerate(args) if word == "-o"]


def test_configure_basics_arguments(full, release, host_certs):
    args = _configure_args(full)
    assert args[0] == "dirac-configure"
    assert args[args.index("-S") + 1] == SETUP
    assert args[args.index("-C") + 1] == "file://" + full.server
    values = _option_values(args)
    assert "/LocalSite/ReleaseVersion=%s" % VERSION in values
    assert "/LocalSite/CVMFS_locations=%s" % release["cvmfs_location"] in values
    assert "/Resources/Computing/CEDefaults/VirtualOrganization=lhcb" in values
    assert "/AgentJobRequirements/OwnerGroup=lhcb_pilot" in values
    assert "--UseServerCertificate" in args
    assert "/DIRAC/Security/CertFile=%s" % os.path.join(host_certs, "hostcert.pem") in values
    assert "/DIRAC/Security/KeyFile=%s" % os.path.join(host_certs, "hostkey.pem") in values
    for flag in ("-D", "-M", "-H", "-ddd"):            # a preinstalled release; debug
        assert flag in args, flag
    assert args[-2:] == ["-O", "pilot.cfg"]
    assert "-e" not in args                              # no project
    assert not [value for value in values if "cvmfsOnly" in value or "SharedArea" in value]


def test_configure_basics_symlink_and_cfg(full):
    link = os.path.join(full.work, "etc", "dirac.cfg")
    assert os.path.islink(link)
    assert os.readlink(link) == os.path.join("..", "pilot.cfg")
    assert helpers.read_text(link) == helpers.read_text(os.path.join(full.work, "pilot.cfg"))
    cfg = full.cfg()
    assert cfg.get("/DIRAC/Setup") == SETUP
    assert cfg.get_list("/DIRAC/Configuration/Servers") == ["file://" + full.server]
    assert cfg.get("/LocalSite/ReleaseVersion") == VERSION
    assert cfg.get("/DIRAC/Security/CertFile").endswith("hostcert.pem")


def test_configure_basics_detects_the_batch_system(full):
    where = full.details("ConfigureBasics")["where"]
    assert where["flavour"] == "SSHSLURM"
    assert where["reference"] == "sshslurm://ce.test.local/4242"
    assert where["batch"]["Type"] == "SLURM"


def test_configure_basics_without_cert_nor_preinstalled_release(tmpdir, pyz, release, server):
    """A tarball release with a project: -e, no --UseServerCertificate, no -D -M -H, no -ddd."""
    work = str(tmpdir.mkdir("work"))
    args = base_args(release, server, None, "InstallDIRAC,ConfigureBasics") + [
        "--install-methods=tarball", "--release-tarball-url=file://%s" % release["tarball"],
        "-l", "LHCb", "-W", "dips://gateway.example.org:9159"]
    run = _run(pyz, work, args)
    assert run.rc == 0, run.out
    args = _configure_args(run)
    assert args[args.index("-e") + 1] == "LHCb"
    assert "/LocalSite/ReleaseProject=LHCb" in _option_values(args)
    assert args[args.index("-W") + 1] == "dips://gateway.example.org:9159"
    for flag in ("--UseServerCertificate", "-D", "-M", "-H", "-ddd"):
        assert flag not in args, flag
    assert not [value for value in _option_values(args) if value.startswith("/DIRAC/Security")]
    assert not [value for value in _option_values(args) if "VirtualOrganization" in value]
    assert os.path.islink(os.path.join(work, "etc", "dirac.cfg"))


def test_configure_basics_failing(tmpdir, pyz, release, server, host_certs):
    work = str(tmpdir.mkdir("work"))
    args = base_args(release, server, host_certs, "InstallDIRAC,ConfigureBasics") + ["--install-methods=preinstalled"]
    run = _run(pyz, work, args, env={"FAKE_DIRAC_FAIL": "dirac-configure:5"})
    assert run.rc == 16
    assert run.result["pilot"]["failed_command"] == "ConfigureBasics"
    assert run.details("ConfigureBasics")["exit_code"] == 5
    assert "exited with code 5" in run.result["pilot"]["reason"]
    assert not os.path.lexists(os.path.join(work, "etc", "dirac.cfg"))


# -- ConfigureSite ----------------------------------------------------------------------------------

def test_configure_site_does_not_forward_the_fake_configure_fail_hook(tmpdir, pyz, release, server, host_certs):
    """What tests/doubles/dirac/README.md says of -o /LocalSite/FakeConfigureFail: only a pilot.cfg key."""
    work = str(tmpdir.mkdir("work"))
    args = base_args(release, server, host_certs, "InstallDIRAC,ConfigureBasics,ConfigureSite") + [
        "--install-methods=preinstalled", "-o", "/LocalSite/FakeConfigureFail=7"]
    run = _run(pyz, work, args)
    assert run.rc == 0, run.out
    assert run.cfg().get("/LocalSite/FakeConfigureFail") == "7"


def test_configure_site_writes_every_local_site_key(full, release):
    cfg = full.cfg()
    expected = {
        "/LocalSite/Site": SITE,
        "/LocalSite/GridCE": release["ce"],
        "/LocalSite/CEQueue": release["queue"],
        "/LocalSite/LocalCE": "InProcess",
        "/LocalSite/GridMiddleware": "SSHSLURM",
        "/LocalSite/PilotReference": "sshslurm://ce.test.local/4242",
        "/LocalSite/BatchSystemInfo/Type": "SLURM",
        "/LocalSite/BatchSystemInfo/JobID": "4242",
        "/LocalSite/BatchSystemInfo/Parameters/Queue": "grid",
        "/LocalSite/BatchSystemInfo/Parameters/BinaryPath": UNKNOWN,
        "/LocalSite/BatchSystemInfo/Parameters/Host": UNKNOWN,
        "/LocalSite/BatchSystemInfo/Parameters/InfoPath": UNKNOWN,
        "/DIRAC/Setup": SETUP,
        "/LocalInstallation/SiteName": SITE,        # as DIRAC's dirac-configure -n, -N write them
        "/LocalInstallation/CEName": release["ce"],
    }
    for path, value in expected.items():
        assert cfg.get(path) == value, path


def test_configure_site_forwards_cfg_options_but_never_flags(full):
    cfg = full.cfg()
    assert cfg.get("/LocalSite/SharedArea") == "/cvmfs/lhcb.cern.ch"
    assert cfg.get("/Resources/Computing/CEDefaults/Extra") == "a=b"   # the value keeps its '='
    text = helpers.read_text(os.path.join(full.work, "pilot.cfg"))
    assert "cvmfsOnly" not in text
    assert "RelativeName" not in text
    site = "\n".join(log_lines(full.log, "ConfigureSite"))
    assert "-o RelativeName=ignored ignored: not an absolute cfg path" in site
    assert "-o cvmfsOnly is a pilot flag, not written to pilot.cfg" in site


def test_configure_site_reference_option_and_boinc(tmpdir, pyz, release, server, host_certs):
    work = str(tmpdir.mkdir("work"))
    args = base_args(release, server, host_certs, "InstallDIRAC,ConfigureBasics,ConfigureSite") + [
        "--install-methods=preinstalled", "-R", "boinc://given/ref"]
    run = _run(pyz, work, args, env={"BOINC_JOB_ID": "wu_1", "BOINC_USER_ID": "u7", "BOINC_HOST_ID": "h9",
                                     "BOINC_HOST_PLATFORM": "x86_64-pc-linux-gnu", "BOINC_HOST_NAME": "vol"})
    assert run.rc == 0, run.out
    cfg = run.cfg()
    assert cfg.get("/LocalSite/PilotReference") == "boinc://given/ref"   # -R wins over the detected one
    assert cfg.get("/LocalSite/GridMiddleware") == "BOINC"
    assert cfg.get("/LocalSite/BoincUserID") == "u7"
    assert cfg.get("/LocalSite/BoincHostID") == "h9"
    assert cfg.get("/LocalSite/BoincHostPlatform") == "x86_64-pc-linux-gnu"
    assert cfg.get("/LocalSite/BoincHostName") == "vol"
    assert cfg.get("/LocalSite/BatchSystemInfo/Type") == UNKNOWN
    assert cfg.get("/LocalSite/LocalCE") is None


def test_configure_site_without_site_asks_dirac(tmpdir, pyz, release, server, host_certs):
    work = str(tmpdir.mkdir("work"))
    args = base_args(release, server, host_certs, "InstallDIRAC,ConfigureBasics,ConfigureSite") + [
        "--install-methods=preinstalled"]
    at = args.index("-n")
    del args[at:at + 2]
    run = _run(pyz, work, args)
    assert run.rc == 0, run.out
    lines = executed_configure(run.log, "ConfigureSite")
    assert len(lines) == 1, run.log
    site_args = lines[0].split()
    assert site_args[site_args.index("-N") + 1] == release["ce"]
    assert "--UseServerCertificate" in site_args
    assert "-F" in site_args and "-O" in site_args
    assert run.cfg().get("/LocalSite/GridCE") == release["ce"]


# -- CheckCECapabilities ------------------------------------------------------------------------------

def test_ce_capabilities_from_the_queue(full):
    cfg = full.cfg()
    assert full.details("CheckCECapabilities")["queue"]["Tag"] == ["FakeTag", "TestQueue"]
    assert cfg.get("/LocalSite/MaxRAM") == "4096"
    assert cfg.get("/LocalSite/SI00") == "3100"
    assert cfg.get("/LocalSite/maxCPUTime") == "2880"
    assert cfg.get("/LocalSite/Tag") is None                   # tags are not queue parameters
    tags = cfg.get_list("/Resources/Computing/CEDefaults/Tag")
    assert "FakeTag" in tags and "TestQueue" in tags


def test_ce_capabilities_whole_node_and_required_tags(tmpdir, pyz, release, server, host_certs):
    resources = os.path.join(server, "resources.json")
    document = json.loads(helpers.read_text(resources))
    queue = document[release["ce"]][release["queue"]]
    queue.update({"WholeNode": "True", "RequiredTag": "GPU, Highmem", "Tag": "Fast", "NumberOfProcessors": "8"})
    helpers.write_json(resources, document)
    work = str(tmpdir.mkdir("work"))
    args = base_args(release, server, host_certs,
                     "InstallDIRAC,ConfigureBasics,CheckCECapabilities,CheckWNCapabilities") + [
        "--install-methods=preinstalled"]
    run = _run(pyz, work, args)
    assert run.rc == 0, run.out
    cfg = run.cfg()
    assert cfg.get("/LocalSite/WholeNode") == "True"
    assert cfg.get("/LocalSite/NumberOfProcessors") == "8"
    tags = cfg.get_list("/Resources/Computing/CEDefaults/Tag")
    assert "WholeNode" in tags and "Fast" in tags
    assert cfg.get_list("/Resources/Computing/CEDefaults/RequiredTag") == ["GPU", "Highmem"]
    assert "tags: " in "\n".join(log_lines(run.log, "CheckCECapabilities"))
    processors = run.details("CheckWNCapabilities")["capabilities"]["processors"]
    assert processors["count"] == min(8, processors["limit"])   # the queue's NumberOfProcessors
    assert cfg.get("/Resources/Computing/CEDefaults/NumberOfProcessors") == str(processors["count"])


@pytest.mark.parametrize("extra, whole", [([], False), (["-t", "WholeNode"], True)])
def test_wn_capabilities_one_processor_unless_whole_node(tmpdir, pyz, release, server, host_certs, extra, whole):
    """No batch system, no -P, no queue value: 1 processor as DIRAC; the machine only with WholeNode."""
    work = str(tmpdir.mkdir("work"))
    args = base_args(release, server, host_certs, "InstallDIRAC,ConfigureBasics,CheckWNCapabilities") + [
        "--install-methods=preinstalled"] + extra
    run = _run(pyz, work, args)
    assert run.rc == 0, run.out
    processors = run.details("CheckWNCapabilities")["capabilities"]["processors"]
    expected = processors["limit"] if whole else 1
    assert processors["count"] == expected, processors
    assert run.cfg().get("/Resources/Computing/CEDefaults/NumberOfProcessors") == str(expected)
    tags = run.cfg().get_list("/Resources/Computing/CEDefaults/Tag") or []
    assert ("WholeNode" in tags) == whole
    assert ("MultiProcessor" in tags) == (expected > 1)


def _ce_failure(tmpdir, pyz, release, server, host_certs, tools=None, env=None):
    work = str(tmpdir.mkdir("work"))
    args = base_args(release, server, host_certs, "InstallDIRAC,ConfigureBasics,CheckCECapabilities")
    if tools:
        args.append("--preinstalledEnv=%s" % overlay_release(str(tmpdir.mkdir("overlay")), release, tools))
    args.append("--install-methods=preinstalled")
    run = _run(pyz, work, args, env=env)
    assert run.rc == 16, run.out
    assert run.result["pilot"]["failed_command"] == "CheckCECapabilities"
    assert "\n" not in run.result["pilot"]["reason"]
    return run


def test_ce_capabilities_last_line_not_json(tmpdir, pyz, release, server, host_certs):
    run = _ce_failure(tmpdir, pyz, release, server, host_certs, {
        "dirac-resource-get-parameters": 'echo \'{"MaxRAM": "1"}\'\necho "WARN: still starting up"\n'})
    assert "did not end with JSON: 'WARN: still starting up'" in run.result["pilot"]["reason"]


def test_ce_capabilities_json_not_an_object(tmpdir, pyz, release, server, host_certs):
    run = _ce_failure(tmpdir, pyz, release, server, host_certs, {"dirac-resource-get-parameters": "echo '[1, 2]'\n"})
    assert "not an object" in run.result["pilot"]["reason"]


def test_ce_capabilities_script_failing(tmpdir, pyz, release, server, host_certs):
    run = _ce_failure(tmpdir, pyz, release, server, host_certs,
                      env={"FAKE_DIRAC_FAIL": "dirac-resource-get-parameters:4"})
    assert run.details("CheckCECapabilities")["exit_code"] == 4
    assert "FAKE_DIRAC_FAIL" in run.result["pilot"]["reason"]


def test_ce_capabilities_unknown_queue(tmpdir, pyz, release, server, host_certs):
    work = str(tmpdir.mkdir("work"))
    args = base_args(release, server, host_certs, "InstallDIRAC,ConfigureBasics,CheckCECapabilities") + [
        "--install-methods=preinstalled", "-Q", "nosuchqueue"]
    run = _run(pyz, work, args)
    assert run.rc == 16
    assert "Could not retrieve resource parameters" in run.result["pilot"]["reason"]


def test_ce_capabilities_with_no_configuration_server_says_so(tmpdir, pyz, release, host_certs):
    """The script fails on the CE's section it could not read; the reason names the CS instead."""
    work = str(tmpdir.mkdir("work"))
    gone = str(tmpdir.join("no-such-server"))
    args = base_args(release, gone, host_certs, "InstallDIRAC,ConfigureBasics,RegisterPilot,CheckCECapabilities") + [
        "--install-methods=preinstalled"]
    run = _run(pyz, work, args)
    assert run.rc == 16
    reason = run.result["pilot"]["reason"]
    assert reason == ("dirac-resource-get-parameters: no configuration server answered: Error while updating "
                      "from file://%s: [Errno 2] No such file or directory" % gone)
    assert "Failed: CheckCECapabilities: %s" % reason in run.log


@pytest.mark.parametrize("line,reason,failure_type", [
    # DIRAC 9.1's own lines (the refresher, LocalConfiguration)
    ("Can't update from server Error while updating from dips://cs:9135/Configuration/Server: ('10.0.0.1', 9135) "
     "[Errno 111] Connection refused", "no configuration server answered: Error while updating from "
     "dips://cs:9135/Configuration/Server: ('10.0.0.1', 9135) [Errno 111] Connection refused", None),
    ("Can't update from server Error while updating from dips://cs:9135/Configuration/Server: No proxy found",
     "no configuration server answered: Error while updating from dips://cs:9135/Configuration/Server: "
     "No proxy found", "credentials"),
    ("2026-12-02 14:00:00 UTC Framework ERROR: Can't update from any server timeout",
     "no configuration server answered: timeout", None),
    ("Path /Resources/Sites/X does not exist", "dirac-x exited with code 1: Path /Resources/Sites/X does not exist",
     None),
])
def test_dirac_failure_names_an_unreachable_configuration_server(line, reason, failure_type):
    from pilot.commands.configure import dirac_failure
    from pilot.sequence.proc import ProcResult

    result = ProcResult(["/release/bin/dirac-x"])
    result.returncode = 1
    result.tail = [line] if line.startswith("Path") else ["Issue getting socket", line, "Could not retrieve it"]
    assert dirac_failure(result) == (reason, failure_type)


# -- RegisterPilot -------------------------------------------------------------------------------------

def test_register_pilot(full):
    records = pilot_records(full.server)
    assert len(records) == 1
    record = records[0]
    assert record["PilotReference"] == "sshslurm://ce.test.local/4242"
    assert record["PilotStamp"] == STAMP
    assert record["VO"] == "lhcb"
    assert record["GridType"] == "SSHSLURM"
    assert "Running" in [entry[0] for entry in record["History"]]
    assert record["Status"] == "Done"       # set by the JobAgent's finalize, found by the reference
    assert full.details("RegisterPilot")["registered"] is True
    assert os.path.isfile(os.path.join(full.server, "pilots", STAMP + ".json"))


def test_register_pilot_failure_is_only_a_warning(tmpdir, pyz, release, server, host_certs):
    work = str(tmpdir.mkdir("work"))
    args = base_args(release, server, host_certs, "InstallDIRAC,ConfigureBasics,RegisterPilot,ConfigureSite") + [
        "--install-methods=preinstalled"]
    run = _run(pyz, work, args, env={"FAKE_DIRAC_FAIL": "dirac-admin-add-pilot:3"})
    assert run.rc == 0, run.out
    assert run.result["pilot"]["status"] == "done"
    assert run.details("RegisterPilot")["registered"] is False
    warnings = [line for line in run.log.splitlines() if " WARNING " in line and "[RegisterPilot]" in line]
    assert any("pilot not registered (going on)" in line and "exited with code 3" in line for line in warnings)
    assert pilot_records(server) == []
    assert command_entry(run.result, "ConfigureSite")["status"] == "ok"


def test_register_pilot_arguments(tmpdir, pyz, release, server, host_certs):
    """dirac-admin-add-pilot <ref> <vo> <flavour> <stamp>, with the VO 'unknown' when none is known."""
    work = str(tmpdir.mkdir("work"))
    args = base_args(release, server, host_certs, "InstallDIRAC,ConfigureBasics,RegisterPilot") + [
        "--install-methods=preinstalled", "--pilotUUID=%s" % STAMP]
    run = _run(pyz, work, args, env={"HTCONDOR_JOBID": "77.0"})
    assert run.rc == 0, run.out
    record = pilot_records(server)[0]
    assert record["PilotReference"] == "htcondorce://ce.test.local/77.0"
    assert record["GridType"] == "HTCondorCE"
    assert record["PilotStamp"] == STAMP
    assert record["VO"] == "unknown"
    assert record["Status"] == "Running"


# -- ConfigureArchitecture ---------------------------------------------------------------------------

def test_configure_architecture_from_dirac_platform(full):
    cfg = full.cfg()
    import platform

    assert re.match(r"^Linux_%s_glibc-\d+\.\d+$" % re.escape(platform.machine()), cfg.get("/LocalSite/Architecture"))
    assert cfg.get("/LocalSite/Platform") == platform.machine()


def _architecture(tmpdir, pyz, release, server, host_certs, extra, env=None, tools=None):
    work = str(tmpdir.mkdir("work"))
    args = base_args(release, server, host_certs, "InstallDIRAC,ConfigureBasics,ConfigureArchitecture")
    if tools:
        args.append("--preinstalledEnv=%s" % overlay_release(str(tmpdir.mkdir("overlay")), release, tools))
    return _run(pyz, work, args + ["--install-methods=preinstalled"] + extra, env=env)


def test_configure_architecture_error_output_stops_the_pilot(tmpdir, pyz, release, server, host_certs):
    """DIRAC#944: a platform script that prints an error must not become the architecture."""
    script = str(tmpdir.join("platform.sh"))
    helpers.write_text(script, "#!/bin/sh\necho 'some log line'\necho 'ERROR: no platform'\nexit 0\n")
    os.chmod(script, 0o755)
    run = _architecture(tmpdir, pyz, release, server, host_certs, ["--architectureScript=%s" % script])
    assert run.rc == 16, run.out
    assert run.result["pilot"]["failed_command"] == "ConfigureArchitecture"
    assert "ERROR: no platform" in run.result["pilot"]["reason"]
    assert "Architecture" not in helpers.read_text(os.path.join(run.work, "pilot.cfg"))


def test_configure_architecture_script_arguments(tmpdir, pyz, release, server, host_certs):
    record = str(tmpdir.join("args.txt"))
    script = str(tmpdir.join("platform.sh"))
    helpers.write_text(script, '#!/bin/sh\nprintf "%%s\\n" "$@" > %s\necho Linux_x86_64_glibc-2.17\n' % record)
    os.chmod(script, 0o755)
    run = _architecture(tmpdir, pyz, release, server, host_certs, ["--architectureScript=%s --flavour el7" % script])
    assert run.rc == 0, run.out
    assert helpers.read_text(record).splitlines() == [
        "--flavour", "el7", "-o", "/DIRAC/Security/UseServerCertificate=yes", "--cfg", "pilot.cfg", "-ddd"]
    assert run.cfg().get("/LocalSite/Architecture") == "Linux_x86_64_glibc-2.17"


def test_configure_architecture_script_with_unbalanced_quotes(tmpdir, pyz, release, server, host_certs):
    run = _architecture(tmpdir, pyz, release, server, host_certs, ["--architectureScript=dirac-platform 'el7"])
    assert run.rc == 10, run.out
    assert run.result["pilot"]["failed_command"] == "ConfigureArchitecture"
    assert run.result["pilot"]["reason"] == "--architectureScript dirac-platform 'el7: No closing quotation"


def test_configure_architecture_apptainer_form(tmpdir, pyz, release, server, host_certs):
    record = str(tmpdir.join("args.txt"))
    tools = {"dirac-apptainer-exec": 'printf "%%s\\n" "$@" > %s\necho Linux_x86_64_glibc-2.28\n' % record}
    run = _architecture(tmpdir, pyz, release, server, host_certs,
                        ["--architectureScript=dirac-apptainer-exec dirac-platform"], tools=tools)
    assert run.rc == 0, run.out
    assert helpers.read_text(record).splitlines() == [
        "dirac-platform -o /DIRAC/Security/UseServerCertificate=yes --cfg pilot.cfg -ddd",
        "-o", "/DIRAC/Security/UseServerCertificate=yes", "--cfg", "pilot.cfg"]
    assert run.cfg().get("/LocalSite/Architecture") == "Linux_x86_64_glibc-2.28"


def test_configure_architecture_platform_override(tmpdir, pyz, release, server, host_certs):
    run = _architecture(tmpdir, pyz, release, server, host_certs, [],
                        env={"FAKE_DIRAC_PLATFORM": "Linux_x86_64_glibc-2.99"})
    assert run.rc == 0, run.out
    assert run.cfg().get("/LocalSite/Architecture") == "Linux_x86_64_glibc-2.99"
    assert run.details("ConfigureArchitecture")["architecture"] == "Linux_x86_64_glibc-2.99"


def test_configure_architecture_script_failing(tmpdir, pyz, release, server, host_certs):
    run = _architecture(tmpdir, pyz, release, server, host_certs, [], env={"FAKE_DIRAC_FAIL": "dirac-platform:5"})
    assert run.rc == 16
    assert run.details("ConfigureArchitecture")["exit_code"] == 5


def test_configure_architecture_without_cli(tmpdir, pyz, release, server, host_certs):
    import platform

    work = str(tmpdir.mkdir("work"))
    args = base_args(release, server, host_certs, "InstallDIRAC,ConfigureBasics,ConfigureArchitectureWithoutCLI") + [
        "--install-methods=preinstalled"]
    run = _run(pyz, work, args, env={"FAKE_DIRAC_FAIL": "dirac-platform"})   # never called
    assert run.rc == 0, run.out
    architecture = run.cfg().get("/LocalSite/Architecture")
    assert architecture.startswith("Linux_%s_glibc-" % platform.machine())
    assert re.match(r"^Linux_\w+_glibc-\d+\.\d+$", architecture), architecture
    assert run.cfg().get("/LocalSite/Platform") == platform.machine()
    assert run.details("ConfigureArchitectureWithoutCLI")["architecture"] == architecture


# -- CheckWNCapabilities, ConfigureCPURequirements ----------------------------------------------------

def test_wn_capabilities_honour_pilot_processors(full):
    """-P 3 is used (DIRAC discarded it), capped by what the node really has (CPUs, affinity, cgroup)."""
    cfg = full.cfg()
    processors = full.details("CheckWNCapabilities")["capabilities"]["processors"]
    expected = min(3, processors["limit"])
    assert processors["count"] == expected
    assert processors["source"].startswith("-P")
    assert cfg.get("/Resources/Computing/CEDefaults/NumberOfProcessors") == str(expected)
    assert cfg.get("/Resources/Computing/CEDefaults/MaxRAM") == "4096"   # the queue's value


def test_cpu_requirements(full):
    cfg = full.cfg()
    factor = float(cfg.get("/LocalSite/CPUNormalizationFactor"))
    left = int(cfg.get("/LocalSite/CPUTimeLeft"))
    assert factor > 0
    assert left > 0
    details = full.details("ConfigureCPURequirements")
    assert details["db12"]["mode"] == "quick"
    assert details["db12"]["score"] > 0


# -- the whole run ----------------------------------------------------------------------------------------

def test_full_run_cfg_parses_and_agent_ran(full):
    cfg = full.cfg()
    names = [entry["name"] for entry in full.result["commands"]]
    assert names == ["CheckWorkerNode", "InstallDIRAC", "ConfigureBasics", "RegisterPilot", "CheckCECapabilities",
                     "CheckWNCapabilities", "ConfigureSite", "ConfigureArchitecture", "ConfigureCPURequirements",
                     "LaunchAgent"]
    assert full.details("LaunchAgent")["jobs"] == 1
    assert full.details("LaunchAgent")["job_ids"] == ["2"]          # the job of the -G group
    from pilot.config.cfg import CFG

    text = helpers.read_text(os.path.join(full.work, "pilot.cfg"))
    assert CFG.parse(text).dump() == CFG.parse(CFG.parse(text).dump()).dump()
    # the JobAgent wrote its CPU work left back into pilot.cfg (ExtraOptions)
    assert cfg.get("/LocalSite/CPUTimeLeft")

