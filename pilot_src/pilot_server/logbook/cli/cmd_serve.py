"""``pilotctl logbook serve``: the HTTPS receiver (and, with --broker, a consumer in the same process)."""

import logging
import sys
import threading

from pilot_server.cliutil import OK, USAGE, fail, one_line_errors
from pilot_server.logbook.cli import config
from pilot_server.logbook.cli import options as cliopts

log = logging.getLogger("pilots2.logbook")
PROG = "pilotctl logbook serve"


def register(commands):
    parser = one_line_errors(
        commands.add_parser(
            "serve",
            help="receive pilot logs over HTTPS (POST /api/v1/logs) and store them",
            description="Serve the logbook: POST /api/v1/logs (pilot batches), POST /api/v1/pilots (registration), "
            "POST /api/v1/pilots/STAMP/state (batch states), GET /api/v1/pilots[/STAMP[/messages|/export]] "
            "and /api/v1/stats (administrators), GET /api/v1/health.  Running pilots gone silent become "
            "Lost and retention is applied periodically.  The database schema is created or upgraded at start.  TLS is "
            "required unless --insecure-http is given.  Every option may also come from --config FILE.",
        )
    )
    cliopts.add_db_option(parser)
    parser.add_argument(
        "--listen",
        default="127.0.0.1:8443",
        metavar="HOST:PORT",
        help="address to listen on (default 127.0.0.1:8443; 0.0.0.0:8443 for every interface)",
    )
    tls = parser.add_argument_group("TLS")
    tls.add_argument("--tls-cert", metavar="FILE", help="the service certificate (PEM, with its chain)")
    tls.add_argument("--tls-key", metavar="FILE", help="its private key (PEM)")
    tls.add_argument(
        "--ca-dir",
        metavar="DIR",
        help="CA directory that client certificates and proxies must chain to "
        "(e.g. /etc/grid-security/certificates); without it client certificates are not asked for",
    )
    tls.add_argument("--ca-file", metavar="FILE", help="a CA bundle, instead of or with --ca-dir")
    tls.add_argument(
        "--insecure-http", action="store_true", help="serve plain HTTP (a local demo only: tokens travel in the clear)"
    )
    cliopts.add_access_options(parser)
    read = parser.add_argument_group("who may read (GET /api/v1/pilots..., /api/v1/stats)")
    read.add_argument(
        "--admin-dn",
        action="append",
        default=[],
        metavar="DN",
        help="a certificate DN of an administrator, who may read every pilot's log and the "
        "statistics (as the --admin-token-file token may); repeatable",
    )
    read.add_argument(
        "--session-key-file",
        metavar="FILE",
        help="a hex secret (mode 0600, e.g. made by 'pilotctl token-secret FILE') that signs the web "
        "page's login cookies; give every receiver behind a load balancer the same file.  "
        "Without it the key is random per process: a restart or another receiver logs "
        "administrators out",
    )
    states_group = parser.add_argument_group("states and retention")
    cliopts.add_lost_after(states_group)
    states_group.add_argument(
        "--maintenance-interval",
        type=cliopts.seconds,
        default=60.0,
        metavar="SECONDS",
        help="how often Lost pilots are marked and retention applied (default 60; 0: never)",
    )
    cliopts.add_retention_options(states_group)
    broker = parser.add_argument_group("RabbitMQ (optional)")
    broker.add_argument(
        "--broker", metavar="URL", help="also consume the pilots' queue in this process (amqp://USER:PASS@HOST:5672/)"
    )
    broker.add_argument("--queue", default="pilots2.logs", help="queue name (default pilots2.logs)")
    add_limit_options(parser)
    cliopts.add_quota_options(parser)
    operate = parser.add_argument_group("operation")
    operate.add_argument(
        "--config",
        metavar="FILE",
        help="read these options from a TOML file (key = the long option without --, e.g. "
        'listen = "0.0.0.0:8443"); the command line wins',
    )
    operate.add_argument(
        "--metrics-token-file",
        metavar="FILE",
        help="a hex secret (mode 0600) whose value, sent as a bearer token, may read GET /metrics "
        "(Prometheus); administrators may too",
    )
    operate.add_argument(
        "--threads",
        type=cliopts.count(1, 256),
        default=16,
        metavar="N",
        help="worker threads for the requests (default 16), and one writer per 8 of them "
        "that stores the waiting batches in groups and answers them (a worker does not wait "
        "for the database to store a batch); the database pool gets up to 16 connections for "
        "the workers plus one per writer. More threads make a busy receiver slower: they "
        "take turns at the interpreter's lock with the event loop",
    )
    cliopts.add_log_level(parser)
    config.track_given(parser)
    parser.set_defaults(handler=serve_command, parser=parser)


