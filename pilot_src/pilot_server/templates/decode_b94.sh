# base94 lines in pw_payload: the decoder that unpacked the stage (pw_decoder of templates/unpack_text.sh)
pw_decode_with() {
    pw_payload | "$pw_py" -c "$pw_decoder" "$2"
}
