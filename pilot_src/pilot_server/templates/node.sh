#!/bin/sh
# Pilots 2.0 pilot wrapper, variant @VARIANT@, made by pilotctl @VERSION@.
# Runs under a POSIX /bin/sh (tested with dash and bash).  This part finds a Python, which then
# unpacks the stage (templates/stage.sh of pilotctl, compressed: zlib, base94) that the shell runs
# with eval: the steps after the first.  What the wrapper does:
#   1. picks a Python: $PILOT_PYTHON, python3, python, python2, /usr/libexec/platform-python,
#      python3.13 ... python3.6, python2.7, python2.6; each is run to check it is 2.6, 2.7 or 3.6+
#      (at most $PILOT_PYTHON_PROBE_SECONDS, default 20 s: one that hangs is skipped);
#   2. makes its own work directory (mktemp -d) in the first writable of $PILOT_WORK_BASE@WORK_BASE_NOTE@,
#      $_CONDOR_SCRATCH_DIR, $TMPDIR, the start directory, $HOME, /tmp, and writes only there;
#   3. gets pilot.pyz (@SOURCE_NOTE@) and checks it;
#   4. runs "$py pilot.pyz <options> --pilotUUID <stamp>" there (DIRAC_PILOT_STAMP is exported;
#      a logbook token, if any, is in the 0600 file named by $PILOT_LOGBOOK_TOKEN_FILE), passes
#      SIGTERM/INT/USR1/XCPU on to it, and exits with the pilot's exit code; a log the pilot
#      could not send nor hand off (it was killed) goes to the node's hand-off directory.
# Exit codes when the pilot did not start: 3 unpack failure (no writable work directory,
# decoding failed), 4 no usable Python, 255 no location answered or the pilot failed its
# sha256/signature check.  Logs: the wrapper's lines go to stdout (and wrapper.log), the pilot's
# to stdout and pilot.out; the work directory is @KEEP_NOTE@, and pilot.out/pilot_result.json are
# also copied to the start directory as pilot-<stamp>.out/.result.json when it is writable.
set -f
pw_variant=@Q_VARIANT@
pw_stamp=@Q_STAMP@
pw_sha256=@Q_SHA256@
pw_token=@Q_TOKEN@
pw_start_dir=$(pwd 2>/dev/null) || pw_start_dir=
pw_work=
pw_py=
pw_py_version=

# pw_log LEVEL MESSAGE
pw_log() {
    pw_line=$(printf '%s %-7s [Wrapper] %s' "$(date -u '+%Y-%m-%dT%H:%M:%SZ' 2>/dev/null)" "$1" "$2")
    printf '%s\n' "$pw_line"
    if [ "$1" = ERROR ]; then printf '%s\n' "$pw_line" >&2; fi
    if [ -n "$pw_work" ]; then printf '%s\n' "$pw_line" >> "$pw_work/wrapper.log" 2>/dev/null; fi
}

# pw_die CODE MESSAGE (pw_work and pw_keep_logs come from the stage)
pw_die() {
    pw_log ERROR "$2 (wrapper exit code $1)"
    [ -z "$pw_work" ] || pw_keep_logs
    exit "$1"
}

pw_probe_seconds=${PILOT_PYTHON_PROBE_SECONDS:-20}
case $pw_probe_seconds in ''|*[!0-9]*|0) pw_probe_seconds=20 ;; esac

# pw_bounded SECONDS COMMAND...: runs COMMAND, killed after SECONDS (status 124)
pw_bounded() {
    pw_limit=$1
    shift
    if command -v timeout >/dev/null 2>&1; then
        timeout -s KILL "$pw_limit" "$@"
        return $?
    fi
    "$@" &
    pw_bounded_pid=$!
    # the watchdog's output goes nowhere: a $(...) around us must not wait for its sleep
    (sleep "$pw_limit"; kill -9 "$pw_bounded_pid" 2>/dev/null) >/dev/null 2>&1 &
    pw_watchdog=$!
    wait "$pw_bounded_pid"
    pw_bounded_rc=$?
    kill "$pw_watchdog" 2>/dev/null
    return $pw_bounded_rc
}

# pw_python_version PYTHON: prints X.Y.Z and succeeds when it runs and is 2.6, 2.7 or 3.6+ (a
# Python that hangs is skipped)
pw_python_version() {
    pw_bounded "$pw_probe_seconds" "$1" -c 'import sys; v = sys.version_info[:3]; sys.stdout.write("%d.%d.%d" % v); sys.exit(not ((2, 6) <= v < (3,) or v >= (3, 6)))' 2>/dev/null
}

pw_pythons="python3 python python2 /usr/libexec/platform-python python3.13 python3.12 python3.11 python3.10 python3.9 python3.8 python3.7 python3.6 python2.7 python2.6"
pw_find_python() {
    for pw_c in "${PILOT_PYTHON:-}" $pw_pythons; do
        [ -n "$pw_c" ] || continue
        pw_path=$(command -v "$pw_c" 2>/dev/null) || continue
        [ -n "$pw_path" ] || continue
        pw_version=$(pw_python_version "$pw_path") || continue
        pw_py=$pw_path
        pw_py_version=$pw_version
        return 0
    done
    return 1
}

pw_log INFO "Pilots 2.0 wrapper ($pw_variant) for pilot $pw_stamp on $(uname -n 2>/dev/null)"
pw_find_python || pw_die 4 "no usable Python (2.6, 2.7 or 3.6+): tried ${PILOT_PYTHON:+$PILOT_PYTHON }$pw_pythons"
pw_log INFO "Python: $pw_py ($pw_py_version)"

@UNPACK@
eval "$pw_s"
exit 3
