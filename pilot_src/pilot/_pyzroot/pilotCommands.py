"""DIRAC's flat module name for the standard commands, for VO extensions.

``from pilotCommands import InstallDIRAC`` and subclassing a standard
command work as with dirac-pilot.py.
"""

from pilot.commands import CORE_COMMANDS

for _command in CORE_COMMANDS:
    globals()[_command.command_name()] = _command
del _command

__all__ = [command.command_name() for command in CORE_COMMANDS]
