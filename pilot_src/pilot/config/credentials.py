"""The pilot's credentials: a proxy ($X509_USER_PROXY) or a host certificate.

Certificates are read with a small DER reader (standard library only, every
Python from 2.6): validity dates, subject and issuer, and the VOMS attribute
certificate (extension 1.3.6.1.4.1.8005.100.100.5) whose FQANs
(``/lhcb/Role=NULL/Capability=NULL``) give the VO.  A plain proxy (what
SiteDirectors bundle since DIRAC 8) simply has no VO.  When a file cannot be
parsed this way, ``openssl x509`` on the node is asked for the dates.
"""

import base64
import calendar
import os
import re
import time

from ..shims import compat
from . import rsaverify

VOMS_AC_OID = "1.3.6.1.4.1.8005.100.100.5"
PEM_CERT = re.compile(b"-----BEGIN CERTIFICATE-----(.+?)-----END CERTIFICATE-----", re.S)
PEM_KEY = re.compile(b"-----BEGIN (?:RSA |EC |ENCRYPTED )?PRIVATE KEY-----")
FQAN = re.compile(r"^/[A-Za-z0-9][A-Za-z0-9._-]*(/[^/=]+)*/Role=[^/]*(/Capability=[^/]*)?$")
NAMES = {"2.5.4.3": "CN", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.10": "O",
         "2.5.4.11": "OU", "0.9.2342.19200300.100.1.25": "DC", "0.9.2342.19200300.100.1.1": "UID",
         "1.2.840.113549.1.9.1": "emailAddress"}


class CredentialError(Exception):
    pass


# -- DER ------------------------------------------------------------------------------

def _tlv(data, pos):
    """(tag, value start, value end) of the element at ``pos`` of a bytearray."""
    try:
        return rsaverify.der_item(data, pos)
    except rsaverify.DERError as exc:
        raise CredentialError(str(exc))


def _children(data, start, end):
    items = []
    pos = start
    while pos < end:
        tag, value_start, value_end = _tlv(data, pos)
        items.append((tag, value_start, value_end))
        pos = value_end
    return items


