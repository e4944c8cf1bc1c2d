#!/usr/bin/env python3
"""Rewrite the hashed lock files from pyproject.toml (docs/packaging.md).

    requirements/pilotctl.txt  the base dependencies and every extra: what pilotctl.pyz ships
    requirements/dev.txt       the same plus the `dev` dependency group: what .ci/env.sh installs

Resolved with pip-compile (pip-tools, in the `lock` group) for the Python that runs this
script, from the machine's configured package index; no index URL is written into the
locks.  Run it with the project's venv: .venv/bin/python requirements/refresh-locks.py
(--check: exit 1 when a lock does not list what pyproject.toml asks for, without resolving).
"""

import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
EXTRAS = ("logbook", "postgresql", "mysql", "rabbitmq")


def _toml(path):
    try:
        import tomllib
    except ImportError:  # Python < 3.11
        import tomli as tomllib
    with open(path, "rb") as handle:
        return tomllib.load(handle)


def _group(groups, name, seen=()):
    found = []
    for item in groups[name]:
        if isinstance(item, dict):
            if item["include-group"] in seen:
                raise SystemExit("refresh-locks: dependency group cycle through %s" % name)
            found += _group(groups, item["include-group"], seen + (name,))
        else:
            found.append(item)
    return found


def wanted(project_file=os.path.join(ROOT, "pyproject.toml")):
    """{lock name: [requirement]} from pyproject.toml; the project itself is left out."""
    data = _toml(project_file)
    name = data["project"]["name"]
    runtime = list(data["project"]["dependencies"])
    for extra in EXTRAS:
        runtime += [
            r for r in data["project"]["optional-dependencies"][extra] if not re.match(r"%s\s*\[" % re.escape(name), r)
        ]
    return {"pilotctl": runtime, "dev": runtime + _group(data["dependency-groups"], "dev")}


def _name(requirement):
    return re.match(r"[A-Za-z0-9._-]+", requirement).group(0).lower().replace("_", "-").replace(".", "-")


def pinned(lock_file):
    """{normalised name: version} of a lock file."""
    found = {}
    with open(lock_file) as handle:
        for line in handle:
            match = re.match(r"^([A-Za-z0-9._-]+)(?:\[[^]]*\])?==([^ ;\\]+)", line)
            if match:
                found[_name(match.group(1))] = match.group(2)
    return found


def check():
    """Names pyproject.toml asks for that a lock lacks (markers for other Pythons aside)."""
    missing = []
    for lock, requirements in sorted(wanted().items()):
        have = pinned(os.path.join(HERE, lock + ".txt"))
        for requirement in requirements:
            if ";" in requirement:
                continue
            if _name(requirement) not in have:
                missing.append("%s.txt lacks %s" % (lock, requirement))
    return missing


def compile_lock(lock, requirements):
    source = tempfile.NamedTemporaryFile("w", suffix=".in", delete=False)
    output = os.path.join(HERE, lock + ".txt")
    try:
        source.write("\n".join(requirements) + "\n")
        source.close()
        subprocess.check_call(
            [
                sys.executable,
                "-m",
                "piptools",
                "compile",
                "--quiet",
                "--generate-hashes",
                "--allow-unsafe",
                # keep extras (coverage[toml]): pip's hash mode otherwise takes the newest release
                # for a dependency's extra request and refuses it as unpinned
                "--no-header",
                "--no-emit-index-url",
                "--no-emit-find-links",
                "--no-emit-trusted-host",
                "--rebuild",
                "--output-file",
                output,
                source.name,
            ],
            cwd=ROOT,
        )
        with open(output) as handle:
            text = handle.read().replace(source.name, "pyproject.toml")
    finally:
        os.unlink(source.name)
    header = (
        "# requirements/%s.txt: written by requirements/refresh-locks.py from pyproject.toml\n"
        "# (pip-compile --generate-hashes, Python %d.%d); install with pip --require-hashes.\n"
        % (lock, sys.version_info[0], sys.version_info[1])
    )
    with open(output, "w") as handle:
        handle.write(header + text)


def main(argv):
    if argv == ["--check"]:
        missing = check()
        for line in missing:
            print("refresh-locks: %s: run requirements/refresh-locks.py" % line)
        return 1 if missing else 0
    if argv:
        sys.stderr.write("usage: requirements/refresh-locks.py [--check]\n")
        return 2
    if subprocess.call([sys.executable, "-c", "import piptools"], stderr=subprocess.DEVNULL):
        sys.stderr.write("refresh-locks: needs pip-tools in %s (the `lock` dependency group)\n" % sys.executable)
        return 1
    for lock, requirements in sorted(wanted().items()):
        compile_lock(lock, requirements)
        print("requirements/%s.txt: %d packages" % (lock, len(pinned(os.path.join(HERE, lock + ".txt")))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
