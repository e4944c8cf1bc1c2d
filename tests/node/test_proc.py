"""The subprocess helper (pilot/sequence/proc.py)."""

import os
import signal
import sys
import threading

import pytest

import helpers
from pilot.sequence import proc

PY = sys.executable


def _runner(grace=1.0):
    return proc.ProcessRunner(grace=grace)


def _log(debug=False):
    logger, sink = helpers.make_logger(debug=debug)
    return logger.source("Test"), sink


def _texts(sink):
    return [record.text for record in sink.records]


def _run_bounded(func, timeout=60):
    """Run func() in a thread; fail if it does not return in time (the runner must not hang)."""
    box = {}

    def target():
        try:
            box["value"] = func()
        except BaseException as exc:  # reported below
            box["error"] = exc

    thread = threading.Thread(target=target)
    thread.daemon = True
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), "the runner did not return within %s s" % timeout
    if "error" in box:
        raise box["error"]
    return box["value"]


@pytest.mark.parametrize("args", ["echo hello", u"echo hello", None, 42])
def test_refuses_a_shell_string(args):
    log, _ = _log()
    with pytest.raises(TypeError):
        _runner().run(args, log)


def test_environment_is_a_copy(monkeypatch):
    monkeypatch.delenv("PILOTTEST_ONLY_CHILD", raising=False)
    before = dict(os.environ)
    env = dict(os.environ)
    env["PILOTTEST_ONLY_CHILD"] = "child-sees-it"
    log, _ = _log()
    result = _runner().run(["sh", "-c", "echo $PILOTTEST_ONLY_CHILD; export PILOTTEST_X=1"], log, env=env,
                           capture=True)
    assert result.returncode == 0
    assert result.last_line() == "child-sees-it"
    assert "PILOTTEST_ONLY_CHILD" not in os.environ
    assert dict(os.environ) == before
    assert env["PILOTTEST_ONLY_CHILD"] == "child-sees-it" and "PILOTTEST_X" not in env


def test_environment_with_non_ascii_text_values():
    """--userEnvVariables values are text: a non-ASCII one must reach the child (UTF-8)."""
    env = dict(os.environ)
    env[u"PILOTTEST_TEXT"] = u"caf\u00e9"
    log, _ = _log()
    result = _runner().run(["sh", "-c", "echo $PILOTTEST_TEXT"], log, env=env, capture=True)
    assert result.returncode == 0
    assert result.last_line() == u"caf\u00e9"


def test_default_environment_is_the_process_one_not_shared(monkeypatch):
    monkeypatch.setenv("PILOTTEST_INHERITED", "yes")
    log, _ = _log()
    result = _runner().run(["sh", "-c", "echo $PILOTTEST_INHERITED"], log, capture=True)
    assert result.last_line() == "yes"


def test_command_context_environment_is_a_copy(tmpdir):
    from pilot.commands.base import Context

    logger, _ = helpers.make_logger()
    environ = {"A": "1"}
    context = Context(logger, _runner(), None, str(tmpdir), environ)
    context.environ["B"] = "2"
    assert environ == {"A": "1"}
    assert Context(logger, _runner(), None, str(tmpdir), os.environ).environ is not os.environ


def test_output_is_logged_in_order_with_the_program_label():
    script = ("import sys, time\n"
              "for i in range(3):\n"
              "    sys.stdout.write('out %d\\n' % i); sys.stdout.flush(); time.sleep(0.2)\n"
              "    sys.stderr.write('err %d\\n' % i); sys.stderr.flush(); time.sleep(0.2)\n")
    log, sink = _log()
    result = _runner().run([PY, "-c", script], log, program="myprog")
    assert result.returncode == 0
    lines = [text for text in _texts(sink) if text.startswith("myprog")]
    assert lines == ["myprog: out 0", "myprog (stderr): err 0", "myprog: out 1", "myprog (stderr): err 1",
                     "myprog: out 2", "myprog (stderr): err 2"]
    streams = [record.stream for record in sink.records if record.text.startswith("myprog")]
    assert streams == ["stdout", "stderr"] * 3
    assert result.tail == ["out 0", "err 0", "out 1", "err 1", "out 2", "err 2"]


