"""``pilotctl logbook pilots``: the pilots in the logbook, newest first, filtered."""

from pilot_server.cliutil import OK, USAGE, fail, one_line_errors, say
from pilot_server.logbook.cli import options as cliopts, render
from pilot_server.logbook.store.states import STATES

PROG = "pilotctl logbook pilots"


def register(commands):
    parser = one_line_errors(
        commands.add_parser(
            "pilots",
            help="list pilots (filters: --site --ce --status --vo --since --until)",
            description="List the pilots of the logbook, most recently seen first.  Times are UTC: epoch "
            "seconds, 2026-11-21[T15:00[:00]], or an age such as 30m, 2h, 3d.  Reads the "
            "database directly (its credential is the admin credential).",
        )
    )
    cliopts.add_db_option(parser)
    cliopts.add_pilot_filters(parser)
    parser.add_argument(
        "--status",
        help="one of %s (as read: Lost includes the Running pilots silent for "
        "--lost-after seconds)" % ", ".join(STATES),
    )
    parser.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.set_defaults(handler=pilots_command)


def pilots_command(args):
    from pilot_server.logbook.store import states
    from pilot_server.logbook.store.database import DatabaseError, Unavailable
    from pilot_server.logbook.store.logstore import Store

    try:
        status = states.canonical(args.status) if args.status else None
        since, until = cliopts.pilot_window(args)
    except ValueError as exc:
        return fail(PROG, exc, USAGE)
    if args.limit < 1:
        return fail(PROG, "--limit must be at least 1", USAGE)
    try:
        store = Store.open(cliopts.reader_url(args), migrate=False, pool_size=1, lost_after=args.lost_after)
        try:
            rows = store.pilots(
                site=args.site,
                ce=args.ce,
                status=status,
                vo=args.vo,
                since=since,
                until=until,
                limit=args.limit,
                queue=args.queue,
                version=args.version,
            )
        finally:
            store.close()
    except (DatabaseError, Unavailable) as exc:
        return fail(PROG, exc)
    if args.json:
        for row in rows:
            say(render.to_json(row))
    else:
        for line in render.pilots_table(rows):
            say(line)
    return OK
