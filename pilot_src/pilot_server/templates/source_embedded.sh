
# -- the pilot, embedded (pw_payload or the script's tail, before the stage): pw_decode_with TOOL OUT
# writes pilot.pyz with one of @TOOLS@ (templates/decode_<encoding>.sh).
@DECODE@

pw_obtain_pilot() {
    for pw_tool in @TOOLS@; do
        rm -f "$pw_work/pilot.pyz"
        if pw_decode_with "$pw_tool" "$pw_work/pilot.pyz" 2>/dev/null && [ -s "$pw_work/pilot.pyz" ]; then
            pw_log INFO "pilot.pyz decoded with $pw_tool"
            pw_check_sha256 "$pw_work/pilot.pyz" "pilot.pyz" || pw_die 255 "the embedded pilot failed its sha256 check"
            return 0
        fi
    done
    pw_die 3 "cannot decode the embedded pilot (tried @TRIED@)"
}
