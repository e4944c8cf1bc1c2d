"""The runner: executes the command plan, times it, records it, picks the exit code.

SIGTERM, SIGINT, SIGUSR1 and SIGXCPU stop the running command: its process
group is terminated (SIGTERM, then SIGKILL after a grace period), the
command is marked "killed", pilot_result.json is written and the pilot
exits 128+N.  A second signal while stopping is ignored.

Each command's start and end are also structured messages (kind
``command``: status started, then ok/failed/killed with its duration,
failure type and reason), and the end of each command flushes the remote
log, waiting at most COMMAND_FLUSH_SECONDS.
"""

import signal
import sys
import time
import traceback

from ..shims import compat
from .. import exitcodes
from ..errors import PilotError, PilotKilled

COMMAND_FLUSH_SECONDS = 2.0


class SignalGuard(object):
    """Turns the handled signals into PilotKilled in the main thread."""

    def __init__(self):
        self.received = None
        self.previous = {}

    def install(self):
        for name in exitcodes.HANDLED_SIGNALS:
            signum = getattr(signal, name, None)
            if signum is not None:
                self.previous[signum] = signal.signal(signum, self._handle)

    def _handle(self, signum, frame):
        if self.received is not None:
            return  # already stopping
        self.received = signum
        raise PilotKilled(signum)

    def restore(self):
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
        self.previous = {}


class Outcome(object):
    def __init__(self):
        self.exit_code = exitcodes.OK
        self.failed_command = None
        self.failure_type = None
        self.reason = None
        self.signum = None


def run_plan(plan, params, context, result, log):
    """Run each (name, class, origin) of ``plan``; return an Outcome.

    ``result`` (a PilotResult) is written after every command.
    """
    outcome = Outcome()
    result.plan([(name, origin) for name, _, origin in plan])
    for index, (name, command_class, origin) in enumerate(plan):
        started = time.time()
        result.started(index, started)
        _write(result, log)
        clog = context.logger.source(name, getattr(command_class, "phase", None))
        clog.event("INFO", "=== %s (%s) ===" % (name, origin), "command", "started")
        command = None
        status, failure_type, reason = "ok", None, None
        try:
            command = command_class.create(params, context)
            command.execute()
        except PilotKilled as killed:
            context.runner.stop_all()
            status, failure_type = "killed", "killed"
            reason = "stopped by %s" % exitcodes.signal_name(killed.signum)
            outcome.signum = killed.signum
            outcome.exit_code = exitcodes.for_signal(killed.signum)
        except PilotError as exc:
            status, failure_type, reason = "failed", exc.failure_type, exc.reason
            outcome.exit_code = exitcodes.for_failure_type(exc.failure_type)
        except SystemExit as exc:
            # A DIRAC-style extension called sys.exit(n): a failure without a type.
            status, failure_type = "failed", "command"
            reason = "%s called sys.exit(%s)" % (name, exc.code)
            outcome.exit_code = exitcodes.for_failure_type("command")
        except Exception as exc:
            status, failure_type = "failed", "internal"
            reason = "internal error in %s: %s: %s" % (name, exc.__class__.__name__,
                                                       " ".join(compat.to_text(exc).split())[:300])
            log.error("Traceback of the internal error (please report it):\n%s" % traceback.format_exc())
            outcome.exit_code = exitcodes.INTERNAL
        duration = time.time() - started
        details = dict(getattr(command, "details", None) or {})
        result.finished(index, status, duration, failure_type, reason, details)
        data = {"duration": round(duration, 3), "failure_type": failure_type, "reason": reason}
        if status == "ok":
            clog.event("INFO", "%s done in %.2f s" % (name, duration), "command", status, data)
            _write(result, log)
            context.logger.flush(COMMAND_FLUSH_SECONDS)
            continue
        outcome.failed_command, outcome.failure_type, outcome.reason = name, failure_type, reason
        clog.event("ERROR", "%s %s after %.2f s: %s" % (name, status, duration, reason), "command", status, data)
        context.logger.flush(COMMAND_FLUSH_SECONDS)
        break
    return outcome


def _write(result, log):
    problem = result.write()
    if problem:
        log.warning("cannot write %s: %s" % (result.path, problem))


def summary_lines(result):
    """The end-of-run table: command, status, duration."""
    rows = [("Command", "Status", "Duration")]
    for entry in result.commands:
        duration = "%.2f s" % entry["duration"] if entry["duration"] is not None else "-"
        rows.append((entry["name"], entry["status"], duration))
    width = max(len(row[0]) for row in rows)
    lines = ["%-*s  %-8s  %10s" % (width, a, b, c) for a, b, c in rows]
    pilot = result.pilot
    lines.append("Pilot exit code %s (%s) after %.2f s"
                 % (pilot["exit_code"], pilot["exit_name"], pilot["duration"] or 0.0))
    if pilot["reason"]:
        lines.append("Failed: %s: %s" % (pilot["failed_command"] or "setup", pilot["reason"]))
    return lines


def stderr_line(text):
    try:
        compat.write_text(sys.stderr, "pilot: %s\n" % text)
        sys.stderr.flush()
    except (IOError, OSError, ValueError):
        pass
