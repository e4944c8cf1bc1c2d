"""pilot/config/credentials.py: proxies and host certificates, read with the pilot's DER reader.

The certificates are made with the openssl CLI: a CA, a user certificate,
proxies (certificate and key in one file) with a VOMS attribute-certificate
extension (OID 1.3.6.1.4.1.8005.100.100.5) built here with a tiny DER
encoder, an expired certificate (``openssl ca -startdate/-enddate``: OpenSSL
3.0 refuses negative ``-days``) and a plain self-signed one.  Then the same
files through the real pilot.pyz (CheckWorkerNode, --explain).
"""

import binascii
import calendar
import os
import re
import shutil
import stat
import time

import pytest

import helpers
import pilotjson_samples as samples
pytest.register_assert_rewrite("dirac_fixtures")  # before its first import
from dirac_fixtures import openssl, pilot_env
from pilot.config import credentials
from pilot.config.credentials import CredentialError

VOMS_AC_OID = "1.3.6.1.4.1.8005.100.100.5"
VOMS_ATTR_OID = "1.3.6.1.4.1.8005.100.100.4"
LHCB_FQANS = ["/lhcb/Role=NULL/Capability=NULL", "/lhcb/lhcbprod/Role=production/Capability=NULL"]
DOTTED_FQANS = ["/vo.example.org/Role=NULL/Capability=NULL"]
USER_DN = "/DC=org/DC=test/CN=Test User"
CA_DN = "/DC=org/DC=test/CN=Test CA"
EXPIRED_START = calendar.timegm((2020, 1, 1, 0, 0, 0, 0, 0, 0))
EXPIRED_END = calendar.timegm((2020, 1, 2, 0, 0, 0, 0, 0, 0))


# -- a tiny DER encoder ----------------------------------------------------------------------

def _length(size):
    if size < 0x80:
        return bytearray([size])
    octets = bytearray()
    while size:
        octets.insert(0, size & 0xFF)
        size >>= 8
    return bytearray([0x80 | len(octets)]) + octets


def der(tag, content):
    content = bytearray(content)
    return bytearray([tag]) + _length(len(content)) + content


def seq(*items):
    return der(0x30, b"".join(bytes(item) for item in items))


def der_set(*items):
    return der(0x31, b"".join(bytes(item) for item in items))


def ctx(number, *items):
    """[number] constructed (EXPLICIT or IMPLICIT SEQUENCE)."""
    return der(0xA0 | number, b"".join(bytes(item) for item in items))


def octets(data):
    if not isinstance(data, (bytes, bytearray)):
        data = data.encode("ascii")
    return der(0x04, data)


def integer(value):
    body = bytearray()
    while True:
        body.insert(0, value & 0xFF)
        value >>= 8
        if not value:
            break
    if body[0] & 0x80:
        body.insert(0, 0)
    return der(0x02, body)


def oid(dotted):
    parts = [int(part) for part in dotted.split(".")]
    body = bytearray([40 * parts[0] + parts[1]])
    for part in parts[2:]:
        chunk = bytearray([part & 0x7F])
        part >>= 7
        while part:
            chunk.insert(0, 0x80 | (part & 0x7F))
            part >>= 7
        body += chunk
    return der(0x06, body)


def gentime(text):
    return der(0x18, text.encode("ascii"))


def uri(text):
    return der(0x86, text.encode("ascii"))  # GeneralName uniformResourceIdentifier [6] IA5String


