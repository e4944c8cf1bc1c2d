"""Run a VO's command in a unit test, in this process::

    from pilot.testing import run_command

    run = run_command(CheckScratch, env={"MYVO_SCRATCH": "/tmp"})
    assert run.status == "ok", run

The command runs as the pilot runs it: the parameters are resolved from
``options`` (the pilot's command line) and ``env`` (the pilot's
environment), the pilot's runner times it, turns its failure into a failure
type and an exit code, writes pilot_result.json and pilot.out in the work
directory, and children really run.  Only the network is missing: every
download fails as it would without one (failure type "network").
"""

import os
import shutil
import tempfile

from . import exitcodes
from .config import options as options_module
from .config import params as params_module
from .cli import LOG_FILE
from .commands import core_commands
from .commands.base import Command, Context
from .errors import PilotError
from .config.fetch import Downloader
from .logs.logger import FileSink, PilotLogger
from .sequence.proc import ProcessRunner
from .sequence.result import FILE_NAME, PilotResult
from .sequence.runner import run_plan

__all__ = ["run_command", "CommandRun"]


def run_command(commands, options=(), env=None, workdir=None, debug=False):
    """Run ``commands`` (a command class, or a list of them, run in order until one fails).

    ``options``: the pilot's command line as a list (``["-Z", "key=value", "-o", "cvmfsOnly"]``);
    ``env``: variables of the pilot's environment, on top of this process's PATH (nothing else
    of os.environ is seen); ``workdir``: the work directory, kept afterwards (default: a temporary
    one, removed afterwards); ``debug``: keep DEBUG lines in the log.  Returns a CommandRun.
    """
    if isinstance(commands, type):
        commands = [commands]
    commands = list(commands)
    for command in commands:
        if not (isinstance(command, type) and issubclass(command, Command)):
            raise TypeError("run_command runs Command classes, not %r" % (command,))
    if not isinstance(options, (list, tuple)):
        raise TypeError("run_command options: a list of arguments, not %r" % (options,))
    environ = {"PATH": os.environ.get("PATH", os.defpath)}
    environ.update(env or {})
    temporary = workdir is None
    work_dir = os.path.abspath(tempfile.mkdtemp(prefix="pilot-testing-") if temporary else workdir)
    if not os.path.isdir(work_dir):
        os.makedirs(work_dir)
    try:
        return _run(commands, list(options), environ, work_dir, debug)
    finally:
        if temporary:
            shutil.rmtree(work_dir, True)


class CommandRun(object):
    """What happened.  ``status``, ``details``, ``failure_type`` and ``reason`` are those of the
    last command that ran (the failed one, if any); ``exit_code`` is the pilot's; ``log`` holds
    the log lines as ``LEVEL [source] text``; ``result`` is pilot_result.json; ``params`` the
    parameters as the commands left them."""

    def __init__(self, result, log, params, workdir):
        document = result.as_dict()
        pilot = document["pilot"]
        ran = [entry for entry in document["commands"] if entry["status"] != "not run"]
        last = ran[-1] if ran else {"status": "not run", "details": {}, "failure_type": pilot["failure_type"],
                                    "reason": pilot["reason"]}
        self.status = last["status"]
        self.details = last["details"]
        self.failure_type = last["failure_type"]
        self.reason = last["reason"]
        self.exit_code = pilot["exit_code"]
        self.exit_name = pilot["exit_name"]
        self.failed_command = pilot["failed_command"]
        self.commands = document["commands"]
        self.result = document
        self.log = log
        self.params = params
        self.workdir = workdir

    def __repr__(self):
        """The summary and the end of the log: what an assertion message needs."""
        lines = ["<CommandRun %s, exit code %s (%s)%s>" % (
            self.status, self.exit_code, self.exit_name,
            ": %s: %s" % (self.failure_type, self.reason) if self.reason else "")]
        lines.extend("  " + line for line in self.log[-30:])
        return "\n".join(lines)

    __str__ = __repr__


class _Lines(object):
    """A log sink keeping every line in memory."""

    def __init__(self):
        self.lines = []

    def emit(self, record, line):
        self.lines.append("%s [%s] %s" % (record.level, record.source, record.text))

    def close(self):
        pass


class _Offline(Downloader):
    """The pilot's downloader on a node without network: every location fails at once."""

    def get(self, urls, sha256=None, what="file"):
        urls = [url for url in urls if url]
        if not urls:
            raise PilotError("no location given for %s" % what, "config")
        raise PilotError("%s: no network in pilot.testing (%s)" % (what, ", ".join(urls)), "network")


def _run(commands, argv, environ, work_dir, debug):
    logger = PilotLogger(debug=debug)
    lines = _Lines()
    logger.add_sink(lines)
    logger.add_sink(FileSink(os.path.join(work_dir, LOG_FILE)))
    log = logger.source("Pilot", "setup")
    result = PilotResult(os.path.join(work_dir, FILE_NAME))
    runner = ProcessRunner()
    downloader = _Offline(log, attempts=1)
    params = None
    try:
        try:
            params = params_module.resolve(options_module.parse(argv), environ, work_dir, log, downloader)
        except PilotError as exc:  # a bad option or variable: the pilot stops before any command
            log.error(exc.reason)
            result.plan([(command.command_name(), _origin(command)) for command in commands])
            result.finish(exitcodes.for_failure_type(exc.failure_type), None, exc.failure_type, exc.reason)
        else:
            result.set_parameters(params)
            if params.debugFlag:
                logger.set_debug(True)
            for warning in params.warnings:
                log.warning(warning)
            context = Context(logger, runner, downloader, work_dir, environ)
            plan = [(command.command_name(), command, _origin(command)) for command in commands]
            outcome = run_plan(plan, params, context, result, log)
            result.finish(outcome.exit_code, outcome.failed_command, outcome.failure_type, outcome.reason,
                          outcome.signum, runner.total_seconds)
        problem = result.write()
        if problem:
            log.warning("cannot write %s: %s" % (result.path, problem))
    finally:
        runner.stop_all()
        logger.close()
    return CommandRun(result, lines.lines, params, work_dir)


def _origin(command):
    return "core" if command in core_commands() else command.__module__
