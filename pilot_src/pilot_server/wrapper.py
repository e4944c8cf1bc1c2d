"""Pilot wrappers: the scripts a SiteDirector sends to CEs and VMs (``pilotctl wrapper``).

The library call is ``make_wrapper(variant, verified, ...)``: ``verified`` must be a
``signing.VerifiedArtifact`` (``verify(...)`` below checks the signed pyz against the
trust store first, and refuses an unsigned or mismatching one).  Variants:

* ``batch``: a /bin/sh script (the job's executable on HTCondor-CE, ARC, SSH/local
  batch) with the signed pyz embedded (base94 by default, base64 with ``--payload pyz``)
  and its sha256.  The pyz's modules are one bz2 stream already: nothing is compressed twice.
* ``vm``: cloud-init user data (#cloud-config) that creates a user, writes the pyz,
  the wrapper and a boot script, and starts the pilot at first boot as that user.
* ``fetch``: a small script that downloads the pyz from a list of URLs and checks it
  against the sha256 and/or the signature (public key and verifier embedded).

Every embedded value is validated and single-quoted; the node-side script is in
``templates/``: node.sh in clear (it finds a Python), the rest (stage.sh and the variant's
source block) compressed with zlib in base94, unpacked by that Python and run by the shell.  The pilot options are checked with the pilot's own option parser.
"""

import base64
import hashlib
import os
import pkgutil
import re
import time
import uuid
import zlib

from pilot_server.worker import __version__
from pilot_server.worker.config import options as pilot_options
from pilot_server.worker.errors import UsageError
from pilot_server import tokens
from pilot_server.cliutil import OK, fail, one_line_errors, say

VARIANTS = ("batch", "vm", "fetch")
# base94 (68 bytes in 83 characters), base64 (3 in 4) of the signed pyz, or its bytes after the script
ENCODINGS = ("b94", "pyz", "raw")
ENCODING_NAMES = {"b94": "base94", "pyz": "base64", "raw": "bytes after the script, base 254 (no NUL, no CR)"}
FETCH_CHECKS = ("both", "sha256", "signature")

# Wrapper exit codes when the pilot did not start (DIRAC's 3 and 255, and ours for "no Python").
EXIT_UNPACK = 3
EXIT_NO_PYTHON = 4
EXIT_FETCH_OR_CHECK = 255
TOKEN_FILE_ENV = "PILOT_LOGBOOK_TOKEN_FILE"

# VM layout (paths on the VM; the boot script prefixes them with $PILOT_VM_ROOT).
VM_DIR = "/opt/pilots2"
VM_PYZ = VM_DIR + "/pilot.pyz"
VM_RUN_SCRIPT = VM_DIR + "/run-pilot.sh"
VM_BOOT_SCRIPT = VM_DIR + "/vm-boot.sh"
VM_HOME = "/var/lib/pilots2"
VM_LOG_DIR = "/var/log"
VM_BOOT_LOG = VM_LOG_DIR + "/pilots2-boot.log"

B64_LINE = 76
# Base94: the printable ASCII characters but space, 68 bytes in 83 characters (94**83 >= 256**68);
# the node decodes it with a few lines of Python 2.6+ (pw_decoder in templates/unpack_text.sh).
B94_BYTES, B94_CHARS = 68, 83
B94_LINE = 12 * B94_CHARS
# Base 254 for the bytes after the script: every byte but NUL (sbatch refuses a script holding one)
# and CR (nor a DOS line end); 706 bytes in 707 (254**707 >= 256**706), 0.14 % larger than the pyz.
# A shorter last block of n bytes takes n + 1 characters.  The digits 0-253 are written as these
# bytes; decoded by pw_decoder in templates/unpack_tail.sh.
B254_BYTES = 706
B254_DIGITS = bytes(value for value in range(256) if value not in (0, 13))
USER_PATTERN = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
PATH_PATTERN = re.compile(r"^/[A-Za-z0-9._/+-]*$")
URL_PATTERN = re.compile(
    r"^(https?://[A-Za-z0-9.-]+(:[0-9]+)?(/[A-Za-z0-9._~/%+=,@:-]*)?|file:/[A-Za-z0-9._~/%+=,@-]*)$"
)
TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9._-]+$")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class WrapperError(Exception):
    """Bad input for a wrapper; str() is one line meant for the user."""


