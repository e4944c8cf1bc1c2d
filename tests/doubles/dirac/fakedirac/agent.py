"""dirac-agent WorkloadManagement/JobAgent of the test double.

Exit status, as DIRAC's dirac-agent: 0 for every normal end (jobs run, nothing
matched, drained, no time left, payload failure), 1 for a configuration load
error, 2 for an agent module that cannot be loaded.  A handled SIGTERM, SIGINT
or SIGHUP ends the process by that same signal after the clean-up (a shell sees
128+N, Python's subprocess -N).  README.md gives the whole contract.
"""

import os
import signal
import socket
import subprocess
import sys
import threading
import time

from . import _release, server
from .cfg import CFG, CFGError, to_bool
from .script import Script, server_dir

AGENT = "WorkloadManagement/JobAgent"
SYSTEMS = "/Systems/%s/Agents/%s"
CE_TYPES = ("InProcess", "Pool", "Singularity", "Sudo")
DRAIN_FILE = "/var/lib/dirac_drain"
MAX_OUTPUT = 1024 * 1024

# The keys the double insists on, each given as alternatives.
REQUIRED = [
    ("/DIRAC/Setup",),
    ("/DIRAC/Configuration/Servers",),
    ("/LocalSite/Site",),
    ("/LocalSite/GridCE",),
    ("/LocalSite/CEQueue",),
    ("/LocalSite/Architecture",),
    ("/LocalSite/CPUTimeLeft", "/LocalSite/CPUTime"),
    ("/LocalSite/InstancePath",),
]


def agent_section(name):
    system, _sep, agent = name.partition("/")
    return SYSTEMS % (system, agent or system)


class Stop(Exception):
    pass


