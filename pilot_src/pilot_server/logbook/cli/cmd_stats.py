"""``pilotctl logbook stats``: pilots per state, commands, submission to running, DB12."""

from pilot_server.cliutil import OK, USAGE, fail, one_line_errors, say
from pilot_server.logbook.cli import options as cliopts, render

PROG = "pilotctl logbook stats"


def register(commands):
    from pilot_server.logbook.store.stats import GROUPS

    parser = one_line_errors(
        commands.add_parser(
            "stats",
            help="statistics: pilots per state, command durations and failures, DB12 (--json)",
            description="Statistics of the pilots seen (last seen) in a time window, filtered by exact values: "
            "pilots per state (per --by group), each command's count, failure rate, median/p90/max "
            "duration and most frequent failure reasons, time from submission to running, DB12 "
            "scores.  Times are UTC: epoch seconds, 2026-11-21[T15:00[:00]], or an age such as "
            "2h, 3d.  Exit 0, 1 database problem, 2 usage.",
        )
    )
    cliopts.add_db_option(parser)
    cliopts.add_pilot_filters(parser)
    parser.add_argument("--by", choices=GROUPS, help="also count states per site, ce, queue, version or vo")
    parser.add_argument("--json", action="store_true", help="one JSON document (stats.compute's)")
    parser.set_defaults(handler=stats_command)


def stats_command(args):
    from pilot_server.logbook.store import stats
    from pilot_server.logbook.store.database import DatabaseError, Unavailable
    from pilot_server.logbook.store.logstore import Store

    try:
        since, until = cliopts.pilot_window(args)
    except ValueError as exc:
        return fail(PROG, exc, USAGE)
    try:
        store = Store.open(cliopts.reader_url(args), migrate=False, pool_size=1, lost_after=args.lost_after)
        try:
            figures = stats.compute(
                store,
                site=args.site,
                ce=args.ce,
                queue=args.queue,
                version=args.version,
                vo=args.vo,
                since=since,
                until=until,
                group_by=args.by,
            )
        finally:
            store.close()
    except stats.StatsError as exc:
        return fail(PROG, exc, USAGE)
    except (DatabaseError, Unavailable) as exc:
        return fail(PROG, exc)
    if args.json:
        say(render.to_json(figures))
    else:
        for line in render.stats_lines(figures):
            say(line)
    return OK
