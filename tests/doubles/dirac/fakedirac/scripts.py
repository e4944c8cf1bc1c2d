"""The DIRAC commands of the test double (console-script entry points).

Each function parses its command line as the real DIRAC script does
(fakedirac.script.Script) and returns the exit status.  README.md gives the
contract of each command.
"""

import json
import os
import platform
import random
import sys
import time

from . import _release, server
from .script import Script, root_path, server_dir


def _exit(code):
    sys.stdout.flush()
    return code


# ---------------------------------------------------------------------------
# dirac-configure
# ---------------------------------------------------------------------------
CONFIGURE_DOC = """
  Main script to write dirac.cfg for a new DIRAC installation and initial download of CAs and CRLs
  if necessary (test double: every option and flag given is written into the output cfg).
  Setup and ConfigurationServer(Gateway) are mandatory options.
"""


class _ConfigureParams(object):
    def __init__(self, script):
        self.s = script
        self.issuer = None
        self.setup = None
        self.configuration_server = None
        self.include_all_servers = False
        self.gateway = None
        self.site_name = None
        self.ce_name = None
        self.use_server_cert = False
        self.skip_ca_checks = False
        self.skip_ca_download = False
        self.skip_voms_download = False
        self.use_versions_dir = False
        self.architecture = None
        self.local_se = None
        self.vo = None
        self.update = False
        self.output = ""
        self.extensions = ""

    def install(self, name, value):
        self.s.cfg.set_option("/LocalInstallation/%s" % name, value)

    def set_setup(self, value):
        self.setup = value
        self.s.cfg.set_option("/DIRAC/Setup", value)
        self.install("Setup", value)

    def set_server(self, value):
        self.configuration_server = value
        self.s.cfg.set_option("/DIRAC/Configuration/Servers", value)
        self.install("ConfigurationServer", value)

    def set_gateway(self, value):
        self.gateway = value
        self.set_server(value + "/Configuration/Server")
        self.install("Gateway", value)

    def set_all_servers(self, _value):
        self.include_all_servers = True

    def set_site_name(self, value):
        self.site_name = value
        self.s.cfg.set_default("/LocalSite/Site", value)
        self.install("SiteName", value)

    def set_ce_name(self, value):
        self.ce_name = value
        self.install("CEName", value)

    def set_server_cert(self, _value):
        self.use_server_cert = True
        self.install("UseServerCertificate", True)

    def set_skip_ca_checks(self, _value):
        self.skip_ca_checks = True
        self.install("SkipCAChecks", True)

    def set_skip_ca_download(self, _value):
        self.skip_ca_download = True
        self.install("SkipCADownload", True)

    def set_skip_voms_download(self, _value):
        self.skip_voms_download = True
        self.install("SkipVOMSDownload", True)

    def set_use_versions_dir(self, _value):
        self.use_versions_dir = True
        self.install("UseVersionsDir", True)

    def set_architecture(self, value):
        self.architecture = value
        self.s.cfg.set_default("/LocalSite/Architecture", value)
        self.install("Architecture", value)

    def set_local_se(self, value):
        self.local_se = value
        self.s.cfg.set_default("/LocalSite/LocalSE", value)
        self.install("LocalSE", value)

    def set_vo(self, value):
        self.vo = value
        self.s.cfg.set_default("/DIRAC/VirtualOrganization", value)
        self.install("VirtualOrganization", value)

    def force_update(self, _value):
        self.update = True

    def set_output(self, value):
        self.output = value

    def set_extensions(self, value):
        self.extensions = value
        self.s.cfg.set_option("/DIRAC/Extensions", value)
        self.install("Extensions", value)

    def set_issuer(self, value):
        self.issuer = value
        self.s.cfg.set_option("/DIRAC/Security/Authorization/issuer", value)


def _wrap(func):
    def callback(value):
        func(value)
        return None

    return callback


