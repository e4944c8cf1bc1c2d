"""LaunchAgent: run the JobAgent (or the -x command) in the release environment."""

import re

from ..node import nodeinfo
from .configure import DiracCommand

# The JobAgent's own log line for each job it gets (DIRAC's gLogger format):
#   "2026-11-21 16:07:27 UTC WorkloadManagement/JobAgent INFO: Received JobID=123, JobType=User, ..."
# A job's output is streamed through the agent too, so only the agent's line counts.
RECEIVED_JOB = re.compile(r"WorkloadManagement/JobAgent\s+\w+: Received\W+JobID=(\d+)")
# Its line when it stops before MaxCycles (JobAgent._finish), and the failed payload before it:
#   '... JobAgent INFO: JobAgent will stop with message "Error during a payload execution", execution complete.'
#   '... JobAgent INFO: Payload execution failed with error code 1'
AGENT_STOP = re.compile(r'WorkloadManagement/JobAgent\s+\w+: JobAgent will stop with message "(.*)", '
                        r'execution complete')
PAYLOAD_FAILED = re.compile(r"WorkloadManagement/JobAgent\s+\w+: Payload execution failed with error code (-?\d+)")
# The stops that end a pilot normally; any other (a failed payload with StopOnApplicationFailure,
# a matcher error such as a version mismatch) means the slot was given up because of a failure.
NORMAL_STOPS = ("Nothing to do for more than", "No more time left", "Filling Mode is Disabled",
                "Node is being drained by an operator")
AGENT_GRACE = 60.0  # seconds the JobAgent gets to stop its payload after a signal


class LaunchAgent(DiracCommand):
    """Run dirac-agent WorkloadManagement/JobAgent (or the -x command) and map its end."""

    description = "run dirac-agent WorkloadManagement/JobAgent (or -x) with DIRAC's options; map its end"
    failure_type = "agent"
    phase = "Running"

    def execute(self):
        env = dict(self.environment())
        env["PYTHONUNBUFFERED"] = "yes"
        if self.pp.executeCmd:
            return self._execute_command(env)
        jobs, stops, payload_codes = [], [], []

        def watch(stream, line):
            for pattern, found in ((RECEIVED_JOB, jobs), (AGENT_STOP, stops), (PAYLOAD_FAILED, payload_codes)):
                match = pattern.search(line)
                if match:
                    found.append(match.group(1))

        args = ["dirac-agent", "WorkloadManagement/JobAgent"] + self.agent_options() + self.ce_options()
        self.log.info("starting the JobAgent")
        result = self.run(args, env=env, grace=AGENT_GRACE, on_line=watch, program="JobAgent")
        self.details.update({"exit_code": result.returncode, "jobs": len(jobs), "job_ids": jobs,
                             "agent_seconds": round(result.duration, 3), "stop": stops[-1] if stops else None})
        if not result.ok:
            self.fail("the JobAgent failed: %s" % result.describe(), exit_code=result.returncode)
        if stops and not stops[-1].startswith(NORMAL_STOPS):
            self.fail("the JobAgent stopped%s: %s%s" % (
                " after job %s" % jobs[-1] if jobs else "", stops[-1][:200],
                " (payload exit code %s)" % payload_codes[-1] if payload_codes else ""), exit_code=result.returncode)
        free = nodeinfo.free_disk_mb(self.work_dir)
        self.log.info("JobAgent finished normally after %d job(s); %d MB free in %s"
                      % (len(jobs), free, self.work_dir))

    def agent_options(self):
        """JobAgent options (relative -o go to the agent's own section)."""
        pp = self.pp
        if (pp.ceType or "").startswith("Pool"):
            values = [("MaxCycles", 5000), ("PollingTime", min(20, pp.pollingTime)),
                      ("StopOnApplicationFailure", False),
                      ("StopAfterFailedMatches", max(pp.pilotProcessors, pp.stopAfterFailedMatches)),
                      ("FillingModeFlag", True)]
        else:
            values = [("MaxCycles", pp.maxCycles), ("PollingTime", pp.pollingTime),
                      ("StopOnApplicationFailure", pp.stopOnApplicationFailure),
                      ("StopAfterFailedMatches", pp.stopAfterFailedMatches)]
        values.append(("LogLevel", "DEBUG" if pp.debugFlag else "INFO"))
        args = []
        for name, value in values:
            args += ["-o", "%s=%s" % (name, value)]
        return args

    def ce_options(self):
        """Inner-CE options: -s switches the base section to CEDefaults."""
        pp = self.pp
        args = ["-s", "/Resources/Computing/CEDefaults", "-o", "WorkingDirectory=%s" % self.work_dir,
                "-o", "/LocalSite/CPUTime=%d" % int(pp.jobCPUReq)]
        if pp.userGroup:
            args += ["-o", "OwnerGroup=%s" % pp.userGroup]
        if pp.userDN:
            args += ["-o", "OwnerDN=%s" % pp.userDN]
        args += self.cert_options()
        args += ["-o", "/LocalSite/InstancePath=%s" % self.work_dir,
                 "-o", "/AgentJobRequirements/ExtraOptions=%s" % pp.localConfigFile,
                 "--cfg", pp.localConfigFile]
        return args

    def _execute_command(self, env):
        # -x is, by definition, a shell command line written by the administrator.
        self.log.info("running the -x command instead of the JobAgent: %s" % self.pp.executeCmd)
        result = self.run(["/bin/bash", "-c", self.pp.executeCmd], env=env, grace=AGENT_GRACE, program="-x")
        self.details["exit_code"] = result.returncode
        if not result.ok:
            self.fail("the -x command failed: %s" % result.describe(), exit_code=result.returncode)
