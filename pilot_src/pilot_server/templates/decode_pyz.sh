# base64 lines in pw_payload: the node's Python, else base64 -d, else openssl base64 -d
pw_decode_with() {
    case $1 in
    python) pw_payload | "$pw_py" -c 'import base64, sys
out = open(sys.argv[1], "wb")
out.write(base64.b64decode("".join(sys.stdin.read().split()).encode("ascii")))
out.close()' "$2" ;;
    base64) command -v base64 >/dev/null 2>&1 && pw_payload | base64 -d > "$2" ;;
    openssl) command -v openssl >/dev/null 2>&1 && pw_payload | openssl base64 -d > "$2" ;;
    *) return 1 ;;
    esac
}
