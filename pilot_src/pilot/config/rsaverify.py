"""RSA signature check (PKCS#1 v1.5, SHA-256) with the standard library only.

Runs on Python 2.6 ... 3.13.  Used by the pilot for downloads, and its source
is embedded as is by the fetch wrapper (``pilotctl wrapper --variant fetch``),
so this module must stay self-contained: standard library imports only.

Public keys are PEM files: ``-----BEGIN PUBLIC KEY-----`` (SubjectPublicKeyInfo,
what ``openssl`` and ``cryptography`` write) or ``-----BEGIN RSA PUBLIC KEY-----``
(PKCS#1), read with the small DER reader below.  A key id is the first 16 hex
of the SHA-256 of the SubjectPublicKeyInfo DER (the same id as pilot_server.signing).

Command line (exit 0 accepted, 1 rejected with one line saying why, 2 usage)::

    python rsaverify.py --key KEY.pem --signature FILE.sig [--openssl auto|no|only] FILE

With ``--openssl auto`` (the default) ``openssl dgst -sha256 -verify`` also
checks the file where an ``openssl`` command works (EL6 has 1.0.1e); both must
accept.  ``only`` uses openssl alone, ``no`` the Python check alone.
"""

import base64
import binascii
import hashlib
import os
import subprocess
import sys

# DER of DigestInfo's AlgorithmIdentifier for SHA-256, followed by the OCTET STRING header.
SHA256_DIGEST_INFO = binascii.unhexlify("3031300d060960864801650304020105000420".encode("ascii"))
RSA_ENCRYPTION_OID = binascii.unhexlify("2a864886f70d010101".encode("ascii"))
MIN_KEY_BITS = 2048
KEY_ID_HEX = 16


class SignatureError(Exception):
    """The signature (or key) is refused; str() is a one-line reason."""


class PublicKey(object):
    def __init__(self, n, e):
        if n <= 0 or e <= 1 or n % 2 == 0:
            raise SignatureError("not an RSA public key (bad modulus or exponent)")
        self.n = n
        self.e = e
        self.bits = bit_count(n)
        self.size = (self.bits + 7) // 8
        if self.bits < MIN_KEY_BITS:
            raise SignatureError("RSA key of %d bits is too small (at least %d)" % (self.bits, MIN_KEY_BITS))

    def der(self):
        return spki_der(self.n, self.e)

    def key_id(self):
        return hashlib.sha256(self.der()).hexdigest()[:KEY_ID_HEX]

    def pem(self):
        body = base64.b64encode(self.der()).decode("ascii")
        lines = [body[i:i + 64] for i in range(0, len(body), 64)]
        return "-----BEGIN PUBLIC KEY-----\n%s\n-----END PUBLIC KEY-----\n" % "\n".join(lines)


def bit_count(n):
    # int.bit_length is 2.7+; bin() is 2.6+.
    return len(bin(n)) - 2


def int_from_bytes(data):
    if not data:
        return 0
    return int(binascii.hexlify(data), 16)


def int_to_bytes(value, length):
    text = "%x" % value
    if len(text) > 2 * length:
        raise ValueError("integer too large")
    return binascii.unhexlify(("0" * (2 * length - len(text)) + text).encode("ascii"))


# -- DER ----------------------------------------------------------------------------


class DERError(ValueError):
    """Malformed DER (credentials.py reads certificates with der_item too)."""


def der_item(data, pos):
    """(tag, start of value, end of value) of the DER item at data[pos] (a bytearray)."""
    if pos + 2 > len(data):
        raise DERError("truncated DER")
    tag = data[pos]
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or pos + count > len(data):
            raise DERError("bad DER length")
        length = 0
        for byte in data[pos:pos + count]:
            length = (length << 8) | byte
        pos += count
    if pos + length > len(data):
        raise DERError("truncated DER")
    return tag, pos, pos + length


def _der_item(data, pos):
    try:
        return der_item(data, pos)
    except DERError as exc:
        raise SignatureError("public key: %s" % exc)


def _der_expect(data, pos, tag, what):
    found, start, end = _der_item(data, pos)
    if found != tag:
        raise SignatureError("public key: expected %s (DER tag 0x%02x), found tag 0x%02x" % (what, tag, found))
    return start, end


