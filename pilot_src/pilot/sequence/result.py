"""pilot_result.json: what the pilot did, written after every command.

Written atomically (temporary file and rename) after each command, so that a
pilot killed even with SIGKILL leaves the state of its last finished step.

Layout (schema ``pilots2/result/1``)::

    {"schema": ..., "pilot": {version, stamp, status, exit_code, exit_name,
      failed_command, failure_type, reason, signal, start, end, duration,
      subprocess_seconds, python, hostname, work_dir},
     "parameters": {dest: {"value": ..., "source": ..., "origin": ...}},
     "commands": [{name, origin, status, start, duration, failure_type,
                   reason, details}],
     "usage": {wall_seconds, cpu_seconds, ..., max_rss_mb, jobs} (at the end),
     "remote_logging": {enabled, transport, url, messages, sent, spooled,
                        unsent, rejected, ...} (when remote logging is on)}

Command status: "ok", "failed", "killed", "not run".  Pilot status:
"running", "done", "failed", "killed".
"""

import os
import sys
import time

from ..shims import compat
from .. import __version__, exitcodes

# json, socket, pilot.config.fetch and pilot.logs.logger are imported when a result is made or written:
# --help reads FILE_NAME only.

SCHEMA = "pilots2/result/1"
FILE_NAME = "pilot_result.json"


class PilotResult(object):
    def __init__(self, path, started=None):
        import socket

        self.path = path
        self.start_time = started or time.time()
        self.pilot = {
            "version": __version__, "stamp": None, "status": "running", "exit_code": None,
            "exit_name": None, "failed_command": None, "failure_type": None, "reason": None,
            "signal": None, "start": _utc_timestamp(self.start_time), "end": None, "duration": None,
            "python": sys.version.split()[0], "hostname": socket.gethostname(),
            "work_dir": os.path.dirname(os.path.abspath(path)),
        }
        self.parameters = {}
        self.commands = []
        self.usage = None
        self.remote_logging = None

    def set_parameters(self, params):
        self.pilot["stamp"] = params.pilotUUID
        self.parameters = {}
        for dest, value in sorted(params.reported().items()):
            source, origin = params.sources.get(dest, ("derived", ""))
            self.parameters[dest] = {"value": value, "source": source, "origin": origin}

    def plan(self, entries):
        """entries: (name, origin) of each command, in order."""
        self.commands = [{"name": name, "origin": origin, "status": "not run", "start": None,
                          "duration": None, "failure_type": None, "reason": None, "details": {}}
                         for name, origin in entries]

    def command(self, index):
        return self.commands[index]

    def started(self, index, when):
        entry = self.commands[index]
        entry["status"] = "running"
        entry["start"] = _utc_timestamp(when)

    def finished(self, index, status, duration, failure_type=None, reason=None, details=None):
        entry = self.commands[index]
        entry.update({"status": status, "duration": round(duration, 3), "failure_type": failure_type,
                      "reason": reason, "details": details or {}})

    def finish(self, exit_code, failed_command=None, failure_type=None, reason=None, signum=None,
               subprocess_seconds=None):
        ended = time.time()
        if signum:
            status = "killed"
        elif exit_code == exitcodes.OK:
            status = "done"
        else:
            status = "failed"
        self.pilot.update({
            "status": status, "exit_code": exit_code, "exit_name": exitcodes.describe(exit_code),
            "failed_command": failed_command, "failure_type": failure_type, "reason": reason,
            "signal": exitcodes.signal_name(signum) if signum else None,
            "end": _utc_timestamp(ended), "duration": round(ended - self.start_time, 3),
            "subprocess_seconds": round(subprocess_seconds or 0.0, 3),
        })

    def as_dict(self):
        document = {"schema": SCHEMA, "pilot": self.pilot, "parameters": self.parameters,
                    "commands": self.commands}
        if self.usage is not None:
            document["usage"] = self.usage
        if self.remote_logging is not None:
            document["remote_logging"] = self.remote_logging
        return document

    def jobs(self):
        """Jobs the JobAgent ran (LaunchAgent's details), or None when it did not run."""
        counts = [entry["details"].get("jobs") for entry in self.commands
                  if isinstance(entry.get("details"), dict) and isinstance(entry["details"].get("jobs"), int)]
        return sum(counts) if counts else None

    def message_data(self):
        """The data of the final ``result`` message: the pilot section, each command's
        status, start, duration, failure type and reason, the usage and the DB12 score."""
        commands = [{"name": entry["name"], "status": entry["status"], "start": entry["start"],
                     "duration": entry["duration"], "failure_type": entry["failure_type"],
                     "reason": entry["reason"]} for entry in self.commands]
        return {"pilot": dict(self.pilot), "commands": commands, "usage": self.usage, "db12": self.db12()}

    def db12(self):
        """The CPU power measured by a command (its details' db12 score), or None."""
        for entry in self.commands:
            details = entry.get("details")
            if isinstance(details, dict) and isinstance(details.get("db12"), dict):
                score = details["db12"].get("score")
                if isinstance(score, (int, float)) and not isinstance(score, bool):
                    return score
        return None

    def write(self):
        """Write the file; a failure is returned (not raised): the pilot goes on.

        Compact while the pilot runs (it is rewritten after every command), indented
        once it has finished, for the people who read it."""
        import json

        from ..config.fetch import write_atomic

        try:
            if self.pilot["status"] == "running":
                text = json.dumps(self.as_dict(), sort_keys=True, separators=(",", ":"), default=compat.to_text)
            else:
                text = json.dumps(self.as_dict(), indent=2, sort_keys=True, default=compat.to_text)
            write_atomic(self.path, compat.to_bytes(text + "\n"))
            return None
        except (IOError, OSError, TypeError, ValueError) as exc:
            return str(exc)


def _utc_timestamp(when):
    from ..logs.logger import utc_timestamp

    return utc_timestamp(when)