def dirac_configure(argv=None):
    s = Script("dirac-configure", description=CONFIGURE_DOC)
    p = _ConfigureParams(s)
    reg = s.register
    reg("", "login=", "Set DIRAC authorization endpoint", _wrap(p.set_issuer))
    reg("S:", "Setup=", "Set <setup> as DIRAC setup", _wrap(p.set_setup))
    reg("e:", "Extensions=", "Set <extensions> as DIRAC extensions", _wrap(p.set_extensions))
    reg("C:", "ConfigurationServer=", "Set <server> as DIRAC configuration server", _wrap(p.set_server))
    reg("I", "IncludeAllServers", "include all Configuration Servers", _wrap(p.set_all_servers))
    reg("n:", "SiteName=", "Set <sitename> as DIRAC Site Name", _wrap(p.set_site_name))
    reg("N:", "CEName=", "Determiner <sitename> from <cename>", _wrap(p.set_ce_name))
    reg("V:", "VO=", "Set the VO name", _wrap(p.set_vo))
    reg("W:", "gateway=", "Configure <gateway> as DIRAC Gateway for the site", _wrap(p.set_gateway))
    reg("U", "UseServerCertificate", "Configure to use Server Certificate", _wrap(p.set_server_cert))
    reg("H", "SkipCAChecks", "Configure to skip check of CAs", _wrap(p.set_skip_ca_checks))
    reg("D", "SkipCADownload", "Configure to skip download of CAs", _wrap(p.set_skip_ca_download))
    reg("M", "SkipVOMSDownload", "Configure to skip download of VOMS info", _wrap(p.set_skip_voms_download))
    reg("v", "UseVersionsDir", "Use versions directory", _wrap(p.set_use_versions_dir))
    reg("A:", "Architecture=", "Configure /Architecture=<architecture>", _wrap(p.set_architecture))
    reg("L:", "LocalSE=", "Configure LocalSite/LocalSE=<localse>", _wrap(p.set_local_se))
    reg(
        "F",
        "ForceUpdate",
        "Force Update of cfg file (i.e. dirac.cfg) (otherwise nothing happens if dirac.cfg already exists)",
        _wrap(p.force_update),
    )
    reg("O:", "output=", "output configuration file", _wrap(p.set_output))
    s.parse(argv, ignore_errors=True)
    log = s.log
    cfg = s.cfg

    # Test hook: -o <any path>=FAIL or -o /LocalSite/FakeConfigureFail=<rc> on the command line.
    for path, value in s.cli_options:
        if path.rstrip("/").endswith("/FakeConfigureFail") or value.strip() == "FAIL":
            try:
                rc = int(value) if path.rstrip("/").endswith("/FakeConfigureFail") else 1
            except ValueError:
                rc = 1
            log.error("dirac-configure fails on purpose (test hook %s=%s)" % (path, value))
            return _exit(rc)

    if p.issuer:
        log.error("Authorization failed: token login is not supported by the DIRAC test double")
        return _exit(1)

    # Values from /LocalInstallation complete what the command line did not give.
    inst = "/LocalInstallation/"
    if not p.gateway and cfg.get_option(inst + "Gateway"):
        p.set_gateway(cfg.get_option(inst + "Gateway"))
    if not p.configuration_server and cfg.get_option(inst + "ConfigurationServer"):
        p.set_server(cfg.get_option(inst + "ConfigurationServer"))
    if not p.include_all_servers and cfg.get_bool(inst + "IncludeAllServers"):
        p.set_all_servers(True)
    if not p.setup and cfg.get_option(inst + "Setup"):
        p.set_setup(cfg.get_option(inst + "Setup"))
    if not p.site_name and cfg.get_option(inst + "SiteName"):
        p.set_site_name(cfg.get_option(inst + "SiteName"))
    if not p.ce_name and cfg.get_option(inst + "CEName"):
        p.set_ce_name(cfg.get_option(inst + "CEName"))
    if not p.use_server_cert and cfg.get_bool(inst + "UseServerCertificate"):
        p.set_server_cert(True)
    if not p.skip_ca_checks and cfg.get_bool(inst + "SkipCAChecks"):
        p.set_skip_ca_checks(True)
    if not p.skip_ca_download and cfg.get_bool(inst + "SkipCADownload"):
        p.set_skip_ca_download(True)
    if not p.use_versions_dir and cfg.get_bool(inst + "UseVersionsDir"):
        p.set_use_versions_dir(True)
    if not p.architecture and cfg.get_option(inst + "Architecture"):
        p.set_architecture(cfg.get_option(inst + "Architecture"))
    if not p.vo and cfg.get_option(inst + "VirtualOrganization"):
        p.set_vo(cfg.get_option(inst + "VirtualOrganization"))
    if not p.extensions and cfg.get_option(inst + "Extensions"):
        p.set_extensions(cfg.get_option(inst + "Extensions"))

    root = root_path()
    log.notice("Executing: %s " % " ".join(["dirac-configure"] + list(sys.argv[1:] if argv is None else argv)))
    log.notice('Checking DIRAC installation at "%s"' % root)

    # Stricter than DIRAC (which fails later, when it contacts the CS): both are mandatory.
    setup = cfg.get_option("/DIRAC/Setup")
    servers = cfg.get_option("/DIRAC/Configuration/Servers")
    missing = [
        name
        for name, value in (("Setup (-S)", setup), ("ConfigurationServer (-C) or gateway (-W)", servers))
        if not value
    ]
    if missing:
        log.error("Missing mandatory option", ", ".join(missing))
        log.error("Setup and ConfigurationServer(Gateway) are mandatory options")
        return _exit(1)

    if p.update:
        if p.output:
            log.notice("Will update the output file %s" % p.output)
        else:
            log.notice("Will update %s" % os.path.join(root, "etc", "dirac.cfg"))
    log.verbose("/DIRAC/Setup =", setup)
    if p.vo:
        log.verbose("/DIRAC/VirtualOrganization =", p.vo)
    log.verbose("/DIRAC/Configuration/Servers =", servers)
    if p.site_name:
        log.verbose("/LocalSite/Site =", p.site_name)
    if p.architecture:
        log.verbose("/LocalSite/Architecture =", p.architecture)
    if p.local_se:
        log.verbose("/LocalSite/localSE =", p.local_se)

    security = "/DIRAC/Security/"
    cfg.delete(security + "UseServerCertificate")
    cfg.set_option(security + "UseServerCertificate", "yes" if p.use_server_cert else "no")
    log.verbose(security + "UseServerCertificate =", "yes" if p.use_server_cert else "no")

    host = cfg.get_option(inst + "Host")
    if host:
        cfg.set_option("/DIRAC/Hostname", host)

    if p.skip_ca_checks:
        log.verbose(security + "SkipCAChecks =", "yes")
        cfg.delete(security + "SkipCAChecks")
        cfg.set_option(security + "SkipCAChecks", "yes")
    if not p.skip_ca_download:
        certificates = os.path.join(root, "etc", "grid-security", "certificates")
        try:
            if not os.path.isdir(certificates):
                os.makedirs(certificates)
        except OSError:
            log.fatal("Fail to create directory:", certificates)
            return _exit(255)
        log.notice("Test double: no CAs/CRLs to download into %s" % certificates)
        cfg.delete(security + "SkipCAChecks")

    if p.ce_name or p.site_name:
        log.verbose("Test double: no /Resources/Sites in the CS, /LocalSite/GridCE is not derived from -N")
        if p.site_name:
            log.verbose("Setting /LocalSite/Site = %s" % cfg.get_option("/LocalSite/Site", p.site_name))

    if p.gateway:
        site = cfg.get_option("/LocalSite/Site", "DIRAC.Client.local")
        cfg.set_default("/DIRAC/Gateways/%s" % site, p.gateway)

    output = os.path.abspath(p.output or os.path.join(root, "etc", "dirac.cfg"))
    if not os.path.exists(output):
        p.update = True
        try:
            s.dump(output)
        except (IOError, OSError) as exc:
            log.fatal("Cannot write %s: %s" % (output, exc))
            return _exit(1)

    if p.include_all_servers:
        if not p.use_server_cert:
            proxy = os.environ.get("X509_USER_PROXY") or "/tmp/x509up_u%d" % os.getuid()
            if not os.path.isfile(proxy):
                log.notice("Configuration is not completed because no user proxy is available")
                log.notice("Create one using dirac-proxy-init and execute again with -F option")
                return _exit(1)
        log.verbose("/DIRAC/Configuration/Servers =", cfg.get_option("/DIRAC/Configuration/Servers"))

    if p.use_server_cert:
        cfg.delete(security + "UseServerCertificate")
        cfg.delete(security + "SkipCAChecks")
        cfg.delete(security + "SkipVOMSDownload")

    if p.update:
        try:
            s.dump(output)
        except (IOError, OSError) as exc:
            log.fatal("Cannot write %s: %s" % (output, exc))
            return _exit(1)
        log.verbose("Written %s" % output)
    else:
        log.notice("%s exists and -F/--ForceUpdate not given: not updated" % output)

    if p.skip_voms_download:
        return _exit(0)
    for sub in ("vomsdir", "vomses"):
        path = os.path.join(root, "etc", "grid-security", sub)
        try:
            if not os.path.isdir(path):
                os.makedirs(path)
        except OSError:
            log.error("Could not create %s" % path)
            return _exit(1)
    log.notice("Test double: no VOMS servers in the CS, vomsdir/vomses left empty")
    return _exit(0)