def _der_integer(data, pos):
    start, end = _der_expect(data, pos, 0x02, "an INTEGER")
    value = bytes(data[start:end])
    if not value or bytearray(value)[0] & 0x80:
        raise SignatureError("public key: negative or empty INTEGER")
    return int_from_bytes(value), end


def parse_rsa_public_key(der):
    """PKCS#1 RSAPublicKey DER -> PublicKey."""
    data = bytearray(der)
    start, end = _der_expect(data, 0, 0x30, "a SEQUENCE")
    n, pos = _der_integer(data, start)
    e, pos = _der_integer(data, pos)
    if pos != end or end != len(data):
        raise SignatureError("public key: trailing bytes after the RSA key")
    return PublicKey(n, e)


def parse_spki(der):
    """SubjectPublicKeyInfo DER -> PublicKey (RSA only)."""
    data = bytearray(der)
    start, end = _der_expect(data, 0, 0x30, "a SEQUENCE")
    if end != len(data):
        raise SignatureError("public key: trailing bytes after the key")
    alg_start, alg_end = _der_expect(data, start, 0x30, "an AlgorithmIdentifier")
    oid_start, oid_end = _der_expect(data, alg_start, 0x06, "an OID")
    if bytes(data[oid_start:oid_end]) != RSA_ENCRYPTION_OID:
        raise SignatureError("public key: not an RSA key")
    bits_start, bits_end = _der_expect(data, alg_end, 0x03, "a BIT STRING")
    if bits_end != end or bits_start >= bits_end or data[bits_start] != 0:
        raise SignatureError("public key: bad BIT STRING")
    return parse_rsa_public_key(bytes(data[bits_start + 1:bits_end]))


def _der_header(tag, length):
    if length < 0x80:
        return bytearray([tag, length])
    size = []
    while length:
        size.insert(0, length & 0xFF)
        length >>= 8
    return bytearray([tag, 0x80 | len(size)] + size)


def _der(tag, body):
    return bytes(_der_header(tag, len(body))) + body


def _der_int(value):
    length = (bit_count(value) + 8) // 8  # one spare bit keeps the sign bit clear
    return _der(0x02, int_to_bytes(value, length))


def spki_der(n, e):
    """The canonical SubjectPublicKeyInfo DER of an RSA key (DER is unique: ids match)."""
    rsa_key = _der(0x30, _der_int(n) + _der_int(e))
    algorithm = _der(0x30, _der(0x06, RSA_ENCRYPTION_OID) + b"\x05\x00")
    return _der(0x30, algorithm + _der(0x03, b"\x00" + rsa_key))


def load_pem(text):
    """PEM text (str or bytes) of a public key -> PublicKey."""
    if not isinstance(text, str):
        text = text.decode("ascii", "replace")
    kinds = (("PUBLIC KEY", parse_spki), ("RSA PUBLIC KEY", parse_rsa_public_key))
    for label, parse in kinds:
        begin = "-----BEGIN %s-----" % label
        end = "-----END %s-----" % label
        if begin in text and end in text:
            body = text.split(begin, 1)[1].split(end, 1)[0]
            try:
                der = base64.b64decode("".join(body.split()).encode("ascii"))
            except (TypeError, ValueError, binascii.Error):
                raise SignatureError("public key: bad base64 in the PEM block")
            return parse(der)
    if "PRIVATE KEY" in text:
        raise SignatureError("this is a private key: give the public key (.pub.pem)")
    raise SignatureError("no PEM public key block found")


def load_pem_file(path):
    handle = open(path, "rb")
    try:
        return load_pem(handle.read())
    finally:
        handle.close()


# -- verification ------------------------------------------------------------------


