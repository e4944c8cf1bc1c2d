"""pilot/commands/install.py: its pieces (pip requirements, the safe tarball extraction) and its
options through the real pilot.pyz against the DIRAC release double."""

import io
import os
import stat
import tarfile

import pytest

import helpers
pytest.register_assert_rewrite("dirac_fixtures")  # before its first import
from dirac_fixtures import base_args, command_entry, pilot_env

# release, lhcb_release, git_release, host_certs, server: made once per session for every module using them
pytest_plugins = ["dirac_fixtures"]
from pilot.commands import install
from pilot.errors import PilotError

# -- pip requirements ---------------------------------------------------------------------------------


@pytest.mark.parametrize("project,version,expected", [
    ("", "9.0.0", "DIRAC[pilot]==9.0.0"),
    ("", "9.0.0a12", "DIRAC[pilot]==9.0.0a12"),
    ("LHCb", "11.0.2", "LHCbDIRAC[pilot]==11.0.2"),
    (None, "1.0", "DIRAC[pilot]==1.0"),
    ("", "", "DIRAC[pilot]"),
    ("", "master", "DIRAC[pilot]"),
    ("", "main", "DIRAC[pilot]"),
    ("GridPP", "integration", "GridPPDIRAC[pilot]"),
])
def test_pip_requirement(project, version, expected):
    assert install.pip_requirement(project, version) == expected


def test_pip_requirement_extras():
    assert install.pip_requirement("", "9.0", extras="server") == "DIRAC[server]==9.0"


def test_module_requirements():
    assert install.module_requirements("", [
        "https://github.com/DIRACGrid/DIRAC.git:::DIRAC:::rel-v9r0",
        "git+https://gitlab.cern.ch/lhcb-dirac/LHCbDIRAC.git:::LHCbDIRAC:::devel",
        "https://github.com/myvo/MyDIRAC.git",
        "git+file:///srv/repo",
    ]) == [
        "DIRAC[pilot] @ git+https://github.com/DIRACGrid/DIRAC.git@rel-v9r0",
        "LHCbDIRAC[pilot] @ git+https://gitlab.cern.ch/lhcb-dirac/LHCbDIRAC.git@devel",
        "git+https://github.com/myvo/MyDIRAC.git[pilot]",
        "git+file:///srv/repo[pilot]",
    ]
    assert install.module_requirements("", []) == []


def test_system_dir():
    import platform

    assert install.system_dir() == "%s-%s" % (platform.system(), platform.machine())


# -- safe_extract ----------------------------------------------------------------------------------


def _tarball(path, members):
    """members: (name, kind, data or link target); kinds: file, dir, sym, hard, chr, fifo."""
    tar = tarfile.open(path, "w:gz")
    try:
        for name, kind, value in members:
            info = tarfile.TarInfo(name)
            info.mode = 0o644
            data = None
            if kind == "file":
                data = value.encode("utf-8")
                info.size = len(data)
            elif kind == "dir":
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
            elif kind == "sym":
                info.type = tarfile.SYMTYPE
                info.linkname = value
            elif kind == "hard":
                info.type = tarfile.LNKTYPE
                info.linkname = value
            elif kind == "chr":
                info.type = tarfile.CHRTYPE
                info.devmajor, info.devminor = 1, 3
            elif kind == "fifo":
                info.type = tarfile.FIFOTYPE
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    finally:
        tar.close()
    return path


def _extract(tmpdir, members):
    archive = _tarball(str(tmpdir.join("release.tar.gz")), members)
    target = str(tmpdir.mkdir("target"))
    install.safe_extract(archive, target)
    return target


