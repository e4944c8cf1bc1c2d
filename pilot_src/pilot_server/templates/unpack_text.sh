# Base94 (printable ASCII but space; the first character is 33 + the bytes of padding, then
# 83 characters per 68 bytes) to bytes: the stage ("-": zlib, to stdout) or the pilot (a file).
pw_decoder='import binascii, sys, zlib
s = "".join(sys.stdin.read().split())
h = []
for i in range(1, len(s), 83):
    n = 0
    for c in s[i:i + 83]:
        n = n * 94 + ord(c) - 33
    h.append("%0136x" % n)
d = binascii.unhexlify("".join(h))[:len(h) * 68 + 33 - ord(s[0])]
if sys.argv[1] == "-":
    d = zlib.decompress(d, -15)
    f = getattr(sys.stdout, "buffer", sys.stdout)
else:
    f = open(sys.argv[1], "wb")
f.write(d)
f.close()'
@CLEAR@
pw_stage() {
    cat <<'PILOT_STAGE_END'
@STAGE@
PILOT_STAGE_END
}
pw_s=$(pw_stage | "$pw_py" -c "$pw_decoder" -) || pw_die 3 "cannot unpack the wrapper's stage with $pw_py"
