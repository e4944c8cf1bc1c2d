"""Throwaway certificates made with the openssl command (Python 2.6 syntax: the node tests use it too).

    self_signed(folder, ...)  hostcert.pem + hostkey.pem, self-signed
    TestCerts(folder)         a CA, a server certificate for 127.0.0.1 and localhost, a grid-style
                              CA directory, a client certificate of the same CA on demand

The server side has a richer one (tests/server/logbook_support.PKI: user certificates, proxies),
made with the cryptography package, which the node tests cannot use.
"""

import os
import shutil
import subprocess


def openssl(args, cwd=None):
    """Run ``openssl args``; its stdout as text.  AssertionError with its stderr when it fails."""
    devnull = open(os.devnull, "rb")
    try:
        proc = subprocess.Popen(
            ["openssl"] + list(args),
            cwd=cwd,
            stdin=devnull,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            close_fds=True,
        )
        out, err = proc.communicate()
    finally:
        devnull.close()
    if proc.returncode != 0:
        raise AssertionError("openssl %s failed: %s" % (" ".join(args), err.decode("utf-8", "replace")))
    return out.decode("utf-8", "replace")


def self_signed(folder, common_name="localhost", days=2, subject=None, san=None, newkey=("rsa:2048",)):
    """Write hostcert.pem and hostkey.pem into folder; return both paths.

    subject: default /CN=<common_name>; san: the subjectAltName, default DNS:<common_name>, "" for
    none (OpenSSL before 1.1.1 has no -addext); newkey: the -newkey argument and its options."""
    cert, key = os.path.join(folder, "hostcert.pem"), os.path.join(folder, "hostkey.pem")
    if san is None:
        san = "DNS:%s" % common_name
    args = (
        ["req", "-x509", "-newkey"]
        + list(newkey)
        + ["-nodes", "-days", str(days), "-subj", subject or "/CN=%s" % common_name]
    )
    if san:
        args += ["-addext", "subjectAltName=%s" % san]
    openssl(args + ["-keyout", key, "-out", cert], folder)
    return cert, key


_OPENSSL_CONFIG = """
[req]
distinguished_name = dn
prompt = no
[dn]
CN = Pilots2 Test CA
[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[v3_plain_ca]
# what `openssl req -x509` makes with OpenSSL's default configuration: no keyUsage
basicConstraints = critical, CA:TRUE
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
"""


class TestCerts(object):
    """A throwaway CA and a server certificate for 127.0.0.1, made with the openssl CLI.

    ``ca_extensions="v3_plain_ca"``: a CA without keyUsage, as many site CAs are."""

    def __init__(self, folder, ca_extensions="v3_ca"):
        self.folder = folder
        self.config = os.path.join(folder, "openssl.cnf")
        handle = open(self.config, "w")
        try:
            handle.write(_OPENSSL_CONFIG)
        finally:
            handle.close()
        self.ca_key = os.path.join(folder, "ca.key")
        self.ca_cert = os.path.join(folder, "ca.pem")
        self.server_key = os.path.join(folder, "server.key")
        self.server_csr = os.path.join(folder, "server.csr")
        self.server_cert = os.path.join(folder, "server.pem")
        self.ca_dir = os.path.join(folder, "certificates")
        self._openssl("genrsa", "-out", self.ca_key, "2048")
        self._openssl(
            "req",
            "-x509",
            "-new",
            "-key",
            self.ca_key,
            "-out",
            self.ca_cert,
            "-days",
            "30",
            "-sha256",
            "-config",
            self.config,
            "-extensions",
            ca_extensions,
        )
        self._openssl("genrsa", "-out", self.server_key, "2048")
        self._openssl(
            "req",
            "-new",
            "-key",
            self.server_key,
            "-out",
            self.server_csr,
            "-subj",
            "/CN=127.0.0.1",
            "-config",
            self.config,
        )
        self._openssl(
            "x509",
            "-req",
            "-in",
            self.server_csr,
            "-CA",
            self.ca_cert,
            "-CAkey",
            self.ca_key,
            "-CAcreateserial",
            "-out",
            self.server_cert,
            "-days",
            "30",
            "-sha256",
            "-extfile",
            self.config,
            "-extensions",
            "server",
        )
        # A grid-style CA directory: <subject hash>.0
        os.makedirs(self.ca_dir)
        digest = self._openssl("x509", "-hash", "-noout", "-in", self.ca_cert).strip()
        shutil.copy(self.ca_cert, os.path.join(self.ca_dir, digest + ".0"))

    def host_certificate(self):
        """A client certificate of the same CA, as hostcert.pem/hostkey.pem in a folder (--cert)."""
        folder = os.path.join(self.folder, "hostcert")
        if not os.path.isdir(folder):
            os.makedirs(folder)
            key, csr = os.path.join(folder, "hostkey.pem"), os.path.join(folder, "host.csr")
            self._openssl("genrsa", "-out", key, "2048")
            self._openssl(
                "req",
                "-new",
                "-key",
                key,
                "-out",
                csr,
                "-subj",
                "/DC=org/DC=test/CN=pilot.test.local",
                "-config",
                self.config,
            )
            self._openssl(
                "x509",
                "-req",
                "-in",
                csr,
                "-CA",
                self.ca_cert,
                "-CAkey",
                self.ca_key,
                "-CAcreateserial",
                "-out",
                os.path.join(folder, "hostcert.pem"),
                "-days",
                "30",
                "-sha256",
                "-extfile",
                self.config,
                "-extensions",
                "client",
            )
            os.chmod(key, 0o600)
        return folder

    def _openssl(self, *args):
        return openssl(args, self.folder)
