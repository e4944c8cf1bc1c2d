# The stage (deflated) and the pilot are this file's last bytes, after "exit", in base 254: blocks
# of n + 1 bytes for n bytes, big-endian digits written as the byte values 1-255 but 13, so that
# no NUL nor CR appears (sbatch refuses them; wrapper.b254encode).  pw_decoder FILE FROM_END SIZE
# OUT decodes SIZE bytes that start FROM_END bytes before the end: the stage ("-": inflated, to
# stdout) or the pilot (a file).
pw_raw_size=@RAW_SIZE@
case $0 in /*) pw_self=$0 ;; *) pw_self=$pw_start_dir/$0 ;; esac
pw_decoder='import binascii, sys, zlib
a = sys.argv
f = open(a[1], "rb")
s = bytearray(f.read()[-int(a[2]):][:int(a[3])])
h = []
for i in range(0, len(s), 707):
    b = s[i:i + 707]
    n = 0
    for c in b:
        n = n * 254 + c - 1 - (c > 13)
    h.append("%0*x" % (2 * len(b) - 2, n))
d = binascii.unhexlify("".join(h))
if a[4] == "-":
    d = zlib.decompress(d, -15)
    f = getattr(sys.stdout, "buffer", sys.stdout)
else:
    f = open(a[4], "wb")
f.write(d)
f.close()'
pw_s=$("$pw_py" -c "$pw_decoder" "$pw_self" @TAIL_SIZE@ @STAGE_SIZE@ -) || pw_die 3 "cannot unpack the wrapper's stage with $pw_py"
