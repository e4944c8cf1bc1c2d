"""The commands that write pilot.cfg, the configuration the JobAgent reads.

ConfigureBasics creates pilot.cfg with the release's ``dirac-configure``
(DIRAC's own logic: CAs, VOMS, the CS), and RegisterPilot,
CheckCECapabilities and ConfigureArchitecture ask the release's scripts what
only DIRAC knows.  Keys that need no DIRAC logic are written natively into
pilot.cfg (one process start instead of a dirac-configure run each), with
exactly the names DIRAC's commands give them.
"""

import json
import os
import platform
import re

from ..shims import compat
from ..node import batchsystem
from ..config.cfg import CFG, CFGError
from .base import Command

ARCHITECTURE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
# DIRAC's line when no configuration server answered.  The script then fails on a key it could
# not read ("Path /Resources/Sites/... does not exist"), which hides the cause.
CS_UNREACHABLE = re.compile(r"Can't update from (?:any |controller )?server:?\s*(.+)$")


def dirac_failure(result):
    """(reason, failure type or None) of a failed release script; an unreachable CS first."""
    for line in reversed(result.tail):
        match = CS_UNREACHABLE.search(line)
        if match:
            cause = match.group(1).strip()
            kind = "credentials" if "proxy" in cause.lower() else None
            return "no configuration server answered: %s" % cause[:300], kind
    return result.describe(), None


class DiracCommand(Command):
    """Shared by the commands that talk to the release or write pilot.cfg."""

    failure_type = "configure"
    phase = "Configuring"

    @property
    def cfg_path(self):
        return self.path(self.pp.localConfigFile)

    def cert_options(self):
        """DIRAC's [cert] for scripts other than dirac-configure."""
        if self.pp.useServerCertificate:
            return ["-o", "/DIRAC/Security/UseServerCertificate=yes"]
        return []

    def debug_options(self):
        return ["-ddd"] if self.pp.debugFlag else []

    def run_dirac(self, args, what=None, **kwargs):
        """Run a release script; a failure stops the pilot with the script's reason."""
        result = self.run(args, **kwargs)
        if not result.ok:
            reason, failure_type = dirac_failure(result)
            self.fail("%s: %s" % (what or args[0], reason), failure_type, exit_code=result.returncode)
        return result

    def load_cfg(self):
        if not os.path.exists(self.cfg_path):
            self.fail("%s does not exist: ConfigureBasics must run first" % self.cfg_path)
        try:
            return CFG.load(self.cfg_path)
        except (CFGError, IOError, OSError) as exc:
            self.fail("cannot read %s: %s" % (self.cfg_path, exc))

    def write_cfg(self, values):
        """Set {'/Section/Name': value} in pilot.cfg (natively) and log what changed."""
        cfg = self.load_cfg()
        try:
            for path in sorted(values):
                cfg.set(path, values[path])
                self.log.debug("pilot.cfg %s = %s" % (path, cfg.get(path)))
            cfg.save(self.cfg_path)
        except (CFGError, IOError, OSError) as exc:
            self.fail("cannot update %s: %s" % (self.cfg_path, exc))
        self.log.info("pilot.cfg: %s" % ", ".join("%s=%s" % (path, cfg.get(path)) for path in sorted(values)))
        self.details.setdefault("cfg", {}).update(dict((path, cfg.get(path)) for path in values))


