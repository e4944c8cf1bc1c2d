"""DIRAC's pilotCommands module, for VO extensions written for dirac-pilot.py.

``from pilotCommands import InstallDIRAC`` gives the standard command, to run or
to subclass, as with DIRAC's pilot; so do the names DIRAC's module takes from
pilotTools (``CommandBase`` ...), and ``logFinalizer``.  ``sendMessage`` fails to
import with a message that says what to use instead (see pilotTools).
"""

import functools

from pilot.commands import core_commands
from pilotTools import CommandBase, getSubmitterInfo, refuse_names, retrieveUrlTimeout, safe_listdir  # noqa: F401

# How long logFinalizer waits for the remote log to take the command's records.
FLUSH_SECONDS = 10.0

for _command in core_commands():
    globals()[_command.command_name()] = _command
del _command


def logFinalizer(execute):
    """DIRAC's decorator of execute(): when the command ends (returns, fails or calls
    sys.exit), the remote log is flushed, so the logbook has its records."""

    @functools.wraps(execute)
    def wrapper(self, *args, **kwargs):
        try:
            return execute(self, *args, **kwargs)
        finally:
            if self.context is not None:
                self.context.logger.flush(FLUSH_SECONDS)

    return wrapper


__all__ = [command.command_name() for command in core_commands()] + [
    "CommandBase", "getSubmitterInfo", "logFinalizer", "retrieveUrlTimeout", "safe_listdir"]

refuse_names(__name__, ["sendMessage"])
