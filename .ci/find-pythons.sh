#!/bin/sh
# Which interpreter each tox env of tox.ini would use, so that the CI runner can
# say which envs were skipped (tox.ini has skip_missing_interpreters = true).
#
# Usage: .ci/find-pythons.sh [--path]
#   prints one line per env: "py27 /path/to/python2.7", or "py27 MISSING";
#   with --path, prints instead a PATH prefix (bin dirs joined by ':') to run tox with (2.6 is
#   not on it: .ci/pytest26.sh finds it, or takes $PILOT_PYTHON26).
# Looks in $(pyenv root)/versions/X.Y*/bin, then on PATH (pyenv shims that do not run
# are ignored), then, for 2.7, in the prefix of .ci/provision-python27.sh and, for 2.6,
# in the cache of .ci/provision-python26.sh (~/.cache/pilots2/python26-*/bin).
# PILOT_PROVISION_PY27=1 provisions a missing 2.7 (Debian bullseye packages);
# PILOT_PROVISION_PY26=1 builds (or finds cached) the 2.6 of the CPython 2.6 source tarball.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
PY27_PREFIX=${PY27_PREFIX:-$HOME/.local/pilot-interpreters/py27}
PY26_CACHE=${PILOTS2_CACHE:-$HOME/.cache/pilots2}
ROOT=$(pyenv root 2>/dev/null || echo "${PYENV_ROOT:-$HOME/.pyenv}")

works() {  # works BINARY X.Y: BINARY runs and is version X.Y
    [ -n "$1" ] && [ -x "$1" ] &&
        [ "$("$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" = "$2" ]
}

find_python() {  # find_python X.Y: print the first working pythonX.Y, or nothing
    for c in $(ls -d "$ROOT"/versions/"$1".* 2>/dev/null | sort -rV); do
        if works "$c/bin/python$1" "$1"; then echo "$c/bin/python$1"; return; fi
    done
    c=$(command -v "python$1" 2>/dev/null || true)
    if works "$c" "$1"; then echo "$c"; return; fi
    if [ "$1" = 2.7 ] && works "$PY27_PREFIX/usr/bin/python2.7" 2.7; then
        echo "$PY27_PREFIX/usr/bin/python2.7"
    fi
    if [ "$1" = 2.6 ]; then
        for c in $(ls -td "$PY26_CACHE"/python26-*/ 2>/dev/null); do
            if works "${c}bin/python2.6" 2.6; then echo "${c}bin/python2.6"; return; fi
        done
    fi
}

provision() {  # provision X.Y: the provisioner's interpreter, or nothing
    case $1 in
        2.7) [ "${PILOT_PROVISION_PY27:-0}" = 1 ] && "$HERE/provision-python27.sh" "$PY27_PREFIX" | tail -1 ;;
        2.6) [ "${PILOT_PROVISION_PY26:-0}" = 1 ] && "$HERE/provision-python26.sh" | tail -1 ;;
    esac
}

path=
for version in 2.6 2.7 3.6 3.7 3.8 3.9 3.10 3.11 3.12 3.13; do
    env=py$(echo "$version" | tr -d .)
    found=
    if [ "$version" = 2.6 ]; then  # the cache is keyed by the tarball: ask the provisioner first
        found=$(provision 2.6) || found=
        works "$found" 2.6 || found=
    fi
    if [ -z "$found" ]; then
        found=$(find_python "$version")
        if [ -n "$found" ] && [ "$version" = 2.6 ] && [ "${PILOT_PROVISION_PY26:-0}" = 1 ]; then
            echo "find-pythons: using the Python 2.6 found in $(dirname "$(dirname "$found")")" >&2
        fi
    fi
    if [ -z "$found" ] && [ "$version" != 2.6 ]; then
        found=$(provision "$version") || found=
        works "$found" "$version" || found=
    fi
    if [ "${1:-}" = --path ]; then
        # not 2.6: its folder holds pydoc, 2to3 ... of 2.6; the py26 env gets it from this list
        [ -z "$found" ] || [ "$version" = 2.6 ] || path=$path${path:+:}$(dirname "$found")
    else
        echo "$env ${found:-MISSING}"
    fi
done
[ "${1:-}" != --path ] || echo "$path"
