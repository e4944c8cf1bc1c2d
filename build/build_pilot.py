#!/usr/bin/env python3
"""Build dist/pilot.pyz from this checkout: ``python3 build/build_pilot.py [--help]``.

A thin launcher, standard library only, that needs nothing installed: it puts
<repo>/pilot_src first on sys.path and runs pilot_server.pyzbuild, the one
implementation of the build (also behind ``pilotctl build``).
"""

import os
import sys

# Kept parseable by Python 2 so that the wrong interpreter gets a sentence, not a SyntaxError.
if sys.version_info < (3, 6):
    sys.stderr.write("build_pilot: error: the build needs Python 3.6+, this is %s\n" % sys.version.split()[0])
    sys.exit(1)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "pilot_src"))

from pilot_server import pyzbuild  # noqa: E402  (needs the sys.path line above)

if __name__ == "__main__":
    sys.exit(pyzbuild.main())