def voms_extension(fqans, vo, host="voms.example.org:15000"):
    """The value of the VOMS AC extension: SEQUENCE OF SEQUENCE OF AttributeCertificate (RFC 3281)."""
    ietf_attr = seq(ctx(0, uri("%s://%s" % (vo, host))), seq(*[octets(fqan) for fqan in fqans]))
    attributes = seq(seq(oid(VOMS_ATTR_OID), der_set(ietf_attr)))
    ac_info = seq(
        integer(1),
        seq(ctx(0, seq(ctx(4, seq(der_set(seq(oid("2.5.4.3"), der(0x0C, b"Test CA"))))), integer(4096)))),
        ctx(0, seq(ctx(4, seq(der_set(seq(oid("2.5.4.3"), der(0x0C, b"voms.example.org"))))))),
        seq(oid("1.2.840.113549.1.1.11")),
        integer(123456789),
        seq(gentime("20200101000000Z"), gentime("20991231000000Z")),
        attributes,
        # a not-FQAN octet string (an AC extension value) must not be taken for an FQAN
        seq(seq(oid("2.5.29.35"), octets(seq(ctx(0, b"\x01\x02\x03"))))),
    )
    certificate = seq(ac_info, seq(oid("1.2.840.113549.1.1.11")), der(0x03, b"\x00" + b"\x5a" * 64))
    return seq(seq(certificate))


def der_hex(data):
    text = binascii.hexlify(bytes(data)).decode("ascii")
    return ":".join(text[index:index + 2] for index in range(0, len(text), 2))


# -- the credentials ------------------------------------------------------------------------------

CA_CONFIG = """[ca]
default_ca = ca_default
[ca_default]
database = index.txt
new_certs_dir = .
serial = serial.txt
default_md = sha256
policy = policy_any
preserve = yes
unique_subject = no
email_in_dn = no
[policy_any]
domainComponent = optional
commonName = supplied
"""


def _cat(target, *sources):
    helpers.write_text(target, b"".join(helpers.read_bytes(source) for source in sources))
    return target


class Creds(object):
    """Every credential file of these tests, made once per session (one RSA key for all)."""

    def __init__(self, folder):
        self.folder = folder
        path = self.path
        self.key = path("key.pem")
        openssl(["genrsa", "-out", self.key, "2048"], folder)
        self.ca = path("ca.pem")
        openssl(["req", "-x509", "-new", "-key", self.key, "-subj", CA_DN, "-days", "30", "-out", self.ca], folder)
        # the user certificate, issued by the CA
        self.user = self._issue("user", USER_DN, ["-days", "20", "-set_serial", "2"])
        # proxies: certificate (issued by the user), key, then the user certificate
        self.voms_proxy = self._proxy("voms", LHCB_FQANS, "lhcb", 11)
        self.dotted_proxy = self._proxy("dotted", DOTTED_FQANS, "vo.example.org", 12)
        self.gridpp_proxy = self._proxy("gridpp", ["/gridpp/Role=NULL/Capability=NULL"], "gridpp", 13)
        self.plain_proxy = self._proxy("plain", None, None, 14)
        # a plain self-signed certificate and its key in separate files
        self.plain_cert = path("plain-cert.pem")
        openssl(["req", "-x509", "-new", "-key", self.key, "-subj", "/DC=org/DC=test/CN=plain.test.local",
                 "-days", "3", "-out", self.plain_cert], folder)
        # an expired certificate (1 Jan 2020, one day), signed with "openssl ca"
        helpers.write_text(path("ca.cnf"), CA_CONFIG)
        helpers.write_text(path("index.txt"), "")
        helpers.write_text(path("serial.txt"), "1000\n")
        csr = path("expired.csr")
        openssl(["req", "-new", "-key", self.key, "-subj", USER_DN + "/CN=expired", "-out", csr], folder)
        self.expired_cert = path("expired-cert.pem")
        openssl(["ca", "-batch", "-config", path("ca.cnf"), "-keyfile", self.key, "-cert", self.ca, "-in", csr,
                 "-out", self.expired_cert, "-startdate", "20200101000000Z", "-enddate", "20200102000000Z",
                 "-notext"], folder)
        self.expired_proxy = _cat(path("expired-proxy.pem"), self.expired_cert, self.key)
        # host certificate directories
        self.host_dir = path("host")
        os.mkdir(self.host_dir)
        shutil.copy(self.plain_cert, os.path.join(self.host_dir, "hostcert.pem"))
        shutil.copy(self.key, os.path.join(self.host_dir, "hostkey.pem"))
        self.host_dir_without_key = path("host-nokey")
        os.mkdir(self.host_dir_without_key)
        shutil.copy(self.plain_cert, os.path.join(self.host_dir_without_key, "hostcert.pem"))
        self.expired_host_dir = path("host-expired")
        os.mkdir(self.expired_host_dir)
        shutil.copy(self.expired_cert, os.path.join(self.expired_host_dir, "hostcert.pem"))
        shutil.copy(self.key, os.path.join(self.expired_host_dir, "hostkey.pem"))

    def path(self, name):
        return os.path.join(self.folder, name)

    def _issue(self, name, subject, extra, extension=None):
        csr = self.path(name + ".csr")
        cert = self.path(name + "-cert.pem")
        openssl(["req", "-new", "-key", self.key, "-subj", subject, "-out", csr], self.folder)
        args = ["x509", "-req", "-in", csr, "-CA", self.ca if name == "user" else self.user, "-CAkey", self.key,
                "-out", cert] + extra
        if extension is not None:
            extfile = self.path(name + ".ext")
            helpers.write_text(extfile, "[voms]\n%s = DER:%s\n" % (VOMS_AC_OID, der_hex(extension)))
            args += ["-extfile", extfile, "-extensions", "voms"]
        openssl(args, self.folder)
        return cert

    def _proxy(self, name, fqans, vo, serial):
        extension = voms_extension(fqans, vo) if fqans else None
        cert = self._issue(name, USER_DN + "/CN=%d" % (1000 + serial),
                           ["-days", "1", "-set_serial", str(serial)], extension)
        proxy = _cat(self.path(name + "-proxy.pem"), cert, self.key, self.user)
        os.chmod(proxy, 0o600)
        return proxy


