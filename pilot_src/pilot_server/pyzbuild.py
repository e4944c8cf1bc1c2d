"""Reproducible build of ``pilot.pyz``: the one implementation of the pilot build.

Standard library only, runs on any Python 3.6+ (``build/build_pilot.py`` calls it
from a bare checkout, ``pilotctl build`` from an installed package).  The same
sources give the same sha256 whichever Python 3.6 ... 3.13 runs it, as long as
the zlib and bz2 libraries are the same.

Zip layout::

    __main__.py, pyzimport.py   <- pilot_src/pilot/_pyzroot/ (the launcher and the importer), stripped
    pilot/__init__.py           <- stripped too: a lone --version needs nothing else
    pilot.bz2                   <- one bz2 stream: every module, stripped (stored, not deflated)
    pilot.idx                   <- one line per module, in the blob's order: path length
    <data files>                <- non-Python files of pilot/ and compat/, as they are
    <extension files>           <- --with-extension FILE, as they are

The modules in pilot.bz2: pilot/** and compat/** under their paths, the other
files of _pyzroot/ (pilotTools.py, pilotCommands.py) at the top, and six.py
with --with-six (the pilot does not need it; some VO extensions do).  pilot/testing.py
(for a VO's unit tests, never used on a node) only with --with-testing.  Stripped
means comments and docstrings become blank lines: line numbers stay those of
the checkout, so a traceback on the node names the real file and line.

Reproducibility rules:
fixed timestamps (1980-01-01, or SOURCE_DATE_EPOCH), sorted members, no
directory entries, create_system 3, external_attr 0o100644 << 16, no archive
comment, nothing before or after the zip (no shebang: the wrapper chooses the
interpreter), ASCII names, no .pyc, deflate at zlib's default level (3.6's
zipfile cannot set another one), bz2 at level 9.
"""

import argparse
import bz2
import hashlib
import io
import os
import re
import sys
import tempfile
import time
import tokenize
import zipfile

SIX_WHEEL_NAME = "six-1.17.0-py2.py3-none-any.whl"
SIX_WHEEL_SHA256 = "4721f391ed90541fddacab5acf947aa0d3dc7d27b2e1e8eda2be8970586c3274"
# Searched after --six-wheel / PILOT_SIX_WHEEL and <checkout>/build/wheels (--with-six only).
SYSTEM_WHEEL_DIRS = ("/opt/wheels",)
DOWNLOAD_TIMEOUT = 120  # seconds for pip download

PYZROOT = "_pyzroot"
# The installed name of pilot_src/pilot (with compat inside it); the pyz calls them pilot and compat.
WORKER_PACKAGE = "pilot_server.worker"
# Run by zipimport before the blob's importer exists: the launcher, the importer, and the pilot
# package's __init__ (what a lone --version needs, see _pyzroot/__main__.py).
ROOT_PLAIN = ("__main__.py", "pyzimport.py", "pilot/__init__.py")
# For a VO's unit tests only (docs/extensions.md): left out of the node's pyz unless asked for.
FOR_TESTS = ("pilot/testing.py",)
BLOB = "pilot.bz2"
INDEX = "pilot.idx"
DOS_EPOCH = 315532800  # 1980-01-01 00:00:00 UTC, the earliest zip date
DOS_END = 4354819198  # 2107-12-31 23:59:58 UTC, the latest one
CREATE_SYSTEM_UNIX = 3
MEMBER_ATTR = 0o100644 << 16  # regular file, rw-r--r--, whatever the source mode
EOCD_SIGNATURE = b"PK\x05\x06"
EOCD_SIZE = 22  # end-of-central-directory record without comment


class BuildError(Exception):
    """A build failure whose message is one line meant for the user."""


class BuildResult(dict):
    """What was built: path, size, sha256, version, members (name, size, sha256).

    A dict (JSON-ready, for manifests) whose keys also read as attributes.
    """

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name)


def _no_log(message):
    pass


def _stderr_log(message):
    _write_line(sys.stderr, message)


def _write_line(stream, text):
    # Paths may hold characters the console cannot encode (C locale on 3.6).
    try:
        stream.write(text + "\n")
    except UnicodeEncodeError:
        encoding = getattr(stream, "encoding", None) or "ascii"
        stream.write((text + "\n").encode(encoding, "backslashreplace").decode(encoding))
    stream.flush()


