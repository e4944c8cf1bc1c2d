"""DIRAC's pilot and wrapper generator, run (never copied) by the benches that compare with them.

The copies are looked for in $PILOT_ANCHORS, else in a ``shared/anchors`` folder beside the
checkout or one level up (where CI machines keep them).  ``find()`` returns None when absent:
the benches then print that DIRAC's side was not measured.
"""

import base64
import bz2
import importlib.util
import os

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PILOT_FILES = ("dirac-pilot.py", "pilotCommands.py", "pilotTools.py", "proxyTools.py")


def find():
    """The anchors folder (holding dirac-pilot/ and dirac-pilotwrapper/), or None."""
    candidates = [os.environ.get("PILOT_ANCHORS", "")]
    parent = os.path.dirname(REPO)
    candidates += [
        os.path.join(parent, "shared", "anchors"),
        os.path.join(os.path.dirname(parent), "shared", "anchors"),
    ]
    for folder in candidates:
        if folder and os.path.isfile(os.path.join(folder, "dirac-pilot", "Pilot", "dirac-pilot.py")):
            return folder
    return None


def pilot_dir(anchors):
    return os.path.join(anchors, "dirac-pilot", "Pilot")


def pilot_files(anchors):
    """{name: bytes} of DIRAC's pilot files, as a SiteDirector sends them."""
    found = {}
    for name in PILOT_FILES:
        with open(os.path.join(pilot_dir(anchors), name), "rb") as handle:
            found[name] = handle.read()
    return found


def wrapper_text(anchors, pilot_options):
    """DIRAC's PilotWrapper.py output with its pilot files embedded (bz2 + base64, as the
    SiteDirector does), no proxy."""
    path = os.path.join(anchors, "dirac-pilotwrapper", "PilotWrapper.py")
    spec = importlib.util.spec_from_file_location("dirac_pilot_wrapper", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    encoded = dict(
        (name, base64.b64encode(bz2.compress(data)).decode("ascii"))
        for name, data in sorted(pilot_files(anchors).items())
    )
    return module.pilotWrapperScript(
        pilotFilesCompressedEncodedDict=encoded,
        pilotOptions=" ".join(pilot_options),
        pilotExecDir="",
        envVariables={},
        location="",
    )
