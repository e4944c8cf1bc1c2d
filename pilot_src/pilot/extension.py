"""The pilot's interface for a VO's commands: the one module an extension imports.

::

    from pilot.extension import Command

    class CheckScratch(Command):
        failure_type = "node"

        def execute(self):
            ...

Everything here is kept stable for extensions (docs/extensions.md has the
table); ``tests/node/test_extension_api.py`` pins the names.  Modules written
for DIRAC's pilot may keep importing CommandBase and the standard commands
from pilotTools and pilotCommands, or from pilot.commands.base: the classes
are the same.

Hooks, the methods of the standard commands meant to be overridden:

* InstallDIRAC: ``install_methods()`` (the ways to try, in order),
  ``install_<way>()`` (one way; returns ``(rc_file, environment)`` or raises
  Skip), ``pip_requirements()``, ``pip_install(env)``,
  ``capture_environment(rc_file)``;
* ConfigureBasics: ``arguments()`` (dirac-configure's argument list);
* LaunchAgent: ``agent_options()``, ``ce_options()`` (the JobAgent's options);
* every command: ``execute()``, and its helpers ``run()``, ``fail()``,
  ``environment()``, ``path()``, ``log``, ``details``, ``pp``, ``context``.
"""

from . import exitcodes
from .commands.agent import LaunchAgent
from .commands.capability import CheckWNCapabilities, ConfigureArchitectureWithoutCLI, ConfigureCPURequirements
from .commands.checknode import CheckWorkerNode
from .commands.configure import (CheckCECapabilities, ConfigureArchitecture, ConfigureBasics, ConfigureSite,
                                      RegisterPilot)
from .commands.install import InstallDIRAC
from .commands.nagios import NagiosProbes
from .commands.version import GetPilotVersion
from .commands.base import Command, CommandBase, Context
from .commands.install import Skip, system_dir
from .errors import CommandFailed, ConfigError, PilotError
from .config.params import PilotParams

FAILURE_TYPES = exitcodes.FAILURE_TYPES
"""The failure types a command may give to fail() (a command's ``failure_type``)."""


def exit_code(failure_type):
    """The pilot's exit code when a command fails with ``failure_type`` (unknown types: 18, COMMAND)."""
    return exitcodes.for_failure_type(failure_type)


__all__ = [
    # writing a command
    "Command", "CommandBase", "Context", "PilotParams",
    # failing
    "CommandFailed", "ConfigError", "PilotError", "Skip", "FAILURE_TYPES", "exit_code",
    # helpers
    "system_dir",
    # the standard commands, to subclass (DIRAC's names and order)
    "GetPilotVersion", "CheckWorkerNode", "InstallDIRAC", "ConfigureBasics", "RegisterPilot",
    "CheckCECapabilities", "CheckWNCapabilities", "ConfigureSite", "ConfigureArchitecture",
    "ConfigureArchitectureWithoutCLI", "ConfigureCPURequirements", "LaunchAgent", "NagiosProbes",
]
