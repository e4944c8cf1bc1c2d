"""``pilotctl submit``: submit N pilots to a batch system, registered with the logbook.

For each pilot: a new stamp, a batch wrapper of the verified signed pyz with its own pilot
token (``wrapper.make_wrapper``), a job directory ``WORKDIR/<stamp>/``, registration with the
logbook (Submitted), then a batch job of one of two backends:

* ``local`` (default): a detached local batch job (``localce``) that reports Running and
  Done/Failed/Aborted as the batch system sees them;
* ``slurm``: ``sbatch`` of the wrapper (``slurmce``); the Slurm job id is kept in job.json and,
  with ``--wait``, the states that squeue/sacct show are reported to the logbook.

The pilots log to the logbook (``-g <logbook>/api/v1/logs`` is added unless the pilot options
name a logger URL).

Exit codes: 0 submitted (with --wait: every pilot Done), 1 a refusal (artifact, logbook,
registration, sbatch) or, with --wait, a pilot not Done, 2 usage.
"""

import os
import shutil
import subprocess
import time

from pilot_server.cliutil import FAILED, OK, USAGE, fail, one_line_errors, say

PROG = "pilotctl submit"
MAX_COUNT = 1000
BACKENDS = ("local", "slurm")
SLURM_GIVE_UP = 10  # consecutive squeue failures before --wait gives up


