"""The pilot.cfg that the pilot leaves parses with DIRAC's own ``diraccfg`` (PyPI) and holds the keys the
JobAgent needs.

Runs the built dist/pilot.pyz (built first when missing) with the host Python through the whole default
command list against the DIRAC release double (preinstalled), then reads pilot.cfg with
``diraccfg.CFG().loadFromBuffer``.
"""

import json
import os
import platform
import subprocess
import sys

import pytest

diraccfg = pytest.importorskip("diraccfg", reason="pip install diraccfg (it belongs in setup.py's dev extra)")

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PYZ = os.path.join(REPO, "dist", "pilot.pyz")
MAKER = os.path.join(REPO, "tests", "doubles", "dirac", "make_release.py")
VERSION = "9.0.0"
STAMP = "feedfacefeedfacefeedfacefeedface"


def _maker(*args):
    out = subprocess.run(
        [sys.executable, MAKER] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=True, timeout=120
    ).stdout.decode()
    return out.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def pyz():
    if not os.path.isfile(PYZ):
        subprocess.run(
            [sys.executable, os.path.join(REPO, "build", "build_pilot.py"), "--quiet"], check=True, timeout=300
        )
    return PYZ


@pytest.fixture(scope="module")
def pilot_run(tmp_path_factory, pyz):
    base = tmp_path_factory.mktemp("diraccfg")
    release = json.loads(open(_maker("--version", VERSION, "--out", str(base / "release"))).read())
    server = str(base / "server")
    _maker("--new-server", server)
    # the pilot's owner group: the JobAgent then only matches jobs of that group
    _maker(
        "--add-job",
        server,
        "--job-id",
        "2",
        "--job-json",
        '{"OwnerGroup": "lhcb_pilot"}',
        "--",
        "/bin/sh",
        "-c",
        "echo job of the group",
    )
    certs = base / "certs"
    certs.mkdir()
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/DC=org/DC=test/CN=pilot.test.local",
            "-keyout",
            str(certs / "hostkey.pem"),
            "-out",
            str(certs / "hostcert.pem"),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=60,
    )
    work = base / "work"
    work.mkdir()
    (work / "pilot.json").write_text(
        json.dumps(
            {
                "DefaultSetup": "Test-Setup",
                "PreferredURLPatterns": ["*.test.local", "*.example.org"],
                "Test-Setup": {"Pilot": {"Version": VERSION}},
            }
        )
    )
    args = [
        "-S",
        "Test-Setup",
        "-r",
        VERSION,
        "-C",
        "file://" + server,
        "-N",
        release["ce"],
        "-Q",
        release["queue"],
        "-n",
        "DIRAC.Test.local",
        "-M",
        "1",
        "--cert",
        "--certLocation=%s" % certs,
        "-y",
        "InProcess",
        "--wnVO=lhcb",
        "-G",
        "lhcb_pilot",
        "-O",
        "/DC=org/CN=pilot owner",
        "-l",
        "LHCb",
        "--preinstalledEnv=%s" % release["preinstalled_rc"],
        "--install-methods=preinstalled",
        "-o",
        "/LocalSite/SharedArea=/cvmfs/lhcb.cern.ch",
        "-D",
        "10",
        "--CVMFS_locations=%s" % release["cvmfs_location"],
        "--PollingTime=0",
        "--StopAfterFailedMatches=1",
        "--db12=quick",
        "--pilotUUID=%s" % STAMP,
    ]
    env = dict(os.environ, SLURM_JOBID="4242", SLURM_JOB_PARTITION="grid", PYTHONDONTWRITEBYTECODE="1")
    for name in (
        "X509_USER_PROXY",
        "X509_CERT_DIR",
        "DIRAC_PILOT_VO",
        "DIRAC_PILOT_STAMP",
        "PYTHONPATH",
        "PILOT_EXTENSIONS_DIR",
        "JOBFEATURES",
    ):
        env.pop(name, None)
    proc = subprocess.run(
        [sys.executable, pyz] + args,
        cwd=str(work),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        timeout=300,
    )
    out = proc.stdout.decode("utf-8", "replace")
    assert proc.returncode == 0, out[-4000:] + proc.stderr.decode("utf-8", "replace")
    result = json.loads((work / "pilot_result.json").read_text())
    names = [entry["name"] for entry in result["commands"]]
    assert names == [
        "CheckWorkerNode",
        "InstallDIRAC",
        "ConfigureBasics",
        "RegisterPilot",
        "CheckCECapabilities",
        "CheckWNCapabilities",
        "ConfigureSite",
        "ConfigureArchitecture",
        "ConfigureCPURequirements",
        "LaunchAgent",
    ]
    text = (work / "pilot.cfg").read_text()
    return {
        "work": work,
        "text": text,
        "cfg": diraccfg.CFG().loadFromBuffer(text),
        "certs": certs,
        "server": server,
        "release": release,
        "result": result,
    }