def recover_digest(signature, key):
    """The SHA-256 digest a signature carries, if it was made with key; else SignatureError."""
    if len(signature) != key.size:
        raise SignatureError("signature is %d bytes, key %s (RSA-%d) makes %d-byte signatures: "
                             "truncated or not a signature" % (len(signature), key.key_id(), key.bits, key.size))
    value = int_from_bytes(signature)
    if value >= key.n:
        raise SignatureError("signature was not made with key %s (wrong key or corrupted signature)"
                             % key.key_id())
    block = int_to_bytes(pow(value, key.e, key.n), key.size)
    prefix_len = key.size - len(SHA256_DIGEST_INFO) - 32
    expected_prefix = b"\x00\x01" + b"\xff" * (prefix_len - 3) + b"\x00" + SHA256_DIGEST_INFO
    if block[:prefix_len + len(SHA256_DIGEST_INFO)] != expected_prefix:
        raise SignatureError("signature was not made with key %s (wrong key or corrupted signature)"
                             % key.key_id())
    return block[-32:]


def verify(data, signature, key):
    """Accept (return None) or raise SignatureError with the reason."""
    signed = recover_digest(signature, key)
    actual = hashlib.sha256(data).digest()
    if signed != actual:
        raise SignatureError("content does not match the signature of key %s (sha256 %s, signed %s): "
                             "tampered or truncated" % (key.key_id(), _hex(actual), _hex(signed)))


def _hex(data):
    return binascii.hexlify(data).decode("ascii")


def _which(name):
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        candidate = os.path.join(folder, name)
        if folder and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def openssl_verify(path, signature_path, key_path, openssl=None):
    """True/False from ``openssl dgst -sha256 -verify``; None when openssl cannot be used."""
    openssl = openssl or _which("openssl")
    if not openssl:
        return None
    try:
        proc = subprocess.Popen([openssl, "dgst", "-sha256", "-verify", key_path,
                                 "-signature", signature_path, path],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = proc.communicate()
    except OSError:
        return None
    text = (out + err).decode("ascii", "replace")
    if proc.returncode == 0 and "Verified OK" in text:
        return True
    if "Verification Failure" in text or "verification failure" in text.lower():
        return False
    return None  # openssl could not read the key or the file: not a verdict


# -- command line --------------------------------------------------------------------


def _read(path):
    handle = open(path, "rb")
    try:
        return handle.read()
    finally:
        handle.close()


def check_file(path, signature_path, key_path, use_openssl="auto"):
    """Return a list of the checks that accepted; raise SignatureError on a refusal."""
    accepted = []
    key = load_pem_file(key_path)
    if use_openssl != "only":
        verify(_read(path), _read(signature_path), key)
        accepted.append("python")
    if use_openssl in ("auto", "only"):
        verdict = openssl_verify(path, signature_path, key_path)
        if verdict is False:
            raise SignatureError("openssl dgst -verify refused the signature of key %s" % key.key_id())
        if verdict:
            accepted.append("openssl")
        elif use_openssl == "only":
            raise SignatureError("no usable openssl command")
    return accepted


USAGE = "usage: rsaverify.py --key KEY.pem --signature FILE.sig [--openssl auto|no|only] FILE"


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    opts = {"--key": None, "--signature": None, "--openssl": "auto"}
    files = []
    while argv:
        arg = argv.pop(0)
        if arg in opts and argv:
            opts[arg] = argv.pop(0)
        elif arg.startswith("-"):
            sys.stderr.write("rsaverify: error: bad option %s\n%s\n" % (arg, USAGE))
            return 2
        else:
            files.append(arg)
    if len(files) != 1 or not opts["--key"] or not opts["--signature"] or \
            opts["--openssl"] not in ("auto", "no", "only"):
        sys.stderr.write(USAGE + "\n")
        return 2
    try:
        accepted = check_file(files[0], opts["--signature"], opts["--key"], opts["--openssl"])
    except SignatureError:
        sys.stderr.write("rsaverify: REJECTED %s: %s\n" % (files[0], sys.exc_info()[1]))
        return 1
    except (IOError, OSError):
        exc = sys.exc_info()[1]
        sys.stderr.write("rsaverify: REJECTED %s: cannot read %s: %s\n"
                         % (files[0], getattr(exc, "filename", "") or "a file", exc.strerror or exc))
        return 1
    sys.stdout.write("rsaverify: OK %s (checked by %s)\n" % (files[0], " and ".join(accepted)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
