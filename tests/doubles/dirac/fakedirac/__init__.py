"""A test double of a DIRAC release (tests/doubles/dirac/README.md).

Not DIRAC: a small stand-in that honours the command-line contract of the DIRAC
tools a pilot calls, against a local directory standing for the DIRAC services.
"""

from ._release import VERSION, PROJECT, BUILD  # noqa: F401

__version__ = VERSION
