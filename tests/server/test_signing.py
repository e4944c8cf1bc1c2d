"""Signing: keys, detached signatures, manifests, trust store, pilotctl keygen/sign/verify, build --sign-key."""

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys

import pytest

from pilot_server import cli, signing

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "pilot_src"))

from pilot_server.worker.config import rsaverify  # noqa: E402


def sha256(path):
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def copy_artifact(src, dst_dir):
    for suffix in ("", ".sig", ".manifest.json"):
        shutil.copy(src + suffix, os.path.join(str(dst_dir), "pilot.pyz" + suffix))
    return os.path.join(str(dst_dir), "pilot.pyz")


def verify_cli(capsys, artifact, *trust, extra=()):
    args = ["verify", artifact] + list(extra)
    for path in trust:
        args += ["--trust", path]
    code = cli.main(args)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_keygen_writes_0600_key_and_refuses_to_overwrite(tmp_path, capsys):
    key = str(tmp_path / "signing.pem")
    assert cli.main(["keygen", key]) == 0
    out = capsys.readouterr().out
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    pub = str(tmp_path / "signing.pub.pem")
    assert "public key: %s" % pub in out
    kid = signing.key_id(signing.load_public_key(pub))
    assert "key id: %s" % kid in out
    # the node verifier computes the same id from the PEM
    assert rsaverify.load_pem_file(pub).key_id() == kid
    assert signing.load_private_key(key).key_size == 3072
    before = open(key, "rb").read()
    assert cli.main(["keygen", key]) == 1
    assert "refusing to overwrite" in capsys.readouterr().err
    assert open(key, "rb").read() == before


def test_encrypted_key_needs_its_passphrase(tmp_path, capsys):
    passphrase = tmp_path / "pass"
    passphrase.write_text("correct horse\n")
    key = str(tmp_path / "enc.pem")
    assert cli.main(["keygen", key, "--passphrase-file", str(passphrase)]) == 0
    artifact = tmp_path / "x.pyz"
    artifact.write_bytes(b"not even a zip")
    capsys.readouterr()
    assert cli.main(["sign", str(artifact), "--key", key]) == 1
    assert "is encrypted" in capsys.readouterr().err
    assert cli.main(["sign", str(artifact), "--key", key, "--passphrase-file", str(passphrase)]) == 0


def test_signed_artifact_verifies_with_cli_library_node_and_openssl(signed_pyz, keys, capsys):
    code, text = verify_cli(capsys, signed_pyz, keys.public["a"])
    assert code == 0, text
    assert "signed by key %s" % keys.ids["a"] in text
    manifest = json.load(open(signed_pyz + ".manifest.json"))
    assert manifest["sha256"] == sha256(signed_pyz)
    assert manifest["size"] == os.path.getsize(signed_pyz)
    assert manifest["key_id"] == keys.ids["a"]
    assert manifest["version"]
    assert any(m["name"] == "__main__.py" for m in manifest["members"])
    node_key = rsaverify.load_pem_file(keys.public["a"])
    with open(signed_pyz, "rb") as handle:
        data = handle.read()
    rsaverify.verify(data, open(signed_pyz + ".sig", "rb").read(), node_key)
    if shutil.which("openssl"):
        assert rsaverify.openssl_verify(signed_pyz, signed_pyz + ".sig", keys.public["a"]) is True