def _oid(data, start, end):
    values = []
    number = 0
    for byte in data[start:end]:
        number = (number << 7) | (byte & 0x7F)
        if not byte & 0x80:
            values.append(number)
            number = 0
    if not values:
        return ""
    first = min(values[0] // 40, 2)
    return ".".join(str(part) for part in [first, values[0] - 40 * first] + values[1:])


def _time(data, tag, start, end):
    text = bytes(data[start:end]).decode("ascii")
    if tag == 0x17:  # UTCTime YYMMDDHHMMSSZ
        year = int(text[:2])
        text = ("19" if year >= 50 else "20") + text
    return calendar.timegm(time.strptime(text[:14], "%Y%m%d%H%M%S"))


def _name(data, start, end):
    parts = []
    for _, set_start, set_end in _children(data, start, end):
        for _, seq_start, seq_end in _children(data, set_start, set_end):
            items = _children(data, seq_start, seq_end)
            if len(items) < 2:
                continue
            oid = _oid(data, items[0][1], items[0][2])
            value = compat.to_text(bytes(data[items[1][1]:items[1][2]]))
            parts.append("%s=%s" % (NAMES.get(oid, oid), value))
    return "/" + "/".join(parts)


class Certificate(object):
    def __init__(self, der):
        data = bytearray(der)
        _, start, end = _tlv(data, 0)
        tbs = _children(data, *_children(data, start, end)[0][1:])
        index = 1 if tbs[0][0] == 0xA0 else 0  # explicit version present
        validity = _children(data, tbs[index + 3][1], tbs[index + 3][2])
        self.not_before = _time(data, *validity[0])
        self.not_after = _time(data, *validity[1])
        self.issuer = _name(data, tbs[index + 2][1], tbs[index + 2][2])
        self.subject = _name(data, tbs[index + 4][1], tbs[index + 4][2])
        self.fqans = []
        for tag, ext_start, ext_end in tbs[index + 6:]:
            if tag == 0xA3:
                self._extensions(data, ext_start, ext_end)

    def _extensions(self, data, start, end):
        for _, seq_start, seq_end in _children(data, *_children(data, start, end)[0][1:]):
            items = _children(data, seq_start, seq_end)
            if _oid(data, items[0][1], items[0][2]) == VOMS_AC_OID:
                _, value_start, value_end = items[-1]
                self.fqans.extend(_find_fqans(data, value_start, value_end))


def _find_fqans(data, start, end, depth=0):
    """Every OCTET STRING under the VOMS extension that reads as an FQAN."""
    found = []
    if depth > 12:
        return found
    try:
        elements = _children(data, start, end)
    except CredentialError:
        return found
    for tag, value_start, value_end in elements:
        if tag == 0x04:
            text = bytes(data[value_start:value_end])
            try:
                candidate = text.decode("ascii")
            except UnicodeDecodeError:
                candidate = ""
            if FQAN.match(candidate):
                found.append(candidate)
            else:
                found.extend(_find_fqans(data, value_start, value_end, depth + 1))
        elif tag & 0x20:  # constructed: look inside
            found.extend(_find_fqans(data, value_start, value_end, depth + 1))
    return found


def vo_of_fqan(fqan):
    return fqan.split("/")[1] if fqan and fqan.startswith("/") else None


# -- files ------------------------------------------------------------------------------

class Credential(object):
    """What a credential file (or a cert + key pair) says."""

    def __init__(self, path, certificates, has_key):
        self.path = path
        self.certificates = certificates
        self.has_key = has_key

    @property
    def not_after(self):
        return min(cert.not_after for cert in self.certificates)

    @property
    def not_before(self):
        return max(cert.not_before for cert in self.certificates)

    @property
    def subject(self):
        return self.certificates[0].subject

    @property
    def fqans(self):
        found = []
        for cert in self.certificates:
            found.extend(cert.fqans)
        return found

    @property
    def vo(self):
        fqans = self.fqans
        return vo_of_fqan(fqans[0]) if fqans else None

    def seconds_left(self, now=None):
        return self.not_after - (time.time() if now is None else now)


def read_file(path):
    try:
        return compat.read_bytes(path)
    except (IOError, OSError) as exc:
        raise CredentialError("%s: %s" % (path, exc.strerror or exc))


def load(path, key_path=None, openssl_dates=None):
    """Read a proxy (certificates and key in one file) or a certificate (+ key file)."""
    data = read_file(path)
    has_key = bool(PEM_KEY.search(data))
    if key_path:
        has_key = bool(PEM_KEY.search(read_file(key_path)))
    return Credential(path, certificates_of(data, path, openssl_dates), has_key)


def certificates_of(data, origin, openssl_dates=None):
    """The Certificates of PEM bytes (``origin`` names them in errors).  A certificate the
    DER reader cannot parse is read by ``openssl_dates(origin)`` when given (a file)."""
    blocks = PEM_CERT.findall(data)
    if not blocks:
        raise CredentialError("%s holds no PEM certificate" % origin)
    certificates = []
    for block in blocks:
        try:
            der = base64.b64decode(b"".join(block.split()))
            certificates.append(Certificate(der))
        except (CredentialError, ValueError, IndexError, TypeError) as exc:
            if openssl_dates is None:
                raise CredentialError("%s: cannot read a certificate: %s" % (origin, exc))
            certificates.append(openssl_dates(origin))
            break
    return certificates


def proxy_vo(environ):
    """The VO of the proxy in $X509_USER_PROXY, or None (never raises)."""
    path = environ.get("X509_USER_PROXY")
    if not path:
        return None
    try:
        return load(path).vo
    except Exception:
        return None


def describe_duration(seconds):
    seconds = int(seconds)
    if seconds < 0:
        return "expired %s ago" % describe_duration(-seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return "%dd %02dh" % (days, hours)
    return "%dh %02dm" % (hours, minutes)


class OpensslDates(object):
    """openssl x509 -enddate/-startdate, for files the DER reader cannot parse."""

    def __init__(self, run):
        self.run = run  # callable(args) -> (returncode, stdout text)

    def __call__(self, path):
        code, output = self.run(["openssl", "x509", "-noout", "-startdate", "-enddate", "-subject",
                                 "-issuer", "-in", path])
        if code:
            raise CredentialError("%s: openssl cannot read it either" % path)
        values = {}
        for line in output.splitlines():
            if "=" in line:
                key, value = line.split("=", 1)
                values[key.strip()] = value.strip()
        cert = Certificate.__new__(Certificate)
        try:
            cert.not_before = calendar.timegm(time.strptime(values["notBefore"], "%b %d %H:%M:%S %Y %Z"))
            cert.not_after = calendar.timegm(time.strptime(values["notAfter"], "%b %d %H:%M:%S %Y %Z"))
        except (KeyError, ValueError):
            raise CredentialError("%s: openssl gave no validity dates" % path)
        cert.subject = values.get("subject", "")
        cert.issuer = values.get("issuer", "")
        cert.fqans = []
        return cert


def host_credential_paths(location):
    return os.path.join(location, "hostcert.pem"), os.path.join(location, "hostkey.pem")
