"""How a batch of log messages leaves the node: HTTPS, STOMP, or DIRAC's own logger.

A transport sends one encoded batch (pilot/messages.py: one JSON object,
as bytes) and says how it went by what it raises:

* nothing: the batch is delivered (the logbook stored it, or the broker
  confirmed it with a RECEIPT);
* ``Rejected``: the logbook refused this batch (HTTP 400, 413): sending it
  again would not help; it is set aside in ``pilot_log.rejected``;
* ``Refused``: the logbook refused the pilot itself (HTTP 401, 403, 404: the
  token, the certificate or the stamp; a broker refusing the login): no
  later batch would fare better, so sending stops and the log stays in the
  spool;
* ``SendError``: anything else (the network, HTTP 5xx, a missing RECEIPT):
  retried later from the spool.

``make_transport`` picks one from the URL:

* ``https://host:port/api/v1/logs``: the logbook (docs/logging-protocol.md);
  ``https://host:port`` alone means that path; ``http://`` is accepted for
  tests and tunnels, but the token is only ever sent over HTTPS;
* ``https://.../WorkloadManagement/TornadoPilotLogging``: an unmodified DIRAC
  v9 server (Gen-2 ``sendMessage``/``finaliseLogs``, form-encoded, client
  certificate or proxy);
* ``stomp://host:61613/queue/NAME``, ``stomp+ssl://host:61614/queue/NAME``:
  a RabbitMQ broker's STOMP plugin.
"""

import json
import os
import socket
import stat
import sys

from ..shims import compat, compat_module
from .logger import utc_timestamp

net = compat_module("net")

DEFAULT_PATH = "/api/v1/logs"
DIRAC_ENDPOINT = "TornadoPilotLogging"
TIMEOUT = 10.0
REJECTED_STATUSES = (400, 413)
REFUSED_STATUSES = (401, 403, 404)


class TransportError(Exception):
    """The transport cannot be set up (bad URL, no TLS on this Python); one line."""


class SendError(Exception):
    """Sending failed; try again later.  str() is one line without secrets."""


class Rejected(SendError):
    """The logbook refused this batch; do not send it again."""


class Refused(SendError):
    """The logbook or broker refused this pilot's credential or stamp; stop sending."""


def split_url(url):
    """(scheme, userinfo, host, port, path) of a URL; port is None when absent."""
    scheme, _, rest = url.partition("://")
    netloc, slash, path = rest.partition("/")
    path = slash + path
    userinfo, _, hostport = netloc.rpartition("@")
    if hostport.startswith("["):                       # [IPv6]:port
        host, _, tail = hostport[1:].partition("]")
        port = tail[1:] if tail.startswith(":") else ""
    elif hostport.count(":") == 1:
        host, port = hostport.split(":")
    else:
        host, port = hostport, ""
    if port and not port.isdigit():
        raise TransportError("bad port in %s" % display_url(url))
    return scheme.lower(), userinfo, host, (int(port) if port else None), path


def display_url(url):
    """The URL without user:password@ and without a query string (for logs and results)."""
    try:
        scheme, _, rest = url.partition("://")
        netloc, slash, path = rest.partition("/")
        netloc = netloc.rpartition("@")[2]
        return "%s://%s%s%s" % (scheme, netloc, slash, path.split("?", 1)[0])
    except Exception:
        return "(unprintable URL)"


class Credentials(object):
    """What the pilot can show: a bearer token and/or a client certificate (proxy or host cert)."""

    def __init__(self, token=None, certfile=None, keyfile=None, host_certificate=False, cafile=None,
                 capath=None):
        self.token = token
        self.certfile = certfile
        self.keyfile = keyfile
        self.host_certificate = host_certificate
        self.cafile = cafile
        self.capath = capath

    def describe(self):
        if self.token:
            return "pilot token"
        if self.certfile:
            return "host certificate" if self.host_certificate else "proxy %s" % self.certfile
        return "no credential"


