"""Pilot tokens: scoped to one stamp, expiring, verifiable without a database."""

import os

import pytest

from pilot_server import tokens
from cli_support import pilotctl

STAMP = "0123456789abcdef0123456789abcdef"
OTHER = "fedcba9876543210fedcba9876543210"
SECRET = b"s" * 32


def test_round_trip_gives_claims():
    token = tokens.make_token(SECRET, STAMP, ttl=60, vo="lhcb", now=1000)
    claims = tokens.verify_token(token, [SECRET], stamp=STAMP, now=1030)
    assert claims["stamp"] == STAMP and claims["vo"] == "lhcb" and claims["exp"] == 1060


@pytest.mark.parametrize(
    "mutate, reason",
    [
        (lambda t: t[:-2] + ("AA" if t[-2:] != "AA" else "BB"), "bad token signature"),
        (lambda t: "pt2" + t[3:], "malformed token"),
        (lambda t: t.split(".")[0] + "." + t.split(".")[1], "malformed token"),
        (lambda t: "", "malformed token"),
        (lambda t: "pt1.!!!.???", "malformed token"),
    ],
)
def test_tampered_tokens_are_refused(mutate, reason):
    token = tokens.make_token(SECRET, STAMP, now=1000)
    with pytest.raises(tokens.TokenError) as error:
        tokens.verify_token(mutate(token), [SECRET], now=1000)
    assert str(error.value) == reason


def test_changed_claims_break_the_signature():
    import base64
    import json

    token = tokens.make_token(SECRET, STAMP, now=1000)
    head, body, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims["stamp"] = OTHER
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(tokens.TokenError, match="bad token signature"):
        tokens.verify_token("%s.%s.%s" % (head, forged, sig), [SECRET], now=1000)


def test_expiry_scope_unknown_key_and_future_tokens():
    token = tokens.make_token(SECRET, STAMP, ttl=10, now=1000)
    with pytest.raises(tokens.TokenError, match="expired"):
        tokens.verify_token(token, [SECRET], now=1011)
    with pytest.raises(tokens.TokenError, match="another pilot"):
        tokens.verify_token(token, [SECRET], stamp=OTHER, now=1000)
    with pytest.raises(tokens.TokenError, match="unknown key"):
        tokens.verify_token(token, [b"t" * 32], now=1000)
    with pytest.raises(tokens.TokenError, match="future"):
        tokens.verify_token(token, [SECRET], now=1000 - tokens.CLOCK_SKEW - 1)


def test_rotation_accepts_old_and_new_secrets():
    old, new = b"o" * 32, b"n" * 32
    assert tokens.verify_token(tokens.make_token(old, STAMP, now=5), [new, old], now=5)["stamp"] == STAMP
    assert tokens.verify_token(tokens.make_token(new, STAMP, now=5), [new, old], now=5)["stamp"] == STAMP


def test_bad_inputs_to_make_token():
    with pytest.raises(tokens.TokenError, match="not a pilot stamp"):
        tokens.make_token(SECRET, "../etc/passwd")
    with pytest.raises(tokens.TokenError, match="too short"):
        tokens.make_token(b"short", STAMP)
    assert tokens.valid_stamp("c2b4a0e2-6d3e-11ef-8f5e-0242ac120002")


def test_secret_files(tmp_path):
    path = str(tmp_path / "secret")
    secret = tokens.generate_secret()
    tokens.write_secret(path, secret)
    assert oct(os.stat(path).st_mode & 0o777) == oct(0o600)
    assert tokens.read_secret(path) == secret
    with pytest.raises(FileExistsError):
        tokens.write_secret(path, secret)
    os.chmod(path, 0o644)
    with pytest.raises(tokens.TokenError, match="readable by others"):
        tokens.read_secret(path)
    bad = tmp_path / "bad"
    bad.write_text("zz\n")
    os.chmod(str(bad), 0o600)
    with pytest.raises(tokens.TokenError, match="hex secret"):
        tokens.read_secret(str(bad))


def test_expiry_grace_keeps_a_token_good_a_little_longer():
    token = tokens.make_token(SECRET, STAMP, ttl=10, now=1000)
    assert tokens.verify_token(token, [SECRET], now=1100, expiry_grace=100)["stamp"] == STAMP
    with pytest.raises(tokens.TokenError, match="expired"):
        tokens.verify_token(token, [SECRET], now=1111, expiry_grace=100)


# -- pilotctl token-secret / pilotctl token ---------------------------------------------------------


def test_cli_secret_and_token_make_a_token_the_logbook_accepts(tmp_path, capsys):
    secret_file, token_file = str(tmp_path / "token.secret"), str(tmp_path / "pilot.token")
    code, out, err = pilotctl(capsys, "token-secret", secret_file)
    assert code == 0 and err == "" and oct(os.stat(secret_file).st_mode & 0o777) == "0o600"
    code, out, err = pilotctl(
        capsys, "token", "--secret", secret_file, "--stamp", STAMP, "--vo", "lhcb", "--ttl", "600", "-o", token_file
    )
    assert code == 0 and err == "" and "stamp: %s" % STAMP in out
    assert oct(os.stat(token_file).st_mode & 0o777) == "0o600"
    token = open(token_file).read().strip()
    assert token not in out  # a credential: written to the file only
    claims = tokens.verify_token(token, [tokens.read_secret(secret_file)], stamp=STAMP)
    assert claims["vo"] == "lhcb" and claims["exp"] - claims["iat"] == 600
    # without --stamp: a new stamp, printed, and the token is for it
    code, out, _ = pilotctl(capsys, "token", "--secret", secret_file, "-o", token_file + "2")
    stamp = out.split("stamp: ")[1].split()[0]
    assert code == 0 and tokens.valid_stamp(stamp)
    assert tokens.verify_token(open(token_file + "2").read().strip(), [tokens.read_secret(secret_file)], stamp=stamp)


def test_cli_token_bad_inputs(tmp_path, capsys):
    secret_file = str(tmp_path / "token.secret")
    assert pilotctl(capsys, "token-secret", secret_file)[0] == 0
    code, _, err = pilotctl(capsys, "token-secret", secret_file)
    assert (
        code == 1 and err.strip() == "pilotctl token-secret: error: %s: exists: refusing to overwrite it" % secret_file
    )
    out_file = str(tmp_path / "t")
    cases = [
        (["--stamp", "nope"], 1, "'nope' is not a pilot stamp"),
        (["--ttl", "0"], 2, "--ttl must be a positive number of seconds"),
        (["--ttl", "x"], 2, "invalid int value"),
    ]
    for extra, want_code, reason in cases:
        code, _, err = pilotctl(capsys, "token", "--secret", secret_file, "-o", out_file, *extra)
        assert code == want_code and reason in err and len(err.strip().splitlines()) == 1, (extra, err)
        assert not os.path.exists(out_file)
    code, _, err = pilotctl(capsys, "token", "--secret", str(tmp_path / "missing"), "-o", out_file)
    assert code == 1 and "No such file or directory" in err
    os.chmod(secret_file, 0o644)
    code, _, err = pilotctl(capsys, "token", "--secret", secret_file, "-o", out_file)
    assert code == 1 and "readable by others" in err
    os.chmod(secret_file, 0o600)
    open(out_file, "w").close()
    code, _, err = pilotctl(capsys, "token", "--secret", secret_file, "-o", out_file)
    assert code == 1 and "exists: refusing to overwrite it" in err
