
# -- the pilot, embedded (pw_payload, before the stage): decoded by the node's Python, a base64
# payload also by base64 -d or openssl base64 -d; raw: the last $pw_raw_size bytes of the script.
pw_decode_with() {  # pw_decode_with TOOL OUT
    case $pw_encoding.$1 in
    b94.python) pw_payload | "$pw_py" -c "$pw_decoder" "$2" ;;
    pyz.python) pw_payload | "$pw_py" -c 'import base64, sys
out = open(sys.argv[1], "wb")
out.write(base64.b64decode("".join(sys.stdin.read().split()).encode("ascii")))
out.close()' "$2" ;;
    pyz.base64) command -v base64 >/dev/null 2>&1 && pw_payload | base64 -d > "$2" ;;
    pyz.openssl) command -v openssl >/dev/null 2>&1 && pw_payload | openssl base64 -d > "$2" ;;
    raw.python) "$pw_py" -c 'import sys
f = open(sys.argv[1], "rb")
d = f.read()[-int(sys.argv[3]):]
f.close()
f = open(sys.argv[2], "wb")
f.write(d)
f.close()' "$pw_self" "$2" "$pw_raw_size" ;;
    *) return 1 ;;
    esac
}

pw_obtain_pilot() {
    for pw_tool in python base64 openssl; do
        rm -f "$pw_work/pilot.pyz"
        if pw_decode_with "$pw_tool" "$pw_work/pilot.pyz" 2>/dev/null && [ -s "$pw_work/pilot.pyz" ]; then
            pw_log INFO "pilot.pyz decoded with $pw_tool"
            pw_check_sha256 "$pw_work/pilot.pyz" "pilot.pyz" || pw_die 255 "the embedded pilot failed its sha256 check"
            return 0
        fi
    done
    pw_die 3 "cannot decode the embedded pilot (tried python, base64 -d, openssl base64 -d)"
}