def add_limit_options(parser):
    """The limits of the front (receive/limits.py), each with its default."""
    from pilot_server.logbook.receive.limits import DEFAULTS, RESERVED_FILES

    group = parser.add_argument_group("limits (what no client can exhaust)")
    timeout = cliopts.positive_seconds
    group.add_argument(
        "--handshake-timeout",
        type=timeout,
        default=DEFAULTS.handshake_timeout,
        metavar="SECONDS",
        help="a TLS handshake must end within this (default %g)" % DEFAULTS.handshake_timeout,
    )
    group.add_argument(
        "--head-timeout",
        type=timeout,
        default=DEFAULTS.head_timeout,
        metavar="SECONDS",
        help="a request head must arrive within this of its first byte (of the handshake for "
        "the first request); else 408 and close (default %g)" % DEFAULTS.head_timeout,
    )
    group.add_argument(
        "--body-timeout",
        type=timeout,
        default=DEFAULTS.body_timeout,
        metavar="SECONDS",
        help="a request body must arrive within this (default %g)" % DEFAULTS.body_timeout,
    )
    group.add_argument(
        "--idle-timeout",
        type=timeout,
        default=DEFAULTS.idle_timeout,
        metavar="SECONDS",
        help="a kept-alive connection may wait this long between requests; pilots send about "
        "every 30 s (default %g)" % DEFAULTS.idle_timeout,
    )
    group.add_argument(
        "--max-connections",
        type=cliopts.count(1, 10**7),
        metavar="N",
        help="connections open at once (default: the open-file limit less %d)" % RESERVED_FILES,
    )
    group.add_argument(
        "--max-connections-per-address",
        type=cliopts.count(0, 10**7),
        default=DEFAULTS.max_per_address,
        metavar="N",
        help="connections open at once from one client address (default %d; 0: no cap, e.g. "
        "behind a load balancer)" % DEFAULTS.max_per_address,
    )
    group.add_argument(
        "--backlog",
        type=cliopts.count(1, 65535),
        default=DEFAULTS.backlog,
        metavar="N",
        help="the listen queue, for reconnect storms (default %d; the kernel caps it at "
        "net.core.somaxconn)" % DEFAULTS.backlog,
    )
    group.add_argument(
        "--max-head-size",
        type=cliopts.count(1024, 1 << 20),
        default=DEFAULTS.max_head_bytes,
        metavar="BYTES",
        help="request line and headers (default %d); over it: 431" % DEFAULTS.max_head_bytes,
    )
    group.add_argument(
        "--max-body-size",
        type=cliopts.count(1024, DEFAULTS.max_body_bytes),
        default=DEFAULTS.max_body_bytes,
        metavar="BYTES",
        help="a batch body (default and most %d); over it: 413" % DEFAULTS.max_body_bytes,
    )
    group.add_argument(
        "--drain-timeout",
        type=timeout,
        default=DEFAULTS.drain_timeout,
        metavar="SECONDS",
        help="at SIGTERM, requests in progress may finish within this (default %g)" % DEFAULTS.drain_timeout,
    )


def build_limits(args):
    from pilot_server.logbook.receive.limits import limits

    return limits(
        handshake_timeout=args.handshake_timeout,
        head_timeout=args.head_timeout,
        body_timeout=args.body_timeout,
        idle_timeout=args.idle_timeout,
        max_connections=args.max_connections,
        max_per_address=args.max_connections_per_address,
        backlog=args.backlog,
        max_head_bytes=args.max_head_size,
        max_body_bytes=args.max_body_size,
        drain_timeout=args.drain_timeout,
    )


def check_options(args):
    """A one-line usage problem, or None."""
    if args.insecure_http:
        if args.tls_cert or args.tls_key or args.ca_dir or args.ca_file:
            return "--insecure-http serves plain HTTP: it takes no --tls-cert/--tls-key/--ca-dir/--ca-file"
    elif not (args.tls_cert and args.tls_key):
        return "give --tls-cert and --tls-key (or --insecure-http for a local demo)"
    if (args.trusted_dn or args.admin_dn) and not (args.ca_dir or args.ca_file):
        return "--%s needs --ca-dir or --ca-file to verify client certificates" % (
            "trusted-dn" if args.trusted_dn else "admin-dn"
        )
    if not args.token_secret and not args.trusted_dn:
        return "nobody could write: give --token-secret FILE and/or --trusted-dn DN (with --ca-dir)"
    return None


