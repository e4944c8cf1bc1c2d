"""``pilotctl logbook consume``: the RabbitMQ consumer (one or more per database)."""

import logging
import signal

from pilot_server.cliutil import OK, USAGE, fail, one_line_errors
from pilot_server.logbook.cli import options as cliopts

log = logging.getLogger("pilots2.logbook")
PROG = "pilotctl logbook consume"


def register(commands):
    parser = one_line_errors(
        commands.add_parser(
            "consume",
            help="store the pilots' batches from a RabbitMQ queue (acknowledged after commit)",
            description="Consume the queue that pilots send to through RabbitMQ's STOMP plugin "
            "(STOMP /queue/pilots2.logs = AMQP queue pilots2.logs), check each batch and its "
            "pilot-token header as HTTPS does, store it, and acknowledge only after the commit.  "
            "Invalid messages go to the rejected table (and are acknowledged).  Several consumers "
            "may share a queue and a database.",
        )
    )
    cliopts.add_db_option(parser)
    parser.add_argument(
        "--broker", metavar="URL", help="AMQP URL (default $%s, else %s)" % (cliopts.BROKER_ENV, cliopts.DEFAULT_BROKER)
    )
    parser.add_argument("--queue", default="pilots2.logs", help="queue name (default pilots2.logs)")
    parser.add_argument(
        "--flush",
        type=int,
        default=100,
        metavar="N",
        help="commit (then acknowledge) every N deliveries or 0.05 s (default 100)",
    )
    cliopts.add_access_options(parser, certificates=False)
    parser.add_argument(
        "--token-grace",
        type=int,
        default=cliopts.TOKEN_GRACE,
        metavar="SECONDS",
        help="accept a pilot token up to SECONDS after its expiry (default 3 days): a message "
        "may wait in the queue while consumers or the database are down",
    )
    cliopts.add_quota_options(parser)
    cliopts.add_log_level(parser)
    parser.set_defaults(handler=consume_command)


def consume_command(args):
    from pilot_server.logbook.receive.consumer import Consumer
    from pilot_server.logbook.receive.quota import RejectedBudget
    from pilot_server.logbook.store.database import DatabaseError, Unavailable
    from pilot_server.logbook.store.logstore import Store

    if not args.token_secret:
        return fail(PROG, "give --token-secret FILE: pilots' messages carry a pilot token", USAGE)
    if args.token_grace < 0:
        return fail(PROG, "--token-grace must be >= 0", USAGE)
    if args.flush < 1:
        return fail(PROG, "--flush must be at least 1", USAGE)
    try:
        access = cliopts.build_access(args)
    except ValueError as exc:
        return fail(PROG, exc, USAGE)
    cliopts.setup_logging(args.log_level)
    url = cliopts.db_url(args)
    try:
        store = Store.open(url, log=log.info, **cliopts.quota_caps(args))
    except (DatabaseError, Unavailable) as exc:
        return fail(PROG, "database %s: %s" % (cliopts.safe(url), exc))
    try:
        consumer = Consumer(
            store,
            access,
            cliopts.broker_url(args),
            args.queue,
            args.require_registration,
            flush_deliveries=args.flush,
            rejected_budget=RejectedBudget(args.max_rejected_per_hour),
        )
    except ValueError as exc:
        store.close()
        return fail(PROG, "bad broker URL: %s" % exc, USAGE)
    for signum in (signal.SIGTERM, signal.SIGINT):  # finish the group in hand, then stop
        signal.signal(signum, lambda _signum, _frame: consumer.stop())
    log.info("logbook consumer: database %s", cliopts.safe(url))
    try:
        consumer.run()
    except KeyboardInterrupt:
        consumer.stop()
    finally:
        store.close()
    return OK
