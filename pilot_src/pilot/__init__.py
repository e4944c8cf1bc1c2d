"""Pilots 2.0: the worker-node side.

Everything under this package runs on CPython 2.6 ... 3.13 with the standard
library and ``compat`` only (no six: see compat).  Nothing here may import
``pilot_server``.
"""

__version__ = "2.0.0a1"
