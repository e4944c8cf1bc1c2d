# -- the pilot, embedded: @ENCODING_NOTE@
pw_payload() {
    cat <<'PILOT_PAYLOAD_END'
@PAYLOAD@
PILOT_PAYLOAD_END
}
