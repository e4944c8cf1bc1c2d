"""Who is at the other end of a verified TLS connection: the end-entity DN behind a proxy chain.

A grid client usually presents an RFC 3820 proxy: a certificate signed by the
user's (or host's) certificate, whose subject is the signer's subject plus one
``CN``.  OpenSSL verified the whole chain (``VERIFY_ALLOW_PROXY_CERTS``); the
identity is the subject of the first certificate of the verified chain,
counting from the client's own, that is not a proxy (it has no ProxyCertInfo
extension).  DNs are written the grid way, most significant first:
``/DC=org/DC=example/OU=People/CN=Jane Doe``.

Python 3.13 gives the verified chain publicly; 3.10-3.12 through the ssl
object's ``get_verified_chain``.  On 3.9 only the leaf is visible: a proxy
then stands for its issuer, so a proxy of a proxy names the first proxy -- a
DN that matches no trusted DN, so it is refused, never wrongly accepted.
"""

from cryptography import x509
from cryptography.x509.oid import NameOID

PROXY_CERT_INFO = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.14")
SHORT_NAMES = {NameOID.EMAIL_ADDRESS: "emailAddress", NameOID.USER_ID: "UID"}


def slash_dn(name):
    parts = []
    for rdn in name.rdns:
        for attribute in rdn:
            key = SHORT_NAMES.get(attribute.oid) or attribute.rfc4514_attribute_name
            parts.append("/%s=%s" % (key, attribute.value))
    return "".join(parts)


def normalise_dn(text):
    """A configured DN, compared exactly after trimming spaces around it."""
    return text.strip()


def is_proxy(certificate):
    try:
        certificate.extensions.get_extension_for_oid(PROXY_CERT_INFO)
    except x509.ExtensionNotFound:
        return False
    return True


def _verified_chain(sslsocket):
    getter = getattr(sslsocket, "get_verified_chain", None)  # 3.13
    if getter is None:
        getter = getattr(getattr(sslsocket, "_sslobj", None), "get_verified_chain", None)  # 3.10-3.12
    if getter is None:
        return None
    chain = getter() or []
    der = []
    for item in chain:
        if isinstance(item, bytes):
            der.append(item)
        else:
            import _ssl

            der.append(item.public_bytes(_ssl.ENCODING_DER))
    return der


def peer_dn(sslsocket):
    """The end-entity DN of the verified client chain, or None when the client sent no certificate."""
    leaf = sslsocket.getpeercert(binary_form=True)
    if not leaf:
        return None
    chain = _verified_chain(sslsocket)
    if chain:
        for der in chain:
            certificate = x509.load_der_x509_certificate(der)
            if not is_proxy(certificate):
                return slash_dn(certificate.subject)
        return None
    certificate = x509.load_der_x509_certificate(leaf)
    return slash_dn(certificate.issuer if is_proxy(certificate) else certificate.subject)
