"""The option table: every pilot parameter, defined once.

Each entry says how the parameter is given on the command line (DIRAC's
dirac-pilot.py short and long forms, with the same meanings), which
environment variable may carry it, which pilot.json key feeds it, its
default, its kind and its help text.  The command-line parser, ``--help``,
``--explain``, pilot.json reading and docs/reference/options.md all come from here.

Parsing follows DIRAC's ``getopt`` semantics: parsing stops at the first
non-option word, long names are case-sensitive and may be abbreviated to a
unique prefix, ``-ddd`` counts three times, repeated options keep the last
value except the accumulating ones (``-t``, ``--requiredTag``, ``-o``).
"""

import getopt
import re

from ..shims import compat
from ..errors import UsageError

DEFAULT_COMMANDS = [
    "CheckWorkerNode", "InstallDIRAC", "ConfigureBasics", "RegisterPilot", "CheckCECapabilities",
    "CheckWNCapabilities", "ConfigureSite", "ConfigureArchitecture", "ConfigureCPURequirements",
    "LaunchAgent",
]

DEFAULT_CVMFS_LOCATIONS = ["/cvmfs/grid.cern.ch", "/cvmfs/dirac.egi.eu"]
DB12_MODES = ("full", "quick", "cached", "off")  # pilot.cpu.db12.MODES

DEFAULT_INSTALLER_URLS = [
    "file:///cvmfs/dirac.egi.eu/installSource/DIRACOS-Linux-{machine}.sh",
    "https://github.com/DIRACGrid/DIRACOS2/releases/latest/download/DIRACOS-Linux-{machine}.sh",
]

# Kinds of value:
#   flag     no value, True when given          count   no value, counts repetitions (-ddd)
#   str      a string                            int     a whole number >= 0
#   list     comma list, items stripped, empty items dropped
#   append   repeatable, every occurrence kept (in order)
#   kv       k=v,k2=v2 (-Z)                      envvars NAME:::VALUE,... (--userEnvVariables)
#   bool     True/False/yes/no/1/0               ignored accepted with a warning, no effect
#   choice   one word of ``choices``
#   action   makes the pilot print something and exit (help, version, ...); an action
#            with ``choices`` takes an optional value, ``implied`` when it is left out
KINDS = ("flag", "count", "str", "int", "list", "append", "kv", "envvars", "bool", "choice", "ignored",
         "action")

GROUPS = [
    ("site", "Where the pilot runs"),
    ("release", "DIRAC release and installation"),
    ("config", "Configuration of DIRAC"),
    ("commands", "Commands and extensions"),
    ("agent", "JobAgent"),
    ("credentials", "Credentials"),
    ("logging", "Logging"),
    ("pilot", "Pilots 2.0 (information; each prints and exits 0)"),
    ("ignored", "Accepted for compatibility, no effect (a warning is logged)"),
]


class Param(object):
    """One pilot parameter.

    ``dest`` is the attribute name on the parameters object; it keeps DIRAC's
    name (``ceName``, ``releaseVersion`` ...) because VO extensions read them.
    """

    def __init__(self, dest, kind, default, group, help, short=None, long=None, metavar=None,
                 env=None, json=None, report=False, note=None, choices=None, implied=None):
        assert kind in KINDS, kind
        self.dest = dest
        self.kind = kind
        self.default = default
        self.group = group
        self.help = help
        self.short = short
        self.long = long
        self.metavar = metavar or ("N" if kind == "int" else "VALUE")
        self.env = env
        self.json = json
        self.report = report
        self.note = note
        self.choices = choices
        self.implied = implied

    @property
    def takes_value(self):
        return self.kind not in ("flag", "count", "action") or bool(self.choices)

    def forms(self):
        """'-N/--Name' as shown in messages."""
        names = []
        if self.short:
            names.append("-" + self.short)
        if self.long:
            names.append("--" + self.long)
        return "/".join(names)

    def initial(self):
        """A fresh copy of the default (lists and dicts are never shared)."""
        if isinstance(self.default, list):
            return list(self.default)
        if isinstance(self.default, dict):
            return dict(self.default)
        return self.default


