"""Throwaway virtual environments installed from the hashed locks (requirements/*.txt)."""

import os
import re
import subprocess
import sys

from support.paths import REPO, REQUIREMENTS


def locked(names, lock="pilotctl"):
    """The lock's entries (name==version and its --hash lines) for the given package names only."""
    wanted = set(name.lower() for name in names)
    kept, keep = [], False
    with open(os.path.join(REQUIREMENTS, lock + ".txt")) as handle:
        for line in handle:
            match = re.match(r"^([A-Za-z0-9._-]+)==", line)
            if match:
                keep = match.group(1).lower() in wanted
            elif not line.startswith(" "):
                keep = False
            if keep:
                kept.append(line)
    return "".join(kept)


def make_venv(folder, packages, lock="pilotctl"):
    """A venv at folder: `packages` from the lock (--require-hashes), then the checkout (not editable)
    with --no-deps, built by setuptools from the dev lock.  Returns the venv's bin directory."""
    subprocess.run([sys.executable, "-m", "venv", folder], check=True)
    python = os.path.join(folder, "bin", "python")
    quiet = ["--quiet", "--disable-pip-version-check"]
    for name, text in (("locked.txt", locked(packages, lock)), ("build.txt", locked(["setuptools"], "dev"))):
        path = os.path.join(folder, name)
        with open(path, "w") as handle:
            handle.write(text)
        subprocess.run([python, "-m", "pip", "install"] + quiet + ["--require-hashes", "-r", path], check=True)
    subprocess.run([python, "-m", "pip", "install"] + quiet + ["--no-deps", "--no-build-isolation", REPO], check=True)
    return os.path.join(folder, "bin")
