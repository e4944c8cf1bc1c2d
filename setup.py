"""Installs the server side of Pilots 2.0 (Python 3.9+): the ``pilotctl`` command.

The worker-node package ``pilot`` (and ``compat``) is installed alongside,
because the server side reuses its definitions (option table, message schema,
exit codes) and ``pilotctl build`` builds pilot.pyz from it.

setuptools writes to ``build/`` by default; that folder is ours (it holds the
pilot's build scripts), so its output goes to ``.setuptools-build/``.
"""

import os
import re

from setuptools import setup

HERE = os.path.dirname(os.path.abspath(__file__))


def version():
    with open(os.path.join(HERE, "pilot_src", "pilot", "__init__.py")) as handle:
        return re.search(r'^__version__ = "([^"]+)"', handle.read(), re.M).group(1)


setup(
    name="pilots2",
    version=version(),
    description="Pilots 2.0: a DIRAC pilot for any resource, and its SiteDirector and logbook tools",
    long_description=open(os.path.join(HERE, "README.md")).read(),
    long_description_content_type="text/markdown",
    license="GPL-3.0-or-later",
    python_requires=">=3.9",
    package_dir={"": "pilot_src", "compat": "compat"},
    packages=["pilot", "pilot.commands", "pilot_server", "pilot_server.logbook", "pilot_server.logbook.cli",
              "pilot_server.logbook.clients", "pilot_server.logbook.receive", "pilot_server.logbook.store",
              "pilot_server.logbook.web", "compat"],
    package_data={"pilot": ["_pyzroot/*.py"], "pilot_server": ["templates/*.sh"],
                  "pilot_server.logbook.web": ["static/*.css", "static/*.js", "templates/*.html",
                                                "templates/*.svg"]},
    install_requires=[
        "six==1.17.0",
        # signing and verifying pilot.pyz (pilot_server.signing); the plain pyz
        # build (build/build_pilot.py) does not need it
        "cryptography>=42",
        # the logbook (pilot_server.logbook): storage through SQLAlchemy Core, with the
        # PostgreSQL and MariaDB/MySQL drivers (SQLite is built in), and the RabbitMQ consumer
        "SQLAlchemy>=2.0,<2.1",
        "psycopg2-binary>=2.9",
        "PyMySQL>=1.1",
        "pika>=1.3",
        # the logbook's event-loop front (receive/front.py): libuv's loop and TLS, Node's HTTP parser;
        # its metrics; serve --config (TOML; tomllib is in the standard library from 3.11)
        "uvloop>=0.19",
        "httptools>=0.6",
        "prometheus_client>=0.20",
        "tomli>=2; python_version < '3.11'",
        # the logbook's web pages: templates with autoescaping (pilot_server.logbook.web.views)
        "Jinja2>=3.1",
    ],
    extras_require={
        "dev": [
            "pytest>=8",
            "vermin==1.9.2",
            "tox==4.5.1",
            "virtualenv<20.22",
            # DIRAC's own DB12, to check that pilot.db12 agrees with it (tests/server, bench/)
            "db12==1.0.4",
            "diraccfg==1.0.1",  # tests: pilot.cfg must parse with DIRAC's own CFG package
            "PyYAML>=6",      # tests: parse the VM wrapper's cloud-config
            # tests: cloud-init's own schema check (.ci/provision-cloud-init.sh unpacks cloud-init)
            "jsonschema", "jinja2", "configobj", "jsonpatch", "requests",
            "shiv==1.0.8",    # build/build_pilot.py --pilotctl (dist/pilotctl.pyz)
            # tests/server/test_webui_browser.py drives Debian's headless chromium through chromedriver
            # (.ci/provision-chromium.sh installs both)
            "selenium>=4.10",
            "mkdocs==1.6.1", "mkdocs-material==9.8.2",  # the documentation site (mkdocs build --strict)
        ],
    },
    entry_points={"console_scripts": ["pilotctl = pilot_server.cli:main"]},
    options={
        "build": {"build_base": ".setuptools-build"},
    },
)
