"""``pilotctl token-secret`` and ``pilotctl token``: the logbook's shared secret and pilot tokens.

The secret is shared by whoever makes tokens (SiteDirector host, ``pilotctl
wrapper``/``submit``) and the logbook (``serve``/``consume --token-secret``).
A token is written to a file of mode 0600 (the pilot's ``--logbook-token-file``)
and never printed: it is a credential.  Exit codes: 0 done, 1 failed, 2 usage.
"""

import os
import uuid

from pilot_server.cliutil import OK, USAGE, fail, one_line_errors, say


def register(commands):
    secret = one_line_errors(
        commands.add_parser(
            "token-secret",
            help="make the logbook's pilot-token secret (a 0600 hex file)",
            description="Write a new random 32-byte secret, hex, to FILE (mode 0600; never overwrites).  Give "
            "the same file to the logbook (--token-secret) and to what makes tokens (pilotctl "
            "wrapper/submit/token).  For rotation, make a new one and give the logbook both.",
        )
    )
    secret.add_argument("file", metavar="FILE")
    secret.set_defaults(handler=secret_command)

    token = one_line_errors(
        commands.add_parser(
            "token",
            help="make one pilot's logbook token, into a 0600 file",
            description="Make a pilot token for STAMP (a new random stamp when none is given), signed with the "
            "secret, and write it to --output (mode 0600; never overwrites).  The stamp is "
            "printed; the token is not.  Give the file to the pilot as --logbook-token-file (or "
            "$PILOT_LOGBOOK_TOKEN_FILE) and the stamp as --pilotUUID.",
        )
    )
    token.add_argument("--secret", required=True, metavar="FILE", help="the token secret (pilotctl token-secret)")
    token.add_argument(
        "--stamp", metavar="STAMP", help="the pilot stamp: 32 lowercase hex characters or a UUID (default: a new one)"
    )
    token.add_argument(
        "--ttl",
        type=int,
        default=None,
        metavar="SECONDS",
        help="validity from now (default 7 days: a pilot may wait in a queue for days)",
    )
    token.add_argument("--vo", help="the VO, recorded in the token")
    token.add_argument("-o", "--output", required=True, metavar="FILE", help="where the token goes")
    token.set_defaults(handler=token_command)


def secret_command(args):
    from pilot_server import tokens

    try:
        tokens.write_secret(args.file, tokens.generate_secret())
    except OSError as exc:
        reason = "exists: refusing to overwrite it" if os.path.lexists(args.file) else (exc.strerror or exc)
        return fail("pilotctl token-secret", "%s: %s" % (args.file, reason))
    say("token secret: %s (mode 0600)" % args.file)
    return OK


def token_command(args):
    from pilot_server import tokens

    prog = "pilotctl token"
    stamp = args.stamp or uuid.uuid4().hex
    ttl = tokens.DEFAULT_TTL if args.ttl is None else args.ttl
    if ttl <= 0:
        return fail(prog, "--ttl must be a positive number of seconds", USAGE)
    if os.path.lexists(args.output):
        return fail(prog, "%s exists: refusing to overwrite it" % args.output)
    try:
        token = tokens.make_token(tokens.read_secret(args.secret), stamp, ttl=ttl, vo=args.vo)
    except tokens.TokenError as exc:
        return fail(prog, exc)
    except OSError as exc:
        return fail(prog, "%s: %s" % (exc.filename or args.secret, exc.strerror or exc))
    try:
        fd = os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(token + "\n")
    except OSError as exc:
        return fail(prog, "%s: %s" % (args.output, exc.strerror or exc))
    say("stamp: %s" % stamp)
    say("token: %s (mode 0600, valid %d s)" % (args.output, ttl))
    return OK
