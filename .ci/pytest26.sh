#!/bin/sh
# pytest under the real CPython 2.6 (what the py26 env of tox.ini runs).
#
# Usage: .ci/pytest26.sh [pytest arguments]      e.g. .ci/pytest26.sh -q tests/node
#   PILOT_PYTHON26   the interpreter; default: the py26 of .ci/find-pythons.sh (built by
#                    .ci/provision-python26.sh when PILOT_PROVISION_PY26=1).
#
# tox's virtualenv cannot make a 2.6 environment and pip 9 does not run on this 2.6 build,
# so the host's pip installs the test tools for 2.6 (the SL6 wheelhouse of
# .ci/sl6-wheelhouse.sh: pytest 3.2.5 and what it needs on 2.6, six) into a folder of the
# cache, keyed by the wheels, and that folder goes on the PYTHONPATH of 2.6 only.
set -eu
say() { echo "pytest26: $*" >&2; }
HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${PILOTS2_CACHE:-$HOME/.cache/pilots2}

PY=${PILOT_PYTHON26:-$("$HERE/find-pythons.sh" | sed -n 's/^py26 //p')}
if [ -z "$PY" ] || [ "$PY" = MISSING ] || ! "$PY" -c 'import sys; sys.exit(sys.version_info[:2] != (2, 6))' 2>/dev/null; then
    say "no Python 2.6 found (run .ci/provision-python26.sh, or set PILOT_PYTHON26)"
    exit 1
fi

WHEELS=$CACHE/py26-wheelhouse
sh "$HERE/sl6-wheelhouse.sh" "$WHEELS" >/dev/null || { say "cannot make the wheelhouse $WHEELS"; exit 1; }
SITE=$CACHE/py26-site-$(ls "$WHEELS" | sha256sum | cut -c1-12)
if [ ! -f "$SITE/.complete" ]; then
    rm -rf "$SITE.partial"
    # pip itself is not needed on 2.6: only what pytest imports (and six, see sl6-wheelhouse.sh)
    python3 -m pip install -q --disable-pip-version-check --no-index --no-deps --no-compile \
        --ignore-requires-python \
        --target "$SITE.partial" --python-version 2.6 --implementation py --abi none --platform any \
        --only-binary=:all: $(ls "$WHEELS"/*.whl | grep -v '/pip-') >&2 \
        || { say "pip install --target $SITE.partial failed"; exit 1; }
    touch "$SITE.partial/.complete"
    rm -rf "$SITE"
    mv "$SITE.partial" "$SITE"
fi
say "$("$PY" -V 2>&1) ($PY), test tools from $SITE"
PYTHONPATH=$SITE exec "$PY" -m pytest "$@"
