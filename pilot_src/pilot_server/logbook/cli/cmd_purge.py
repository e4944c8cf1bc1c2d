"""``pilotctl logbook purge``: apply the retention now (the service also does it periodically)."""

from pilot_server.cliutil import OK, USAGE, fail, one_line_errors, say
from pilot_server.logbook.cli import options as cliopts

PROG = "pilotctl logbook purge"


def register(commands):
    parser = one_line_errors(
        commands.add_parser(
            "purge",
            help="remove the pilots past their VO's retention (--dry-run to count them)",
            description="Remove every pilot last seen longer ago than its VO's retention (--retention VO=DAYS, "
            "--retention-default DAYS, 30 by default), with its messages, command rows and state "
            "history, in transactions of 500 pilots; and the rejected table's refused batches older "
            "than --retention-rejected DAYS (7 by default).  Exit 0, 1 database problem, 2 usage.",
        )
    )
    cliopts.add_db_option(parser)
    cliopts.add_retention_options(parser)
    parser.add_argument("--dry-run", action="store_true", help="count what would be removed; change nothing")
    parser.set_defaults(handler=purge_command)


def purge_command(args):
    from pilot_server.logbook.store import retention
    from pilot_server.logbook.store.database import DatabaseError, Unavailable
    from pilot_server.logbook.store.logstore import Store

    try:
        rules = cliopts.build_retention(args)
    except ValueError as exc:
        return fail(PROG, exc, USAGE)
    try:
        store = Store.open(cliopts.reader_url(args), migrate=False, pool_size=1)
        try:
            purged = retention.purge(store, rules, dry_run=args.dry_run)
            rejected = retention.purge_rejected(store, rules, dry_run=args.dry_run)
        finally:
            store.close()
    except (DatabaseError, Unavailable) as exc:
        return fail(PROG, exc)
    if args.dry_run:
        say(
            "would remove %d pilot(s), %d message(s) and %d rejected batch(es) (retention: %s)"
            % (purged.pilots, purged.messages, rejected, rules.describe())
        )
    else:
        say(
            "removed %d pilot(s), %d message(s), %d command row(s), %d state(s), %d rejected batch(es) "
            "(retention: %s)"
            % (purged.pilots, purged.messages, purged.commands, purged.states, rejected, rules.describe())
        )
    return OK