def test_safe_extract_a_normal_tarball(tmpdir):
    target = _extract(tmpdir, [
        ("diracosrc", "file", "export DIRAC=here\n"),
        ("bin", "dir", None),
        ("bin/dirac-agent", "file", "#!/bin/sh\n"),
        ("lib/fakedirac/__init__.py", "file", ""),
        ("./etc/dirac.cfg", "file", "DIRAC\n{\n}\n"),
        ("bin/agent-link", "sym", "dirac-agent"),
        ("lib/bin-link", "sym", "../bin"),
        ("bin/hard-copy", "hard", "bin/dirac-agent"),
    ])
    assert helpers.read_text(os.path.join(target, "diracosrc")) == "export DIRAC=here\n"
    assert os.path.isfile(os.path.join(target, "bin", "dirac-agent"))
    assert os.path.isfile(os.path.join(target, "etc", "dirac.cfg"))
    assert os.readlink(os.path.join(target, "bin", "agent-link")) == "dirac-agent"
    assert os.path.isfile(os.path.join(target, "lib", "bin-link", "dirac-agent"))
    assert os.path.isfile(os.path.join(target, "bin", "hard-copy"))


@pytest.mark.parametrize("members,needle", [
    ([("../evil", "file", "x")], "unsafe path"),
    ([("ok/../../evil", "file", "x")], "unsafe path"),
    ([("/tmp/pilots2-abs-evil", "file", "x")], "unsafe path"),
    ([("link", "sym", "/etc")], "link leaving it"),
    ([("bin/link", "sym", "../../outside")], "link leaving it"),
    ([("hard", "hard", "../outside")], "link leaving it"),
    ([("hard", "hard", "/etc/passwd")], "link leaving it"),
    ([("null", "chr", None)], "device"),
    ([("pipe", "fifo", None)], "device"),
    ([("diracosrc", "file", "ok"), ("zz/../../../late-evil", "file", "x")], "unsafe path"),
])
def test_safe_extract_refuses(tmpdir, members, needle):
    archive = _tarball(str(tmpdir.join("evil.tar.gz")), members)
    target = str(tmpdir.mkdir("target"))
    with pytest.raises(PilotError) as info:
        install.safe_extract(archive, target)
    assert needle in info.value.reason
    assert info.value.failure_type == "integrity"
    # nothing at all is extracted from a tarball with one bad member
    assert os.listdir(target) == []
    assert not os.path.exists(str(tmpdir.join("evil")))
    assert not os.path.exists("/tmp/pilots2-abs-evil")


def test_safe_extract_not_a_tarball(tmpdir):
    archive = str(tmpdir.join("junk.tar.gz"))
    helpers.write_text(archive, "this is no tarball")
    with pytest.raises(PilotError) as info:
        install.safe_extract(archive, str(tmpdir.mkdir("target")))
    assert info.value.failure_type == "install"
    assert "cannot open the release tarball" in info.value.reason


# -- through the real pilot.pyz ----------------------------------------------------------------------

def _run(run_pilot, workdir, release, server, certs, commands, extra, env=None, timeout=120):
    args = base_args(release, server, certs, commands) + list(extra)
    rc, out, err = run_pilot(args, workdir, env=pilot_env(env), timeout=timeout)
    assert "Traceback" not in out + err
    return rc, out, err, helpers.load_result(workdir)


def _pip(release):
    return "--pipInstallOptions=--no-index --find-links %s" % release["index"]


def test_dirac_install_only_skips_preinstalled(run_pilot, workdir, release, server, host_certs):
    """The release is on CVMFS, but -o diracInstallOnly installs it (tarball: the cheapest local way)."""
    rc, out, err, result = _run(run_pilot, workdir, release, server, host_certs, "InstallDIRAC,LaunchAgent",
                                ["--install-methods=preinstalled,tarball", "-o", "diracInstallOnly",
                                 "--release-tarball-url=file://%s" % release["tarball"],
                                 "-x", "echo form=$FAKE_DIRAC_FORM"])
    assert rc == 0, out + err
    details = command_entry(result, "InstallDIRAC")["details"]
    assert details["tried"] == ["tarball"]
    assert details["method"] == "tarball"
    assert "trying to install with: preinstalled" not in out
    assert "form=tarball" in helpers.pilot_out(workdir)
    assert os.path.isfile(os.path.join(workdir, "diracrelease", "bin", "dirac-agent"))


