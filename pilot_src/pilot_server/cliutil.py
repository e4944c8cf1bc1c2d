"""Small helpers shared by pilotctl subcommands: one-line errors, exit codes."""

import sys
import types

OK = 0
FAILED = 1
USAGE = 2


def one_line(value):
    return " ".join(str(value).split())


def _error(parser, message):
    parser.exit(USAGE, "%s: error: %s (see --help)\n" % (parser.prog, one_line(message)))


def one_line_errors(parser):
    """Make argparse report a usage error as one line and exit 2 (not its usage block)."""
    parser.error = types.MethodType(_error, parser)
    return parser


def fail(prog, message, code=FAILED):
    sys.stderr.write("%s: error: %s\n" % (prog, one_line(message)))
    return code


def say(text):
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