class KeptConnection(object):
    """One HTTP(S) connection kept open between batches (no TLS handshake per batch).

    Python 2.7.9+/3.4+ only (an SSLContext verifies the server, host name included);
    the certificate and CA files are compat.net's.  A connection the server closed
    while idle is opened again once, at once (the logbook is idempotent on (stamp, seq)).
    """

    def __init__(self, url, credentials, certificate, timeout):
        _, _, host, port, path = split_url(url)
        self.secure = url.lower().startswith("https:")
        self.host = host
        self.port = port or (443 if self.secure else 80)
        self.path = path or "/"
        self.credentials = credentials
        self.certificate = certificate
        self.timeout = timeout
        self.conn = None
        self.used = False

    def _open(self):
        try:
            import http.client as http_client  # novm
        except ImportError:  # Python 2
            import httplib as http_client  # novm

        if not self.secure:
            return http_client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        creds = self.credentials
        context = net._ssl_context(creds.cafile, creds.capath, creds.certfile if self.certificate else None,
                                   creds.keyfile if self.certificate else None)
        return http_client.HTTPSConnection(self.host, self.port, timeout=self.timeout,  # novm
                                           context=context)

    def post(self, body, headers):
        """(status, response body); raises SendError for the network."""
        for attempt in (1, 2):
            reused = self.conn is not None and self.used
            try:
                if self.conn is None:
                    self.conn = self._open()
                    self.used = False
                    self.conn.connect()
                    try:   # a batch is one request: never wait for Nagle
                        self.conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    except Exception:
                        pass
                self.conn.timeout = self.timeout
                if getattr(self.conn, "sock", None) is not None:
                    self.conn.sock.settimeout(self.timeout)
                self.conn.request("POST", self.path, body, headers)
                response = self.conn.getresponse()
                data = response.read()
                self.used = True
                if (response.getheader("connection") or "").lower() == "close" or response.version == 10:
                    self.close()
                return response.status, data, response.reason
            except Exception as exc:  # socket, ssl and http.client errors: all one line
                self.close()
                timed_out = "timed out" in compat.to_text(exc) or exc.__class__.__name__ == "timeout"
                if attempt == 1 and reused and not timed_out:
                    continue   # the server closed the idle connection: a new one, once
                raise SendError(net._describe(exc))

    def close(self):
        conn, self.conn = self.conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:
                pass


def _proxied(url):
    """Whether an http(s)_proxy variable applies to this URL (then urllib does the request)."""
    try:
        try:
            from urllib.request import getproxies, proxy_bypass  # novm
        except ImportError:  # Python 2
            from urllib import getproxies, proxy_bypass  # novm

        scheme, _, host, _, _ = split_url(url)
        return bool(getproxies().get(scheme)) and not proxy_bypass(host)
    except Exception:
        return True


class HttpsTransport(object):
    """POST each batch to the logbook (Content-Type: application/json).

    The connection is kept open between batches where this Python verifies TLS
    itself and no proxy variable applies; otherwise each batch is one request
    of compat.net (urllib through the proxy, or curl where ssl is too old).
    """

    name = "https"

    def __init__(self, url, credentials, timeout=TIMEOUT, how="auto"):
        scheme, _, host, _, path = split_url(url)
        if not host:
            raise TransportError("no host in %s" % display_url(url))
        if path in ("", "/"):
            url = url.rstrip("/") + DEFAULT_PATH
        self.url = url
        self.secure = scheme == "https"
        self.name = "https" if self.secure else "http"
        self.credentials = credentials
        self.timeout = timeout
        self.notes = []
        if self.secure:
            try:
                self.how = net.choose_transport(url, how)
            except net.FetchError as exc:
                raise TransportError(str(exc))
            if self.how == "wget" and credentials.token:
                raise TransportError("this Python cannot do HTTPS itself and the pilot token cannot go "
                                     "through wget (its command line is public on the node): install curl")
        else:
            self.how = "python"
            if credentials.token:
                self.notes.append("the logbook URL is plain http://: the pilot token is not sent over it")
        # The token is the credential when there is one; else the client certificate.
        self.use_certificate = self.secure and not credentials.token and bool(credentials.certfile)
        self.duplicates = 0
        self.kept = None
        if self.how == "python" and (compat.has_ssl_context() or not self.secure) and not _proxied(url):
            self.kept = KeptConnection(url, credentials, self.use_certificate, timeout)

    def headers(self):
        headers = {"Content-Type": "application/json"}
        if self.secure and self.credentials.token:
            headers["Authorization"] = "Bearer %s" % self.credentials.token
        return headers

    def post(self, body, headers):
        creds = self.credentials
        if self.kept is not None:
            self.kept.timeout = self.timeout
            self.kept.certificate = self.use_certificate
            status, data, reason = self.kept.post(body, headers)
            if 200 <= status < 300:
                return data
            text = "HTTP %s %s" % (status, compat.to_text(reason or ""))
            try:
                detail = " ".join(compat.to_text(json.loads(compat.to_text(data)).get("error", "")).split())[:300]
            except Exception:
                detail = ""
            reason = scrub(text + (": " + detail if detail else ""), creds.token)
            if status in REJECTED_STATUSES:
                raise Rejected(reason)
            if status in REFUSED_STATUSES:
                raise Refused(reason)
            raise SendError(reason)
        try:
            return net.request(self.url, timeout=self.timeout, cafile=creds.cafile, capath=creds.capath,
                               certfile=creds.certfile if self.use_certificate else None,
                               keyfile=creds.keyfile if self.use_certificate else None,
                               data=body, headers=headers, transport=self.how)
        except net.FetchError as exc:
            reason = scrub(str(exc), creds.token)
            if exc.status in REJECTED_STATUSES:
                raise Rejected(reason)
            if exc.status in REFUSED_STATUSES:
                raise Refused(reason)
            raise SendError(reason)

    def send(self, body, count):
        answer = self.post(body, self.headers())
        try:
            self.duplicates += int(json.loads(compat.to_text(answer)).get("duplicates") or 0)
        except Exception:
            pass  # the body is informative only

    def finish(self, exit_code, timeout):
        pass

    def close(self, timeout):
        if self.kept is not None:
            self.kept.close()