P = Param
TABLE = [
    # -- where the pilot runs --------------------------------------------------
    P("ceName", "str", "", "site", "CE name; the key into the CEs section of pilot.json",
      short="N", long="Name", metavar="CE", report=True),
    P("queueName", "str", "", "site", "batch queue name", short="Q", long="Queue", metavar="QUEUE",
      report=True),
    P("site", "str", "", "site", "DIRAC site name (default: CEs.<CE>.Site of pilot.json)",
      short="n", long="name", metavar="SITE", report=True),
    P("gridCEType", "str", "", "site",
      "grid CE type; selects the command list (default: CEs.<CE>.GridCEType)",
      short="a", long="gridCEType", metavar="TYPE", report=True),
    P("ceType", "str", "", "site",
      "inner CE of the JobAgent: InProcess, Pool, Pool/Sudo, Singularity, Pool/Singularity "
      "(default: LocalCEType of the CE or queue in pilot.json)",
      short="y", long="CEType", metavar="TYPE", report=True),
    P("wnVO", "str", "", "site", "bind this node to a VO (else $DIRAC_PILOT_VO, else the proxy's VOMS VO)",
      long="wnVO", metavar="VO", env="DIRAC_PILOT_VO", report=True),
    P("pilotUUID", "str", "", "site",
      "pilot identity, the key of its logs (else $DIRAC_PILOT_STAMP, else a new random one)",
      long="pilotUUID", metavar="STAMP", env="DIRAC_PILOT_STAMP", report=True),
    P("pilotReference", "str", "", "site",
      "pilot reference (the CE's job id); default: detected from the batch system",
      short="R", long="reference", metavar="REF",
      note="ignored upstream since 2023; here it overrides the detected reference"),
    # -- release and installation ------------------------------------------------
    P("setup", "str", "", "release", "DIRAC setup (default: DefaultSetup of pilot.json)",
      short="S", long="setup", metavar="SETUP", report=True),
    P("releaseVersions", "list", [], "release",
      "DIRAC version(s) to install, comma list: the first is installed (default: Version of pilot.json)",
      short="r", long="release", metavar="VERSION", json="Version", report=True),
    P("releaseProject", "str", "", "release", "project prefix, e.g. LHCb (default: Project of pilot.json)",
      short="l", long="project", metavar="PROJECT", json="Project", report=True),
    P("extensions", "list", [], "release", "DIRAC extensions, comma list (sent by SiteDirectors)",
      short="e", long="extraPackages", metavar="EXT,..."),
    P("modules", "list", [], "release",
      "unreleased code to pip install: url:::Project:::branch or url, comma list",
      long="modules", metavar="SPEC,..."),
    P("pipInstallOptions", "str", "", "release", "extra arguments for pip install",
      long="pipInstallOptions", metavar="ARGS"),
    P("preinstalledEnv", "str", "", "release", "a diracosrc to source instead of installing",
      long="preinstalledEnv", metavar="FILE"),
    P("preinstalledEnvPrefix", "str", "", "release",
      "area holding <version or pro>/<System-machine>/diracosrc",
      long="preinstalledEnvPrefix", metavar="DIR"),
    P("installMethods", "list", ["preinstalled", "diracos"], "release",
      "InstallDIRAC ways, tried in order: preinstalled (CVMFS or --preinstalledEnv*), diracos "
      "(DIRACOS installer, then pip), venv (pip into a new virtual environment), tarball",
      long="install-methods", metavar="WAY,...", json="InstallMethods"),
    P("installerURLs", "list", list(DEFAULT_INSTALLER_URLS), "release",
      "DIRACOS installer locations, tried in order ({machine} is replaced by e.g. x86_64)",
      long="installer-url", metavar="URL,...", json="InstallerURLs"),
    P("installerSHA256", "str", "", "release", "sha256 of the DIRACOS installer (checked when given)",
      long="installer-sha256", metavar="HEX", json="InstallerSHA256"),
    P("releaseTarballURLs", "list", [], "release", "release tarball locations, tried in order (way: tarball)",
      long="release-tarball-url", metavar="URL,...", json="ReleaseTarballURLs"),
    P("releaseTarballSHA256", "str", "", "release", "sha256 of the release tarball (checked when given)",
      long="release-tarball-sha256", metavar="HEX", json="ReleaseTarballSHA256"),
    P("CVMFS_locations", "list", list(DEFAULT_CVMFS_LOCATIONS), "release",
      "CVMFS areas searched for releases and grid-security directories, comma list",
      long="CVMFS_locations", metavar="DIR,...", json="CVMFS_locations"),
    P("userEnvVariables", "envvars", {}, "release",
      "environment for the installed release: NAME:::VALUE,... (spaces removed)",
      long="userEnvVariables", metavar="NAME:::VALUE,..."),
    P("keepPythonPath", "flag", False, "release", "keep $PYTHONPATH for the commands' children",
      short="k", long="keepPP"),
    P("genericOption", "append", [], "release",
      "cfg assignment /Section/Name=value for dirac-configure, or a pilot flag "
      "(diracInstallOnly, cvmfsOnly); repeatable",
      short="o", long="option", metavar="OPT"),
    # -- configuration -----------------------------------------------------------
    P("configServer", "list", [], "config",
      "configuration server URL(s), comma list (default: pilot.json)",
      short="C", long="configurationServer", metavar="URL,...", report=True),
    P("gateway", "str", "", "config", "DIRAC gateway", short="W", long="gateway", metavar="URL"),
    P("pilotCFGFile", "str", "pilot.json", "config",
      "pilot.json: a path, or a comma list of URLs tried in order",
      short="F", long="pilotCFGFile", metavar="FILE|URL,..."),
    P("userGroup", "str", "", "config", "owner group (private pilots)", short="G", long="Group",
      metavar="GROUP"),
    P("userDN", "str", "", "config", "owner DN (private pilots)", short="O", long="OwnerDN", metavar="DN"),
    P("tags", "append", [], "config", "add a CE tag; repeatable", short="t", long="tag", metavar="TAG"),
    P("reqtags", "append", [], "config", "add a required tag; repeatable", long="requiredTag",
      metavar="TAG"),
    P("preferredURLPatterns", "list", [], "config",
      "URL patterns DIRAC prefers, passed to dirac-configure (pilot.json only)",
      json="PreferredURLPatterns"),
    P("architectureScript", "str", "dirac-platform", "config", "script printing the platform",
      long="architectureScript", metavar="CMD"),
    P("jobCPUReq", "int", 900, "config", "initial CPU requirement in HS06 seconds (recomputed later)",
      short="T", long="CPUTime", metavar="HS06S"),
    P("maxNumberOfProcessors", "int", 0, "config", "processors one payload may use (0: no limit)",
      short="m", long="maxNumberOfProcessors"),
    P("pilotProcessors", "int", 1, "config",
      "processors allocated to the pilot (default: $JOBFEATURES/allocated_cpu, else 1)",
      short="P", long="pilotProcessors"),
    P("minDiskSpace", "int", 2560, "config", "minimum free disk in the work directory, in MB",
      short="D", long="disk", metavar="MB"),
    # -- CPU power (pilot.cpu.db12) ----------------------------------------------------
    P("db12Mode", "choice", "cached", "config",
      "how the commands get the CPU power (DB12): full (run DIRAC's benchmark), quick (about 1 s), "
      "cached (this node's recent full result, else full) or off",
      long="db12", metavar="MODE", choices=DB12_MODES, report=True),
    P("db12CacheDir", "str", "", "config",
      "directory of the node's DB12 cache (default: $XDG_CACHE_HOME/pilots2, else /var/tmp/pilots2-<uid>)",
      long="db12-cache", metavar="DIR", env="PILOT_DB12_CACHE"),
    # -- commands ----------------------------------------------------------------
    P("commands", "list", list(DEFAULT_COMMANDS), "commands",
      "commands to run, comma list (default: pilot.json Commands for the grid CE type, "
      "else DIRAC's list)", short="X", long="commands", metavar="CMD,...",
      json="Commands", report=True),
    P("commandExtensions", "list", [], "commands",
      "extension prefixes, comma list: -E LHCbPilot loads LHCbPilotCommands.py",
      short="E", long="commandExtensions", metavar="EXT,...", json="CommandExtensions", report=True),
    P("extensionsDirs", "append", [], "commands",
      "a directory searched for extension modules before the pyz's own directory and the pyz; "
      "repeatable", long="extensions-dir", metavar="DIR", env="PILOT_EXTENSIONS_DIR"),
    P("commandOptions", "kv", {}, "commands", "options for extension commands: key=value,...",
      short="Z", long="commandOptions", metavar="K=V,..."),
    P("nagiosProbes", "list", [], "commands", "NagiosProbes: the probes to run (pilot.json only)",
      json="NagiosProbes"),
    P("nagiosPutURL", "str", "", "commands", "NagiosProbes: where results are PUT (pilot.json only)",
      json="NagiosPutURL"),
    P("versionsFile", "str", "", "commands",
      "GetPilotVersion: JSON file or comma list of URLs giving {setup: {Version: [...]}}, read "
      "when no version is known", long="versions-file", metavar="FILE|URL,..."),
    # -- JobAgent ----------------------------------------------------------------
    P("maxCycles", "int", 10, "agent", "JobAgent MaxCycles", short="M", long="MaxCycles"),
    P("pollingTime", "int", 20, "agent", "JobAgent PollingTime in seconds", long="PollingTime",
      metavar="S"),
    P("stopOnApplicationFailure", "bool", True, "agent", "JobAgent StopOnApplicationFailure",
      long="StopOnApplicationFailure", metavar="BOOL"),
    P("stopAfterFailedMatches", "int", 10, "agent", "JobAgent StopAfterFailedMatches",
      long="StopAfterFailedMatches"),
    P("executeCmd", "str", "", "agent", "run this command in the release environment instead of the JobAgent",
      short="x", long="execute", metavar="CMD"),
    # -- credentials -------------------------------------------------------------
    P("useServerCertificate", "flag", False, "credentials",
      "use the host certificate and key of --certLocation instead of a proxy", short="c", long="cert"),
    P("certsLocation", "str", "etc/grid-security", "credentials",
      "directory with hostcert.pem and hostkey.pem (relative to the work directory)",
      short="K", long="certLocation", metavar="DIR"),
    # -- logging -----------------------------------------------------------------
    P("debugLevel", "count", 0, "logging", "debug logging; -ddd also makes DIRAC scripts verbose",
      short="d", long="debug"),
    P("pilotLogging", "flag", False, "logging",
      "send the log to the remote logbook (needs a URL: -g or pilot.json RemoteLoggerURL)",
      short="z", long="pilotLogging", json="RemoteLogging"),
    P("loggerURL", "str", "", "logging",
      "remote logbook: https://HOST:PORT/api/v1/logs, stomp://HOST:61613/queue/NAME, "
      "stomp+ssl://HOST:61614/queue/NAME or DIRAC's https://HOST:8443/WorkloadManagement/TornadoPilotLogging; "
      "on the command line it also turns remote logging on",
      short="g", long="loggerURL", metavar="URL", json="RemoteLoggerURL"),
    P("loggerTimerInterval", "int", 0, "logging",
      "send the remote log at least every S seconds (0: the pilot's default, 30 s)",
      long="logger-interval", metavar="S", json="RemoteLoggerTimerInterval"),
    P("loggerBufsize", "int", 1000, "logging", "send the remote log when N lines wait",
      long="logger-bufsize", json="RemoteLoggerBufsize"),
    P("loggerCEsWhiteList", "list", [], "logging", "CEs allowed to log remotely (empty: all)",
      json="RemoteLoggerCEsWhiteList"),
    P("logbookTokenFile", "str", "", "logging",
      "file holding the pilot token for the logbook (mode 0600; a file others can read is refused); "
      "the token is never logged",
      long="logbook-token-file", metavar="FILE", env="PILOT_LOGBOOK_TOKEN_FILE"),
    P("logbookCA", "str", "", "logging",
      "CA bundle file or CA directory that verifies the logbook (default: $X509_CERT_DIR, "
      "else /etc/grid-security/certificates)",
      long="logbook-ca", metavar="FILE|DIR", env="PILOT_LOGBOOK_CA"),
    P("heartbeat", "int", 300, "logging",
      "log a heartbeat (load, memory, disk, child alive) every S seconds while a command runs (0: none)",
      long="heartbeat", metavar="S"),
    P("pilotLogLevel", "str", "", "logging", "DEBUG turns on debug logging (pilot.json only)",
      json="PilotLogLevel"),
    # -- Pilots 2.0 information actions --------------------------------------------
    P("help", "action", None, "pilot", "show this help and exit", short="h", long="help"),
    P("version", "action", None, "pilot", "print the pilot version and exit", long="version"),
    P("listCommands", "action", None, "pilot",
      "list the commands of the toolbox (with -E: the extensions' too) and exit",
      long="list-commands"),
    P("explain", "action", None, "pilot",
      "print each resolved parameter with its source and the command plan, run nothing",
      long="explain"),
    P("dryRun", "action", None, "pilot", "same as --explain", long="dry-run"),
    P("benchmark", "action", None, "pilot",
      "run only the DB12 benchmark and print one JSON object; MODE is full, quick or cached "
      "(the default); copies: -P, else the processors found",
      long="benchmark", metavar="[MODE]", choices=("full", "quick", "cached"), implied="cached"),
    P("handOffLog", "action", None, "pilot",
      "move the unsent log spool left in the work directory to the node's hand-off directory "
      "($PILOT_LOG_HANDOFF) for the next pilot to send (the wrapper's exit path, after a killed pilot)",
      long="hand-off-log"),
    # -- accepted for compatibility, no effect -----------------------------------------
    P("section", "ignored", None, "ignored", "no meaning for the pilot", short="s", long="section"),
    P("url", "ignored", None, "ignored", "no meaning for the pilot", short="u", long="url"),
    P("installation", "ignored", None, "ignored",
      "removed from DIRAC's pilot in 2024; v9 SiteDirectors may still send it",
      short="V", long="installation"),
    P("pythonVersion", "ignored", None, "ignored", "removed from DIRAC's pilot in 2024",
      long="pythonVersion"),
    P("defaultsURL", "ignored", None, "ignored", "removed from DIRAC's pilot in 2024",
      long="defaultsURL"),
]
del P

