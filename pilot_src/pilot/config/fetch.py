"""Downloads: several locations, retries with back-off, timeouts, checksums.

Every download of the pilot goes through ``Downloader``: a list of locations
is tried in order, the whole list up to ``attempts`` times with a growing
pause between rounds; a checksum, when known, is checked before anything is
used.  HTTPS verifies the server against the system CAs plus the grid CA
directory ($X509_CERT_DIR or /etc/grid-security/certificates).
"""

import os
import time

from ..shims import compat, compat_module
from ..errors import PilotError



def _net():
    """compat.net (with socket, subprocess and threading): loaded by the first download, so that
    reading a local pilot.json or explaining the plan does not compile it."""
    return compat_module("net")

GRID_CA_DIR = "/etc/grid-security/certificates"
MIB = 1024 * 1024

# Each kind of download: (overall deadline in seconds, largest body in bytes) of one request.
# The per-read timeout alone lets a server trickling a byte every few seconds hold the pilot
# for ever, and an endless body fill its memory; past a bound the location counts as failed.
LIMITS = {
    "pilot.json": (120, 16 * MIB),
    "versions": (60, 1 * MIB),
    "extension": (120, 16 * MIB),
    "installer": (1800, 1024 * MIB),
    "tarball": (1800, 1024 * MIB),
    "file": (600, 256 * MIB),
}


def limits_of(kind):
    """The compat.net.Limits of a kind of download (unknown kinds: those of "file")."""
    deadline, max_bytes = LIMITS.get(kind) or LIMITS["file"]
    return _net().Limits(deadline, max_bytes)


def default_ca_dir(environ):
    for candidate in (environ.get("X509_CERT_DIR"), GRID_CA_DIR):
        if candidate and os.path.isdir(candidate):
            return candidate
    return None


def sha256_hex(data):
    import hashlib  # loads OpenSSL's libcrypto: only when something is checked

    return hashlib.sha256(data).hexdigest()


def is_url(text):
    return "://" in text


class Downloader(object):
    def __init__(self, log, timeout=30, attempts=3, backoff=2.0, max_backoff=30.0, cafile=None,
                 capath=None, certfile=None, keyfile=None, transport="auto", sleep=time.sleep):
        self.log = log
        self.timeout = timeout
        self.attempts = max(1, attempts)
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.cafile = cafile
        self.capath = capath
        self.certfile = certfile
        self.keyfile = keyfile
        self.transport = transport
        self.sleep = sleep

    def get(self, urls, sha256=None, what="file", kind="file"):
        """Return (url, bytes) of the first location that answers with the right content.

        ``kind`` picks the bounds of each request in LIMITS.

        Raises PilotError of type 'integrity' when locations answered but every
        answer failed its checksum, of type 'node' when nothing on the node can
        fetch HTTPS (no ssl module, no curl, no wget), else of type 'network'.
        """
        urls = [url for url in urls if url]
        if not urls:
            raise PilotError("no location given for %s" % what, "config")
        failures = []
        bad_checksum = False
        net = _net()
        for attempt in range(1, self.attempts + 1):
            failures = []
            for url in urls:
                try:
                    data = net.request(url, timeout=self.timeout, cafile=self.cafile, capath=self.capath,
                                       certfile=self.certfile, keyfile=self.keyfile,
                                       transport=self.transport, limits=limits_of(kind))
                except net.NoTransport as exc:  # no retry: the node lacks the tools
                    raise PilotError("%s from %s: %s" % (what, url, exc), "node")
                except net.FetchError as exc:
                    failures.append("%s: %s" % (url, exc))
                    self.log.warning("%s from %s failed (attempt %d/%d): %s"
                                     % (what, url, attempt, self.attempts, exc))
                    continue
                if sha256 and sha256_hex(data).lower() != sha256.lower():
                    bad_checksum = True
                    failures.append("%s: sha256 %s, expected %s" % (url, sha256_hex(data), sha256))
                    self.log.warning("%s from %s has the wrong checksum (sha256 %s, expected %s)"
                                     % (what, url, sha256_hex(data), sha256))
                    continue
                self.log.debug("%s: %d bytes from %s" % (what, len(data), url))
                return url, data
            if attempt < self.attempts:
                pause = min(self.max_backoff, self.backoff * (2 ** (attempt - 1)))
                self.log.info("retrying %s in %.0f s" % (what, pause))
                self.sleep(pause)
        kind = "integrity" if bad_checksum else "network"
        raise PilotError("%s: no location answered after %d attempt(s): %s"
                         % (what, self.attempts, "; ".join(failures)), kind)

    def save(self, urls, destination, sha256=None, what="file", mode=None, kind="file"):
        """Download to ``destination`` atomically; return the URL used."""
        url, data = self.get(urls, sha256, what, kind)
        write_atomic(destination, data, mode)
        return url


def write_atomic(path, data, mode=None):
    """Write bytes to path through a temporary file and a rename."""
    tmp = "%s.part-%d" % (path, os.getpid())
    done = False
    try:
        handle = open(tmp, "wb")
        try:
            handle.write(compat.to_bytes(data))
        finally:
            handle.close()   # a full disk may fail here too
        if mode is not None:
            os.chmod(tmp, mode)
        os.rename(tmp, path)
        done = True
    finally:
        if not done:   # a full disk: no .part file left behind
            try:
                os.remove(tmp)
            except OSError:
                pass
