"""CheckWorkerNode: is this node usable, and what is it?"""

import os
import pwd

from ..config import credentials
from ..node import nodeinfo
from .base import Command

CVMFS_PROBE_SECONDS = 60


class CheckWorkerNode(Command):
    """Log the node (host, OS, Python, CPU, memory, CVMFS) and check disk and work directory."""

    description = ("log host, OS, Python, CPU, memory and CVMFS; check free disk (-D), a writable "
                   "work dir and the proxy or host certificate")
    failure_type = "node"

    def execute(self):
        log = self.log
        hostname, fqdn = nodeinfo.host_names()
        log.info("Host: %s (FQDN %s), uname: %s" % (hostname, fqdn or "unknown", " ".join(os.uname())))
        log.info("User: %s (uid %d), work directory: %s" % (_user_name(), os.getuid(), self.work_dir))
        log.info("Python: %s" % nodeinfo.python_description())
        system = nodeinfo.os_description()
        log.info("OS: %s" % system)
        cpu = nodeinfo.cpu_info()
        log.info("CPU: %s, %d logical processor(s), %s MHz" % (cpu["model"], cpu["count"], cpu["mhz"]))
        memory = nodeinfo.mem_info()
        log.info("Memory: %d MB total, %d MB available"
                 % (memory["total_kb"] // 1024, memory["available_kb"] // 1024))
        self.details.update({"hostname": fqdn or hostname, "os": system, "cpu_model": cpu["model"],
                             "cpus": cpu["count"], "memory_mb": memory["total_kb"] // 1024,
                             "python": nodeinfo.python_description()})
        self._check_cvmfs()
        self._check_work_dir()
        self._check_credentials()

    def _check_cvmfs(self):
        states = {}
        for location in self.pp.CVMFS_locations:
            state, entries = nodeinfo.probe_directory(location, CVMFS_PROBE_SECONDS)
            states[location] = state
            if state == "visible":
                self.log.info("CVMFS %s: visible (%d entries)" % (location, entries))
            else:
                self.log.info("CVMFS %s: %s" % (location, state))
        self.details["cvmfs"] = states

    def _check_work_dir(self):
        problem = nodeinfo.check_writable(self.work_dir)
        if problem:
            self.fail("work directory %s is not writable: %s" % (self.work_dir, problem))
        free = nodeinfo.free_disk_mb(self.work_dir)
        self.details["disk_free_mb"] = free
        self.details["disk_needed_mb"] = self.pp.minDiskSpace
        if free < self.pp.minDiskSpace:
            self.fail("only %d MB free in %s, %d MB needed (-D/--disk)"
                      % (free, self.work_dir, self.pp.minDiskSpace))
        self.log.info("Disk: %d MB free in %s (%d MB needed)" % (free, self.work_dir, self.pp.minDiskSpace))


    def _check_credentials(self):
        """The proxy (or host certificate): present, readable, with a key, not expired."""
        if self.pp.useServerCertificate:
            cert, key = credentials.host_credential_paths(self.pp.certsLocation)
            kind = "host certificate"
        else:
            cert = key = self.context.environ.get("X509_USER_PROXY")
            kind = "proxy"
            if not cert:
                self.log.warning("no credentials: $X509_USER_PROXY is not set and --cert was not given")
                self.details["credentials"] = None
                return
        try:
            credential = credentials.load(cert, key_path=key if key != cert else None,
                                          openssl_dates=credentials.OpensslDates(self._openssl))
        except credentials.CredentialError as exc:
            self.fail("%s unusable: %s" % (kind, exc), "credentials")
        if not credential.has_key:
            self.fail("%s %s: no private key found" % (kind, key), "credentials")
        left = credential.seconds_left()
        self.details["credentials"] = {"kind": kind, "path": cert, "subject": credential.subject,
                                       "seconds_left": int(left), "vo": credential.vo,
                                       "fqans": credential.fqans}
        if left <= 0:
            self.fail("%s %s expired %s ago (%s)" % (kind, cert, credentials.describe_duration(-left),
                                                    credential.subject), "credentials")
        self.log.info("%s %s: %s, valid for %s, VO %s" % (kind, cert, credential.subject,
                                                          credentials.describe_duration(left),
                                                          credential.vo or "none (no VOMS extension)"))
        if left < 3600:
            self.log.warning("%s expires in %s" % (kind, credentials.describe_duration(left)))
        if credential.fqans:
            self.log.info("VOMS attributes: %s" % ", ".join(credential.fqans))

    def _openssl(self, args):
        result = self.run(args, capture=True, timeout=30)
        return result.returncode, result.stdout


def _user_name():
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return "unknown"