# ---------------------------------------------------------------------------
# dirac-platform
# ---------------------------------------------------------------------------
def platform_string():
    override = os.environ.get("FAKE_DIRAC_PLATFORM")
    if override:
        return override
    system = platform.system()
    machine = platform.machine()
    if system == "Linux":
        libc, version = platform.libc_ver()
        if not libc:
            libc, version = "glibc", "unknown"
        return "%s_%s_%s-%s" % (system, machine, libc, version)
    if system == "Darwin":
        release = platform.mac_ver()[0].split(".")
        return "%s_%s_%s" % (system, machine, ".".join(release[:2]))
    return "%s_%s_%s" % (system, machine, platform.release())


def dirac_platform(argv=None):
    s = Script("dirac-platform", description="\n  Linux_x86_64_glibc-2.17 because of the platform of the node\n")
    s.parse(argv, ignore_errors=True)
    s.log.debug(
        "Platform module:",
        "system=%s machine=%s libc=%s" % (platform.system(), platform.machine(), "-".join(platform.libc_ver())),
    )
    print(platform_string())
    return _exit(0)


# ---------------------------------------------------------------------------
# dirac-version
# ---------------------------------------------------------------------------
def dirac_version(argv=None):
    s = Script("dirac-version", description="\n  Print the version of the DIRAC release\n")
    s.parse(argv, ignore_errors=True)
    print(_release.VERSION)
    return _exit(0)


