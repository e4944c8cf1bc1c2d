"""The Python interpreters of this machine, as .ci/find-pythons.sh lists them (env name, path)."""

import os
import subprocess

from support.paths import REPO


def find_interpreters(provision=False):
    """[(env name, path)] of the interpreters present; none is built or fetched unless provision."""
    flag = "1" if provision else "0"
    out = subprocess.run(["sh", os.path.join(REPO, ".ci", "find-pythons.sh")], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL,
                         env=dict(os.environ, PILOT_PROVISION_PY27=flag, PILOT_PROVISION_PY26=flag),
                         check=False).stdout.decode()
    found = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1] != "MISSING":
            found.append((parts[0], parts[1]))
    return found
