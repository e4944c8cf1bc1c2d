"""The logbook's TLS: its certificate and key, and the CAs that client certificates chain to.

Client certificates are optional (``CERT_OPTIONAL``): pilots with a token send
none.  A client that does send one must present a chain that verifies against
the CA directory -- otherwise the TLS handshake itself fails, before any HTTP.
RFC 3820 proxies are accepted (``VERIFY_ALLOW_PROXY_CERTS``).  A grid CA
directory holds OpenSSL hash links (``<hash>.0``); a directory without them
has each ``*.pem``/``*.crt`` loaded instead.  CRLs are not checked.
"""

import os
import re
import ssl

ALLOW_PROXY = getattr(ssl, "VERIFY_ALLOW_PROXY_CERTS", 0x40)  # X509_V_FLAG_ALLOW_PROXY_CERTS (3.9)
HASH_LINK = re.compile(r"^[0-9a-f]{8}\.\d+$")


class TLSConfigError(Exception):
    """A certificate, key or CA directory that cannot be used; str() is one line."""


def load_cas(context, ca_dir=None, ca_file=None):
    try:
        if ca_file:
            context.load_verify_locations(cafile=ca_file)
        if ca_dir:
            names = os.listdir(ca_dir)
            if any(HASH_LINK.match(name) for name in names):
                context.load_verify_locations(capath=ca_dir)
            else:
                loaded = 0
                for name in sorted(names):
                    if name.endswith((".pem", ".crt")):
                        context.load_verify_locations(cafile=os.path.join(ca_dir, name))
                        loaded += 1
                if not loaded:
                    raise TLSConfigError("%s holds no CA certificate (no hash links, no *.pem/*.crt)" % ca_dir)
    except (OSError, ssl.SSLError) as exc:
        raise TLSConfigError("CA certificates: %s" % " ".join(str(exc).split()))


def server_context(cert_file, key_file, ca_dir=None, ca_file=None):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert_file, key_file)
    except (OSError, ssl.SSLError) as exc:
        raise TLSConfigError("service certificate %s / key %s: %s" % (cert_file, key_file, " ".join(str(exc).split())))
    if ca_dir or ca_file:
        load_cas(context, ca_dir, ca_file)
        context.verify_mode = ssl.CERT_OPTIONAL
        context.verify_flags |= ALLOW_PROXY
    return context
