"""Imports the pilot's modules from pilot.bz2, the one compressed blob inside pilot.pyz.

The build (pilot_server/pyzbuild.py) strips comments and docstrings from every
module (each becomes blank lines, so line numbers stay those of the checkout),
concatenates them into one bz2 stream (much smaller than one zip member each)
and writes pilot.idx: one line per module, ``path length``, in the blob's
order (the module name and whether it is a package follow from the path).  The blob is decompressed once, at the first import
from it; a module is compiled when it is imported, named after its real file
(``<pyz>/pilot/cli.py``), so tracebacks show file names, line numbers and,
through get_source, the lines themselves.

Compiled modules are kept between runs in a node-local directory, by default
/var/tmp/pilots2-pyc-<uid> (not when the interpreter is told not to write bytecode:
-B, $PYTHONDONTWRITEBYTECODE), or in $PILOT_PYC_CACHE (an absolute path; ``off``
turns the cache off).  It is used only if it is (or can be made) a directory of this
uid with mode 0700; entries are keyed by the pyz's sha256 and the interpreter,
written atomically; the folders of other pyz files go after 7 days unused, or when
more than 8 are kept.
"""

import marshal
import os
import sys

INDEX = "pilot.idx"
BLOB = "pilot.bz2"
CACHE_ENV = "PILOT_PYC_CACHE"
CACHE_DEFAULT = "/var/tmp/pilots2-pyc-%d"
CACHE_OFF = ("off", "no", "none", "0", "false")
CACHE_KEEP = 8                   # pyz folders kept (the newest used)
CACHE_MAX_AGE = 7 * 24 * 3600.0  # seconds a pyz folder is kept unused
_CODE = type(compile("", "<empty>", "exec"))


class BlobImporter(object):
    """A meta path finder and loader (PEP 302 for Python 2, PEP 451 for 3.4+)."""

    def __init__(self, archive, reader):
        self.archive = archive
        self.read = reader            # member name -> bytes
        self.modules = {}             # name -> (path, offset, length, is_package)
        offset = 0
        for line in self.read(INDEX).decode("ascii").splitlines():
            path, length = line.split(" ")
            parts = path[:-3].split("/")  # pilot/commands/__init__.py: the package pilot.commands
            package = parts[-1] == "__init__"
            self.modules[".".join(parts[:-1] if package else parts)] = (path, offset, int(length), package)
            offset += int(length)
        self._text = None
        self._cache = _Cache(archive)

    # -- what the finder knows ----------------------------------------------------------
    def filename(self, name):
        return os.path.join(self.archive, self.modules[name][0])

    def is_package(self, name):
        return self.modules[name][3]

    def get_source(self, name):
        if name not in self.modules:
            raise ImportError("no module %s in %s" % (name, self.archive))
        if self._text is None:
            self._text = _decompress(self.read(BLOB))
        _, offset, length, _ = self.modules[name]
        return self._text[offset:offset + length].decode("utf-8")

    def get_code(self, name):
        code = self._cache.load(name)
        if code is None:
            code = compile(self.get_source(name), self.filename(name), "exec", 0, True)
            self._cache.store(name, code)
        return code

    def get_filename(self, name):
        return self.filename(name)

    def get_data(self, path):
        """A file of the pyz (pkgutil.get_data): a module's stripped source, or a plain member."""
        prefix = self.archive + os.sep
        if path.startswith(prefix):
            member = path[len(prefix):].replace(os.sep, "/")
            for name, entry in self.modules.items():
                if entry[0] == member:
                    return self.get_source(name).encode("utf-8")
            return self.read(member)
        raise IOError("%s is not in %s" % (path, self.archive))

    def _prepare(self, module):
        name = module.__name__
        module.__file__ = self.filename(name)
        module.__loader__ = self
        if self.is_package(name):
            module.__path__ = [os.path.dirname(module.__file__)]
            module.__package__ = name
        else:
            module.__package__ = name.rpartition(".")[0]

    # -- Python 3.4+ ----------------------------------------------------------------------------
    def find_spec(self, name, path=None, target=None):
        if name not in self.modules:
            return None
        from importlib.machinery import ModuleSpec  # novm  py26: ok (Python 3.4+ only calls find_spec)

        spec = ModuleSpec(name, self,  # novm
                           origin=self.filename(name), is_package=self.is_package(name))
        spec.has_location = True  # __file__ = origin
        if spec.submodule_search_locations is not None:
            spec.submodule_search_locations.append(os.path.dirname(spec.origin))
        return spec

    def create_module(self, spec):
        return None  # the default module object

    def exec_module(self, module):
        exec(self.get_code(module.__name__), module.__dict__)

    # -- Python 2 ----------------------------------------------------------------------------------
    def find_module(self, name, path=None):
        return self if name in self.modules else None

    def load_module(self, name):
        if name in sys.modules:
            return sys.modules[name]
        import imp  # novm  py26: ok (load_module: Python 2 only; 3.4+ calls exec_module)

        module = sys.modules[name] = imp.new_module(name)
        try:
            self._prepare(module)
            exec(self.get_code(name), module.__dict__)
        except BaseException:
            sys.modules.pop(name, None)
            raise
        return sys.modules[name]


