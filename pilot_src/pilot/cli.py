"""``python pilot.pyz [options]``: the pilot's entry point.

1. parse the command line (a bad option: one line on stderr, exit 2);
2. information actions (--help, --version, --list-commands, --explain) print
   and exit 0 without touching the work directory;
3. otherwise: log to stdout and pilot.out, resolve the parameters, load the
   extensions, check the plan (unknown commands are reported before anything
   runs), run it, write pilot_result.json, print the summary, exit with the
   code of the taxonomy in pilot.exitcodes.
"""

import os
import sys

from .shims import compat
from . import __version__, exitcodes, version_line
from .config import options
from .errors import UsageError

# Everything else is imported where it is needed: --version and --help load only the modules
# above (tests/node/test_startup.py pins the set), --explain no command module it does not plan.

LOG_FILE = "pilot.out"
INFO_ACTIONS = ("listCommands", "explain", "dryRun")


def main(argv=None, archive=None, environ=None, work_dir=None, stdout=None, stderr=None):
    try:
        return _main(argv, archive, environ, work_dir, stdout, stderr)
    finally:
        _settle(stdout or sys.stdout)


def _settle(stream):
    """A reader that went away (closed pipe) must not turn the exit code into 120.

    Python flushes stdout again at exit; pointing the descriptor at /dev/null
    lets that last flush succeed.
    """
    try:
        stream.flush()
    except (IOError, OSError, ValueError):
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, stream.fileno())
        except (IOError, OSError, ValueError, AttributeError):
            pass


def _main(argv, archive, environ, work_dir, stdout, stderr):
    argv = sys.argv[1:] if argv is None else argv
    environ = os.environ if environ is None else environ
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    try:
        parsed = options.parse(argv)
    except UsageError as exc:
        _line(stderr, "pilot: error: %s (see --help)" % exc.reason)
        return exitcodes.USAGE
    if "help" in parsed.actions:
        _line(stdout, help_text())
        return exitcodes.OK
    if "version" in parsed.actions:
        _line(stdout, version_line())
        return exitcodes.OK
    if "benchmark" in parsed.actions:
        from .cpu.benchmark_action import run_benchmark

        return run_benchmark(parsed, environ, stdout, stderr)
    work_dir = os.path.abspath(work_dir or os.getcwd())
    if "handOffLog" in parsed.actions:
        from .logs import loghandoff

        return loghandoff.main(work_dir, environ, stdout)
    if any(action in parsed.actions for action in INFO_ACTIONS):
        return _inform(parsed, environ, work_dir, archive, stdout, stderr)
    return _run(parsed, environ, work_dir, archive, stdout, stderr)


def _line(stream, text):
    compat.write_text(stream, text + "\n")
    stream.flush()


def _downloader(log, environ):
    from .config.fetch import Downloader, default_ca_dir

    return Downloader(log, capath=default_ca_dir(environ))


def _prepare(parsed, environ, work_dir, archive, logger, with_plan=True, result=None, on_params=None):
    """Parameters, toolbox and plan; raises PilotError (type config) on bad input.

    ``result`` gets the parameters as soon as they are known, so a later
    set-up failure (a missing extension) still records them; ``on_params``
    (remote logging) is called with them then too, so such failures reach
    the logbook.
    """
    from .config.params import resolve
    from .sequence.toolbox import Toolbox

    log = logger.source("Pilot", "setup")
    downloader = _downloader(log, environ)
    params = resolve(parsed, environ, work_dir, log, downloader, proxy_vo=_proxy_vo)
    params.archive = archive
    if result is not None:
        result.set_parameters(params)
    if on_params is not None:
        on_params(params)
    if params.debugFlag:
        logger.set_debug(True)
    for warning in params.warnings:
        log.warning(warning)
    toolbox = Toolbox.core()
    toolbox.load_extensions(params.commandExtensions, params.extensionsDirs, archive, log, downloader)
    if not with_plan:
        return params, toolbox, []
    classes = toolbox.plan(params.commands)
    plan = [(cls.command_name(), cls, toolbox.entries[cls.command_name()].origin) for cls in classes]
    return params, toolbox, plan


def _proxy_vo(environ):
    from .config import credentials  # and its RSA code: only when the VO must come from the proxy

    return credentials.proxy_vo(environ)


# -- information actions -------------------------------------------------------------

def _inform(parsed, environ, work_dir, archive, stdout, stderr):
    from .errors import PilotError
    from .logs.logger import PilotLogger, StreamSink

    logger = PilotLogger(debug=bool(parsed.values.get("debugLevel")))
    logger.add_sink(StreamSink(stderr))  # progress and warnings; the answer goes to stdout
    try:
        params, toolbox, plan = _prepare(parsed, environ, work_dir, archive, logger,
                                         with_plan="listCommands" not in parsed.actions)
    except PilotError as exc:
        _line(stderr, "pilot: error: %s" % exc.reason)
        return exitcodes.for_failure_type(exc.failure_type)
    if "listCommands" in parsed.actions:
        _line(stdout, list_commands_text(toolbox))
    else:
        _line(stdout, explain_text(params, plan, toolbox))
    return exitcodes.OK


