"""The submitter's side of the logbook: register pilots, report the batch states seen.

A SiteDirector (or ``pilotctl submit``) uses one of two objects with the same calls::

    submitter = LocalSubmitter(store)                                   # in-process, a Store
    submitter = HTTPSubmitter("https://logbook:8443", admin_token=..., ca="/etc/grid-security/certificates")
    submitter.register(stamp, ce=..., queue=..., site=..., vo=..., submitted=epoch) -> True if new
    submitter.report_state(stamp, "Running", time=epoch) -> {"stamp", "state", "previous", "changed"}

Both raise ``SubmitterError`` with ``status`` as the HTTP API answers it: 400 a bad
state or field, 404 an unknown stamp, 409 a transition the states do not allow
(``states``), 401/403 a refused credential, 503 the logbook's database is down,
0 the logbook cannot be reached.  str() is one line; no secret is ever in it.
"""

import http.client
import json
import os
import ssl
from urllib.parse import quote, urlsplit

from pilot_server.logbook.store import states
from pilot_server.logbook.store.logstore import NotFound

TIMEOUT = 30


class SubmitterError(Exception):
    def __init__(self, status, reason):
        Exception.__init__(self, " ".join(str(reason).split()))
        self.status = status


class LocalSubmitter(object):
    """Register and report through a Store (the same process as the database)."""

    def __init__(self, store):
        self.store = store

    def register(self, stamp, ce=None, queue=None, site=None, vo=None, submitted=None):
        from pilot_server.worker import messages as wire

        problem = wire.registration_problem(
            {"stamp": stamp, "ce": ce, "queue": queue, "site": site, "vo": vo, "submitted": submitted}
        )
        if problem:
            raise SubmitterError(400, problem)
        return self.store.register(stamp, ce=ce, queue=queue, site=site, vo=vo, submitted=submitted)

    def report_state(self, stamp, state, time=None):
        from pilot_server.worker import messages as wire

        problem = wire.time_problem("time", time, null=True)
        if problem:
            raise SubmitterError(400, problem)
        try:
            report = self.store.report_state(stamp, state, time)
        except states.BadState as exc:
            raise SubmitterError(400, exc)
        except NotFound as exc:
            raise SubmitterError(404, exc)
        except states.InvalidTransition as exc:
            raise SubmitterError(409, exc)
        return {"stamp": report.stamp, "state": report.state, "previous": report.previous, "changed": report.changed}


class HTTPSubmitter(object):
    """Register and report over HTTPS: an admin token, or a client certificate whose DN the
    logbook trusts (--trusted-dn).  ``ca``: a CA file or directory (default: the system's)."""

    def __init__(self, url, admin_token=None, ca=None, cert=None, key=None, timeout=TIMEOUT):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SubmitterError(400, "the logbook URL must be https://HOST[:PORT] (or http:// for a demo)")
        self.scheme, self.host = parts.scheme, parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.base = parts.path.rstrip("/")
        self.admin_token = admin_token
        self.timeout = timeout
        self.context = None
        if parts.scheme == "https":
            try:
                if ca and os.path.isdir(ca):
                    self.context = ssl.create_default_context(capath=ca)
                else:
                    self.context = ssl.create_default_context(cafile=ca)
                if cert:
                    self.context.load_cert_chain(cert, key)
            except (OSError, ssl.SSLError) as exc:
                raise SubmitterError(400, "TLS set-up: %s" % exc)

    def _post(self, path, document):
        body = json.dumps(document).encode("utf-8")
        headers = {"Content-Type": "application/json"}
        if self.admin_token:
            headers["Authorization"] = "Bearer " + self.admin_token
        if self.scheme == "https":
            connection = http.client.HTTPSConnection(self.host, self.port, context=self.context, timeout=self.timeout)
        else:
            connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            connection.request("POST", self.base + path, body=body, headers=headers)
            response = connection.getresponse()
            raw = response.read()
        except (OSError, http.client.HTTPException) as exc:
            raise SubmitterError(
                0,
                "logbook %s://%s:%d unreachable: %s"
                % (self.scheme, self.host, self.port, " ".join(str(exc).split())[:200]),
            )
        finally:
            connection.close()
        try:
            answer = json.loads(raw.decode("utf-8")) if raw else {}
        except (UnicodeDecodeError, ValueError):
            answer = {}
        if response.status >= 300:
            raise SubmitterError(
                response.status,
                "%d %s"
                % (response.status, (answer.get("error") if isinstance(answer, dict) else None) or response.reason),
            )
        return answer

    def register(self, stamp, ce=None, queue=None, site=None, vo=None, submitted=None):
        document = {"stamp": stamp}
        for name, value in (("ce", ce), ("queue", queue), ("site", site), ("vo", vo), ("submitted", submitted)):
            if value is not None:
                document[name] = value
        return bool(self._post("/api/v1/pilots", document).get("created"))

    def report_state(self, stamp, state, time=None):
        document = {"state": state}
        if time is not None:
            document["time"] = time
        return self._post("/api/v1/pilots/%s/state" % quote(stamp, safe=""), document)


def read_admin_token(path):
    """The admin token of a 0600 hex secret file (as serve's --admin-token-file); ValueError."""
    import binascii

    from pilot_server import tokens

    try:
        return binascii.hexlify(tokens.read_secret(path)).decode("ascii")
    except tokens.TokenError as exc:
        raise ValueError(str(exc))
    except OSError as exc:
        raise ValueError("%s: %s" % (exc.filename, exc.strerror))