def test_cvmfs_only_restricts_to_preinstalled(run_pilot, workdir, release, server, host_certs):
    rc, out, err, result = _run(run_pilot, workdir, release, server, host_certs, "InstallDIRAC",
                                ["--install-methods=venv,tarball,preinstalled", "-o", "cvmfsOnly"])
    assert rc == 0, out + err
    details = command_entry(result, "InstallDIRAC")["details"]
    assert details["tried"] == ["preinstalled"]
    assert details["method"] == "preinstalled"
    assert details["rc_file"] == release["cvmfs_rc"]
    assert not os.path.exists(os.path.join(workdir, "diracenv"))


def test_cvmfs_only_wins_over_dirac_install_only(run_pilot, workdir, release, server, host_certs):
    rc, out, err, result = _run(run_pilot, workdir, release, server, host_certs, "InstallDIRAC",
                                ["--install-methods=preinstalled,venv", "-o", "cvmfsOnly", "-o", "diracInstallOnly"])
    assert rc == 0, out + err
    assert command_entry(result, "InstallDIRAC")["details"]["tried"] == ["preinstalled"]


def test_user_env_variables_reach_the_release_environment(run_pilot, workdir, release, server, host_certs):
    rc, out, err, result = _run(
        run_pilot, workdir, release, server, host_certs, "InstallDIRAC,LaunchAgent",
        ["--install-methods=preinstalled", "--userEnvVariables=MYVO_SITE:::CERN-PROD,MYVO_MODE:::fast",
         "-x", 'echo "seen: $MYVO_SITE/$MYVO_MODE in $FAKE_DIRAC_FORM"'])
    assert rc == 0, out + err
    assert "seen: CERN-PROD/fast in preinstalled" in helpers.pilot_out(workdir)
    exports = helpers.read_text(os.path.join(workdir, "environmentSourceDirac"))
    assert "export MYVO_SITE=CERN-PROD\n" in exports
    assert "export MYVO_MODE=fast\n" in exports
    assert helpers.read_text(os.path.join(workdir, "bashrc")) == exports
    for name in ("environmentSourceDirac", "bashrc"):
        assert stat.S_IMODE(os.stat(os.path.join(workdir, name)).st_mode) == 0o600, name


def test_existing_bashrc_is_kept(run_pilot, workdir, release, server, host_certs):
    helpers.write_text(os.path.join(workdir, "bashrc"), "# the site's own\n")
    rc, out, err, result = _run(run_pilot, workdir, release, server, host_certs, "InstallDIRAC",
                                ["--install-methods=preinstalled"])
    assert rc == 0, out + err
    assert helpers.read_text(os.path.join(workdir, "bashrc")) == "# the site's own\n"
    assert "export DIRAC_RC_PATH=%s" % release["cvmfs_rc"] in helpers.read_text(
        os.path.join(workdir, "environmentSourceDirac"))


def test_user_env_variables_in_the_installer_rc(run_pilot, workdir, release, server, host_certs, tmpdir):
    """The tarball way appends them to the release's diracosrc, quoted."""
    rc, out, err, result = _run(
        run_pilot, workdir, release, server, host_certs, "InstallDIRAC,LaunchAgent",
        ["--install-methods=tarball", "--release-tarball-url=file://%s" % release["tarball"],
         "--release-tarball-sha256=%s" % release["tarball_sha256"],
         "--userEnvVariables=MYVO_SITE:::CERN-PROD", "-x", 'echo "seen: $MYVO_SITE in $FAKE_DIRAC_FORM"'])
    assert rc == 0, out + err
    assert "seen: CERN-PROD in tarball" in helpers.pilot_out(workdir)
    rc_text = helpers.read_text(os.path.join(workdir, "diracrelease", "diracosrc"))
    assert rc_text.rstrip().endswith("export MYVO_SITE=CERN-PROD")


