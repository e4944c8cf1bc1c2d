"""Heartbeats while a command runs, and the pilot's usage for its result message.

A heartbeat is a log record of kind ``heartbeat`` (pilot.out, stdout and the
logbook), every ``--heartbeat`` seconds (default 300; 0: none) while a
command runs.  Its data (docs/logging-protocol.md):

    load1                 the node's 1-minute load average
    memory_available_mb   MemAvailable of /proc/meminfo
    disk_free_mb          free space in the work directory
    agent_alive           whether the command's child process (the JobAgent
                          for LaunchAgent) still runs; null when there is none
    command               the running command
    pid_count             processes in the command's process trees (each
                          child runs in its own session)
    uptime                seconds since the pilot started
    interval              the heartbeat period, so the logbook knows when a
                          pilot is overdue

A beat reads /proc/loadavg, /proc/meminfo, statvfs and /proc/*/stat: a
few milliseconds (bench/bench_remotelog.py measures it).  The thread never
polls a child (Popen.poll from another thread could reap it and lose its
exit code): it looks at /proc only.
"""

import os
import threading
import time

from ..node import nodeinfo

DEFAULT_INTERVAL = 300
MAX_PROC_ENTRIES = 50000


class Heartbeat(object):
    def __init__(self, logger, result, runner, work_dir, interval, started=None):
        self.logger = logger
        self.result = result
        self.runner = runner
        self.work_dir = work_dir
        self.interval = float(interval)
        self.started = started or time.time()
        self.stopped = False
        self.beats = 0
        self.thread = None

    def start(self):
        if self.interval <= 0:
            return self
        self.thread = threading.Thread(target=self._run, name="pilot-heartbeat")
        self.thread.daemon = True
        self.thread.start()
        return self

    def stop(self):
        self.stopped = True

    def _run(self):
        next_beat = time.time() + self.interval
        while not self.stopped:
            # short sleeps: a stop is seen within a second, and nothing polls 20 times a second
            time.sleep(max(0.0, min(1.0, next_beat - time.time())))
            if self.stopped:
                return
            if time.time() < next_beat:
                continue
            next_beat += self.interval
            if time.time() > next_beat:        # the machine was suspended or very slow
                next_beat = time.time() + self.interval
            try:
                self.beat()
            except Exception:
                pass  # a heartbeat must never disturb the pilot

    def running_command(self):
        for entry in list(self.result.commands):
            if entry.get("status") == "running":
                return entry.get("name")
        return None

    def beat(self):
        """Log one heartbeat if a command runs; return its data (or None)."""
        command = self.running_command()
        if command is None:
            return None
        data = self.sample(command)
        self.beats += 1
        alive = data["agent_alive"]
        child = "no child process" if alive is None else ("child alive (%d processes)" % data["pid_count"]
                                                          if alive else "child gone")
        text = ("heartbeat: %s running; load %.2f, %s MB memory available, %s MB free in the work directory, %s"
                % (command, data["load1"] if data["load1"] is not None else -1, data["memory_available_mb"],
                   data["disk_free_mb"], child))
        self.logger.source(command).event("INFO", text, "heartbeat", None, data)
        return data

    def sample(self, command=None):
        pids = []
        lock = getattr(self.runner, "lock", None)
        if lock is not None:
            with lock:
                pids = [proc.pid for proc in self.runner.running]
        alive = None
        count = 0
        if pids:
            alive = any(process_alive(pid) for pid in pids)
            count = session_processes(pids)
        memory = nodeinfo.mem_info()
        try:
            disk = nodeinfo.free_disk_mb(self.work_dir)
        except (IOError, OSError):
            disk = None
        return {"load1": load1(), "memory_available_mb": int(memory["available_kb"] // 1024),
                "disk_free_mb": disk, "agent_alive": alive, "command": command, "pid_count": count,
                "uptime": round(time.time() - self.started, 1), "interval": self.interval}


def load1():
    try:
        return round(os.getloadavg()[0], 2)
    except (OSError, AttributeError):
        return None


def process_alive(pid):
    """True when pid runs and is not a zombie; never reaps it."""
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    state = _stat_fields(pid)
    return state is None or state[0] not in ("Z", "X")


def _stat_fields(pid):
    """The fields of /proc/<pid>/stat after the command name: (state, ppid, pgrp, session, ...)."""
    text = nodeinfo.read_text("/proc/%d/stat" % pid)
    if not text:
        return None
    return text[text.rfind(")") + 2:].split()


def session_processes(sessions):
    """How many live processes belong to these sessions (the children run with setsid)."""
    wanted = set(str(pid) for pid in sessions)
    count = 0
    try:
        entries = os.listdir("/proc")[:MAX_PROC_ENTRIES]
    except OSError:
        return 0
    for name in entries:
        if not name.isdigit():
            continue
        fields = _stat_fields(int(name))
        if fields and len(fields) > 3 and fields[3] in wanted and fields[0] not in ("Z", "X"):
            count += 1
    return count


def usage(started, jobs=None):
    """Wall time, CPU time (the pilot and its children, from os.times) and peak memory."""
    times = os.times()
    cpu_self = times[0] + times[1]
    cpu_children = times[2] + times[3]
    result = {"wall_seconds": round(time.time() - started, 3),
              "cpu_seconds": round(cpu_self + cpu_children, 3),
              "cpu_self_seconds": round(cpu_self, 3), "cpu_children_seconds": round(cpu_children, 3),
              "max_rss_mb": None, "max_rss_children_mb": None, "jobs": jobs}
    try:
        import resource

        # Linux: kilobytes.  For children: the largest single child, not a sum.
        result["max_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)
        result["max_rss_children_mb"] = round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0, 1)
    except (ImportError, ValueError, OSError):
        pass
    return result
