# The wrapper's stage: node.sh runs it with eval once it has found a Python.  The work directory,
# the pilot and its checks (@SOURCE@ below), the token file, the pilot's run with the signals passed
# on, the hand-off of an unsent log, the copies of the logs.  It travels compressed without these
# comment lines.
pw_artifact=@Q_ARTIFACT@
pw_work_base=@Q_WORK_BASE@
pw_cleanup=@Q_CLEANUP@
pw_shown_options=@Q_SHOWN_OPTIONS@
pw_log INFO "the pilot: $pw_artifact"
pw_child=
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

pw_make_workdir() {
    for pw_base in "${PILOT_WORK_BASE:-$pw_work_base}" "${_CONDOR_SCRATCH_DIR:-}" "${TMPDIR:-}" \
            "$pw_start_dir" "${HOME:-}" /tmp; do
        [ -n "$pw_base" ] && [ -d "$pw_base" ] || continue
        pw_dir=$(mktemp -d "$pw_base/pilot.XXXXXXXX" 2>/dev/null)
        if [ -n "$pw_dir" ] && [ -d "$pw_dir" ]; then pw_work=$pw_dir; return 0; fi
        # no mktemp: mkdir fails if the name exists, so a name it makes is ours
        pw_dir=$pw_base/pilot.$$
        if (umask 077 && mkdir "$pw_dir") 2>/dev/null; then pw_work=$pw_dir; return 0; fi
    done
    return 1
}

# pw_sha256_of FILE: prints its sha256
pw_sha256_of() {
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

# pw_check_sha256 FILE WHAT: succeeds when FILE has the sha256 anchored in the wrapper
pw_check_sha256() {
    pw_got=$(pw_sha256_of "$1")
    if [ "$pw_got" = "$pw_sha256" ]; then
        pw_log INFO "$2: sha256 $pw_got as expected"
        return 0
    fi
    pw_log WARNING "$2: sha256 ${pw_got:-unknown}, expected $pw_sha256"
    return 1
}
@SOURCE@
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
