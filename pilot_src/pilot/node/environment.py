"""The environment the pilot gives its children (never os.environ itself).

* The base environment: a copy of the pilot's, with $PYTHONPATH saved to
  $PYTHONPATH_SAVE and emptied (a site value broke gfal2, DIRAC#3352) unless
  -k, the stamp exported, the grid security directories set (below), and
  the pilot's logbook credentials ($PILOT_LOGBOOK_TOKEN_FILE,
  $PILOT_STOMP_LOGIN/PASSCODE) removed.
* The release environment: what sourcing the release's ``diracosrc`` adds,
  captured once by InstallDIRAC (exactly: on Linux the bytes of
  /proc/self/environ of a ``cat`` started after ``source``, elsewhere JSON printed by
  the pilot's interpreter) and handed to every later command.

Security directories (DIRAC's rule): for X509_CERT_DIR (certificates),
X509_VOMS_DIR (vomsdir) and X509_VOMSES (vomses), the first CVMFS location
with a non-empty ``etc/grid-security/<dir>`` wins, else a set, non-empty
variable is kept.  Listings of CVMFS run with a timeout (lazy mounts hang).
"""

import json
import os
import re
import sys

from ..shims import compat
from . import nodeinfo

# The pilot's own logbook credentials: never handed to its children (payloads run there).
PILOT_ONLY = ("PILOT_LOGBOOK_TOKEN_FILE", "PILOT_STOMP_LOGIN", "PILOT_STOMP_PASSCODE")
SECURITY_DIRS = (("X509_CERT_DIR", "certificates"), ("X509_VOMS_DIR", "vomsdir"), ("X509_VOMSES", "vomses"))
# Never copied from a release rc file into the environment of later commands.
SKIPPED = re.compile(r"^(_|SHLVL|PWD|OLDPWD|BASH_FUNC_.*|.*SSH.*)$")
# Never written to bashrc / environmentSourceDirac (they hold secrets or are per-session).
SECRET = re.compile(r"(TOKEN|SECRET|PASSWORD|PASSWD|KEY)$|^X509_USER_PROXY$", re.I)
PROBE_SECONDS = 60
PROC_ENVIRON = "/proc/self/environ"  # read by the cat of capture_rc: its own environment


def security_directories(cvmfs_locations, environ, probe_seconds=PROBE_SECONDS):
    """{variable: (path, source)} for the grid security directories found."""
    found = {}
    for variable, name in SECURITY_DIRS:
        for location in cvmfs_locations:
            path = os.path.join(location, "etc", "grid-security", name)
            state, _ = nodeinfo.probe_directory(path, probe_seconds)
            if state == "visible":
                found[variable] = (path, "CVMFS %s" % location)
                break
        else:
            value = environ.get(variable)
            if value and os.path.exists(value):
                found[variable] = (value, "environment")
    return found


def base_environment(environ, params, security=None):
    """The environment every child starts from (a new dict)."""
    env = dict(environ)
    for name in PILOT_ONLY:
        env.pop(name, None)
    if not params.keepPythonPath and env.get("PYTHONPATH"):
        env["PYTHONPATH_SAVE"] = env["PYTHONPATH"]
        env["PYTHONPATH"] = ""
    env["DIRAC_PILOT_STAMP"] = params.pilotUUID
    for variable, (path, _) in (security or {}).items():
        env[variable] = path
    if "X509_VOMSES" in env:
        env["DIRAC_VOMSES"] = env["X509_VOMSES"]
    if params.useServerCertificate:
        env["X509_USER_PROXY"] = params.certsLocation
    return env


# A fixed script: the rc file, the interpreter, the dump file and /proc/self/environ come in as "$1" ... "$4",
# never interpolated into the script text.  On Linux /bin/cat (by path: the rc file may change PATH)
# copies its own environment (what bash exports after ``source``) from /proc byte for byte into the
# dump file: no interpreter to start.
# Elsewhere the interpreter prints it as JSON.
# -E: a PYTHONHOME or PYTHONPATH the release sets (for its own Python) cannot break this one;
# os.environ still has them.  (Not -S: a virtualenv's Python 2 finds its standard library through site.)
_CAPTURE = ('source "$1" >/dev/null 2>&1 || exit $?; '
            'if [ -r "$4" ] && [ -x /bin/cat ]; then exec /bin/cat "$4" >"$3"; fi; exec "$2" -E -c '
            '"import json, os, sys; sys.stdout.write(json.dumps(dict(os.environ)))"')


def capture_rc(rc_file, base_env, runner, log, python=None):
    """The environment after ``source rc_file`` (a dict), or (None, reason)."""
    # The dump holds the environment (secrets too): a new 0600 file of the work directory, removed here.
    dump = os.path.abspath(".pilot-env-%d" % os.getpid())
    try:
        if os.path.lexists(dump):
            os.unlink(dump)
        os.close(os.open(dump, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 384))  # 0600
    except OSError as exc:
        return None, "cannot write %s: %s" % (dump, exc)
    try:
        args = ["/bin/bash", "-c", _CAPTURE, "capture-env", rc_file, python or sys.executable, dump,
                PROC_ENVIRON]
        # log_stdout=False: the dumped environment may hold secrets and never goes to the log.
        result = runner.run(args, log, env=base_env, capture=True, log_stdout=False,
                            program="source %s" % os.path.basename(rc_file))
        if not result.ok:
            return None, result.describe()
        try:
            handle = open(dump, "rb")
            try:
                raw = handle.read()
            finally:
                handle.close()
        except (IOError, OSError) as exc:
            return None, "cannot read the environment of %s: %s" % (rc_file, exc)
    finally:
        try:
            os.unlink(dump)
        except OSError:
            pass
    if raw:
        captured = _from_proc(raw)
    else:
        try:
            captured = json.loads(result.last_line())
        except ValueError as exc:
            return None, "cannot read the environment of %s: %s" % (rc_file, exc)
    env = dict(base_env)
    for name, value in captured.items():
        if not SKIPPED.match(name):
            env[name] = value
    return env, None


def _from_proc(raw):
    """{name: value} of a /proc/<pid>/environ dump, as os.environ holds them (bytes on 2)."""
    found = {}
    for entry in raw.split(b"\0"):
        name, sep, value = entry.partition(b"=")
        if not sep or not name:
            continue
        if not compat.PY2:
            # what os.environ does with bytes that are not in the file system's encoding
            name, value = [part.decode(sys.getfilesystemencoding(), "surrogateescape") for part in (name, value)]
        found[name] = value
    return found


def write_exports(path, env, base_env=None, mode=0o600):
    """``export NAME=value`` lines (quoted) for the variables a release added or changed.

    Secrets (tokens, passwords, the proxy path) are never written.
    """
    lines = []
    for name in sorted(env):
        if SECRET.search(name) or SKIPPED.match(name):
            continue
        if base_env is not None and base_env.get(name) == env[name]:
            continue
        lines.append("export %s=%s\n" % (name, compat.shell_quote(compat.to_text(env[name]))))
    from ..config.fetch import write_atomic

    write_atomic(path, compat.to_bytes("".join(lines)), mode)
    return len(lines)