class Wrapper(object):
    """A made wrapper: ``text`` (str; ``data``, the bytes to write, adds a raw payload after it)
    and what the SiteDirector records."""

    def __init__(self, variant, text, stamp, pilot_sha256, payload_sha256, key_id, token_expires=None, tail=b""):
        self.variant = variant
        self.text = text
        self.tail = tail
        self.stamp = stamp
        self.pilot_sha256 = pilot_sha256
        self.payload_sha256 = payload_sha256
        self.key_id = key_id
        self.token_expires = token_expires

    @property
    def data(self):
        return self.text.encode("utf-8") + self.tail

    @property
    def size(self):
        return len(self.data)

    def write(self, path):
        """Write atomically; mode 0700 (a logbook token may be inside)."""
        tmp = "%s.tmp-%d" % (path, os.getpid())
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o700)
        with os.fdopen(fd, "wb") as handle:
            handle.write(self.data)
        os.chmod(tmp, 0o700)
        os.replace(tmp, path)


# -- inputs ---------------------------------------------------------------------------


def verify(artifact, trust_paths, signature=None, manifest=None):
    """Verify a signed pyz against trusted public keys; raise WrapperError on refusal."""
    from pilot_server import signing

    try:
        trust = trust_paths if isinstance(trust_paths, signing.TrustStore) else signing.TrustStore.load(trust_paths)
        verified = signing.verify_artifact(artifact, trust, signature, manifest)
    except signing.SigningError as exc:
        raise WrapperError("refusing %s: %s" % (artifact, exc))
    verified.public_key = trust.keys[verified.key_id]
    return verified


def shell_quote(value):
    """A single-quoted sh word; control characters are refused, not escaped."""
    if CONTROL.search(value):
        raise WrapperError("%r contains a control character" % value[:60])
    return "'" + value.replace("'", "'\\''") + "'"


def check_pilot_options(argv):
    """Validate with the pilot's own parser, so a bad option fails here, not on the node."""
    argv = [str(arg) for arg in argv]
    for arg in argv:
        if CONTROL.search(arg):
            raise WrapperError("pilot option %r contains a control character" % arg[:60])
    try:
        parsed = pilot_options.parse(argv)
    except UsageError as exc:
        raise WrapperError("pilot options: %s" % exc.reason)
    if "pilotUUID" in parsed.values:
        raise WrapperError("pilot options: give the stamp with --stamp, not %s" % parsed.forms["pilotUUID"])
    return argv


def new_stamp():
    return uuid.uuid4().hex


def check_stamp(stamp):
    if not tokens.valid_stamp(stamp):
        raise WrapperError("stamp %r is not 32 lowercase hex characters (or a UUID)" % stamp[:60])
    return stamp


def make_logbook_token(secret, stamp, ttl=tokens.DEFAULT_TTL, vo=None, now=None):
    """(token, expiry epoch) from pilot_server.tokens; never logged or printed."""
    try:
        token = tokens.make_token(secret, stamp, ttl=ttl, vo=vo, now=now)
    except tokens.TokenError as exc:
        raise WrapperError("logbook token: %s" % exc)
    if not TOKEN_PATTERN.match(token):
        raise WrapperError("logbook token has unexpected characters")
    return token, int(time.time() if now is None else now) + int(ttl)


# -- payload --------------------------------------------------------------------------


def b94encode(data):
    """Base94 text of bytes: 33 + the padding bytes, then 83 characters per 68 bytes (big-endian)."""
    pad = -len(data) % B94_BYTES
    data += b"\0" * pad
    out = [chr(33 + pad)]
    for start in range(0, len(data), B94_BYTES):
        number = int.from_bytes(data[start : start + B94_BYTES], "big")
        digits = []
        for _ in range(B94_CHARS):
            number, digit = divmod(number, 94)
            digits.append(chr(33 + digit))
        out.append("".join(reversed(digits)))
    return "".join(out)


def b94decode(text):
    """Bytes of b94encode's text (whitespace ignored); the node's decoder is pw_decoder."""
    text = "".join(text.split())
    out = b"".join(
        _b94_number(text[start : start + B94_CHARS]).to_bytes(B94_BYTES, "big")
        for start in range(1, len(text), B94_CHARS)
    )
    return out[: len(out) - (ord(text[0]) - 33)]