def test_pilot_cfg_parses_with_diraccfg(pilot_run):
    cfg = pilot_run["cfg"]
    assert cfg.isSection("/DIRAC")
    assert cfg.isSection("/LocalSite")
    assert cfg.isSection("/Resources/Computing/CEDefaults")


def test_diraccfg_reads_every_value_as_the_pilot_does(pilot_run):
    sys.path.insert(0, os.path.join(REPO, "pilot_src"))
    sys.path.insert(0, REPO)
    from pilot_server.worker.config.cfg import CFG

    ours = CFG.parse(pilot_run["text"])
    theirs = pilot_run["cfg"]
    options = ours.options()
    assert len(options) > 30
    for path, value in options:
        assert theirs.getOption(path) == value, path

    # and nothing more: diraccfg sees exactly the pilot's options
    def walk(cfg, prefix):
        found = []
        for name in cfg.listAll():
            if cfg.isSection(name):
                found.extend(walk(cfg[name], prefix + "/" + name))
            else:
                found.append(prefix + "/" + name)
        return found

    assert sorted(walk(theirs, "")) == sorted(path for path, _ in options)


def test_section_7_keys(pilot_run):
    cfg = pilot_run["cfg"]
    certs = pilot_run["certs"]
    release = pilot_run["release"]
    get = cfg.getOption
    expected = {
        "/DIRAC/Setup": "Test-Setup",
        "/DIRAC/Security/CertFile": str(certs / "hostcert.pem"),
        "/DIRAC/Security/KeyFile": str(certs / "hostkey.pem"),
        "/LocalSite/Site": "DIRAC.Test.local",
        "/LocalSite/GridCE": release["ce"],
        "/LocalSite/CEQueue": release["queue"],
        "/LocalSite/LocalCE": "InProcess",
        "/LocalSite/PilotReference": "sshslurm://%s/4242" % release["ce"],
        "/LocalSite/GridMiddleware": "SSHSLURM",
        "/LocalSite/BatchSystemInfo/Type": "SLURM",
        "/LocalSite/BatchSystemInfo/JobID": "4242",
        "/LocalSite/BatchSystemInfo/Parameters/Queue": "grid",
        "/LocalSite/BatchSystemInfo/Parameters/BinaryPath": "Unknown",
        "/LocalSite/BatchSystemInfo/Parameters/Host": "Unknown",
        "/LocalSite/BatchSystemInfo/Parameters/InfoPath": "Unknown",
        "/LocalSite/ReleaseVersion": VERSION,
        "/LocalSite/ReleaseProject": "LHCb",
        "/LocalSite/CVMFS_locations": release["cvmfs_location"],
        "/LocalSite/SharedArea": "/cvmfs/lhcb.cern.ch",
        "/LocalSite/Platform": platform.machine(),
        "/LocalSite/MaxRAM": "4096",
        "/Resources/Computing/CEDefaults/VirtualOrganization": "lhcb",
        "/Resources/Computing/CEDefaults/MaxRAM": "4096",
        "/AgentJobRequirements/OwnerGroup": "lhcb_pilot",
        "/AgentJobRequirements/OwnerDN": "/DC=org/CN=pilot owner",
    }
    for path, value in expected.items():
        assert get(path) == value, path
    assert get("/DIRAC/Configuration/Servers", []) == ["file://" + pilot_run["server"]]
    assert get("/DIRAC/PreferredURLPatterns", []) == ["*.test.local", "*.example.org"]
    # dirac-configure -U removes /DIRAC/Security/UseServerCertificate before writing, as DIRAC's does (the
    # JobAgent gets it on its command line); it must never say "no" in a host-certificate pilot
    assert get("/DIRAC/Security/UseServerCertificate") in (None, "yes")
    assert get("/LocalInstallation/UseServerCertificate") in ("True", "yes")
    assert get("/LocalSite/Architecture").startswith("Linux_%s_glibc-" % platform.machine())
    assert float(get("/LocalSite/CPUNormalizationFactor")) > 0
    assert int(float(get("/LocalSite/CPUTimeLeft"))) > 0
    assert int(get("/Resources/Computing/CEDefaults/NumberOfProcessors")) >= 1
    tags = get("/Resources/Computing/CEDefaults/Tag", [])
    assert "FakeTag" in tags and "TestQueue" in tags


def test_the_job_agent_ran_with_it(pilot_run):
    agent = pilot_run["result"]["commands"][-1]
    assert agent["details"]["jobs"] == 1
    assert agent["details"]["job_ids"] == ["2"]
    done = json.loads(
        open(os.path.join(pilot_run["server"], "done", os.listdir(os.path.join(pilot_run["server"], "done"))[0])).read()
    )
    assert done["Site"] == "DIRAC.Test.local"
    assert done["PilotReference"] == "sshslurm://%s/4242" % pilot_run["release"]["ce"]


def test_etc_dirac_cfg_is_the_same_file(pilot_run):
    link = pilot_run["work"] / "etc" / "dirac.cfg"
    assert link.is_symlink()
    assert diraccfg.CFG().loadFromFile(str(link)).getAsDict() == pilot_run["cfg"].getAsDict()
