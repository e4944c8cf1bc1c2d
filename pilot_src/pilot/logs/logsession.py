"""A pilot's remote-logging session: started once the parameters are known, finished at exit.

``start`` (what pilot/cli.py calls when the parameters ask for remote logging)
builds the transport from the parameters and credentials, hands the records
logged so far to a RemoteLog (pilot/logs/logsender.py), notes where this pilot logs
to for the wrapper, starts sending the spools earlier pilots handed off
(pilot/logs/loghandoff.py) and logs stdin (pilot/logs/stdincapture.py).  ``finish``
logs the result, runs the final flush (at most FINAL_SECONDS, even when a
signal arrives meanwhile), hands off what is still unsent and writes the
figures into pilot_result.json.  Neither raises.
"""

import os

from .logsender import DEFAULT_INTERVAL, RemoteLog
from .logspool import SPOOL_FILE
from .logtransport import TransportError, display_url, make_transport

FINAL_SECONDS = 15.0        # the final flush, at exit or after a signal


def start(early, logger, params, environ, work_dir):
    """Remote logging as the parameters ask, then stdin logged (the first records after the
    set-up lines).  Returns the RemoteLog, or None when remote logging stays off."""
    remote = configure(early, logger, params, environ, work_dir)
    if remote is not None:
        from .stdincapture import capture_stdin

        try:
            capture_stdin(logger)
        except Exception:
            pass
    return remote


def configure(early, logger, params, environ, work_dir):
    """Start remote logging as the parameters ask (called only when they ask for it).

    ``early`` is the logger's MemorySink holding the records logged so far: they
    become the first messages.  Returns the RemoteLog, or None when remote logging
    stays off (no URL, an unusable one).  ``start`` then reads stdin.  Never raises.
    """
    log = logger.source("Pilot", "setup")
    try:
        if not params.loggerURL:
            log.warning("remote logging is asked for (-z or pilot.json RemoteLogging) but no logbook URL is "
                        "given (-g or RemoteLoggerURL): logging locally only")
            return None
        creds = credentials(params, environ, log)
        transport = make_transport(params.loggerURL, creds, params.pilotUUID,
                                   params.wnVO or params.jsonVO, environ)
    except TransportError as exc:
        log.warning("remote logging is off: %s" % exc)
        return None
    except Exception as exc:
        log.warning("remote logging is off: %s: %s" % (exc.__class__.__name__, exc))
        return None
    remote = RemoteLog()
    with logger.lock:   # no record may fall between the two sinks
        for record in early.records:
            remote.emit(record, None)
        logger.replace_sink(early, remote)
        early.close()
    for note in transport.notes:
        log.warning(note)
    interval = params.loggerTimerInterval or DEFAULT_INTERVAL
    remote.start(transport, params.pilotUUID, work_dir, params.loggerBufsize, interval,
                 logger.source("RemoteLog"))
    _start_handoff(remote, creds, params, environ, work_dir, logger.source("RemoteLog"))
    log.info("remote logging to %s (%s, %s): a batch every %d lines or %d s, after each command and at "
             "exit; what cannot be sent waits in %s" % (display_url(getattr(transport, "url", params.loggerURL)),
                                                        transport.name, creds.describe(), remote.bufsize,
                                                        remote.interval, SPOOL_FILE))
    return remote


def credentials(params, environ, log):
    """The pilot's credentials for the logbook: the token file, else a proxy or the host cert."""
    from ..config.fetch import default_ca_dir
    from .logtransport import Credentials, token_from_file

    token = None
    if params.logbookTokenFile:
        token, problem = token_from_file(params.logbookTokenFile, os.getuid())
        if problem:
            log.warning(problem)
    certfile = keyfile = None
    host = False
    if params.useServerCertificate:
        cert = os.path.join(params.certsLocation, "hostcert.pem")
        key = os.path.join(params.certsLocation, "hostkey.pem")
        if os.path.isfile(cert) and os.path.isfile(key):
            certfile, keyfile, host = cert, key, True
    elif environ.get("X509_USER_PROXY") and os.path.isfile(environ["X509_USER_PROXY"]):
        certfile = keyfile = environ["X509_USER_PROXY"]
    cafile, capath = None, default_ca_dir(environ)
    if params.logbookCA:
        if os.path.isfile(params.logbookCA):
            cafile, capath = params.logbookCA, None
        elif os.path.isdir(params.logbookCA):
            capath = params.logbookCA
        else:
            log.warning("--logbook-ca %s: no such file or directory; verifying the logbook with %s"
                        % (params.logbookCA, capath or "the system's default CAs"))
    return Credentials(token, certfile, keyfile, host, cafile, capath)