def _b94_number(chars):
    number = 0
    for char in chars:
        number = number * 94 + ord(char) - 33
    return number


def b254encode(data):
    """Bytes without NUL or CR: each block of up to 706 bytes as a big-endian number in len + 1 digits
    of base 254, the digits written as the byte values 1-255 but 13."""
    digit_byte = B254_DIGITS + b"\0\0"  # translate wants 256 entries; digits stop at 253
    out = []
    for start in range(0, len(data), B254_BYTES):
        block = data[start : start + B254_BYTES]
        number = int.from_bytes(block, "big")
        digits = bytearray(len(block) + 1)
        for place in range(len(block), -1, -1):
            number, digits[place] = divmod(number, 254)
        out.append(bytes(digits).translate(digit_byte))
    return b"".join(out)


def b254decode(data):
    """Bytes of b254encode's output (the node's decoder is pw_decoder in templates/unpack_tail.sh)."""
    value_of = dict((byte, digit) for digit, byte in enumerate(B254_DIGITS))
    out = []
    for start in range(0, len(data), B254_BYTES + 1):
        block = data[start : start + B254_BYTES + 1]
        number = 0
        for byte in block:
            number = number * 254 + value_of[byte]
        out.append(number.to_bytes(len(block) - 1, "big"))
    return b"".join(out)


def _lines(text, width):
    return "\n".join(text[i : i + width] for i in range(0, len(text), width))


def encode_payload(data, encoding):
    """(the signed pyz as text lines, its sha256: what the node checks and runs)."""
    if encoding == "pyz":
        text, width = base64.b64encode(data).decode("ascii"), B64_LINE
    elif encoding == "b94":
        text, width = b94encode(data), B94_LINE
    else:
        raise WrapperError("unknown payload encoding %r (%s)" % (encoding, ", ".join(ENCODINGS)))
    return _lines(text, width), hashlib.sha256(data).hexdigest()


