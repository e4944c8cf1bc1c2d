"""pilotctl, and setup.py keeping build/ clean."""

import hashlib
import os
import subprocess
import sys
import zipfile

import pytest

from pilot_server import cli

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def sha256(path):
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def test_pilotctl_build_matches_build_script(tmp_path):
    first = tmp_path / "a.pyz"
    second = tmp_path / "b.pyz"
    assert cli.main(["build", "--quiet", "--output", str(first)]) == 0
    subprocess.check_call(
        [sys.executable, os.path.join(REPO, "build", "build_pilot.py"), "--quiet", "--output", str(second)]
    )
    assert sha256(first) == sha256(second)


def test_pilotctl_usage_errors(capsys):
    assert cli.main([]) == 2
    assert cli.main(["build", "--no-such-option"]) == 2
    err = capsys.readouterr().err
    assert "unrecognized arguments: --no-such-option" in err
    with pytest.raises(SystemExit) as stop:
        cli.main(["no-such-command"])
    assert stop.value.code == 2


def test_wheel_leaves_build_folder_clean_and_ships_the_pyz_sources(tmp_path):
    before = sorted(os.listdir(os.path.join(REPO, "build")))
    subprocess.check_call([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(tmp_path), REPO])
    assert sorted(os.listdir(os.path.join(REPO, "build"))) == before
    wheel = [name for name in os.listdir(str(tmp_path)) if name.endswith(".whl")][0]
    names = zipfile.ZipFile(str(tmp_path / wheel)).namelist()
    worker = "pilot_server/worker/"  # the worker-node package and its compat, installed (docs/packaging.md)
    for needed in (
        worker + "_pyzroot/__main__.py",
        worker + "_pyzroot/pilotTools.py",
        worker + "compat/__init__.py",
        worker + "compat/net.py",
        "pilot_server/pyzbuild.py",
        worker + "commands/base.py",
        "pilot_server/templates/node.sh",
        worker + "config/rsaverify.py",
    ):
        assert needed in names, needed
