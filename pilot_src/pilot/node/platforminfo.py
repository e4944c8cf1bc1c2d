"""The platform string of DIRAC's ``dirac-platform``, e.g. ``Linux_x86_64_glibc-2.17``.

DIRAC (``DIRAC.Core.Utilities.Platform.getPlatformString``) builds
``<system>_<machine>_glibc-<version>`` on Linux, where the version is the
highest ``GLIBC_x.y`` symbol version found in the ``libc.so`` files that
``/sbin/ldconfig --print-cache`` lists (else the ``libc-*``/``libc.so*``
files of /lib64, or /lib on 32-bit machines).  This module does the same;
when no libc can be read it falls back to the running C library
(``os.confstr('CS_GNU_LIBC_VERSION')``, then ``platform.libc_ver()``).
Darwin gives ``Darwin_<machine>_<major.minor>``, other systems
``<system>_<machine>_<release>``.
"""

import os
import platform
import re

from ..shims import compat

LDCONFIG = ("/sbin/ldconfig", "--print-cache")
_GLIBC_SYMBOL = re.compile(b"GLIBC_([0-9]+(?:\\.[0-9]+)+)")
_LDCONFIG_LIBC = re.compile(r".*=> (.*/libc\.so\..*)$")
_CHUNK = 1 << 20


def _version_tuple(text):
    return tuple(int(part) for part in text.split("."))


def libc_files(root="/", machine=None, ldconfig=LDCONFIG, timeout=10):
    """The libc.so files DIRAC would look at (paths under ``root``)."""
    files = []
    if ldconfig and root == "/":
        try:
            code, out, _ = compat.run_with_timeout(list(ldconfig), timeout)
        except OSError:
            code, out = None, ""
        if code == 0:
            for line in out.splitlines():
                match = _LDCONFIG_LIBC.match(line.strip())
                if match:
                    files.append(match.group(1).strip())
    if not files:
        machine = machine or platform.machine()
        folder = os.path.join(root, "lib64" if "64" in machine else "lib")
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            names = []
        files = [os.path.join(folder, name) for name in names
                 if name.startswith("libc-") or name.startswith("libc.so")]
    return files


def highest_glibc_symbol(path):
    """The highest GLIBC_x.y version named in a file, as a tuple, or None."""
    best = None
    try:
        handle = open(path, "rb")
    except (IOError, OSError):
        return None
    try:
        tail = b""
        while True:
            chunk = handle.read(_CHUNK)
            if not chunk:
                break
            data = tail + chunk
            for match in _GLIBC_SYMBOL.finditer(data):
                version = _version_tuple(match.group(1).decode("ascii"))
                if best is None or version > best:
                    best = version
            tail = data[-32:]  # a name cut by the chunk boundary
    finally:
        handle.close()
    return best


def running_glibc():
    """The version of the C library this interpreter runs with, or ''."""
    try:
        text = os.confstr("CS_GNU_LIBC_VERSION")  # 'glibc 2.36'
        if text and text.split()[0] == "glibc":
            return text.split()[1]
    except (AttributeError, ValueError, OSError, IndexError):
        pass
    lib, version = platform.libc_ver()
    return version if lib == "glibc" else ""


def glibc_version(root="/", machine=None, ldconfig=LDCONFIG):
    """(version text, how it was found)."""
    best = None
    for path in libc_files(root, machine, ldconfig):
        version = highest_glibc_symbol(path)
        if version is not None and (best is None or version > best):
            best = version
    if best is not None:
        return ".".join(str(part) for part in best), "GLIBC_ symbols of libc.so (as dirac-platform)"
    if root == "/":
        version = running_glibc()
        if version:
            return version, "running C library"
    return "", "unknown"


def platform_string(root="/", system=None, machine=None, ldconfig=LDCONFIG):
    """What ``dirac-platform`` prints on this node."""
    system = system or platform.system()
    machine = machine or platform.machine()
    if system == "Linux":
        version, _ = glibc_version(root, machine, ldconfig)
        return "%s_%s_glibc-%s" % (system, machine, version or "0.0.0")
    if system == "Darwin":
        return "%s_%s_%s" % (system, machine, ".".join(platform.mac_ver()[0].split(".")[:2]))
    return "%s_%s_%s" % (system, machine, platform.release())