# --------------------------------------------------------------------- sources


def checkout_root():
    """The checkout holding this module (<root>/pilot_src/pilot_server), or None."""
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(os.path.dirname(here))
    if os.path.isdir(os.path.join(root, "pilot_src", "pilot")) and os.path.isdir(os.path.join(root, "compat")):
        return root
    return None


def default_output(source_root=None):
    """<checkout>/dist/pilot.pyz from a checkout, else ./dist/pilot.pyz."""
    root = source_root or checkout_root()
    base = os.path.abspath(root) if root else os.getcwd()
    return os.path.join(base, "dist", "pilot.pyz")


def _package_dir(name):
    # find_spec locates a top-level package without executing its __init__.
    import importlib.util

    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise BuildError(
            "cannot find the '%s' package: build from a checkout (--source-root) or install the pilot" % name
        )
    return list(spec.submodule_search_locations)[0]


def locate_sources(source_root=None):
    """(pilot_dir, compat_dir) from a checkout, else from the installed worker package.

    Installed, the worker-node package is pilot_server.worker and compat is inside it
    (docs/packaging.md); in the pyz they are the top-level pilot and compat all the same."""
    root = source_root or checkout_root()
    if root:
        pilot_dir = os.path.join(root, "pilot_src", "pilot")
        compat_dir = os.path.join(root, "compat")
    else:
        pilot_dir = _package_dir(WORKER_PACKAGE)
        compat_dir = os.path.join(pilot_dir, "compat")
    for label, path in (("pilot package", pilot_dir), ("compat package", compat_dir)):
        if not os.path.isdir(path):
            raise BuildError("%s not found: %s is not a directory" % (label, path))
    if not os.path.isfile(os.path.join(pilot_dir, PYZROOT, "__main__.py")):
        raise BuildError("no %s/__main__.py in %s: the pyz would not run" % (PYZROOT, pilot_dir))
    return pilot_dir, compat_dir


def _skipped(name):
    return name.startswith(".") or name == "__pycache__" or name.endswith((".pyc", ".pyo"))


def _raise(error):
    raise error


def _walk(top, prefix, skip_top=()):
    """[(member name, path)] for every regular file under top, with exclusions."""
    found = []
    for dirpath, dirnames, filenames in os.walk(top, onerror=_raise):
        rel = os.path.relpath(dirpath, top)
        parts = [] if rel == os.curdir else rel.split(os.sep)
        dirnames[:] = sorted(d for d in dirnames if not _skipped(d) and not (not parts and d in skip_top))
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            if _skipped(name) or not os.path.isfile(path):
                continue
            found.append(("/".join(prefix + parts + [name]), path))
    return found


def _check_name(name, origin):
    try:
        name.encode("ascii")
    except UnicodeEncodeError:
        raise BuildError("non-ASCII file name %s: zip member names must be ASCII" % ascii(origin))
    if re.search(r"[\x00-\x1f\x7f\\]", name):
        raise BuildError("unusable file name %s: control character or backslash" % ascii(origin))


def _read(path):
    with open(path, "rb") as fh:
        return fh.read()


def strip_source(text, origin="<source>"):
    """``text`` without comments and docstrings, each replaced by blank lines (line numbers kept).

    An indented docstring becomes ``0`` (a body must not end up empty); trailing spaces go.
    Raises BuildError if the result would not be the same program (it must compile
    where the original compiles).
    """
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError) as exc:
        raise BuildError("cannot tokenize %s: %s" % (origin, _one_line(exc)))
    cuts = []  # (start, end, replacement), in order
    previous = tokenize.NEWLINE
    for index, token in enumerate(tokens):
        kind = token[0]
        if kind == tokenize.COMMENT:
            cuts.append((token[2], token[3], ""))
        elif (
            kind == tokenize.STRING
            and previous in (tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT)
            and tokens[index + 1][0] in (tokenize.NEWLINE, tokenize.ENDMARKER)
        ):
            # At module level nothing (a __future__ import may follow); in a body, 0 (it must not be empty).
            cuts.append((token[2], token[3], "0" if token[2][1] else ""))
        if kind not in (tokenize.NL, tokenize.COMMENT):
            previous = kind
    lines = text.splitlines(True)
    for (start_row, start_col), (end_row, end_col), replacement in reversed(cuts):
        head = lines[start_row - 1][:start_col] + replacement
        tail = lines[end_row - 1][end_col:]
        if start_row == end_row:
            lines[start_row - 1] = head + tail
        else:
            lines[start_row - 1 : end_row] = [head + "\n"] + ["\n"] * (end_row - start_row - 1) + [tail]
    stripped = "".join(line.rstrip() + "\n" for line in "".join(lines).splitlines())
    if stripped.count("\n") != len(text.splitlines()):
        raise BuildError("internal error: stripping %s changed its line count" % origin)
    return stripped