def serve_command(args):
    from pilot_server.logbook.receive import front as frontmodule
    from pilot_server.logbook.receive import groupcommit, tlsconfig
    from pilot_server.logbook.receive.routes import Service
    from pilot_server.logbook.store.database import DatabaseError, Unavailable
    from pilot_server.logbook.store.logstore import Store
    from pilot_server.logbook.web import pages
    from pilot_server.logbook.web import session as websession

    if args.config:
        try:
            config.apply(args.parser, args, args.config)
        except config.ConfigError as exc:
            return fail(PROG, exc, USAGE)
    problem = check_options(args)
    if problem:
        return fail(PROG, problem, USAGE)
    try:
        address = cliopts.listen_address(args.listen)
        access = cliopts.build_access(args)
        retention = cliopts.build_retention(args)
        metrics_tokens = [cliopts.read_token(args.metrics_token_file)] if args.metrics_token_file else []
        sessions = (
            websession.Sessions(key=websession.read_key(args.session_key_file)) if args.session_key_file else None
        )
    except ValueError as exc:
        return fail(PROG, exc, USAGE)
    cliopts.setup_logging(args.log_level)
    context = None
    if not args.insecure_http:
        try:
            context = tlsconfig.server_context(args.tls_cert, args.tls_key, args.ca_dir, args.ca_file)
        except tlsconfig.TLSConfigError as exc:
            return fail(PROG, exc)
    limits = build_limits(args)
    try:  # the port first: a second serve on a taken port must not touch the database
        sock = frontmodule.listen(address, limits.backlog)
    except OSError as exc:
        return fail(PROG, "cannot listen on %s: %s" % (args.listen, exc.strerror or exc))
    url = cliopts.db_url(args)
    try:
        store = Store.open(
            url,
            log=log.info,
            lost_after=args.lost_after,
            pool_size=groupcommit.pool_size(args.threads),
            **cliopts.quota_caps(args),
        )
    except (DatabaseError, Unavailable) as exc:
        sock.close()
        return fail(PROG, "database %s: %s" % (cliopts.safe(url), exc))
    app = Service(
        store,
        access,
        args.require_registration,
        metrics_tokens=metrics_tokens,
        max_body_bytes=limits.max_body_bytes,
        pages=pages,
        web_sessions=sessions,
        writers=groupcommit.writers_for(args.threads),
        max_rejected_per_hour=args.max_rejected_per_hour,
    )
    front = frontmodule.Front(app, sock, context, limits, threads=args.threads)
    if sessions is None and args.admin_token_file:
        log.warning(
            "web logins are signed with a random key of this process: a restart or another receiver "
            "logs administrators out (give --session-key-file)"
        )
    if args.insecure_http:
        log.warning("serving plain HTTP: pilot tokens travel in the clear; use it only for a local demo")
    consumer = thread = None
    if args.broker:
        from pilot_server.logbook.receive.access import Access
        from pilot_server.logbook.receive.consumer import Consumer

        queued = Access(access.secrets, expiry_grace=cliopts.TOKEN_GRACE)  # tokens only, as `consume`
        consumer = Consumer(
            store,
            queued,
            cliopts.broker_url(args),
            args.queue,
            args.require_registration,
            metrics=app.metrics,
            rejected_budget=app.rejected_budget,
        )
        thread = threading.Thread(target=consumer.run, name="logbook-consumer", daemon=True)
        thread.start()
    maintenance = None
    if args.maintenance_interval:
        from pilot_server.logbook.store.maintenance import Maintenance

        maintenance = Maintenance(store, retention, args.maintenance_interval)
        maintenance.start()
    log.info(
        "logbook serving %s (database %s%s%s; Lost after %g s; retention %s; up to %d connections, "
        "%d per address; idle %g s; per pilot at most %s messages, %s bytes)",
        front.url,
        cliopts.safe(url),
        ", client certificates from %s" % (args.ca_dir or args.ca_file)
        if context and (args.ca_dir or args.ca_file)
        else "",
        ", registration required" if args.require_registration else "",
        args.lost_after,
        retention.describe(),
        limits.max_connections,
        limits.max_per_address,
        limits.idle_timeout,
        args.max_messages_per_pilot or "any",
        args.max_bytes_per_pilot or "any",
    )
    sys.stderr.flush()
    frontmodule.tune_collector()
    loop = frontmodule.new_loop()
    try:
        loop.run_until_complete(front.run(signals=True))
    except KeyboardInterrupt:
        pass
    finally:
        loop.close()
        if consumer is not None:
            consumer.stop()
            thread.join(timeout=15)
        if maintenance is not None:
            maintenance.stop()
        store.close()
    log.info("logbook stopped")
    return OK
