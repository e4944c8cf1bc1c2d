"""The Python interpreters of this machine, as .ci/find-pythons.sh finds them (env name, path).

Python 2.6 syntax: the node tests use it too.  The script is the one place that says where
interpreters are looked for (pyenv, PATH, the provisioned 2.7 and the cached 2.6 build).
"""

import os
import subprocess

from support.paths import REPO

_FOUND = []  # [(env name, path)], filled once per process


def find_interpreters(provision=False):
    """[(env name, path)] of the interpreters present; none is built or fetched unless provision."""
    if _FOUND and not provision:
        return list(_FOUND)
    flag = provision and "1" or "0"
    env = dict(os.environ, PILOT_PROVISION_PY27=flag, PILOT_PROVISION_PY26=flag)
    for name in ("PYTHONPATH", "PYTHONHOME"):  # the candidates are asked their version
        env.pop(name, None)
    devnull = open(os.devnull, "wb")
    try:
        proc = subprocess.Popen(
            ["sh", os.path.join(REPO, ".ci", "find-pythons.sh")],
            stdout=subprocess.PIPE,
            stderr=devnull,
            env=env,
            close_fds=True,
        )
        out = proc.communicate()[0].decode("utf-8", "replace")
    finally:
        devnull.close()
    found = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1] != "MISSING":
            found.append((parts[0], parts[1]))
    _FOUND[:] = found
    return found


def find_interpreter(version):
    """The path of a working python<version> ("2.6" ... "3.13"), or None if the machine has none."""
    wanted = "py" + version.replace(".", "")
    for name, path in find_interpreters():
        if name == wanted:
            return path
    return None
