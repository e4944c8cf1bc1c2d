"""The local log (pilot/logs/logger.py): format, UTC, multi-line, non-ASCII, broken sinks."""

import io
import os
import re
import subprocess
import sys
import time

import pytest

import helpers
from pilot.logs import logger as logger_module
from pilot.logs.logger import FileSink, PilotLogger, StreamSink


def test_utc_timestamp():
    assert logger_module.utc_timestamp(0) == "1970-01-01T00:00:00.000000Z"
    assert logger_module.utc_timestamp(1234567890.5) == "2009-02-13T23:31:30.500000Z"
    assert logger_module.utc_timestamp(1234567890.9999999) == "2009-02-13T23:31:31.000000Z"
    assert helpers.TIMESTAMP.match(logger_module.utc_timestamp())


def test_timestamps_are_utc_whatever_the_local_zone(monkeypatch):
    if not hasattr(time, "tzset"):
        pytest.skip("time.tzset is missing on this platform")
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        assert logger_module.utc_timestamp(0) == "1970-01-01T00:00:00.000000Z"
        logger, sink = helpers.make_logger()
        before = time.time()
        logger.source("X").info("now")
        stamp = sink.lines[0][:27]
        expected = time.strftime("%Y-%m-%dT%H", time.gmtime(before))
        assert stamp.startswith(expected) or stamp.startswith(time.strftime("%Y-%m-%dT%H", time.gmtime()))
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_line_format():
    logger, sink = helpers.make_logger(debug=True)
    log = logger.source("CheckWorkerNode", "Checking")
    log.debug("d")
    log.info("Free disk: 51234 MB")
    log.warning("w")
    log.warn("w2")
    log.error("e")
    for line in sink.lines:
        assert helpers.LOG_LINE.match(line), line
    assert re.match(r"^\S+Z INFO    \[CheckWorkerNode\] Free disk: 51234 MB$", sink.lines[1])
    assert [r.level for r in sink.records] == ["DEBUG", "INFO", "WARNING", "WARNING", "ERROR"]
    assert [r.seq for r in sink.records] == [1, 2, 3, 4, 5]
    assert sink.records[0].phase == "Checking" and sink.records[0].source == "CheckWorkerNode"
    assert logger.counts["WARNING"] == 2


def test_debug_threshold():
    logger, sink = helpers.make_logger(debug=False)
    log = logger.source("A")
    log.debug("hidden")
    assert sink.lines == [] and not log.debug_enabled
    logger.set_debug(True)
    log.debug("shown")
    assert len(sink.lines) == 1 and log.debug_enabled


def test_multi_line_text_becomes_several_prefixed_lines():
    logger, sink = helpers.make_logger()
    logger.source("Cmd").info("first\nsecond\r\nthird  \n")
    assert [line.split("] ", 1)[1] for line in sink.lines] == ["first", "second", "third"]
    for line in sink.lines:
        assert helpers.LOG_LINE.match(line) and "[Cmd] " in line
    logger.source("Cmd").info("")
    assert sink.lines[-1].endswith("[Cmd] ")


def test_non_ascii_to_a_file(tmpdir):
    path = str(tmpdir.join("pilot.out"))
    logger = PilotLogger()
    logger.add_sink(FileSink(path))
    logger.source("Cmd").info(u"caf\u00e9 \u2713 \u4e2d")
    logger.source("Cmd").info(b"raw caf\xc3\xa9 bytes \xff")
    logger.close()
    data = helpers.read_bytes(path)
    assert u"caf\u00e9 \u2713 \u4e2d".encode("utf-8") in data
    assert u"raw caf\u00e9 bytes \ufffd".encode("utf-8") in data
    assert len(data.splitlines()) == 2


def test_file_sink_appends(tmpdir):
    path = str(tmpdir.join("pilot.out"))
    for text in ("one", "two"):
        logger = PilotLogger()
        logger.add_sink(FileSink(path))
        logger.source("A").info(text)
        logger.close()
    assert [line.split("] ", 1)[1] for line in helpers.read_text(path).splitlines()] == ["one", "two"]


def test_stream_sink_on_python_2_and_3_streams():
    stream = io.BytesIO() if sys.version_info[0] == 2 else io.StringIO()
    logger = PilotLogger()
    logger.add_sink(StreamSink(stream))
    logger.source("A").info(u"\u00e9t\u00e9")
    value = stream.getvalue()
    if isinstance(value, bytes):
        value = value.decode("utf-8")
    assert value.endswith(u"[A] \u00e9t\u00e9\n")


