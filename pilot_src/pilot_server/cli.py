"""``pilotctl``: the command line of administrators and SiteDirectors.

Each subcommand lives in its own module and registers itself here; this file
only dispatches.  Exit codes: 0 success, 1 the operation failed, 2 usage.
"""

import argparse
import importlib
import sys

from pilot_server.worker import __version__
from pilot_server import extras

USAGE = 2


def _build(argv):
    from pilot_server import pyzbuild

    return pyzbuild.main(argv, prog="pilotctl build")


# Subcommands with a command line of their own (all their arguments pass through).
PASSTHROUGH = {"build": _build}

# Modules whose register(commands) adds their subcommands (handler in set_defaults).
SUBCOMMAND_MODULES = [
    "pilot_server.cmd_keys",
    "pilot_server.cmd_tokens",
    "pilot_server.wrapper",
    "pilot_server.publish",
    "pilot_server.cmd_submit",
    "pilot_server.logbook.cli",
]
# Subcommands that need an extra (pyproject.toml): without it they only say which one to install.
EXTRA_COMMANDS = {"pilot_server.logbook.cli": ("logbook", "logbook")}


def parser():
    top = argparse.ArgumentParser(
        prog="pilotctl",
        description="Pilots 2.0 tools for SiteDirectors and logbook hosts.",
    )
    top.add_argument("--version", action="version", version="pilotctl (Pilots 2.0) %s" % __version__)
    commands = top.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("build", help="build dist/pilot.pyz reproducibly (see: pilotctl build --help)")
    unavailable = _unavailable()
    for name in SUBCOMMAND_MODULES:
        command = EXTRA_COMMANDS.get(name, (None,))[0]
        if command in unavailable:
            commands.add_parser(command, help="(not installed) %s" % unavailable[command])
        else:
            importlib.import_module(name).register(commands)
    return top


def _unavailable():
    """{subcommand: one-line hint} of the subcommands whose extra is not installed."""
    found = {}
    for command, extra in EXTRA_COMMANDS.values():
        lacking = extras.missing_module(extra)
        if lacking:
            found[command] = extras.hint("pilotctl %s" % command, lacking)
    return found


def _missing(hint):
    sys.stderr.write("pilotctl: error: %s\n" % hint)
    return USAGE


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in PASSTHROUGH:
        return PASSTHROUGH[argv[0]](argv[1:])
    unavailable = _unavailable()
    if argv and argv[0] in unavailable:  # whatever follows, even --help
        return _missing(unavailable[argv[0]])
    args = parser().parse_args(argv)
    if not getattr(args, "handler", None):
        parser().print_help(sys.stderr)
        return USAGE
    try:
        return args.handler(args)
    except ImportError as exc:  # e.g. the driver of a database whose extra is not installed
        hint = extras.hint("pilotctl %s" % args.command, getattr(exc, "name", None))
        if hint is None:
            raise
        return _missing(hint)
    except KeyboardInterrupt:
        sys.stderr.write("pilotctl: interrupted\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