def _start_handoff(remote, creds, params, environ, work_dir, log):
    """Note where this pilot logs to (for the wrapper), and send the spools earlier pilots
    handed off, in the background (pilot/logs/loghandoff.py).  Never raises."""
    from . import loghandoff

    try:
        vo = params.wnVO or params.jsonVO or None
        loghandoff.write_meta(work_dir, params.pilotUUID, params.loggerURL, vo, params.logbookTokenFile or None)
        if loghandoff.directory(environ) is None:
            return
        settings = {"environ": environ, "url": params.loggerURL, "vo": vo, "token": creds.token,
                    "sender": loghandoff.start_sending(creds, environ, log)}
        remote.on_close = lambda remote, figures: _hand_off(remote, figures, settings)
    except Exception as exc:
        log.warning("log hand-off: %s: %s" % (exc.__class__.__name__, exc))


def _hand_off(remote, figures, settings):
    """At close(): the spools of earlier pilots (the sender gets at most loghandoff.EXIT_WAIT
    more), then ours: what is still unsent moves to the node's hand-off directory."""
    from . import loghandoff

    sender = settings.get("sender")
    if sender is not None:
        figures["handoff_received"] = sender.finish()
    if not figures["unsent"] or remote.refused:
        return
    path, problem = loghandoff.hand_off(os.path.dirname(remote.spool.path), settings["environ"], remote.stamp,
                                        settings["url"], settings["vo"], settings["token"])
    figures["handed_off"] = path
    figures["handoff_problem"] = problem
    if path:
        figures["spool_file"] = path


def finish(remote, logger, result, started):
    """The result message, then the final flush (at most FINAL_SECONDS, even when a signal
    arrives meanwhile), then the figures into pilot_result.json.  Never raises."""
    from ..errors import PilotKilled
    from ..sequence.heartbeat import usage

    log = logger.source("Pilot")
    try:
        if result.usage is None:
            result.usage = usage(started, result.jobs())
        pilot = result.pilot
        text = ("result: exit code %s (%s) after %.2f s; CPU %.2f s; peak memory %s MB; %s job(s)"
                % (pilot["exit_code"], pilot["exit_name"], pilot["duration"] or 0.0, result.usage["cpu_seconds"],
                   result.usage["max_rss_mb"], result.usage["jobs"] if result.usage["jobs"] is not None else 0))
        log.event("ERROR" if pilot["exit_code"] else "INFO", text, "result", pilot["status"],
                  result.message_data())
    except PilotKilled:
        pass
    except Exception:
        pass
    figures = None
    for _ in range(3):  # a signal interrupting the flush: go on, within the same bound
        try:
            figures = remote.close(FINAL_SECONDS, result.pilot["exit_code"])
            break
        except PilotKilled:
            continue
        except Exception:
            break
    if figures is None:
        return
    try:
        result.remote_logging = figures
        result.write()
        if figures.get("handoff_problem"):
            log.warning(figures["handoff_problem"])
        log.info("remote logging: %d messages, %d sent, %d unsent%s"
                 % (figures["messages"], figures["sent"], figures["unsent"],
                    " (kept in %s; last error: %s)"
                    % (figures.get("spool_file") or SPOOL_FILE, figures["last_error"]) if figures["unsent"] else ""))
    except PilotKilled:
        pass
    except Exception:
        pass