class JobAgent(object):
    def __init__(self, script):
        self.s = script
        self.cfg = script.cfg
        self.log = script.log
        self.section = script.agent_section
        self.signalled = None
        self.payload = None
        self.stopping = None
        self.job_count = 0
        self.match_failed = 0
        self.init_times = os.times()
        self.server = server_dir(self.cfg)

    # -- options -----------------------------------------------------------
    def opt(self, name, default=None):
        return self.cfg.get_option("%s/%s" % (self.section, name), default)

    def opt_number(self, name, default, kind=float):
        value = self.opt(name)
        if value is None:
            return default
        try:
            return kind(float(value))
        except ValueError:
            return default

    def opt_bool(self, name, default):
        return to_bool(self.opt(name), default)

    def initialize(self):
        cfg = self.cfg
        local_ce = cfg.get_option("/LocalSite/LocalCE", "InProcess")
        if local_ce != "InProcess":
            self.log.info("Defining Inner CE from local configuration", "= %s" % local_ce)
        self.ce_type = local_ce.split("/")[0]
        self.inner_type = local_ce.split("/")[1] if len(local_ce.split("/")) == 2 else "InProcess"
        if self.ce_type not in CE_TYPES:
            self.log.warn("Can't instantiate a CE", "Can not find CE type %s" % self.ce_type)
            return "Failed to initialize the agent: unknown CE type %s" % local_ce
        if self.ce_type != "InProcess":
            self.log.info("Test double: %s CE runs its payloads one at a time, in process" % local_ce)
        self.max_cycles = self.opt_number("MaxCycles", 500, int)
        self.polling = self.opt_number("PollingTime", 120.0)
        self.filling = self.opt_bool("FillingModeFlag", False)
        self.stop_on_failure = self.opt_bool("StopOnApplicationFailure", True)
        self.stop_after_failed = self.opt_number("StopAfterFailedMatches", 10, int)
        self.minimum_time_left = self.opt_number("MinimumTimeLeft", 5000.0)
        self.submission_delay = self.opt_number("SubmissionDelay", 0.0)
        self.cpu_factor = cfg.get_number("/LocalSite/CPUNormalizationFactor", 0.0)
        init = cfg.get_number("/LocalSite/CPUTime", 0.0) or cfg.get_number("/LocalSite/CPUTimeLeft", 0.0)
        self.init_time_left = cfg.get_number("/Resources/Computing/CEDefaults/MaxCPUTime", init) or init
        self.time_left = self.init_time_left
        self.site = cfg.get_option("/LocalSite/Site", "Unknown")
        self.grid_ce = cfg.get_option("/LocalSite/GridCE", "")
        self.queue = cfg.get_option("/LocalSite/CEQueue", "")
        self.pilot_reference = cfg.get_option("/LocalSite/PilotReference", "Unknown")
        self.stamp = os.environ.get("DIRAC_PILOT_STAMP", "")
        self.extra_options = cfg.get_option("/AgentJobRequirements/ExtraOptions", "")
        self.workdir = cfg.get_option("/Resources/Computing/CEDefaults/WorkingDirectory") or os.getcwd()
        self.processors = cfg.get_number("/Resources/Computing/CEDefaults/NumberOfProcessors", 1, int)
        self.drain_file = os.environ.get("FAKE_DIRAC_DRAIN_FILE", DRAIN_FILE)
        self.log.info(
            "Options",
            "MaxCycles=%s PollingTime=%s FillingModeFlag=%s StopOnApplicationFailure=%s "
            "StopAfterFailedMatches=%s MinimumTimeLeft=%s CEType=%s"
            % (
                self.max_cycles,
                self.polling,
                self.filling,
                self.stop_on_failure,
                self.stop_after_failed,
                self.minimum_time_left,
                local_ce,
            ),
        )
        self.log.info(
            "Initial CPU work left", "%s HS06s (CPUNormalizationFactor %s)" % (self.init_time_left, self.cpu_factor)
        )
        return None

    # -- signals -----------------------------------------------------------
    def install_signals(self):
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, self._on_signal)

    def _on_signal(self, signum, _frame):
        if self.signalled is None:
            self.signalled = signum
        payload = self.payload
        if payload is not None and payload.poll() is None:
            try:
                os.killpg(payload.pid, signum)
            except OSError:
                pass
            grace = float(os.environ.get("FAKE_DIRAC_KILL_GRACE", "5"))

            def escalate():
                if payload.poll() is None:
                    try:
                        os.killpg(payload.pid, signal.SIGKILL)
                    except OSError:
                        pass

            timer = threading.Timer(grace, escalate)
            timer.daemon = True
            timer.start()

    def sleep(self, seconds):
        end = time.time() + max(0.0, seconds)
        while time.time() < end:
            if self.signalled:
                return
            time.sleep(min(0.1, max(0.0, end - time.time())))

    # -- the cycle -----------------------------------------------------------
    def finish(self, message):
        self.log.info("JobAgent will stop", 'with message "%s", execution complete.' % message)
        self.stopping = message
        raise Stop(message)

    def ce_dict(self):
        cfg = self.cfg
        tags = []
        for path in ("/Resources/Computing/CEDefaults/Tag", "/LocalSite/Tag"):
            for tag in cfg.get_list(path):
                if tag not in tags:
                    tags.append(tag)
        required = []
        for path in ("/Resources/Computing/CEDefaults/RequiredTag", "/LocalSite/RequiredTag"):
            for tag in cfg.get_list(path):
                if tag not in required:
                    required.append(tag)
        ce = {
            "Site": self.site,
            "GridCE": self.grid_ce,
            "Queue": self.queue,
            "CPUTime": self.time_left,
            "Tag": tags,
            "RequiredTag": required,
            "PilotReference": self.pilot_reference,
            "PilotBenchmark": self.cpu_factor,
            "NumberOfProcessors": self.processors,
            "Platform": cfg.get_option("/LocalSite/Architecture", ""),
            "ReleaseVersion": cfg.get_option("/LocalSite/ReleaseVersion", ""),
        }
        requirements = cfg.options_dict("/AgentJobRequirements")
        if requirements:
            ce.update(requirements)
            self.log.info("Requirements:", dict(requirements))
        return ce

    def cpu_work_left(self):
        consumed = sum(os.times()[:-1]) - sum(self.init_times[:-1])
        if self.cpu_factor:
            return self.init_time_left - consumed * self.cpu_factor
        return self.time_left

    def update_extra_options(self, value):
        """As the real JobAgent: write /LocalSite/CPUTimeLeft into the ExtraOptions cfg."""
        if not self.extra_options:
            return
        path = os.path.join(".", self.extra_options)
        if not os.path.isfile(path):
            return
        try:
            cfg = CFG.from_file(path)
            cfg.set_option("/LocalSite/CPUTimeLeft", str(int(value)))
            cfg.write_file(path)
        except (IOError, OSError, CFGError) as exc:
            self.log.warn("Cannot update %s: %s" % (path, exc))

    def execute(self):
        if os.path.exists(self.drain_file):
            self.finish("Node is being drained by an operator")
        self.log.verbose("Job Agent execution loop")
        if self.job_count:
            left = self.cpu_work_left()
            self.log.info("Attempting to check CPU time left for filling mode")
            if not self.filling:
                self.finish("Filling Mode is Disabled")
            self.log.info("normalized CPU units remaining in slot", left)
            if left <= self.minimum_time_left:
                self.finish("No more time left")
            self.time_left = left
            self.update_extra_options(left)
        ce = self.ce_dict()
        start = time.time()
        job, issue = None, None
        if not self.server or not os.path.isdir(self.server):
            issue = "Cannot contact the Matcher: no reachable file:// configuration server (%s)" % (
                self.cfg.get_option("/DIRAC/Configuration/Servers")
            )
        else:
            try:
                job = server.claim_job(self.server, ce)
            except (IOError, OSError) as exc:
                issue = "Matcher error: %s" % exc
            if job is None and issue is None:
                issue = "No match found"
        self.log.info("MatcherTime", "= %.2f (s)" % (time.time() - start))
        if job is None:
            self.s.cfg.set_option("%s/PollingTime" % self.section, str(int(self.polling * 1.5)))
            self.polling = int(self.polling * 1.5)
            if issue == "No match found":
                self.log.notice("Job request OK, but no match found", ": %s" % issue)
            else:
                self.log.notice("Failed to get jobs", ": %s" % issue)
            self.match_failed += 1
            if self.match_failed > self.stop_after_failed:
                self.finish("Nothing to do for more than %d cycles" % self.stop_after_failed)
            return
        self.match_failed = 0
        job_id = job.get("JobID")
        self.log.info(
            "Received",
            "JobID=%s, JobType=%s, OwnerDN=%s, JobGroup=%s"
            % (job_id, job.get("JobType", "Unknown"), job.get("OwnerDN", ""), job.get("OwnerGroup", "")),
        )
        self.job_count += 1
        result = self.run_payload(job)
        server.finish_job(self.server, job, result)
        self.log.info("Job submitted", "(DIRAC JobID: %s; Batch ID: %s" % (job_id, result.get("BatchID")))
        if self.signalled:
            return
        if result["ExitCode"] != 0:
            message = "Payload execution failed with error code %s" % result["ExitCode"]
            if self.stop_on_failure:
                self.finish(message)
            self.log.info(message)
        if self.submission_delay:
            self.sleep(self.submission_delay)

    def run_payload(self, job):
        job_id = str(job.get("JobID"))
        workdir = os.path.join(self.workdir, job_id)
        if not os.path.isdir(workdir):
            os.makedirs(workdir)
        env = dict(os.environ)
        env.update(
            {
                "DIRACJOBID": job_id,
                "JOBID": job_id,
                "DIRACSITE": self.site,
                "DIRAC_JOB_PROCESSORS": str(job.get("NumberOfProcessors", 1)),
            }
        )
        for key, value in (job.get("Environment") or {}).items():
            env[str(key)] = str(value)
        command = [str(job.get("Executable", "/bin/true"))] + [str(a) for a in job.get("Arguments") or []]
        self.log.info("Submitting JobWrapper", "%s to %sCE" % ("Wrapper_%s" % job_id, self.ce_type))
        result = {
            "Site": self.site,
            "GridCE": self.grid_ce,
            "CEQueue": self.queue,
            "CEType": self.ce_type,
            "PilotStamp": self.stamp,
            "PilotReference": self.pilot_reference,
            "Host": socket.gethostname(),
            "WorkingDirectory": workdir,
            "StartTime": server.now(),
            "Release": _release.VERSION,
        }
        output = bytearray()
        out = getattr(sys.stdout, "buffer", None)
        sys.stdout.flush()
        try:
            proc = subprocess.Popen(
                command,
                cwd=workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            self.log.error("Error in DIRAC JobWrapper or inner CE execution:", "%s: %s" % (command[0], exc))
            result.update(
                {
                    "ExitCode": 127,
                    "Status": "Failed",
                    "MinorStatus": "Application not found",
                    "Output": str(exc),
                    "EndTime": server.now(),
                    "BatchID": None,
                }
            )
            return result
        self.payload = proc
        result["BatchID"] = proc.pid
        if self.signalled:  # signal arrived between claim and start
            self._on_signal(self.signalled, None)
        for line in iter(proc.stdout.readline, b""):
            if out is not None:
                out.write(line)
                out.flush()
            else:  # pragma: no cover
                sys.stdout.write(line.decode("utf-8", "replace"))
                sys.stdout.flush()
            if len(output) < MAX_OUTPUT:
                output.extend(line[: MAX_OUTPUT - len(output)])
        proc.stdout.close()
        rc = proc.wait()
        self.payload = None
        if self.signalled:
            status, minor = "Killed", "Payload killed: JobAgent received signal %d" % self.signalled
        elif rc == 0:
            status, minor = "Done", "Execution Complete"
        else:
            status, minor = "Failed", "Application Finished With Errors"
        result.update(
            {
                "ExitCode": rc,
                "Status": status,
                "MinorStatus": minor,
                "Output": output.decode("utf-8", "replace"),
                "EndTime": server.now(),
            }
        )
        return result

    # -- end -----------------------------------------------------------------
    def pilot_record(self):
        if not self.server or not os.path.isdir(self.server):
            return None, None
        ref = self.pilot_reference if self.pilot_reference != "Unknown" else None
        f, record = server.find_pilot(self.server, reference=ref, stamp=self.stamp or None)
        if record is None:
            self.log.warn(
                "Issue setting the pilot status",
                "pilot %s not registered (test double creates the record)" % (ref or self.stamp),
            )
            f, record = server.add_pilot(self.server, ref or "Unknown", "", "Unknown", self.stamp or ref)
        return f, record

    def finalize(self):
        f, record = self.pilot_record()
        if record is None:
            self.log.warn("Issue setting the pilot status", "no reachable file:// configuration server")
            return
        server.set_pilot(
            f,
            record,
            "Done",
            source="Report from JobAgent",
            GridCE=self.grid_ce,
            Queue=self.queue,
            DestinationSite=self.site,
            Jobs=self.job_count,
            StopReason=self.stopping or "MaxCycles reached",
        )

    def stopped_by_signal(self):
        signum = self.signalled
        self.log.warn("Received signal %d" % signum, "stopping the JobAgent, pilot left as it is (not finalized)")
        f, record = self.pilot_record()
        if record is not None:
            server.set_pilot(
                f,
                record,
                None,
                Stopped=True,
                StopSignal=signum,
                StopReason="JobAgent killed by signal %d" % signum,
                StopTime=server.now(),
            )
        sys.stdout.flush()
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        time.sleep(1)
        return 128 + signum

    def go(self):
        cycle = 0
        while True:
            cycle += 1
            self.log.info("Starting cycle", "%d for module %s" % (cycle, AGENT))
            try:
                self.execute()
            except Stop:
                break
            if self.signalled:
                break
            if 0 < self.max_cycles <= cycle:
                self.log.info("Max number of cycles reached", "(%d)" % self.max_cycles)
                break
            self.sleep(self.polling)
            if self.signalled:
                break
        if self.signalled:
            return self.stopped_by_signal()
        self.finalize()
        return 0


def main(argv=None):
    s = Script(
        "dirac-agent", description="\n  Start a DIRAC agent\n", component_type="agent", mandatory=["/DIRAC/Setup"]
    )
    s.section_hook = lambda args: agent_section(args[0]) if args else "/"
    s.parse(argv, ignore_errors=False)
    if not s.positional:
        s.log.fatal("You must specify which agent to run!")
        return 1
    name = s.positional[0]
    s.agent_section = agent_section(name)
    s.log.component = name
    s.log.headers = True
    s.cfg.set_default("/DIRAC/Security/UseServerCertificate", "yes")
    s.cfg.set_default("%s/LogLevel" % s.agent_section, "INFO")
    if not s.debug:
        s.log.set_level(s.cfg.get_option("%s/LogLevel" % s.agent_section, "INFO"))
    log = s.log
    log.info("Starting %s (DIRAC test double %s%s)" % (name, _release.PROJECT, _release.VERSION))
    log.verbose("Agent section", s.agent_section)
    if name != AGENT:
        log.error(
            "Error while loading agent module",
            "Can't load agent %s in root modules: the test double only provides %s" % (name, AGENT),
        )
        return 2
    missing = [" or ".join(alts) for alts in REQUIRED if all(s.cfg.get_option(p) is None for p in alts)]
    if missing:
        log.error("Cannot load configuration", "missing " + ", ".join(missing))
        return 1
    if to_bool(s.cfg.get_option("/LocalSite/FakeJobAgentCrash"), False):
        raise RuntimeError("JobAgent crashed on purpose (test hook /LocalSite/FakeJobAgentCrash)")
    agent = JobAgent(s)
    error = agent.initialize()
    if error:
        log.error("Error while loading agent module", error)
        return 2
    agent.install_signals()
    return agent.go()
