"""``pilotctl logbook export STAMP -o FILE.json.gz``: one pilot's whole log as a compressed archive."""

import os

from pilot_server.cliutil import FAILED, OK, fail, one_line_errors, say
from pilot_server.logbook.cli import options as cliopts

PROG = "pilotctl logbook export"


def register(commands):
    parser = one_line_errors(
        commands.add_parser(
            "export",
            help="write one pilot's log (row, states, commands, messages) as a .json.gz archive",
            description="Write gzip of one JSON document (format pilots2/export/1): the pilot row, its state "
            "history, its command rows and all its messages.  Exit 0, 1 unknown pilot or database "
            "problem, 2 usage.",
        )
    )
    cliopts.add_db_option(parser)
    parser.add_argument("stamp", metavar="STAMP")
    parser.add_argument("-o", "--output", required=True, metavar="FILE", help="the archive to write")
    cliopts.add_lost_after(parser)
    parser.set_defaults(handler=export_command)


def export_command(args):
    from pilot_server.logbook.store import export
    from pilot_server.logbook.store.database import DatabaseError, Unavailable
    from pilot_server.logbook.store.logstore import Store

    try:
        store = Store.open(cliopts.reader_url(args), migrate=False, pool_size=1, lost_after=args.lost_after)
        try:
            doc = export.document(store, args.stamp)
        finally:
            store.close()
    except (DatabaseError, Unavailable) as exc:
        return fail(PROG, exc)
    if doc is None:
        return fail(PROG, "no pilot %s in the logbook" % args.stamp[:130], FAILED)
    data = export.compress(doc)
    tmp = "%s.tmp-%d" % (args.output, os.getpid())
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
        os.replace(tmp, args.output)
    except OSError as exc:
        return fail(PROG, "%s: %s" % (exc.filename or args.output, exc.strerror or exc))
    say("wrote %s: pilot %s, %d message(s), %d bytes" % (args.output, args.stamp, len(doc["messages"]), len(data)))
    return OK
