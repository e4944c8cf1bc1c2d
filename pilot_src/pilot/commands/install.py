"""InstallDIRAC: make a DIRAC release usable, and capture its environment once.

The ways (``--install-methods``, or pilot.json ``InstallMethods``) are tried in
order until one works:

preinstalled  a release already on the node: ``--preinstalledEnv`` (a
              diracosrc), else ``<--preinstalledEnvPrefix>/<version|pro>/<System>-<machine>/diracosrc``,
              else ``<CVMFS location>/<project>dirac/<version|pro>/<System>-<machine>/diracosrc``
diracos       download the DIRACOS installer (``--installer-url``, checksum
              ``--installer-sha256``), run it, then pip-install the release into it
venv          pip-install the release into a new virtual environment of a Python 3
tarball       download a release tarball (``--release-tarball-url``, checksum
              ``--release-tarball-sha256``) holding a ``diracosrc`` at its top

``-o diracInstallOnly`` skips ``preinstalled``; ``-o cvmfsOnly`` allows nothing
else.  The release's environment (what its diracosrc sets, plus
``--userEnvVariables``) is given to every later command; the pilot's own
os.environ is never changed.

Hooks for a VO's subclass (see docs/extensions.md): ``install_methods()``
(the ways to try, in order), ``install_<way>()`` (one way: returns the
diracosrc and its environment, or raises Skip), ``pip_requirements()`` and
``pip_install(env)`` (what goes into the release's Python), and
``capture_environment(rc_file)``.  Their old private names (``_methods``,
``_install_<way>``, ``_pip_install``, ``_capture``) still work, called or
overridden.
"""

import os
import platform
import shutil
import sys
import tarfile

from ..shims import compat
from ..node import environment, nodeinfo
from .base import Command, legacy_alias
from ..errors import PilotError

METHODS = ("preinstalled", "diracos", "venv", "tarball")
UNPINNED = ("", "master", "main", "integration")
INSTALL_TIMEOUT = 3600


class Skip(Exception):
    """Raised by an install way that does not apply here (e.g. the release is not on CVMFS):
    InstallDIRAC logs the reason and tries the next way."""


def pip_requirement(project, version, extras="pilot"):
    name = "%sDIRAC[%s]" % (project or "", extras)
    if version in UNPINNED:
        return name
    return "%s==%s" % (name, version)


def module_requirements(project, modules):
    """--modules items: url:::Project:::branch, or a bare URL."""
    requirements = []
    for item in modules:
        parts = item.split(":::")
        url = parts[0]
        git_url = url if url.startswith("git+") else "git+" + url
        if len(parts) == 3:
            requirements.append("%s[pilot] @ %s@%s" % (parts[1], git_url, parts[2]))
        else:
            requirements.append("%s[pilot]" % git_url)
    return requirements


def system_dir():
    """The platform folder of a release on CVMFS, e.g. Linux-x86_64."""
    return "%s-%s" % (platform.system(), platform.machine())


