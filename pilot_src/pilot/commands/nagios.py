"""NagiosProbes: run the probes pilot.json lists; report, never fail the pilot."""

import os
import stat
import time

from ..shims import compat_module
from .base import Command

net = compat_module("net")

PROBE_TIMEOUT = 300
LEVELS = {0: "info", 1: "warning"}


class NagiosProbes(Command):
    """Run each probe of pilot.json NagiosProbes; keep its status and output; PUT it if asked."""

    description = "run the probes listed in pilot.json (NagiosProbes), keep status and output, PUT them if asked"

    def execute(self):
        results = {}
        for probe in self.pp.nagiosProbes:
            results[probe] = self._run_probe(probe)
        self.details["probes"] = results
        if not self.pp.nagiosProbes:
            self.log.info("no probes to run (pilot.json NagiosProbes is empty)")

    def _run_probe(self, probe):
        path = self.path(probe)
        if os.sep in probe or not os.path.isfile(path):
            self.log.error("probe %s: not found in %s" % (probe, self.work_dir))
            outcome = {"exit_code": 2, "status": "error", "output": "probe not found"}
        else:
            mode = os.stat(path).st_mode
            os.chmod(path, mode | stat.S_IXUSR)  # add the bit, never replace the mode
            result = self.run([path], timeout=PROBE_TIMEOUT, capture=True, program=probe)
            status = LEVELS.get(result.returncode, "error")
            outcome = {"exit_code": result.returncode, "status": status, "output": result.stdout[-4000:]}
            getattr(self.log, status)("probe %s: exit code %s" % (probe, result.returncode))
        if self.pp.nagiosPutURL:
            self._put(probe, outcome)
        return outcome

    def _put(self, probe, outcome):
        url = "%s%s/%s" % (self.pp.nagiosPutURL, self.pp.ceName, probe)
        body = "%s %d\n%s" % (outcome["exit_code"], int(time.time()), outcome["output"])
        proxy = self.context.environ.get("X509_USER_PROXY")
        try:
            net.request(url, data=body.encode("utf-8"), method="PUT", certfile=proxy, keyfile=proxy,
                        capath=self.environment().get("X509_CERT_DIR"), timeout=60)
            outcome["sent"] = True
        except net.FetchError as exc:
            self.log.warning("probe %s: cannot PUT the result to %s: %s" % (probe, url, exc))
            outcome["sent"] = False
