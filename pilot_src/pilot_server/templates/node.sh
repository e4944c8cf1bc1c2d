#!/bin/sh
# Pilots 2.0 pilot wrapper, variant @VARIANT@, made by pilotctl @VERSION@.
# Runs under a POSIX /bin/sh (tested with dash and bash).  What it does:
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
pw_artifact=@Q_ARTIFACT@
pw_work_base=@Q_WORK_BASE@
pw_cleanup=@Q_CLEANUP@
pw_token=@Q_TOKEN@
pw_shown_options=@Q_SHOWN_OPTIONS@
pw_start_dir=$(pwd 2>/dev/null) || pw_start_dir=
pw_work=
pw_py=
pw_py_version=
pw_child=

pw_log() {  # pw_log LEVEL MESSAGE
    pw_line=$(printf '%s %-7s [Wrapper] %s' "$(date -u '+%Y-%m-%dT%H:%M:%SZ' 2>/dev/null)" "$1" "$2")
    printf '%s\n' "$pw_line"
    if [ "$1" = ERROR ]; then printf '%s\n' "$pw_line" >&2; fi
    if [ -n "$pw_work" ]; then printf '%s\n' "$pw_line" >> "$pw_work/wrapper.log" 2>/dev/null; fi
}

pw_keep_logs() {
    if [ -n "$pw_work" ] && [ -n "$pw_start_dir" ] && [ "$pw_start_dir" != "$pw_work" ]; then
        for pw_f in pilot.out pilot_result.json; do
            [ -f "$pw_work/$pw_f" ] || continue
            case $pw_f in *.json) pw_to=pilot-$pw_stamp.result.json ;; *) pw_to=pilot-$pw_stamp.out ;; esac
            cp "$pw_work/$pw_f" "$pw_start_dir/$pw_to" 2>/dev/null && pw_log INFO "copied $pw_f to $pw_start_dir/$pw_to"
        done
    fi
    if [ "$pw_cleanup" = yes ] && [ -n "$pw_work" ] && [ -d "$pw_work" ]; then
        pw_log INFO "removing the work directory $pw_work (--cleanup)"
        cd / && rm -rf "$pw_work"
    elif [ -n "$pw_work" ]; then
        pw_log INFO "work directory kept: $pw_work"
    fi
}

pw_die() {  # pw_die CODE MESSAGE
    pw_log ERROR "$2 (wrapper exit code $1)"
    pw_keep_logs
    exit "$1"
}

pw_probe_seconds=${PILOT_PYTHON_PROBE_SECONDS:-20}
case $pw_probe_seconds in ''|*[!0-9]*|0) pw_probe_seconds=20 ;; esac

pw_bounded() {  # pw_bounded SECONDS COMMAND...: runs COMMAND, killed after SECONDS (status 124)
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

pw_python_version() {  # prints X.Y.Z and succeeds when $1 runs and is 2.6, 2.7 or 3.6+ (a Python that hangs: skipped)
    pw_bounded "$pw_probe_seconds" "$1" -c 'import sys; v = sys.version_info; sys.stdout.write("%d.%d.%d" % (v[0], v[1], v[2])); sys.exit(not ((2, 6) <= tuple(v[:2]) < (3, 0) or tuple(v[:2]) >= (3, 6)))' 2>/dev/null
}

pw_find_python() {
    for pw_c in "${PILOT_PYTHON:-}" python3 python python2 /usr/libexec/platform-python python3.13 \
            python3.12 python3.11 python3.10 python3.9 python3.8 python3.7 python3.6 python2.7 python2.6; do
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

pw_make_workdir() {
    for pw_base in "${PILOT_WORK_BASE:-$pw_work_base}" "${_CONDOR_SCRATCH_DIR:-}" "${TMPDIR:-}" \
            "$pw_start_dir" "${HOME:-}" /tmp; do
        [ -n "$pw_base" ] && [ -d "$pw_base" ] || continue
        pw_dir=$(mktemp -d "$pw_base/pilot.XXXXXXXX" 2>/dev/null)
        if [ -n "$pw_dir" ] && [ -d "$pw_dir" ]; then pw_work=$pw_dir; return 0; fi
        pw_dir=$pw_base/pilot.$$  # no mktemp: mkdir fails if it exists, so the name is ours
        if (umask 077 && mkdir "$pw_dir") 2>/dev/null; then pw_work=$pw_dir; return 0; fi
    done
    return 1
}

pw_sha256_of() {  # prints the sha256 of file $1
    pw_sum=
    if command -v sha256sum >/dev/null 2>&1; then
        pw_sum=$(sha256sum < "$1" 2>/dev/null) && pw_sum=${pw_sum%% *}
    fi
    case $pw_sum in
    [0-9a-f]*) ;;
    *) pw_sum=$("$pw_py" -c 'import hashlib, sys; f = open(sys.argv[1], "rb"); sys.stdout.write(hashlib.sha256(f.read()).hexdigest()); f.close()' "$1" 2>/dev/null) ;;
    esac
    printf '%s' "$pw_sum"
}