def list_commands_text(toolbox):
    lines = ["Commands of the toolbox (* = in DIRAC's default list):"]
    width = max(len(name) for name in toolbox.names())
    for name in toolbox.names():
        entry = toolbox.entries[name]
        origin = entry.origin
        if entry.overrides:
            origin += ", overrides %s" % entry.overrides
        mark = "*" if name in options.DEFAULT_COMMANDS else " "
        lines.append("%s %-*s  %s  [%s]" % (mark, width, name, entry.cls.summary(), origin))
    missing = [name for name in options.DEFAULT_COMMANDS if name not in toolbox.entries]
    if missing:
        lines.append("Not available in this toolbox: %s" % ", ".join(missing))
    for extension in toolbox.extensions:
        lines.append("Extension %s: %s (sha256 %s)" % (extension.prefix, extension.location, extension.sha256))
    return "\n".join(lines)


def _show(value):
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, (list, tuple)):
        return ",".join(compat.to_text(item) for item in value) if value else "(none)"
    if isinstance(value, dict):
        return ",".join("%s=%s" % (k, v) for k, v in sorted(value.items())) if value else "(none)"
    text = compat.to_text(value)
    return text if text else "(empty)"


def explain_text(params, plan, toolbox):
    lines = ["Pilots 2.0 pilot %s: resolved parameters [source]" % __version__]
    width = max(len(p.dest) for p in options.TABLE)
    for param in options.TABLE:
        if param.kind in ("action", "ignored"):
            continue
        source, origin = params.sources[param.dest]
        where = source + (" " + origin if origin else "")
        lines.append("  %-*s = %-34s [%s]" % (width, param.dest, _show(getattr(params, param.dest)), where))
    if params.pilotJSONName:
        from .config.pilotjson import schema_of

        lines.append("pilot.json: %s, %s schema; VO used for its sections: %s [%s]"
                     % (params.pilotJSONName, schema_of(params.pilotJSON), params.jsonVO, params.jsonVOSource))
    else:
        lines.append("pilot.json: none read")
    lines.append("Work directory: %s" % params.workingDir)
    lines.append("Command plan:")
    for number, (name, command_class, origin) in enumerate(plan):
        lines.append("  %2d. %-26s %s  [%s]" % (number + 1, name, command_class.summary(), origin))
    lines.append("Nothing was run (--explain).")
    return "\n".join(lines)


def help_text():
    import textwrap

    wrap = textwrap.TextWrapper(width=79, initial_indent=" " * 6, subsequent_indent=" " * 6)
    lines = [
        "usage: python pilot.pyz [options]",
        "",
        "Pilots 2.0 pilot %s: checks this node, installs and configures (VO)DIRAC," % __version__,
        "measures the CPU and runs the JobAgent.  Options are those of DIRAC's",
        "dirac-pilot.py; values come from defaults < pilot.json < environment <",
        "command line (see --explain).",
    ]
    for group, title in options.GROUPS:
        lines.append("")
        lines.append(title + ":")
        for param in options.TABLE:
            if param.group != group or not (param.short or param.long):
                continue
            forms = []
            if param.short:
                forms.append("-" + param.short + (" " + param.metavar if param.takes_value else ""))
            if param.long:
                forms.append("--" + param.long + ("=" + param.metavar if param.takes_value else ""))
            lines.append("  " + ", ".join(forms))
            text = param.help
            if param.takes_value and param.kind != "ignored" and param.default not in ("", [], {}, None, 0):
                text += " [default: %s]" % _show(param.default)
            if param.env:
                text += " [env: $%s]" % param.env
            if param.note:
                text += " (%s)" % param.note
            lines.extend(wrap.wrap(text))
    lines.append("")
    lines.append("Exit codes:")
    for entry in exitcodes.TABLE:
        lines.append("  %3d  %-12s %s" % (entry.code, entry.name, entry.meaning))
    lines.append("  128+N %-11s stopped by signal N (%s)" % ("KILLED", ", ".join(exitcodes.HANDLED_SIGNALS)))
    lines.append("")
    from .sequence.result import FILE_NAME

    lines.append("Files in the work directory: %s (the log), %s (what happened)." % (LOG_FILE, FILE_NAME))
    return "\n".join(lines)


# -- a real run ------------------------------------------------------------------------

