"""dist/pilotctl.pyz (build_pilot.py --pilotctl): reproducible, runs, leaks no build path."""

import hashlib
import os
import shutil
import subprocess
import sys
import zipfile

import pytest

from conftest import REPO
from pilot_server import shivbuild

pytest.importorskip("shiv")


def test_two_builds_are_identical_and_the_pyz_runs(tmp_path, keys, signed_pyz):
    # Both builds from one snapshot, so that an edit made meanwhile cannot tell them apart.
    snapshot = str(tmp_path / "src")
    shutil.copytree(
        REPO,
        snapshot,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", ".tox", "dist", "__pycache__", "demo", ".setuptools-build", "*.egg-info"
        ),
    )
    first, second = str(tmp_path / "a" / "pilotctl.pyz"), str(tmp_path / "b" / "pilotctl.pyz")
    one = shivbuild.build_pilotctl(first, source_root=snapshot)
    two = shivbuild.build_pilotctl(second, source_root=snapshot)
    assert one["sha256"] == two["sha256"] == hashlib.sha256(open(second, "rb").read()).hexdigest()
    with zipfile.ZipFile(first) as archive:
        names = archive.namelist()
        assert not [n for n in names if n.endswith("direct_url.json") or n.endswith(".pyc") or "/bin/" in n]
        assert b'"reproducible": true' in archive.read("environment.json")
    env = dict(os.environ, HOME=str(tmp_path), SHIV_ROOT=str(tmp_path / "shiv"))
    out = subprocess.run(
        [sys.executable, first, "verify", "--trust", keys.public["a"], signed_pyz],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert out.returncode == 0, out.stdout.decode()
    assert b"signed by key " + keys.ids["a"].encode() in out.stdout
