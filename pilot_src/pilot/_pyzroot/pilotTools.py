"""DIRAC's flat module name, for VO extensions written for dirac-pilot.py.

An extension ``<Prefix>Commands.py`` that does ``from pilotTools import
CommandBase`` keeps working: CommandBase is Pilots 2.0's command base class.
"""

from pilot.commands.base import Command, CommandBase  # noqa: F401
from pilot.params import pep440_version  # noqa: F401