def _module_name(member):
    """pilot/commands/__init__.py -> ("pilot.commands", True); pilotTools.py -> ("pilotTools", False)."""
    parts = member[: -len(".py")].split("/")
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]), True
    return ".".join(parts), False


def collect_members(pilot_dir, compat_dir, six_py=None, extensions=(), with_testing=False):
    """Sorted [(name, bytes)] of the pyz; clashing names are an error.

    Python files of pilot/, compat/ and _pyzroot/ (but the launcher and the
    importer) go into pilot.bz2 and pilot.idx; everything else stays a member.
    FOR_TESTS modules only ``with_testing``.
    """
    # Installed, compat is a folder of the worker package: in the pyz it is top-level only.
    inside = os.path.dirname(os.path.abspath(compat_dir)) == os.path.abspath(pilot_dir)
    skip_top = (PYZROOT, os.path.basename(compat_dir)) if inside else (PYZROOT,)
    sources = (
        _walk(pilot_dir, ["pilot"], skip_top=skip_top)
        + _walk(os.path.join(pilot_dir, PYZROOT), [])
        + _walk(compat_dir, ["compat"])
    )
    origins, members, modules = {}, {}, {}
    if six_py is not None:
        origins["six.py"], modules["six.py"] = "the six wheel", six_py
    for name, path in sources:
        _check_name(name, path)
        if name in origins:
            raise BuildError("%s and %s both become %s in the pyz" % (origins[name], path, name))
        origins[name] = path
        if name in FOR_TESTS and not with_testing:
            continue
        if name.endswith(".py") and name not in ROOT_PLAIN:
            modules[name] = _read(path)
        elif name in ROOT_PLAIN:  # zipimport runs them: stripped the same way, line numbers kept
            members[name] = strip_source(_read(path).decode("utf-8"), path).encode("utf-8")
        else:
            members[name] = _read(path)
    for ext in extensions:
        if not os.path.isfile(ext):
            raise BuildError("extension %s: no such file" % ext)
        name = os.path.basename(ext)
        _check_name(name, ext)
        if name in origins or name in (BLOB, INDEX):
            raise BuildError("%s and %s both become %s in the pyz" % (origins.get(name, "the pyz"), ext, name))
        origins[name] = ext
        members[name] = _read(ext)
    blob, index = pack_modules(modules, origins)
    members[BLOB], members[INDEX] = blob, index
    return sorted(members.items())


def pack_modules(modules, origins=None):
    """(bz2 blob, index bytes) of {member path: source bytes}, in sorted order."""
    chunks, lines = [], []
    for member in sorted(modules):
        origin = (origins or {}).get(member, member)
        try:
            text = modules[member].decode("utf-8")
        except UnicodeDecodeError:
            raise BuildError("%s is not UTF-8" % origin)
        data = strip_source(text, origin).encode("utf-8")
        name, package = _module_name(member)
        if not name or " " in member:
            raise BuildError("%s cannot be a module of the pyz" % origin)
        # The importer derives the rest: module name and kind from the path, offsets by adding up.
        lines.append("%s %d\n" % (member, len(data)))
        chunks.append(data)
    return bz2.compress(b"".join(chunks), 9), "".join(lines).encode("ascii")


def read_modules(pyz_path):
    """{member path: stripped source bytes} of a built pyz (tests, benches, pilotctl)."""
    with zipfile.ZipFile(pyz_path) as zf:
        blob, index = zf.read(BLOB), zf.read(INDEX).decode("ascii")
    text = bz2.decompress(blob)
    found, offset = {}, 0
    for line in index.splitlines():
        member, length = line.split(" ")
        found[member] = text[offset : offset + int(length)]
        offset += int(length)
    return found


