# Entry point of pilot.pyz: ``python pilot.pyz [options]`` on Python 2.6 ... 3.13.
#
# On 2.6-3.8 the archive entry on sys.path stays relative when the pyz is started
# by a relative path; a later os.chdir() would then break every late import.  Make
# it absolute before anything else is imported.
import os
import sys

if sys.path and sys.path[0] and not os.path.isabs(sys.path[0]):
    sys.path[0] = os.path.abspath(sys.path[0])

if sys.argv[1:] == ["--version"]:
    # Answered from pilot/__init__.py alone (a plain member of the zip): no option parser, no
    # blob to decompress.  Any other command line, --version among others included, goes to cli.
    import pilot

    try:
        sys.stdout.write(pilot.version_line() + "\n")
        sys.stdout.flush()
    except (IOError, OSError):
        pass  # a reader that went away
    sys.exit(0)

import pyzimport  # noqa: E402  (the importer of pilot.bz2, see pyzimport.py)

pyzimport.install(sys.path[0], globals().get("__loader__"))

from pilot import cli  # noqa: E402

sys.exit(cli.main(sys.argv[1:], archive=os.path.abspath(sys.argv[0])))
