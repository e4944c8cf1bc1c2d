"""Pilot tokens: what a pilot shows the logbook to write its own log.

A token is made by the SiteDirector side when it makes the pilot's wrapper,
and verified by the logbook without a database look-up::

    pt1.<base64url(JSON claims)>.<base64url(HMAC-SHA256(secret, "pt1." + claims part))>

Claims: ``stamp`` (the one pilot stamp it may write for), ``exp`` and ``iat``
(UTC epoch seconds), ``kid`` (which shared secret signed it, so secrets can
be rotated: the logbook accepts every secret it is given, by id) and,
optionally, ``vo``.  The secret is shared between the SiteDirector host and
the logbook, in a file readable only by its owner.
"""

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import stat
import time

PREFIX = "pt1"
STAMP_PATTERN = re.compile(r"^(?:[0-9a-z]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$")
MIN_SECRET_BYTES = 32
DEFAULT_TTL = 7 * 24 * 3600  # a pilot may wait in a batch queue for days before it starts
CLOCK_SKEW = 300  # seconds of tolerance for worker-node clocks (iat in the future)


class TokenError(Exception):
    """The token is refused; str() is a one-line reason that never contains the token."""


def b64url(data):
    """Unpadded base64url text of bytes (tokens here, the web session cookie too)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text):
    """Bytes of unpadded base64url text; ValueError when it is not that."""
    padded = text + "=" * (-len(text) % 4)
    try:
        return base64.urlsafe_b64decode(padded.encode("ascii"))
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise ValueError(str(exc))


def _b64decode(text):
    try:
        return unb64url(text)
    except ValueError:
        raise TokenError("malformed token")


def valid_stamp(stamp):
    return bool(STAMP_PATTERN.match(stamp or ""))


def key_id(secret):
    """A short public id for a secret (the first 12 hex of its SHA-256)."""
    return hashlib.sha256(secret).hexdigest()[:12]


def _signature(secret, signed):
    return hmac.new(secret, signed.encode("ascii"), hashlib.sha256).digest()


def make_token(secret, stamp, ttl=DEFAULT_TTL, vo=None, now=None):
    if not valid_stamp(stamp):
        raise TokenError("'%s' is not a pilot stamp (32 lowercase hex characters or a UUID)" % stamp[:60])
    if len(secret) < MIN_SECRET_BYTES:
        raise TokenError("the token secret is too short (%d bytes, at least %d)" % (len(secret), MIN_SECRET_BYTES))
    now = int(time.time() if now is None else now)
    claims = {"stamp": stamp, "iat": now, "exp": now + int(ttl), "kid": key_id(secret)}
    if vo:
        claims["vo"] = vo
    body = b64url(json.dumps(claims, sort_keys=True, separators=(",", ":")).encode("utf-8"))
    signed = "%s.%s" % (PREFIX, body)
    return "%s.%s" % (signed, b64url(_signature(secret, signed)))


def verify_token(token, secrets, stamp=None, now=None, expiry_grace=0):
    """Return the claims of a valid token, else raise TokenError.

    ``secrets``: a list of secrets (bytes) the logbook trusts.  ``stamp``:
    the pilot the request writes for; the token must be scoped to it.
    ``expiry_grace``: seconds a token stays good after its expiry (the
    logbook's RabbitMQ consumer: the broker took the message while it was good).
    """
    parts = (token or "").split(".")
    if len(parts) != 3 or parts[0] != PREFIX:
        raise TokenError("malformed token")
    claims_raw = _b64decode(parts[1])
    given = _b64decode(parts[2])
    try:
        claims = json.loads(claims_raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise TokenError("malformed token")
    if not isinstance(claims, dict) or not isinstance(claims.get("exp"), int):
        raise TokenError("malformed token")
    by_id = dict((key_id(secret), secret) for secret in secrets)
    secret = by_id.get(claims.get("kid"))
    if secret is None:
        raise TokenError("token signed with an unknown key")
    if not hmac.compare_digest(_signature(secret, "%s.%s" % (parts[0], parts[1])), given):
        raise TokenError("bad token signature")
    now = int(time.time() if now is None else now)
    if claims["exp"] + expiry_grace < now:
        raise TokenError("token expired")
    if isinstance(claims.get("iat"), int) and claims["iat"] > now + CLOCK_SKEW:
        raise TokenError("token issued in the future")
    if stamp is not None and claims.get("stamp") != stamp:
        raise TokenError("token is for another pilot")
    return claims


def generate_secret():
    return os.urandom(MIN_SECRET_BYTES)


def write_secret(path, secret):
    """Write a secret (hex) readable by its owner only; refuse to overwrite."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(binascii.hexlify(secret).decode("ascii") + "\n")


def read_secret(path):
    """Read a hex secret file; refuse one that others can read."""
    mode = os.stat(path).st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise TokenError("%s is readable by others (mode %o): chmod 600 it" % (path, stat.S_IMODE(mode)))
    with open(path) as handle:
        text = handle.read().strip()
    try:
        secret = binascii.unhexlify(text)
    except (binascii.Error, ValueError):
        raise TokenError("%s does not hold a hex secret" % path)
    if len(secret) < MIN_SECRET_BYTES:
        raise TokenError("%s: the secret is too short (%d bytes, at least %d)" % (path, len(secret), MIN_SECRET_BYTES))
    return secret
