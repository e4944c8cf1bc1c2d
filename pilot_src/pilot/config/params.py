"""Parameters, resolved once, in one place.

Order of precedence (later wins)::

    defaults  <  pilot.json  <  environment  <  command line

Each resolved parameter remembers where it came from (``sources``), which is
what ``--explain`` prints and what ``pilot_result.json`` records.  Resolving
reads pilot.json (a file, or URLs) and nothing else: it runs no command,
probes no CVMFS and never exits.
"""

import os
import re

from ..shims import compat
from . import options, pilotjson
from ..errors import ConfigError, UsageError

DEFAULT = "default"
PILOT_JSON = "pilot.json"
ENVIRONMENT = "environment"
COMMAND_LINE = "command line"

# DIRAC's release names, old (v10r2p3-pre4) and new (10.2.3a4, v9.0, 9.0.3): major, minor,
# optional patch, optional pre-release number.
RELEASE_VERSION = re.compile(r"^v?(\d+)[r.](\d+)(?:[p.](\d+))?(?:(?:-pre|a)?(\d+))?$")


def pep440_version(version):
    """A DIRAC release name as X.Y.Z[aN] (v10r2p3-pre4 -> 10.2.3a4, v9.0 -> 9.0.0), as DIRAC's
    pilot writes it; anything else (DIRAC[pilot]==9.0.3, a branch) unchanged."""
    match = RELEASE_VERSION.match(version or "")
    if not match:
        return version
    major, minor, patch, pre = match.groups()
    text = "%s.%s.%s" % (major, minor, patch or "0")
    if pre:
        text += "a%s" % pre
    return text


class PilotParams(object):
    """The resolved parameters; attribute names are DIRAC's (``ceName``, ``setup`` ...).

    Commands may update values (CheckWNCapabilities sets ``pilotProcessors``);
    the runtime attributes below are filled by commands as the pilot goes.
    """

    def __init__(self, work_dir):
        self.sources = {}
        self.workingDir = work_dir
        self.pilotRootPath = work_dir
        self.localConfigFile = "pilot.cfg"
        self.pilotJSON = None          # the pilot.json document, for extensions
        self.pilotJSONName = None      # where it was read from
        self.jsonVO = "unknown"        # the VO whose pilot.json sections were read
        self.jsonVOSource = DEFAULT
        self.installEnv = None         # captured release environment (InstallDIRAC)
        self.queueParameters = {}
        self.flavour = "DIRAC"
        self.batchSystemInfo = {}
        self.diracInstalled = False
        self.preinstalled = False      # InstallDIRAC used an existing release (dirac-configure -DMH)
        self.capabilities = None       # what the node offers (pilot.node.capabilities.detect), once detected
        self.localSiteExtra = {}       # other /LocalSite keys found where the pilot runs (BOINC)
        self.archive = None            # absolute path of pilot.pyz, when run from it
        self.warnings = []             # one line each, logged when the run starts
        for param in options.TABLE:
            if param.kind not in ("action", "ignored"):
                self.set(param.dest, param.initial(), DEFAULT, "")

    def set(self, dest, value, source, origin=""):
        setattr(self, dest, value)
        self.sources[dest] = (source, origin)

    # DIRAC names kept for extensions -------------------------------------------------
    @property
    def rootPath(self):
        return self.pilotRootPath

    @property
    def releaseVersion(self):
        return self.releaseVersions[0] if self.releaseVersions else ""

    @property
    def debugFlag(self):
        return bool(self.debugLevel) or self.pilotLogLevel.lower() == "debug"

    @property
    def extraPackages(self):
        return self.extensions

    @property
    def pilotFlags(self):
        """Bare -o values (diracInstallOnly, cvmfsOnly): flags for the pilot, never cfg options."""
        return [option for option in self.genericOption if "=" not in option]

    @property
    def cfgOptions(self):
        """-o values that are cfg assignments: ('/Section/Name', 'value')."""
        pairs = []
        for option in self.genericOption:
            if "=" in option:
                path, value = option.split("=", 1)
                pairs.append((path.strip(), value.strip()))
        return pairs

    def reported(self):
        """The parameters that matter for a result file: dest -> value."""
        result = {}
        for param in options.TABLE:
            if param.report:
                result[param.dest] = getattr(self, param.dest)
        result["releaseVersion"] = self.releaseVersion
        return result


def resolve(parsed, environ, work_dir, log, downloader, proxy_vo=None):
    """Resolve all parameters.

    ``parsed`` is options.parse()'s result, ``environ`` a mapping (never
    modified), ``downloader`` a fetch.Downloader for pilot.json URLs and
    ``proxy_vo`` an optional callable returning the VO of the proxy (or None).
    Raises ConfigError for bad pilot.json or environment values.
    """
    params = PilotParams(work_dir)
    params.warnings.extend(parsed.warnings)
    env_values = _environment_values(environ)
    cli = parsed.values

    def early(dest):
        """A value needed before pilot.json is read: command line, else environment."""
        if dest in cli:
            return cli[dest]
        if dest in env_values:
            return env_values[dest][0]
        return options.BY_DEST[dest].initial()

    found = _read_pilot_json(params, cli, env_values, work_dir, log, downloader, early, proxy_vo, environ)
    if found is not None:
        for dest, (value, path) in found.values.items():
            params.set(dest, value, PILOT_JSON, path)
    for dest, (value, variable) in env_values.items():
        params.set(dest, value, ENVIRONMENT, "$" + variable)
    for dest, value in cli.items():
        params.set(dest, value, COMMAND_LINE, parsed.forms[dest])
    _finish(params)
    return params