# DIRAC's 48 long options (dirac-pilot.py): a unique prefix of one of them among these names means it,
# whatever Pilots 2.0 options share the prefix (--logger is --loggerURL there, so it is here).
DIRAC_LONGS = (
    "requiredTag", "gridCEType", "cert", "debug", "extraPackages", "loggerURL", "help", "keepPP", "project",
    "name", "option", "maxNumberOfProcessors", "modules", "userEnvVariables", "pipInstallOptions", "release",
    "section", "tag", "url", "execute", "CEType", "pilotLogging", "configurationServer", "disk",
    "commandExtensions", "pilotCFGFile", "Group", "certLocation", "MaxCycles", "PollingTime",
    "StopOnApplicationFailure", "StopAfterFailedMatches", "Name", "OwnerDN", "wnVO", "pilotProcessors", "Queue",
    "reference", "setup", "CPUTime", "gateway", "commands", "commandOptions", "pilotUUID", "preinstalledEnv",
    "preinstalledEnvPrefix", "architectureScript", "CVMFS_locations",
)

BY_DEST = dict((p.dest, p) for p in TABLE)
_BY_FORM = {}
for _p in TABLE:
    if _p.short:
        _BY_FORM["-" + _p.short] = _p
    if _p.long:
        _BY_FORM["--" + _p.long] = _p
