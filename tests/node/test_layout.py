"""The folders of the pilot: no module or package of it is named like a standard-library module.

Run under every interpreter of the matrix, so the names of Python 2.6, 2.7 and 3.x all count:
Python 2 resolves ``import logging`` inside a package to a sibling logging.py first.
"""

import os
import pkgutil
import sys

import helpers

PILOT_DIR = os.path.join(helpers.PILOT_SRC, "pilot")
# pilot/commands/ predates the rule and keeps its path: VO extensions import pilot.commands.base;
# _pyzroot/__main__.py is the pyz's launcher, named so by the zip application rules.
KEPT = set(["commands", "__main__"])


def pilot_names():
    names = set()
    for top, dirs, files in os.walk(PILOT_DIR):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in dirs:
            if os.path.isfile(os.path.join(top, name, "__init__.py")):
                names.add(name)
        for name in files:
            if name.endswith(".py") and name != "__init__.py":
                names.add(name[:-3])
    return names


def stdlib_names():
    names = set(sys.builtin_module_names) | set(getattr(sys, "stdlib_module_names", ()))
    lib = os.path.dirname(os.__file__)
    for entry in pkgutil.iter_modules([lib, os.path.join(lib, "lib-dynload")]):
        names.add(entry[1])
    return names


def test_the_pilot_is_arranged_in_folders_by_concern():
    top = set(name[:-3] for name in os.listdir(PILOT_DIR) if name.endswith(".py"))
    assert top == set(["__init__", "cli", "errors", "exitcodes", "extension", "messages", "shims", "testing"])
    for folder in ("commands", "config", "cpu", "logs", "node", "sequence"):
        assert os.path.isfile(os.path.join(PILOT_DIR, folder, "__init__.py")), folder


def test_no_module_of_the_pilot_shadows_a_standard_module():
    stdlib = stdlib_names()
    assert "logging" in stdlib and "os" in stdlib  # the list is real
    clashes = sorted((pilot_names() - KEPT) & stdlib)
    assert clashes == [], clashes