class InstallDIRAC(Command):
    """Install (or find) the DIRAC release and capture its environment."""

    description = "make the DIRAC release usable (CVMFS, DIRACOS installer, venv or tarball); capture its environment"
    failure_type = "install"
    phase = "Installing"

    def execute(self):
        methods = self._hook("install_methods", "_methods")()
        failures = []
        last_type = None
        for method in methods:
            self.log.info("trying to install with: %s" % method)
            way = self._way(method)
            try:
                rc_file, env = way()
            except Skip as skip:
                self.log.info("%s: %s" % (method, skip))
                failures.append("%s: %s" % (method, skip))
                continue
            except PilotError as exc:
                self.log.warning("%s failed: %s" % (method, exc.reason))
                failures.append("%s: %s" % (method, exc.reason))
                last_type = exc.failure_type
                continue
            self._finish(method, rc_file, env)
            return
        self.fail("DIRAC %s not installed: %s" % (self.pp.releaseVersion or "(no version)", "; ".join(failures)),
                  last_type or "install")

    def _way(self, method):
        try:
            return self._hook("install_" + method)
        except AttributeError:
            self.fail("install method %s: %s has no install_%s()" % (method, self.command_name(), method), "config")

    # -- hooks ------------------------------------------------------------------------------
    def install_methods(self):
        """The ways to try, in order: --install-methods, filtered by -o cvmfsOnly and
        -o diracInstallOnly.  A subclass adds its own way (an ``install_<way>`` method) here."""
        methods = list(self.pp.installMethods)
        unknown = [method for method in methods if method not in METHODS]
        if unknown:
            self.fail("unknown install method(s) %s (known: %s)" % (", ".join(unknown), ", ".join(METHODS)),
                      "config")
        flags = self.pp.pilotFlags
        if "cvmfsOnly" in flags:
            methods = ["preinstalled"]
        elif "diracInstallOnly" in flags:
            methods = [method for method in methods if method != "preinstalled"]
        if not methods:
            self.fail("no install method left to try (options: %s)" % ", ".join(flags), "config")
        # Bad checksums are configuration errors: report them before any way is tried,
        # so that a later way cannot hide them.
        self._checksum(self.pp.installerSHA256)
        self._checksum(self.pp.releaseTarballSHA256)
        self.details["tried"] = methods
        return methods

    _methods = legacy_alias("install_methods")

    def capture_environment(self, rc_file):
        """The environment a child gets once ``rc_file`` (a diracosrc) is sourced in bash,
        plus DIRAC_RC_PATH and --userEnvVariables; a failure to source it is an install failure."""
        base = self.context.base_environment(self.pp)
        env, problem = environment.capture_rc(rc_file, base, self.context.runner, self.log)
        if env is None:
            raise PilotError("sourcing %s failed: %s" % (rc_file, problem), "install")
        env["DIRAC_RC_PATH"] = rc_file
        for name, value in self.pp.userEnvVariables.items():
            env[name] = value
        return env

    _capture = legacy_alias("capture_environment")

    def pip_requirements(self):
        """What pip installs into the release's Python (diracos and venv ways), in order:
        ``<Project>DIRAC[pilot]==<version>``, or the --modules."""
        if self.pp.modules:
            return module_requirements(self.pp.releaseProject, self.pp.modules)
        return [pip_requirement(self.pp.releaseProject, self.releaseVersion)]

    def pip_install(self, env):
        """pip install each of pip_requirements() with --pipInstallOptions, using the python of
        ``env`` (the release's environment)."""
        python = _which("python3", env) or _which("python", env)
        if not python:
            raise PilotError("the release environment has no python", "install")
        try:
            options = compat.shell_split(self.pp.pipInstallOptions or "")
        except ValueError as exc:  # unbalanced quotes
            raise PilotError("--pipInstallOptions %s: %s" % (self.pp.pipInstallOptions, exc), "config")
        for requirement in self.pip_requirements():
            self.log.info("pip install %s" % requirement)
            result = self.run([python, "-m", "pip", "install"] + options + [requirement], env=env,
                              timeout=INSTALL_TIMEOUT, program="pip")
            if not result.ok:
                raise PilotError("pip install %s failed: %s" % (requirement, result.describe()), "install")

    _pip_install = legacy_alias("pip_install")

    # -- the ways ---------------------------------------------------------------------------
    def install_preinstalled(self):
        version = self.pp.releaseVersion or "pro"
        if self.pp.preinstalledEnv:
            candidates = [self.pp.preinstalledEnv]
        elif self.pp.preinstalledEnvPrefix:
            candidates = [os.path.join(self.pp.preinstalledEnvPrefix, version, system_dir(), "diracosrc")]
        else:
            project = "%sdirac" % self.pp.releaseProject.lower()
            candidates = [os.path.join(location, project, version, system_dir(), "diracosrc")
                          for location in self.pp.CVMFS_locations]
        for rc_file in candidates:
            folder = os.path.dirname(rc_file)
            state, _ = nodeinfo.probe_directory(folder, environment.PROBE_SECONDS)
            if state == "visible" and os.path.isfile(rc_file):
                env = self._hook("capture_environment", "_capture")(rc_file)
                self.pp.preinstalled = True
                return rc_file, env
            self.log.debug("%s: %s" % (folder, state))
        raise Skip("release %s not found (looked for %s)" % (version, ", ".join(candidates)))

    _install_preinstalled = legacy_alias("install_preinstalled")

    def install_diracos(self):
        urls = [url.replace("{machine}", platform.machine()) for url in self.pp.installerURLs]
        installer = self.path("DIRACOS-installer.sh")
        self.context.downloader.save(urls, installer, self._checksum(self.pp.installerSHA256),
                                     "DIRACOS installer", kind="installer")
        target = self.path("diracos")
        if os.path.exists(target):
            shutil.rmtree(target)
        env = dict(self.context.base_environment(self.pp))
        env["MAMBA_EXTRACT_THREADS"] = str(self.pp.maxNumberOfProcessors or 1)
        result = self.run(["bash", installer], env=env, timeout=INSTALL_TIMEOUT)
        if not result.ok:
            raise PilotError("the DIRACOS installer failed: %s" % result.describe(), "install")
        rc_file = os.path.join(target, "diracosrc")
        if not os.path.isfile(rc_file):
            raise PilotError("the DIRACOS installer left no %s" % rc_file, "install")
        self._append_user_variables(rc_file)
        env = self._hook("capture_environment", "_capture")(rc_file)
        self._hook("pip_install")(env)
        return rc_file, self._hook("capture_environment", "_capture")(rc_file)

    _install_diracos = legacy_alias("install_diracos")

    def install_venv(self):
        python = self._python3()
        target = self.path("diracenv")
        if os.path.exists(target):
            shutil.rmtree(target)
        # --copies: DIRAC starts each job's wrapper with realpath(sys.executable), which for a
        # symlinked venv python is the base interpreter, without DIRAC.
        result = self.run([python, "-m", "venv", "--copies", target], timeout=600)
        if not result.ok:
            raise PilotError("cannot make a virtual environment with %s: %s" % (python, result.describe()),
                             "install")
        rc_file = os.path.join(target, "diracosrc")
        # DIRAC_ROOT_PATH: DIRAC's root (etc/, CAs) is the venv, as it is $DIRACOS with DIRACOS;
        # otherwise DIRAC takes the base interpreter's prefix (e.g. /usr) and writes there.
        lines = ["export VIRTUAL_ENV=%s\n" % compat.shell_quote(target),
                 'export PATH="$VIRTUAL_ENV/bin:$PATH"\n',
                 "export DIRAC_ROOT_PATH=%s\n" % compat.shell_quote(target)]
        _write(rc_file, "".join(lines))
        self._append_user_variables(rc_file)
        env = self._hook("capture_environment", "_capture")(rc_file)
        self._hook("pip_install")(env)
        return rc_file, env

    _install_venv = legacy_alias("install_venv")

    def install_tarball(self):
        if not self.pp.releaseTarballURLs:
            raise Skip("no --release-tarball-url given")
        archive = self.path("dirac-release.tar.gz")
        self.context.downloader.save(self.pp.releaseTarballURLs, archive,
                                     self._checksum(self.pp.releaseTarballSHA256), "release tarball",
                                     kind="tarball")
        target = self.path("diracrelease")
        if os.path.exists(target):
            shutil.rmtree(target)
        os.mkdir(target)
        safe_extract(archive, target)
        rc_file = os.path.join(target, "diracosrc")
        if not os.path.isfile(rc_file):
            raise PilotError("the release tarball has no diracosrc at its top", "install")
        self._append_user_variables(rc_file)
        return rc_file, self._hook("capture_environment", "_capture")(rc_file)

    _install_tarball = legacy_alias("install_tarball")

    # -- helpers ----------------------------------------------------------------------------
    def _checksum(self, value):
        value = (value or "").strip().lower()
        if value and (len(value) != 64 or any(char not in "0123456789abcdef" for char in value)):
            self.fail("'%s' is not a sha256 (64 hex characters)" % value, "config")
        return value or None

    def _python3(self):
        if sys.version_info[0] >= 3:
            return sys.executable
        for folder in self.environment().get("PATH", "").split(os.pathsep):
            candidate = os.path.join(folder, "python3")
            if folder and os.access(candidate, os.X_OK):
                return candidate
        raise PilotError("no python3 on this node for a virtual environment", "install")

    def _append_user_variables(self, rc_file):
        if not self.pp.userEnvVariables:
            return
        lines = ["export %s=%s\n" % (name, compat.shell_quote(value))
                 for name, value in sorted(self.pp.userEnvVariables.items())]
        handle = open(rc_file, "a")
        try:
            handle.write("".join(lines))
        finally:
            handle.close()

    def _finish(self, method, rc_file, env):
        self.pp.installEnv = env
        self.pp.diracInstalled = True
        base = self.context.base_environment(self.pp)
        written = environment.write_exports(self.path("environmentSourceDirac"), env, base)
        if not os.path.exists(self.path("bashrc")):
            shutil.copy(self.path("environmentSourceDirac"), self.path("bashrc"))
        self.details.update({"method": method, "rc_file": rc_file, "version": self.pp.releaseVersion,
                             "variables": written})
        self.log.info("DIRAC %s ready (%s, %s); %d variables in environmentSourceDirac"
                      % (self.pp.releaseVersion or "pro", method, rc_file, written))


