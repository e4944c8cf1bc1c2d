#!/usr/bin/env bash
# The DIRAC release of the real-DIRAC tests (tests/real_dirac/): one virtual environment that
# holds DIRAC $DIRAC_VERSION from PyPI with what its server needs (MariaDB client, Tornado,
# M2Crypto...).  It serves both the local DIRAC server and, through its `diracosrc`, the client
# a pilot uses with --preinstalledEnv.
#
# Usage: .ci/provision-dirac.sh            build it once, print its directory (last line)
#        .ci/provision-dirac.sh --resolve  re-resolve the pins from DIRAC's own requirements and
#                                          rewrite tests/real_dirac/requirements-dirac.txt
#
# The environment is cached in ~/.cache/pilots2/dirac-<version>-<hash>/venv, where <hash> covers
# the pinned requirement list and the Python used, so a change of either builds a new one.
# Debian packages it needs to build M2Crypto and mysqlclient (swig, libssl-dev, libmariadb-dev,
# pkg-config, gcc) are installed with apt-get when missing.  Every distribution is installed
# --no-deps from the pins: DIRAC requires gfal2-python, which does not build against Debian's
# gfal2 (on a real node it comes with DIRACOS) and which no pilot command needs.
# pip's cache is $PIP_CACHE_DIR, else ~/.cache/pilots2/pip.  Exit 1 with one line on stderr when it
# cannot.
set -euo pipefail
DIRAC_VERSION=9.1.22
REPO=$(cd "$(dirname "$0")/.." && pwd)
PINS=$REPO/tests/real_dirac/requirements-dirac.txt
CACHE=${PILOTS2_CACHE:-$HOME/.cache/pilots2}
DEBS="swig libssl-dev libmariadb-dev pkg-config gcc"
# pip's cache beside the venvs: the wheels built here (M2Crypto, mysqlclient) serve the pilot's
# own pip install of the same pins in tests/real_dirac too
export PIP_CACHE_DIR=${PIP_CACHE_DIR:-$CACHE/pip}
say() { echo "provision-dirac: $*" >&2; }
die() { say "$*"; exit 1; }
started=$(date +%s)

pick_python() {  # DIRAC 9.1 needs Python >= 3.11; 3.11 first (Tornado 5.1 predates 3.12)
    local root candidate
    root=$(pyenv root 2>/dev/null || echo "${PYENV_ROOT:-$HOME/.pyenv}")
    for candidate in "${DIRAC_PYTHON:-}" $(ls -d "$root"/versions/3.11.* 2>/dev/null | sort -rV | sed 's#$#/bin/python3.11#') \
        python3.11 $(ls -d "$root"/versions/3.12.* 2>/dev/null | sort -rV | sed 's#$#/bin/python3.12#') python3.12; do
        [ -n "$candidate" ] || continue
        candidate=$(command -v "$candidate" 2>/dev/null) || continue
        if "$candidate" -c 'import sys, venv, ssl; sys.exit(sys.version_info[:2] not in ((3, 11), (3, 12)))' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

debian_packages() {
    local missing=() pkg
    for pkg in $DEBS; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    command -v apt-get >/dev/null || die "needs the Debian packages ${missing[*]} and there is no apt-get"
    local sudo=
    if [ "$(id -u)" != 0 ]; then
        sudo -n true 2>/dev/null || die "installing ${missing[*]} needs root (run as root or with sudo)"
        sudo="sudo -n"
    fi
    say "apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends "${missing[@]}" >&2 || {
        $sudo apt-get -o DPkg::Lock::Timeout=300 update -q >&2 || true
        $sudo apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends "${missing[@]}" >&2 ||
            die "apt-get install ${missing[*]} failed"
    }
}