CHILD = (
    "import sys\n"
    "from pilot.logs.logger import PilotLogger, StreamSink\n"
    "logger = PilotLogger()\n"
    "logger.add_sink(StreamSink(sys.stdout))\n"
    "logger.source('Cmd').info(u'caf\\u00e9 \\u2713')\n"
    "logger.source('Cmd').info('after')\n"
)


@pytest.mark.parametrize("env_extra,exact", [
    ({"PYTHONIOENCODING": "utf-8"}, True),
    ({"LC_ALL": "C", "LANG": "C", "PYTHONIOENCODING": None}, False),
])
def test_non_ascii_to_a_pipe(env_extra, exact):
    env = helpers.clean_env(env_extra)
    env["PYTHONPATH"] = os.pathsep.join([helpers.PILOT_SRC, helpers.REPO] + [p for p in sys.path if p])
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=env)
    out, err = helpers.communicate_with_timeout(child, 60)
    assert child.returncode == 0, err
    assert "Traceback" not in err
    lines = out.splitlines()
    assert len(lines) == 2 and lines[1].endswith("[Cmd] after")
    if exact or sys.version_info[0] == 2:
        assert lines[0].endswith(u"[Cmd] caf\u00e9 \u2713")   # UTF-8 bytes on the pipe
    else:
        assert u"[Cmd] caf" in lines[0]                       # replaced where the locale cannot say it


class Broken(object):
    def __init__(self, error):
        self.error = error
        self.calls = 0

    def emit(self, record, line):
        self.calls += 1
        raise self.error

    def close(self):
        raise IOError("close fails too")


@pytest.mark.parametrize("error", [IOError(28, "No space left on device"), ValueError("I/O on closed file"),
                                   UnicodeEncodeError("ascii", u"\u00e9", 0, 1, "no")])
def test_broken_sink_is_dropped(capsys, error):
    logger = PilotLogger()
    broken = Broken(error)
    good = helpers.ListSink()
    logger.add_sink(broken)
    logger.add_sink(good)
    logger.source("A").info("one")
    logger.source("A").info("two")
    assert broken.calls == 1
    assert len(good.lines) == 2
    assert broken not in logger.sinks
    err = capsys.readouterr()[1]
    assert "log sink Broken dropped" in err
    logger.close()  # a failing close does not raise either


def test_closed_stream_sink_is_dropped(capsys):
    stream = io.BytesIO() if sys.version_info[0] == 2 else io.StringIO()
    logger = PilotLogger()
    logger.add_sink(StreamSink(stream))
    stream.close()
    logger.source("A").info("into the void")
    assert logger.sinks == []
    assert "dropped" in capsys.readouterr()[1]


def test_pyz_with_closed_stdout_still_finishes(workdir, pyz):
    argv = [sys.executable, pyz, "-X", "GetPilotVersion", "-r", "v1"]
    child = subprocess.Popen(argv, cwd=workdir, env=helpers.clean_env(), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    child.stdout.close()  # the reader went away: every write to stdout fails
    err = helpers.read_stream_with_timeout(child, child.stderr, 60)
    assert child.returncode == 0, err
    assert "Traceback" not in err
    assert "log sink StreamSink dropped" in err
    assert helpers.load_result(workdir)["pilot"]["exit_code"] == 0
    assert "Pilot exit code 0 (OK)" in helpers.pilot_out(workdir)


def test_pyz_non_ascii_log(run_pilot, workdir, tmpdir):
    folder = str(tmpdir.mkdir("exts"))
    helpers.write_text(os.path.join(folder, "UniCommands.py"), (
        u"# -*- coding: utf-8 -*-\n"
        u"from pilot.commands.base import Command\n\n"
        u"class Uni(Command):\n"
        u"    def execute(self):\n"
        u"        self.log.info(u'Gr\u00fc\u00dfe aus M\u00fcnchen \u2713')\n"
        u"        self.run(['printf', r'caf\\xc3\\xa9 \\xff\\n'])\n"))
    for extra in ({"PYTHONIOENCODING": "utf-8"}, {"LC_ALL": "C", "LANG": "C", "PYTHONIOENCODING": None}):
        rc, out, err = run_pilot(["-E", "Uni", "--extensions-dir", folder, "-X", "Uni"], workdir,
                                 env=helpers.clean_env(extra))
        assert rc == 0, out + err
        assert "Traceback" not in err
    data = helpers.read_bytes(os.path.join(workdir, "pilot.out"))
    assert data.count(u"Gr\u00fc\u00dfe aus M\u00fcnchen \u2713".encode("utf-8")) == 2
    assert data.count(u"printf: caf\u00e9 \ufffd".encode("utf-8")) == 2
