"""Signed pilot artifacts: keys, detached signatures, manifests and the trust store.

* Keys: RSA-3072 (``cryptography``), private key PEM (PKCS#8) readable by its
  owner only, public key PEM (SubjectPublicKeyInfo) beside it as ``<name>.pub.pem``.
* Key id: the first 16 hex of the SHA-256 of the public key's DER, the same id
  as the worker node's ``pilot.config.rsaverify`` computes.
* Signature: PKCS#1 v1.5 with SHA-256 over the exact artifact bytes, written
  raw (the format of ``openssl dgst -sha256 -sign``) to ``<artifact>.sig``.
  Nothing is appended to the artifact (Python 2.6-3.7 would not run the zip).
* Manifest ``<artifact>.manifest.json``: version, git commit, sha256, size, key
  id and per-member sha256.  Nothing hashes or signs it; it names the key and
  lets a refusal say *why* (truncated, tampered).  ``build_time`` is its only
  field that changes between two builds of the same sources.
* Trust store: several public keys (PEM files, or directories of ``*.pem``),
  each known by its id, so keys can be rotated: trust the new key, sign with
  it, drop the old one once no artifact signed by it is in use.
"""

import datetime
import hashlib
import io
import json
import os
import re
import zipfile

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

KEY_BITS = 3072
MIN_KEY_BITS = 2048
PUBLIC_EXPONENT = 65537
KEY_ID_HEX = 16
ALGORITHM = "RSA PKCS#1 v1.5 SHA-256"
MANIFEST_SCHEMA = "pilots2/manifest/1"
SIG_SUFFIX = ".sig"
MANIFEST_SUFFIX = ".manifest.json"
PUBLIC_SUFFIX = ".pub.pem"


class SigningError(Exception):
    """A key, signature or manifest problem; str() is one line meant for the user."""


class VerificationError(SigningError):
    """The artifact is refused; str() says why."""


# -- keys ---------------------------------------------------------------------------


def generate_key(bits=KEY_BITS):
    return rsa.generate_private_key(public_exponent=PUBLIC_EXPONENT, key_size=bits)


def key_id(public_key):
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()[:KEY_ID_HEX]


def public_pem(public_key):
    return public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def public_key_path(private_path):
    """signing.pem -> signing.pub.pem; anything else gets .pub.pem appended."""
    base = private_path[:-4] if private_path.endswith(".pem") else private_path
    return base + PUBLIC_SUFFIX


def _create_exclusive(path, data, mode):
    # O_EXCL: never overwrite a key; the mode is set at creation, before any byte is written.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        raise SigningError("%s exists: refusing to overwrite it" % path)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(path, mode)  # the umask may have narrowed it


def write_key_pair(private_path, key, passphrase=None):
    """Write the private key (0600) and its public key (0644); return the public path."""
    public_path = public_key_path(private_path)
    for path in (private_path, public_path):
        if os.path.lexists(path):
            raise SigningError("%s exists: refusing to overwrite it" % path)
    encryption = serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    _create_exclusive(private_path, pem, 0o600)
    _create_exclusive(public_path, public_pem(key.public_key()), 0o644)
    return public_path


def read_passphrase(path):
    if not path:
        return None
    with open(path, "rb") as handle:
        passphrase = handle.read().rstrip(b"\r\n")
    if not passphrase:
        raise SigningError("passphrase file %s is empty" % path)
    return passphrase


def load_private_key(path, passphrase=None):
    with open(path, "rb") as handle:
        data = handle.read()
    try:
        key = serialization.load_pem_private_key(data, password=passphrase)
    except TypeError:
        if passphrase:
            raise SigningError("%s is not encrypted: drop the passphrase" % path)
        raise SigningError("%s is encrypted: give its passphrase file" % path)
    except (ValueError, UnsupportedAlgorithm):
        raise SigningError("%s is not a PEM private key (or the passphrase is wrong)" % path)
    _check_rsa(key.public_key(), path)
    return key


def _check_rsa(public_key, origin):
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise SigningError("%s: not an RSA key" % origin)
    if public_key.key_size < MIN_KEY_BITS:
        raise SigningError(
            "%s: RSA key of %d bits is too small (at least %d)" % (origin, public_key.key_size, MIN_KEY_BITS)
        )


