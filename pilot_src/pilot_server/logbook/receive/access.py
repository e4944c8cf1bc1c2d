"""Who may write to the logbook, and who may read it.

The rules (docs/logbook.md, "Who may write"; docs/logging-protocol.md):

* A **pilot token** (``Authorization: Bearer pt1....`` over HTTPS, the
  ``pilot-token`` header over STOMP) is checked without a database look-up
  against every secret given with ``--token-secret`` (rotation).  A bad
  signature, an unknown key, an expired token: 401.  The RabbitMQ consumer
  gives tokens a grace after their expiry (``--token-grace``, default 3 days):
  a message may wait in the queue while the consumers or the database are
  down, and the broker took it while its token was good.  A valid token writes only
  its own stamp; another stamp: 403.  When a token is sent, it decides, even
  if a certificate is also presented.
* An **X.509 certificate or RFC 3820 proxy**, verified by TLS against
  ``--ca-dir``, identifies its end-entity DN.  A DN listed with
  ``--trusted-dn`` may write for any stamp and register pilots (a SiteDirector's
  or a pilot factory's host certificate); any other verified DN gets 403: a
  certificate says who someone is, not which pilot they are.
* An **admin token** (``--admin-token-file``, a hex secret in a 0600 file,
  sent as ``Authorization: Bearer <hex>``) may register pilots.
* No credential: 401.
* **Reads** (``GET /api/v1/pilots``, ``.../<stamp>``, ``.../messages``, ``.../export``,
  ``/api/v1/stats``): an administrator only -- the admin token, or a verified
  certificate whose DN is given with ``--admin-dn``.  A pilot token, a trusted
  (writing) DN or any other DN: 403.

Tokens and secrets are never logged nor echoed; reasons name no secret.
"""

import binascii
import collections
import hmac

from pilot_server import tokens
from pilot_server.logbook.receive.intake import Refused
from pilot_server.logbook.receive.x509identity import normalise_dn

Identity = collections.namedtuple("Identity", "kind name claims")  # kind: token | dn | admin

NO_CREDENTIAL = "no credential: send a pilot token (Authorization: Bearer) or a client certificate"


class Access(object):
    def __init__(self, secrets=(), trusted_dns=(), admin_secrets=(), expiry_grace=0, admin_dns=()):
        self.secrets = list(secrets)
        self.expiry_grace = expiry_grace
        self.trusted_dns = set(normalise_dn(dn) for dn in trusted_dns)
        self.admin_dns = set(normalise_dn(dn) for dn in admin_dns)
        self.admin_tokens = [binascii.hexlify(secret).decode("ascii") for secret in admin_secrets]

    def authenticate(self, bearer=None, dn=None, now=None):
        """The identity a request proves, or Refused(401)."""
        if bearer:
            if bearer.startswith(tokens.PREFIX + "."):
                if not self.secrets:
                    raise Refused(401, "this logbook accepts no pilot tokens (no --token-secret)")
                try:
                    claims = tokens.verify_token(bearer, self.secrets, now=now, expiry_grace=self.expiry_grace)
                except tokens.TokenError as exc:
                    raise Refused(401, str(exc))
                return Identity("token", claims.get("stamp"), claims)
            for admin in self.admin_tokens:
                if hmac.compare_digest(admin.encode("ascii"), bearer.encode("utf-8", "replace")):
                    return Identity("admin", "admin token", None)
            raise Refused(401, "malformed token")
        if dn:
            return Identity("dn", dn, None)
        raise Refused(401, NO_CREDENTIAL)

    def may_write(self, identity, stamp):
        """None, or Refused(403) when this identity may not write this stamp's log."""
        if identity.kind == "token":
            if identity.name != stamp:
                raise Refused(403, "the token is for another pilot")
            return
        if identity.kind == "dn":
            if identity.name in self.trusted_dns:
                return
            raise Refused(403, "certificate %s is not trusted to write pilot logs (see --trusted-dn)" % identity.name)
        raise Refused(403, "an admin token registers pilots; it does not write their logs")

    def may_register(self, identity):
        if identity.kind == "admin" or (identity.kind == "dn" and identity.name in self.trusted_dns):
            return
        raise Refused(403, "registering pilots needs an admin token or a trusted certificate (--trusted-dn)")

    def may_read(self, identity):
        """None, or Refused(403): reading pilots' logs needs an administrator credential."""
        if identity.kind == "admin" or (identity.kind == "dn" and identity.name in self.admin_dns):
            return
        raise Refused(403, "reading the logbook needs an admin token or an administrator certificate (--admin-dn)")


def describe(identity):
    """For logs and the rejected table: never the token itself."""
    if identity is None:
        return "anonymous"
    if identity.kind == "token":
        return "token kid=%s stamp=%s" % ((identity.claims or {}).get("kid"), identity.name)
    if identity.kind == "admin":
        return identity.name  # "admin token"
    return "%s %s" % (identity.kind, identity.name)
