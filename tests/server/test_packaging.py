"""pyproject.toml, the hashed locks, and no package host written anywhere in the repository."""

import ast
import os
import re
import shutil
import subprocess
import sys

import pytest

from pilot_server import extras
from support.paths import PILOT_SRC, REPO, REQUIREMENTS
from support.ports import free_port

tomllib = pytest.importorskip("tomllib")

# Host names of package indexes and distribution archives, spelt as patterns so that this file
# does not contain them either.  The repository uses pip and apt-get with the machine's sources.
PACKAGE_HOSTS = re.compile(
    r"(?i)\b(?:[a-z0-9-]+\.)*(?:pypi\.(?:org|python\.org)|pythonhosted\.org|"
    r"debian\.org|ubuntu\.com|centos\.org|fedoraproject\.org|rockylinux\.org|"
    r"almalinux\.org|anaconda\.(?:com|org)|npmjs\.(?:org|com))\b"
)


def _pyproject():
    with open(os.path.join(REPO, "pyproject.toml"), "rb") as handle:
        return tomllib.load(handle)


def _name(requirement):
    return re.match(r"[A-Za-z0-9._-]+", requirement).group(0).lower().replace("_", "-")


def host_mentions(paths):
    """[(path, line number, host)] of package hosts in the given text files."""
    found = []
    for path in paths:
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                for number, line in enumerate(handle, 1):
                    for match in PACKAGE_HOSTS.finditer(line):
                        found.append((os.path.relpath(path, REPO), number, match.group(0)))
        except (IsADirectoryError, FileNotFoundError):
            continue
    return found


