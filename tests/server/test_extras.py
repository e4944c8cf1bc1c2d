"""The base install (no extras) is a working pilotctl, and a missing extra is named in one line.

A throwaway venv gets cryptography (with its own dependencies) from the hashed
lock requirements/pilotctl.txt and the checkout itself with --no-deps, not editable: the
installed layout is what runs here, not the checkout.
"""

import argparse
import os
import subprocess

import pytest

from pilot_server import cli, extras
from support.paths import REPO
from support.venvs import make_venv

# the base dependencies (pyproject.toml [project] dependencies) and theirs, as the lock pins them
BASE = ["cryptography", "cffi", "pycparser"]
PILOT_OPTIONS = ["-S", "Site", "-N", "ce.example.org", "-Q", "queue"]


@pytest.fixture(scope="module")
def base_venv(tmp_path_factory):
    return make_venv(str(tmp_path_factory.mktemp("base") / "venv"), BASE)


def run(bin_dir, *args, **kwargs):
    home = kwargs.pop("home")
    env = {"PATH": bin_dir + os.pathsep + "/usr/bin:/bin", "HOME": home, "LANG": "C.UTF-8"}
    for name in (
        "PIP_CONFIG_FILE",
        "PIP_INDEX_URL",
        "PIP_EXTRA_INDEX_URL",
        "PIP_FIND_LINKS",
        "PIP_CERT",
        "XDG_CACHE_HOME",
    ):
        if name in os.environ:
            env[name] = os.environ[name]
    return subprocess.run(
        list(args),
        env=env,
        cwd=home,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        timeout=300,
        universal_newlines=True,
    )


def test_base_install_builds_signs_verifies_and_writes_wrappers(base_venv, tmp_path):
    home = str(tmp_path)
    pilotctl = os.path.join(base_venv, "pilotctl")
    python = os.path.join(base_venv, "python")
    # really without the logbook's packages, and not reading the checkout
    probe = run(base_venv, python, "-c", "import pilot_server, sqlalchemy", home=home)
    assert probe.returncode == 1 and "No module named 'sqlalchemy'" in probe.stderr
    where = run(base_venv, python, "-c", "import pilot_server; print(pilot_server.__file__)", home=home)
    assert where.stdout.startswith(os.path.dirname(base_venv)) and not where.stdout.startswith(REPO)

    pyz = os.path.join(home, "pilot.pyz")
    steps = [
        ["build", "--quiet", "--output", pyz],
        ["keygen", os.path.join(home, "sign.pem")],
        ["sign", "--key", os.path.join(home, "sign.pem"), pyz],
        ["verify", "--trust", os.path.join(home, "sign.pub.pem"), pyz],
        ["token-secret", os.path.join(home, "secret")],
        ["token", "--secret", os.path.join(home, "secret"), "-o", os.path.join(home, "token")],
        [
            "wrapper",
            "--variant",
            "batch",
            "--artifact",
            pyz,
            "--trust",
            os.path.join(home, "sign.pub.pem"),
            "--output",
            os.path.join(home, "job.sh"),
            "--token-secret",
            os.path.join(home, "secret"),
            "--",
        ]
        + PILOT_OPTIONS,
    ]
    for step in steps:
        done = run(base_venv, pilotctl, *step, home=home)
        assert done.returncode == 0, (step[0], done.stderr)
    assert os.path.getsize(os.path.join(home, "job.sh")) > os.path.getsize(pyz)  # the pyz is inside


SUBMIT = [
    "submit",
    "--count",
    "1",
    "--logbook",
    "https://127.0.0.1:9",
    "--admin-token-file",
    "a",
    "--token-secret",
    "s",
    "--trust",
    "t",
    "--workdir",
    "w",
]


@pytest.mark.parametrize("args", [["logbook"], ["logbook", "serve", "--port", "8443"], ["logbook", "--help"], SUBMIT])
def test_logbook_without_its_extra_names_the_extra(base_venv, tmp_path, args):
    done = run(base_venv, os.path.join(base_venv, "pilotctl"), *args, home=str(tmp_path))
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and "pip install 'pilots2[logbook]'" in lines[0], done.stderr
    assert lines[0].startswith("pilotctl: error: pilotctl %s needs the 'logbook' extra" % args[0])


def test_help_lists_the_logbook_as_not_installed(base_venv, tmp_path):
    done = run(base_venv, os.path.join(base_venv, "pilotctl"), "--help", home=str(tmp_path))
    assert done.returncode == 0 and "(not installed)" in done.stdout and "keygen" in done.stdout


class _Parser(object):
    """Stands for pilotctl's parser: every command line runs `handler`."""

    def __init__(self, handler):
        self.handler = handler

    def parse_args(self, argv):
        return argparse.Namespace(command=argv[0], handler=self.handler)


def _raises(module):
    def handler(args):
        raise ModuleNotFoundError("No module named %r" % module, name=module)

    return handler


def test_a_driver_missing_at_run_time_names_its_extra(monkeypatch, capsys):
    monkeypatch.setattr(cli, "parser", lambda: _Parser(_raises("psycopg2")))
    assert cli.main(["logbook"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "pilotctl: error: pilotctl logbook needs the 'postgresql' extra (module psycopg2 is missing): "
        "pip install 'pilots2[postgresql]'"
    ]


def test_an_unrelated_import_error_is_not_hidden(monkeypatch):
    monkeypatch.setattr(cli, "parser", lambda: _Parser(_raises("nothing_of_ours")))
    with pytest.raises(ModuleNotFoundError):
        cli.main(["logbook"])


def test_each_extra_module_names_a_declared_extra():
    assert set(extras.MODULE_EXTRAS.values()) == {"logbook", "postgresql", "mysql", "rabbitmq"}
    assert extras.hint("pilotctl logbook consume", "pika.exceptions").endswith("pip install 'pilots2[rabbitmq]'")
    assert extras.hint("x", "sqlite3") is None