@pytest.fixture(scope="session")
def creds(tmpdir_factory):
    return Creds(str(tmpdir_factory.mktemp("creds")))


def openssl_runner(args):
    rc, out, err = helpers.run(args, "/", timeout=60)
    return rc, out


# -- the DER reader --------------------------------------------------------------------------------

def _openssl_dates(path):
    out = openssl(["x509", "-noout", "-startdate", "-enddate", "-in", path], "/")
    values = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    return (calendar.timegm(time.strptime(values["notBefore"].strip(), "%b %d %H:%M:%S %Y %Z")),
            calendar.timegm(time.strptime(values["notAfter"].strip(), "%b %d %H:%M:%S %Y %Z")))


def test_voms_proxy_subject_issuer_dates_and_fqans(creds):
    credential = credentials.load(creds.voms_proxy)
    assert credential.has_key
    assert len(credential.certificates) == 2           # the proxy and the user certificate
    proxy, user = credential.certificates
    assert proxy.subject == USER_DN + "/CN=1011"
    assert proxy.issuer == USER_DN
    assert user.subject == USER_DN
    assert user.issuer == CA_DN
    assert credential.subject == proxy.subject
    assert (proxy.not_before, proxy.not_after) == _openssl_dates(creds.path("voms-cert.pem"))
    assert proxy.not_after - proxy.not_before == 86400
    assert credential.not_after == proxy.not_after       # the earliest end of the chain
    assert credential.not_before == proxy.not_before
    assert credential.fqans == LHCB_FQANS
    assert proxy.fqans == LHCB_FQANS and user.fqans == []
    assert credential.vo == "lhcb"
    left = credential.seconds_left()
    assert 86400 - 3600 < left <= 86400
    assert credential.seconds_left(now=proxy.not_after - 10) == 10


def test_dotted_vo(creds):
    credential = credentials.load(creds.dotted_proxy)
    assert credential.fqans == DOTTED_FQANS
    assert credential.vo == "vo.example.org"


