"""``pilotctl logbook aggregates rebuild``: recompute the statistics' aggregates from the rows."""

import time

from pilot_server.cliutil import OK, fail, one_line_errors, say
from pilot_server.logbook.cli import options as cliopts

PROG = "pilotctl logbook aggregates"


def register(commands):
    parser = one_line_errors(
        commands.add_parser(
            "aggregates",
            help="rebuild the statistics' pre-aggregated counts from the stored rows",
            description="The statistics read counts kept per hour and day of the pilots' last seen, updated by "
            "every write.  'rebuild' recomputes them from the pilot and command rows in one "
            "transaction (writers wait meanwhile): after rows were written by another program, or "
            "to check them (on SQLite it also refills the failure-reason text index, needed after a VACUUM).  Exit 0, 1 database problem, 2 usage.",
        )
    )
    parser.add_argument("action", choices=("rebuild",), help="rebuild: recompute every count")
    cliopts.add_db_option(parser)
    parser.set_defaults(handler=aggregates_command)


def aggregates_command(args):
    from pilot_server.logbook.store import aggregates, textsearch
    from pilot_server.logbook.store.database import DatabaseError, Unavailable
    from pilot_server.logbook.store.logstore import Store

    started = time.time()
    try:
        store = Store.open(cliopts.reader_url(args), migrate=False, pool_size=1)
        try:
            counted = store.write(
                lambda connection: (aggregates.rebuild(connection), textsearch.rebuild(connection))[0]
            )
        finally:
            store.close()
    except (DatabaseError, Unavailable) as exc:
        return fail(PROG, exc)
    say("aggregates rebuilt from %d pilot(s) in %.1f s" % (counted, time.time() - started))
    return OK
