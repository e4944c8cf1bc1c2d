"""Pilots 2.0: the worker-node side.

Everything under this package runs on CPython 2.6 ... 3.13 with the standard
library and ``compat`` only (no six: see compat).  Nothing here may import
``pilot_server``.
"""

__version__ = "2.0.0a1"


def version_line():
    """What ``--version`` prints (pilot.pyz's __main__.py answers a lone --version with it)."""
    import sys

    return "Pilots 2.0 pilot %s (Python %s)" % (__version__, sys.version.split()[0])
