"""Options shared by the ``pilotctl logbook`` subcommands, and their parsing."""

import os
import time

from pilot_server.logbook.store.timespec import parse_when


DB_ENV = "PILOTS2_LOGBOOK_DB"
BROKER_ENV = "PILOTS2_BROKER_URL"
DEFAULT_BROKER = "amqp://guest:guest@127.0.0.1:5672/"
TOKEN_GRACE = 3 * 86400  # seconds a token stays good after its expiry, for messages that waited in a queue


def add_db_option(parser):
    parser.add_argument(
        "--db",
        metavar="URL",
        help="database URL: sqlite:///FILE (default: logbook.sqlite here), "
        "postgresql://USER@HOST/DB, mysql+pymysql://USER@HOST/DB; "
        "default from $%s (keeps a password off the command line)" % DB_ENV,
    )


def db_url(args):
    from pilot_server.logbook.store.database import default_url

    return args.db or os.environ.get(DB_ENV) or default_url()


def reader_url(args):
    """The URL for a reading command: a missing SQLite file is an error, not a new database."""
    from pilot_server.logbook.store.database import DatabaseError, normalise_url

    url = db_url(args)
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite" and not os.path.exists(parsed.database or ""):
        raise DatabaseError(
            "no logbook database at %s (start 'pilotctl logbook serve' there, or give --db)" % parsed.database
        )
    return url


def broker_url(args):
    return args.broker or os.environ.get(BROKER_ENV) or DEFAULT_BROKER


def listen_address(text):
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError("--listen wants HOST:PORT, not %r" % text)
    return host.strip("[]") or "0.0.0.0", int(port)


def safe(url):
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "(database URL)"


def add_access_options(parser, certificates=True):
    group = parser.add_argument_group("who may write")
    group.add_argument(
        "--token-secret",
        action="append",
        default=[],
        metavar="FILE",
        help="a pilot-token secret (hex, mode 0600, as made by the wrapper tools); "
        "repeat for rotation: every given secret is accepted",
    )
    if certificates:
        group.add_argument(
            "--trusted-dn",
            action="append",
            default=[],
            metavar="DN",
            help="a certificate DN (/DC=org/.../CN=name) that may write any pilot's log and "
            "register pilots; repeatable",
        )
        group.add_argument(
            "--admin-token-file",
            action="append",
            default=[],
            metavar="FILE",
            help="a hex secret (mode 0600) whose value, sent as a bearer token, may register "
            "pilots, report their states and read the logbook (administrators)",
        )
    group.add_argument(
        "--require-registration", action="store_true", help="refuse logs of pilots that no submitter registered (404)"
    )


def build_access(args):
    """An Access from the options; raises ValueError (one line) for an unusable secret file."""
    from pilot_server.logbook.receive.access import Access

    secrets = read_secrets(args.token_secret)
    admin = read_secrets(getattr(args, "admin_token_file", []))
    return Access(
        secrets, getattr(args, "trusted_dn", []), admin, getattr(args, "token_grace", 0), getattr(args, "admin_dn", [])
    )


PILOT_FILTERS = (
    ("site", "DIRAC site name"),
    ("ce", "CE name"),
    ("queue", "queue name"),
    ("version", "pilot version"),
    ("vo", "VO"),
)


def add_pilot_filters(parser):
    """--site --ce --queue --version --vo (exact), --since/--until (last seen), --lost-after."""
    for name, what in PILOT_FILTERS:
        parser.add_argument("--" + name, help="%s, exactly" % what)
    parser.add_argument("--since", metavar="TIME", help="pilots last seen at or after TIME")
    parser.add_argument("--until", metavar="TIME", help="pilots last seen at or before TIME")
    add_lost_after(parser)


def pilot_window(args):
    """(since, until) epoch seconds of --since/--until (None when not given); ValueError."""
    return (parse_when(args.since) if args.since else None, parse_when(args.until) if args.until else None)


def add_lost_after(parser):
    from pilot_server.logbook.store.states import DEFAULT_LOST_AFTER

    parser.add_argument(
        "--lost-after",
        type=seconds,
        default=DEFAULT_LOST_AFTER,
        metavar="SECONDS",
        help="a Running pilot not heard of for this long is Lost (default %d; 0: never)" % DEFAULT_LOST_AFTER,
    )