def test_default_label_is_the_program_basename():
    log, sink = _log()
    _runner().run(["/bin/sh", "-c", "echo hi"], log)
    assert "sh: hi" in _texts(sink)


def test_non_utf8_output_does_not_crash():
    log, sink = _log()
    script = "import os; os.write(1, b'caf\\xe9 \\xff\\xfe ok\\n'); os.write(2, b'\\xc3\\xa9t\\xc3\\xa9\\n')"
    result = _runner().run([PY, "-c", script], log, program="p", capture=True)
    assert result.returncode == 0
    texts = _texts(sink)
    # 2.6's UTF-8 decoder replaces a broken sequence with the byte after it (here the space)
    line = u"caf\ufffd \ufffd\ufffd ok" if sys.version_info >= (2, 7) else u"caf\ufffd\ufffd ok"
    assert u"p: " + line in texts
    assert u"p (stderr): \u00e9t\u00e9" in texts
    assert result.last_line() == line


def test_tail_keeps_the_last_lines():
    log, _ = _log()
    result = _runner().run([PY, "-c", "for i in range(100): print('line %d' % i)"], log)
    assert len(result.tail) == proc.TAIL_LINES
    assert result.tail[-1] == "line 99"
    assert result.tail[0] == "line %d" % (100 - proc.TAIL_LINES)


def test_failure_is_described_with_the_last_line():
    log, _ = _log()
    result = _runner().run(["sh", "-c", "echo working; sleep 0.2; echo 'fatal: disk full' >&2; exit 4"], log)
    assert result.returncode == 4 and not result.ok
    assert result.describe() == "sh exited with code 4: fatal: disk full"


def test_timeout_stops_child_and_grandchild(tmpdir):
    pidfile = str(tmpdir.join("grandchild.pid"))
    log, sink = _log()
    script = "sleep 300 & echo $! > %s; echo started; wait" % pidfile
    result = _run_bounded(lambda: _runner(grace=1.0).run(["sh", "-c", script], log, timeout=1))
    assert result.timed_out
    assert result.returncode != 0
    assert "timed out" in result.describe()
    grandchild = int(helpers.read_text(pidfile).strip())
    assert helpers.wait_for(lambda: helpers.process_gone(grandchild), timeout=10)
    assert [t for t in _texts(sink) if "timed out" in t]


class CountSink(object):
    def __init__(self):
        self.count = 0

    def emit(self, record, line):
        self.count += 1

    def close(self):
        pass


# A line every 50 ms: never a quiet poll period, yet no backlog to drain afterwards.
TICKER = "while :; do echo tick; sleep 0.05; done"


@pytest.mark.parametrize("script,timeout", [
    (TICKER, 1),                                        # never stops writing
    ("(%s) & echo parent exits" % TICKER, None),        # a background writer after the child exits
])
def test_a_child_that_never_stops_writing_is_still_stopped(monkeypatch, script, timeout):
    """The timeout and the drain limit must hold while output keeps coming."""
    from pilot.logs.logger import PilotLogger

    monkeypatch.setattr(proc, "DRAIN_SECONDS", 0.5)
    runner = _runner(grace=1.0)
    logger = PilotLogger()
    counter = CountSink()
    logger.add_sink(counter)
    box = {}

    def target():
        box["result"] = runner.run(["sh", "-c", script], logger.source("Test"), timeout=timeout)

    thread = threading.Thread(target=target)
    thread.daemon = True
    thread.start()
    try:
        thread.join(10)
        assert not thread.is_alive(), "still running after 10 s (%d lines read)" % counter.count
    finally:
        for child in list(runner.running):   # never leave the writer behind
            try:
                os.killpg(child.pid, signal.SIGKILL)
            except OSError:
                pass
        thread.join(10)
    if timeout:
        assert box["result"].timed_out