def _pilot_version(pilot_dir):
    # Read, not import: the package is for the worker node and may import six.
    try:
        text = _read(os.path.join(pilot_dir, "__init__.py")).decode("utf-8", "replace")
    except OSError:
        return None
    match = re.search(r"""^__version__\s*=\s*['"]([^'"]+)['"]""", text, re.M)
    return match.group(1) if match else None


# ------------------------------------------------------------------- six wheel


def cache_dir():
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "pilots2")


def _sha256(data):
    return hashlib.sha256(data).hexdigest()


def _verify_wheel(path):
    digest = _sha256(_read(path))
    if digest != SIX_WHEEL_SHA256:
        raise BuildError("six wheel %s has sha256 %s, expected %s (six==1.17.0)" % (path, digest, SIX_WHEEL_SHA256))
    return path


def _wheel_dirs(source_root):
    roots = []
    for root in (source_root, checkout_root()):
        if root and os.path.abspath(root) not in roots:
            roots.append(os.path.abspath(root))
    dirs = [os.path.join(root, "build", "wheels") for root in roots]
    return dirs + list(SYSTEM_WHEEL_DIRS) + [cache_dir()]


def find_six_wheel(six_wheel=None, source_root=None, log=_no_log, download=True):
    """Path of the verified six wheel; ``pip download`` puts it into the cache if needed."""
    explicit = six_wheel or os.environ.get("PILOT_SIX_WHEEL")
    if explicit:
        path = explicit
        if os.path.isdir(path):
            path = os.path.join(path, SIX_WHEEL_NAME)
        if not os.path.isfile(path):
            raise BuildError("six wheel not found: %s" % path)
        return _verify_wheel(path)
    for directory in _wheel_dirs(source_root):
        path = os.path.join(directory, SIX_WHEEL_NAME)
        if os.path.isfile(path):
            return _verify_wheel(path)
    if not download:
        raise BuildError("six wheel %s not found (use --six-wheel)" % SIX_WHEEL_NAME)
    return _pip_download(cache_dir(), log)


def _pip_download(target_dir, log):
    """six==1.17.0 through pip and the machine's configured package index."""
    import subprocess

    os.makedirs(target_dir, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--quiet",
        "--no-deps",
        "--only-binary=:all:",
        "--dest",
        target_dir,
        "six==1.17.0",
    ]
    try:
        done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=DOWNLOAD_TIMEOUT)
    except (OSError, subprocess.SubprocessError) as exc:
        raise BuildError("cannot run pip to get the six wheel: %s (pass --six-wheel)" % _one_line(exc))
    path = os.path.join(target_dir, SIX_WHEEL_NAME)
    if done.returncode or not os.path.isfile(path):
        tail = done.stdout.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no wheel"]
        raise BuildError("pip download six==1.17.0 failed: %s (pass --six-wheel)" % _one_line(tail[0]))
    log("pip downloaded %s into %s" % (SIX_WHEEL_NAME, target_dir))
    return _verify_wheel(path)


def read_six(wheel):
    """six.py from the (already verified) wheel."""
    try:
        with zipfile.ZipFile(wheel) as zf:
            return zf.read("six.py")
    except (zipfile.BadZipFile, KeyError) as exc:
        raise BuildError("cannot read six.py from %s: %s" % (wheel, _one_line(exc)))


# ------------------------------------------------------------------- the zip


def zip_date_time():
    """Member timestamp: 1980-01-01 00:00:00, or SOURCE_DATE_EPOCH (UTC), clamped."""
    raw = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if not raw:
        return time.gmtime(DOS_EPOCH)[:6]
    try:
        epoch = int(raw)
    except ValueError:
        raise BuildError("SOURCE_DATE_EPOCH must be whole seconds since 1970, got %r" % raw)
    return time.gmtime(min(max(epoch, DOS_EPOCH), DOS_END))[:6]


def _zipinfo(name, date_time):
    info = zipfile.ZipInfo(name, date_time)
    info.compress_type = zipfile.ZIP_STORED if name == BLOB else zipfile.ZIP_DEFLATED
    info.create_system = CREATE_SYSTEM_UNIX
    info.external_attr = MEMBER_ATTR
    return info