def tracked_files():
    out = subprocess.run(
        ["git", "-C", REPO, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        stdout=subprocess.PIPE,
        check=True,
    ).stdout
    return [os.path.join(REPO, name) for name in out.decode("utf-8", "replace").split("\0") if name]


def test_no_package_index_or_archive_host_in_the_repository():
    assert host_mentions(tracked_files()) == []


def test_the_host_check_finds_a_planted_host(tmp_path):
    planted = tmp_path / "Dockerfile"
    mirror = "deb" + ".debian" + ".org"
    planted.write_text("RUN echo fine\nRUN sed s,x,http://%s/debian, /etc/apt/sources.list\n" % mirror)
    (tmp_path / "pip.conf").write_text("index-url = https://%s/simple\n" % ("pypi" + ".org"))
    found = host_mentions([str(planted), str(tmp_path / "pip.conf")])
    assert [(line, host) for _, line, host in found] == [(2, mirror), (1, "pypi" + ".org")]


def test_the_base_install_needs_cryptography_only():
    assert sorted(_name(r) for r in _pyproject()["project"]["dependencies"]) == ["cryptography"]


def test_extras_by_role():
    project = _pyproject()["project"]
    optional = project["optional-dependencies"]
    assert sorted(optional) == ["logbook", "mysql", "postgresql", "rabbitmq"]
    for extra, driver in (("postgresql", "psycopg2-binary"), ("mysql", "pymysql"), ("rabbitmq", "pika")):
        names = [_name(r) for r in optional[extra]]
        assert "pilots2" in names and driver in names  # each brings the logbook too
    assert "sqlalchemy" in [_name(r) for r in optional["logbook"]]


def _imported_modules(top):
    found = set()
    for folder, _, files in os.walk(top):
        for name in files:
            if name.endswith(".py"):
                with open(os.path.join(folder, name), encoding="utf-8") as handle:
                    tree = ast.parse(handle.read())
                for node in ast.walk(tree):
                    if isinstance(node, ast.Import):
                        found.update(alias.name.split(".")[0] for alias in node.names)
                    elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                        found.add(node.module.split(".")[0])
    return found


def test_every_module_the_server_side_imports_is_a_dependency():
    """A new third-party import must be in the base dependencies or in an extra (extras.MODULE_EXTRAS)."""
    own = {"pilot_server", "six", "cryptography"}  # the worker-node package is pilot_server.worker
    third_party = _imported_modules(os.path.join(PILOT_SRC, "pilot_server")) - set(sys.stdlib_module_names) - own
    # prometheus_client is also imported by pilot_server.docs (the reference pages; dev only)
    assert sorted(third_party - set(extras.MODULE_EXTRAS)) == []
    optional = _pyproject()["project"]["optional-dependencies"]
    declared = {extra: " ".join(optional[extra]).lower() for extra in optional}
    for module, extra in extras.MODULE_EXTRAS.items():
        assert extra in declared, module
    for module in ("sqlalchemy", "uvloop", "httptools", "prometheus_client", "jinja2"):
        assert module.replace("_", "") in declared["logbook"].replace("_", ""), module


def test_dev_group_includes_every_other_group():
    groups = _pyproject()["dependency-groups"]
    included = {item["include-group"] for item in groups["dev"] if isinstance(item, dict)}
    assert included == set(groups) - {"dev"}
    assert {"build", "test", "lint", "docs", "browser", "lock"} <= set(groups)


@pytest.mark.parametrize("lock", ["dev", "pilotctl"])
def test_locks_pin_every_package_with_hashes_and_name_no_index(lock):
    with open(os.path.join(REQUIREMENTS, lock + ".txt")) as handle:
        text = handle.read()
    entries = re.findall(
        r"^([A-Za-z0-9._-]+)(\[[a-z0-9,-]+\])?==(\S+) \\\n((?:    --hash=sha256:[0-9a-f]{64}(?: \\)?\n)+)", text, re.M
    )
    pins = [line for line in text.splitlines() if re.match(r"^[A-Za-z0-9]", line)]
    assert pins and len(entries) == len(pins)  # every pin has its hashes
    assert not re.search(r"(?m)^\s*-(?:-index-url|-extra-index-url|-find-links|i|f)\b", text)
    assert "://" not in text


def test_locks_cover_pyproject():
    proc = subprocess.run(
        [sys.executable, os.path.join(REQUIREMENTS, "refresh-locks.py"), "--check"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        universal_newlines=True,
    )
    assert proc.returncode == 0, proc.stdout


def test_the_locks_check_notices_a_missing_package(tmp_path, monkeypatch):
    sys.path.insert(0, REQUIREMENTS)
    try:
        import importlib

        refresh = importlib.import_module("refresh-locks")
    finally:
        sys.path.remove(REQUIREMENTS)
    lock = tmp_path / "pilotctl.txt"
    with open(os.path.join(REQUIREMENTS, "pilotctl.txt")) as handle:
        lock.write_text(re.sub(r"(?ms)^pika==.*?(?=^\S)", "", handle.read()))
    (tmp_path / "dev.txt").write_text(open(os.path.join(REQUIREMENTS, "dev.txt")).read())
    monkeypatch.setattr(refresh, "HERE", str(tmp_path))
    assert refresh.check() == ["pilotctl.txt lacks pika>=1.3"]


def test_env_sh_installs_from_the_lock_and_restamps_on_changes():
    with open(os.path.join(REPO, ".ci", "env.sh")) as handle:
        text = handle.read()
    assert '--require-hashes -r "$REPO/requirements/dev.txt"' in text
    assert '--no-deps --no-build-isolation -e "$REPO"' in text
    assert '"$REPO/pyproject.toml" "$REPO/requirements/dev.txt"' in text  # the stamp


def _provision27(apt_etc, prefix):
    if not (
        shutil.which("apt-get")
        and shutil.which("dpkg")
        and os.path.isfile("/usr/share/keyrings/debian-archive-keyring.gpg")
    ):
        pytest.skip("the 2.7 provisioner is for Debian-like hosts (apt-get, dpkg, the archive keyring)")
    env = {k: v for k, v in os.environ.items() if k != "DEBIAN_ARCHIVE"}
    env["PILOT_APT_ETC"] = str(apt_etc)
    return subprocess.run(
        [os.path.join(REPO, ".ci", "provision-python27.sh"), str(prefix)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        universal_newlines=True,
        timeout=300,
    )


def test_python27_provisioner_reads_the_archive_from_the_apt_sources(tmp_path):
    (tmp_path / "apt" / "sources.list.d").mkdir(parents=True)
    mirror = "http://127.0.0.1:%d" % free_port()  # nobody answers: only where it goes is checked
    (tmp_path / "apt" / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: %s/debian\nSuites: bookworm\nComponents: main\n" % mirror
    )
    proc = _provision27(tmp_path / "apt", tmp_path / "py27")
    assert proc.returncode != 0
    assert "provision-python27: fetching bullseye packages from %s\n" % mirror in proc.stderr


def test_python27_provisioner_without_apt_sources_says_so(tmp_path):
    (tmp_path / "apt" / "sources.list.d").mkdir(parents=True)
    proc = _provision27(tmp_path / "apt", tmp_path / "py27")
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.splitlines() == [
        "provision-python27: no Debian archive (an URI ending in /debian) in the "
        "apt sources: set DEBIAN_ARCHIVE=http://MIRROR"
    ]