class DiracTransport(HttpsTransport):
    """DIRAC v9's TornadoPilotLogging, so that Pilots 2.0 logs into an
    unmodified DIRAC server: each batch becomes ``sendMessage`` with the pilot's log lines, and
    the end of the pilot ``finaliseLogs`` with its exit code.  The credential is the proxy or the
    host certificate (DIRAC knows no pilot tokens).  An answer ``{"OK": false}`` rejects the batch.
    """

    name = "dirac"

    def __init__(self, url, credentials, stamp, vo, timeout=TIMEOUT, how="auto"):
        if not url.lower().startswith("https://"):
            raise TransportError("DIRAC's TornadoPilotLogging is served over https:// only")
        if not credentials.certfile:
            raise TransportError("DIRAC's TornadoPilotLogging needs a proxy ($X509_USER_PROXY) or "
                                 "the host certificate (--cert)")
        HttpsTransport.__init__(self, url, Credentials(None, credentials.certfile, credentials.keyfile,
                                                       credentials.host_certificate, credentials.cafile,
                                                       credentials.capath), timeout, how)
        self.url = url   # no default path for DIRAC
        self.name = "dirac"
        if self.kept is not None:
            self.kept = KeptConnection(url, self.credentials, True, timeout)
        self.use_certificate = True
        self.stamp = stamp
        self.vo = vo or "unknown"

    def _call(self, method, payload):
        try:
            from urllib.parse import urlencode  # novm
        except ImportError:  # Python 2
            from urllib import urlencode  # novm

        fields = [("method", method), ("args", json.dumps([json.dumps(payload), self.stamp, self.vo]))]
        if self.credentials.host_certificate:
            fields.append(("extraCredentials", json.dumps("hosts")))
        answer = self.post(compat.to_bytes(urlencode(fields)),
                           {"Content-Type": "application/x-www-form-urlencoded"})
        try:
            result = json.loads(compat.to_text(answer))
        except ValueError:
            raise SendError("DIRAC answered something that is not JSON")
        if isinstance(result, dict) and result.get("OK") is False:
            raise Rejected("DIRAC refused %s: %s" % (method, " ".join(compat.to_text(result.get("Message",
                                                                                               "")).split())[:300]))

    def send(self, body, count):
        document = json.loads(compat.to_text(body))
        self._call("sendMessage", [dirac_line(item) for item in document.get("messages", [])])

    def finish(self, exit_code, timeout):
        self.timeout = max(1.0, min(self.timeout, timeout))
        self._call("finaliseLogs", {"retCode": str(exit_code)})


def dirac_line(message):
    """A message as DIRAC's pilot logger writes a line: ``<UTC time> <LEVEL> [<command>] <text>``;
    lines the wrapper piped to the pilot (kind stdin) go as they came."""
    if message.get("kind") == "stdin":
        return message.get("text", "")
    return u"%s %s [%s] %s" % (utc_timestamp(message["time"]), message["level"], message["source"],
                               message.get("text", ""))


