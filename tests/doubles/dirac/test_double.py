"""Tests of the DIRAC test double itself: its tools honour DIRAC's command-line
contract and every install form works.  Run: python -m pytest tests/doubles/dirac
"""

import base64
import csv
import hashlib
import io
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import tarfile
import time
import zipfile

import pytest

from doubles.dirac.conftest import VERSION, isolated_env
import make_release
from fakedirac.cfg import CFG

STAMP = "0123456789abcdef0123456789abcdef"


def diraccfg_dict(path):
    """A written cfg as DIRAC's diraccfg reads it (the double's own parser if diraccfg is absent;
    the tests marked "diraccfg" below check that both parsers agree)."""
    try:
        import diraccfg
    except ImportError:
        return CFG.from_file(str(path)).as_dict()
    return diraccfg.CFG().loadFromFile(str(path)).getAsDict()


def real_diraccfg_dict(path):
    diraccfg = pytest.importorskip("diraccfg")
    return diraccfg.CFG().loadFromFile(str(path)).getAsDict()


def read_json(path):
    with open(str(path)) as handle:
        return json.load(handle)


def expected_platform():
    libc, version = platform.libc_ver()
    return "%s_%s_%s-%s" % (platform.system(), platform.machine(), libc, version)


# ---------------------------------------------------------------------------
# the CFG module
# ---------------------------------------------------------------------------
SAMPLE = """\
# a comment
DIRAC
{
  Setup = Test-Setup
  Configuration
  {
    Servers = dips://a.example:9135/Configuration/Server
    Servers += dips://b.example:9135/Configuration/Server
  }
  PreferredURLPatterns = "dips://.*\\.cern\\.ch.*", https://x=y
}
LocalSite
{
  Tag = A, B,, C
  JSONish = {"a": 1}
  Empty =
}
Systems {
  WorkloadManagement { Agents { JobAgent {
    MaxCycles = 3
  } } }
}
"""


def test_cfg_parser_reads_like_diraccfg(tmp_path):
    path = tmp_path / "sample.cfg"
    path.write_text(SAMPLE)
    ours = CFG.from_file(str(path))
    assert ours.as_dict() == real_diraccfg_dict(path)
    assert ours.get_list("/DIRAC/Configuration/Servers") == [
        "dips://a.example:9135/Configuration/Server",
        "dips://b.example:9135/Configuration/Server",
    ]
    assert ours.get_list("/LocalSite/Tag") == ["A", "B", "C"]
    assert ours.get_option("/Systems/WorkloadManagement/Agents/JobAgent/MaxCycles") == "3"


def test_cfg_parsers_agree_on_a_brace_after_a_value(tmp_path):
    # "}" after "=" belongs to the value, for DIRAC as for the double: unbalanced
    diraccfg = pytest.importorskip("diraccfg")
    text = "A {\n  B = 1 }\n"
    with pytest.raises(ValueError):
        CFG.from_string(text)
    with pytest.raises(ValueError):
        diraccfg.CFG().loadFromBuffer(text)


def test_cfg_writer_output_parses_with_diraccfg(tmp_path):
    cfg = CFG.from_string(SAMPLE)
    cfg.set_option("/LocalSite/BatchSystemInfo/Parameters/Queue", "long")
    cfg.set_option("/Resources/Computing/CEDefaults/Tag", "GPU, WholeNode")
    cfg.set_option("/DIRAC/Security/UseServerCertificate", True)
    path = tmp_path / "out.cfg"
    cfg.write_file(str(path))
    parsed = real_diraccfg_dict(path)
    assert parsed["LocalSite"]["BatchSystemInfo"]["Parameters"]["Queue"] == "long"
    assert parsed["Resources"]["Computing"]["CEDefaults"]["Tag"] == "GPU, WholeNode"
    assert parsed["DIRAC"]["Security"]["UseServerCertificate"] == "True"
    assert "Tag += WholeNode" in path.read_text()  # DIRAC's own way of writing lists
    assert CFG.from_file(str(path)).as_dict() == parsed


