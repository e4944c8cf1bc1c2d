"""``pilotctl logbook follow STAMP``: a pilot's log, live, until its result arrives."""

import sys
import time

from pilot_server.cliutil import FAILED, OK, USAGE, fail, one_line_errors, say
from pilot_server.logbook.cli import options as cliopts, render

PROG = "pilotctl logbook follow"


def register(commands):
    parser = one_line_errors(
        commands.add_parser(
            "follow",
            help="print a pilot's log as it arrives, until its result (or Ctrl-C)",
            description="Print the pilot's messages stored so far, then poll the database and print new ones "
            "until the pilot's result message has been printed.  Waits for a pilot that has not "
            "sent anything yet.  Messages that arrive late (out of order) are printed when they come.",
        )
    )
    cliopts.add_db_option(parser)
    parser.add_argument("stamp", metavar="STAMP")
    parser.add_argument("--interval", type=float, default=1.0, metavar="SECONDS", help="poll every SECONDS (default 1)")
    parser.add_argument(
        "--timeout",
        type=float,
        default=0,
        metavar="SECONDS",
        help="give up after SECONDS without the result (default: never); exit 1",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per message")
    parser.set_defaults(handler=follow_command)


def follow_command(args):
    from pilot_server.logbook.store.database import DatabaseError, Unavailable
    from pilot_server.logbook.store.logstore import Store

    if args.interval <= 0 or args.timeout < 0:
        return fail(PROG, "--interval must be > 0 and --timeout >= 0", USAGE)
    try:
        store = Store.open(cliopts.reader_url(args), migrate=False, pool_size=1)
    except (DatabaseError, Unavailable) as exc:
        return fail(PROG, exc)
    deadline = time.time() + args.timeout if args.timeout else None
    printed, contiguous, waiting_said, done = set(), 0, False, False
    try:
        while not done:
            try:
                items = store.messages(args.stamp, after=contiguous)
            except Unavailable as exc:
                sys.stderr.write("%s: database unavailable (%s), retrying\n" % (PROG, exc))
                items = []
            if not items and not printed and not waiting_said:
                sys.stderr.write("%s: waiting for pilot %s ...\n" % (PROG, args.stamp[:130]))
                waiting_said = True
            for item in items:
                if item["seq"] in printed:
                    continue
                printed.add(item["seq"])
                say(render.to_json(item) if args.json else render.message_line(item))
                done = done or item["kind"] == "result"
            while contiguous + 1 in printed:
                contiguous += 1
            if done:
                break
            if deadline and time.time() >= deadline:
                return fail(PROG, "no result from pilot %s within %g s" % (args.stamp[:130], args.timeout), FAILED)
            time.sleep(args.interval)
    finally:
        store.close()
    return OK
