#!/bin/sh
# Fallback provisioner for CPython 2.7.18, for machines whose image
# lacks the pyenv 2.7.18: Debian bullseye's packages, unpacked into PREFIX, no Docker,
# no root install, the host's apt left untouched (all apt state lives in a temp dir).
#
# Usage: .ci/provision-python27.sh [PREFIX]
#   PREFIX defaults to $PREFIX, else ~/.local/pilot-interpreters/py27.
#   The last line printed (the only one on stdout) is the python2.7 path.
#   Idempotent: does nothing when PREFIX/usr/bin/python2.7 already works.
#   The Debian archive is the one this machine's apt already uses (the first .../debian
#   URI of /etc/apt/sources.list.d/*.sources, /etc/apt/sources.list or *.list); no host is
#   written here.  DEBIAN_ARCHIVE=http://MIRROR (the part before /debian) overrides it;
#   PILOT_APT_ETC (default /etc/apt) is where the sources are read from.
set -eu

PREFIX=${1:-${PREFIX:-$HOME/.local/pilot-interpreters/py27}}
PY=$PREFIX/usr/bin/python2.7
CHECK='import ssl, hashlib, bz2, zlib, json; print(ssl.OPENSSL_VERSION)'
KR=/usr/share/keyrings/debian-archive-keyring.gpg
APT_ETC=${PILOT_APT_ETC:-/etc/apt}
say() { echo "provision-python27: $*" >&2; }

if [ -x "$PY" ] && "$PY" -c "$CHECK" >/dev/null 2>&1; then
    say "already there: $("$PY" -V 2>&1)"
    echo "$PY"
    exit 0
fi

for tool in apt-get dpkg; do
    command -v "$tool" >/dev/null || { say "needs $tool (a Debian-like host)"; exit 1; }
done
[ -r "$KR" ] || { say "needs $KR (apt-get install debian-archive-keyring)"; exit 1; }

if [ -z "${DEBIAN_ARCHIVE:-}" ]; then
    DEBIAN_ARCHIVE=$(sed -n 's#^URIs: *\([^ ]*\)/debian/*$#\1#p' "$APT_ETC"/sources.list.d/*.sources \
                     2>/dev/null | head -1)
fi
if [ -z "${DEBIAN_ARCHIVE:-}" ]; then
    DEBIAN_ARCHIVE=$(sed -n 's#^deb \(\[[^]]*\] \)\{0,1\}\([^ ]*\)/debian/* .*#\2#p' \
                     "$APT_ETC"/sources.list "$APT_ETC"/sources.list.d/*.list 2>/dev/null | head -1)
fi
if [ -z "${DEBIAN_ARCHIVE:-}" ]; then
    say "no Debian archive (an URI ending in /debian) in the apt sources: set DEBIAN_ARCHIVE=http://MIRROR"
    exit 1
fi

A=$(mktemp -d)
trap 'rm -rf "$A"' EXIT INT TERM
mkdir -p "$A/lists/partial" "$A/archives/partial" "$A/parts" "$A/prefs" "$A/debs" "$A/tools"
: > "$A/status"
printf 'deb [signed-by=%s] %s/debian bullseye main\ndeb [signed-by=%s] %s/debian-security bullseye-security main\n' \
    "$KR" "$DEBIAN_ARCHIVE" "$KR" "$DEBIAN_ARCHIVE" > "$A/sources.list"
cat > "$A/apt.conf" <<EOF
Dir::State "$A"; Dir::State::Lists "$A/lists"; Dir::State::status "$A/status";
Dir::Cache "$A"; Dir::Cache::archives "$A/archives"; Dir::Etc::SourceList "$A/sources.list";
Dir::Etc::SourceParts "$A/parts"; Dir::Etc::Preferences "$A/prefs/none";
Dir::Etc::PreferencesParts "$A/prefs";
APT::Architecture "$(dpkg --print-architecture)"; APT::Sandbox::User "$(id -un)";
EOF
export APT_CONFIG="$A/apt.conf"

say "fetching bullseye packages from $DEBIAN_ARCHIVE"
apt-get -q update >&2
PKGS="python2.7-minimal libpython2.7-minimal libpython2.7-stdlib libssl1.1 libffi7"
PATCHELF=$(command -v patchelf || true)
[ -n "$PATCHELF" ] || PKGS="$PKGS patchelf"
# shellcheck disable=SC2086
(cd "$A/debs" && apt-get -q download $PKGS >&2)

mkdir -p "$PREFIX"
for deb in "$A"/debs/*.deb; do
    case $(basename "$deb") in
        patchelf_*) dpkg -x "$deb" "$A/tools"; PATCHELF=$A/tools/usr/bin/patchelf ;;
        *) dpkg -x "$deb" "$PREFIX" ;;
    esac
done

# bullseye's libssl1.1/libffi7 live beside the binary; an absolute rpath (not $ORIGIN,
# which breaks when virtualenv copies the binary) lets python2.7 find them.
LIBDIR=$(dirname "$(find "$PREFIX/usr/lib" -name 'libssl.so.1.1' | head -1)")
if "$PATCHELF" --version >/dev/null 2>&1; then
    "$PATCHELF" --force-rpath --set-rpath "$LIBDIR" "$PY"
else
    say "no usable patchelf: set LD_LIBRARY_PATH=$LIBDIR to use $PY"
    export LD_LIBRARY_PATH="$LIBDIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi

if ! "$PY" -c "$CHECK" >&2; then
    say "$PY does not import ssl, hashlib, bz2, zlib and json"
    exit 1
fi
say "installed $("$PY" -V 2>&1) in $PREFIX"
echo "$PY"
