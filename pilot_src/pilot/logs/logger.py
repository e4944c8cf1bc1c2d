"""The pilot's log: one record per line, written to every sink.

A line on the terminal and in ``pilot.out`` reads::

    2026-11-21T15:14:00.123456Z INFO    [CheckWorkerNode] Free disk: 51234 MB

(UTC time, level, the command that logged it, the text).  The same records,
with a sequence number, go to the remote logbook when remote logging is on
(pilot/logs/logsender.py): a record is also a message of pilot/messages.py, and
its ``kind`` (log, command, heartbeat, stdin, result), ``status`` and
``data`` are the message's.
Sinks never make the pilot fail: a sink that breaks (disk full, closed pipe)
is dropped with one note on stderr.
"""

import sys
import threading
import time

from ..shims import compat

LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40}
PILOT_SOURCE = "Pilot"


def utc_timestamp(when=None):
    """2026-11-21T15:14:00.123456Z; computed by hand because 2.6 lacks %f."""
    if when is None:
        when = time.time()
    micro = int(round((when - int(when)) * 1000000))
    if micro >= 1000000:
        when, micro = int(when) + 1, 0
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(int(when))) + ".%06dZ" % micro


class Record(object):
    """One log line.  ``stream`` is 'stdout'/'stderr' for a child's output, else None.

    ``kind``, ``status`` and ``data`` are those of a message (pilot/messages.py).
    """

    __slots__ = ("seq", "time", "level", "source", "phase", "text", "stream", "kind", "status", "data")

    def __init__(self, seq, when, level, source, text, phase=None, stream=None, kind="log", status=None,
                 data=None):
        self.seq = seq
        self.time = when
        self.level = level
        self.source = source
        self.text = text
        self.phase = phase
        self.stream = stream
        self.kind = kind
        self.status = status
        self.data = data

    def line(self):
        return "%s %-7s [%s] %s" % (utc_timestamp(self.time), self.level, self.source, self.text)


class StreamSink(object):
    """The terminal (the job's stdout).  Lines piped to the pilot's stdin are not
    echoed: they came from the job's own wrapper, which printed them already."""

    def __init__(self, stream):
        self.stream = stream

    def emit(self, record, line):
        if record.kind == "stdin":
            return
        compat.write_text(self.stream, line + "\n")
        self.stream.flush()

    def close(self):
        pass


class FileSink(object):
    """Appends to a file, flushed line by line so a killed pilot loses nothing."""

    def __init__(self, path):
        self.path = path
        self.handle = open(path, "ab")

    def emit(self, record, line):
        self.handle.write(compat.to_bytes(line + "\n"))
        self.handle.flush()

    def close(self):
        self.handle.close()


class MemorySink(object):
    """Holds the first records (at most ``limit``) until the parameters say whether remote
    logging is on; remote logging then takes them (pilot.logs.logsession.configure)."""

    def __init__(self, limit=10000):
        self.records = []
        self.limit = limit

    def emit(self, record, line):
        if len(self.records) < self.limit:
            self.records.append(record)

    def close(self):
        self.records = []


class PilotLogger(object):
    def __init__(self, debug=False):
        self.threshold = LEVELS["DEBUG"] if debug else LEVELS["INFO"]
        self.sinks = []
        self.seq = 0
        self.lock = threading.RLock()
        self.counts = dict((level, 0) for level in LEVELS)

    @property
    def debug_enabled(self):
        return self.threshold <= LEVELS["DEBUG"]

    def set_debug(self, debug):
        self.threshold = LEVELS["DEBUG"] if debug else LEVELS["INFO"]

    def add_sink(self, sink):
        self.sinks.append(sink)

    def remove_sink(self, sink):
        with self.lock:
            if sink in self.sinks:
                self.sinks.remove(sink)

    def replace_sink(self, old, new):
        with self.lock:
            self.sinks = [new if sink is old else sink for sink in self.sinks]

    def log(self, level, text, source=PILOT_SOURCE, phase=None, stream=None, kind="log", status=None,
            data=None):
        """One record per line of ``text``; ``data`` goes with the first line only."""
        if LEVELS[level] < self.threshold:
            return
        lines = compat.to_text(text).splitlines() or [u""]
        with self.lock:
            for part in lines:
                self.seq += 1
                self.counts[level] += 1
                record = Record(self.seq, time.time(), level, source, part.rstrip(), phase, stream, kind,
                                status, data)
                data = None
                self._emit(record)

    def flush(self, timeout):
        """Ask sinks that buffer (the remote log) to send what they hold; wait at most
        ``timeout`` seconds in all.  Never raises."""
        deadline = time.time() + timeout
        for sink in list(self.sinks):
            flush = getattr(sink, "flush", None)
            if flush is None:
                continue
            try:
                flush(max(0.0, deadline - time.time()))
            except Exception:
                pass

    def _emit(self, record):
        line = record.line()
        for sink in list(self.sinks):
            try:
                sink.emit(record, line)
            except Exception as exc:  # a broken sink must never stop the pilot
                self.sinks.remove(sink)
                try:
                    compat.write_text(sys.stderr, "pilot: log sink %s dropped: %s\n"
                                      % (sink.__class__.__name__, exc))
                except Exception:
                    pass

    def source(self, name, phase=None):
        return SourceLog(self, name, phase)

    def close(self):
        for sink in self.sinks:
            try:
                sink.close()
            except Exception:
                pass
        self.sinks = []


class SourceLog(object):
    """The logger as one command sees it: every line carries the command's name."""

    def __init__(self, logger, source, phase=None):
        self.logger = logger
        self.name = source
        self.phase = phase

    def debug(self, text):
        self.logger.log("DEBUG", text, self.name, self.phase)

    def info(self, text):
        self.logger.log("INFO", text, self.name, self.phase)

    def warning(self, text):
        self.logger.log("WARNING", text, self.name, self.phase)

    warn = warning  # DIRAC's CommandBase.log has warn()

    def error(self, text):
        self.logger.log("ERROR", text, self.name, self.phase)

    def event(self, level, text, kind, status=None, data=None):
        """A structured message: a command starting or ending, a heartbeat, the result."""
        self.logger.log(level, text, self.name, self.phase, None, kind, status, data)

    def output(self, program, stream, line):
        """A line of a child process's output, labelled with the program."""
        label = program if stream == "stdout" else "%s (stderr)" % program
        self.logger.log("INFO", "%s: %s" % (label, line), self.name, self.phase, stream)

    @property
    def debug_enabled(self):
        return self.logger.debug_enabled
