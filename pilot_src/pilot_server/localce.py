"""A local "batch system" for ``pilotctl submit``: one detached job per pilot.

Each job is a process of its own (its PID is the batch job id), in its own session, that
runs the pilot wrapper in the job's directory and, as a batch system would, reports what
it sees to the logbook: ``Running`` when the wrapper starts, ``Done`` (exit code 0) or
``Failed`` when it ends, ``Aborted`` when the job is killed (SIGTERM/SIGINT).  A report
the logbook refuses (the pilot's own messages already moved it on: 409) is noted in the
job's ``batch.log`` and is not an error.

Files of a job directory: ``pilot-job.sh`` (the wrapper), ``job.out``/``job.err``
(the wrapper's stdout/stderr), ``batch.log`` (this runner), ``job.json`` (stamp, job id,
state, exit code; rewritten at each change).  The pilot's own work directory is made by
the wrapper inside the job directory.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time

RUNNER_CODE = "import sys; from pilot_server.localce import main; sys.exit(main(sys.argv[1:]))"
KILL_GRACE = 30


def start_job(job_dir, stamp, submitter_args, pilot_env):
    """Start the detached job runner for one pilot; returns its Popen (pid = batch job id)."""
    import pilot_server

    package_root = os.path.dirname(os.path.dirname(os.path.abspath(pilot_server.__file__)))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([package_root] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env.update(pilot_env)
    argv = [sys.executable, "-c", RUNNER_CODE, "--dir", job_dir, "--stamp", stamp] + list(submitter_args)
    with open(os.path.join(job_dir, "batch.log"), "ab") as log, open(os.devnull, "rb") as nothing:
        return subprocess.Popen(
            argv, cwd=job_dir, stdin=nothing, stdout=log, stderr=log, env=env, start_new_session=True, close_fds=True
        )


def write_status(job_dir, **fields):
    path = os.path.join(job_dir, "job.json")
    try:
        with open(path) as handle:
            document = json.load(handle)
    except (OSError, ValueError):
        document = {}
    document.update(fields)
    tmp = path + ".tmp"
    with open(tmp, "w") as handle:
        json.dump(document, handle, sort_keys=True)
    os.replace(tmp, path)
    return document


def read_status(job_dir):
    try:
        with open(os.path.join(job_dir, "job.json")) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return {}


def _say(text):
    sys.stdout.write("%s %s\n" % (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), text))
    sys.stdout.flush()


def report(submitter, stamp, state):
    """Tell the logbook the batch state seen; a refusal or a failure is said, never raised."""
    from pilot_server.logbook.clients.submitter import SubmitterError

    if submitter is None:
        return
    try:
        answer = submitter.report_state(stamp, state, time.time())
        _say("pilot %s: reported %s (%s)" % (stamp, state, "recorded" if answer.get("changed") else "already so"))
    except SubmitterError as exc:
        _say("pilot %s: report %s not recorded: %s" % (stamp, state, exc))
    except Exception as exc:  # the batch system goes on whatever the logbook does
        _say("pilot %s: report %s failed: %s" % (stamp, state, " ".join(str(exc).split())[:200]))


def main(argv):
    """The job runner (started by ``start_job``); returns the wrapper's exit code."""
    from pilot_server.logbook.cli.cmd_state import add_submitter_options, open_submitter
    from pilot_server.logbook.cli import options as cliopts

    parser = argparse.ArgumentParser(prog="pilots2-local-job")
    parser.add_argument("--dir", required=True)
    parser.add_argument("--stamp", required=True)
    cliopts.add_db_option(parser)
    add_submitter_options(parser)
    args = parser.parse_args(argv)
    submitter, close = None, lambda: None
    if args.logbook or args.db:
        try:
            submitter, close = open_submitter(args)
        except Exception as exc:
            _say("no state reports: %s" % " ".join(str(exc).split())[:200])
    killed = []

    def stop(signum, _frame):
        killed.append(signum)
        if child is not None and child.poll() is None:
            child.terminate()

    child = None
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    with (
        open(os.path.join(args.dir, "job.out"), "ab") as out,
        open(os.path.join(args.dir, "job.err"), "ab") as err,
        open(os.devnull, "rb") as nothing,
    ):
        env = dict(os.environ, PILOT_WORK_BASE=args.dir)
        child = subprocess.Popen(
            ["/bin/sh", os.path.join(args.dir, "pilot-job.sh")],
            cwd=args.dir,
            stdin=nothing,
            stdout=out,
            stderr=err,
            env=env,
        )
        write_status(args.dir, state="Running", started=time.time(), wrapper_pid=child.pid)
        _say("job %d: wrapper started (pid %d)" % (os.getpid(), child.pid))
        report(submitter, args.stamp, "Running")
        deadline = None
        while True:
            try:
                code = child.wait(timeout=1)
                break
            except subprocess.TimeoutExpired:
                if killed and deadline is None:
                    deadline = time.time() + KILL_GRACE
                if deadline is not None and time.time() > deadline:
                    child.kill()
    state = "Aborted" if killed else ("Done" if code == 0 else "Failed")
    write_status(args.dir, state=state, exit_code=code, ended=time.time())
    _say("job %d: wrapper exit code %d: %s" % (os.getpid(), code, state))
    report(submitter, args.stamp, state)
    close()
    return code if code >= 0 else 128 - code