# ---------------------------------------------------------------------------
# dirac-admin-add-pilot
# ---------------------------------------------------------------------------
PILOT_STATES = ["Submitted", "Waiting", "Running", "Done", "Failed", "Deleted", "Aborted", "Unknown", "Scheduled"]


def dirac_admin_add_pilot(argv=None):
    state = {"status": None}

    def set_status(value):
        if value not in PILOT_STATES:
            return "%s is not a valid pilot status" % value
        state["status"] = value
        return None

    s = Script(
        "dirac-admin-add-pilot",
        description="\n  Add a PilotReference in PilotAgentsDB, and update its status.\n",
        arguments=[
            ("pilotRef", "pilot reference", True),
            ("VO", "VO, or pilot owner group", True),
            ("gridType", "grid type", True),
            ("pilotStamp", "DIRAC pilot stamp", True),
        ],
    )
    s.register("", "status=", "sets the pilot status", set_status)
    ref, vo, grid_type, stamp = s.parse(argv, ignore_errors=False)[:4]
    log = s.log
    where = server_dir(s.cfg)
    if not where or not os.path.isdir(where):
        log.error("Cannot contact the PilotManager: no reachable file:// configuration server in the cfg")
        return _exit(1)
    f, record = server.find_pilot(where, reference=ref)
    if record is None:
        f, record = server.add_pilot(where, ref, vo, grid_type, stamp)
        log.verbose("Pilot added", "%s (stamp %s)" % (ref, stamp))
    if state["status"]:
        server.set_pilot(f, record, state["status"], source="dirac-admin-add-pilot")
        log.verbose("Pilot status set", "%s = %s" % (ref, state["status"]))
    return _exit(0)


# ---------------------------------------------------------------------------
# dirac-resource-get-parameters
# ---------------------------------------------------------------------------
def _site_ce_queue_switches(s, holder, site_long="Site=", ce_long="Name=", queue_long="Queue="):
    def setter(key):
        def callback(value):
            holder[key] = value
            return None

        return callback

    s.register("N:", ce_long, "Computing Element Name (Mandatory)", setter("ce"))
    s.register("S:", site_long, "Site Name (Mandatory)", setter("site"))
    s.register("Q:", queue_long, "Queue Name (Mandatory)", setter("queue"))