def _write_zip(fh, members, date_time):
    # A real seekable file: zipfile then writes sizes in the local headers and
    # uses no data descriptors.  The archive comment stays empty.
    with zipfile.ZipFile(fh, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            zf.writestr(_zipinfo(name, date_time), data)


def _check_tail(fh):
    # Python 2.6-3.7 only run a zip whose last bytes are the end record.
    fh.seek(-EOCD_SIZE, os.SEEK_END)
    tail = fh.read(EOCD_SIZE)
    if not (tail.startswith(EOCD_SIGNATURE) and tail.endswith(b"\x00\x00")):
        raise BuildError("internal error: the zip does not end with a comment-less end record")


def _write_atomically(path, write):
    """Write through a temp file in the target directory, then rename over path."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w+b") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; the pyz is a public artifact
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _member_table(members):
    return [{"name": n, "size": len(d), "sha256": _sha256(d)} for n, d in members]


def build_pyz(output, source_root=None, six_wheel=None, extensions=(), log=_no_log, with_six=False, with_testing=False):
    """Build pilot.pyz at output (atomically) and return a BuildResult.

    ``with_six`` (or a ``six_wheel`` given) adds six.py for extensions that need it;
    ``with_testing`` pilot.testing, for a VO's unit tests."""
    output = os.path.abspath(output)
    if os.path.isdir(output):
        raise BuildError("output %s is a directory" % output)
    pilot_dir, compat_dir = locate_sources(source_root)
    wheel, six_py = None, None
    if with_six or six_wheel:
        wheel = find_six_wheel(six_wheel, source_root, log)
        six_py = read_six(wheel)
    members = collect_members(pilot_dir, compat_dir, six_py, extensions, with_testing)
    date_time = zip_date_time()

    def write(fh):
        _write_zip(fh, members, date_time)
        _check_tail(fh)

    _write_atomically(output, write)
    data = _read(output)
    # Said after the fact, so that a failed build prints its one error line only.
    log(
        "built from %s and %s%s: %d members"
        % (pilot_dir, compat_dir, " with %s" % wheel if wheel else "", len(members))
    )
    return BuildResult(
        path=output,
        size=len(data),
        sha256=_sha256(data),
        version=_pilot_version(pilot_dir),
        members=_member_table(members),
    )


# ----------------------------------------------------------------------- CLI


def _one_line(value):
    return " ".join(str(value).split())


def _describe_oserror(exc):
    where = exc.filename if exc.filename is not None else ""
    what = exc.strerror or _one_line(exc)
    return "%s: %s" % (what, where) if where else what


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        # One line, exit code 2, instead of argparse's usage block.
        self.exit(2, "%s: error: %s (see --help)\n" % (self.prog, _one_line(message)))


def _parser(prog):
    parser = _Parser(
        prog=prog,
        description="Build pilot.pyz reproducibly (same sources, same sha256).",
    )
    parser.add_argument(
        "--output",
        metavar="PATH",
        help="where to write the pyz (default: <checkout>/dist/pilot.pyz, else ./dist/pilot.pyz)",
    )
    parser.add_argument(
        "--with-six",
        action="store_true",
        help="also put six.py into the pyz (the pilot does not need it; VO extensions written for DIRAC's pilot may)",
    )
    parser.add_argument(
        "--six-wheel",
        metavar="PATH",
        help="the %s wheel (file or directory; implies --with-six); default: $PILOT_SIX_WHEEL, build/wheels/, "
        "%s, the cache, else pip download" % (SIX_WHEEL_NAME, ", ".join(SYSTEM_WHEEL_DIRS)),
    )
    parser.add_argument(
        "--with-testing",
        action="store_true",
        help="also put pilot.testing into the pyz, for a VO's unit tests of its commands (a node never "
        "needs it; see docs/extensions.md)",
    )
    parser.add_argument(
        "--with-extension",
        metavar="FILE",
        action="append",
        default=[],
        help="add FILE (e.g. LHCbPilotCommands.py) at the root of the pyz; repeatable",
    )
    parser.add_argument(
        "--source-root",
        metavar="DIR",
        help="checkout to build from (holds pilot_src/pilot and compat); "
        "default: this checkout, else the installed packages",
    )
    parser.add_argument(
        "--sign-key",
        metavar="KEYFILE",
        help="also sign the pyz with this private key (pilotctl keygen): writes <pyz>.sig and "
        "<pyz>.manifest.json beside it; the pyz bytes do not change (needs 'cryptography')",
    )
    parser.add_argument(
        "--sign-passphrase-file",
        metavar="FILE",
        help="passphrase of an encrypted --sign-key",
    )
    parser.add_argument(
        "--pilotctl",
        action="store_true",
        help="also build dist/pilotctl.pyz with shiv (needs pip and network or a wheelhouse; "
        "see pilot_server/shivbuild.py)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress messages")
    return parser


def main(argv=None, prog="build_pilot"):
    """CLI entry: 0 built, 1 build failed, 2 usage error.  Never a traceback."""
    try:
        args = _parser(prog).parse_args(argv)
    except SystemExit as exc:  # --help or a usage error, already printed
        return exc.code if isinstance(exc.code, int) else 2
    log = _no_log if args.quiet else _stderr_log
    try:
        output = args.output or default_output(args.source_root)
        result = build_pyz(
            output,
            source_root=args.source_root,
            six_wheel=args.six_wheel,
            extensions=args.with_extension,
            log=log,
            with_six=args.with_six,
            with_testing=args.with_testing,
        )
        _write_line(sys.stdout, "%s  size=%d  sha256=%s" % (result.path, result.size, result.sha256))
        if args.sign_key:
            manifest = sign_build(result, args.sign_key, args.sign_passphrase_file, args.source_root)
            _write_line(
                sys.stdout,
                "%s.sig  key id=%s; manifest %s.manifest.json" % (result.path, manifest["key_id"], result.path),
            )
        if args.pilotctl:
            from pilot_server import shivbuild  # stdlib only; runs pip and shiv as child processes

            try:
                out = shivbuild.build_pilotctl(
                    os.path.join(os.path.dirname(result.path), "pilotctl.pyz"),
                    source_root=args.source_root or checkout_root(),
                    log=log,
                )
            except shivbuild.ShivBuildError as exc:
                raise BuildError(str(exc))
            _write_line(sys.stdout, "%s  size=%d  sha256=%s" % (out["path"], out["size"], out["sha256"]))
    except BuildError as exc:
        return _fail(prog, str(exc))
    except OSError as exc:
        return _fail(prog, _describe_oserror(exc))
    except KeyboardInterrupt:
        return _fail(prog, "interrupted")
    except Exception as exc:  # a bug, but still one line
        return _fail(prog, "internal error: %s: %s" % (type(exc).__name__, _one_line(exc)))
    return 0


def git_state(source_root=None):
    """(commit, dirty) of the checkout being built, or (None, None) outside git."""
    import subprocess

    root = source_root or checkout_root()
    if not root:
        return None, None
    try:
        commit = (
            subprocess.run(
                ["git", "-C", root, "rev-parse", "HEAD"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30
            )
            .stdout.decode("ascii", "replace")
            .strip()
        )
        status = subprocess.run(
            ["git", "-C", root, "status", "--porcelain", "--", "pilot_src/pilot", "compat"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return None, None
    if not re.match(r"^[0-9a-f]{40}$", commit) or status.returncode:
        return None, None
    return commit, bool(status.stdout.strip())


def sign_build(result, key_file, passphrase_file=None, source_root=None):
    """Sign a built pyz (imports ``cryptography`` only here); return the manifest."""
    try:
        from pilot_server import signing
    except ImportError as exc:
        if "cryptography" in str(exc):
            raise BuildError(
                "--sign-key needs the 'cryptography' package: pip install cryptography (or pip install . for pilotctl)"
            )
        raise
    commit, dirty = git_state(source_root)
    try:
        key = signing.load_private_key(key_file, signing.read_passphrase(passphrase_file))
        return signing.sign_artifact(
            result.path, key, version=result.version, git_commit=commit, git_dirty=dirty, members=result.members
        )
    except signing.SigningError as exc:
        raise BuildError(str(exc))


def _fail(prog, message):
    _write_line(sys.stderr, "%s: error: %s" % (prog, _one_line(message)))
    return 1


if __name__ == "__main__":
    sys.exit(main())
