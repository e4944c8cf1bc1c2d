
# -- the pilot, downloaded: each location in turn, @FETCH_ROUNDS@ round(s); checked against
# the sha256 (when pinned) and the signature (when a key is embedded), both anchored here.
pw_urls=@Q_URLS@
pw_rounds=@FETCH_ROUNDS@
pw_pause=@FETCH_PAUSE@
pw_has_key=@Q_HAS_KEY@
pw_key() {
    cat <<'PILOT_KEY_END'
@KEY_PEM@
PILOT_KEY_END
}
# pw_verifier: pilot/config/rsaverify.py of the pilot sources, verbatim
pw_verifier() {
    cat <<'PILOT_RSAVERIFY_END'
@RSAVERIFY@
PILOT_RSAVERIFY_END
}

# pw_download URL OUT
pw_download() {
    case $1 in
    file://*) cp "${1#file://}" "$2" 2>/dev/null; return ;;
    file:*) cp "${1#file:}" "$2" 2>/dev/null; return ;;
    esac
    pw_capath=${X509_CERT_DIR:-/etc/grid-security/certificates}
    [ -d "$pw_capath" ] || pw_capath=
    if command -v curl >/dev/null 2>&1; then
        if [ -n "$pw_capath" ]; then
            curl --fail --silent --show-error --location --connect-timeout 10 --max-time 300 \
                --capath "$pw_capath" -o "$2" "$1" && return 0
        else
            curl --fail --silent --show-error --location --connect-timeout 10 --max-time 300 -o "$2" "$1" && return 0
        fi
    elif command -v wget >/dev/null 2>&1; then
        if [ -n "$pw_capath" ]; then
            wget -q --timeout=30 --tries=1 --ca-directory="$pw_capath" -O "$2" "$1" && return 0
        else
            wget -q --timeout=30 --tries=1 -O "$2" "$1" && return 0
        fi
    else
        "$pw_py" -c 'import sys
try:
    from urllib.request import urlopen
except ImportError:
    from urllib2 import urlopen
data = urlopen(sys.argv[1], timeout=30).read()
out = open(sys.argv[2], "wb")
out.write(data)
out.close()' "$1" "$2" && return 0
    fi
    return 1
}

pw_obtain_pilot() {
    if [ "$pw_has_key" = yes ]; then
        pw_key > "$pw_work/pilot-signing.pub.pem" && pw_verifier > "$pw_work/rsaverify.py" ||
            pw_die 3 "cannot write the verifier into $pw_work"
    fi
    pw_round=1
    while [ "$pw_round" -le "$pw_rounds" ]; do
        for pw_url in $pw_urls; do
            rm -f "$pw_work/pilot.pyz" "$pw_work/pilot.pyz.sig"
            if ! pw_download "$pw_url" "$pw_work/pilot.pyz" || [ ! -s "$pw_work/pilot.pyz" ]; then
                pw_log WARNING "$pw_url: download failed"
                continue
            fi
            if [ -n "$pw_sha256" ] && ! pw_check_sha256 "$pw_work/pilot.pyz" "$pw_url"; then
                continue
            fi
            if [ "$pw_has_key" = yes ]; then
                if ! pw_download "$pw_url.sig" "$pw_work/pilot.pyz.sig"; then
                    pw_log WARNING "$pw_url.sig: download failed"
                    continue
                fi
                if ! pw_msg=$("$pw_py" "$pw_work/rsaverify.py" --key "$pw_work/pilot-signing.pub.pem" \
                        --signature "$pw_work/pilot.pyz.sig" "$pw_work/pilot.pyz" 2>&1); then
                    pw_log WARNING "$pw_url: $pw_msg"
                    continue
                fi
                pw_log INFO "$pw_msg"
            fi
            pw_log INFO "pilot.pyz from $pw_url"
            return 0
        done
        pw_round=$((pw_round + 1))
        if [ "$pw_round" -le "$pw_rounds" ]; then
            pw_log INFO "no location worked; round $pw_round of $pw_rounds in $pw_pause s"
            sleep "$pw_pause"
        fi
    done
    pw_die 255 "no location gave a pilot that passed its checks"
}