pw_check_sha256() {  # pw_check_sha256 FILE WHAT: succeeds when FILE has the sha256 anchored here
    pw_got=$(pw_sha256_of "$1")
    if [ "$pw_got" = "$pw_sha256" ]; then
        pw_log INFO "$2: sha256 $pw_got as expected"
        return 0
    fi
    pw_log WARNING "$2: sha256 ${pw_got:-unknown}, expected $pw_sha256"
    return 1
}
@SOURCE@
pw_log INFO "Pilots 2.0 wrapper ($pw_variant) for pilot $pw_stamp on $(uname -n 2>/dev/null); $pw_artifact"
pw_find_python || pw_die 4 "no usable Python (2.6, 2.7 or 3.6+): tried ${PILOT_PYTHON:+$PILOT_PYTHON, }python3, python, python2, /usr/libexec/platform-python, python3.13 ... python3.6, python2.7, python2.6"
pw_log INFO "Python: $pw_py ($pw_py_version)"
pw_make_workdir || pw_die 3 "no writable work directory in \$PILOT_WORK_BASE, \$_CONDOR_SCRATCH_DIR, \$TMPDIR, ${pw_start_dir:-the start directory}, \$HOME or /tmp"
pw_log INFO "work directory: $pw_work"
pw_obtain_pilot
cd "$pw_work" || pw_die 3 "cannot enter $pw_work"

DIRAC_PILOT_STAMP=$pw_stamp
export DIRAC_PILOT_STAMP
if [ -n "$pw_token" ]; then
    # A file, not an environment variable or an argument: payloads do not inherit it.
    (umask 077 && printf '%s\n' "$pw_token" > "$pw_work/logbook.token") || pw_die 3 "cannot write $pw_work/logbook.token"
    PILOT_LOGBOOK_TOKEN_FILE=$pw_work/logbook.token
    export PILOT_LOGBOOK_TOKEN_FILE
    pw_log INFO "logbook token for $pw_stamp in \$PILOT_LOGBOOK_TOKEN_FILE ($PILOT_LOGBOOK_TOKEN_FILE)"
fi
pw_token=

pw_forward() {
    pw_log WARNING "got SIG$1: passing it to the pilot (pid $pw_child)"
    [ -z "$pw_child" ] || kill -s "$1" "$pw_child" 2>/dev/null
}
trap 'pw_forward TERM' TERM
trap 'pw_forward INT' INT
trap 'pw_forward USR1' USR1
trap 'pw_forward XCPU' XCPU

pw_log INFO "starting the pilot: $pw_py pilot.pyz $pw_shown_options --pilotUUID $pw_stamp"
# A background job gets /dev/null as stdin unless it is given one: keep the wrapper's.
if (: <&0) 2>/dev/null; then exec 3<&0; else exec 3</dev/null; fi
"$pw_py" "$pw_work/pilot.pyz" @OPTIONS@ --pilotUUID "$pw_stamp" 0<&3 3<&- &
pw_child=$!
exec 3<&-
while :; do
    wait "$pw_child"
    pw_rc=$?
    # A trapped signal interrupts wait (status > 128) while the pilot still runs: wait again.
    if [ "$pw_rc" -gt 128 ] && kill -0 "$pw_child" 2>/dev/null; then continue; fi
    break
done
pw_log INFO "the pilot exited with code $pw_rc"
if [ -s "$pw_work/pilot_log.spool" ]; then
    # A pilot killed before its own exit path left its unsent log here: hand it to the next
    # pilot on this node (pilot/logs/loghandoff.py), at most 30 s.
    pw_handoff=$(pw_bounded 30 "$pw_py" "$pw_work/pilot.pyz" --hand-off-log 2>&1 </dev/null)
    pw_log INFO "${pw_handoff:-log hand-off: no answer within 30 s}"
fi
pw_keep_logs
exit "$pw_rc"
