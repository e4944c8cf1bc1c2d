"""Running child processes: the one helper every command uses.

* argument lists only: a shell string built from parameters is refused;
* a copy of the environment, never ``os.environ`` itself;
* each child in its own process group, so that a timeout or a signal to the
  pilot stops the child's whole tree and nothing else;
* stdout and stderr streamed into the log line by line (decoded as UTF-8,
  undecodable bytes replaced), the last lines kept for the result;
* a timeout, after which the group gets SIGTERM, then SIGKILL.
"""

import collections
import os
import signal
import threading
import time


from ..shims import compat
from ..errors import PilotKilled

TAIL_LINES = 40
POLL_SECONDS = 0.2
# After the child exits, how long to wait for background processes that still
# hold its output pipes open before stopping them.
DRAIN_SECONDS = 5.0
# After a signal, how long the stopped child's output readers get to see the end of its pipes.
READERS_SECONDS = 5.0


class ProcResult(object):
    def __init__(self, args):
        self.args = list(args)
        self.returncode = None
        self.tail = []          # last lines of stdout+stderr, for results and messages
        self.last_stderr = ""   # the last non-empty stderr line (the usual place of an error)
        self.stdout = ""        # whole stdout when capture=True
        self.duration = 0.0
        self.timed_out = False
        self.error = None       # the child could not be started

    @property
    def ok(self):
        return self.returncode == 0

    def last_line(self):
        """The last non-empty stdout line (DIRAC scripts print their answer last)."""
        for line in reversed(self.stdout.splitlines()):
            if line.strip():
                return line.strip()
        return ""

    def describe(self):
        """One line: why the child failed."""
        program = os.path.basename(self.args[0]) if self.args else "?"
        if self.error:
            return "cannot run %s: %s" % (program, self.error)
        if self.timed_out:
            return "%s timed out after %.0f s" % (program, self.duration)
        if self.returncode is not None and self.returncode < 0:
            return "%s was killed by %s" % (program, _signal_name(-self.returncode))
        reason = "%s exited with code %s" % (program, self.returncode)
        if self.last_stderr:
            # stdout and stderr are read by two threads: their merged order is not exact,
            # and an error is normally on stderr.
            return "%s: %s" % (reason, self.last_stderr[:200])
        for line in reversed(self.tail):
            if line.strip():
                return "%s: %s" % (reason, line.strip()[:200])
        return reason


def _signal_name(signum):
    from ..exitcodes import signal_name

    return signal_name(signum)