def _environment_values(environ):
    values = {}
    for param in options.TABLE:
        if not param.env or not environ.get(param.env):
            continue
        raw = environ[param.env]
        try:
            if param.kind == "append":
                value = [item for item in raw.split(os.pathsep) if item]
            else:
                value = options.convert(param, raw, form="$" + param.env)
        except UsageError as exc:
            raise ConfigError("environment variable %s" % exc.reason.replace("option $%s" % param.env,
                                                                               param.env, 1))
        values[param.dest] = (value, param.env)
    allocated = _jobfeatures_cpus(environ)
    if allocated is not None:
        values["pilotProcessors"] = (allocated, "JOBFEATURES/allocated_cpu")
    return values


def _jobfeatures_cpus(environ):
    """$JOBFEATURES/allocated_cpu when it is a readable local file with a number."""
    folder = environ.get("JOBFEATURES")
    if not folder or "://" in folder:
        return None  # Machine/Job Features over HTTP are read by the capability module
    try:
        handle = open(os.path.join(folder, "allocated_cpu"))
        try:
            text = handle.read().strip()
        finally:
            handle.close()
    except (IOError, OSError):
        return None
    return int(text) if options.is_whole_number(text) and int(text) > 0 else None


def _read_pilot_json(params, cli, env_values, work_dir, log, downloader, early, proxy_vo, environ):
    location = early("pilotCFGFile")
    explicit = "pilotCFGFile" in cli or "pilotCFGFile" in env_values
    if not pilotjson.is_url(location):
        location = os.path.join(work_dir, location)
        if not explicit and not os.path.exists(location):
            params.warnings.append("no pilot.json in %s: using the command line and defaults only" % work_dir)
            return None
    document, name = pilotjson.load(location, downloader, log)
    params.pilotJSON = document
    params.pilotJSONName = name

    vo, vo_source = early("wnVO"), COMMAND_LINE if "wnVO" in cli else ENVIRONMENT
    if not vo and proxy_vo is not None:
        vo, vo_source = proxy_vo(environ) or "", "proxy VOMS extension"
    params.jsonVO = vo or "unknown"
    params.jsonVOSource = vo_source if vo else DEFAULT
    return pilotjson.extract(document, name, early("setup"), params.jsonVO, early("ceName"),
                             early("queueName"), early("gridCEType"))


def new_stamp():
    """A random stamp, as uuid.uuid4().hex writes it.

    Not through the uuid module: on Python 2 importing it runs ``ldconfig -p`` (ctypes
    looks for libuuid), tens of milliseconds for every pilot, --explain included."""
    import binascii

    number = int(binascii.hexlify(os.urandom(16)), 16)
    number = (number & ~(0xF000 << 64)) | (0x4000 << 64)  # version 4
    number = (number & ~(0xC000 << 48)) | (0x8000 << 48)  # RFC 4122 variant
    return "%032x" % number


def _finish(params):
    if not params.pilotUUID:
        params.set("pilotUUID", new_stamp(), DEFAULT, "generated")
    if not os.path.isabs(params.certsLocation):
        source, origin = params.sources["certsLocation"]
        params.set("certsLocation", os.path.join(params.workingDir, params.certsLocation), source, origin)
    # -z on the command line wins over RemoteLoggerCEsWhiteList: DIRAC reads the command line after pilot.json.
    forced = params.pilotLogging and params.sources["pilotLogging"][0] == COMMAND_LINE
    if params.loggerURL and not params.pilotLogging and params.sources["loggerURL"][0] == COMMAND_LINE:
        # -g URL turns remote logging on; a RemoteLoggerURL in pilot.json alone does not (DIRAC).
        params.set("pilotLogging", True, COMMAND_LINE, params.sources["loggerURL"][1])
    if (params.pilotLogging and not forced and params.loggerCEsWhiteList
            and params.ceName not in params.loggerCEsWhiteList):
        params.warnings.append("remote logging is off: CE %s is not in RemoteLoggerCEsWhiteList"
                               % (params.ceName or "(none)"))
        params.set("pilotLogging", False, PILOT_JSON, "RemoteLoggerCEsWhiteList")
    for dest in ("pilotUUID",):
        value = getattr(params, dest)
        if not re.match(r"^[0-9A-Za-z][0-9A-Za-z._-]{0,127}$", value):
            raise ConfigError("%s '%s' is not a valid pilot stamp (letters, digits, '.', '_', '-')"
                              % (options.BY_DEST[dest].forms() or dest, compat.to_text(value)[:60]))
