"""``pilotctl logbook show STAMP``: one pilot's log, as its pilot.out, or JSON."""

import sys

from pilot_server.cliutil import FAILED, OK, fail, one_line_errors, say
from pilot_server.logbook.cli import options as cliopts, render

PROG = "pilotctl logbook show"


def register(commands):
    parser = one_line_errors(
        commands.add_parser(
            "show",
            help="one pilot's log (as its pilot.out; --json for the stored messages)",
            description="Print a pilot's messages in sequence order, as lines of the pilot's own pilot.out.  "
            "Missing sequence numbers (not received yet) are reported on stderr.",
        )
    )
    cliopts.add_db_option(parser)
    parser.add_argument("stamp", metavar="STAMP")
    parser.add_argument(
        "--json", action="store_true", help="the pilot row, then each message, one JSON object per line"
    )
    parser.add_argument(
        "--states",
        action="store_true",
        help="instead of the log: the pilot's state transitions (time, state, who said so) "
        "and its commands (status, duration, reason)",
    )
    parser.set_defaults(handler=show_command)


def show_command(args):
    from pilot_server.logbook.store.database import DatabaseError, Unavailable
    from pilot_server.logbook.store.logstore import Store

    try:
        store = Store.open(cliopts.reader_url(args), migrate=False, pool_size=1)
        try:
            pilot = store.pilot(args.stamp)
            if pilot and args.states:
                history, commands = store.states(args.stamp), store.commands(args.stamp)
            items = store.messages(args.stamp) if pilot and not args.states else []
        finally:
            store.close()
    except (DatabaseError, Unavailable) as exc:
        return fail(PROG, exc)
    if pilot is None:
        return fail(PROG, "no pilot %s in the logbook" % args.stamp[:130], FAILED)
    if args.states:
        return show_states(args, pilot, history, commands)
    if args.json:
        say(render.to_json({"pilot": pilot}))
        for item in items:
            say(render.to_json(item))
    else:
        for item in items:
            say(render.message_line(item))
    missing = render.gaps([item["seq"] for item in items])
    if missing:
        sys.stderr.write("%s: messages not received (yet): %s\n" % (PROG, ", ".join(missing[:20])))
    return OK


def show_states(args, pilot, history, commands):
    if args.json:
        say(render.to_json({"pilot": pilot, "states": history, "commands": commands}))
        return OK
    say("pilot %s: %s" % (args.stamp, pilot["status"]))
    for row in history:
        say("  %s  %-9s  (%s)" % (render.iso(row["time"]), row["state"], row["source"]))
    for row in commands:
        duration = "" if row["duration"] is None else "%.2f s" % row["duration"]
        reason = ("  " + row["reason"]) if row["reason"] else ""
        say("  %-28s %-8s %9s%s" % (row["name"], row["status"], duration, reason))
    return OK
