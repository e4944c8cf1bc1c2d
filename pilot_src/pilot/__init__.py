"""Pilots 2.0: the worker-node side.

Everything under this package runs on CPython 2.6 ... 3.13 with the standard
library and ``compat`` only (no six: see compat).  Nothing here may import
``pilot_server``.  Installed, this package is ``pilot_server.worker`` (docs/packaging.md): its modules
import each other by relative names and take compat from ``shims``.
"""

__version__ = "2.0.0a1"


def version_line():
    """What ``--version`` prints (pilot.pyz's __main__.py answers a lone --version with it)."""
    import sys

    return "Pilots 2.0 pilot %s (Python %s)" % (__version__, sys.version.split()[0])


def _blob_importer():
    # pilot.pyz put on sys.path by a test or a tool (not run as a script): its modules other than this
    # one are in the archive's pilot.bz2, which only the archive's own importer reads.  __main__.py
    # installs it before importing anything; here it is installed on first import from the zip.
    import os
    import sys

    archive = getattr(globals().get("__loader__"), "archive", None)
    if not archive:
        return  # a checkout or an installed package: plain files
    archive = os.path.abspath(archive)
    main_archive = getattr(getattr(sys.modules.get("__main__"), "__loader__", None), "archive", None)
    if main_archive and os.path.abspath(main_archive) == archive:
        return  # run as pilot.pyz: its __main__.py installs the importer when it is needed
    for finder in sys.meta_path:
        if os.path.abspath(getattr(finder, "archive", None) or "/") == archive:
            return
    try:
        import pyzimport
    except ImportError:
        return
    pyzimport.install(archive, globals().get("__loader__"))


_blob_importer()