def register(commands):
    from pilot_server.logbook.cli import options as cliopts
    from pilot_server.logbook.cli.cmd_state import add_submitter_options
    from pilot_server.wrapper import ENCODINGS

    parser = one_line_errors(
        commands.add_parser(
            "submit",
            help="run N pilots as batch jobs (local or Slurm), registered with the logbook",
            description="Make N batch wrappers of the verified signed pyz (each with its own pilot token), "
            "register each pilot with the logbook (Submitted), and run them in WORKDIR/<stamp>/ as "
            "detached local batch jobs (--backend local, job id = PID), which report Running, then "
            "Done/Failed (exit code) or Aborted (killed), or as Slurm jobs (--backend slurm: sbatch, "
            "job id = Slurm's; with --wait the states squeue/sacct show are reported).  Pilot options "
            "come after '--'.  Exit 0 submitted (with --wait: all Done), 1 refused or (--wait) a pilot "
            "not Done, 2 usage.",
            usage="pilotctl submit --count N --logbook URL --admin-token-file FILE --token-secret FILE --trust PATH "
            "--workdir DIR [--ca FILE|DIR] [--backend local|slurm] [--sbatch-arg=ARG ...] [--cleanup] "
            "[--payload b94|pyz|raw] [--wait [--poll-interval S]] [-- PILOT OPTIONS...]",
        )
    )
    parser.add_argument("--count", type=int, default=1, metavar="N", help="how many pilots (default 1)")
    parser.add_argument("--workdir", required=True, metavar="DIR", help="where the job directories go")
    parser.add_argument("--artifact", metavar="PYZ", help="the signed pilot (default: dist/pilot.pyz)")
    parser.add_argument(
        "--trust",
        action="append",
        required=True,
        metavar="PATH",
        help="trusted public key (PEM) or directory of *.pem; repeatable",
    )
    parser.add_argument(
        "--token-secret", metavar="FILE", help="the logbook's pilot-token secret (0600): each pilot gets its own token"
    )
    cliopts.add_db_option(parser)
    add_submitter_options(parser)
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default="local",
        help="local: detached local jobs (default); slurm: sbatch (Slurm's client commands on PATH)",
    )
    parser.add_argument(
        "--sbatch-arg",
        action="append",
        default=[],
        dest="sbatch_args",
        metavar="ARG",
        help="an sbatch argument, repeatable, written with '=' (--sbatch-arg=--time=30 "
        "--sbatch-arg=--cpus-per-task=2); only with --backend slurm",
    )
    parser.add_argument(
        "--cleanup",
        action="store_true",
        help="the wrapper removes the pilot's work directory at the end (its log and result "
        "are copied to the job directory first)",
    )
    parser.add_argument(
        "--payload",
        choices=ENCODINGS,
        default="b94",
        help="how the pilot travels in the job script: b94 (default, text), pyz (base64 text) or raw "
        "(its bytes after the script, no NUL or CR byte: 17%% smaller; see pilotctl wrapper --help)",
    )
    parser.add_argument("--wait", action="store_true", help="wait until every pilot has ended; print how")
    parser.add_argument(
        "--poll-interval",
        type=float,
        default=10.0,
        metavar="S",
        help="with --backend slurm --wait: seconds between two squeue calls (default 10)",
    )
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
        subprocess.run(["openssl", "rehash", directory], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    except (OSError, subprocess.CalledProcessError) as exc:
        raise ValueError("cannot make a CA directory for the pilots (openssl rehash): %s" % exc)
    return directory


def _registration(argv):
    """ce, queue, site, vo from the pilot's own options (-N -Q -n --wnVO)."""
    from pilot_server.worker.config import options as pilot_options

    values = pilot_options.parse(argv).values
    return dict(
        (key, values.get(dest) or None)
        for key, dest in (("ce", "ceName"), ("queue", "queueName"), ("site", "site"), ("vo", "wnVO"))
    )


def submit_command(args):
    from pilot_server.worker.config import options as pilot_options
    from pilot_server import tokens, wrapper
    from pilot_server.logbook.cli.cmd_state import open_submitter
    from pilot_server.logbook.store.database import DatabaseError, Unavailable

    if not 1 <= args.count <= MAX_COUNT:
        return fail(PROG, "--count must be from 1 to %d" % MAX_COUNT, USAGE)
    if not (args.logbook or args.db):
        return fail(PROG, "give the logbook: --logbook URL (with --admin-token-file) or --db URL", USAGE)
    if args.sbatch_args and args.backend != "slurm":
        return fail(PROG, "--sbatch-arg is for --backend slurm", USAGE)
    if not 0.1 <= args.poll_interval <= 3600:
        return fail(PROG, "--poll-interval must be from 0.1 to 3600 seconds", USAGE)
    if args.backend == "slurm" and not shutil.which("sbatch"):
        return fail(
            PROG,
            "sbatch not found on PATH: --backend slurm needs Slurm's client commands "
            "(sbatch, squeue; sacct for ended jobs)",
        )
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
    try:
        code, jobs = _submit_all(args, argv, where, secret, pilot_env, workdir, submitter)
        if code != OK or not args.wait:
            return code
        if args.backend == "slurm":
            return _wait_slurm(jobs, submitter, args.poll_interval)
    finally:
        close()
    return _wait_local(jobs)


def _submit_all(args, argv, where, secret, pilot_env, workdir, submitter):
    """(exit code, [(stamp, job dir, job id, local process or None)]) of the submissions."""
    from pilot_server import localce, slurmce, wrapper
    from pilot_server.logbook.store.database import DatabaseError, Unavailable
    from pilot_server.logbook.clients.submitter import SubmitterError

    runner_args = _runner_args(args)
    jobs = []
    try:
        verified = wrapper.verify(args.artifact or _default_artifact(), args.trust)
        for _ in range(args.count):
            made = wrapper.make_wrapper(
                "batch",
                verified,
                argv,
                token_secret=secret,
                vo=where["vo"],
                cleanup=args.cleanup,
                encoding=args.payload,
            )
            job_dir = os.path.join(workdir, made.stamp)
            os.makedirs(job_dir)
            made.write(os.path.join(job_dir, "pilot-job.sh"))
            submitter.register(made.stamp, submitted=time.time(), **where)
            process = None
            if args.backend == "slurm":
                try:
                    job_id = slurmce.sbatch(job_dir, made.stamp, args.sbatch_args, pilot_env)
                except slurmce.SlurmError:
                    localce.report(submitter, made.stamp, "Aborted")  # registered, but it will never run
                    raise
            else:
                process = localce.start_job(job_dir, made.stamp, runner_args, pilot_env)
                job_id = process.pid
            localce.write_status(job_dir, stamp=made.stamp, backend=args.backend, job_id=job_id, state="Submitted")
            jobs.append((made.stamp, job_dir, job_id, process))
            say("submitted pilot %s: %s job %d in %s" % (made.stamp, args.backend, job_id, job_dir))
    except (wrapper.WrapperError, SubmitterError, slurmce.SlurmError) as exc:
        return fail(PROG, "%s (%d pilot(s) submitted before)" % (exc, len(jobs))), jobs
    except OSError as exc:
        return fail(PROG, "%s: %s" % (exc.filename or workdir, exc.strerror or exc)), jobs
    except (DatabaseError, Unavailable) as exc:
        return fail(PROG, exc), jobs
    say(
        "%d pilot(s) submitted to the %s CE %s (queue %s, site %s)"
        % (len(jobs), args.backend, where["ce"] or "-", where["queue"] or "-", where["site"] or "-")
    )
    return OK, jobs


def _wait_local(jobs):
    from pilot_server import localce

    code = OK
    for stamp, job_dir, _job_id, process in jobs:
        process.wait()
        status = localce.read_status(job_dir)
        say("pilot %s: %s (exit code %s)" % (stamp, status.get("state", "?"), status.get("exit_code", "?")))
        if status.get("state") != "Done":
            code = FAILED
    return code


def _wait_slurm(jobs, submitter, interval):
    """Poll squeue/sacct until every job has ended; report each new state to the logbook."""
    from pilot_server import localce, slurmce

    pending = dict((job_id, (stamp, job_dir)) for stamp, job_dir, job_id, _ in jobs)
    seen = dict((job_id, "Submitted") for job_id in pending)
    code, failures = OK, 0
    while pending:
        try:
            answers = slurmce.query(pending)
            failures = 0
        except slurmce.SlurmError as exc:
            failures += 1
            if failures >= SLURM_GIVE_UP:
                return fail(PROG, "gave up waiting after %d failed squeue calls: %s" % (failures, exc))
            say("squeue failed (%s); trying again in %g s" % (exc, interval))
            time.sleep(interval)
            continue
        for job_id, answer in sorted(answers.items()):
            stamp, job_dir = pending[job_id]
            state = answer["state"]
            if state != seen[job_id]:
                seen[job_id] = state
                localce.write_status(
                    job_dir,
                    state=state,
                    slurm_state=answer["slurm_state"],
                    exit_code=answer["exit_code"],
                    source=answer["source"],
                )
                if state != slurmce.UNKNOWN:
                    localce.report(submitter, stamp, state)
            if state in slurmce.FINAL:
                del pending[job_id]
                say(
                    "pilot %s: %s (exit code %s; Slurm job %d %s%s)"
                    % (
                        stamp,
                        state,
                        "?" if answer["exit_code"] is None else answer["exit_code"],
                        job_id,
                        answer["slurm_state"],
                        "" if state != slurmce.UNKNOWN else ": " + answer["source"],
                    )
                )
                if state != "Done":
                    code = FAILED
        if pending:
            time.sleep(interval)
    return code


def _runner_args(args):
    out = []
    for flag, value in (
        ("--logbook", args.logbook),
        ("--ca", args.ca),
        ("--admin-token-file", args.admin_token_file),
        ("--db", args.db),
    ):
        if value:
            out += [flag, os.path.abspath(value) if flag in ("--ca", "--admin-token-file") else value]
    return out


def _default_artifact():
    from pilot_server import pyzbuild

    return pyzbuild.default_output()