@pytest.mark.parametrize(
    "damage, reason",
    [
        ("tamper", "was tampered with"),
        ("truncate", "truncated: "),
        ("sig-truncate", "signature is 383 bytes"),
        ("sig-garbage", "not made with key"),
        ("unsigned", "is not signed"),
    ],
)
def test_refusals_say_why(signed_pyz, keys, tmp_path, capsys, damage, reason):
    artifact = copy_artifact(signed_pyz, tmp_path)
    data = bytearray(open(artifact, "rb").read())
    if damage == "tamper":
        data[len(data) // 2] ^= 0x01
        open(artifact, "wb").write(bytes(data))
    elif damage == "truncate":
        open(artifact, "wb").write(bytes(data[:-100]))
    elif damage == "sig-truncate":
        sig = open(artifact + ".sig", "rb").read()
        open(artifact + ".sig", "wb").write(sig[:-1])
    elif damage == "sig-garbage":
        open(artifact + ".sig", "wb").write(os.urandom(384))
    elif damage == "unsigned":
        os.unlink(artifact + ".sig")
    code, text = verify_cli(capsys, artifact, keys.public["a"])
    assert code == 1
    assert "REJECTED" in text and reason in text, text
    assert "Traceback" not in text
    assert len(text.strip().splitlines()) == 1


def test_without_manifest_the_signature_alone_says_why(signed_pyz, keys, tmp_path):
    artifact = copy_artifact(signed_pyz, tmp_path)
    os.unlink(artifact + ".manifest.json")
    data = bytearray(open(artifact, "rb").read())
    data[100] ^= 0x40
    open(artifact, "wb").write(bytes(data))
    trust = signing.TrustStore.load([keys.public["a"], keys.public["b"]])
    with pytest.raises(signing.VerificationError) as refused:
        signing.verify_artifact(artifact, trust)
    assert "content does not match the signature of key %s" % keys.ids["a"] in str(refused.value)


def test_wrong_key_and_unknown_key_id(signed_pyz, keys, tmp_path, capsys):
    artifact = copy_artifact(signed_pyz, tmp_path)
    # the manifest names key a, which this trust store does not hold
    code, text = verify_cli(capsys, artifact, keys.public["b"])
    assert code == 1
    assert "signed with key %s, which is not in the trust store (trusted: %s)" % (keys.ids["a"], keys.ids["b"]) in text
    # no manifest: every trusted key is tried; key b did not make this signature
    os.unlink(artifact + ".manifest.json")
    code, text = verify_cli(capsys, artifact, keys.public["b"])
    assert code == 1 and "not made with any trusted key" in text and "wrong key" in text
    # a manifest that names key b while key a signed: refused as the wrong key
    trust = signing.TrustStore.load([keys.public["a"], keys.public["b"]])
    with pytest.raises(signing.VerificationError) as refused:
        trust.verify(open(artifact, "rb").read(), open(artifact + ".sig", "rb").read(), keys.ids["b"])
    assert "not made with key %s (wrong key" % keys.ids["b"] in str(refused.value)


def test_key_rotation_with_a_trust_directory(signed_pyz, keys, tmp_path, capsys):
    trust_dir = tmp_path / "trusted"
    trust_dir.mkdir()
    shutil.copy(keys.public["a"], str(trust_dir / "old.pem"))
    shutil.copy(keys.public["b"], str(trust_dir / "new.pem"))
    old = copy_artifact(signed_pyz, tmp_path)
    new_dir = tmp_path / "new"
    new_dir.mkdir()
    new = str(new_dir / "pilot.pyz")
    shutil.copy(old, new)
    assert cli.main(["sign", new, "--key", keys.private["b"]]) == 0
    assert open(old, "rb").read() == open(new, "rb").read()  # signing never changes the pyz
    capsys.readouterr()
    assert verify_cli(capsys, old, str(trust_dir))[0] == 0
    code, text = verify_cli(capsys, new, str(trust_dir))
    assert code == 0 and keys.ids["b"] in text
    os.unlink(str(trust_dir / "old.pem"))  # the old key retired
    code, text = verify_cli(capsys, old, str(trust_dir))
    assert code == 1 and "not in the trust store" in text


def test_trust_store_errors_are_one_line(tmp_path, keys, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    artifact = tmp_path / "a.pyz"
    artifact.write_bytes(b"x")
    for trust, expected in (
        (str(empty), "holds no *.pem"),
        (str(tmp_path / "nope"), "no such file"),
        (keys.private["a"], "is a private key"),
    ):
        code, text = verify_cli(capsys, str(artifact), trust)
        assert code == 1 and expected in text and "Traceback" not in text


def test_verify_usage_is_exit_2(capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["verify"])
    assert stop.value.code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_build_sign_key_keeps_pyz_identical_and_appends_nothing(tmp_path, keys):
    launcher = os.path.join(REPO, "build", "build_pilot.py")
    plain = str(tmp_path / "plain" / "pilot.pyz")
    signed = str(tmp_path / "signed" / "pilot.pyz")
    subprocess.check_call([sys.executable, launcher, "--quiet", "--output", plain])
    out = subprocess.check_output(
        [sys.executable, launcher, "--quiet", "--output", signed, "--sign-key", keys.private["a"]]
    ).decode()
    assert "key id=%s" % keys.ids["a"] in out
    assert sha256(plain) == sha256(signed)
    assert not os.path.exists(plain + ".sig")
    with open(signed, "rb") as handle:
        handle.seek(-22, os.SEEK_END)
        assert handle.read(4) == b"PK\x05\x06"  # the zip still ends with its end record
    manifest = json.load(open(signed + ".manifest.json"))
    assert manifest["sha256"] == sha256(signed)
    assert set(manifest) >= set(["version", "git_commit", "sha256", "size", "key_id", "members", "build_time"])
    trust = signing.TrustStore.load([keys.public["a"]])
    assert signing.verify_artifact(signed, trust).key_id == keys.ids["a"]


def test_build_without_cryptography_fails_in_one_line(tmp_path, keys):
    launcher = os.path.join(REPO, "build", "build_pilot.py")
    code = (
        "import sys, runpy; sys.modules['cryptography'] = None; "
        "sys.argv = [%r, '--quiet', '--output', %r, '--sign-key', %r]; "
        "runpy.run_path(%r, run_name='__main__')" % (launcher, str(tmp_path / "p.pyz"), keys.private["a"], launcher)
    )
    proc = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.returncode == 1
    err = proc.stderr.decode()
    assert "needs the 'cryptography' package" in err
    assert len(err.strip().splitlines()) == 1
    # the plain build does not import it at all
    code = (
        "import sys, runpy; sys.modules['cryptography'] = None; sys.argv = [%r, '--quiet', '--output', %r]; "
        "runpy.run_path(%r, run_name='__main__')" % (launcher, str(tmp_path / "q.pyz"), launcher)
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
