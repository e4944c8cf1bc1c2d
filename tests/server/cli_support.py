"""Running ``pilotctl`` in process, as the tests of its subcommands do."""

from pilot_server import cli


def pilotctl(capsys, *argv):
    """(exit code, stdout, stderr) of ``pilotctl ARGV...``; argparse's usage errors included."""
    try:
        code = cli.main(list(argv))
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err