del _p

TRUE_WORDS = ("true", "yes", "y", "1", "on")
VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def is_whole_number(text):
    """ASCII digits only: str.isdigit() also accepts superscript digits, which int() refuses."""
    return bool(text) and all(char in "0123456789" for char in text)
FALSE_WORDS = ("false", "no", "n", "0", "off")


def getopt_spec():
    shorts = "".join(p.short + (":" if p.takes_value else "") for p in TABLE if p.short)
    longs = [p.long + ("=" if p.takes_value else "") for p in TABLE if p.long]
    return shorts, longs


class ParsedCommandLine(object):
    """What the command line said: values, where each came from, warnings, actions."""

    def __init__(self):
        self.values = {}      # dest -> value
        self.forms = {}       # dest -> the option as written, e.g. "-N"
        self.actions = []     # dests of information actions, in order
        self.action_values = {}  # dest -> value, for actions that take one (--benchmark)
        self.warnings = []    # one line each
        self.arguments = []   # words after the options (none are expected)
        self.raw = []         # argv as given, for the log


def parse(argv):
    """Parse argv (without the program name).  Raises UsageError with one line."""
    shorts, longs = getopt_spec()
    try:
        pairs, rest = getopt.getopt(optional_values(argv), shorts, longs)
    except getopt.GetoptError as exc:
        raise UsageError(_getopt_message(exc))
    parsed = ParsedCommandLine()
    parsed.raw = list(argv)
    parsed.arguments = rest
    if rest:
        raise UsageError("unexpected argument '%s': the pilot takes options only" % rest[0])
    for form, raw in pairs:
        param = _BY_FORM[form]
        if param.kind == "action":
            parsed.actions.append(param.dest)
            if param.choices:
                parsed.action_values[param.dest] = _choice(param, raw, form)
            continue
        if param.kind == "ignored":
            parsed.warnings.append("option %s is ignored: %s" % (form, param.help))
            continue
        parsed.forms[param.dest] = form
        parsed.values[param.dest] = convert(param, raw, parsed.values.get(param.dest), form)
    return parsed


