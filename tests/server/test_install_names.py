"""The installed distribution has one top-level package, pilot_server, and works beside another `pilot`.

The wheel is built for real (setuptools, from a copy of the checkout's packaging files) and
installed by unpacking it (a pure-Python wheel is its site-packages tree); a fake PanDA-like
top-level `pilot` and a `compat` go first on sys.path.
"""

import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile

import pytest

import pilot_server.worker
from pilot_server import pyzbuild
from pilot_server.worker import shims
from support.paths import PILOT_SRC, REPO

PACKAGING = ("pyproject.toml", "setup.py", "setup.cfg", "README.md", "LICENSE")
SOURCES = ("pilot_src", "compat")

# What another project could install at the top of the same environment.
FOREIGN = {
    "pilot/__init__.py": "__version__ = '3.9.2'  # PanDA-like\n",
    "pilot/util/__init__.py": "",
    "pilot/util/auxiliary.py": "def get_logger(name):\n    return name\n",
    "compat/__init__.py": "FOREIGN = True\n",
}

CHECK = """
import json, sys
import pilot_server, pilot_server.logbook
from pilot_server.logbook.receive import routes
from pilot_server import wrapper
import pilot, compat
print(json.dumps({"server": pilot_server.__file__, "worker": sys.modules["pilot_server.worker"].__file__,
                  "pilot": pilot.__version__, "compat": getattr(compat, "FOREIGN", False),
                  "wire": routes.wire.__name__}))
"""


def sha256_file(path):
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """The wheel of the checkout, built with setuptools from a copy (nothing is written into the checkout)."""
    source = tmp_path_factory.mktemp("source")
    for name in PACKAGING:
        shutil.copy(os.path.join(REPO, name), str(source / name))
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in SOURCES:
        shutil.copytree(os.path.join(REPO, name), str(source / name), ignore=ignore)
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--quiet",
            "--wheel-dir",
            str(out),
            str(source),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout.decode("utf-8", "replace")[-2000:]
    (path,) = glob.glob(str(out / "pilots2-*.whl"))
    return path


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory):
    """(site, foreign): the wheel unpacked as a site-packages tree; the other project's packages."""
    site = str(tmp_path_factory.mktemp("site"))
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(site)
    foreign = str(tmp_path_factory.mktemp("foreign"))
    for name, text in FOREIGN.items():
        os.makedirs(os.path.dirname(os.path.join(foreign, name)), exist_ok=True)
        with open(os.path.join(foreign, name), "w") as handle:
            handle.write(text)
    return site, foreign


def run(args, site, foreign, cwd):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([foreign, site]), PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run(
        [sys.executable] + args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300
    )


def test_the_wheel_installs_pilot_server_only(wheel):
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
    tops = sorted(set(name.split("/")[0] for name in names))
    assert [top for top in tops if not top.endswith(".dist-info")] == ["pilot_server"]
    assert "pilot_server/worker/config/options.py" in names  # the worker-node package, inside it
    assert "pilot_server/worker/compat/net.py" in names
    assert "pilot_server/worker/_pyzroot/__main__.py" in names
    assert not [name for name in names if name.startswith("pilot_server/worker/") and "__pycache__" in name]


def test_installed_beside_another_pilot_the_server_side_imports_its_own(installed, tmp_path):
    site, foreign = installed
    done = run(["-c", CHECK], site, foreign, str(tmp_path))
    assert done.returncode == 0, done.stderr.decode("utf-8", "replace")
    found = json.loads(done.stdout.decode("utf-8"))
    assert found["server"].startswith(site) and found["worker"].startswith(site)
    assert found["pilot"] == "3.9.2" and found["compat"] is True  # the other project's, untouched
    assert found["wire"] == "pilot_server.worker.messages"


def test_pilotctl_build_from_the_installed_copy_is_the_checkout_build(installed, tmp_path):
    site, foreign = installed
    output = str(tmp_path / "installed.pyz")
    done = run(["-m", "pilot_server.cli", "build", "--output", output, "--quiet"], site, foreign, str(tmp_path))
    assert done.returncode == 0, done.stderr.decode("utf-8", "replace")
    checkout = pyzbuild.build_pyz(str(tmp_path / "checkout.pyz"), source_root=REPO)
    assert sha256_file(output) == checkout.sha256
    members = set(pyzbuild.read_modules(output))
    assert "pilot/config/options.py" in members and "compat/net.py" in members and "pilotTools.py" in members
    assert not [name for name in members if name.startswith(("pilot/compat/", "pilot_server/"))]


def test_the_editable_install_serves_the_checkout():
    assert os.path.dirname(pilot_server.worker.__file__) == os.path.join(PILOT_SRC, "pilot")
    assert os.path.dirname(shims.compat.__file__) == os.path.join(REPO, "compat")