def seconds(text):
    """argparse type: a non-negative number of seconds."""
    import argparse

    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError("%r is not a number of seconds" % text)
    return value


def positive_seconds(text):
    """argparse type: a number of seconds above zero."""
    import argparse

    value = seconds(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("%r is not a positive number of seconds" % text)
    return value


def count(low, high):
    """argparse type: an integer from low to high."""
    import argparse

    def convert(text):
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise argparse.ArgumentTypeError("%r is not an integer from %d to %d" % (text, low, high))
        return value

    return convert


def read_secrets(paths):
    """The secrets of hex secret files (mode 0600); ValueError (one line)."""
    from pilot_server import tokens

    try:
        return [tokens.read_secret(path) for path in paths]
    except tokens.TokenError as exc:
        raise ValueError(str(exc))
    except OSError as exc:
        raise ValueError("%s: %s" % (exc.filename, exc.strerror))


def read_token(path):
    """The bearer token of a hex secret file (as --admin-token-file's); ValueError (one line)."""
    import binascii

    return binascii.hexlify(read_secrets([path])[0]).decode("ascii")


def add_retention_options(parser):
    from pilot_server.logbook.store.retention import DEFAULT_DAYS, DEFAULT_REJECTED_DAYS

    group = parser
    group.add_argument(
        "--retention",
        action="append",
        default=[],
        metavar="VO=DAYS",
        help="keep the pilots of VO for DAYS after they were last seen; repeatable",
    )
    group.add_argument(
        "--retention-default",
        metavar="DAYS",
        help="for every other VO and pilots without one (default %d)" % DEFAULT_DAYS,
    )
    group.add_argument(
        "--retention-rejected",
        metavar="DAYS",
        help="keep the refused batches of the rejected table for DAYS (default %d)" % DEFAULT_REJECTED_DAYS,
    )


def build_retention(args):
    """A Retention from the options; ValueError (one line) for a bad value."""
    from pilot_server.logbook.store.retention import Retention

    return Retention.from_options(args.retention_default, args.retention, args.retention_rejected)


def setup_logging(level):
    import logging

    logging.basicConfig(
        level=getattr(logging, level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%Y-%m-%dT%H:%M:%S",
    )
    logging.Formatter.converter = time.gmtime
    logging.getLogger("pika").setLevel(logging.CRITICAL)


def add_log_level(parser):
    parser.add_argument(
        "--log-level",
        default="info",
        choices=("debug", "info", "warning", "error"),
        help="what the service writes to stderr (default info; never tokens or passwords)",
    )


def add_quota_options(parser):
    """--max-messages-per-pilot, --max-bytes-per-pilot, --max-rejected-per-hour (receive/quota.py)."""
    from pilot_server.logbook.receive import quota

    group = parser.add_argument_group("what one pilot may cost (413 beyond its quota)")
    group.add_argument(
        "--max-messages-per-pilot",
        type=count(0, 2**62),
        default=quota.DEFAULT_MAX_MESSAGES,
        metavar="N",
        help="messages one pilot may have stored; a batch that would pass it is "
        "refused, 413 (default %d; 0: no cap)" % quota.DEFAULT_MAX_MESSAGES,
    )
    group.add_argument(
        "--max-bytes-per-pilot",
        type=count(0, 2**62),
        default=quota.DEFAULT_MAX_BYTES,
        metavar="BYTES",
        help="bytes of text and data one pilot may have stored; a batch that "
        "would pass it is refused, 413 (default %d = 256 MiB; 0: no cap)" % quota.DEFAULT_MAX_BYTES,
    )
    group.add_argument(
        "--max-rejected-per-hour",
        type=count(0, 10**9),
        default=quota.DEFAULT_MAX_REJECTED_PER_HOUR,
        metavar="N",
        help="refused batches of one credential kept in the rejected table per hour; the "
        "others are only counted (default %d)" % quota.DEFAULT_MAX_REJECTED_PER_HOUR,
    )


def quota_caps(args):
    """The store's keyword arguments of the quota options (0: no cap)."""
    from pilot_server.logbook.receive import quota

    return {"max_messages": quota.cap(args.max_messages_per_pilot), "max_bytes": quota.cap(args.max_bytes_per_pilot)}