def optional_values(argv):
    """getopt has no optional values: ``--benchmark [MODE]`` becomes ``--benchmark=MODE``.

    Only words in option position are rewritten (not the value of a previous
    option, nothing after the first non-option word or ``--``); a following
    word that is not an option is taken as the value, so a wrong one is
    reported as a bad value.
    """
    argv = list(argv)
    result = []
    index = 0
    while index < len(argv):
        word = argv[index]
        index += 1
        if word == "--" or not word.startswith("-") or word == "-":
            result.extend([word] + argv[index:])
            break
        if word.startswith("--"):
            name = word[2:].split("=", 1)[0]
            full = dirac_long(name)
            if full != name:
                word, name = "--" + full + word[2 + len(name):], full
            param = _long_param(name)
            if param is not None and param.kind == "action" and param.choices and "=" not in word:
                if index < len(argv) and not argv[index].startswith("-"):
                    word, index = "--%s=%s" % (param.long, argv[index]), index + 1
                else:
                    word = "--%s=%s" % (param.long, param.implied)
            elif param is not None and param.takes_value and "=" not in word:
                result.append(word)
                word, index = (argv[index], index + 1) if index < len(argv) else (None, index)
            if word is not None:
                result.append(word)
            continue
        result.append(word)
        for position, letter in enumerate(word[1:]):
            param = _BY_FORM.get("-" + letter)
            if param is not None and param.takes_value:
                if position == len(word) - 2 and index < len(argv):  # value is the next word
                    result.append(argv[index])
                    index += 1
                break
    return result