# ---------------------------------------------------------------------------
# dirac-configure
# ---------------------------------------------------------------------------
def test_configure_writes_every_option_and_flag(release, tmp_path):
    out = tmp_path / "pilot.cfg"
    result = release.run(
        "dirac-configure",
        "-S",
        "Test-Setup",
        "-C",
        "file:///srv/dirac",
        "-e",
        "LHCb",
        "-n",
        "LCG.Test.ch",
        "-N",
        "ce.test.local",
        "-V",
        "testvo",
        "-A",
        "Linux_x86_64_glibc-2.36",
        "-L",
        "TEST-SE",
        "-I",
        "-U",
        "-H",
        "-D",
        "-M",
        "-v",
        "-o",
        "/LocalSite/ReleaseVersion=9.0.0",
        "-o",
        "/AgentJobRequirements/OwnerGroup=test_pilot",
        "-o",
        "RelativeOption=rel",
        "-s",
        "/Resources/Computing/CEDefaults",
        "-o",
        "VirtualOrganization=testvo",
        "-o",
        '/DIRAC/PreferredURLPatterns="dips://.*\\.test.*"',
        "-O",
        out,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout
    parsed = diraccfg_dict(out)
    assert parsed == CFG.from_file(str(out)).as_dict()
    assert parsed["DIRAC"]["Setup"] == "Test-Setup"
    assert parsed["DIRAC"]["Configuration"]["Servers"] == "file:///srv/dirac"
    assert parsed["DIRAC"]["Extensions"] == "LHCb"
    assert parsed["DIRAC"]["VirtualOrganization"] == "testvo"
    assert parsed["DIRAC"]["PreferredURLPatterns"] == '"dips://.*\\.test.*"'
    assert parsed["LocalSite"] == {
        "Site": "LCG.Test.ch",
        "Architecture": "Linux_x86_64_glibc-2.36",
        "LocalSE": "TEST-SE",
        "ReleaseVersion": "9.0.0",
    }
    assert parsed["AgentJobRequirements"]["OwnerGroup"] == "test_pilot"
    assert parsed["Scripts"]["dirac-configure"]["RelativeOption"] == "rel"
    assert parsed["Resources"]["Computing"]["CEDefaults"]["VirtualOrganization"] == "testvo"
    installation = parsed["LocalInstallation"]
    for key, value in {
        "Setup": "Test-Setup",
        "ConfigurationServer": "file:///srv/dirac",
        "Extensions": "LHCb",
        "SiteName": "LCG.Test.ch",
        "CEName": "ce.test.local",
        "VirtualOrganization": "testvo",
        "Architecture": "Linux_x86_64_glibc-2.36",
        "LocalSE": "TEST-SE",
        "UseServerCertificate": "True",
        "SkipCAChecks": "True",
        "SkipCADownload": "True",
        "SkipVOMSDownload": "True",
        "UseVersionsDir": "True",
    }.items():
        assert installation[key] == value, key
    # DIRAC removes these before writing when the server certificate is used
    assert "UseServerCertificate" not in parsed["DIRAC"].get("Security", {})


def test_configure_without_server_certificate_says_no(release, tmp_path):
    out = tmp_path / "pilot.cfg"
    result = release.run(
        "dirac-configure",
        "-S",
        "S",
        "-C",
        "file:///x",
        "-DMH",
        "-o",
        "/DIRAC/Security/UseServerCertificate=yes",
        "-O",
        out,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout
    security = diraccfg_dict(out)["DIRAC"]["Security"]
    assert security == {"UseServerCertificate": "no", "SkipCAChecks": "yes"}


def test_configure_gateway_gives_the_servers(release, tmp_path):
    out = tmp_path / "pilot.cfg"
    result = release.run(
        "dirac-configure", "-S", "S", "--gateway=dips://gw.test:9159", "-DMH", "-n", "LCG.A.b", "-O", out, cwd=tmp_path
    )
    assert result.returncode == 0, result.stdout
    parsed = diraccfg_dict(out)
    assert parsed["DIRAC"]["Configuration"]["Servers"] == "dips://gw.test:9159/Configuration/Server"
    assert parsed["DIRAC"]["Gateways"] == {"LCG.A.b": "dips://gw.test:9159"}
    assert parsed["LocalInstallation"]["Gateway"] == "dips://gw.test:9159"


@pytest.mark.parametrize("bad", ["--bogus", "-Z", "--SkipCA"])
def test_configure_rejects_unknown_or_ambiguous_flags(release, tmp_path, bad):
    out = tmp_path / "pilot.cfg"
    result = release.run("dirac-configure", "-S", "S", "-C", "file:///x", bad, "-O", out, cwd=tmp_path)
    assert result.returncode == 2, result.stdout
    assert "Error when parsing command line arguments: " in result.stdout
    assert "Usage:" in result.stdout and "--ForceUpdate" in result.stdout
    assert not out.exists()


def test_configure_long_option_prefix_and_interleaved_arguments(release, tmp_path):
    out = tmp_path / "pilot.cfg"
    extra = tmp_path / "extra.cfg"
    extra.write_text("LocalSite\n{\n  FromPositional = yes\n}\n")
    result = release.run(
        "dirac-configure", "--Set=S", "--Conf", "file:///x", str(extra), "-DMH", "--out=%s" % out, cwd=tmp_path
    )
    assert result.returncode == 0, result.stdout
    parsed = diraccfg_dict(out)
    assert parsed["DIRAC"]["Setup"] == "S"
    assert parsed["LocalSite"]["FromPositional"] == "yes"
    assert "Parsing of '.cfg' files as command line arguments is changing" in result.stdout


def test_configure_respects_force_update(release, tmp_path):
    out = tmp_path / "pilot.cfg"
    first = release.run("dirac-configure", "-S", "One", "-C", "file:///x", "-DMH", "-O", out, cwd=tmp_path)
    assert first.returncode == 0, first.stdout
    before = out.read_bytes()
    second = release.run("dirac-configure", "-S", "Two", "-C", "file:///x", "-DMH", "-O", out, cwd=tmp_path)
    assert second.returncode == 0, second.stdout
    assert out.read_bytes() == before
    third = release.run("dirac-configure", "-S", "Two", "-DMH", "-F", "--cfg", out, "-O", out, cwd=tmp_path)
    assert third.returncode == 0, third.stdout
    parsed = diraccfg_dict(out)
    assert parsed["DIRAC"]["Setup"] == "Two"
    assert parsed["DIRAC"]["Configuration"]["Servers"] == "file:///x"  # merged from --cfg


def test_configure_writes_through_the_etc_symlink(release, tmp_path):
    (tmp_path / "pilot.cfg").write_text("DIRAC\n{\n  Setup = S\n}\n")
    (tmp_path / "etc").mkdir()
    os.symlink("../pilot.cfg", str(tmp_path / "etc" / "dirac.cfg"))
    result = release.run(
        "dirac-configure", "-C", "file:///x", "-FDMH", "--cfg", "etc/dirac.cfg", "-O", "etc/dirac.cfg", cwd=tmp_path
    )
    assert result.returncode == 0, result.stdout
    assert os.path.islink(str(tmp_path / "etc" / "dirac.cfg"))
    assert diraccfg_dict(tmp_path / "pilot.cfg")["DIRAC"]["Configuration"]["Servers"] == "file:///x"


def test_configure_merges_cfg_inputs_and_options_win(release, tmp_path):
    a, b, out = tmp_path / "a.cfg", tmp_path / "b.cfg", tmp_path / "out.cfg"
    a.write_text(
        "DIRAC\n{\n  Setup = FromA\n  Configuration\n  {\n    Servers = file:///a\n  }\n}\n"
        "LocalSite\n{\n  A = 1\n  Shared = a\n}\n"
    )
    b.write_text("LocalSite\n{\n  B = 2\n  Shared = b\n}\n")
    result = release.run(
        "dirac-configure", "--cfg", a, "--cfg", b, "-o", "/LocalSite/B=3", "-DMH", "-O", out, cwd=tmp_path
    )
    assert result.returncode == 0, result.stdout
    parsed = diraccfg_dict(out)
    assert parsed["DIRAC"]["Setup"] == "FromA"
    assert parsed["LocalSite"] == {"A": "1", "Shared": "b", "B": "3"}


def test_configure_needs_a_setup_and_a_configuration_server(release, tmp_path):
    out = tmp_path / "pilot.cfg"
    no_setup = release.run("dirac-configure", "-C", "file:///x", "-DMH", "-O", out, cwd=tmp_path)
    assert no_setup.returncode == 1 and "Setup" in no_setup.stdout
    no_cs = release.run("dirac-configure", "-S", "S", "-DMH", "-O", out, cwd=tmp_path)
    assert no_cs.returncode == 1 and "ConfigurationServer" in no_cs.stdout
    assert not out.exists()
    sysconfig = tmp_path / "sys.cfg"
    sysconfig.write_text("DIRAC\n{\n  Setup = S\n  Configuration\n  {\n    Servers = file:///x\n  }\n}\n")
    from_env = release.run("dirac-configure", "-DMH", "-O", out, cwd=tmp_path, env={"DIRACSYSCONFIG": str(sysconfig)})
    assert from_env.returncode == 0, from_env.stdout


def test_configure_failure_hooks(release, tmp_path):
    out = tmp_path / "pilot.cfg"
    base = ["-S", "S", "-C", "file:///x", "-DMH", "-O", out]
    assert release.run("dirac-configure", "-o", "/LocalSite/FakeConfigureFail=7", *base, cwd=tmp_path).returncode == 7
    assert release.run("dirac-configure", "-o", "/LocalSite/Anything=FAIL", *base, cwd=tmp_path).returncode == 1
    hooked = release.run(
        "dirac-configure", *base, cwd=tmp_path, env={"FAKE_DIRAC_FAIL": "dirac-platform,dirac-configure:5"}
    )
    assert hooked.returncode == 5 and "FAKE_DIRAC_FAIL" in hooked.stdout
    assert not out.exists()


def test_configure_default_output_is_the_release_dirac_cfg(release, tmp_path):
    # the default output (no -O) is <$DIRAC>/etc/dirac.cfg: use a private copy of the tree
    tree = tmp_path / "tree"
    shutil.copytree(os.path.dirname(release["preinstalled_rc"]), str(tree), symlinks=True)
    result = release.run("dirac-configure", "-S", "S", "-C", "file:///x", cwd=tmp_path, rc=str(tree / "diracosrc"))
    assert result.returncode == 0, result.stdout
    assert diraccfg_dict(tree / "etc" / "dirac.cfg")["DIRAC"]["Setup"] == "S"
    # no -D / -M: the CA and VOMS directories are made, as a CA download would
    for sub in ("certificates", "vomsdir", "vomses"):
        assert (tree / "etc" / "grid-security" / sub).is_dir()


# ---------------------------------------------------------------------------
# the other tools
# ---------------------------------------------------------------------------
def test_platform_prints_the_node_platform_last(release, tmp_path):
    result = release.run("dirac-platform", "-ddd", cwd=tmp_path)
    assert result.returncode == 0, result.stdout
    assert result.stdout.strip().splitlines()[-1] == expected_platform()
    assert re.match(r"^Linux_\w+_glibc-\d+\.\d+$", expected_platform()) or platform.system() != "Linux"


def write_pilot_cfg(release, cwd, server, extra=()):
    """pilot.cfg as ConfigureBasics + ConfigureSite + ConfigureArchitecture leave it."""
    steps = [
        [
            "-S",
            "Test-Setup",
            "-C",
            "file://%s" % server,
            "-o",
            "/LocalSite/ReleaseVersion=%s" % VERSION,
            "-DMH",
            "-O",
            "pilot.cfg",
        ],
        [
            "-o",
            "/LocalSite/GridMiddleware=DIRAC",
            "-n",
            "LCG.Test.local",
            "-S",
            "Test-Setup",
            "-N",
            "ce.test.local",
            "-o",
            "/LocalSite/GridCE=ce.test.local",
            "-o",
            "/LocalSite/CEQueue=default",
            "-o",
            "/LocalSite/PilotReference=ref://test/1",
            "-o",
            "/LocalSite/Architecture=%s" % expected_platform(),
            "-FDMH",
            "--cfg",
            "pilot.cfg",
            "-O",
            "pilot.cfg",
        ]
        + list(extra),
    ]
    for args in steps:
        result = release.run("dirac-configure", *args, cwd=cwd)
        assert result.returncode == 0, result.stdout


def test_add_pilot_and_get_parameters(release, tmp_path, server):
    write_pilot_cfg(release, tmp_path, server)
    added = release.run(
        "dirac-admin-add-pilot",
        "ref://test/1",
        "testvo",
        "DIRAC",
        STAMP,
        "--status=Running",
        "-o",
        "/DIRAC/Security/UseServerCertificate=yes",
        "--cfg",
        "pilot.cfg",
        "-d",
        cwd=tmp_path,
    )
    assert added.returncode == 0, added.stdout
    record = read_json(os.path.join(server, "pilots", STAMP + ".json"))
    assert (record["Status"], record["PilotReference"], record["VO"]) == ("Running", "ref://test/1", "testvo")
    bad = release.run(
        "dirac-admin-add-pilot", "ref", "vo", "DIRAC", STAMP, "--status=Bogus", "--cfg", "pilot.cfg", cwd=tmp_path
    )
    assert bad.returncode == 1 and "is not a valid pilot status" in bad.stdout
    short = release.run("dirac-admin-add-pilot", "ref", "vo", "--cfg", "pilot.cfg", cwd=tmp_path)
    assert short.returncode == 1 and "not all mandatory arguments" in short.stdout

    params = release.run(
        "dirac-resource-get-parameters",
        "-S",
        "LCG.Test.local",
        "-N",
        "ce.test.local",
        "-Q",
        "default",
        "--cfg",
        "pilot.cfg",
        "-d",
        cwd=tmp_path,
    )
    assert params.returncode == 0, params.stdout
    lines = params.stdout.strip().splitlines()
    assert len(lines) >= 3 and "WARN" in lines[0]
    queue = json.loads(lines[-1])
    assert queue["Tag"] == ["FakeTag", "TestQueue"] and queue["MaxRAM"] == "4096"
    missing = release.run(
        "dirac-resource-get-parameters",
        "-S",
        "x",
        "-N",
        "ce.test.local",
        "-Q",
        "nope",
        "--cfg",
        "pilot.cfg",
        cwd=tmp_path,
    )
    assert missing.returncode == 1 and "Could not retrieve resource parameters" in missing.stdout

    wn = release.run(
        "dirac-wms-get-wn-parameters",
        "-S",
        "LCG.Test.local",
        "-N",
        "ce.test.local",
        "-Q",
        "default",
        "--cfg",
        "pilot.cfg",
        "-d",
        cwd=tmp_path,
    )
    assert wn.returncode == 0, wn.stdout
    assert re.match(r"^\d+ \d+ \d+$", wn.stdout.strip().splitlines()[-1])


def test_cpu_tools_print_the_reference_lines(release, tmp_path, server):
    write_pilot_cfg(release, tmp_path, server)
    norm = release.run(
        "dirac-wms-cpu-normalization",
        "-U",
        "-R",
        "pilot.cfg",
        "--cfg",
        "pilot.cfg",
        "-d",
        cwd=tmp_path,
        env={"FAKE_DIRAC_CPU_POWER": "12.34"},
    )
    assert norm.returncode == 0, norm.stdout
    assert "Estimated CPU power is 12.3 HS06" in norm.stdout
    assert diraccfg_dict(tmp_path / "pilot.cfg")["LocalSite"]["CPUNormalizationFactor"] == "12.3"
    measured = release.run("dirac-wms-cpu-normalization", cwd=tmp_path)
    assert re.search(r"Estimated CPU power is \d+\.\d HS06", measured.stdout), measured.stdout
    queue = release.run(
        "dirac-wms-get-queue-cpu-time", "--CPUNormalizationFactor=12.3", "--cfg", "pilot.cfg", "-d", cwd=tmp_path
    )
    assert queue.returncode == 0, queue.stdout
    assert queue.stdout.strip().splitlines()[-1] == "CPU time left determined as 172800"  # 2880 min


# ---------------------------------------------------------------------------
# install forms
# ---------------------------------------------------------------------------
def sourced_env(rc, cwd, env=None):
    result = subprocess.run(
        ["bash", "-c", 'source "$0" && env', rc],
        cwd=str(cwd),
        stdout=subprocess.PIPE,
        universal_newlines=True,
        env=env or isolated_env(cwd),
        check=True,
    )
    return dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)


def test_preinstalled_and_cvmfs_areas(release, tmp_path):
    for rc in (release["preinstalled_rc"], release["cvmfs_rc"]):
        assert os.path.isfile(rc)
        env = sourced_env(rc, tmp_path)
        assert env["FAKE_DIRAC_VERSION"] == VERSION and env["FAKE_DIRAC_FORM"] == "preinstalled"
        assert env["PATH"].split(":")[0] == os.path.join(env["DIRAC"], "bin")
        assert not any("{" in value or "}" in value for value in env.values() if value)
    plat = "%s-%s" % (platform.system(), platform.machine())
    assert os.path.isfile(os.path.join(release["preinstalled_prefix"], VERSION, plat, "diracosrc"))
    assert os.path.isfile(os.path.join(release["preinstalled_prefix"], "pro", plat, "diracosrc"))
    for sub in ("certificates", "vomsdir", "vomses"):
        assert os.listdir(os.path.join(release["cvmfs_location"], "etc", "grid-security", sub))
    # the launchers do not depend on PATH: a bare environment still runs them
    bare = subprocess.run(
        [
            "env",
            "-i",
            "PATH=/usr/bin:/bin",
            "HOME=%s" % tmp_path,
            "bash",
            "-c",
            'source "$0" && dirac-version && dirac-platform',
            release["cvmfs_rc"],
        ],
        cwd=str(tmp_path),
        stdout=subprocess.PIPE,
        universal_newlines=True,
    )
    assert bare.returncode == 0
    assert bare.stdout.split() == [VERSION, expected_platform()]


def test_tarball_unpacks_and_works_anywhere(release, tmp_path):
    tarball = release["tarball"]
    with open(tarball + ".sha256") as handle:
        expected, name = handle.read().split()
    assert name == os.path.basename(tarball)
    assert hashlib.sha256(open(tarball, "rb").read()).hexdigest() == expected == release["tarball_sha256"]
    with tarfile.open(tarball) as archive:
        assert "diracosrc" in archive.getnames()
    # served over HTTP as the tests of the pilot do
    from urllib.request import urlopen
    from urllib.error import HTTPError

    httpd, url = make_release.serve(os.path.dirname(os.path.dirname(tarball)))
    try:
        data = urlopen("%s/tarball/%s" % (url, name), timeout=10).read()
        assert hashlib.sha256(data).hexdigest() == expected
        with pytest.raises(HTTPError):
            urlopen("%s/tarball/missing.tar.gz" % url, timeout=10)
    finally:
        httpd.shutdown()
        httpd.server_close()
    for where in ("a", os.path.join("deeper", "b")):
        dest = tmp_path / where
        dest.mkdir(parents=True)
        with tarfile.open(tarball) as archive:
            archive.extractall(str(dest))
        result = subprocess.run(
            ["bash", "-c", 'source ./diracosrc && echo "$DIRAC" && dirac-version'],
            cwd=str(dest),
            stdout=subprocess.PIPE,
            universal_newlines=True,
            env=isolated_env(tmp_path),
        )
        assert result.returncode == 0
        assert result.stdout.split() == [str(dest), VERSION]


def test_wheel_is_well_formed(release):
    with zipfile.ZipFile(release["wheel"]) as wheel:
        names = wheel.namelist()
        distinfo = "DIRAC-%s.dist-info" % VERSION
        metadata = wheel.read(distinfo + "/METADATA").decode()
        assert "Name: DIRAC\n" in metadata and "Provides-Extra: pilot" in metadata
        entry_points = wheel.read(distinfo + "/entry_points.txt").decode()
        for tool in (
            "dirac-configure",
            "dirac-platform",
            "dirac-agent",
            "dirac-admin-add-pilot",
            "dirac-resource-get-parameters",
            "dirac-wms-cpu-normalization",
            "dirac-wms-get-queue-cpu-time",
            "dirac-wms-get-wn-parameters",
        ):
            assert "\n%s = fakedirac.scripts:" % tool in entry_points
        rows = list(csv.reader(io.StringIO(wheel.read(distinfo + "/RECORD").decode())))
        assert sorted(r[0] for r in rows) == sorted(names)
        for path, digest, size in rows:
            if path.endswith("RECORD"):
                continue
            data = wheel.read(path)
            b64 = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            assert digest == "sha256=" + b64 and int(size) == len(data)
        assert "BUILD = 'wheel'" in wheel.read("fakedirac/_release.py").decode()
    page = open(os.path.join(release["index_simple"], "dirac", "index.html")).read()
    assert os.path.basename(release["wheel"]) in page and release["wheel_sha256"] in page


def test_installer_makes_diracos_and_pip_installs_the_release(release, diracos, tmp_path):
    assert "MAMBA_EXTRACT_THREADS=3" in diracos["installer_output"]
    assert os.path.isfile(diracos["rc"])
    env = sourced_env(diracos["rc"], diracos["base"], diracos["env"])
    assert env["DIRACOS"] == str(diracos["prefix"])
    for tool in ("dirac-configure", "dirac-agent", "dirac-platform", "python", "pip"):
        assert os.access(str(diracos["prefix"] / "bin" / tool), os.X_OK), tool
    result = subprocess.run(
        ["bash", "-c", 'source "$0" && dirac-version && dirac-platform', diracos["rc"]],
        cwd=str(tmp_path),
        stdout=subprocess.PIPE,
        universal_newlines=True,
        env=diracos["env"],
    )
    assert result.stdout.split() == [VERSION, expected_platform()]
    # a second run refuses an existing prefix, as the real installer does
    again = subprocess.run(
        ["bash", release["installer"]],
        cwd=str(diracos["base"]),
        env=diracos["env"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        universal_newlines=True,
    )
    assert again.returncode == 1 and "already exists" in again.stdout
    failing = subprocess.run(
        ["bash", release["installer"], "-p", str(tmp_path / "x")],
        cwd=str(tmp_path),
        env=dict(diracos["env"], FAKE_DIRACOS_FAIL="4"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        universal_newlines=True,
    )
    assert failing.returncode == 4
    with open(release["installer"] + ".sha256") as handle:
        assert handle.read().split()[0] == hashlib.sha256(open(release["installer"], "rb").read()).hexdigest()


def test_simple_index_serves_the_wheel(release, diracos, tmp_path):
    result = subprocess.run(
        [
            "bash",
            "-c",
            'source "$0" && pip download --no-deps -d "$1" --index-url "$2" "$3"',
            diracos["rc"],
            str(tmp_path / "dl"),
            "file://%s" % release["index_simple"],
            release["pip_requirement"],
        ],
        cwd=str(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        universal_newlines=True,
        env=diracos["env"],
        timeout=120,
    )
    assert result.returncode == 0, result.stdout
    assert os.listdir(str(tmp_path / "dl")) == [os.path.basename(release["wheel"])]


def test_git_repository_installs_offline(release, diracos, tmp_path):
    branches = subprocess.run(
        ["git", "branch", "--list"],
        cwd=release["git_repo"],
        stdout=subprocess.PIPE,
        universal_newlines=True,
        check=True,
    ).stdout
    assert "* devel" in branches
    target = tmp_path / "target"
    result = subprocess.run(
        [
            "bash",
            "-c",
            'source "$0" && pip install --no-index --target "$1" "$2"',
            diracos["rc"],
            str(target),
            release["git_requirement"],
        ],
        cwd=str(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        universal_newlines=True,
        env=diracos["env"],
        timeout=180,
    )
    assert result.returncode == 0, result.stdout
    assert os.access(str(target / "bin" / "dirac-agent"), os.X_OK)
    assert "VERSION = '%s'" % VERSION in (target / "fakedirac" / "_release.py").read_text()


def test_lhcb_project_names(tmp_path):
    manifest = make_release.make_release(str(tmp_path / "lhcb"), "11.0.3", project="LHCb")
    assert os.path.basename(manifest["wheel"]) == "LHCbDIRAC-11.0.3-py3-none-any.whl"
    assert manifest["cvmfs_rc"].endswith(os.path.join("lhcbdirac", "11.0.3", "Linux-x86_64", "diracosrc"))
    assert os.path.isfile(manifest["cvmfs_rc"])
    assert manifest["pip_requirement"] == "LHCbDIRAC[pilot]==11.0.3"
    assert os.path.isfile(os.path.join(manifest["index_simple"], "lhcbdirac", "index.html"))


# ---------------------------------------------------------------------------
# dirac-agent WorkloadManagement/JobAgent
# ---------------------------------------------------------------------------
def agent_args(cwd, *options, **kw):
    """The dirac-agent command line of LaunchAgent (InProcess inner CE)."""
    args = [
        "WorkloadManagement/JobAgent",
        "-o",
        "MaxCycles=%s" % kw.get("cycles", 3),
        "-o",
        "PollingTime=0",
        "-o",
        "StopOnApplicationFailure=True",
        "-o",
        "StopAfterFailedMatches=%s" % kw.get("failed", 0),
        "-o",
        "LogLevel=INFO",
        "-s",
        "/Resources/Computing/CEDefaults",
        "-o",
        "WorkingDirectory=%s" % cwd,
        "-o",
        "/LocalSite/CPUTime=3456000",
        "-o",
        "/LocalSite/InstancePath=%s" % cwd,
        "-o",
        "/AgentJobRequirements/ExtraOptions=pilot.cfg",
    ]
    return args + list(options) + ["--cfg", "pilot.cfg"]


def test_agent_runs_the_waiting_job(release, tmp_path, server):
    write_pilot_cfg(release, tmp_path, server)
    result = release.run(
        "dirac-agent", *agent_args(tmp_path), cwd=tmp_path, env={"DIRAC_PILOT_STAMP": STAMP, "PYTHONUNBUFFERED": "yes"}
    )
    assert result.returncode == 0, result.stdout
    assert "Received JobID=1," in result.stdout
    assert "hello from job 1" in result.stdout
    assert 'JobAgent will stop with message "Filling Mode is Disabled"' in result.stdout
    done = read_json(os.path.join(server, "done", "1.json"))
    assert (done["ExitCode"], done["Status"], done["PilotStamp"]) == (0, "Done", STAMP)
    assert done["Output"] == "hello from job 1\n" and done["Site"] == "LCG.Test.local"
    assert os.listdir(os.path.join(server, "jobs")) == [] and os.listdir(os.path.join(server, "running")) == []
    pilot = read_json(os.path.join(server, "pilots", STAMP + ".json"))
    assert pilot["Status"] == "Done" and pilot["Jobs"] == 1
    assert (tmp_path / "1").is_dir()  # the job's working directory


def test_agent_filling_mode_runs_several_jobs_then_stops_when_idle(release, tmp_path, server):
    write_pilot_cfg(release, tmp_path, server)
    make_release.main(["--add-job", server, "--", "/bin/sh", "-c", "echo second; exit 3"])
    added = subprocess.run(
        [
            "python3",
            make_release.__file__,
            "--add-job",
            server,
            "--job-json",
            '{"JobName": "third", "Tags": ["GPU"]}',
            "--",
            "/bin/echo",
            "third",
        ],
        stdout=subprocess.PIPE,
        universal_newlines=True,
        check=True,
    )
    assert added.stdout.strip() == "3"
    result = release.run(
        "dirac-agent",
        *agent_args(
            tmp_path,
            "-o",
            "/Systems/WorkloadManagement/Agents/JobAgent/FillingModeFlag=True",
            "-o",
            "/Systems/WorkloadManagement/Agents/JobAgent/StopOnApplicationFailure=False",
            cycles=10,
            failed=1,
        ),
        cwd=tmp_path,
        env={"DIRAC_PILOT_STAMP": STAMP},
    )
    assert result.returncode == 0, result.stdout
    assert "Received JobID=1," in result.stdout and "Received JobID=2," in result.stdout
    assert "Payload execution failed with error code 3" in result.stdout
    # job 3 needs the GPU tag, which the CE does not offer: it stays waiting
    assert "Received JobID=3," not in result.stdout
    assert os.listdir(os.path.join(server, "jobs")) == ["3.json"]
    assert "Nothing to do for more than 1 cycles" in result.stdout
    assert read_json(os.path.join(server, "done", "2.json"))["ExitCode"] == 3
    # in filling mode the agent writes the CPU work left into the ExtraOptions cfg, as DIRAC's does
    left = float(diraccfg_dict(tmp_path / "pilot.cfg")["LocalSite"]["CPUTimeLeft"])
    assert 0 < left <= 3456000


def test_agent_with_a_missing_key_is_a_configuration_error(release, tmp_path, server):
    write_pilot_cfg(release, tmp_path, server)
    bad_ce = release.run("dirac-agent", *agent_args(tmp_path, "-o", "/LocalSite/LocalCE=Bogus"), cwd=tmp_path)
    assert bad_ce.returncode == 2, bad_ce.stdout
    cfg = CFG.from_file(str(tmp_path / "pilot.cfg"))
    cfg.delete("/LocalSite/GridCE")
    cfg.write_file(str(tmp_path / "pilot.cfg"))
    result = release.run("dirac-agent", *agent_args(tmp_path), cwd=tmp_path)
    assert result.returncode == 1, result.stdout
    assert "Cannot load configuration" in result.stdout and "/LocalSite/GridCE" in result.stdout
    assert os.listdir(os.path.join(server, "jobs")) == ["1.json"]
    no_setup = release.run("dirac-agent", "WorkloadManagement/JobAgent", cwd=tmp_path)
    assert no_setup.returncode == 1 and "/DIRAC/Setup" in no_setup.stdout
    no_agent = release.run("dirac-agent", "--cfg", "pilot.cfg", cwd=tmp_path)
    assert no_agent.returncode == 1
    other = release.run("dirac-agent", "WorkloadManagement/SiteDirector", "--cfg", "pilot.cfg", cwd=tmp_path)
    assert other.returncode == 2 and "Error while loading agent module" in other.stdout


def test_agent_stops_on_the_drain_file(release, tmp_path, server):
    write_pilot_cfg(release, tmp_path, server)
    drain = tmp_path / "dirac_drain"
    drain.write_text("")
    result = release.run(
        "dirac-agent",
        *agent_args(tmp_path),
        cwd=tmp_path,
        env={"FAKE_DIRAC_DRAIN_FILE": str(drain), "DIRAC_PILOT_STAMP": STAMP},
    )
    assert result.returncode == 0, result.stdout
    assert "Node is being drained by an operator" in result.stdout
    assert "Received JobID" not in result.stdout
    assert os.listdir(os.path.join(server, "jobs")) == ["1.json"]
    assert read_json(os.path.join(server, "pilots", STAMP + ".json"))["Status"] == "Done"


def test_agent_stops_when_no_cpu_work_is_left(release, tmp_path, server):
    write_pilot_cfg(release, tmp_path, server, extra=["-o", "/LocalSite/CPUNormalizationFactor=10"])
    make_release.main(["--add-job", server, "--", "/bin/true"])
    result = release.run(
        "dirac-agent",
        *agent_args(
            tmp_path,
            "-o",
            "/LocalSite/CPUTime=5000",
            "-o",
            "/Systems/WorkloadManagement/Agents/JobAgent/FillingModeFlag=yes",
            cycles=5,
        ),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout
    assert 'with message "No more time left"' in result.stdout
    assert "Received JobID=2" not in result.stdout


def test_agent_without_jobs_ends_normally(release, tmp_path):
    empty = make_release.make_server(str(tmp_path / "empty"), with_job=False)
    write_pilot_cfg(release, tmp_path, empty)
    result = release.run("dirac-agent", *agent_args(tmp_path, failed=1, cycles=10), cwd=tmp_path)
    assert result.returncode == 0, result.stdout
    assert result.stdout.count("Job request OK, but no match found") == 2
    assert "Nothing to do for more than 1 cycles" in result.stdout
    records = os.listdir(os.path.join(empty, "pilots"))
    assert len(records) == 1 and read_json(os.path.join(empty, "pilots", records[0]))["Status"] == "Done"


def test_agent_crash_hook(release, tmp_path, server):
    write_pilot_cfg(release, tmp_path, server)
    result = release.run("dirac-agent", *agent_args(tmp_path, "-o", "/LocalSite/FakeJobAgentCrash=yes"), cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stdout and "FakeJobAgentCrash" in result.stdout


def test_agent_sigterm_stops_the_payload_and_marks_the_pilot(release, tmp_path, server):
    write_pilot_cfg(release, tmp_path, server)
    os.remove(os.path.join(server, "jobs", "1.json"))
    make_release.main(
        ["--add-job", server, "--job-id", "2", "--", "/bin/sh", "-c", "echo started; sleep 30; echo never"]
    )
    env = isolated_env(tmp_path, {"DIRAC_PILOT_STAMP": STAMP, "PYTHONUNBUFFERED": "yes"})
    proc = subprocess.Popen(
        ["bash", "-c", 'source "$0" && exec "$@"', release["preinstalled_rc"], "dirac-agent"] + agent_args(tmp_path),
        cwd=str(tmp_path),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        universal_newlines=True,
    )
    lines = []
    deadline = time.time() + 30
    for line in proc.stdout:
        lines.append(line)
        if line.strip() == "started" or time.time() > deadline:
            break
    start = time.time()
    proc.send_signal(signal.SIGTERM)
    lines.extend(proc.stdout)
    rc = proc.wait(timeout=30)
    output = "".join(lines)
    assert rc == -signal.SIGTERM, output
    assert time.time() - start < 10
    assert "Received signal 15" in output and "never" not in output
    done = read_json(os.path.join(server, "done", "2.json"))
    assert done["Status"] == "Killed" and done["ExitCode"] == -signal.SIGTERM
    pilot = read_json(os.path.join(server, "pilots", STAMP + ".json"))
    assert pilot["Stopped"] is True and pilot["StopSignal"] == 15 and pilot["Status"] != "Done"
