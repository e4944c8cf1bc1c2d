"""The core toolbox.  Extensions add to it or override it (see pilot.toolbox)."""

from pilot.commands.agent import LaunchAgent
from pilot.commands.base import Command, CommandBase, Context  # noqa: F401
from pilot.commands.capability import (CheckWNCapabilities, ConfigureArchitectureWithoutCLI,
                                       ConfigureCPURequirements)
from pilot.commands.checknode import CheckWorkerNode
from pilot.commands.configure import (CheckCECapabilities, ConfigureArchitecture, ConfigureBasics,
                                      ConfigureSite, RegisterPilot)
from pilot.commands.install import InstallDIRAC
from pilot.commands.nagios import NagiosProbes
from pilot.commands.version import GetPilotVersion

CORE_COMMANDS = [
    GetPilotVersion, CheckWorkerNode, InstallDIRAC, ConfigureBasics, RegisterPilot, CheckCECapabilities,
    CheckWNCapabilities, ConfigureSite, ConfigureArchitecture, ConfigureArchitectureWithoutCLI,
    ConfigureCPURequirements, LaunchAgent, NagiosProbes,
]