def _warning_line(component, message):
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    sys.stdout.write("%s UTC %s WARN: %s\n" % (stamp, component, message))


def dirac_resource_get_parameters(argv=None):
    holder = {"ce": "", "site": "", "queue": ""}
    s = Script("dirac-resource-get-parameters", description="\n  Get parameters assigned to the CE\n")
    _site_ce_queue_switches(s, holder)
    s.parse(argv, ignore_errors=True)
    # DIRAC scripts often print warnings before the result (Pilot#110, #160): the
    # double always does, so that callers must take the last line.
    _warning_line("Framework", "Running without remote configuration: the CS is a local directory (test double)")
    _warning_line(
        "ConfigurationSystem",
        "/Resources/Sites/%s: CE %s queue %s read from resources.json"
        % (holder["site"] or "?", holder["ce"] or "?", holder["queue"] or "?"),
    )
    where = server_dir(s.cfg)
    if not where:
        s.log.error("Could not retrieve resource parameters", ": no file:// configuration server in the cfg")
        return _exit(1)
    if not os.path.isdir(where):
        # DIRAC's refresher when no configuration server answers; the script then fails on the
        # CE's section, which it could not read
        _warning_line(
            "ConfigurationSystem",
            "Can't update from server Error while updating from file://%s: [Errno 2] No such file or directory" % where,
        )
        s.log.error(
            "Could not retrieve resource parameters",
            ": Path /Resources/Sites/%s/CEs/%s does not exist or it's not a section" % (holder["site"], holder["ce"]),
        )
        return _exit(1)
    params, error = server.get_queue(where, holder["ce"], holder["queue"])
    if error:
        s.log.error("Could not retrieve resource parameters", ": " + error)
        return _exit(1)
    s.log.notice(json.dumps(params))
    return _exit(0)


# ---------------------------------------------------------------------------
# dirac-wms-get-wn-parameters
# ---------------------------------------------------------------------------
def _mem_total_mb():
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) // 1024
    except (IOError, OSError, ValueError, IndexError):
        pass
    return 0


def dirac_wms_get_wn_parameters(argv=None):
    holder = {"ce": "", "site": "", "queue": ""}
    s = Script(
        "dirac-wms-get-wn-parameters", description="\n  Determine number of processors and memory for the worker node\n"
    )
    _site_ce_queue_switches(s, holder)
    s.parse(argv, ignore_errors=True)
    log = s.log
    log.info("Getting number of processors")
    queue = {}
    where = server_dir(s.cfg)
    if where:
        queue, _error = server.get_queue(where, holder["ce"], holder["queue"])
        queue = queue or {}
    processors = 0
    jobfeatures = os.environ.get("JOBFEATURES")
    if jobfeatures:
        try:
            with open(os.path.join(jobfeatures, "allocated_cpu")) as handle:
                processors = int(handle.read().strip())
        except (IOError, OSError, ValueError):
            processors = 0
    if not processors:
        try:
            processors = int(queue.get("NumberOfProcessors", 0))
        except (TypeError, ValueError):
            processors = 0
    if not processors and str(queue.get("WholeNode", "")).lower() in ("yes", "true", "1"):
        processors = os.cpu_count() or 1
    processors = processors or 1
    log.info("Getting memory (RAM) from MJF")
    log.info("maxRAM could not be found in MJF, using JobParameters.getMemoryFromProc()")
    max_ram = _mem_total_mb()
    log.info("Getting number of GPUs")
    try:
        gpus = int(queue.get("NumberOfGPUs", 0))
    except (TypeError, ValueError):
        gpus = 0
    log.notice(" ".join(str(v) for v in (processors, max_ram, gpus)))
    return _exit(0)


# ---------------------------------------------------------------------------
# dirac-wms-cpu-normalization
# ---------------------------------------------------------------------------
def _mini_db12(draws=100000):
    """A scaled-down DB12 pass: 250 x fraction-of-iteration / CPU s."""
    override = os.environ.get("FAKE_DIRAC_CPU_POWER")
    if override:
        return float(override)
    start = sum(os.times()[:4])
    total = total2 = 0.0
    for _ in range(draws):
        value = random.normalvariate(10, 1)
        total += value
        total2 += value * value
    cpu = sum(os.times()[:4]) - start
    if cpu <= 0:
        return None
    return 250.0 * (draws / 12500000.0) / cpu


