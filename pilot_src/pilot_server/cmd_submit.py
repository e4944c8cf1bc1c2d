"""``pilotctl submit``: submit N pilots to a local CE, registered with the logbook.

For each pilot: a new stamp, a batch wrapper of the verified signed pyz with its own pilot
token (``wrapper.make_wrapper``), a job directory ``WORKDIR/<stamp>/``, registration with the
logbook (Submitted), then a detached local batch job (``localce``) that reports Running and
Done/Failed/Aborted as the batch system sees them.  The pilots log to the logbook (``-g
<logbook>/api/v1/logs`` is added unless the pilot options name a logger URL).

Exit codes: 0 submitted (with --wait: every pilot Done), 1 a refusal (artifact, logbook,
registration) or, with --wait, a pilot not Done, 2 usage.
"""

import os
import shutil
import subprocess
import time

from pilot_server.cliutil import FAILED, OK, USAGE, fail, one_line_errors, say

PROG = "pilotctl submit"
MAX_COUNT = 1000


def register(commands):
    from pilot_server.logbook.cli import options as cliopts
    from pilot_server.logbook.cli.cmd_state import add_submitter_options

    parser = one_line_errors(commands.add_parser(
        "submit", help="run N pilots as local batch jobs, registered with the logbook",
        description="Make N batch wrappers of the verified signed pyz (each with its own pilot token), "
                    "register each pilot with the logbook (Submitted), and run them as detached local batch "
                    "jobs in WORKDIR/<stamp>/ (job id = PID), which report Running, then Done/Failed (exit "
                    "code) or Aborted (killed).  Pilot options come after '--'.  Exit 0 submitted (with "
                    "--wait: all Done), 1 refused or (--wait) a pilot not Done, 2 usage.",
        usage="pilotctl submit --count N --logbook URL --admin-token-file FILE --token-secret FILE --trust PATH "
              "--workdir DIR [--ca FILE|DIR] [--wait] [-- PILOT OPTIONS...]"))
    parser.add_argument("--count", type=int, default=1, metavar="N", help="how many pilots (default 1)")
    parser.add_argument("--workdir", required=True, metavar="DIR", help="where the job directories go")
    parser.add_argument("--artifact", metavar="PYZ", help="the signed pilot (default: dist/pilot.pyz)")
    parser.add_argument("--trust", action="append", required=True, metavar="PATH",
                        help="trusted public key (PEM) or directory of *.pem; repeatable")
    parser.add_argument("--token-secret", metavar="FILE",
                        help="the logbook's pilot-token secret (0600): each pilot gets its own token")
    cliopts.add_db_option(parser)
    add_submitter_options(parser)
    parser.add_argument("--wait", action="store_true", help="wait until every pilot has ended; print how")
    parser.add_argument("pilot_options", nargs="*", metavar="PILOT_OPTION")
    parser.set_defaults(handler=submit_command)


def _ca_for_pilots(ca, workdir):
    """The X509_CERT_DIR the pilots verify the logbook with: --ca itself, or a hashed copy of a CA file."""
    if os.path.isdir(ca):
        return os.path.abspath(ca)
    directory = os.path.join(workdir, "certificates")
    os.makedirs(directory, exist_ok=True)
    shutil.copy(ca, os.path.join(directory, "logbook-ca.pem"))
    try:
        subprocess.run(["openssl", "rehash", directory], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)
    except (OSError, subprocess.CalledProcessError) as exc:
        raise ValueError("cannot make a CA directory for the pilots (openssl rehash): %s" % exc)
    return directory


def _registration(argv):
    """ce, queue, site, vo from the pilot's own options (-N -Q -n --wnVO)."""
    from pilot import options as pilot_options

    values = pilot_options.parse(argv).values
    return dict((key, values.get(dest) or None) for key, dest in (("ce", "ceName"), ("queue", "queueName"),
                                                                   ("site", "site"), ("vo", "wnVO")))