class ProcessRunner(object):
    """Starts children and remembers the running ones, so they can be stopped."""

    def __init__(self, grace=10.0):
        self.grace = grace
        self.running = []
        self.lock = threading.Lock()
        self.total_seconds = 0.0   # time spent waiting for children (the pilot's own share is the rest)

    def run(self, args, log, env=None, cwd=None, timeout=None, capture=False, input_data=None,
            program=None, grace=None, log_stdout=True, on_line=None):
        """Run ``args`` (a list); return a ProcResult.  Never raises for a failing child.

        ``log_stdout=False`` keeps stdout out of the log (it may hold secrets,
        e.g. a dumped environment); stderr is always logged.  ``grace`` is
        how long the child's group gets between SIGTERM (or the signal the
        pilot received) and SIGKILL.  ``on_line(stream, line)`` sees every line.
        """
        if isinstance(args, compat.string_types) or not isinstance(args, (list, tuple)):
            raise TypeError("ProcessRunner.run takes an argument list, not a shell string")
        args = [compat.to_native(arg) for arg in args]
        result = ProcResult(args)
        program = program or os.path.basename(args[0])
        # native str for Python 2's execve (a unicode value with non-ASCII would raise)
        child_env = dict((compat.to_native(key), compat.to_native(value))
                         for key, value in (os.environ if env is None else env).items())
        log.debug("running %s" % " ".join(compat.shell_quote(arg) for arg in args))
        started = time.time()
        try:
            proc = self._start(args, child_env, cwd, input_data is not None)
        except OSError as exc:
            result.returncode = 127
            result.error = exc.strerror or str(exc)
            log.error("cannot run %s: %s" % (program, result.error))
            return result
        with self.lock:
            self.running.append(proc)
        try:
            self._pump(proc, result, log, program, started, timeout, capture, input_data, grace, log_stdout,
                       on_line)
        except PilotKilled as killed:
            # Forward the signal to the child's whole group.  USR1 and XCPU ask the pilot to
            # stop; a child (the JobAgent) may not handle them and would die at once, leaving
            # its payload behind: it is asked to stop with SIGTERM instead.
            forwarded = killed.signum if killed.signum in (signal.SIGTERM, signal.SIGINT) else signal.SIGTERM
            log.warning("%s received: sending %s to %s (pid %d)" % (
                _signal_name(killed.signum), _signal_name(forwarded), program, proc.pid))
            self._stop_group(proc, grace, forwarded)
            # The pilot goes on to exit: the output readers (daemon threads) end first, or
            # Python 2 empties their modules under them (a traceback on stderr).
            for reader in getattr(proc, "readers", ()):
                reader.join(READERS_SECONDS)
            raise
        finally:
            if proc.poll() is None:
                self._stop_group(proc, grace)
            with self.lock:
                self.running.remove(proc)
            result.duration = time.time() - started
            self.total_seconds += result.duration
        result.returncode = proc.returncode
        return result

    def _start(self, args, env, cwd, with_input):
        import subprocess

        kwargs = compat.start_new_session_kwargs()
        stdin = subprocess.PIPE if with_input else open(os.devnull, "rb")
        try:
            return subprocess.Popen(args, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    env=env, cwd=cwd, close_fds=True, **kwargs)
        finally:
            if not with_input:
                stdin.close()

    def _pump(self, proc, result, log, program, started, timeout, capture, input_data, grace, log_stdout,
              on_line):
        queue = compat.import_queue()
        lines = queue.Queue()
        readers = proc.readers = [_start_reader(proc.stdout, "stdout", lines),
                                  _start_reader(proc.stderr, "stderr", lines)]
        if input_data is not None:
            compat.feed_stdin(proc, input_data)
        tail = collections.deque(maxlen=TAIL_LINES)
        captured = []
        open_streams = 2
        exited_at = None
        while open_streams:
            try:
                stream, line = lines.get(timeout=POLL_SECONDS)
            except queue.Empty:
                stream = None
            if stream is not None:
                if line is None:
                    open_streams -= 1
                    continue
                if capture and stream == "stdout":
                    captured.append(line)
                if on_line is not None:
                    on_line(stream, line)
                if stream == "stderr" and line.strip():
                    result.last_stderr = line.strip()
                if log_stdout or stream == "stderr":
                    tail.append(line)
                    log.output(program, stream, line)
            # checked on every turn: a child printing all the time must still time out
            now = time.time()
            if timeout and not result.timed_out and now - started > timeout:
                result.timed_out = True
                log.error("%s timed out after %.0f s: stopping it" % (program, timeout))
                self._stop_group(proc, grace)
            if exited_at is None and proc.poll() is not None:
                exited_at = now
            if exited_at is not None and now - exited_at > DRAIN_SECONDS:
                log.warning("%s exited but processes it started still hold its output: stopping them"
                            % program)
                _kill_group(proc.pid, signal.SIGKILL)
                break
        while True:  # lines already read but not yet logged
            try:
                stream, line = lines.get_nowait()
            except queue.Empty:
                break
            if line is not None and (log_stdout or stream == "stderr"):
                tail.append(line)
                log.output(program, stream, line)
        proc.wait()
        for reader in readers:
            reader.join(1.0)
        result.tail = list(tail)
        result.stdout = "\n".join(captured)

    def _stop_group(self, proc, grace=None, first_signal=signal.SIGTERM):
        """``first_signal`` (SIGTERM) to the child's process group, SIGKILL after the grace period.

        Descendants that left the group (a payload in a session of its own) are
        stopped too: only processes of this child's own tree, found in /proc.
        """
        grace = self.grace if grace is None else grace
        tree = descendants(proc.pid)
        _kill_group(proc.pid, first_signal)
        deadline = time.time() + grace
        while time.time() < deadline:
            if proc.poll() is not None:
                break
            time.sleep(0.05)
        tree.update(descendants(proc.pid))
        _kill_group(proc.pid, signal.SIGKILL)  # the rest of the group, if any
        proc.wait()
        for pid, started in tree.items():
            if _start_time(pid) == started:  # still the same process, not a reused pid
                _kill_group(pid, signal.SIGKILL, group=False)

    def stop_all(self, grace=None):
        """Stop every running child's group (used when the pilot is signalled)."""
        with self.lock:
            running = list(self.running)
        for proc in running:
            if proc.poll() is None:
                self._stop_group(proc, grace)


def _kill_group(pid, signum, group=True):
    try:
        if group:
            os.killpg(pid, signum)
        else:
            os.kill(pid, signum)
    except OSError:
        pass  # already gone


def _start_time(pid):
    """Field 22 of /proc/PID/stat (start time in clock ticks), or None."""
    try:
        handle = open("/proc/%d/stat" % pid)
        try:
            fields = handle.read().rsplit(")", 1)[1].split()
        finally:
            handle.close()
        return fields[19]
    except (IOError, OSError, IndexError):
        return None


def descendants(root):
    """{pid: start time} of every process below ``root``, from /proc (empty elsewhere)."""
    children = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return {}
    for name in names:
        if not name.isdigit():
            continue
        try:
            handle = open("/proc/%s/stat" % name)
            try:
                fields = handle.read().rsplit(")", 1)[1].split()
            finally:
                handle.close()
            children.setdefault(int(fields[1]), []).append((int(name), fields[19]))
        except (IOError, OSError, IndexError, ValueError):
            continue
    found = {}
    todo = [root]
    while todo:
        for pid, started in children.get(todo.pop(), ()):
            if pid not in found:
                found[pid] = started
                todo.append(pid)
    return found


def _start_reader(pipe, name, lines):
    def read():
        try:
            for raw in iter(pipe.readline, b""):
                lines.put((name, compat.to_text(raw).rstrip("\r\n")))
        except (IOError, OSError, ValueError):
            pass
        lines.put((name, None))
        try:
            pipe.close()
        except (IOError, OSError):
            pass

    thread = threading.Thread(target=read, name="pilot-%s-reader" % name)
    thread.daemon = True
    thread.start()
    return thread
