"""The worker-node RSA verifier (pilot/config/rsaverify.py) under every interpreter.

Fixtures in data/ were made with openssl 3 (``genpkey -algorithm RSA``, 3072 bits,
``dgst -sha256 -sign``): two keys (a, b), a 3000-byte file signed by each, the
key ids computed by openssl (sha256 of the SubjectPublicKeyInfo DER, 16 hex).
Python 2.6-compatible syntax: no set/dict comprehensions, no '{}'.format, no
with on archives.
"""

import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "pilot_src"))

from pilot.config import rsaverify  # noqa: E402
from pilot.config.rsaverify import SignatureError  # noqa: E402

DATA = os.path.join(HERE, "data")
MODULE = os.path.join(REPO, "pilot_src", "pilot", "config", "rsaverify.py")


def data_path(name):
    return os.path.join(DATA, name)


def read(name):
    handle = open(data_path(name), "rb")
    try:
        return handle.read()
    finally:
        handle.close()


def key(name):
    return rsaverify.load_pem_file(data_path("key-%s.pub.pem" % name))


def refusal(data, sig, pubkey):
    try:
        rsaverify.verify(data, sig, pubkey)
    except SignatureError:
        return str(sys.exc_info()[1])
    return None


def test_good_signature_is_accepted():
    assert refusal(read("signed.bin"), read("signed.bin.sig-a"), key("a")) is None
    assert refusal(read("signed.bin"), read("signed.bin.sig-b"), key("b")) is None


def test_key_id_and_size_match_openssl():
    for name in ("a", "b"):
        pubkey = key(name)
        assert pubkey.key_id() == read("key-%s.id" % name).decode("ascii").strip()
        assert pubkey.bits == 3072
        assert pubkey.size == 384
        assert pubkey.e == 65537


def test_pkcs1_pem_gives_the_same_key():
    spki = key("b")
    pkcs1 = rsaverify.load_pem_file(data_path("key-b.rsa.pem"))
    assert (pkcs1.n, pkcs1.e) == (spki.n, spki.e)
    assert pkcs1.key_id() == spki.key_id()


def test_reencoded_der_is_the_original():
    text = read("key-a.pub.pem").decode("ascii")
    assert key("a").pem().strip() == text.strip()


def test_tampered_byte_is_rejected_as_content_mismatch():
    data = bytearray(read("signed.bin"))
    data[1234] ^= 0x01
    reason = refusal(bytes(data), read("signed.bin.sig-a"), key("a"))
    assert "content does not match" in reason
    assert "tampered or truncated" in reason


def test_truncated_file_is_rejected():
    reason = refusal(read("signed.bin")[:-1], read("signed.bin.sig-a"), key("a"))
    assert "content does not match" in reason


def test_wrong_key_is_rejected_as_such():
    reason = refusal(read("signed.bin"), read("signed.bin.sig-b"), key("a"))
    assert "not made with key %s" % key("a").key_id() in reason
    assert "wrong key" in reason


def test_truncated_signature_is_rejected():
    reason = refusal(read("signed.bin"), read("signed.bin.sig-a")[:-10], key("a"))
    assert "signature is 374 bytes" in reason
    assert "384-byte" in reason


def test_garbage_signature_is_rejected():
    assert "not made with key" in refusal(read("signed.bin"), b"\x17" * 384, key("a"))
    assert "not made with key" in refusal(read("signed.bin"), b"\xff" * 384, key("a"))
    assert "signature is 0 bytes" in refusal(read("signed.bin"), b"", key("a"))


def test_bad_pem_inputs_give_reasons():
    cases = [
        (b"hello", "no PEM public key block"),
        (b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "private key"),
        (b"-----BEGIN PUBLIC KEY-----\nMAA=\n-----END PUBLIC KEY-----\n", "public key"),
        (b"-----BEGIN PUBLIC KEY-----\n%%%\n-----END PUBLIC KEY-----\n", "public key"),
    ]
    for text, expected in cases:
        try:
            rsaverify.load_pem(text)
        except SignatureError:
            assert expected in str(sys.exc_info()[1])
        else:
            raise AssertionError("accepted %r" % text)


def test_small_keys_are_refused():
    try:
        rsaverify.PublicKey((1 << 1023) + 1, 65537)
    except SignatureError:
        assert "too small" in str(sys.exc_info()[1])
    else:
        raise AssertionError("a 1024-bit key was accepted")


def test_bit_count():
    assert rsaverify.bit_count(1) == 1
    assert rsaverify.bit_count(255) == 8
    assert rsaverify.bit_count(256) == 9
    assert rsaverify.bit_count(1 << 3071) == 3072


def run_cli(args):
    proc = subprocess.Popen([sys.executable, MODULE] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.communicate()
    return proc.returncode, (out + err).decode("utf-8", "replace")


def has_openssl():
    return rsaverify.openssl_verify(data_path("signed.bin"), data_path("signed.bin.sig-a"),
                                    data_path("key-a.pub.pem")) is not None


def test_cli_accepts_and_names_its_checks():
    code, text = run_cli(["--key", data_path("key-a.pub.pem"), "--signature", data_path("signed.bin.sig-a"),
                          "--openssl", "no", data_path("signed.bin")])
    assert code == 0, text
    assert "OK" in text and "python" in text


def test_cli_rejects_with_exit_1_and_a_reason(tmpdir):
    tampered = tmpdir.join("signed.bin")
    data = bytearray(read("signed.bin"))
    data[0] ^= 0x80
    handle = open(str(tampered), "wb")
    try:
        handle.write(bytes(data))
    finally:
        handle.close()
    code, text = run_cli(["--key", data_path("key-a.pub.pem"), "--signature", data_path("signed.bin.sig-a"),
                          str(tampered)])
    assert code == 1
    assert "REJECTED" in text and "content does not match" in text
    code, text = run_cli(["--key", data_path("key-a.pub.pem"), "--signature", str(tmpdir.join("missing.sig")),
                          data_path("signed.bin")])
    assert code == 1 and "cannot read" in text
    assert "Traceback" not in text


def test_cli_usage_is_exit_2():
    assert run_cli([])[0] == 2
    assert run_cli(["--bogus", "x"])[0] == 2
    assert run_cli(["--key", "k", "--signature", "s", "--openssl", "maybe", "f"])[0] == 2


def test_openssl_agrees_where_present():
    if not has_openssl():
        pytest.skip("no usable openssl command on this node")
    good = rsaverify.openssl_verify(data_path("signed.bin"), data_path("signed.bin.sig-a"),
                                    data_path("key-a.pub.pem"))
    wrong = rsaverify.openssl_verify(data_path("signed.bin"), data_path("signed.bin.sig-b"),
                                     data_path("key-a.pub.pem"))
    assert good is True and wrong is False
    code, text = run_cli(["--key", data_path("key-b.pub.pem"), "--signature", data_path("signed.bin.sig-b"),
                          data_path("signed.bin")])
    assert code == 0 and "python and openssl" in text
    code, text = run_cli(["--key", data_path("key-b.pub.pem"), "--signature", data_path("signed.bin.sig-b"),
                          "--openssl", "only", data_path("signed.bin")])
    assert code == 0 and "checked by openssl" in text


def test_openssl_absent_is_no_verdict(tmpdir):
    assert rsaverify.openssl_verify(data_path("signed.bin"), data_path("signed.bin.sig-a"),
                                    data_path("key-a.pub.pem"), openssl=str(tmpdir.join("no-openssl"))) is None
