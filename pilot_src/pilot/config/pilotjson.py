"""pilot.json: reading it, and what it says for this pilot.

Both schemas that DIRAC's PilotSyncAgent has published are understood:

* the old one, keyed by ``Setups`` (``Setups.<setup>`` then ``Setups.Defaults``);
* the new one, shaped like the CS ``/Operations`` tree, where the pilot
  options are the shallow merge, later wins, of ``/Defaults/Pilot`` <
  ``/<setup>/Pilot`` < ``/<vo>/Defaults/Pilot`` < ``/<vo>/<setup>/Pilot`` <
  ``/<vo>/Pilot`` (DIRAC's order: a setup-less VO section beats the
  setup-specific one).

The document is never modified.  Every value found is returned with the JSON
path it came from, so ``--explain`` can show it.  Values published as strings
that look like lists or booleans are parsed defensively.
"""

import os

from ..shims import compat
from . import options, safeinput
from ..errors import ConfigError
from .fetch import LIMITS, is_url

MAX_DEPTH = safeinput.MAX_DEPTH
MAX_BYTES = LIMITS["pilot.json"][1]  # a local file: the same size limit as a download


def load(location, downloader, log):
    """Return (document, name) for a path or a comma list of URLs.

    Raises ConfigError with one line naming the file and the problem.
    """
    if is_url(location):
        urls = options.split_list(location)
        url, data = downloader.get(urls, what="pilot.json", kind="pilot.json")
        log.info("pilot.json read from %s (%d bytes)" % (url, len(data)))
        return parse(data, url), url
    name = os.path.abspath(location)
    data = _read_local(name)
    log.info("pilot.json read from %s (%d bytes)" % (name, len(data)))
    return parse(data, name), name


def _read_local(name):
    """The bytes of a local pilot.json: a regular file of at most MAX_BYTES."""
    try:
        return safeinput.read_regular(name, MAX_BYTES)
    except safeinput.InputError as exc:
        raise ConfigError("pilot.json %s: %s" % (name, exc))


def parse(data, name):
    try:
        document = safeinput.loads(data)
    except safeinput.InputError as exc:
        raise ConfigError("pilot.json %s: %s" % (name, exc))
    if not isinstance(document, dict):
        raise ConfigError("pilot.json %s: the top level is %s, expected an object"
                          % (name, _type_name(document)))
    return document


def schema_of(document):
    return "old (Setups)" if "Setups" in document else "new (Operations)"


class Found(object):
    """Values found in pilot.json: dest -> (value, '/json/path')."""

    def __init__(self, name):
        self.name = name
        self.values = {}

    def put(self, dest, raw, path):
        param = options.BY_DEST[dest]
        if param.kind == "list" and not isinstance(raw, (list, tuple) + compat.string_types):
            # a number would otherwise become the one-item list ["5"]
            raise ConfigError("pilot.json %s: %s: expected a list or a comma string, got %s"
                              % (self.name, path, _type_name(raw)))
        self.values[dest] = (json_value(param, raw, self.name, path), path)

    def get(self, dest, default=None):
        if dest in self.values:
            return self.values[dest][0]
        return default


def extract(document, name, setup, vo, ce_name, queue, grid_ce_type):
    """What pilot.json says for this setup, VO, CE and queue.

    ``setup`` and ``grid_ce_type`` are those of the command line or
    environment (may be empty: then DefaultSetup and the CE's GridCEType).
    """
    found = Found(name)
    if not setup and _text(document.get("DefaultSetup")):
        setup = _text(document.get("DefaultSetup"))
        found.put("setup", setup, "/DefaultSetup")
    _read_ce(document, found, ce_name, queue)
    grid_ce_type = grid_ce_type or found.get("gridCEType", "")
    servers = document.get("ConfigurationServers")
    if servers:
        found.put("configServer", servers, "/ConfigurationServers")
    if "Setups" in document:
        _read_old_schema(document, found, setup, grid_ce_type)
    else:
        _read_new_schema(document, found, setup, vo, grid_ce_type)
    return found


def _read_ce(document, found, ce_name, queue):
    ces = document.get("CEs")
    if not ce_name or not isinstance(ces, dict) or not isinstance(ces.get(ce_name), dict):
        return
    ce = ces[ce_name]
    base = "/CEs/%s" % ce_name
    if _text(ce.get("Site")):
        found.put("site", ce["Site"], base + "/Site")
    if _text(ce.get("GridCEType")):
        found.put("gridCEType", ce["GridCEType"], base + "/GridCEType")
    if _text(ce.get("LocalCEType")):
        found.put("ceType", ce["LocalCEType"], base + "/LocalCEType")
    if queue and isinstance(ce.get(queue), dict) and _text(ce[queue].get("LocalCEType")):
        found.put("ceType", ce[queue]["LocalCEType"], "%s/%s/LocalCEType" % (base, queue))


# -- old schema -------------------------------------------------------------------

# The keys each schema's readers look up besides Commands and the top-level ones
# (DIRAC facts: the old schema never carried logging settings).
_OLD_KEYS = ("CommandExtensions", "Version", "Project", "NagiosProbes", "NagiosPutURL")
_SPECIAL_KEYS = ("Commands", "PreferredURLPatterns", "NagiosProbes", "NagiosPutURL")
OLD_SCHEMA_KEYS = [(p.dest, p.json) for p in options.TABLE if p.json in _OLD_KEYS]
NEW_SCHEMA_KEYS = [(p.dest, p.json) for p in options.TABLE if p.json and p.json not in _SPECIAL_KEYS]