write_diracosrc() {  # what --preinstalledEnv sources: as DIRACOS's rc, the release's bin first and
    # DIRAC's root in the release (not in the base Python's prefix, where DIRAC would write etc/)
    cat > "$1/diracosrc.tmp.$$" <<EOF
# DIRAC $DIRAC_VERSION from PyPI (made by .ci/provision-dirac.sh)
export DIRACOS='$1'
export DIRAC_ROOT_PATH='$1'
export VIRTUAL_ENV='$1'
export PATH="\$VIRTUAL_ENV/bin:\$PATH"
EOF
    mv -f "$1/diracosrc.tmp.$$" "$1/diracosrc"
}

python=$(pick_python) || die "no Python 3.11 or 3.12 (DIRAC $DIRAC_VERSION needs one; set DIRAC_PYTHON)"
pyversion=$("$python" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')

if [ "${1:-}" = --resolve ]; then
    debian_packages
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    "$python" -m venv --copies "$work/venv"
    "$work/venv/bin/pip" download -q --no-deps "DIRAC==$DIRAC_VERSION" -d "$work" >&2
    # DIRAC's own requirements (no extra, no gfal2) plus the server extras the services import
    "$python" - "$work"/dirac-*.whl > "$work/requirements.in" <<'EOF'
import sys, zipfile
wheel = zipfile.ZipFile(sys.argv[1])
metadata = [name for name in wheel.namelist() if name.endswith(".dist-info/METADATA")][0]
for line in wheel.read(metadata).decode().splitlines():
    if line.startswith("Requires-Dist: ") and "extra ==" not in line and not line[15:].lower().startswith("gfal2"):
        print(line[15:])
EOF
    printf '%s\n' mysqlclient 'tornado~=5.1.1' tornado-m2crypto opensearch-py CMRESHandler python-json-logger \
        pyyaml stomp.py >> "$work/requirements.in"
    "$work/venv/bin/pip" install -q -r "$work/requirements.in" >&2
    {
        echo "# The DIRAC $DIRAC_VERSION server and client environment of the real-DIRAC tests: every distribution"
        echo "# pinned, installed with --no-deps (gfal2-python, which DIRAC requires, does not build against"
        echo "# Debian's gfal2 and is not needed here).  DIRAC itself is installed on top, also --no-deps."
        echo "# Written by .ci/provision-dirac.sh --resolve; its sha256 is part of the venv's cache key."
        "$work/venv/bin/pip" freeze | grep -v -i -E '^dirac( @|==)'
    } > "$PINS"
    say "wrote $PINS ($(grep -vc '^#' "$PINS") pins) in $(( $(date +%s) - started )) s"
    exit 0
fi

[ -r "$PINS" ] || die "missing $PINS"
key=$( (cat "$PINS"; echo "DIRAC==$DIRAC_VERSION python $pyversion") | sha256sum | cut -c1-12)
target=$CACHE/dirac-$DIRAC_VERSION-$key
venv=$target/venv
ready() { write_diracosrc "$venv" && echo "$venv" && exit 0; }
[ -f "$venv/.complete" ] && ready
mkdir -p "$target"
exec 9>"$target/.lock"
flock 9  # another run may be building it
[ -f "$venv/.complete" ] && ready
say "building DIRAC $DIRAC_VERSION with Python $pyversion into $venv (once per machine; a few minutes)"
debian_packages
rm -rf "$venv"
"$python" -m venv --copies "$venv"  # copies: DIRAC starts jobs with realpath(sys.executable)
"$venv/bin/python" -m pip install -q --upgrade pip >&2
"$venv/bin/python" -m pip install -q --no-deps -r "$PINS" >&2 || die "pip install -r $PINS failed"
"$venv/bin/python" -m pip install -q --no-deps "DIRAC==$DIRAC_VERSION" >&2 || die "pip install DIRAC==$DIRAC_VERSION failed"
"$venv/bin/python" -c 'import DIRAC, M2Crypto, MySQLdb, tornado, opensearchpy' ||
    die "the DIRAC environment in $venv does not import"
echo "$DIRAC_VERSION" > "$venv/.complete"
say "DIRAC $DIRAC_VERSION ready in $(( $(date +%s) - started )) s"
ready
