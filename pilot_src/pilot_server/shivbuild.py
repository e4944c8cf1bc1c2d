"""``dist/pilotctl.pyz``: pilotctl as one file, built with shiv (``build_pilot.py --pilotctl``).

Standard library only here; pip, setuptools and shiv run as child processes of this Python
(which must have them: the dev lock gives all three).  Steps, all in a temporary directory:

1. ``pip wheel --require-hashes -r requirements/pilotctl.txt`` (the hashed lock; from the
   configured index with a cache in ~/.cache/pilots2/wheelhouse, or ``--wheelhouse DIR`` /
   ``$PILOTCTL_WHEELHOUSE`` for offline builds), and the checkout's own wheel
   (SOURCE_DATE_EPOCH fixed, built by this Python's setuptools: no unpinned build environment);
2. ``pip install --target stage --no-index --find-links WHEELHOUSE --no-compile --no-deps
   --require-hashes`` the lock plus ``pilots2==V`` with the hash of the wheel just built:
   installed *by name*, so no ``direct_url.json`` records a local path, and no ``.pyc``
   carries a build time;
3. drop ``stage/bin`` (console scripts whose ``#!`` names the build machine's Python);
4. ``shiv --site-packages stage --reproducible --compressed -e pilot_server.cli:main``.

The result runs with ``python3 dist/pilotctl.pyz ...`` on Linux with the same CPython
minor version as the build (cffi, a dependency of cryptography, is compiled per version;
cryptography's own module is abi3).  shiv unpacks it into ~/.shiv on first use.
"""

import glob
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile

SOURCE_DATE_EPOCH = "315532800"  # 1980-01-01, as the pilot's zip
SHEBANG = "/usr/bin/env python3"
ENTRY_POINT = "pilot_server.cli:main"
LOCK = "pilotctl.txt"  # requirements/pilotctl.txt: the base dependencies and every extra, hashed
TIMEOUT = 1800


class ShivBuildError(Exception):
    """A failure of the pilotctl.pyz build, as one line for the user."""


def _run(args, env, log):
    log("running: %s" % " ".join(args))
    proc = subprocess.run(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=TIMEOUT)
    if proc.returncode:
        tail = proc.stdout.decode("utf-8", "replace").strip().splitlines()[-3:]
        raise ShivBuildError(
            "%s failed (exit %d): %s" % (args[2] if len(args) > 2 else args[0], proc.returncode, " / ".join(tail))
        )
    return proc.stdout.decode("utf-8", "replace")


def _version(root):
    with open(os.path.join(root, "pilot_src", "pilot", "__init__.py")) as handle:
        return re.search(r'^__version__ = "([^"]+)"', handle.read(), re.M).group(1)


def build_pilotctl(output, source_root, wheelhouse=None, log=lambda message: None):
    """Build pilotctl.pyz at output from the checkout at source_root; return {path, size, sha256}.

    Raises ShivBuildError (one line) on failure."""
    root = os.path.abspath(source_root or "")
    lock = os.path.join(root, "requirements", LOCK)
    if not os.path.isfile(os.path.join(root, "pyproject.toml")):
        raise ShivBuildError("--pilotctl builds from a checkout (pyproject.toml not found in %s)" % root)
    if not os.path.isfile(lock):
        raise ShivBuildError("--pilotctl installs from the lock %s: not found" % lock)
    for module in ("pip", "setuptools", "shiv"):
        if subprocess.run(
            [sys.executable, "-c", "import %s" % module], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        ).returncode:
            raise ShivBuildError(
                "--pilotctl needs %s in %s: install requirements/dev.txt (.ci/env.sh does)" % (module, sys.executable)
            )
    wheelhouse = wheelhouse or os.environ.get("PILOTCTL_WHEELHOUSE")
    env = dict(os.environ, SOURCE_DATE_EPOCH=SOURCE_DATE_EPOCH, PYTHONHASHSEED="0", PIP_DISABLE_PIP_VERSION_CHECK="1")
    env.pop("PYTHONPATH", None)
    pip = [sys.executable, "-m", "pip"]
    work = tempfile.mkdtemp(prefix="pilotctl-build-")
    old_umask = os.umask(0o022)  # file modes end up in the zip
    try:
        house = os.path.join(work, "wheelhouse")
        os.makedirs(house)
        if wheelhouse:
            source = ["--no-index", "--find-links", os.path.abspath(wheelhouse)]
        else:
            cache = os.path.join(os.path.expanduser("~"), ".cache", "pilots2", "wheelhouse")
            os.makedirs(cache, exist_ok=True)
            source = ["--find-links", cache]
        try:
            # The project's own wheel, built from a copy so that build/ and *.egg-info stay clean.
            tree = os.path.join(work, "src")
            shutil.copytree(
                root,
                tree,
                ignore=shutil.ignore_patterns(
                    ".git",
                    ".venv",
                    ".tox",
                    "dist",
                    "__pycache__",
                    "*.pyc",
                    ".setuptools-build",
                    "*.egg-info",
                    "demo",
                    "tests",
                ),
            )
            _run(pip + ["wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", house, tree], env, log)
            own = glob.glob(os.path.join(house, "pilots2-*.whl"))
            if len(own) != 1:
                raise ShivBuildError("expected one pilots2 wheel, pip wheel made %s" % own)
            _run(
                pip + ["wheel", "--quiet", "--no-deps", "--require-hashes", "-w", house] + source + ["-r", lock],
                env,
                log,
            )
            if not wheelhouse:
                for wheel in glob.glob(os.path.join(house, "*.whl")):
                    if not os.path.basename(wheel).startswith("pilots2-"):
                        shutil.copy(wheel, cache)
            # the lock plus the project, pinned by the hash of the wheel just built
            with open(own[0], "rb") as handle:
                own_hash = hashlib.sha256(handle.read()).hexdigest()
            requirements = os.path.join(work, "install.txt")
            with open(lock) as handle, open(requirements, "w") as out:
                out.write(handle.read() + "\npilots2==%s --hash=sha256:%s\n" % (_version(root), own_hash))
            stage = os.path.join(work, "stage")
            _run(
                pip
                + [
                    "install",
                    "--quiet",
                    "--target",
                    stage,
                    "--no-index",
                    "--find-links",
                    house,
                    "--no-compile",
                    "--no-deps",
                    "--require-hashes",
                    "-r",
                    requirements,
                ],
                env,
                log,
            )
            shutil.rmtree(os.path.join(stage, "bin"), ignore_errors=True)
            leaked = glob.glob(os.path.join(stage, "*.dist-info", "direct_url.json"))
            if leaked:
                raise ShivBuildError("direct_url.json in %s: a local path would leak into pilotctl.pyz" % leaked)
            tmp_out = os.path.join(work, "pilotctl.pyz")
            _run(
                [
                    sys.executable,
                    "-m",
                    "shiv",
                    "--site-packages",
                    stage,
                    "--reproducible",
                    "--compressed",
                    "-e",
                    ENTRY_POINT,
                    "-p",
                    SHEBANG,
                    "-o",
                    tmp_out,
                ],
                env,
                log,
            )
        except ShivBuildError as exc:
            raise ShivBuildError("pilotctl.pyz: %s" % exc)
        except subprocess.TimeoutExpired:
            raise ShivBuildError("pilotctl.pyz: a build step took longer than %d s" % TIMEOUT)
        os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
        shutil.copyfile(tmp_out, output)
        os.chmod(output, 0o755)
    finally:
        os.umask(old_umask)
        shutil.rmtree(work, ignore_errors=True)
    with open(output, "rb") as handle:
        data = handle.read()
    return {"path": os.path.abspath(output), "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