def test_plain_certificate_has_no_vo(creds):
    credential = credentials.load(creds.plain_cert, key_path=creds.key)
    assert credential.has_key
    assert credential.fqans == []
    assert credential.vo is None
    assert credential.subject == "/DC=org/DC=test/CN=plain.test.local"
    assert credential.certificates[0].issuer == credential.subject
    assert (credential.not_before, credential.not_after) == _openssl_dates(creds.plain_cert)
    assert credentials.load(creds.plain_proxy).vo is None


def test_expired_certificate_dates(creds):
    credential = credentials.load(creds.expired_cert, key_path=creds.key)
    assert credential.not_before == EXPIRED_START
    assert credential.not_after == EXPIRED_END
    assert credential.seconds_left() < 0
    assert credential.subject == USER_DN + "/CN=expired"
    assert credential.certificates[0].issuer == CA_DN


def test_missing_key_detection(creds):
    assert not credentials.load(creds.plain_cert).has_key                     # a certificate alone
    assert credentials.load(creds.plain_cert, key_path=creds.key).has_key
    assert not credentials.load(creds.plain_cert, key_path=creds.plain_cert).has_key
    with pytest.raises(CredentialError) as info:
        credentials.load(creds.plain_cert, key_path=creds.path("no-such-key.pem"))
    assert "no-such-key.pem" in str(info.value)


@pytest.mark.parametrize("header", ["PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY"])
def test_key_kinds(tmpdir, creds, header):
    key = tmpdir.join("key.pem")
    key.write("-----BEGIN %s-----\nAAAA\n-----END %s-----\n" % (header, header))
    assert credentials.load(creds.plain_cert, key_path=str(key)).has_key


def test_garbage_pem_is_a_credential_error(tmpdir):
    garbage = tmpdir.join("garbage.pem")
    garbage.write("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGUgYXQgYWxs\n-----END CERTIFICATE-----\n")
    with pytest.raises(CredentialError) as info:
        credentials.load(str(garbage))
    assert "cannot read a certificate" in str(info.value)
    assert str(garbage) in str(info.value)


@pytest.mark.parametrize("content", [
    "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
    "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n",           # an empty SEQUENCE
    "-----BEGIN CERTIFICATE-----\nMIIBIjAN\n-----END CERTIFICATE-----\n",       # truncated
])
def test_truncated_or_bad_der_is_a_credential_error(tmpdir, content):
    path = tmpdir.join("bad.pem")
    path.write(content)
    with pytest.raises(CredentialError):
        credentials.load(str(path))


def test_no_pem_at_all(tmpdir):
    path = tmpdir.join("empty.pem")
    path.write("just text\n")
    with pytest.raises(CredentialError) as info:
        credentials.load(str(path))
    assert "holds no PEM certificate" in str(info.value)


def test_missing_and_unreadable_files(tmpdir):
    with pytest.raises(CredentialError) as info:
        credentials.load(str(tmpdir.join("missing.pem")))
    assert "missing.pem" in str(info.value)
    with pytest.raises(CredentialError):
        credentials.load(str(tmpdir))  # a directory


