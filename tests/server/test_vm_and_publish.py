"""The VM variant (cloud-init user data, its boot script run in a scratch root) and
`pilotctl publish` behind the DIRAC wrapper test double (tests/doubles/dirac_wrapper.py)."""

import base64
import glob
import hashlib
import json
import os
import pwd
import subprocess
import sys
import tarfile
import time

import pytest
import yaml

from conftest import INTERPRETERS, REPO, sandbox_env
from pilot_server import cli, publish, wrapper

PILOT_OPTIONS = ["-X", "GetPilotVersion,CheckWorkerNode", "-r", "v9.0.0", "-D", "10"]
DOUBLE = os.path.join(REPO, "tests", "doubles", "dirac_wrapper.py")
CLOUD_INIT_SITE = os.environ.get("PILOT_CLOUDINIT_SITE") or os.path.expanduser(
    "~/.cache/pilots2/cloud-init/usr/lib/python3/dist-packages"
)


@pytest.fixture(scope="module")
def verified(signed_pyz, keys):
    return wrapper.verify(signed_pyz, [keys.public["a"]])


def user_data(verified, pilot_options=PILOT_OPTIONS, **kwargs):
    made = wrapper.make_wrapper("vm", verified, pilot_options, **kwargs)
    return made, yaml.safe_load(made.text)


def test_vm_user_data_is_a_cloud_config(verified):
    made, config = user_data(verified, vm_user="dirpilot")
    assert made.text.startswith("#cloud-config\n")
    assert config["users"][0] == "default"
    assert config["users"][1]["name"] == "dirpilot" and config["users"][1]["lock_passwd"] is True
    files = dict((entry["path"], entry) for entry in config["write_files"])
    assert base64.b64decode(files[wrapper.VM_PYZ]["content"]) == verified.data
    assert files[wrapper.VM_RUN_SCRIPT]["permissions"] == "0700"
    assert files[wrapper.VM_BOOT_SCRIPT]["content"].startswith("#!/bin/sh\n")
    assert config["runcmd"] == [["/bin/sh", wrapper.VM_BOOT_SCRIPT]]
    with pytest.raises(wrapper.WrapperError):
        wrapper.make_wrapper("vm", verified, vm_user="Root; rm -rf /")


def test_vm_pilot_takes_the_whole_machine(verified):
    """The VM is the pilot's: -t WholeNode (else DIRAC's default is 1 processor), added once."""

    def run_command(config):  # the pilot's command line is in the run script's (compressed) stage
        files = dict((entry["path"], entry) for entry in config["write_files"])
        return wrapper.read_stage(files[wrapper.VM_RUN_SCRIPT]["content"])

    assert "'-t' 'WholeNode'" in run_command(user_data(verified)[1])
    stage = run_command(user_data(verified, pilot_options=PILOT_OPTIONS + ["--tag=WholeNode"])[1])
    assert "'-t' 'WholeNode'" not in stage and "'--tag=WholeNode'" in stage
    batch = wrapper.make_wrapper("batch", verified, PILOT_OPTIONS)
    assert "WholeNode" not in batch.text + wrapper.read_stage(batch.text)


