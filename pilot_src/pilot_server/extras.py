"""Which optional dependency ("extra", pyproject.toml) provides a missing module.

The base install of pilotctl (build, sign, verify, wrapper, token, publish) needs
``cryptography`` only; the logbook and its database drivers and broker client come
with extras.  A missing one is reported as one line naming the extra to install.
"""

import importlib.util

DISTRIBUTION = "pilots2"

# top-level module -> the extra that installs it
MODULE_EXTRAS = {
    "sqlalchemy": "logbook",
    "uvloop": "logbook",
    "httptools": "logbook",
    "prometheus_client": "logbook",
    "jinja2": "logbook",
    "markupsafe": "logbook",
    "tomli": "logbook",
    "psycopg2": "postgresql",
    "pymysql": "mysql",
    "pika": "rabbitmq",
}

# what a subcommand cannot even start without (tomli only below 3.11, when --config is used)
REQUIRED = {"logbook": ("sqlalchemy", "uvloop", "httptools", "prometheus_client", "jinja2")}


def missing_module(extra):
    """The first module of an extra's REQUIRED list that cannot be imported, or None."""
    for name in REQUIRED.get(extra, ()):
        if importlib.util.find_spec(name) is None:
            return name
    return None


def hint(what, module):
    """One line: what needs which extra, and the pip command; None if no extra provides module."""
    extra = MODULE_EXTRAS.get((module or "").split(".")[0])
    if extra is None:
        return None
    return "%s needs the '%s' extra (module %s is missing): pip install '%s[%s]'" % (
        what,
        extra,
        module.split(".")[0],
        DISTRIBUTION,
        extra,
    )
