"""Shared fixtures of the server tests: signing keys, a signed pyz, interpreters, a PATH sandbox."""

import os
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PILOT_SRC = os.path.join(REPO, "pilot_src")
for _path in (PILOT_SRC, os.path.join(REPO, "tests")):  # the code under test; tests/support
    if _path not in sys.path:
        sys.path.insert(0, _path)

from support.interpreters import find_interpreters  # noqa: E402

# Pilots run by these tests never hand their logs to each other through the node's real
# hand-off directory (/var/tmp/pilots2-logs-<uid>); a test that wants it names its own.
os.environ["PILOT_LOG_HANDOFF"] = "off"


class Keys(object):
    """Two key pairs on disk: a (the signer) and b (another key)."""

    def __init__(self, directory):
        from pilot_server import signing

        self.dir = directory
        self.private = {}
        self.public = {}
        self.ids = {}
        for name in ("a", "b"):
            key = signing.generate_key()
            path = os.path.join(directory, "%s.pem" % name)
            self.public[name] = signing.write_key_pair(path, key)
            self.private[name] = path
            self.ids[name] = signing.key_id(key.public_key())


@pytest.fixture(scope="session")
def keys(tmp_path_factory):
    return Keys(str(tmp_path_factory.mktemp("keys")))


@pytest.fixture(scope="session")
def signed_pyz(tmp_path_factory, keys):
    """A freshly built pilot.pyz signed by key a (with .sig and .manifest.json)."""
    from pilot_server import pyzbuild, signing

    path = str(tmp_path_factory.mktemp("artifact") / "pilot.pyz")
    result = pyzbuild.build_pyz(path)
    signing.sign_artifact(
        path, signing.load_private_key(keys.private["a"]), version=result.version, members=result.members
    )
    return path


INTERPRETERS = find_interpreters()


@pytest.fixture(scope="session")
def tools_dir(tmp_path_factory):
    """Symlinks to every command of /usr/bin and /bin except any Python: a PATH without Python."""
    tools = tmp_path_factory.mktemp("tools")
    for folder in ("/usr/bin", "/bin", "/usr/sbin", "/sbin"):
        if not os.path.isdir(folder):
            continue
        for name in os.listdir(folder):
            if name.startswith("python") or name.startswith("pypy") or "platform-python" in name:
                continue
            target = os.path.join(folder, name)
            link = tools / name
            if os.path.lexists(str(link)) or not os.access(target, os.X_OK) or os.path.isdir(target):
                continue
            os.symlink(target, str(link))
    return str(tools)


def sandbox_env(tools, python=None, link_name="python3", bin_dir=None, extra=None):
    """Environment whose PATH holds only `python` (as link_name) plus the tools."""
    path = [tools]
    if python:
        os.makedirs(bin_dir, exist_ok=True)
        link = os.path.join(bin_dir, link_name)
        if not os.path.lexists(link):
            os.symlink(python, link)
        path.insert(0, bin_dir)
    env = {"PATH": os.pathsep.join(path), "HOME": bin_dir or tools, "LANG": "C", "PILOT_LOG_HANDOFF": "off"}
    env.update(extra or {})
    return env