def dirac_long(name):
    """The DIRAC long option that ``name`` is a unique prefix of (among DIRAC's), else ``name``."""
    if not name or "--" + name in _BY_FORM:
        return name
    matches = [long for long in DIRAC_LONGS if long.startswith(name)]
    return matches[0] if len(matches) == 1 else name


def _long_param(name):
    """The parameter a long option (or a unique prefix of one) names, else None."""
    if "--" + name in _BY_FORM:
        return _BY_FORM["--" + name]
    matches = [p for p in TABLE if p.long and p.long.startswith(name)]
    return matches[0] if len(matches) == 1 else None


def _choice(param, raw, form):
    word = compat.to_text(raw).strip()
    if word not in param.choices:
        raise UsageError("option %s: '%s' is not one of %s" % (form, _short(raw), ", ".join(param.choices)))
    return word


def _getopt_message(exc):
    opt = getattr(exc, "opt", "")
    msg = str(exc.msg if hasattr(exc, "msg") else exc)
    prefix = "-" if len(opt) == 1 else "--"
    if "not recognized" in msg:
        return "unknown option %s%s" % (prefix, opt)
    if "requires argument" in msg:
        return "option %s%s needs a value" % (prefix, opt)
    if "not a unique prefix" in msg:
        candidates = sorted(p.long for p in TABLE if p.long and p.long.startswith(opt))
        return "option --%s is ambiguous: --%s" % (opt, ", --".join(candidates))
    if "must not have an argument" in msg:
        return "option --%s takes no value" % opt
    return msg


