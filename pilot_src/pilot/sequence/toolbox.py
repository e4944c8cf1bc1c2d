"""The toolbox: command names -> classes, with DIRAC's extension rules.

``-E LHCbPilot,GridPPPilot`` loads the modules ``LHCbPilotCommands`` and
``GridPPPilotCommands``.  As in DIRAC, the first extension that defines a
command name wins, then the core toolbox: extensions add commands and
override standard ones.  A module is looked for, in this order, in each
``--extensions-dir``, beside pilot.pyz, then inside pilot.pyz; an item may
also be a URL with its checksum (``https://host/LHCbPilotCommands.py#sha256=HEX``).
Which file was loaded (and its sha256) is logged.  A missing extension or one that
fails to import stops the pilot before any command runs (DIRAC silently ran
the core command instead).
"""

import hashlib
import os
import sys
import traceback
import types
import zipfile


from ..shims import compat
from ..commands.base import Command
from ..errors import ConfigError


class Entry(object):
    def __init__(self, cls, origin, overrides=None, load=None):
        self._cls = cls
        self._load = load             # for a core command: imports its module when first asked
        self.origin = origin          # "core" or the extension's module name
        self.overrides = overrides    # origin of the command it replaced, if any

    @property
    def cls(self):
        if self._cls is None:
            self._cls = self._load()
        return self._cls


class LoadedExtension(object):
    def __init__(self, prefix, module_name, location, sha256, commands):
        self.prefix = prefix
        self.module_name = module_name
        self.location = location
        self.sha256 = sha256
        self.commands = commands


class Toolbox(object):
    def __init__(self):
        self.entries = {}
        self.extensions = []

    @classmethod
    def core(cls):
        from ..commands import CORE_NAMES, core_command

        toolbox = cls()
        for name in CORE_NAMES:
            toolbox.entries[name] = Entry(None, "core", load=lambda name=name: core_command(name))
        return toolbox

    def register(self, command, origin):
        name = command.command_name()
        previous = self.entries.get(name)
        self.entries[name] = Entry(command, origin, previous.origin if previous else None)

    def names(self):
        return sorted(self.entries)

    def get(self, name):
        return self.entries[name].cls

    def plan(self, names):
        """The classes for a command list; unknown names are all reported at once."""
        unknown = [name for name in names if name not in self.entries]
        if unknown:
            raise ConfigError("unknown command%s %s (known: %s)"
                              % ("s" if len(unknown) > 1 else "", ", ".join(unknown),
                                 ", ".join(self.names())))
        return [self.entries[name].cls for name in names]

    def load_extensions(self, prefixes, search_dirs, archive, log, downloader=None):
        """Load every extension; the first one listed wins on a name clash."""
        loaded = []
        for prefix in prefixes:
            loaded.append(load_extension(prefix, search_dirs, archive, log, downloader))
        for extension in reversed(loaded):
            for command in extension.commands:
                self.register(command, extension.module_name)
        self.extensions = loaded
        return loaded


def module_name_for(prefix):
    """DIRAC's rule: -E LHCbPilot -> LHCbPilotCommands (a full name is accepted too)."""
    return prefix if prefix.endswith("Commands") else prefix + "Commands"


def find_extension(module_name, search_dirs, archive):
    """Return (source bytes, location) or (None, [places looked])."""
    looked = []
    folders = list(search_dirs)
    if archive:
        folders.append(os.path.dirname(archive))
    for folder in folders:
        path = os.path.join(os.path.abspath(folder), module_name + ".py")
        looked.append(os.path.dirname(path))
        if os.path.isfile(path):
            handle = open(path, "rb")
            try:
                return handle.read(), path
            finally:
                handle.close()
    if archive and zipfile.is_zipfile(archive):
        looked.append("inside %s" % os.path.basename(archive))
        archive_file = zipfile.ZipFile(archive)
        try:
            if module_name + ".py" in archive_file.namelist():
                return archive_file.read(module_name + ".py"), "%s/%s.py" % (archive, module_name)
        finally:
            archive_file.close()
    return None, looked


def fetch_extension(spec, downloader):
    """An extension given as URL#sha256=HEX: (module name, source, url).

    The checksum is required: the pilot runs no downloaded code it cannot check.
    """
    url, _, fragment = spec.partition("#")
    if not fragment.startswith("sha256=") or len(fragment) != len("sha256=") + 64:
        raise ConfigError("extension %s: a URL needs #sha256=<64 hex digits> after it" % url)
    file_name = url.rstrip("/").split("/")[-1]
    if not file_name.endswith("Commands.py"):
        raise ConfigError("extension %s: the file name must be <Prefix>Commands.py" % url)
    if downloader is None:
        raise ConfigError("extension %s: no downloader to fetch it" % url)
    used, source = downloader.get([url], sha256=fragment[len("sha256="):], what="extension %s" % file_name,
                                    kind="extension")
    return file_name[:-3], source, used


def load_extension(prefix, search_dirs, archive, log, downloader=None):
    if "://" in prefix:
        module_name, source, location = fetch_extension(prefix, downloader)
    else:
        module_name = module_name_for(prefix)
        source, location = find_extension(module_name, search_dirs, archive)
    if source is None:
        raise ConfigError("extension %s: %s.py not found (looked in: %s)"
                          % (prefix, module_name, ", ".join(location) or "nowhere"))
    digest = hashlib.sha256(source).hexdigest()
    module_name = compat.to_native(module_name)  # Python 2 wants a byte-string module name
    module = types.ModuleType(module_name)
    module.__file__ = location
    sys.modules[module_name] = module  # extensions may import each other by name
    try:
        code = compile(source, location, "exec")
        compat.exec_code(code, module.__dict__)
    except (Exception, SystemExit) as exc:  # an extension calling sys.exit() at import is a bad extension
        del sys.modules[module_name]
        frames = traceback.extract_tb(sys.exc_info()[2])
        last = [frame for frame in frames if frame[0] == location][-1:] or frames[-1:]  # the extension's line
        line = getattr(exc, "lineno", None) or (last[0][1] if last else "?")
        log.debug(traceback.format_exc())
        raise ConfigError("extension %s (%s) failed to load: %s: %s (line %s)"
                          % (prefix, location, exc.__class__.__name__, _first_line(exc), line))
    commands = [value for value in vars(module).values()
                if isinstance(value, type) and issubclass(value, Command)
                and value.__module__ == module_name]
    commands.sort(key=lambda command: command.command_name())
    log.info("extension %s: %s (sha256 %s) provides %s"
             % (prefix, location, digest[:16], ", ".join(c.command_name() for c in commands) or "nothing"))
    return LoadedExtension(prefix, module_name, location, digest, commands)


def _first_line(exc):
    text = compat.to_text(getattr(exc, "msg", None) or exc).strip()
    return text.splitlines()[0] if text else ""
