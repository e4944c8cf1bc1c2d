"""``pilotctl logbook state STAMP STATE``: a submitter reports a batch state (or registers a pilot)."""

from pilot_server.cliutil import FAILED, OK, USAGE, fail, one_line_errors, say
from pilot_server.logbook.cli import options as cliopts

PROG = "pilotctl logbook state"


def register(commands):
    from pilot_server.logbook.store.states import SUBMITTER_STATES

    parser = one_line_errors(
        commands.add_parser(
            "state",
            help="report a pilot's batch state (Submitted registers it) to the logbook",
            description="Report the state a batch system sees (%s) for a pilot, to a logbook over HTTPS "
            "(--logbook URL with --admin-token-file) or in its database (--db).  'Submitted' "
            "registers the pilot.  Exit 0 recorded (or already in that state), 1 refused: an "
            "unknown stamp or a transition the states do not allow (HTTP 404/409), or the logbook "
            "unreachable; 2 usage or a bad state." % ", ".join(SUBMITTER_STATES),
        )
    )
    cliopts.add_db_option(parser)
    add_submitter_options(parser)
    parser.add_argument("stamp", metavar="STAMP")
    parser.add_argument("state", metavar="STATE")
    parser.add_argument("--time", metavar="TIME", help="when the batch system saw it (default: now)")
    for name in ("ce", "queue", "site", "vo"):
        parser.add_argument("--" + name, help="with Submitted: the pilot's %s" % name)
    parser.set_defaults(handler=state_command)


def add_submitter_options(parser):
    group = parser.add_argument_group("the logbook (instead of --db)")
    group.add_argument("--logbook", metavar="URL", help="the logbook's base URL, https://HOST:PORT")
    group.add_argument("--ca", metavar="FILE|DIR", help="CA file or directory that verifies the logbook")
    group.add_argument(
        "--admin-token-file",
        metavar="FILE",
        help="the logbook's admin token (a 0600 hex secret file, as its --admin-token-file)",
    )


def open_submitter(args):
    """(submitter, closer) from --logbook/--ca/--admin-token-file or --db; ValueError for usage."""
    from pilot_server.logbook.clients.submitter import HTTPSubmitter, LocalSubmitter, SubmitterError, read_admin_token

    if args.logbook:
        if args.db:
            raise ValueError("give --logbook URL or --db URL, not both")
        token = read_admin_token(args.admin_token_file) if args.admin_token_file else None
        try:
            return HTTPSubmitter(args.logbook, admin_token=token, ca=args.ca), lambda: None
        except SubmitterError as exc:
            raise ValueError(str(exc))
    from pilot_server.logbook.store.logstore import Store

    store = Store.open(cliopts.reader_url(args), migrate=False, pool_size=1)
    return LocalSubmitter(store), store.close


def state_command(args):
    from pilot_server.logbook.store import states
    from pilot_server.logbook.store.database import DatabaseError, Unavailable
    from pilot_server.logbook.clients.submitter import SubmitterError

    try:
        state = states.reportable(args.state)
        when = cliopts.parse_when(args.time) if args.time else None
        submitter, close = open_submitter(args)
    except (ValueError, states.BadState) as exc:
        return fail(PROG, exc, USAGE)
    except (DatabaseError, Unavailable) as exc:
        return fail(PROG, exc)
    try:
        if state == states.SUBMITTED:
            created = submitter.register(
                args.stamp, ce=args.ce, queue=args.queue, site=args.site, vo=args.vo, submitted=when
            )
            say("%s %s" % (args.stamp, "registered (Submitted)" if created else "was already registered"))
            return OK
        report = submitter.report_state(args.stamp, state, when)
    except SubmitterError as exc:
        return fail(PROG, exc, USAGE if exc.status == 400 else FAILED)
    except (DatabaseError, Unavailable) as exc:
        return fail(PROG, exc)
    finally:
        close()
    say(
        "%s %s -> %s" % (args.stamp, report["previous"], report["state"])
        if report["changed"]
        else "%s already %s" % (args.stamp, report["state"])
    )
    return OK
