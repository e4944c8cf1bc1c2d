#!/bin/sh
# Which interpreter each tox env of tox.ini would use, so that the CI runner can
# say which envs were skipped (tox.ini has skip_missing_interpreters = true).
#
# Usage: .ci/find-pythons.sh [--path]
#   prints one line per env: "py27 /path/to/python2.7", or "py27 MISSING";
#   with --path, prints instead a PATH prefix (bin dirs joined by ':') to run tox with.
# Looks in $(pyenv root)/versions/X.Y*/bin, then on PATH (pyenv shims that do not run
# are ignored), then, for 2.7, in the prefix of .ci/provision-python27.sh.  With
# PILOT_PROVISION_PY27=1 a missing 2.7 is provisioned (Debian bullseye packages).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
PY27_PREFIX=${PY27_PREFIX:-$HOME/.local/pilot-interpreters/py27}
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
}

path=
for version in 2.7 3.6 3.7 3.8 3.9 3.10 3.11 3.12 3.13; do
    env=py$(echo "$version" | tr -d .)
    found=$(find_python "$version")
    if [ -z "$found" ] && [ "$version" = 2.7 ] && [ "${PILOT_PROVISION_PY27:-0}" = 1 ]; then
        found=$("$HERE/provision-python27.sh" "$PY27_PREFIX" | tail -1) || found=
        works "$found" 2.7 || found=
    fi
    if [ "${1:-}" = --path ]; then
        [ -z "$found" ] || path=$path${path:+:}$(dirname "$found")
    else
        echo "$env ${found:-MISSING}"
    fi
done
[ "${1:-}" != --path ] || echo "$path"