def convert(param, raw, previous=None, form=None):
    """Turn a raw string into the parameter's value; raise UsageError if it cannot."""
    form = form or param.forms()
    kind = param.kind
    if kind == "flag":
        return True
    if kind == "count":
        return (previous or 0) + 1
    raw = compat.to_text(raw)
    if kind == "str":
        return raw.strip()
    if kind == "int":
        text = raw.strip()
        if not is_whole_number(text):
            raise UsageError("option %s: '%s' is not a whole number >= 0" % (form, _short(raw)))
        return int(text)
    if kind == "choice":
        return _choice(param, raw, form)
    if kind == "bool":
        word = raw.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        raise UsageError("option %s: '%s' is not True or False" % (form, _short(raw)))
    if kind == "list":
        return split_list(raw)
    if kind == "append":
        return list(previous or []) + [raw.strip()]
    if kind == "kv":
        result = {}
        for item in split_list(raw):
            if "=" not in item:
                raise UsageError("option %s: '%s' is not key=value" % (form, _short(item)))
            key, value = item.split("=", 1)
            result[key.strip()] = value.strip()
        return result
    if kind == "envvars":
        result = {}
        for item in split_list(raw.replace(" ", "")):
            if ":::" not in item:
                raise UsageError("option %s: '%s' is not NAME:::VALUE" % (form, _short(item)))
            name, value = item.split(":::", 1)
            if not VARIABLE_NAME.match(name):
                raise UsageError("option %s: '%s' is not a valid variable name" % (form, _short(name)))
            result[name] = value
        return result
    raise ValueError("no conversion for kind %s" % kind)


def split_list(value):
    """A comma list (or a JSON list) into stripped, non-empty items."""
    if isinstance(value, (list, tuple)):
        items = value
    else:
        items = compat.to_text(value).split(",")
    return [compat.to_text(item).strip() for item in items if compat.to_text(item).strip()]


def _short(text, limit=60):
    text = compat.to_text(text)
    return text if len(text) <= limit else text[:limit] + "..."
