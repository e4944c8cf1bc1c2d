"""DIRAC's pilotTools module, for VO extensions written for dirac-pilot.py.

``from pilotTools import CommandBase`` works as with DIRAC's pilot, and so does
every other public name of DIRAC's module that has a meaning in Pilots 2.0.  The
others (DIRAC's own logger, parameter parser and command loader) fail to import
with a message that names what to use instead, so an extension that needs one
stops the pilot at once, with one line and exit code 10, instead of failing later.
"""

import os
import sys
import types
import warnings

import compat
from pilot.config import credentials, fetch
from pilot.node import batchsystem, nodeinfo
from pilot.commands.base import Command, CommandBase  # noqa: F401
from pilot.errors import PilotError
from pilot.config.params import pep440_version as parseVersion  # noqa: F401  (DIRAC's name)

_SELF_LOG = "log through self.log in a command (debug, info, warn, error)"
_OWN_LOG = "the pilot sends its log itself (-z/--pilotLogging, -g/--loggerURL); " + _SELF_LOG

# DIRAC names with no meaning here -> what to use instead.
NOT_PROVIDED = {
    "pythonPathCheck": "the pilot already keeps $PYTHONPATH from its commands' children "
                       "(-k/--keepPP keeps it)",
    "alarmTimeoutHandler": "downloads time out by themselves: retrieveUrlTimeout(url, fileName, log, timeout) "
                           "or self.context.downloader",
    "ObjectLoader": "the pilot does not import DIRAC's modules; run DIRAC's commands as children: "
                    "self.executeAndGetOutput([...], self.pp.installEnv)",
    "getCommand": "the pilot builds and runs the command list itself (-X, -E); to build on a standard "
                  "command, subclass it: from pilotCommands import InstallDIRAC",
    "Logger": _SELF_LOG + "; the pilot writes pilot.out",
    "RemoteLogger": _OWN_LOG,
    "sendMessage": _OWN_LOG,
    "FixedSizeBuffer": "part of DIRAC's remote logger: " + _OWN_LOG,
    "RepeatingTimer": "part of DIRAC's remote logger: " + _OWN_LOG,
    "synchronized": "part of DIRAC's remote logger: " + _OWN_LOG,
    "PilotParams": "the pilot resolves the parameters once, before the commands run; a command reads "
                   "them as self.pp (with DIRAC's attribute names)",
}


class NotProvided(ImportError):
    """A DIRAC pilot name that Pilots 2.0 does not provide (the message says what to use)."""


def refuse_names(module_name, names):
    """Make ``from <module_name> import X`` (or module.X) raise NotProvided for each X of ``names``.

    The module in sys.modules is replaced by one of a ModuleType subclass (module
    __getattr__ is Python 3.7+ only); the original is kept, its functions' globals."""
    original = sys.modules[module_name]

    class _Module(types.ModuleType):
        def __getattr__(self, name):
            if name in names:
                raise NotProvided("%s.%s is DIRAC's and not part of Pilots 2.0: %s"
                                  % (module_name, name, NOT_PROVIDED[name]))
            raise AttributeError("module %s has no attribute %s" % (module_name, name))

    replacement = _Module(compat.to_native(module_name), original.__doc__)
    replacement.__dict__.update(original.__dict__)
    replacement._original = original  # Python 2 clears a freed module's globals
    sys.modules[module_name] = replacement


def load_module_from_path(module_name, path_to_module):
    """The module of a Python file, executed (not added to sys.modules), as in DIRAC."""
    module = types.ModuleType(compat.to_native(module_name))
    module.__file__ = path_to_module
    compat.exec_code(compile(compat.read_bytes(path_to_module), path_to_module, "exec"), module.__dict__)
    return module


class _DownloadLog(object):
    """A DIRAC-style logger (warn) seen as the downloader's (warning)."""

    def __init__(self, log):
        self.log = log

    def __getattr__(self, name):
        if name == "warning" and not hasattr(self.log, "warning"):
            return self.log.warn
        return getattr(self.log, name)


def retrieveUrlTimeout(url, fileName, log, timeout=0):
    """Download ``url`` into ``fileName`` (True), or return its content when ``fileName`` is
    empty; False (and an error logged) when it fails.

    Through the pilot's downloader: HTTPS verified against the system CAs and
    $X509_CERT_DIR (or /etc/grid-security/certificates), curl or wget where this
    Python has no usable ssl, one attempt of at most ``timeout`` seconds (60 if 0).
    """
    downloader = fetch.Downloader(_DownloadLog(log), timeout=timeout or 60, attempts=1,
                                  capath=fetch.default_ca_dir(os.environ))
    try:
        _, data = downloader.get([url], what=url)
    except PilotError as exc:
        log.error("URL retrieve: %s" % exc.reason)
        return False
    if fileName:
        fetch.write_atomic(fileName, data)
        return True
    return compat.to_native(data)


def safe_listdir(directory, timeout=60):
    """os.listdir that gives up after ``timeout`` seconds (lazy CVMFS mounts): the entries,
    [] for a missing directory, None when it timed out, as in DIRAC."""
    def listing():
        try:
            return os.listdir(directory)
        except (IOError, OSError):
            return []

    done, entries = nodeinfo.call_within(timeout, listing)
    return entries if done else None


def getSubmitterInfo(ceName):
    """(flavour, pilot reference, batch system) of where the pilot runs, from its environment:
    {"Type", "JobID", "Parameters": {"BinaryPath", "Host", "InfoPath", "Queue"}}."""
    where = batchsystem.detect(os.environ, ceName, None)
    parameters = dict((key, where.batch[key]) for key in ("BinaryPath", "Host", "InfoPath", "Queue"))
    return where.flavour, where.reference, {"Type": where.batch["Type"], "JobID": where.batch["JobID"],
                                            "Parameters": parameters}


def getFlavour(ceName):
    """(flavour, pilot reference); deprecated in DIRAC: use getSubmitterInfo."""
    warnings.warn("getFlavour() is deprecated: use getSubmitterInfo()", DeprecationWarning, stacklevel=2)
    return getSubmitterInfo(ceName)[:2]


def getVO(proxy_data):
    """The VO of the first VOMS attribute of a proxy (its PEM bytes).  Raises
    NotImplementedError when it has none, as DIRAC's does."""
    for certificate in credentials.certificates_of(proxy_data, "the proxy"):
        if certificate.fqans:
            return credentials.vo_of_fqan(certificate.fqans[0])
    raise NotImplementedError("the proxy has no VOMS attribute: no VO")


__all__ = ["CommandBase", "getFlavour", "getSubmitterInfo", "getVO", "load_module_from_path", "parseVersion",
           "retrieveUrlTimeout", "safe_listdir"]

refuse_names(__name__, sorted(NOT_PROVIDED))