def test_vm_user_data_passes_cloud_inits_schema_check(verified, tmp_path):
    if not os.path.isfile(os.path.join(CLOUD_INIT_SITE, "cloudinit", "config", "schema.py")):
        pytest.skip("cloud-init not unpacked (.ci/provision-cloud-init.sh); the YAML parse test still ran")
    made, _ = user_data(verified, token_secret=b"s" * 32, vm_poweroff=True)
    path = tmp_path / "user-data"
    path.write_text(made.text)
    check = (
        "import sys\n"
        "from cloudinit.config.schema import get_schema, validate_cloudconfig_file\n"
        "validate_cloudconfig_file(sys.argv[1], get_schema(), annotate=False)\n"
        "print('valid')\n"
    )
    env = dict(os.environ, PYTHONPATH=CLOUD_INIT_SITE)
    proc = subprocess.run(
        [sys.executable, "-c", check, str(path)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    assert proc.returncode == 0 and b"valid" in proc.stdout, proc.stdout.decode()
    # and the check is not vacuous
    path.write_text(made.text.replace("runcmd:\n  - [", "runcmd: 5\nbootcmd:\n  - ["))
    proc = subprocess.run(
        [sys.executable, "-c", check, str(path)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    assert proc.returncode != 0 and b"runcmd" in proc.stdout


def write_files_into(root, config):
    """What cloud-init's write_files does, under a scratch root."""
    for entry in config["write_files"]:
        target = os.path.join(str(root), entry["path"].lstrip("/"))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        content = entry["content"]
        data = base64.b64decode(content) if entry.get("encoding") == "b64" else content.encode("utf-8")
        with open(target, "wb") as handle:
            handle.write(data)
        os.chmod(target, int(entry.get("permissions", "0644"), 8))


def vm_env(tools_dir, tmp_path, root):
    env_name, python = INTERPRETERS[-1]
    return sandbox_env(
        tools_dir,
        python,
        "python3",
        str(tmp_path / "bin"),
        {"PILOT_VM_ROOT": str(root), "PILOT_VM_USER": pwd.getpwuid(os.getuid()).pw_name},
    )


def test_vm_boot_script_runs_the_pilot_in_a_scratch_root(verified, tools_dir, tmp_path):
    made, config = user_data(verified, vm_poweroff=True)
    root = tmp_path / "root"
    write_files_into(root, config)
    boot = str(root / wrapper.VM_BOOT_SCRIPT.lstrip("/"))
    proc = subprocess.run(
        ["/bin/sh", boot, "--foreground"],
        env=vm_env(tools_dir, tmp_path, root),
        cwd="/",
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=120,
    )
    out = proc.stdout.decode()
    assert proc.returncode == 0, out
    home = root / wrapper.VM_HOME.lstrip("/")
    work = glob.glob(str(home / "pilot.*"))
    assert len(work) == 1 and os.path.isfile(os.path.join(work[0], "pilot.out"))
    result = json.load(open(os.path.join(work[0], "pilot_result.json")))
    assert result["pilot"]["exit_code"] == 0 and result["pilot"]["stamp"] == made.stamp
    assert (home / ("pilot-%s.out" % made.stamp)).exists()
    assert "would power off now" in out


def test_vm_boot_script_returns_at_once_and_the_pilot_runs_in_the_background(verified, tools_dir, tmp_path):
    made, config = user_data(verified)
    root = tmp_path / "root"
    write_files_into(root, config)
    boot = str(root / wrapper.VM_BOOT_SCRIPT.lstrip("/"))
    proc = subprocess.run(
        ["/bin/sh", boot],
        env=vm_env(tools_dir, tmp_path, root),
        cwd="/",
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=60,
    )
    assert proc.returncode == 0 and b"starts in the background" in proc.stdout
    log = root / wrapper.VM_BOOT_LOG.lstrip("/")
    deadline = time.time() + 120
    while time.time() < deadline and "wrapper exited with code" not in (log.read_text() if log.exists() else ""):
        time.sleep(0.2)
    assert "the pilot wrapper exited with code 0" in log.read_text()


# -- publish ------------------------------------------------------------------------------


@pytest.fixture
def published(verified, tmp_path):
    directory = tmp_path / "pilotfiles"
    pilot_json = tmp_path / "pilot.json"
    pilot_json.write_text(json.dumps({"Setups": {"Defaults": {"Version": ["v9.0.0"]}}}))
    return directory, pilot_json


def test_publish_writes_the_dirac_pilot_file_server_layout(published, signed_pyz, keys, capsys):
    directory, pilot_json = published
    assert (
        cli.main(
            [
                "publish",
                str(directory),
                "--artifact",
                signed_pyz,
                "--trust",
                keys.public["a"],
                "--pilot-json",
                str(pilot_json),
            ]
        )
        == 0
    )
    names = sorted(os.listdir(str(directory)))
    assert names == [
        "checksums.sha512",
        "pilot.json",
        "pilot.pyz",
        "pilot.pyz.manifest.json",
        "pilot.pyz.sig",
        "pilot.tar",
    ]
    listed = {}
    for line in (directory / "checksums.sha512").read_text().splitlines():
        digest, name = line.split("  ")
        listed[name] = digest
    assert sorted(listed) == [name for name in names if name != "checksums.sha512"]
    for name, digest in listed.items():
        assert hashlib.sha512((directory / name).read_bytes()).hexdigest() == digest
    with tarfile.open(str(directory / "pilot.tar")) as archive:
        assert sorted(archive.getnames()) == ["dirac-pilot.py", "pilot.pyz"]
        assert archive.extractfile("pilot.pyz").read() == open(signed_pyz, "rb").read()
    first = (directory / "pilot.tar").read_bytes()
    publish.publish(str(directory), wrapper.verify(signed_pyz, [keys.public["a"]]))
    assert (directory / "pilot.tar").read_bytes() == first  # reproducible


def test_publish_refuses_an_unverified_pilot(signed_pyz, keys, tmp_path, capsys):
    assert cli.main(["publish", str(tmp_path / "out"), "--artifact", signed_pyz, "--trust", keys.public["b"]]) == 1
    assert "not in the trust store" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def run_double(directory, python, tmp_path, options, locations=None):
    cwd = tmp_path / "job"
    cwd.mkdir(exist_ok=True)
    locations = locations or ["file:" + str(directory)]
    env = dict(os.environ, DIRAC_PILOT_STAMP="0123456789abcdef0123456789abcdef")
    proc = subprocess.run(
        [python, DOUBLE] + locations + ["--"] + options,
        cwd=str(cwd),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=120,
    )
    return proc.returncode, proc.stdout.decode("utf-8", "replace")


# DIRAC's wrapper imports ssl first thing, so it needs a Python with ssl (not the 2.6 of py26)
WITH_SSL = [(env, python) for env, python in INTERPRETERS if env != "py26"]


@pytest.mark.parametrize("env_name, python", [WITH_SSL[0], WITH_SSL[-1]])
def test_dirac_wrapper_contract_starts_the_published_pilot(published, verified, tmp_path, env_name, python):
    directory, pilot_json = published
    publish.publish(str(directory), verified, pilot_json.read_bytes())
    code, out = run_double(
        directory, python, tmp_path, PILOT_OPTIONS, ["file:" + str(tmp_path / "nowhere"), "file:" + str(directory)]
    )
    assert code == 0, out
    assert "checksum ok for pilot.tar" in out
    assert "Pilots 2.0 pilot" in out and "--pilotUUID 0123456789abcdef0123456789abcdef" in out
    assert "[GetPilotVersion] DIRAC version v9.0.0" in out


def test_dirac_wrapper_contract_pilot_failure_is_1(published, verified, tmp_path):
    directory, _ = published
    publish.publish(str(directory), verified)
    code, out = run_double(directory, INTERPRETERS[-1][1], tmp_path, ["-X", "CheckWorkerNode", "-D", "99999999"])
    assert code == 1, out
    assert "pilot failed with exit code 11" in out


def test_dirac_wrapper_contract_bad_checksum_and_no_location_are_255(published, verified, tmp_path):
    directory, _ = published
    publish.publish(str(directory), verified)
    python = INTERPRETERS[-1][1]
    assert run_double(directory, python, tmp_path, PILOT_OPTIONS, ["file:" + str(tmp_path / "x")])[0] == 255
    with open(str(directory / "pilot.tar"), "r+b") as handle:
        handle.seek(2000)
        handle.write(b"X")
    code, out = run_double(directory, python, tmp_path, PILOT_OPTIONS)
    assert code == 255 and "checksum mismatch for pilot.tar" in out


def test_dirac_pilot_py_refuses_a_replaced_pyz(verified, tmp_path):
    (tmp_path / "dirac-pilot.py").write_text(publish.dirac_pilot_script(verified.sha256))
    (tmp_path / "pilot.pyz").write_bytes(b"something else")
    for env_name, python in (INTERPRETERS[0], INTERPRETERS[-1]):
        proc = subprocess.run(
            [python, "dirac-pilot.py", "-X", "CheckWorkerNode"],
            cwd=str(tmp_path),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert proc.returncode == 14 and b"expected" in proc.stderr


def test_dirac_pilot_py_keeps_argv_and_stdin(verified, tmp_path, keys):
    # A stand-in pyz that echoes its argv and stdin shows what dirac-pilot.py hands over.
    import zipfile

    from pilot_server import signing

    pyz = tmp_path / "pilot.pyz"
    with zipfile.ZipFile(str(pyz), "w") as archive:
        archive.writestr(
            "__main__.py", "import sys\nsys.stdout.write(repr(sys.argv[1:]) + '|' + sys.stdin.read())\nsys.exit(7)\n"
        )
    digest = hashlib.sha256(pyz.read_bytes()).hexdigest()
    (tmp_path / "dirac-pilot.py").write_text(publish.dirac_pilot_script(digest))
    for env_name, python in (INTERPRETERS[0], INTERPRETERS[-1]):
        proc = subprocess.run(
            [python, "dirac-pilot.py", "-n", "a b", "--pilotUUID", "x"],
            cwd=str(tmp_path),
            input=b"buffered log",
            stdout=subprocess.PIPE,
        )
        assert proc.returncode == 7
        assert proc.stdout.decode() == "['-n', 'a b', '--pilotUUID', 'x']|buffered log"
    assert signing  # (imported for symmetry with the real flow; the stand-in needs no signature)