class StompTransport(object):
    """One SEND per batch to a RabbitMQ queue, counted as sent when the RECEIPT arrives."""

    name = "stomp"

    def __init__(self, url, credentials, login, passcode, vhost=None, timeout=TIMEOUT):
        from . import stomp

        self.stomp = stomp
        scheme, _, host, port, path = split_url(url)
        self.secure = scheme in ("stomp+ssl", "stomp+tls", "stomps")
        if not host:
            raise TransportError("no host in %s" % display_url(url))
        if not path or path == "/":
            raise TransportError("no destination in %s (e.g. /queue/pilots2.logs)" % display_url(url))
        context = None
        if self.secure:
            if not compat.has_ssl_context():
                raise TransportError("this Python (%s) cannot verify TLS certificates: STOMP over TLS is "
                                     "not possible" % sys.version.split()[0])
            context = net.verifying_context(credentials.cafile, credentials.capath)
        self.url = url
        self.destination = path.split("?", 1)[0]
        self.credentials = credentials
        self.notes = []
        self.client = stomp.StompClient(host, port or (stomp.DEFAULT_TLS_PORT if self.secure else stomp.DEFAULT_PORT),
                                        login, passcode, vhost, context, timeout)
        self.duplicates = 0

    def send(self, body, count):
        headers = [("persistent", "true")]
        if self.credentials.token:
            headers.append(("pilot-token", self.credentials.token))
        try:
            self.client.send(self.destination, body, headers)
        except self.stomp.StompRefused as exc:
            raise Refused(scrub(str(exc), self.credentials.token))
        except self.stomp.StompError as exc:
            raise SendError(scrub(str(exc), self.credentials.token))

    def finish(self, exit_code, timeout):
        pass

    def close(self, timeout):
        self.client.timeout = max(0.5, min(self.client.timeout, timeout))
        self.client.disconnect(timeout=min(2.0, timeout))


def scrub(text, secret):
    """Never let the token into a log line, whatever an error message echoes."""
    text = compat.to_text(text)
    if secret:
        text = text.replace(secret, "<token>")
    return text


def make_transport(url, credentials, stamp, vo, environ, timeout=TIMEOUT):
    """The transport for ``url``; raises TransportError with one line when there is none."""
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if scheme in ("https", "http"):
        if DIRAC_ENDPOINT in split_url(url)[4]:
            return DiracTransport(url, credentials, stamp, vo, timeout)
        return HttpsTransport(url, credentials, timeout)
    if scheme in ("stomp", "stomp+ssl", "stomp+tls", "stomps"):
        login = environ.get("PILOT_STOMP_LOGIN") or "guest"
        passcode = environ.get("PILOT_STOMP_PASSCODE")
        if passcode is None:
            passcode = "guest" if login == "guest" else ""
        return StompTransport(url, credentials, login, passcode, environ.get("PILOT_STOMP_VHOST") or None,
                              timeout)
    raise TransportError("unsupported logbook URL %s: use https://, stomp:// or stomp+ssl://" % display_url(url))


def token_from_file(path, uid=None):
    """(token, None) from a file only its owner can read, else (None, one-line reason).

    The reason never contains the token.
    """
    try:
        info = os.stat(path)
    except (IOError, OSError) as exc:
        return None, "cannot read the logbook token file %s: %s" % (path, exc.strerror or exc)
    if not stat.S_ISREG(info.st_mode):
        # a FIFO or a device would block the pilot or feed it for ever
        return None, "the logbook token file %s is not a regular file: not used" % path
    if info.st_mode & 0o077:
        return None, ("the logbook token file %s is readable by others (mode %04o): not used; it must be "
                      "0600" % (path, info.st_mode & 0o7777))
    if uid is not None and info.st_uid != uid:
        return None, "the logbook token file %s belongs to another user: not used" % path
    try:
        handle = open(path, "rb")
        try:
            raw = handle.read(16384)
        finally:
            handle.close()
    except (IOError, OSError) as exc:
        return None, "cannot read the logbook token file %s: %s" % (path, exc.strerror or exc)
    token = compat.to_text(raw).strip()
    if not token:
        return None, "the logbook token file %s is empty" % path
    if any(ord(char) < 33 or ord(char) > 126 for char in token) or '"' in token or "\\" in token:
        return None, "the logbook token file %s does not hold one printable token: not used" % path
    return token, None
