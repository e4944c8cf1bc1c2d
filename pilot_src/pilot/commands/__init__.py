"""The core toolbox.  Extensions add to it or override it (see pilot.sequence.toolbox).

A core command's module is imported when the command is planned, listed or
asked for (core_commands()), not before: --explain -X CheckWorkerNode
compiles only pilot.commands.checknode.
"""

from .base import Command, CommandBase, Context  # noqa: F401

# (command name, module under pilot.commands), in DIRAC's order.
CORE = (
    ("GetPilotVersion", "version"), ("CheckWorkerNode", "checknode"), ("InstallDIRAC", "install"),
    ("ConfigureBasics", "configure"), ("RegisterPilot", "configure"), ("CheckCECapabilities", "configure"),
    ("CheckWNCapabilities", "capability"), ("ConfigureSite", "configure"), ("ConfigureArchitecture", "configure"),
    ("ConfigureArchitectureWithoutCLI", "capability"), ("ConfigureCPURequirements", "capability"),
    ("LaunchAgent", "agent"), ("NagiosProbes", "nagios"),
)
CORE_NAMES = [name for name, _ in CORE]


def core_command(name):
    """The class of a core command (imports its module)."""
    module = dict(CORE)[name]
    return getattr(__import__("%s.%s" % (__name__, module), fromlist=[name]), name)  # any package name


def core_commands():
    """Every core command class, in DIRAC's order."""
    return [core_command(name) for name in CORE_NAMES]