def load_public_key(path):
    with open(path, "rb") as handle:
        data = handle.read()
    if b"PRIVATE KEY" in data:
        raise SigningError("%s is a private key: trust its public key (%s)" % (path, PUBLIC_SUFFIX))
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm):
        raise SigningError("%s is not a PEM public key" % path)
    _check_rsa(key, path)
    return key


# -- signing ------------------------------------------------------------------------


def sign_bytes(data, private_key):
    return private_key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def signature_path(artifact):
    return artifact + SIG_SUFFIX


def manifest_path(artifact):
    return artifact + MANIFEST_SUFFIX


def zip_members(data):
    """[{name, size, sha256}] of a zip's members, sorted by name; None if data is not a zip."""
    members = []
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for info in archive.infolist():
                content = archive.read(info.filename)
                members.append(
                    {"name": info.filename, "size": len(content), "sha256": hashlib.sha256(content).hexdigest()}
                )
    except zipfile.BadZipFile:
        return None
    return sorted(members, key=lambda member: member["name"])


def pilot_version(data):
    """__version__ of the pilot package inside a pyz, or None."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            text = archive.read("pilot/__init__.py").decode("utf-8", "replace")
    except (KeyError, zipfile.BadZipFile):
        return None
    match = re.search(r"""^__version__\s*=\s*['"]([^'"]+)['"]""", text, re.M)
    return match.group(1) if match else None


def make_manifest(
    data, private_key, name="pilot.pyz", version=None, git_commit=None, git_dirty=None, members=None, build_time=None
):
    public_key = private_key.public_key()
    if members is None:
        members = zip_members(data)
    return {
        "schema": MANIFEST_SCHEMA,
        "artifact": name,
        "version": version if version is not None else pilot_version(data),
        "git_commit": git_commit,
        "git_dirty": git_dirty,
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
        "key_id": key_id(public_key),
        "signature": {"file": name + SIG_SUFFIX, "algorithm": ALGORITHM, "key_bits": public_key.key_size},
        "members": None
        if members is None
        else [{"name": m["name"], "size": m["size"], "sha256": m["sha256"]} for m in members],
        "build_time": build_time or datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def _write_replacing(path, data):
    tmp = "%s.tmp-%d" % (path, os.getpid())
    with open(tmp, "wb") as handle:
        handle.write(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def sign_artifact(artifact, private_key, **manifest_fields):
    """Write <artifact>.sig and <artifact>.manifest.json; return the manifest.

    The artifact itself is only read: its bytes are the same signed or not.
    """
    with open(artifact, "rb") as handle:
        data = handle.read()
    manifest_fields.setdefault("name", os.path.basename(artifact))
    manifest = make_manifest(data, private_key, **manifest_fields)
    signature = sign_bytes(data, private_key)
    _write_replacing(signature_path(artifact), signature)
    _write_replacing(manifest_path(artifact), (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode("utf-8"))
    return manifest


# -- verification ---------------------------------------------------------------------


class TrustStore(object):
    """Public keys by id, from PEM files and directories of *.pem."""

    def __init__(self):
        self.keys = {}
        self.origins = {}

    @classmethod
    def load(cls, paths):
        store = cls()
        for path in paths:
            if os.path.isdir(path):
                names = sorted(n for n in os.listdir(path) if n.endswith(".pem"))
                if not names:
                    raise SigningError("trust store %s holds no *.pem public key" % path)
                for name in names:
                    store.add_file(os.path.join(path, name))
            elif os.path.isfile(path):
                store.add_file(path)
            else:
                raise SigningError("trust store %s: no such file or directory" % path)
        if not store.keys:
            raise SigningError("the trust store is empty: give --trust with public keys")
        return store

    def add_file(self, path):
        self.add(load_public_key(path), path)

    def add(self, public_key, origin="(given)"):
        kid = key_id(public_key)
        self.keys[kid] = public_key
        self.origins.setdefault(kid, origin)
        return kid

    def ids(self):
        return sorted(self.keys)

    def verify(self, data, signature, expected_key_id=None):
        """Return the id of the trusted key that signed data; else VerificationError."""
        if expected_key_id is not None:
            if expected_key_id not in self.keys:
                raise VerificationError(
                    "signed with key %s, which is not in the trust store (trusted: %s)"
                    % (expected_key_id, ", ".join(self.ids()))
                )
            candidates = [expected_key_id]
        else:
            candidates = self.ids()
        sizes = sorted(set((self.keys[kid].key_size + 7) // 8 for kid in candidates))
        if len(signature) not in sizes:
            raise VerificationError(
                "signature is %d bytes, %s makes %s-byte signatures: truncated or not a "
                "signature"
                % (
                    len(signature),
                    "key %s" % candidates[0] if len(candidates) == 1 else "the trusted keys",
                    "/".join(map(str, sizes)),
                )
            )
        digest = hashlib.sha256(data).digest()
        for kid in candidates:
            public_key = self.keys[kid]
            if len(signature) != (public_key.key_size + 7) // 8:
                continue
            try:
                signed = public_key.recover_data_from_signature(signature, padding.PKCS1v15(), hashes.SHA256())
            except (InvalidSignature, ValueError):
                continue
            if signed != digest:
                raise VerificationError(
                    "content does not match the signature of key %s "
                    "(sha256 %s, signed %s): tampered or truncated" % (kid, digest.hex(), signed.hex())
                )
            try:  # the library's own check, on top of the digest comparison above
                public_key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
            except InvalidSignature:
                raise VerificationError("signature of key %s does not verify" % kid)
            return kid
        if expected_key_id is not None:
            raise VerificationError(
                "signature was not made with key %s (wrong key or corrupted signature)" % expected_key_id
            )
        raise VerificationError(
            "signature was not made with any trusted key (%s): wrong key or corrupted signature" % ", ".join(self.ids())
        )


class VerifiedArtifact(object):
    def __init__(self, path, data, key_id, manifest, signature):
        self.path = path
        self.data = data
        self.key_id = key_id
        self.manifest = manifest
        self.signature = signature
        self.sha256 = hashlib.sha256(data).hexdigest()
        self.size = len(data)


def _read_file(path, what):
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise VerificationError("cannot read the %s %s: %s" % (what, path, exc.strerror or exc))


def read_manifest(path):
    try:
        manifest = json.loads(_read_file(path, "manifest").decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise VerificationError("manifest %s is not JSON" % path)
    if not isinstance(manifest, dict) or manifest.get("schema") != MANIFEST_SCHEMA:
        raise VerificationError("manifest %s is not a %s manifest" % (path, MANIFEST_SCHEMA))
    return manifest


def verify_artifact(artifact, trust, signature=None, manifest=None, require_manifest=False):
    """Verify an artifact against a TrustStore; return a VerifiedArtifact or raise VerificationError.

    ``signature``/``manifest`` default to the files beside the artifact.  A
    missing signature is a refusal (unsigned); a missing manifest is allowed
    unless ``require_manifest`` (then every trusted key is tried).
    """
    data = _read_file(artifact, "artifact")
    sig_file = signature or signature_path(artifact)
    if not os.path.exists(sig_file):
        raise VerificationError("%s is not signed: no signature %s" % (artifact, sig_file))
    sig = _read_file(sig_file, "signature")
    manifest_file = manifest or manifest_path(artifact)
    info = None
    if os.path.exists(manifest_file):
        info = read_manifest(manifest_file)
    elif require_manifest or manifest:
        raise VerificationError("no manifest %s" % manifest_file)
    expected_key = info.get("key_id") if info else None
    if info:
        if expected_key is not None and expected_key not in trust.keys:
            raise VerificationError(
                "signed with key %s, which is not in the trust store (trusted: %s)"
                % (expected_key, ", ".join(trust.ids()))
            )
        size = info.get("size")
        if isinstance(size, int) and len(data) != size:
            how = "truncated" if len(data) < size else "has extra bytes"
            raise VerificationError("%s %s: %d bytes, the manifest says %d" % (artifact, how, len(data), size))
        digest = hashlib.sha256(data).hexdigest()
        if info.get("sha256") and digest != info["sha256"]:
            raise VerificationError(
                "%s was tampered with: sha256 %s, the manifest says %s" % (artifact, digest, info["sha256"])
            )
    kid = trust.verify(data, sig, expected_key)
    return VerifiedArtifact(artifact, data, kid, info, sig)