def dirac_wms_cpu_normalization(argv=None):
    s = Script(
        "dirac-wms-cpu-normalization",
        description="\n  Determine Normalization for current CPU. The main users of this script are the pilot jobs.\n",
    )
    s.register("U", "Update", "Update dirac.cfg with the resulting value")
    s.register("R:", "Reconfig=", "Update given configuration file with the resulting value")
    s.register("N:", "NumberOfProcessors=", "Run n copies of the benchmark")
    s.parse(argv, ignore_errors=True)
    update = False
    config_file = None
    for name, value in s.unprocessed:
        if name in ("U", "Update"):
            update = True
        elif name in ("R", "Reconfig"):
            config_file = value
    log = s.log
    score = _mini_db12()
    if score is None:
        log.error("Cannot make benchmark measurements")
        return _exit(1)
    measured = round(score, 1)
    correction = s.cfg.get_number("/Operations/Defaults/JobScheduling/CPUNormalizationCorrection", 0.0)
    where = server_dir(s.cfg)
    if not correction and where:
        try:
            correction = float(server.operations(where).get("CPUNormalizationCorrection", 0.0))
        except (TypeError, ValueError):
            correction = 0.0
    correction = correction or 1.0
    norm = round(score / correction, 1)
    log.notice("Estimated CPU power is %.1f HS06" % norm)
    if update:
        s.cfg.set_option("/LocalSite/CPUScalingFactor", norm)
        s.cfg.set_option("/LocalSite/CPUNormalizationFactor", norm)
        s.cfg.set_option("/LocalSite/DB12measured", measured)
        s.cfg.set_option("/LocalSite/DB12", measured)
        target = config_file or os.path.join(root_path(), "etc", "dirac.cfg")
        try:
            s.dump(target)
        except (IOError, OSError) as exc:
            log.error("Cannot write %s: %s" % (target, exc))
            return _exit(1)
    return _exit(0)


# ---------------------------------------------------------------------------
# dirac-wms-get-queue-cpu-time
# ---------------------------------------------------------------------------
def dirac_wms_get_queue_cpu_time(argv=None):
    s = Script("dirac-wms-get-queue-cpu-time", description="\n  Report CPU length of queue, in seconds\n")
    s.register("C:", "CPUNormalizationFactor=", "CPUNormalizationFactor, in case it is known")
    s.parse(argv, ignore_errors=True)
    factor = 0.0
    for name, value in s.unprocessed:
        if name in ("C", "CPUNormalizationFactor"):
            try:
                factor = float(value)
            except ValueError:
                s.log.error("Invalid CPUNormalizationFactor", value)
                return _exit(1)
    cfg = s.cfg
    cpu_time = int(cfg.get_number("/LocalSite/CPUTimeLeft", 0, int) or 0)
    if not cpu_time:
        where = server_dir(cfg)
        ce, queue = cfg.get_option("/LocalSite/GridCE"), cfg.get_option("/LocalSite/CEQueue")
        if where and ce and queue:
            params, _error = server.get_queue(where, ce, queue)
            try:
                cpu_time = int(float((params or {}).get("maxCPUTime", 0)) * 60)
            except (TypeError, ValueError):
                cpu_time = 0
            s.log.verbose(
                "Queue maxCPUTime", "%s min (normalization factor %s)" % ((params or {}).get("maxCPUTime"), factor)
            )
    if not cpu_time:
        cpu_time = 9999999
    print("CPU time left determined as", cpu_time)
    return _exit(0)


# ---------------------------------------------------------------------------
# dirac-agent
# ---------------------------------------------------------------------------
def dirac_agent(argv=None):
    from .agent import main

    return main(argv)


TOOLS = {
    "dirac-configure": "dirac_configure",
    "dirac-platform": "dirac_platform",
    "dirac-version": "dirac_version",
    "dirac-agent": "dirac_agent",
    "dirac-admin-add-pilot": "dirac_admin_add_pilot",
    "dirac-resource-get-parameters": "dirac_resource_get_parameters",
    "dirac-wms-get-wn-parameters": "dirac_wms_get_wn_parameters",
    "dirac-wms-cpu-normalization": "dirac_wms_cpu_normalization",
    "dirac-wms-get-queue-cpu-time": "dirac_wms_get_queue_cpu_time",
}