def _read_old_schema(document, found, setup, grid_ce_type):
    setups = document["Setups"]
    if not isinstance(setups, dict):
        raise ConfigError("pilot.json %s: /Setups is %s, expected an object"
                          % (found.name, _type_name(setups)))
    sections = []
    if setup and isinstance(setups.get(setup), dict):
        sections.append(("/Setups/%s" % setup, setups[setup]))
    if isinstance(setups.get("Defaults"), dict):
        sections.append(("/Setups/Defaults", setups["Defaults"]))

    # Commands: <setup>.<GridCEType>, <setup>.Defaults, Defaults.<GridCEType>, Defaults.Defaults
    # (DIRAC's fourth lookup can never succeed; here it works).
    done = False
    for path, section in sections:
        commands = section.get("Commands")
        if commands is None:
            continue
        if not isinstance(commands, dict):
            raise ConfigError("pilot.json %s: %s/Commands: expected an object, got %s"
                              % (found.name, path, _type_name(commands)))
        for key in (grid_ce_type, "Defaults"):
            if key and key in commands:
                found.put("commands", commands[key], "%s/Commands/%s" % (path, key))
                done = True
                break
        if done:
            break

    for dest, key in OLD_SCHEMA_KEYS:
        for path, section in sections:
            if key in section and section[key] not in (None, ""):
                found.put(dest, section[key], "%s/%s" % (path, key))
                break
    for path, section in sections:
        if _text(section.get("ConfigurationServer")) or isinstance(section.get("ConfigurationServer"), list):
            found.put("configServer", section["ConfigurationServer"], path + "/ConfigurationServer")
            break


# -- new schema -------------------------------------------------------------------

def merged_pilot_options(document, setup, vo):
    """The merged Pilot section: key -> (value, path of the section that gave it)."""
    paths = [["Defaults", "Pilot"]]
    if setup:
        paths.append([setup, "Pilot"])
    if vo:
        paths.append([vo, "Defaults", "Pilot"])
        if setup:
            paths.append([vo, setup, "Pilot"])
        paths.append([vo, "Pilot"])
    merged = {}
    for path in paths:
        section = _walk(document, path)
        if isinstance(section, dict):
            for key, value in section.items():
                merged[key] = (value, "/" + "/".join(path))
    return merged


def _read_new_schema(document, found, setup, vo, grid_ce_type):
    merged = merged_pilot_options(document, setup, vo)
    if "Commands" in merged:
        commands, path = merged["Commands"]
        if isinstance(commands, dict):
            for key in (grid_ce_type, "Defaults"):
                if key and key in commands:
                    found.put("commands", commands[key], "%s/Commands/%s" % (path, key))
                    break
        else:
            found.put("commands", commands, path + "/Commands")
    for dest, key in NEW_SCHEMA_KEYS:
        if key in merged and merged[key][0] not in (None, ""):
            found.put(dest, merged[key][0], "%s/%s" % (merged[key][1], key))
    patterns = document.get("PreferredURLPatterns")
    if patterns:
        found.put("preferredURLPatterns", patterns, "/PreferredURLPatterns")


def _walk(document, path):
    node = document
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


# -- values -----------------------------------------------------------------------

def json_value(param, raw, name, path):
    """A pilot.json value as the parameter's kind; ConfigError names the file and path."""
    kind = param.kind
    where = "pilot.json %s: %s" % (name, path)
    if kind == "list":
        if isinstance(raw, (list, tuple)):
            if not all(_scalar(item) for item in raw):
                raise ConfigError("%s: expected a list of strings" % where)
            return options.split_list([compat.to_text(item) for item in raw])
        if _scalar(raw):
            return options.split_list(compat.to_text(raw))
        raise ConfigError("%s: expected a list or a comma string, got %s" % (where, _type_name(raw)))
    if kind in ("flag", "bool"):
        if isinstance(raw, bool):
            return raw
        word = compat.to_text(raw).strip().lower()
        if word in options.TRUE_WORDS:
            return True
        if word in options.FALSE_WORDS:
            return False
        raise ConfigError("%s: expected True or False, got '%s'" % (where, raw))
    if kind == "int":
        if isinstance(raw, bool) or not _scalar(raw):
            raise ConfigError("%s: expected a whole number, got %s" % (where, _type_name(raw)))
        text = compat.to_text(raw).strip()
        if not options.is_whole_number(text):
            raise ConfigError("%s: expected a whole number, got '%s'" % (where, text))
        return int(text)
    if kind == "str":
        if not _scalar(raw):
            raise ConfigError("%s: expected a string, got %s" % (where, _type_name(raw)))
        return compat.to_text(raw).strip()
    if kind == "json":
        return raw
    raise ConfigError("%s: cannot be set from pilot.json" % where)


def _scalar(value):
    return isinstance(value, compat.string_types) or (
        isinstance(value, (int, float)) and not isinstance(value, bool))


def _text(value):
    return compat.to_text(value).strip() if isinstance(value, compat.string_types) else ""


def _type_name(value):
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return "a number"
    return "a string"
