#!/bin/sh
# A real CPython 2.6 for the worker-node tests, built from its source tarball and cached.
#
# Usage: .ci/provision-python26.sh [SOURCE]
#   SOURCE: a cpython-2.6*.tar.xz, or a folder holding one.  Default: $PILOT_PY26_SOURCE,
#   else the folder sources/ of the cache (~/.cache/pilots2/sources/), else the anchors folder of
#   third-party sources kept beside the checkout on CI machines (no package registry has a 2.6).
#   The interpreter goes to ~/.cache/pilots2/python26-<first 12 hex of the tarball's sha256>/
#   (PILOTS2_CACHE overrides ~/.cache/pilots2); a tarball that changes gets a new folder.
#   The last line printed (the only one on stdout) is the path of its bin/python2.6.
#   Idempotent: a cached interpreter that works is reused at once.  The build log is kept
#   beside the cache folder (python26-<key>.log); a failure is one line on stderr and exit 1.
#
# The result has no ssl module (2.6's _ssl/_hashlib do not build against OpenSSL 3), like a
# minimal node; hashlib falls back to its built-in md5/sha modules.  Build facts: the
# multiarch library folders go into setup.py's lib_dirs (zlib, bz2), the generated AST files
# are touched so make does not regenerate them with the host's python, and gcc needs
# -fwrapv -O1 -fcommon -std=gnu89 for this old code.
set -eu

say() { echo "provision-python26: $*" >&2; }
fail() { say "$*"; exit 1; }
started=$(date +%s)
took() { echo "$(( $(date +%s) - started )) s"; }

CACHE=${PILOTS2_CACHE:-$HOME/.cache/pilots2}
# Where to look when no SOURCE is given: the cache's sources/ folder, then the folder of
# third-party sources that this project's CI machines keep beside the checkout (anchors/).
HERE=$(cd "$(dirname "$0")" && pwd)
BESIDE=$(dirname "$(dirname "$HERE")")/shared/anchors/cpython-2.6
if [ -z "${1:-}${PILOT_PY26_SOURCE:-}" ] && ! ls "$CACHE"/sources/cpython-2.6*.tar.xz >/dev/null 2>&1 \
        && [ -d "$BESIDE" ]; then
    SOURCE=$BESIDE
else
    SOURCE=${1:-${PILOT_PY26_SOURCE:-$CACHE/sources}}
fi
if [ -d "$SOURCE" ]; then
    TARBALL=$(ls "$SOURCE"/cpython-2.6*.tar.xz 2>/dev/null | sort | tail -1 || true)
    [ -n "$TARBALL" ] || fail "no cpython-2.6*.tar.xz in $SOURCE (set PILOT_PY26_SOURCE to the tarball or its folder)"
else
    TARBALL=$SOURCE
fi
[ -r "$TARBALL" ] || fail "cannot read the CPython 2.6 source $TARBALL (set PILOT_PY26_SOURCE to the tarball or its folder)"

KEY=$(sha256sum "$TARBALL" | cut -c1-12)
PREFIX=$CACHE/python26-$KEY
PY=$PREFIX/bin/python2.6
LOG=$PREFIX.log
# What the pilot and its tests need from the interpreter (ssl is expected to be absent).
CHECK='import sys, zlib, bz2, json, hashlib, socket, select, fcntl, subprocess, threading, zipimport, optparse
assert sys.version_info[:2] == (2, 6), sys.version
hashlib.sha256("x").hexdigest()'

works() { [ -x "$PY" ] && "$PY" -c "$CHECK" >/dev/null 2>&1; }

if works; then
    say "already there: $PY ($(took))"
    echo "$PY"
    exit 0
fi

# The tools of the build; apt-get installs them on a Debian-like machine that lacks them.
need=
command -v gcc >/dev/null || need="$need gcc libc6-dev"
command -v make >/dev/null || need="$need make"
[ -r /usr/include/zlib.h ] || need="$need zlib1g-dev"
[ -r /usr/include/bzlib.h ] || need="$need libbz2-dev"
if [ -n "$need" ]; then
    if ! command -v apt-get >/dev/null; then
        fail "missing$need and no apt-get to install them"
    fi
    SUDO=
    if [ "$(id -u)" != 0 ]; then
        sudo -n true 2>/dev/null || fail "missing$need; installing them needs root (or sudo)"
        SUDO="sudo -n"
    fi
    say "installing$need with apt-get"
    install() {
        # shellcheck disable=SC2086
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=300 install -y -q \
            --no-install-recommends $need >/dev/null 2>&1
    }
    install || { $SUDO apt-get -o DPkg::Lock::Timeout=300 update -q >/dev/null 2>&1; install; } \
        || fail "apt-get install$need failed"
fi

mkdir -p "$CACHE"
# One build at a time per key: a second caller waits and then finds the cached result.
if command -v flock >/dev/null; then
    exec 9>"$PREFIX.lock"
    flock 9
    if works; then
        say "built meanwhile by another run: $PY ($(took))"
        echo "$PY"
        exit 0
    fi
fi

WORK=$(mktemp -d "$CACHE/python26-build.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
trap 'exit 1' INT TERM
: > "$LOG"
say "building CPython 2.6 from $TARBALL (sha256 $KEY...) into $PREFIX; log in $LOG"

step() {  # step WHAT COMMAND...: run COMMAND, its output to the log; one line when it fails
    what=$1; shift
    echo "== $what: $*" >> "$LOG"
    "$@" >> "$LOG" 2>&1 || fail "$what failed after $(took) (last lines of $LOG tell why)"
}

step "unpack" tar -xJf "$TARBALL" -C "$WORK"
SRC=$(ls -d "$WORK"/*/ | head -1)
[ -f "$SRC/configure" ] || fail "$TARBALL does not hold a CPython source tree (no configure)"
MULTIARCH=$(gcc -print-multiarch 2>/dev/null || true)
if [ -n "$MULTIARCH" ]; then
    step "patch setup.py" sed -i \
        "s#lib_dirs = self.compiler.library_dirs + \[#&'/usr/lib/$MULTIARCH', '/lib/$MULTIARCH', #" \
        "$SRC/setup.py"
    grep -q "'/usr/lib/$MULTIARCH'" "$SRC/setup.py" || fail "cannot add /usr/lib/$MULTIARCH to lib_dirs in setup.py"
fi
touch "$SRC/Include/Python-ast.h" "$SRC/Python/Python-ast.c"
cd "$SRC"
step "configure" ./configure --prefix="$PREFIX" CFLAGS="-fwrapv -O1 -fcommon -std=gnu89"
step "make" make -j"$(nproc 2>/dev/null || echo 2)"
# Installed into a staging root first, then renamed into place: never a half-made cache.
STAGE=$WORK/stage
step "make altinstall" make altinstall DESTDIR="$STAGE"
rm -rf "$PREFIX"
mv "$STAGE$PREFIX" "$PREFIX" || fail "cannot move the build into $PREFIX"
works || fail "$PY was built but does not import what the pilot needs: $CHECK"
if "$PY" -c 'import ssl' >/dev/null 2>&1; then
    say "note: this build has an ssl module"
else
    say "note: no ssl module (expected: it does not build against OpenSSL 3)"
fi
say "built $("$PY" -V 2>&1) in $(took)"
echo "$PY"