def submit_command(args):
    from pilot import options as pilot_options
    from pilot_server import localce, tokens, wrapper
    from pilot_server.logbook.cli.cmd_state import open_submitter
    from pilot_server.logbook.store.database import DatabaseError, Unavailable
    from pilot_server.logbook.clients.submitter import SubmitterError

    if not 1 <= args.count <= MAX_COUNT:
        return fail(PROG, "--count must be from 1 to %d" % MAX_COUNT, USAGE)
    if not (args.logbook or args.db):
        return fail(PROG, "give the logbook: --logbook URL (with --admin-token-file) or --db URL", USAGE)
    workdir = os.path.abspath(args.workdir)
    try:
        argv = wrapper.check_pilot_options(args.pilot_options)
        parsed = pilot_options.parse(argv).values
        if args.logbook and not parsed.get("loggerURL"):
            argv = argv + ["-g", args.logbook.rstrip("/") + "/api/v1/logs"]
        where = _registration(argv)
        secret = tokens.read_secret(args.token_secret) if args.token_secret else None
        os.makedirs(workdir, exist_ok=True)
        pilot_env = {"X509_CERT_DIR": _ca_for_pilots(args.ca, workdir)} if args.ca else {}
        submitter, close = open_submitter(args)
    except (ValueError, wrapper.WrapperError) as exc:
        return fail(PROG, exc, USAGE)
    except tokens.TokenError as exc:
        return fail(PROG, exc, USAGE)
    except OSError as exc:
        return fail(PROG, "%s: %s" % (exc.filename or workdir, exc.strerror or exc), USAGE)
    except (DatabaseError, Unavailable) as exc:
        return fail(PROG, exc)
    runner_args = _runner_args(args)
    jobs = []
    try:
        verified = wrapper.verify(args.artifact or _default_artifact(), args.trust)
        for _ in range(args.count):
            made = wrapper.make_wrapper("batch", verified, argv, token_secret=secret, vo=where["vo"])
            job_dir = os.path.join(workdir, made.stamp)
            os.makedirs(job_dir)
            made.write(os.path.join(job_dir, "pilot-job.sh"))
            submitter.register(made.stamp, submitted=time.time(), **where)
            process = localce.start_job(job_dir, made.stamp, runner_args, pilot_env)
            localce.write_status(job_dir, stamp=made.stamp, job_id=process.pid, state="Submitted")
            jobs.append((made.stamp, job_dir, process))
            say("submitted pilot %s: job %d in %s" % (made.stamp, process.pid, job_dir))
    except (wrapper.WrapperError, SubmitterError) as exc:
        return fail(PROG, "%s (%d pilot(s) submitted before)" % (exc, len(jobs)))
    except OSError as exc:
        return fail(PROG, "%s: %s" % (exc.filename or workdir, exc.strerror or exc))
    except (DatabaseError, Unavailable) as exc:
        return fail(PROG, exc)
    finally:
        close()
    say("%d pilot(s) submitted to the local CE %s (queue %s, site %s)" % (
        len(jobs), where["ce"] or "-", where["queue"] or "-", where["site"] or "-"))
    if not args.wait:
        return OK
    code = OK
    for stamp, job_dir, process in jobs:
        process.wait()
        status = localce.read_status(job_dir)
        say("pilot %s: %s (exit code %s)" % (stamp, status.get("state", "?"), status.get("exit_code", "?")))
        if status.get("state") != "Done":
            code = FAILED
    return code


def _runner_args(args):
    out = []
    for flag, value in (("--logbook", args.logbook), ("--ca", args.ca), ("--admin-token-file", args.admin_token_file),
                        ("--db", args.db)):
        if value:
            out += [flag, os.path.abspath(value) if flag in ("--ca", "--admin-token-file") else value]
    return out


def _default_artifact():
    from pilot_server import pyzbuild

    return pyzbuild.default_output()