def _template(name, keep=0, tabs=False):
    """A shell template without its comment-only lines but the first ``keep`` (node.sh: the
    shebang and what made the script): they explain the template, the wrapper travels.  With
    ``tabs`` (the script's plain part, which is not compressed) a tab for each 4 leading spaces."""
    lines = pkgutil.get_data("pilot_server", "templates/" + name).decode("utf-8").split("\n")
    lines = lines[:keep] + [line for line in lines[keep:] if not line.lstrip().startswith("#")]
    if tabs:
        lines = [re.sub(r"^((?:    )+)", lambda found: "\t" * (len(found.group(1)) // 4), line) for line in lines]
    return "\n".join(lines)


def _fill(text, values, later=()):
    """Replace @NAME@ placeholders; those in ``later`` are filled by the caller afterwards."""
    for key, value in values.items():
        text = text.replace("@%s@" % key, value)
    left = [name for name in re.findall(r"@[A-Z_0-9]+@", text) if name.strip("@") not in later]
    if left:
        raise WrapperError("internal error: template placeholders left: %s" % ", ".join(sorted(set(left))))
    return text


def _heredoc_body(text, terminator):
    text = text.rstrip("\n")
    if terminator in text.split("\n"):
        raise WrapperError("internal error: embedded text contains its heredoc terminator %s" % terminator)
    return text


def rsaverify_source():
    """pilot/config/rsaverify.py, the node-side verifier: one definition, embedded as is."""
    return pkgutil.get_data("pilot_server.worker", "config/rsaverify.py").decode("utf-8")


# -- the scripts ------------------------------------------------------------------------


def _deflate(text):
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    return packer.compress(text.encode("utf-8")) + packer.flush()


def pack_stage(text):
    """The stage as node.sh carries it in text: raw deflate (zlib level 9), base94 lines."""
    return _lines(b94encode(_deflate(text)), B94_LINE)


def read_stage(made):
    """The stage a wrapper's shell runs with eval, unpacked (tests, and to read a wrapper): from
    the text (a here-document) or, with the pilot's bytes after the script, from that tail."""
    text = made if isinstance(made, str) else made.text
    body = re.search(r"<<'PILOT_STAGE_END'\n(.*?)\nPILOT_STAGE_END\n", text, re.S)
    if body:
        return zlib.decompress(b94decode(body.group(1)), -15).decode("utf-8")
    sizes = re.search(r'"\$pw_self" (\d+) (\d+) -\)', text)
    if not sizes or isinstance(made, str):
        raise WrapperError("no stage in this wrapper")
    start, size = int(sizes.group(1)), int(sizes.group(2))
    return zlib.decompress(b254decode(made.data[-start:][:size]), -15).decode("utf-8")


def node_script(
    variant,
    stamp,
    pilot_options_argv,
    source_block,
    sha256,
    artifact_note,
    token="",
    work_base="",
    cleanup=False,
    source_note="",
    clear_block="",
    tail=None,
):
    """(the script's text, the bytes after it): with ``tail`` (the pilot in base 254) the stage
    goes after the script too (templates/unpack_tail.sh), else into the text (unpack_text.sh)."""
    if token and not TOKEN_PATTERN.match(token):
        raise WrapperError("logbook token has unexpected characters")
    if work_base and not PATH_PATTERN.match(work_base):
        raise WrapperError("work base %r must be an absolute path of letters, digits and ._/+-" % work_base)
    quoted = " ".join(shell_quote(arg) for arg in pilot_options_argv)
    artifact = shell_quote(artifact_note)
    if sha256 and "'" not in artifact_note:  # the anchored sha256 once in the wrapper, not twice
        artifact = artifact.replace(sha256, "'\"$pw_sha256\"'")
    stage = _fill(
        _template("stage.sh"),
        {
            "OPTIONS": quoted,
            "Q_ARTIFACT": artifact,
            "Q_WORK_BASE": shell_quote(work_base),
            "Q_CLEANUP": shell_quote("yes" if cleanup else "no"),
            "Q_SHOWN_OPTIONS": shell_quote(" ".join(pilot_options_argv)),
        },
        later=("SOURCE",),
    ).replace("@SOURCE@", source_block)
    if tail is None:
        after = b""
        unpack = _fill(_template("unpack_text.sh", tabs=True), {}, later=("CLEAR", "STAGE"))
        unpack = unpack.replace("@CLEAR@", clear_block).replace(
            "@STAGE@", _heredoc_body(pack_stage(stage), "PILOT_STAGE_END")
        )
    else:
        packed = b254encode(_deflate(stage))
        after = packed + tail
        sizes = {"RAW_SIZE": str(len(tail)), "STAGE_SIZE": str(len(packed)), "TAIL_SIZE": str(len(after))}
        unpack = _fill(_template("unpack_tail.sh", tabs=True), sizes)
    head = _fill(
        _template("node.sh", keep=2, tabs=True),
        {
            "VARIANT": variant,
            "VERSION": __version__,
            "WORK_BASE_NOTE": " (default %s)" % work_base if work_base else "",
            "SOURCE_NOTE": source_note,
            "KEEP_NOTE": "removed at the end (--cleanup)" if cleanup else "kept",
            "Q_VARIANT": shell_quote(variant),
            "Q_STAMP": shell_quote(check_stamp(stamp)),
            "Q_SHA256": shell_quote(sha256),
            "Q_TOKEN": shell_quote(token),
        },
        later=("UNPACK",),
    )
    return head.replace("@UNPACK@", unpack.rstrip("\n")), after


DECODERS = {"b94": ("python",), "pyz": ("python", "base64", "openssl"), "raw": ("python",)}
TOOL_NAMES = {"python": "the node's Python", "base64": "base64 -d", "openssl": "openssl base64 -d"}


def embedded_source(data, encoding):
    """(stage block, clear block with the payload, the payload's sha256, the bytes that go after
    the script: None for the text encodings)."""
    if encoding not in ENCODINGS:
        raise WrapperError("unknown payload encoding %r (%s)" % (encoding, ", ".join(ENCODINGS)))
    tools = DECODERS[encoding]
    source = _fill(
        _template("source_embedded.sh"),
        {"TOOLS": " ".join(tools), "TRIED": ", ".join(TOOL_NAMES[tool] for tool in tools)},
        later=("DECODE",),
    ).replace("@DECODE@", _template("decode_%s.sh" % encoding).strip("\n"))
    if encoding == "raw":  # the script's last bytes: a binary file (no NUL, no CR), no text channel
        return source, "", hashlib.sha256(data).hexdigest(), b254encode(data)
    payload, node_sha256 = encode_payload(data, encoding)
    note = "%s of pilot.pyz as signed" % ENCODING_NAMES[encoding]
    clear = _fill(
        _template("payload.sh", keep=1, tabs=True),
        {"ENCODING_NOTE": note},
        later=("PAYLOAD",),
    )
    clear = clear.replace("@PAYLOAD@", _heredoc_body(payload, "PILOT_PAYLOAD_END"))
    return source, clear, node_sha256, None


def fetch_source(urls, public_key_pem, rounds=2, pause=10):
    if not urls:
        raise WrapperError("the fetch variant needs at least one --url")
    for url in urls:
        if not URL_PATTERN.match(url):
            raise WrapperError(
                "URL %r: only http(s)://host[:port]/path or file:/path, with letters, digits "
                "and ._~/%%+=,@:- in the path" % url[:100]
            )
    if not (1 <= int(rounds) <= 10) or not (0 <= int(pause) <= 600):
        raise WrapperError("fetch rounds must be 1-10 and the pause 0-600 s")
    block = _fill(
        _template("source_fetch.sh"),
        {
            "FETCH_ROUNDS": str(int(rounds)),
            "FETCH_PAUSE": str(int(pause)),
            "Q_URLS": shell_quote(" ".join(urls)),
            "Q_HAS_KEY": shell_quote("yes" if public_key_pem else "no"),
        },
        later=("KEY_PEM", "RSAVERIFY"),
    )
    block = block.replace("@KEY_PEM@", _heredoc_body(public_key_pem or "", "PILOT_KEY_END"))
    verifier = rsaverify_source() if public_key_pem else ""  # only needed with a key
    return block.replace("@RSAVERIFY@", _heredoc_body(verifier, "PILOT_RSAVERIFY_END"))


def file_source(path):
    return _fill(_template("source_file.sh"), {"Q_PYZ_FILE": shell_quote(path)})


def _artifact_note(verified, extra=""):
    version = (verified.manifest or {}).get("version") or "?"
    return "pilot %s, pyz sha256 %s, signed by key %s%s" % (version, verified.sha256, verified.key_id, extra)


def _indent(text, spaces):
    pad = " " * spaces
    return "\n".join(pad + line if line else "" for line in text.rstrip("\n").split("\n"))


def cloud_config(run_script, payload_lines, boot_script, user):
    """#cloud-config user data (YAML written here: keys fixed, scripts as literal blocks)."""
    return "\n".join(
        [
            "#cloud-config",
            "# Pilots 2.0 VM pilot (pilotctl %s): user %s, %s, %s and %s;"
            % (__version__, user, VM_PYZ, VM_RUN_SCRIPT, VM_BOOT_SCRIPT),
            "# runcmd starts %s once, at first boot." % VM_BOOT_SCRIPT,
            "users:",
            "  - default",
            "  - name: %s" % user,
            "    gecos: Pilots 2.0 pilot",
            "    shell: /bin/sh",
            "    lock_passwd: true",
            "write_files:",
            "  - path: %s" % VM_PYZ,
            "    permissions: '0644'",
            "    encoding: b64",
            "    content: |",
            _indent(payload_lines, 6),
            "  - path: %s" % VM_RUN_SCRIPT,
            "    permissions: '0700'",
            "    content: |",
            _indent(run_script, 6),
            "  - path: %s" % VM_BOOT_SCRIPT,
            "    permissions: '0700'",
            "    content: |",
            _indent(boot_script, 6),
            "runcmd:",
            "  - [/bin/sh, %s]" % VM_BOOT_SCRIPT,
            "",
        ]
    )


def make_wrapper(
    variant,
    verified,
    pilot_options_argv=(),
    stamp=None,
    token_secret=None,
    token_ttl=tokens.DEFAULT_TTL,
    vo=None,
    work_base="",
    cleanup=False,
    encoding="b94",
    urls=(),
    fetch_check="both",
    fetch_rounds=2,
    fetch_pause=10,
    vm_user="pilot",
    vm_poweroff=False,
    now=None,
):
    """Make a wrapper for a verified pyz (see ``verify``); returns a Wrapper."""
    from pilot_server import signing

    if not isinstance(verified, signing.VerifiedArtifact):
        raise WrapperError("the pilot must be verified first (wrapper.verify) before it is wrapped")
    if variant not in VARIANTS:
        raise WrapperError("unknown variant %r (%s)" % (variant, ", ".join(VARIANTS)))
    argv = check_pilot_options(pilot_options_argv)
    stamp = check_stamp(stamp or new_stamp())
    token, expires = "", None
    if token_secret is not None:
        token, expires = make_logbook_token(token_secret, stamp, token_ttl, vo, now)
    common = dict(token=token, work_base=work_base, cleanup=cleanup)
    if variant == "batch":
        source, clear, node_sha256, tail = embedded_source(verified.data, encoding)
        text, after = node_script(
            "batch",
            stamp,
            argv,
            source,
            node_sha256,
            _artifact_note(verified),
            source_note="embedded, %s" % ENCODING_NAMES[encoding],
            clear_block=clear,
            tail=tail,
            **common,
        )
        return Wrapper(variant, text, stamp, verified.sha256, node_sha256, verified.key_id, expires, after)
    if variant == "fetch":
        if fetch_check not in FETCH_CHECKS:
            raise WrapperError("unknown fetch check %r (%s)" % (fetch_check, ", ".join(FETCH_CHECKS)))
        pem = signing.public_pem(verified.public_key).decode("ascii") if fetch_check != "sha256" else ""
        sha256 = verified.sha256 if fetch_check != "signature" else ""
        source = fetch_source(list(urls), pem, fetch_rounds, fetch_pause)
        checks = {"both": "sha256 and signature", "sha256": "sha256", "signature": "signature"}[fetch_check]
        text, _ = node_script(
            "fetch",
            stamp,
            argv,
            source,
            sha256,
            _artifact_note(verified),
            source_note="downloaded, checked by %s" % checks,
            **common,
        )
        return Wrapper(variant, text, stamp, verified.sha256, sha256 or None, verified.key_id, expires)
    # vm
    if not USER_PATTERN.match(vm_user or ""):
        raise WrapperError("VM user %r must be a lowercase user name ([a-z_][a-z0-9_-]*)" % vm_user)
    payload, node_sha256 = encode_payload(verified.data, "pyz")
    if "WholeNode" not in pilot_options.parse(argv).values.get("tags", []):
        argv = argv + ["-t", "WholeNode"]  # the VM is the pilot's: its processors are not 1 (DIRAC's default)
    run_script, _ = node_script(
        "vm",
        stamp,
        argv,
        file_source(VM_PYZ),
        node_sha256,
        _artifact_note(verified),
        source_note="the file %s written by cloud-init" % VM_PYZ,
        **common,
    )
    boot = _fill(
        _template("vm-boot.sh", keep=2),
        {
            "VERSION": __version__,
            "RUN_SCRIPT": VM_RUN_SCRIPT,
            "USER": vm_user,
            "HOME": VM_HOME,
            "BOOT_LOG": VM_BOOT_LOG,
            "LOG_DIR": VM_LOG_DIR,
            "PYZ": VM_PYZ,
            "Q_USER": shell_quote(vm_user),
            "Q_POWEROFF": shell_quote("yes" if vm_poweroff else "no"),
        },
    )
    text = cloud_config(run_script, payload, boot, vm_user)
    return Wrapper(variant, text, stamp, verified.sha256, node_sha256, verified.key_id, expires)


# -- pilotctl wrapper -----------------------------------------------------------------------


def register(commands):
    parser = one_line_errors(
        commands.add_parser(
            "wrapper",
            help="verify a signed pilot.pyz and write a wrapper for a CE or a VM",
            description="Verify the signed pyz against the trusted keys, then write a wrapper: batch (a /bin/sh "
            "job executable with the pyz embedded), vm (cloud-init user data) or fetch (downloads "
            "the pyz from --url locations and checks it).  Pilot options come after '--'.  The "
            "stamp is printed; the logbook token never is.  Exit 0 written, 1 refused, 2 usage.",
            usage="pilotctl wrapper --variant {batch,vm,fetch} --trust PATH --output FILE [options] "
            "[-- PILOT OPTIONS...]",
        )
    )
    parser.add_argument("--variant", required=True, choices=VARIANTS)
    parser.add_argument(
        "--artifact", default=None, metavar="PYZ", help="the signed pilot (default: dist/pilot.pyz of this checkout)"
    )
    parser.add_argument(
        "--trust",
        action="append",
        required=True,
        metavar="PATH",
        help="trusted public key (PEM) or directory of *.pem; repeatable",
    )
    parser.add_argument("--signature", metavar="FILE", help="default: PYZ.sig")
    parser.add_argument("--manifest", metavar="FILE", help="default: PYZ.manifest.json, if present")
    parser.add_argument("--output", required=True, metavar="FILE", help="where to write the wrapper (mode 0700)")
    parser.add_argument("--stamp", metavar="HEX32", help="pilot stamp (default: a new random one)")
    parser.add_argument(
        "--token-secret", metavar="FILE", help="logbook secret file (0600): embed a pilot token scoped to the stamp"
    )
    parser.add_argument(
        "--token-ttl",
        type=int,
        default=tokens.DEFAULT_TTL,
        metavar="SECONDS",
        help="token lifetime (default %d)" % tokens.DEFAULT_TTL,
    )
    parser.add_argument("--vo", help="VO recorded in the token")
    parser.add_argument(
        "--work-base",
        default="",
        metavar="DIR",
        help="preferred work base on the node (before $_CONDOR_SCRATCH_DIR, $TMPDIR, ...)",
    )
    parser.add_argument(
        "--cleanup", action="store_true", help="remove the work directory at the end (logs are copied out first)"
    )
    parser.add_argument(
        "--payload",
        choices=ENCODINGS,
        default="b94",
        help="batch: b94 = base94 of the signed pyz (default, decoded by the node's Python); "
        "pyz = base64 of it, 10%% larger, also decoded by base64 -d or openssl; raw = the "
        "pyz's bytes after the script (base 254: no NUL or CR byte, so sbatch takes it), 17%% "
        "smaller, for CEs that take the job's executable as a binary file (the script must be "
        "run from its file, not from stdin)",
    )
    parser.add_argument(
        "--url",
        action="append",
        default=[],
        metavar="URL",
        help="fetch: a location of pilot.pyz (URL.sig beside it); repeatable, tried in order",
    )
    parser.add_argument(
        "--fetch-check",
        choices=FETCH_CHECKS,
        default="both",
        help="fetch: what is anchored in the wrapper (default both)",
    )
    parser.add_argument("--fetch-rounds", type=int, default=2, metavar="N", help="fetch: rounds over the URLs")
    parser.add_argument("--fetch-pause", type=int, default=10, metavar="S", help="fetch: pause between rounds")
    parser.add_argument("--vm-user", default="pilot", metavar="NAME", help="vm: the user that runs the pilot")
    parser.add_argument("--vm-poweroff", action="store_true", help="vm: power off when the pilot ends")
    parser.add_argument("pilot_options", nargs="*", metavar="PILOT_OPTION")
    parser.set_defaults(handler=wrapper_command)


def _default_artifact():
    from pilot_server import pyzbuild

    return pyzbuild.default_output()


def wrapper_command(args):
    prog = "pilotctl wrapper"
    artifact = args.artifact or _default_artifact()
    try:
        secret = tokens.read_secret(args.token_secret) if args.token_secret else None
        verified = verify(artifact, args.trust, args.signature, args.manifest)
        made = make_wrapper(
            args.variant,
            verified,
            args.pilot_options,
            stamp=args.stamp,
            token_secret=secret,
            token_ttl=args.token_ttl,
            vo=args.vo,
            work_base=args.work_base,
            cleanup=args.cleanup,
            encoding=args.payload,
            urls=args.url,
            fetch_check=args.fetch_check,
            fetch_rounds=args.fetch_rounds,
            fetch_pause=args.fetch_pause,
            vm_user=args.vm_user,
            vm_poweroff=args.vm_poweroff,
        )
        made.write(args.output)
    except (WrapperError, tokens.TokenError) as exc:
        return fail(prog, exc)
    except OSError as exc:
        return fail(prog, "%s: %s" % (exc.filename or args.output, exc.strerror or exc))
    say(
        "wrote %s: %s wrapper, %d bytes, stamp %s, pilot sha256 %s, key %s%s"
        % (
            args.output,
            made.variant,
            made.size,
            made.stamp,
            made.pilot_sha256,
            made.key_id,
            ", logbook token until %s" % time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(made.token_expires))
            if made.token_expires
            else "",
        )
    )
    return OK