def test_unknown_install_method(run_pilot, workdir, release, server, host_certs):
    rc, out, err, result = _run(run_pilot, workdir, release, server, host_certs, "InstallDIRAC",
                                ["--install-methods=preinstalled,conda"])
    assert rc == 10, out + err
    assert result["pilot"]["failed_command"] == "InstallDIRAC"
    assert result["pilot"]["failure_type"] == "config"
    assert "conda" in result["pilot"]["reason"]
    assert "preinstalled, diracos, venv, tarball" in result["pilot"]["reason"]


def test_bad_installer_sha256(run_pilot, workdir, release, server, host_certs):
    rc, out, err, result = _run(run_pilot, workdir, release, server, host_certs, "InstallDIRAC",
                                ["--install-methods=diracos", "--installer-url=file://%s" % release["installer"],
                                 "--installer-sha256=not-a-hex-digest"])
    assert rc == 10, out + err
    assert "'not-a-hex-digest' is not a sha256" in result["pilot"]["reason"]
    assert not os.path.exists(os.path.join(workdir, "diracos"))


def test_bad_installer_sha256_is_not_masked_by_a_later_way(run_pilot, workdir, release, server, host_certs):
    """A malformed option is a configuration error, whatever way would have worked after it."""
    rc, out, err, result = _run(run_pilot, workdir, release, server, host_certs, "InstallDIRAC",
                                ["--install-methods=diracos,preinstalled",
                                 "--installer-url=file://%s" % release["installer"],
                                 "--installer-sha256=not-a-hex-digest"])
    assert rc == 10, "a malformed --installer-sha256 was ignored (exit %s): %s" % (rc, out[-1500:])
    assert "not a sha256" in result["pilot"]["reason"]


def test_failing_installer(run_pilot, workdir, release, server, host_certs):
    rc, out, err, result = _run(run_pilot, workdir, release, server, host_certs, "InstallDIRAC",
                                ["--install-methods=diracos", "--installer-url=file://%s" % release["installer"],
                                 "--installer-sha256=%s" % release["installer_sha256"]],
                                env={"FAKE_DIRACOS_FAIL": "3"})
    assert rc == 15, out + err
    reason = result["pilot"]["reason"]
    assert "\n" not in reason
    assert "the DIRACOS installer failed" in reason
    assert "exited with code 3" in reason
    assert "the installer fails on purpose (FAKE_DIRACOS_FAIL=3)" in reason


def test_pip_failing(run_pilot, workdir, release, server, host_certs):
    rc, out, err, result = _run(run_pilot, workdir, release, server, host_certs, "InstallDIRAC",
                                ["--install-methods=venv", "-r", "9.9.9", _pip(release)])
    assert rc == 15, out + err
    reason = result["pilot"]["reason"]
    assert "\n" not in reason
    assert "venv: pip install DIRAC[pilot]==9.9.9 failed" in reason
    assert result["pilot"]["failure_type"] == "install"


def test_pip_options_with_unbalanced_quotes(run_pilot, workdir, release, server, host_certs):
    rc, out, err, result = _run(run_pilot, workdir, release, server, host_certs, "InstallDIRAC",
                                ["--install-methods=venv", "--pipInstallOptions=--index-url 'x"])
    assert rc == 10, out + err
    assert result["pilot"]["reason"].endswith("venv: --pipInstallOptions --index-url 'x: No closing quotation")


def test_every_way_failing_lists_each_reason(run_pilot, workdir, release, server, host_certs):
    rc, out, err, result = _run(run_pilot, workdir, release, server, host_certs, "InstallDIRAC",
                                ["--install-methods=preinstalled,tarball", "-r", "9.9.9"])
    assert rc == 15, out + err
    reason = result["pilot"]["reason"]
    assert "preinstalled: release 9.9.9 not found" in reason
    assert "tarball: no --release-tarball-url given" in reason
