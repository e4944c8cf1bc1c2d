
# -- the pilot, embedded: @ENCODING_NOTE@
pw_encoding=@Q_ENCODING@
pw_payload() {
    cat <<'PILOT_PAYLOAD_END'
@PAYLOAD@
PILOT_PAYLOAD_END
}

pw_decode_with() {  # pw_decode_with TOOL OUT
    case $1 in
    python) pw_payload | "$pw_py" -c 'import base64, sys
data = sys.stdin.read()
if not isinstance(data, bytes):
    data = data.encode("ascii")
data = base64.b64decode(data)
if sys.argv[2] == "bz2":
    import bz2
    data = bz2.decompress(data)
out = open(sys.argv[1], "wb")
out.write(data)
out.close()' "$2" "$pw_encoding" ;;
    base64) command -v base64 >/dev/null 2>&1 || return 1
        if [ "$pw_encoding" = bz2 ]; then
            command -v bzip2 >/dev/null 2>&1 && pw_payload | base64 -d | bzip2 -dc > "$2"
        else
            pw_payload | base64 -d > "$2"
        fi ;;
    openssl) command -v openssl >/dev/null 2>&1 || return 1
        if [ "$pw_encoding" = bz2 ]; then
            command -v bzip2 >/dev/null 2>&1 && pw_payload | openssl base64 -d | bzip2 -dc > "$2"
        else
            pw_payload | openssl base64 -d > "$2"
        fi ;;
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
