# the last $pw_raw_size bytes of the script: pw_decoder of templates/unpack_tail.sh
pw_decode_with() {
    "$pw_py" -c "$pw_decoder" "$pw_self" "$pw_raw_size" "$pw_raw_size" "$2"
}
