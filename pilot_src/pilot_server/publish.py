"""``pilotctl publish DIR``: what a DIRAC pilot file server serves, so that DIRAC's own
SiteDirector and its generated wrapper start Pilots 2.0 unchanged.

DIRAC's wrapper downloads, in this order,
``checksums.sha512``, ``pilot.json`` and ``pilot.tar`` from a location, checks every
listed file's SHA-512, extracts the tar and runs ``python dirac-pilot.py <options>
--pilotUUID <stamp>``.  Here ``pilot.tar`` holds the verified ``pilot.pyz`` and a small
``dirac-pilot.py`` that checks the pyz's sha256 (fixed inside it) and then replaces
itself (``os.execv``) with ``python pilot.pyz <the same arguments>``: same process, same
stdin, same exit code.  ``pilot.pyz``, its signature and manifest are also published
beside the tar, for fetch wrappers.  The tar is reproducible (fixed times, owners, modes).
"""

import hashlib
import io
import json
import os
import tarfile

from pilot_server.worker import exitcodes
from pilot_server.cliutil import OK, fail, one_line_errors, say

DIRAC_PILOT = """#!/usr/bin/env python
# dirac-pilot.py of Pilots 2.0 (made by pilotctl publish): DIRAC's pilot wrapper runs
# "python dirac-pilot.py <options>"; this checks pilot.pyz beside it and replaces itself with
# "python pilot.pyz <the same options>" (same process, stdin and exit code).  Python 2.6-3.13.
import hashlib
import os
import sys

PYZ_SHA256 = "%(sha256)s"
INTEGRITY = %(integrity)d  # the pilot's exit code for a failed checksum

here = os.path.dirname(os.path.abspath(__file__))
pyz = os.path.join(here, "pilot.pyz")
try:
    handle = open(pyz, "rb")
    try:
        digest = hashlib.sha256(handle.read()).hexdigest()
    finally:
        handle.close()
except (IOError, OSError):
    sys.stderr.write("dirac-pilot.py: cannot read %%s: %%s\\n" %% (pyz, sys.exc_info()[1]))
    sys.exit(INTEGRITY)
if digest != PYZ_SHA256:
    sys.stderr.write("dirac-pilot.py: %%s has sha256 %%s, expected %%s\\n" %% (pyz, digest, PYZ_SHA256))
    sys.exit(INTEGRITY)
sys.stdout.flush()
sys.stderr.flush()
python = sys.executable or "python"
os.execv(python, [python, pyz] + sys.argv[1:])
"""

TAR_MTIME = 315532800  # 1980-01-01, as the pyz members


def dirac_pilot_script(pyz_sha256):
    return DIRAC_PILOT % {"sha256": pyz_sha256, "integrity": exitcodes.BY_NAME["INTEGRITY"].code}


def _tar_member(archive, name, data, mode):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = TAR_MTIME
    info.mode = mode
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    archive.addfile(info, io.BytesIO(data))


def pilot_tar(pyz_data, pyz_sha256):
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        _tar_member(archive, "dirac-pilot.py", dirac_pilot_script(pyz_sha256).encode("utf-8"), 0o755)
        _tar_member(archive, "pilot.pyz", pyz_data, 0o644)
    return out.getvalue()


def _write(directory, name, data):
    path = os.path.join(directory, name)
    tmp = "%s.tmp-%d" % (path, os.getpid())
    with open(tmp, "wb") as handle:
        handle.write(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def publish(directory, verified, pilot_json=None):
    """Write the DIRAC pilot file server layout into directory; return {name: sha512}.

    ``verified`` is a signing.VerifiedArtifact; ``pilot_json`` the bytes to serve
    as pilot.json (default ``{}``: the pilot then uses its command line).
    """
    if pilot_json is None:
        pilot_json = b"{}\n"
    try:
        json.loads(pilot_json.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ValueError("pilot.json is not valid JSON")
    os.makedirs(directory, exist_ok=True)
    files = {
        "pilot.json": pilot_json,
        "pilot.tar": pilot_tar(verified.data, verified.sha256),
        "pilot.pyz": verified.data,
        "pilot.pyz.sig": verified.signature,
    }
    if verified.manifest is not None:
        files["pilot.pyz.manifest.json"] = (json.dumps(verified.manifest, indent=1, sort_keys=True) + "\n").encode()
    sums = {}
    # checksums.sha512 last: DIRAC's wrapper reads it first, so what it lists is already there.
    for name in sorted(files):
        _write(directory, name, files[name])
        sums[name] = hashlib.sha512(files[name]).hexdigest()
    _write(
        directory, "checksums.sha512", "".join("%s  %s\n" % (sums[name], name) for name in sorted(sums)).encode("ascii")
    )
    return sums


def register(commands):
    parser = one_line_errors(
        commands.add_parser(
            "publish",
            help="write a DIRAC pilot file server directory that starts the verified pilot.pyz",
            description="Verify the signed pyz, then write into DIR what a DIRAC pilot file server serves: "
            "pilot.json, pilot.tar (dirac-pilot.py + pilot.pyz), pilot.pyz with its signature and "
            "manifest, and checksums.sha512 listing every file.  Exit 0 written, 1 refused, 2 usage.",
        )
    )
    parser.add_argument("directory", metavar="DIR")
    parser.add_argument("--artifact", metavar="PYZ", help="the signed pilot (default: dist/pilot.pyz)")
    parser.add_argument(
        "--trust",
        action="append",
        required=True,
        metavar="PATH",
        help="trusted public key (PEM) or directory of *.pem; repeatable",
    )
    parser.add_argument("--signature", metavar="FILE", help="default: PYZ.sig")
    parser.add_argument("--manifest", metavar="FILE", help="default: PYZ.manifest.json, if present")
    parser.add_argument("--pilot-json", metavar="FILE", help="pilot.json to serve (default: {})")
    parser.set_defaults(handler=publish_command)


def publish_command(args):
    from pilot_server import pyzbuild, wrapper

    prog = "pilotctl publish"
    artifact = args.artifact or pyzbuild.default_output()
    try:
        verified = wrapper.verify(artifact, args.trust, args.signature, args.manifest)
        pilot_json = None
        if args.pilot_json:
            with open(args.pilot_json, "rb") as handle:
                pilot_json = handle.read()
        sums = publish(args.directory, verified, pilot_json)
    except wrapper.WrapperError as exc:
        return fail(prog, exc)
    except ValueError as exc:
        return fail(prog, "%s: %s" % (args.pilot_json, exc))
    except OSError as exc:
        return fail(prog, "%s: %s" % (exc.filename or args.directory, exc.strerror or exc))
    say(
        "published in %s: %s and checksums.sha512 (pilot sha256 %s, key %s)"
        % (args.directory, ", ".join(sorted(sums)), verified.sha256, verified.key_id)
    )
    return OK