def _which(name, env):
    for folder in env.get("PATH", "").split(os.pathsep):
        candidate = os.path.join(folder, name)
        if folder and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def _write(path, text):
    handle = open(path, "w")
    try:
        handle.write(text)
    finally:
        handle.close()


def safe_extract(archive, target):
    """Extract a tarball refusing absolute paths, '..', links leaving it and devices."""
    real_target = os.path.realpath(target)
    try:
        tar = tarfile.open(archive)
    except (tarfile.TarError, IOError, OSError) as exc:
        raise PilotError("cannot open the release tarball: %s" % exc, "install")
    try:
        members = tar.getmembers()
        for member in members:
            path = os.path.realpath(os.path.join(real_target, member.name))
            if not (path == real_target or path.startswith(real_target + os.sep)):
                raise PilotError("the release tarball has an unsafe path: %s" % member.name, "integrity")
            if member.issym() or member.islnk():
                link = member.linkname
                base = os.path.dirname(path) if member.issym() else real_target
                resolved = os.path.realpath(os.path.join(base, link))
                if not resolved.startswith(real_target + os.sep):
                    raise PilotError("the release tarball has a link leaving it: %s" % member.name, "integrity")
            if member.isdev() or member.isfifo():
                raise PilotError("the release tarball holds a device: %s" % member.name, "integrity")
        if hasattr(tarfile, "data_filter"):  # 3.12+: also let tarfile refuse what it knows is unsafe
            tar.extractall(target, members, filter="data")
        else:
            tar.extractall(target, members)
    except (tarfile.TarError, IOError, OSError) as exc:
        raise PilotError("cannot extract the release tarball: %s" % exc, "install")
    finally:
        tar.close()