def _run(parsed, environ, work_dir, archive, stdout, stderr):
    import time
    import traceback

    from .commands.base import Context
    from .errors import PilotError, PilotKilled
    from .sequence.heartbeat import Heartbeat, usage
    from .logs.logger import FileSink, MemorySink, PilotLogger, StreamSink
    from .sequence.proc import ProcessRunner
    from .sequence.result import FILE_NAME, PilotResult
    from .sequence.runner import SignalGuard, run_plan, stderr_line, summary_lines

    started = time.time()
    guard = SignalGuard()
    guard.install()
    logger = PilotLogger(debug=bool(parsed.values.get("debugLevel")))
    logger.add_sink(StreamSink(stdout))
    try:
        logger.add_sink(FileSink(os.path.join(work_dir, LOG_FILE)))
    except (IOError, OSError) as exc:
        stderr_line("cannot write %s in %s: %s (logging to stdout only)"
                    % (LOG_FILE, work_dir, exc.strerror or exc))
    # Holds the first records until the parameters say whether remote logging is on
    # (pilot.logs.logsession is imported only then: a pilot without it does not compile it).
    early = MemorySink()
    logger.add_sink(early)
    log = logger.source("Pilot")
    result = PilotResult(os.path.join(work_dir, FILE_NAME), started)
    runner = ProcessRunner()
    heartbeat = None
    outcome_code = exitcodes.OK
    remote = []

    def on_params(params):
        if params.pilotLogging:
            from .logs import logsession

            remote.append(logsession.start(early, logger, params, environ, work_dir))
        logger.remove_sink(early)
        early.close()

    try:
        try:
            log.info("Pilots 2.0 pilot %s starting on %s with Python %s"
                     % (__version__, _hostname(), sys.version.split()[0]))
            log.info("Command line: %s" % " ".join(compat.shell_quote(compat.to_text(a)) for a in parsed.raw))
            cache = _bytecode_cache()
            if cache is not None:
                log.debug("bytecode cache: %s" % cache)
            params, toolbox, plan = _prepare(parsed, environ, work_dir, archive, logger, result=result,
                                             on_params=on_params)
            log.event("INFO", "Pilot stamp %s; commands: %s" % (params.pilotUUID, ", ".join(name for name, _, _ in plan)),
                      "log", None, _identity(params))
            context = Context(logger, runner, _downloader(log, environ), work_dir, environ, archive)
            heartbeat = Heartbeat(logger, result, runner, work_dir, params.heartbeat, started).start()
            outcome = run_plan(plan, params, context, result, log)
            outcome_code = outcome.exit_code
            result.finish(outcome.exit_code, outcome.failed_command, outcome.failure_type, outcome.reason,
                          outcome.signum, runner.total_seconds)
        except PilotError as exc:
            # Set-up failed (bad pilot.json, unknown command, missing extension ...).
            outcome_code = exitcodes.for_failure_type(exc.failure_type)
            log.error(exc.reason)
            stderr_line("error: %s" % exc.reason)
            result.finish(outcome_code, None, exc.failure_type, exc.reason)
        except PilotKilled as killed:
            runner.stop_all()
            outcome_code = exitcodes.for_signal(killed.signum)
            log.error("stopped by %s" % exitcodes.signal_name(killed.signum))
            result.finish(outcome_code, None, "killed", "stopped by %s" % exitcodes.signal_name(killed.signum),
                          killed.signum)
        except Exception as exc:
            outcome_code = exitcodes.INTERNAL
            reason = "internal error: %s: %s" % (exc.__class__.__name__, exc)
            log.error("Traceback of the internal error (please report it):\n%s" % traceback.format_exc())
            stderr_line(reason)
            result.finish(outcome_code, None, "internal", reason)
        if heartbeat is not None:
            heartbeat.stop()
        result.usage = usage(started, result.jobs())
        problem = result.write()
        if problem:
            log.warning("cannot write %s: %s" % (result.path, problem))
        for line in summary_lines(result):
            log.info(line)
    except PilotKilled as killed:
        # A signal while finishing: record it, once, and leave.
        outcome_code = exitcodes.for_signal(killed.signum)
        result.finish(outcome_code, None, "killed", "stopped by %s" % exitcodes.signal_name(killed.signum),
                      killed.signum)
        result.write()
    finally:
        if heartbeat is not None:
            heartbeat.stop()
        logger.remove_sink(early)
        if remote and remote[0] is not None:
            from .logs import logsession

            logsession.finish(remote[0], logger, result, started)
        guard.restore()
        logger.close()
    return outcome_code


def _identity(params):
    """Where the pilot runs, for the logbook (a message's data)."""
    return {"version": __version__, "site": params.site or None, "ce": params.ceName or None,
            "queue": params.queueName or None, "vo": params.wnVO or params.jsonVO or None,
            "setup": params.setup or None, "release": params.releaseVersion or None,
            "hostname": _hostname(), "python": sys.version.split()[0]}


def _bytecode_cache():
    """The folder of the pyz importer's compiled modules, "off", or None (not run from a pyz)."""
    for finder in sys.meta_path:
        cache = getattr(finder, "_cache", None)
        if cache is not None:
            return cache.folder or "off"
    return None


def _hostname():
    import socket

    return socket.gethostname()