class ConfigureBasics(DiracCommand):
    """Create pilot.cfg with dirac-configure: setup, CS, version, VO, credentials."""

    description = "create pilot.cfg with dirac-configure (setup, CS, version, VO, credentials); detect the batch system"

    def execute(self):
        where = batchsystem.detect(self.context.environ, self.pp.ceName, self.pp.pilotUUID)
        self.pp.flavour = where.flavour
        if not self.pp.pilotReference:
            self.pp.pilotReference = where.reference or self.pp.pilotUUID
        self.pp.batchSystemInfo = where.batch
        self.pp.localSiteExtra = where.extra
        self.log.info("flavour %s, pilot reference %s, batch system %s (job %s)"
                      % (where.flavour, self.pp.pilotReference, where.batch["Type"], where.batch["JobID"]))
        self.details["where"] = where.as_dict()
        self.run_dirac(self.arguments(), "dirac-configure")
        env = self.environment()
        env["DIRACSYSCONFIG"] = self.cfg_path
        link = self.path("etc", "dirac.cfg")
        if not os.path.lexists(link):
            if not os.path.isdir(self.path("etc")):
                os.mkdir(self.path("etc"))
            os.symlink(os.path.join("..", self.pp.localConfigFile), link)
        self.log.info("pilot.cfg written: %s" % self.cfg_path)

    def arguments(self):
        pp = self.pp
        args = ["dirac-configure", "-S", pp.setup]
        if pp.configServer:
            args += ["-C", ",".join(pp.configServer)]
        if pp.preferredURLPatterns:
            args += ["-o", "/DIRAC/PreferredURLPatterns=%s" % ",".join(pp.preferredURLPatterns)]
        if pp.releaseProject:
            args += ["-e", pp.releaseProject, "-o", "/LocalSite/ReleaseProject=%s" % pp.releaseProject]
        if pp.gateway:
            args += ["-W", pp.gateway]
        if pp.userGroup:
            args += ["-o", "/AgentJobRequirements/OwnerGroup=%s" % pp.userGroup]
        if pp.userDN:
            args += ["-o", "/AgentJobRequirements/OwnerDN=%s" % pp.userDN]
        args += ["-o", "/LocalSite/ReleaseVersion=%s" % pp.releaseVersion]
        args += ["-o", "/LocalSite/CVMFS_locations=%s" % ",".join(pp.CVMFS_locations)]
        if pp.wnVO:
            args += ["-o", "/Resources/Computing/CEDefaults/VirtualOrganization=%s" % pp.wnVO]
        if pp.useServerCertificate:
            cert = os.path.join(pp.certsLocation, "hostcert.pem")
            key = os.path.join(pp.certsLocation, "hostkey.pem")
            args += ["--UseServerCertificate", "-o", "/DIRAC/Security/CertFile=%s" % cert,
                     "-o", "/DIRAC/Security/KeyFile=%s" % key]
        if pp.preinstalled:
            args += ["-D", "-M", "-H"]
        args += self.debug_options()
        args += ["-O", pp.localConfigFile]
        return args


class RegisterPilot(DiracCommand):
    """Register this pilot as Running (self-started pilots); a failure is only logged."""

    description = "register this pilot as Running with dirac-admin-add-pilot (failure only logged)"

    def execute(self):
        if not self.pp.pilotReference:
            self.log.info("no pilot reference: nothing to register")
            self.details["registered"] = False
            return
        vo = self.pp.wnVO or self.pp.jsonVO
        args = ["dirac-admin-add-pilot", self.pp.pilotReference, vo, self.pp.flavour, self.pp.pilotUUID,
                "--status=Running"] + self.cert_options() + ["--cfg", self.pp.localConfigFile, "-d"]
        result = self.run(args)
        self.details["registered"] = result.ok
        if result.ok:
            self.log.info("pilot %s registered as Running" % self.pp.pilotReference)
        else:
            self.log.warning("pilot not registered (going on): %s" % dirac_failure(result)[0])


class CheckCECapabilities(DiracCommand):
    """Ask DIRAC for the CE/queue description; keep its tags and parameters."""

    description = "get the queue description (tags, parameters) with dirac-resource-get-parameters"

    def execute(self):
        args = (["dirac-resource-get-parameters", "-S", self.pp.site, "-N", self.pp.ceName,
                 "-Q", self.pp.queueName] + self.cert_options() + ["--cfg", self.pp.localConfigFile, "-d"])
        result = self.run_dirac(args, "dirac-resource-get-parameters", capture=True)
        line = result.last_line()
        try:
            description = json.loads(line)
        except ValueError:
            self.fail("dirac-resource-get-parameters did not end with JSON: '%s'" % line[:120])
        if not isinstance(description, dict):
            self.fail("dirac-resource-get-parameters gave %s, not an object" % type(description).__name__)
        self.pp.queueParameters = description
        if "WholeNode" in description:
            self._add(self.pp.tags, ["WholeNode"])
        self._add(self.pp.tags, _as_list(description.get("Tag")))
        self._add(self.pp.reqtags, _as_list(description.get("RequiredTag")))
        if not self.pp.maxNumberOfProcessors:
            value = description.get("MaxNumberOfProcessors", description.get("NumberOfProcessors", 0))
            self.pp.maxNumberOfProcessors = _as_int(value)
        values = {}
        for key, value in description.items():
            if key in ("Tag", "RequiredTag"):
                continue
            values["/LocalSite/%s" % key] = value
        self.details["queue"] = description
        if values:
            self.write_cfg(values)
        self.log.info("tags: %s; required tags: %s" % (", ".join(self.pp.tags) or "none",
                                                       ", ".join(self.pp.reqtags) or "none"))

    @staticmethod
    def _add(target, items):
        for item in items:
            if item not in target:
                target.append(item)


