"""``pilotctl keygen``, ``pilotctl sign``, ``pilotctl verify``: signing keys and signed artifacts.

Exit codes: 0 done / accepted, 1 failed / rejected (the reason on one line), 2 usage.
``cryptography`` is imported only when a command runs.
"""

import os

from pilot_server.cliutil import OK, fail, one_line_errors, say


def register(commands):
    keygen = one_line_errors(
        commands.add_parser(
            "keygen",
            help="make an RSA-3072 signing key (private 0600 + public .pub.pem)",
            description="Write a new RSA signing key: KEYFILE (private, mode 0600) and its public key "
            "beside it (KEYFILE without .pem + .pub.pem).  Never overwrites.",
        )
    )
    keygen.add_argument("keyfile", metavar="KEYFILE")
    keygen.add_argument("--bits", type=int, default=3072, choices=(3072, 4096), help="key size (default 3072)")
    keygen.add_argument("--passphrase-file", metavar="FILE", help="encrypt the private key with this passphrase")
    keygen.set_defaults(handler=keygen_command)

    sign = one_line_errors(
        commands.add_parser(
            "sign",
            help="sign an artifact: writes ARTIFACT.sig and ARTIFACT.manifest.json",
            description="Sign ARTIFACT (e.g. dist/pilot.pyz): a detached RSA PKCS#1 v1.5 SHA-256 signature "
            "ARTIFACT.sig and a manifest ARTIFACT.manifest.json.  The artifact is not changed.",
        )
    )
    sign.add_argument("artifact", metavar="ARTIFACT")
    sign.add_argument("--key", required=True, metavar="KEYFILE", help="private key (from pilotctl keygen)")
    sign.add_argument("--passphrase-file", metavar="FILE", help="passphrase of an encrypted key")
    sign.add_argument("--git-commit", metavar="SHA", help="git commit to record in the manifest")
    sign.set_defaults(handler=sign_command)

    verify = one_line_errors(
        commands.add_parser(
            "verify",
            help="verify a signed artifact against trusted public keys",
            description="Verify ARTIFACT against its detached signature and the trusted public keys. "
            "Exit 0 accepted, 1 rejected (the reason is printed), 2 usage.",
        )
    )
    verify.add_argument("artifact", metavar="ARTIFACT")
    add_trust_options(verify)
    verify.set_defaults(handler=verify_command)


def add_trust_options(parser):
    parser.add_argument(
        "--trust",
        action="append",
        required=True,
        metavar="PATH",
        help="trusted public key (PEM) or directory of *.pem keys; repeatable (key rotation)",
    )
    parser.add_argument("--signature", metavar="FILE", help="detached signature (default: ARTIFACT.sig)")
    parser.add_argument("--manifest", metavar="FILE", help="manifest (default: ARTIFACT.manifest.json, if present)")


def keygen_command(args):
    from pilot_server import signing

    prog = "pilotctl keygen"
    try:
        passphrase = signing.read_passphrase(args.passphrase_file)
        for path in (args.keyfile, signing.public_key_path(args.keyfile)):
            if os.path.lexists(path):
                return fail(prog, "%s exists: refusing to overwrite it" % path)
        key = signing.generate_key(args.bits)
        public_path = signing.write_key_pair(args.keyfile, key, passphrase)
    except signing.SigningError as exc:
        return fail(prog, exc)
    except OSError as exc:
        return fail(prog, "%s: %s" % (exc.filename or args.keyfile, exc.strerror or exc))
    say("key id: %s" % signing.key_id(key.public_key()))
    say("private key: %s (mode 0600%s)" % (args.keyfile, ", encrypted" if passphrase else ""))
    say("public key: %s" % public_path)
    return OK


def sign_command(args):
    from pilot_server import signing

    prog = "pilotctl sign"
    try:
        key = signing.load_private_key(args.key, signing.read_passphrase(args.passphrase_file))
        manifest = signing.sign_artifact(args.artifact, key, git_commit=args.git_commit)
    except signing.SigningError as exc:
        return fail(prog, exc)
    except OSError as exc:
        return fail(prog, "%s: %s" % (exc.filename or args.artifact, exc.strerror or exc))
    say(
        "signed %s  size=%d  sha256=%s  key id=%s"
        % (args.artifact, manifest["size"], manifest["sha256"], manifest["key_id"])
    )
    say("signature: %s" % signing.signature_path(args.artifact))
    say("manifest: %s" % signing.manifest_path(args.artifact))
    return OK


def load_verified(args, prog):
    """(VerifiedArtifact, None) or (None, exit code) for commands that take add_trust_options."""
    from pilot_server import signing

    try:
        trust = signing.TrustStore.load(args.trust)
        return signing.verify_artifact(args.artifact, trust, args.signature, args.manifest), None
    except signing.VerificationError as exc:
        return None, fail(prog, "REJECTED %s: %s" % (args.artifact, exc))
    except signing.SigningError as exc:
        return None, fail(prog, exc)
    except OSError as exc:
        return None, fail(prog, "%s: %s" % (exc.filename or args.artifact, exc.strerror or exc))


def verify_command(args):
    from pilot_server import signing

    verified, code = load_verified(args, "pilotctl verify")
    if verified is None:
        return code
    trust = signing.TrustStore.load(args.trust)
    say(
        "OK %s  size=%d  sha256=%s  signed by key %s (%s)"
        % (args.artifact, verified.size, verified.sha256, verified.key_id, trust.origins[verified.key_id])
    )
    return OK
