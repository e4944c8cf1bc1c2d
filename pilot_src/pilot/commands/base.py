"""The command pattern: a command is a small class with a name and execute().

A command gets the resolved parameters (``self.pp``) and a context (logger,
subprocess runner, downloader, work directory).  It reports failure by
raising through ``self.fail(reason, failure_type)``; the runner times it,
records it in pilot_result.json and decides the exit code from the type.

VO extensions written for DIRAC's pilot keep working: ``CommandBase`` (the
same class) accepts ``(pilotParams)``, has ``pp``, ``log``, ``debugFlag``,
``releaseVersion``, ``exitWithError`` and ``executeAndGetOutput``.

VOs import all this from pilot.extension.  A method a VO may override is a
public *hook*; where extensions used to override a private method, that name
stays as an alias (``legacy_alias``), and an extension that still overrides
it is obeyed (``_hook``).
"""

import os

from ..config import params as params_module
from ..errors import CommandFailed


def legacy_alias(public):
    """The old private name of the hook ``public``, for extensions that call or override it."""

    def alias(self, *args, **kwargs):
        return getattr(self, public)(*args, **kwargs)

    alias.__name__ = "_" + public
    alias.__doc__ = "Old name of %s(), kept for extensions written before it." % public
    alias.legacy_alias = True
    return alias


class Context(object):
    """What a command may use besides the parameters.  No global state."""

    def __init__(self, logger, runner, downloader, work_dir, environ, archive=None):
        self.logger = logger
        self.runner = runner
        self.downloader = downloader
        self.work_dir = work_dir
        self.environ = dict(environ)   # a copy taken at start; commands never touch os.environ
        self.archive = archive
        self.security = None           # grid security directories, found on first use
        self._base_env = None

    def base_environment(self, params):
        """The environment children get before a release is installed (built once)."""
        if self._base_env is None:
            from ..node import environment

            if self.security is None:
                self.security = environment.security_directories(params.CVMFS_locations, self.environ)
            self._base_env = environment.base_environment(self.environ, params, self.security)
        return self._base_env


class Command(object):
    name = None            # defaults to the class name
    description = ""       # one line, shown by --list-commands
    failure_type = "command"
    phase = None           # DIRAC logging phase, e.g. "Installing"
    context = None         # set by bind(); the runner binds before __init__ (see create())
    log = None

    def __init__(self, pilotParams, context=None):
        self.pp = pilotParams
        self.details = {}  # recorded in pilot_result.json for this command
        # DIRAC's old CommandBase took a name as second argument: only a Context binds
        if isinstance(context, Context):
            self.bind(context)

    @classmethod
    def create(cls, pilotParams, context):
        """A bound instance, bound before its __init__ runs: a command written for DIRAC
        logs from its __init__ (``self.log`` is set by DIRAC's CommandBase.__init__)."""
        command = cls.__new__(cls)
        command.bind(context)
        command.__init__(pilotParams)
        return command

    @classmethod
    def command_name(cls):
        return cls.name or cls.__name__

    @classmethod
    def summary(cls):
        text = cls.description or (cls.__doc__ or "").strip().split("\n")[0]
        return text.strip()

    def bind(self, context):
        self.context = context
        self.log = context.logger.source(self.command_name(), self.phase)

    def execute(self):
        raise NotImplementedError("%s has no execute()" % self.command_name())

    # -- helpers ----------------------------------------------------------------------
    def _hook(self, name, old_name=None):
        """The bound method to call for the hook ``name``: an extension's override of its old
        private name (``old_name``, default ``_<name>``) when its class has one, else ``name``
        (AttributeError if neither)."""
        legacy = getattr(self, old_name or "_" + name, None)
        if legacy is not None and not getattr(legacy, "legacy_alias", False):
            return legacy
        return getattr(self, name)

    def fail(self, reason, failure_type=None, **details):
        """Stop the pilot here with a one-line reason."""
        self.details.update(details)
        raise CommandFailed(reason, failure_type or self.failure_type, self.details)

    def run(self, args, env=None, **kwargs):
        """Run a child (argument list) in the work directory; see proc.ProcessRunner.run."""
        kwargs.setdefault("cwd", self.context.work_dir)
        if env is None:
            env = self.environment()
        return self.context.runner.run(args, self.log, env=env, **kwargs)

    def environment(self):
        """The release environment once InstallDIRAC ran, else the base environment."""
        if self.pp.installEnv is not None:
            return self.pp.installEnv
        return self.context.base_environment(self.pp)

    @property
    def work_dir(self):
        return self.context.work_dir

    def path(self, *parts):
        return os.path.join(self.context.work_dir, *parts)

    # -- DIRAC CommandBase compatibility ----------------------------------------------
    @property
    def debugFlag(self):
        return self.pp.debugFlag

    @property
    def releaseVersion(self):
        """The version to install, PEP 440 style; "DIRAC[pilot]==9.0.3" gives 9.0.3, as in DIRAC."""
        version = params_module.pep440_version(self.pp.releaseVersion)
        return version.split("==", 1)[1] if "==" in version else version

    def exitWithError(self, errorCode):
        self.fail("%s exited with code %s" % (self.command_name(), errorCode), exit_code=errorCode)

    def executeAndGetOutput(self, cmd, environDict=None):
        """DIRAC's helper, for extensions: (return code, stdout).

        ``cmd`` may be a list (preferred) or, as in DIRAC, a shell string
        written by the extension's author, which then runs under bash -c.
        The core commands never build shell strings.
        """
        if not isinstance(cmd, (list, tuple)):
            cmd = ["/bin/bash", "-c", cmd]
        result = self.run(list(cmd), env=environDict, capture=True)
        return result.returncode, result.stdout


CommandBase = Command