def _decompress(data):
    try:
        from _bz2 import BZ2Decompressor  # Python 3: bz2.py would import threading for nothing
    except ImportError:
        from bz2 import BZ2Decompressor
    return BZ2Decompressor().decompress(data)


class _Cache(object):
    """Compiled modules in <cache>/<pyz sha256>/<interpreter>/<module>; off unless safe."""

    def __init__(self, archive):
        self.folder = None
        base = os.environ.get(CACHE_ENV)
        if base is None:
            if sys.dont_write_bytecode:
                return
            base = CACHE_DEFAULT % os.getuid()
        if base.lower() in CACHE_OFF or not os.path.isabs(base):
            return
        try:
            digest = _sha256(archive)
            # the interpreter: implementation, version and build flags (3.13t's free-threaded build)
            tag = "%s-%x%s" % (getattr(getattr(sys, "implementation", None), "name", "cpython"), sys.hexversion,
                               getattr(sys, "abiflags", ""))
            created = False
            folder = base
            for part in ("", digest, tag):
                folder = os.path.join(folder, part) if part else folder
                if not os.path.isdir(folder):
                    try:
                        os.mkdir(folder, 448)  # 0700
                        created = created or part == digest
                    except OSError:
                        if not os.path.isdir(folder):  # else another pilot made it first
                            raise
                if not _private(folder):
                    return
            self.folder = folder
            os.utime(os.path.dirname(folder), None)  # this pyz's folder: used now
            if created:
                _prune(base, digest)
        except (IOError, OSError):
            self.folder = None

    def load(self, name):
        if self.folder is None:
            return None
        path = os.path.join(self.folder, name)
        try:
            handle = open(path, "rb")
        except (IOError, OSError):
            return None
        try:
            if not _private(path, handle.fileno()):
                return None
            code = marshal.load(handle)
            return code if isinstance(code, _CODE) else None
        except (EOFError, ValueError, TypeError, IOError, OSError):
            return None
        finally:
            handle.close()

    def store(self, name, code):
        if self.folder is None:
            return
        path = os.path.join(self.folder, name)
        tmp = "%s.%d.tmp" % (path, os.getpid())
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 384)  # 0600
            handle = os.fdopen(fd, "wb")
            try:
                marshal.dump(code, handle)
            finally:
                handle.close()
            os.rename(tmp, path)
        except (IOError, OSError, ValueError):
            try:
                os.unlink(tmp)
            except OSError:
                pass


def _private(path, fd=None):
    """Owned by this uid, and neither group nor others may write (a directory: nor read)."""
    info = os.fstat(fd) if fd is not None else os.lstat(path)
    if info.st_uid != os.getuid():
        return False
    import stat

    if stat.S_ISDIR(info.st_mode):
        return not info.st_mode & 63  # 0077
    return stat.S_ISREG(info.st_mode) and not info.st_mode & 18  # 0022


def _prune(base, kept):
    """Remove the folders of other pyz files unused for CACHE_MAX_AGE, and all but the CACHE_KEEP newest."""
    import shutil
    import stat
    import time

    folders = []
    for name in os.listdir(base):
        path = os.path.join(base, name)
        try:
            info = os.lstat(path)
        except OSError:
            continue
        if name != kept and len(name) == 64 and stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid():
            folders.append((info.st_mtime, path))
    folders.sort(reverse=True)
    now = time.time()
    for rank, (used, path) in enumerate(folders):
        if rank >= CACHE_KEEP - 1 or now - used > CACHE_MAX_AGE:
            shutil.rmtree(path, True)


def _sha256(path):
    import hashlib

    handle = open(path, "rb")
    try:
        return hashlib.sha256(handle.read()).hexdigest()
    finally:
        handle.close()


def install(archive, loader=None):
    """Put the blob's importer first on sys.meta_path; return it."""
    # The zipimporter that ran __main__ knows the zip already (its path may be relative).
    where = getattr(loader, "archive", None)
    if not where or not hasattr(loader, "get_data") or os.path.abspath(where) != archive:
        import zipimport

        loader, where = zipimport.zipimporter(archive), archive  # novm (2.3+ in fact)
    prefix = where + os.sep

    def reader(member):
        return loader.get_data(prefix + member)

    importer = BlobImporter(archive, reader)
    sys.meta_path.insert(0, importer)
    return importer
