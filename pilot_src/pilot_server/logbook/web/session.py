"""Browser sessions of the logbook's web page: signed cookies, and the same-origin check.

An administrator logs in once by pasting the admin token (``--admin-token-file``) on the
login page; the logbook then sets a session cookie instead of keeping the token in the
browser.  The cookie is ``v1.<expiry>.<nonce>.<who>.<signature>``: an HMAC-SHA256 over the
rest, with the session key.  So:

* it is checked without a database and cannot be forged or extended;
* the key comes from ``serve --session-key-file`` (``read_key``): every receiver given the
  same file accepts the others' cookies, and a restart keeps everyone logged in.  Without
  the file the key is drawn at random when the process starts: a restart logs everyone
  out and each receiver has its own sessions;
* logging out revokes the cookie's nonce in the receiver that got the logout, until the
  cookie would expire (8 hours at most); the browser drops the cookie at once.  Other
  receivers do not learn of it: to end every session everywhere, replace the key file and
  restart the receivers.

The cookie is ``HttpOnly`` (no script reads it), ``SameSite=Strict`` (no other site's
page sends it), ``Path=/``, with ``Max-Age``, and ``Secure`` when the logbook serves TLS.
Forms that change the session (log in, log out) are also refused unless their ``Origin``
(or, without one, ``Referer``) is the logbook itself.
"""

import hashlib
import hmac
import os
import threading
import time

from urllib.parse import urlsplit

from pilot_server import tokens
from pilot_server.tokens import b64url, unb64url

COOKIE = "pilots2_session"
LIFETIME = 8 * 3600
VERSION = "v1"
KEY_PURPOSE = b"pilots2 web session key v1"


def read_key(path):
    """The session key of a hex secret file (mode 0600, at least 32 bytes, as ``pilotctl
    token-secret`` makes it); ValueError with a one-line reason otherwise.

    The key is derived from the file's secret for this one purpose, so a file that also
    serves as a pilot-token secret does not make cookies and tokens interchangeable."""
    try:
        secret = tokens.read_secret(path)
    except tokens.TokenError as exc:
        raise ValueError("--session-key-file %s" % exc)
    except OSError as exc:
        raise ValueError("--session-key-file %s: %s" % (path, exc.strerror or exc))
    return hmac.new(secret, KEY_PURPOSE, hashlib.sha256).digest()


class Sessions(object):
    def __init__(self, lifetime=LIFETIME, key=None):
        self.key = key or os.urandom(32)
        self.lifetime = lifetime
        self.revoked = {}  # nonce -> expiry
        self.lock = threading.Lock()

    def _sign(self, text):
        return b64url(hmac.new(self.key, text.encode("ascii"), hashlib.sha256).digest())

    def issue(self, who, now=None):
        """A new cookie value for ``who`` (a description such as "admin token", never a secret)."""
        expiry = int((time.time() if now is None else now) + self.lifetime)
        body = "%s.%d.%s.%s" % (VERSION, expiry, b64url(os.urandom(16)), b64url(who.encode("utf-8")))
        return "%s.%s" % (body, self._sign(body))

    def check(self, value, now=None):
        """``who`` of a valid, unexpired, unrevoked cookie value, else None."""
        parsed = self._parse(value)
        if parsed is None:
            return None
        expiry, nonce, who = parsed
        now = time.time() if now is None else now
        if expiry <= now:
            return None
        with self.lock:
            if nonce in self.revoked:
                return None
        return who

    def revoke(self, value, now=None):
        parsed = self._parse(value)
        if parsed is None:
            return
        now = time.time() if now is None else now
        with self.lock:
            for nonce, expiry in list(self.revoked.items()):
                if expiry <= now:
                    del self.revoked[nonce]
            self.revoked[parsed[1]] = parsed[0]

    def _parse(self, value):
        if not value or len(value) > 512:
            return None
        body, _, signature = value.rpartition(".")
        try:
            if not hmac.compare_digest(self._sign(body).encode("ascii"), signature.encode("ascii")):
                return None
        except (UnicodeEncodeError, ValueError):
            return None
        parts = body.split(".")
        if len(parts) != 4 or parts[0] != VERSION or not parts[1].isdigit():
            return None
        try:
            who = unb64url(parts[3]).decode("utf-8")
        except ValueError:  # bad base64 or UTF-8
            return None
        return int(parts[1]), parts[2], who

    def set_cookie(self, value, secure):
        return "%s=%s; Path=/; Max-Age=%d; HttpOnly; SameSite=Strict%s" % (
            COOKIE,
            value,
            self.lifetime,
            "; Secure" if secure else "",
        )

    @staticmethod
    def clear_cookie(secure):
        return "%s=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict%s" % (COOKIE, "; Secure" if secure else "")


def cookie_value(header):
    """The session cookie's value from a Cookie header, or None."""
    for part in (header or "").split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name == COOKIE:
            return value.strip().strip('"')
    return None


def same_origin(headers, secure):
    """True when a form was posted by a page of this logbook (Origin, else Referer, is us).

    The expected origin is the scheme served and the Host header the browser sent.  A
    request with neither Origin nor Referer is refused: browsers send Origin with every
    POST; scripts use ``Authorization: Bearer`` and need no form.
    """
    host = (headers.get("Host") or "").strip().lower()
    if not host:
        return False
    expected = ("https://" if secure else "http://") + host
    if secure and host.endswith(":443"):
        alternatives = (expected, "https://" + host[:-4])
    elif not secure and host.endswith(":80"):
        alternatives = (expected, "http://" + host[:-3])
    else:
        alternatives = (expected,)
    fetch_site = (headers.get("Sec-Fetch-Site") or "").strip().lower()
    if fetch_site and fetch_site not in ("same-origin", "none"):
        return False
    origin = headers.get("Origin")
    if origin is not None:
        return origin.strip().lower() in alternatives
    referer = headers.get("Referer")
    if referer:
        try:
            parts = urlsplit(referer.strip())
        except ValueError:
            return False
        return ("%s://%s" % (parts.scheme, parts.netloc)).lower() in alternatives
    return False