def test_child_ignoring_sigterm_is_killed(tmpdir):
    log, _ = _log()
    script = "trap '' TERM; echo ready; sleep 300 & wait; sleep 300"
    result = _run_bounded(lambda: _runner(grace=0.5).run(["sh", "-c", script], log, timeout=1))
    assert result.timed_out
    assert result.returncode == -9


def test_background_grandchild_holding_stdout_does_not_hang(tmpdir, monkeypatch):
    monkeypatch.setattr(proc, "DRAIN_SECONDS", 0.5)
    pidfile = str(tmpdir.join("bg.pid"))
    log, sink = _log()
    script = "sleep 300 & echo $! > %s; echo parent done" % pidfile
    result = _run_bounded(lambda: _runner().run(["sh", "-c", script], log), timeout=30)
    assert result.returncode == 0
    assert "sh: parent done" in _texts(sink)
    assert [t for t in _texts(sink) if "still hold its output" in t]
    grandchild = int(helpers.read_text(pidfile).strip())
    assert helpers.wait_for(lambda: helpers.process_gone(grandchild), timeout=10)


def test_missing_executable():
    log, sink = _log()
    result = _runner().run(["/nonexistent/dirac-configure", "-h"], log)
    assert result.returncode == 127
    assert result.error
    assert result.describe().startswith("cannot run dirac-configure: ")
    assert [t for t in _texts(sink) if "cannot run dirac-configure" in t]


def test_capture_and_last_line():
    log, _ = _log()
    script = "echo 'WARNING: deprecated'; echo '{\"Tag\": [\"GPU\"]}'; echo; echo '   '"
    result = _runner().run(["sh", "-c", script + "; echo noise >&2"], log, capture=True)
    assert result.last_line() == '{"Tag": ["GPU"]}'
    assert "noise" not in result.stdout
    assert result.stdout.splitlines()[0] == "WARNING: deprecated"


def test_no_capture_keeps_stdout_empty():
    log, _ = _log()
    result = _runner().run(["sh", "-c", "echo hi"], log)
    assert result.stdout == "" and result.last_line() == ""
    assert result.tail == ["hi"]


def test_input_data_and_cwd(tmpdir):
    log, _ = _log()
    result = _runner().run(["sh", "-c", "read line; echo got $line in $(pwd)"], log, capture=True,
                           input_data=b"hello\n", cwd=str(tmpdir))
    assert result.last_line() == "got hello in %s" % str(tmpdir)


def test_stdin_is_not_inherited():
    log, _ = _log()
    result = _run_bounded(lambda: _runner().run(["sh", "-c", "cat; echo eof"], log, capture=True))
    assert result.last_line() == "eof"


def test_child_runs_in_its_own_process_group():
    log, _ = _log()
    result = _runner().run([PY, "-c", "import os; print(os.getpgid(0) == os.getpid())"], log, capture=True)
    assert result.last_line() == "True"


def test_debug_log_of_the_command_line():
    log, sink = _log(debug=True)
    _runner().run(["echo", "a b", "c'd"], log)
    assert "running echo 'a b' 'c'\"'\"'d'" in _texts(sink)


def test_stop_all_stops_running_children(tmpdir):
    runner = _runner(grace=0.5)
    log, _ = _log()
    pidfile = str(tmpdir.join("child.pid"))
    box = {}

    def start():
        box["result"] = runner.run(["sh", "-c", "echo $$ > %s; exec sleep 300" % pidfile], log)

    thread = threading.Thread(target=start)
    thread.daemon = True
    thread.start()
    assert helpers.wait_for(lambda: runner.running and os.path.exists(pidfile)
                            and helpers.read_text(pidfile).strip(), timeout=20)
    runner.stop_all()
    thread.join(30)
    assert not thread.is_alive()
    assert box["result"].returncode == -15
    assert box["result"].describe() == "sh was killed by SIGTERM"
    assert runner.running == []
