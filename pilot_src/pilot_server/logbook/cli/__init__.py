"""``pilotctl logbook ...``: the logbook's subcommands, one module each."""

import importlib

from pilot_server.cliutil import one_line_errors

SUBCOMMANDS = ["serve", "consume", "pilots", "show", "follow", "stats", "state", "export", "purge", "aggregates"]


def register(commands):
    parser = one_line_errors(
        commands.add_parser(
            "logbook",
            help="the pilot logbook: serve, consume, and read pilots' logs",
            description="The pilot logbook (docs/logbook.md): 'serve' receives logs over HTTPS, 'consume' "
            "takes them from RabbitMQ, 'pilots', 'show', 'follow', 'stats' and 'export' read them, "
            "'state' reports batch states, 'purge' applies the retention, 'aggregates rebuild' recomputes "
            "the statistics' counts.",
        )
    )
    subcommands = parser.add_subparsers(dest="logbook_command", metavar="SUBCOMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module("pilot_server.logbook.cli.cmd_%s" % name).register(subcommands)
    parser.set_defaults(handler=lambda args: _usage(parser))


def _usage(parser):
    parser.print_help()
    return 2
