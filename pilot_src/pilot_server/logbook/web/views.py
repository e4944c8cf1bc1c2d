"""The web pages' markup: Jinja2 templates (``web/templates/``) with autoescaping.

Every value a template prints is escaped (HTML and SVG alike, attributes included),
unless the code marked it as markup itself (a chart is a rendered template too).
Undefined names are errors, not empty strings, so a misspelt field cannot hide.
The templates hold the markup; the pages and charts decide what data goes in.
"""

import datetime
import json
import math
import os

import jinja2
from markupsafe import Markup

from pilot_server.logbook.store import readable

TEMPLATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")


def utc(when, fmt="%Y-%m-%d %H:%M:%S"):
    """Epoch seconds as UTC text ("-" for None; what is not a time says so, never fails)."""
    return readable.utc(when, fmt)


def clock(when):
    """Epoch seconds as UTC with milliseconds (the log's time column)."""
    if readable.when(when) is None:
        return readable.utc(when)
    moment = datetime.datetime.fromtimestamp(when, datetime.timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + "%03d" % (moment.microsecond // 1000)


def shown(value):
    """A stored value as text: "-" for nothing, JSON for a structure."""
    if value is None or value == "":
        return "-"
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return value


def number(value):
    """A figure for people: at most two decimals, "-" for nothing."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return "%g" % round(value, 2) if math.isfinite(value) else "-"
    return str(value)


def seconds(value):
    """A duration for people: 0.42 s, 12.5 s, 3 min 20 s, 2 h 05 min."""
    value = readable.finite(value)
    if value is None:
        return "-"
    value = float(value)
    if value < 10:
        return "%.2f s" % value
    if value < 120:
        return "%.1f s" % value
    if value < 7200:
        return "%d min %02d s" % (value // 60, value % 60)
    return "%d h %02d min" % (value // 3600, (value % 3600) // 60)


def px(value):
    """A coordinate of a chart, to a tenth of a pixel."""
    return "%.1f" % value


def _environment():
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(("html", "svg"), default_for_string=True, default=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    environment.filters.update(utc=utc, clock=clock, shown=shown, number=number, seconds=seconds, px=px)
    return environment


ENVIRONMENT = _environment()  # compiled templates are cached here; rendering is thread-safe


def render(name, **context):
    """The template ``name`` filled with ``context``, as markup (a str)."""
    return Markup(ENVIRONMENT.get_template(name).render(**context))
