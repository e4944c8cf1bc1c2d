"""What every DIRAC command shares: switches, configuration loading, logging.

Mirrors DIRAC's LocalConfiguration / DIRACScript behaviour that the pilot can
observe from outside:

* ``getopt.gnu_getopt``: options and positional arguments may be interleaved;
  long names may be abbreviated to a unique prefix; ``-ddd`` = three ``-d``.
* An unknown option prints ``Error when parsing command line arguments: <getopt
  message>`` and the usage, exit 2.  Missing mandatory positional arguments:
  the same line with "not all mandatory arguments are defined.", exit 1.
* Generic switches of every command: ``-o/--option=<path>=<value>`` (relative
  paths are relative to the current base section), ``-s/--section=<abs path>``
  (change the base section for the following relative ``-o``),
  ``-c/--cert=<yes|no>`` (``/DIRAC/Security/UseServerCertificate``),
  ``-d/--debug`` (repeatable), ``--cfg=<file>``, ``--license``, ``-h/--help``.
  Positional arguments ending in ``.cfg`` are configuration files (with the
  warning DIRAC prints), unless ``DIRAC_NO_CFG`` is set.
* Configuration loading order (later wins): ``<rootPath>/etc/dirac.cfg``, the
  files of ``$DIRACSYSCONFIG`` (comma list; the first one listed wins),
  ``~/.dirac.cfg``, then the ``--cfg`` and positional ``.cfg`` files in order;
  then the switches are applied in command-line order.  An unreadable ``--cfg``
  file is a configuration error (fatal only for commands that DIRAC runs with
  ``ignoreErrors=False``).
* Logging goes to stdout.  Without ``-d`` the level is NOTICE (WARN and INFO
  hidden) and messages are printed bare; ``-d`` = VERBOSE; ``-dd`` adds the
  headers ``<date> <time> UTC <component> <LEVEL>: ``; ``-ddd`` = DEBUG.
"""

import getopt
import os
import sys
import time

from . import _release
from .cfg import CFG, CFGError

LEVELS = ["DEBUG", "VERBOSE", "INFO", "WARN", "NOTICE", "ERROR", "ALWAYS", "FATAL"]


def root_path():
    """DIRAC.rootPath of the double: $DIRAC, else the release tree, else the venv."""
    env = os.environ.get("DIRAC")
    if env:
        return os.path.abspath(env)
    if _release.BUILD == "tree":
        # <root>/lib/fakedirac/script.py
        return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if sys.prefix != getattr(sys, "base_prefix", sys.prefix):
        return sys.prefix
    return os.getcwd()


class Logger(object):
    def __init__(self, component, level="NOTICE", headers=False):
        self.component = component
        self.level = level
        self.headers = headers

    def set_level(self, level):
        level = str(level).upper()
        if level == "WARNING":
            level = "WARN"
        if level in LEVELS:
            self.level = level

    def enabled(self, level):
        return LEVELS.index(level) >= LEVELS.index(self.level) or level in ("ALWAYS", "FATAL")

    def _emit(self, level, msg, varmsg=""):
        if not self.enabled(level):
            return
        text = str(msg)
        if varmsg:
            text += " " + str(varmsg)
        if self.headers:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
            lines = text.split("\n")
            text = "\n".join("%s UTC %s %s: %s" % (stamp, self.component, level, line) for line in lines)
        sys.stdout.write(text + "\n")
        sys.stdout.flush()

    def debug(self, msg, varmsg=""):
        self._emit("DEBUG", msg, varmsg)

    def verbose(self, msg, varmsg=""):
        self._emit("VERBOSE", msg, varmsg)

    def info(self, msg, varmsg=""):
        self._emit("INFO", msg, varmsg)

    def warn(self, msg, varmsg=""):
        self._emit("WARN", msg, varmsg)

    def notice(self, msg, varmsg=""):
        self._emit("NOTICE", msg, varmsg)

    def error(self, msg, varmsg=""):
        self._emit("ERROR", msg, varmsg)

    def always(self, msg, varmsg=""):
        self._emit("ALWAYS", msg, varmsg)

    def fatal(self, msg, varmsg=""):
        self._emit("FATAL", msg, varmsg)