class ConfigureSite(DiracCommand):
    """Write the site, CE, queue, batch system and every -o option into pilot.cfg."""

    description = "write site, CE, queue, batch system, pilot reference and the -o options into pilot.cfg"

    def execute(self):
        pp = self.pp
        if not pp.site:
            # Only DIRAC knows the site of a CE that pilot.json does not list.
            self.run_dirac(["dirac-configure", "-N", pp.ceName] + self._cert() + ["-F", "-D", "-M", "-H",
                           "--cfg", pp.localConfigFile, "-O", pp.localConfigFile] + self.debug_options(),
                           "dirac-configure -N")
        batch = pp.batchSystemInfo or batchsystem.Where().batch
        values = {
            "/LocalSite/GridMiddleware": pp.flavour,
            "/LocalSite/BatchSystemInfo/Type": batch["Type"],
            "/LocalSite/BatchSystemInfo/JobID": batch["JobID"],
            "/LocalSite/BatchSystemInfo/Parameters/Queue": batch["Queue"],
            "/LocalSite/BatchSystemInfo/Parameters/BinaryPath": batch["BinaryPath"],
            "/LocalSite/BatchSystemInfo/Parameters/Host": batch["Host"],
            "/LocalSite/BatchSystemInfo/Parameters/InfoPath": batch["InfoPath"],
            "/LocalSite/GridCE": pp.ceName,
            "/LocalSite/CEQueue": pp.queueName,
            "/LocalSite/PilotReference": pp.pilotReference or pp.pilotUUID,
        }
        if pp.site:
            values["/LocalSite/Site"] = pp.site
            values["/LocalInstallation/SiteName"] = pp.site  # DIRAC's dirac-configure -n writes it
        if pp.ceName:
            values["/LocalInstallation/CEName"] = pp.ceName  # ... and -N this one
        if pp.setup:
            values["/DIRAC/Setup"] = pp.setup
        if pp.ceType:
            values["/LocalSite/LocalCE"] = pp.ceType
        for key, value in (getattr(pp, "localSiteExtra", None) or {}).items():
            values["/LocalSite/%s" % key] = value
        for path, value in pp.cfgOptions:
            if not path.startswith("/"):
                self.log.warning("-o %s=%s ignored: not an absolute cfg path" % (path, value))
                continue
            values[path] = value
        for flag in pp.pilotFlags:
            self.log.info("-o %s is a pilot flag, not written to pilot.cfg" % flag)
        self.write_cfg(values)

    def _cert(self):
        return ["--UseServerCertificate"] if self.pp.useServerCertificate else []


class ConfigureArchitecture(DiracCommand):
    """Ask the release's platform script for the architecture; write it into pilot.cfg."""

    description = "run dirac-platform (or --architectureScript) and write /LocalSite/Architecture and Platform"

    def execute(self):
        architecture = self.architecture()
        if not ARCHITECTURE.match(architecture) or architecture.upper().startswith("ERROR"):
            # DIRAC#944: a pilot went on with Architecture=ERROR; stop here instead.
            self.fail("the platform script printed '%s', not a platform" % architecture[:120])
        self.details["architecture"] = architecture
        self.write_cfg({"/LocalSite/Architecture": architecture, "/LocalSite/Platform": platform.machine()})

    def architecture(self):
        try:
            script = compat.shell_split(self.pp.architectureScript or "dirac-platform")
        except ValueError as exc:  # unbalanced quotes
            self.fail("--architectureScript %s: %s" % (self.pp.architectureScript, exc), "config")
        cfg_options = self.cert_options() + ["--cfg", self.pp.localConfigFile]
        if script[0] == "dirac-apptainer-exec":
            inner = " ".join(script[1:] + cfg_options + ["-ddd"])
            args = ["dirac-apptainer-exec", inner] + cfg_options
        else:
            args = script + cfg_options + ["-ddd"]
        result = self.run_dirac(args, script[0], capture=True)
        return result.last_line()


def _as_list(value):
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(item).strip() for item in value if str(item).strip()]
    return [item.strip() for item in str(value).split(",") if item.strip()]


def _as_int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