def test_proxy_vo(creds, tmpdir):
    assert credentials.proxy_vo({"X509_USER_PROXY": creds.voms_proxy}) == "lhcb"
    assert credentials.proxy_vo({"X509_USER_PROXY": creds.dotted_proxy}) == "vo.example.org"
    assert credentials.proxy_vo({"X509_USER_PROXY": creds.plain_proxy}) is None
    assert credentials.proxy_vo({"X509_USER_PROXY": str(tmpdir.join("missing"))}) is None
    garbage = tmpdir.join("garbage")
    garbage.write("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    assert credentials.proxy_vo({"X509_USER_PROXY": str(garbage)}) is None
    assert credentials.proxy_vo({"X509_USER_PROXY": ""}) is None
    assert credentials.proxy_vo({}) is None


@pytest.mark.parametrize("fqan,vo", [
    ("/lhcb/Role=NULL/Capability=NULL", "lhcb"),
    ("/vo.example.org/sub/Role=pilot", "vo.example.org"),
    ("", None),
    (None, None),
    ("lhcb/Role=NULL", None),
])
def test_vo_of_fqan(fqan, vo):
    assert credentials.vo_of_fqan(fqan) == vo


@pytest.mark.parametrize("text,matches", [
    ("/lhcb/Role=NULL/Capability=NULL", True),
    ("/lhcb/Role=NULL", True),
    ("/vo.example.org/Role=NULL/Capability=NULL", True),
    ("/dteam/group/sub/Role=lcgadmin/Capability=NULL", True),
    ("/lhcb", False),
    ("lhcb://voms.example.org", False),
    ("/lhcb/Capability=NULL", False),
])
def test_fqan_pattern(text, matches):
    assert bool(credentials.FQAN.match(text)) == matches


@pytest.mark.parametrize("seconds,text", [
    (0, "0h 00m"),
    (59, "0h 00m"),
    (3599, "0h 59m"),
    (3600, "1h 00m"),
    (86399, "23h 59m"),
    (86400, "1d 00h"),
    (90061, "1d 01h"),
    (12 * 86400 + 5 * 3600, "12d 05h"),
    (-7800, "expired 2h 10m ago"),
    (-2 * 86400, "expired 2d 00h ago"),
    (3600.9, "1h 00m"),
])
def test_describe_duration(seconds, text):
    assert credentials.describe_duration(seconds) == text


def test_host_credential_paths():
    assert credentials.host_credential_paths("/etc/grid-security") == (
        "/etc/grid-security/hostcert.pem", "/etc/grid-security/hostkey.pem")


# -- the openssl fallback -----------------------------------------------------------------------------

OPENSSL_OUTPUT = ("notBefore=Jan  1 00:00:00 2020 GMT\nnotAfter=Jan  2 00:00:00 2020 GMT\n"
                  "subject=DC = org, DC = test, CN = Test User\nissuer=DC = org, DC = test, CN = Test CA\n")


def test_openssl_dates_with_a_fake_runner():
    calls = []

    def runner(args):
        calls.append(args)
        return 0, OPENSSL_OUTPUT

    cert = credentials.OpensslDates(runner)("/some/proxy")
    assert calls == [["openssl", "x509", "-noout", "-startdate", "-enddate", "-subject", "-issuer", "-in",
                      "/some/proxy"]]
    assert (cert.not_before, cert.not_after) == (EXPIRED_START, EXPIRED_END)
    assert cert.subject == "DC = org, DC = test, CN = Test User"
    assert cert.issuer == "DC = org, DC = test, CN = Test CA"
    assert cert.fqans == []


def test_openssl_dates_failing_runner():
    with pytest.raises(CredentialError) as info:
        credentials.OpensslDates(lambda args: (1, "unable to load certificate"))("/p")
    assert "openssl cannot read it either" in str(info.value)


@pytest.mark.parametrize("output", ["", "subject=x\n", "notBefore=yesterday\nnotAfter=tomorrow\n"])
def test_openssl_dates_without_usable_dates(output):
    with pytest.raises(CredentialError) as info:
        credentials.OpensslDates(lambda args: (0, output))("/p")
    assert "no validity dates" in str(info.value)


def test_load_falls_back_to_openssl_for_an_unreadable_der(tmpdir):
    path = str(tmpdir.join("odd.pem"))
    helpers.write_text(path, "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n"
                             "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    asked = []

    def runner(args):
        asked.append(args[-1])
        return 0, OPENSSL_OUTPUT

    credential = credentials.load(path, openssl_dates=credentials.OpensslDates(runner))
    assert asked == [path]
    assert credential.has_key
    assert credential.not_after == EXPIRED_END
    assert credential.vo is None


def test_real_openssl_agrees_with_the_der_reader(creds):
    for path in (creds.plain_cert, creds.expired_cert, creds.path("voms-cert.pem")):
        via_openssl = credentials.OpensslDates(openssl_runner)(path)
        via_der = credentials.load(path).certificates[0]
        assert (via_openssl.not_before, via_openssl.not_after) == (via_der.not_before, via_der.not_after)


# -- through the real pilot.pyz ------------------------------------------------------------------------

CHECK = ["-X", "CheckWorkerNode", "-D", "10"]


def _check(run_pilot, workdir, extra=None, env=None):
    rc, out, err = run_pilot(CHECK + list(extra or []), workdir, env=pilot_env(env), timeout=60)
    result = helpers.load_result(workdir)
    assert "Traceback" not in out + err
    return rc, out, err, result


def _assert_credentials_failure(rc, out, err, result, *needles):
    assert rc == 12, out + err
    pilot = result["pilot"]
    assert pilot["failed_command"] == "CheckWorkerNode"
    assert pilot["failure_type"] == "credentials"
    reason = pilot["reason"]
    assert reason and "\n" not in reason
    for needle in needles:
        assert needle in reason, reason
    return reason


def test_pyz_voms_proxy(run_pilot, workdir, creds):
    rc, out, err, result = _check(run_pilot, workdir, env={"X509_USER_PROXY": creds.voms_proxy})
    assert rc == 0, out + err
    log = helpers.pilot_out(workdir)
    line = [text for text in log.splitlines() if "[CheckWorkerNode] proxy " in text][0]
    assert creds.voms_proxy in line
    assert USER_DN + "/CN=1011" in line
    assert re.search(r"valid for (23h \d\dm|1d 00h)", line), line
    assert "VO lhcb" in line
    assert "VOMS attributes: %s" % ", ".join(LHCB_FQANS) in log
    details = helpers.load_result(workdir)["commands"][0]["details"]["credentials"]
    assert details["kind"] == "proxy"
    assert details["path"] == creds.voms_proxy
    assert details["fqans"] == LHCB_FQANS
    assert details["vo"] == "lhcb"
    assert 0 < details["seconds_left"] <= 86400


def test_pyz_dotted_vo(run_pilot, workdir, creds):
    rc, out, err, result = _check(run_pilot, workdir, env={"X509_USER_PROXY": creds.dotted_proxy})
    assert rc == 0, out + err
    assert result["commands"][0]["details"]["credentials"]["vo"] == "vo.example.org"
    assert "VO vo.example.org" in helpers.pilot_out(workdir)


def test_pyz_plain_proxy_has_no_vo(run_pilot, workdir, creds):
    rc, out, err, result = _check(run_pilot, workdir, env={"X509_USER_PROXY": creds.plain_proxy})
    assert rc == 0, out + err
    assert result["commands"][0]["details"]["credentials"]["vo"] is None
    assert "VO none (no VOMS extension)" in helpers.pilot_out(workdir)


def test_pyz_expired_proxy(run_pilot, workdir, creds):
    rc, out, err, result = _check(run_pilot, workdir, env={"X509_USER_PROXY": creds.expired_proxy})
    reason = _assert_credentials_failure(rc, out, err, result, "proxy", creds.expired_proxy, "expired", "ago",
                                         USER_DN + "/CN=expired")
    assert re.search(r"expired \d+d \d\dh ago", reason), reason
    assert result["commands"][0]["details"]["credentials"]["seconds_left"] < 0


def test_pyz_missing_proxy_file(run_pilot, workdir, tmpdir):
    missing = str(tmpdir.join("x509up_u0"))
    rc, out, err, result = _check(run_pilot, workdir, env={"X509_USER_PROXY": missing})
    _assert_credentials_failure(rc, out, err, result, "proxy", missing)


def test_pyz_unreadable_proxy_path(run_pilot, workdir, tmpdir):
    folder = str(tmpdir.mkdir("a-directory"))
    rc, out, err, result = _check(run_pilot, workdir, env={"X509_USER_PROXY": folder})
    _assert_credentials_failure(rc, out, err, result, "proxy", folder)


@pytest.mark.skipif(os.getuid() == 0, reason="root reads a file without read permission")
def test_pyz_proxy_without_read_permission(run_pilot, workdir, tmpdir, creds):
    proxy = str(tmpdir.join("proxy"))
    shutil.copy(creds.voms_proxy, proxy)
    os.chmod(proxy, 0)
    rc, out, err, result = _check(run_pilot, workdir, env={"X509_USER_PROXY": proxy})
    _assert_credentials_failure(rc, out, err, result, "proxy", proxy)


def test_pyz_proxy_without_key(run_pilot, workdir, creds):
    rc, out, err, result = _check(run_pilot, workdir, env={"X509_USER_PROXY": creds.user})
    _assert_credentials_failure(rc, out, err, result, "no private key")


def test_pyz_host_certificate(run_pilot, workdir, creds):
    rc, out, err, result = _check(run_pilot, workdir, ["--cert", "--certLocation=%s" % creds.host_dir],
                                  env={"X509_USER_PROXY": creds.expired_proxy})  # ignored with --cert
    assert rc == 0, out + err
    details = result["commands"][0]["details"]["credentials"]
    assert details["kind"] == "host certificate"
    assert details["path"] == os.path.join(creds.host_dir, "hostcert.pem")
    assert details["subject"] == "/DC=org/DC=test/CN=plain.test.local"
    assert details["vo"] is None
    assert "host certificate %s" % os.path.join(creds.host_dir, "hostcert.pem") in helpers.pilot_out(workdir)


def test_pyz_host_certificate_without_hostkey(run_pilot, workdir, creds):
    rc, out, err, result = _check(run_pilot, workdir, ["--cert", "--certLocation=%s" % creds.host_dir_without_key])
    _assert_credentials_failure(rc, out, err, result, "host certificate", "hostkey.pem")


def test_pyz_expired_host_certificate(run_pilot, workdir, creds):
    rc, out, err, result = _check(run_pilot, workdir, ["--cert", "--certLocation=%s" % creds.expired_host_dir])
    _assert_credentials_failure(rc, out, err, result, "host certificate", "expired", "ago")


def test_pyz_host_certificate_directory_missing(run_pilot, workdir, tmpdir):
    missing = str(tmpdir.join("nowhere"))
    rc, out, err, result = _check(run_pilot, workdir, ["--cert", "--certLocation=%s" % missing])
    _assert_credentials_failure(rc, out, err, result, "hostcert.pem")


def _short_proxy(creds, tmpdir, minutes):
    """A proxy valid from a day ago until ``minutes`` from now (openssl ca -enddate)."""
    folder = str(tmpdir.mkdir("short"))
    helpers.write_text(os.path.join(folder, "ca.cnf"), CA_CONFIG)
    helpers.write_text(os.path.join(folder, "index.txt"), "")
    helpers.write_text(os.path.join(folder, "serial.txt"), "2000\n")
    csr = os.path.join(folder, "short.csr")
    cert = os.path.join(folder, "short-cert.pem")
    openssl(["req", "-new", "-key", creds.key, "-subj", USER_DN + "/CN=short", "-out", csr], folder)
    end = time.strftime("%Y%m%d%H%M%SZ", time.gmtime(time.time() + minutes * 60))
    openssl(["ca", "-batch", "-config", os.path.join(folder, "ca.cnf"), "-keyfile", creds.key, "-cert", creds.ca,
             "-in", csr, "-out", cert, "-startdate", "20200101000000Z", "-enddate", end, "-notext"], folder)
    return _cat(os.path.join(folder, "short-proxy.pem"), cert, creds.key)


def test_pyz_proxy_about_to_expire_is_a_warning(run_pilot, workdir, creds, tmpdir):
    proxy = _short_proxy(creds, tmpdir, 30)
    rc, out, err, result = _check(run_pilot, workdir, env={"X509_USER_PROXY": proxy})
    assert rc == 0, out + err
    warnings = [line for line in helpers.pilot_out(workdir).splitlines()
                if " WARNING " in line and "[CheckWorkerNode]" in line]
    assert any(re.search(r"proxy expires in 0h [23]\dm", line) for line in warnings), warnings
    assert 0 < result["commands"][0]["details"]["credentials"]["seconds_left"] <= 1800


def test_pyz_no_credentials_is_only_a_warning(run_pilot, workdir):
    rc, out, err, result = _check(run_pilot, workdir)
    assert rc == 0, out + err
    assert result["pilot"]["status"] == "done"
    warnings = [line for line in helpers.pilot_out(workdir).splitlines()
                if " WARNING " in line and "[CheckWorkerNode]" in line]
    assert any("no credentials" in line for line in warnings), warnings
    assert result["commands"][0]["details"]["credentials"] is None


# -- the proxy's VO selects the pilot.json sections ---------------------------------------------------

def _vo_document():
    document = samples.new_schema(extensions=False)
    document["lhcb"] = {"Pilot": {"Version": "v11.0.1"}}
    return document


def _explain(run_pilot, workdir, extra=(), env=None):
    helpers.write_json(os.path.join(workdir, "pilot.json"), _vo_document())
    rc, out, err = run_pilot(["--explain"] + list(extra), workdir, env=pilot_env(env), timeout=60)
    assert rc == 0, out + err
    vo_line = [line for line in out.splitlines() if "VO used for its sections" in line]
    assert len(vo_line) == 1, out
    return vo_line[0], helpers.explain_table(out)


def test_proxy_vo_selects_the_pilot_json_section(run_pilot, workdir, creds):
    line, table = _explain(run_pilot, workdir, env={"X509_USER_PROXY": creds.voms_proxy})
    assert line.endswith("VO used for its sections: lhcb [proxy VOMS extension]"), line
    assert table["releaseVersions"][0] == "v11.0.1"
    assert "/lhcb/Pilot/Version" in table["releaseVersions"][1]


def test_dotted_proxy_vo_has_no_section(run_pilot, workdir, creds):
    line, table = _explain(run_pilot, workdir, env={"X509_USER_PROXY": creds.dotted_proxy})
    assert line.endswith("VO used for its sections: vo.example.org [proxy VOMS extension]"), line
    assert table["releaseVersions"][0] == "v8.0.1"  # /Production/Pilot/Version: no VO section


@pytest.mark.parametrize("extra,env,source", [
    (["--wnVO=gridpp"], {}, "command line"),
    ([], {"DIRAC_PILOT_VO": "gridpp"}, "environment"),
])
def test_explicit_vo_wins_over_the_proxy(run_pilot, workdir, creds, extra, env, source):
    env = dict(env)
    env["X509_USER_PROXY"] = creds.voms_proxy
    line, table = _explain(run_pilot, workdir, extra, env)
    assert line.endswith("VO used for its sections: gridpp [%s]" % source), line
    assert table["releaseVersions"][0] == "v9.0.3,v9.0.2"


def test_no_vo_anywhere(run_pilot, workdir, creds):
    line, _ = _explain(run_pilot, workdir, env={"X509_USER_PROXY": creds.plain_proxy})
    assert line.endswith("VO used for its sections: unknown [default]"), line


def test_proxy_file_mode_is_not_changed(creds):
    mode = stat.S_IMODE(os.stat(creds.voms_proxy).st_mode)
    credentials.load(creds.voms_proxy)
    assert stat.S_IMODE(os.stat(creds.voms_proxy).st_mode) == mode == 0o600