class Script(object):
    """One DIRAC command: its switches, its configuration, its logger."""

    def __init__(self, name, description="", arguments=None, component_type="script", section=None, mandatory=None):
        self.name = name
        self.description = description
        # [(name, help, mandatory)]
        self.arguments = list(arguments or [])
        self.component_type = component_type
        self.section = section if section is not None else "/Scripts/%s" % name
        self.mandatory = list(mandatory or [])
        self.switches = []
        self.cfg = CFG()
        self.log = Logger(name)
        self.debug = 0
        self.positional = []
        self.unprocessed = []
        self.cli_options = []  # (path, value) of every -o, absolute paths
        self.cfg_files = []
        self.errors = []
        # called with the positional arguments before the switches are applied
        # (dirac-agent: the agent name gives the base section of relative -o)
        self.section_hook = None
        self._register_basics()

    # -- switches ----------------------------------------------------------
    def _register_basics(self):
        self.register("o:", "option=", "Option=value to add", self._set_option_by_cmd)
        self.register("s:", "section=", "Set base section for relative parsed options", self._set_section)
        self.register("c:", "cert=", "Use server certificate to connect to Core Services", self._set_cert)
        self.register("d", "debug", "Set debug mode (-ddd is extra debug)", self._set_debug)
        self.register("", "cfg=", "Load additional config file", None)
        self.register("", "license", "Show DIRAC's LICENSE", self._license)
        self.register("h", "help", "Shows this help", None)

    def register(self, short, long_, help_text, callback=None):
        for s, l, _h, _c in self.switches:
            if short and s == short:
                raise Exception("Short switch %s is already defined!" % short)
            if long_ and l == long_:
                raise Exception("Long switch %s is already defined!" % long_)
        self.switches.append((short, long_, help_text, callback))

    def abspath(self, path):
        return path if path.startswith("/") else "%s/%s" % (self.section.rstrip("/"), path)

    def _set_option_by_cmd(self, value):
        fields = value.split("=")
        if len(fields) < 2:
            return "-o expects a option=value argument.\nFor example %s -o Port=1234" % self.name
        path = self.abspath(fields[0])
        value = "=".join(fields[1:])
        self.cli_options.append((path, value))
        self.cfg.set_option(path, value)
        return None

    def _set_section(self, value):
        if not value.startswith("/"):
            return "%s is not a valid section. It should start with '/'" % value
        self.section = value
        return None

    def _set_cert(self, value):
        use = "yes" if value.lower() in ("y", "yes", "true") else "no"
        self.cfg.set_option("/DIRAC/Security/UseServerCertificate", use)
        return None

    def _set_debug(self, _value):
        self.debug += 1
        return None

    def _license(self, _value):
        sys.stdout.write(" - DIRAC is GPLv3 licensed\n\n(test double: no LICENSE file shipped)\n")
        sys.exit(0)

    # -- help ----------------------------------------------------------------
    def usage_lines(self):
        lines = []
        if self.description:
            lines.append("\n" + self.description.strip("\n") + "\n")
        lines.append("Usage:")
        lines.append("  %s [options] ... %s" % (self.name, " ".join(a[0] for a in self.arguments)))
        lines.append("\nGeneral options:")
        in_general = True
        for short, long_, help_text, _cb in self.switches:
            if short.endswith(":"):
                line = "  -%s --%s : %s" % (short[:-1].ljust(2), (long_[:-1] + " <value> ").ljust(22), help_text)
            else:
                line = "  -%s --%s : %s" % (short.ljust(2), long_.ljust(22), help_text)
            lines.append(line)
            if in_general and short == "h":
                in_general = False
                if len(self.switches) > 7:
                    lines.append("\nOptions:")
        if self.arguments:
            lines.append("\nArguments:")
            width = max(len(a[0]) for a in self.arguments)
            for arg, help_text, mandatory in self.arguments:
                lines.append(
                    "  %s:%s  %s%s" % (arg, " " * (width - len(arg)), help_text, "" if mandatory else " (optional)")
                )
        lines.append("")
        return lines

    def show_help(self, exit_code=0):
        for line in self.usage_lines():
            self.log.notice(line)
        sys.exit(exit_code)

    # -- parsing ---------------------------------------------------------------
    def parse(self, argv=None, ignore_errors=False):
        """Parse, load the configuration, apply switches. Returns the positional args."""
        if argv is None:
            argv = sys.argv[1:]
        _fail_hook(self.name)
        shorts = "".join(s for s, _l, _h, _c in self.switches if s)
        longs = [l for _s, l, _h, _c in self.switches if l]
        try:
            opts, args = getopt.gnu_getopt(list(argv), shorts, longs)
        except getopt.GetoptError as exc:
            self.log.fatal("Error when parsing command line arguments: %s" % exc)
            self.show_help(exit_code=2)
        for opt, val in opts:
            if opt in ("-h", "--help"):
                self.show_help(0)
            if opt == "--cfg":
                self.cfg_files.append(os.path.expanduser(val))
            if opt in ("-d", "--debug"):
                self.debug += 1
        if os.environ.get("DIRAC_NO_CFG"):
            self.positional = list(args)
        else:
            extra = [os.path.expanduser(a) for a in args if a.endswith(".cfg")]
            self.cfg_files.extend(extra)
            self.positional = [a for a in args if not a.endswith(".cfg")]
            if extra:
                self.log.error(
                    "WARNING: Parsing of '.cfg' files as command line arguments is changing!\n"
                    "          Set the environment variable 'export DIRAC_NO_CFG=1' to pass the file as a positional\n"
                    "          argument (this will become the default).\n"
                    "          To modify the local configuration use '--cfg <configfile>' instead."
                )
        if self.section_hook:
            self.section = self.section_hook(self.positional)
        mandatory_args = [a for a in self.arguments if a[2]]
        if len(self.positional) < len(mandatory_args):
            self.log.fatal("Error when parsing command line arguments: not all mandatory arguments are defined.")
            self.show_help(exit_code=1)
        self._init_logger()
        self._load_cfg_files()
        # the debug count was taken above; switches are applied in order now
        self.debug, debug = 0, self.debug
        for opt, val in opts:
            name = opt.lstrip("-")
            for short, long_, _h, callback in self.switches:
                if name == short.replace(":", "") or name == long_.replace("=", ""):
                    if callback:
                        message = callback(val)
                        if message:
                            self.errors.append(message)
                    elif name not in ("cfg", "h", "help"):
                        self.unprocessed.append((name, val))
        self.debug = debug
        for path in self.mandatory:
            if self.cfg.get_option(self.abspath(path)) is None:
                self.log.fatal("Missing mandatory local configuration option", self.abspath(path))
                self.errors.append("Missing mandatory local configuration option %s" % self.abspath(path))
        if self.errors:
            self.log.error("There were errors when loading configuration", "\n" + "\n".join(self.errors))
            if not ignore_errors:
                sys.exit(1)
        return self.positional

    def _init_logger(self):
        if self.debug == 1:
            self.log.set_level("VERBOSE")
        elif self.debug == 2:
            self.log.set_level("VERBOSE")
            self.log.headers = True
        elif self.debug >= 3:
            self.log.set_level("DEBUG")
            self.log.headers = True

    def _load(self, path, report):
        try:
            loaded = CFG.from_file(path)
        except (IOError, OSError) as exc:
            if report:
                self.errors.append("Can't load %s: %s" % (path, exc))
            self.log.debug("Could not load file %s" % path)
            return False
        except CFGError as exc:
            self.errors.append("Can't load %s: %s" % (path, exc))
            return False
        self.log.debug("Loading file %s" % path)
        self.cfg.merge(loaded)
        return True

    def _load_cfg_files(self):
        self._load(os.path.join(root_path(), "etc", "dirac.cfg"), report=False)
        sysconfig = os.environ.get("DIRACSYSCONFIG")
        if sysconfig:
            for path in reversed(sysconfig.replace(" ", "").split(",")):
                if path:
                    self._load(path, report=False)
        self._load(os.path.expanduser("~/.dirac.cfg"), report=False)
        for path in self.cfg_files:
            self._load(path, report=True)

    def dump(self, path):
        self.cfg.write_file(path)


def server_dir(cfg):
    """The local "DIRAC server" directory: first file:// URL of /DIRAC/Configuration/Servers."""
    for url in cfg.get_list("/DIRAC/Configuration/Servers"):
        if url.startswith("file:"):
            try:
                from urllib.parse import urlparse, unquote
            except ImportError:  # pragma: no cover - Python 2 is not supported by the tools
                raise
            path = unquote(urlparse(url).path)
            if path:
                return path
    return None


def _fail_hook(tool):
    """FAKE_DIRAC_FAIL=<tool>[:<rc>][,<tool>[:<rc>]...]: make a tool fail (test hook)."""
    spec = os.environ.get("FAKE_DIRAC_FAIL", "")
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        name, _sep, code = item.partition(":")
        if name.strip() == tool:
            try:
                rc = int(code) if code else 1
            except ValueError:
                rc = 1
            sys.stdout.write("ERROR: %s fails on purpose (FAKE_DIRAC_FAIL test hook), exit %d\n" % (tool, rc))
            sys.stdout.flush()
            sys.exit(rc)
