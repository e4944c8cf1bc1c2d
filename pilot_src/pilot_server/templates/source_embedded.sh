
# -- the pilot, embedded: @ENCODING_NOTE@
pw_encoding=@Q_ENCODING@
pw_payload() {
    cat <<'PILOT_PAYLOAD_END'
@PAYLOAD@
PILOT_PAYLOAD_END
}

pw_decode_with() {  # pw_decode_with TOOL OUT
    case $1 in
    python) pw_payload | "$pw_py" -c 'import base64, struct, sys
data = "".join(sys.stdin.read().split())
if sys.argv[2] == "pyz":
    data = base64.b64decode(data.encode("ascii"))
elif hasattr(base64, "b85decode"):
    data = base64.b85decode(data)
else:  # Python 2: base85 (RFC 1924 alphabet) by hand
    digits = dict((c, i) for i, c in enumerate("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz!#$%&()*+-;<=>?@^_`{|}~"))
    pad = -len(data) % 5
    data += "~" * pad
    out = []
    for i in range(0, len(data), 5):
        n = 0
        for c in data[i:i + 5]:
            n = n * 85 + digits[c]
        out.append(struct.pack(">I", n))
    data = "".join(out)[:len(out) * 4 - pad]
out = open(sys.argv[1], "wb")
out.write(data)
out.close()' "$2" "$pw_encoding" ;;
    base64) [ "$pw_encoding" = pyz ] && command -v base64 >/dev/null 2>&1 && pw_payload | base64 -d > "$2" ;;
    openssl) [ "$pw_encoding" = pyz ] && command -v openssl >/dev/null 2>&1 && pw_payload | openssl base64 -d > "$2" ;;
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
