#!/bin/sh
# The offline wheelhouse of the test tools for Python 2.6: Dockerfile.sl6 COPYs it and
# .ci/pytest26.sh installs it for the real 2.6 of the py26 env.
# EL6 repositories are archived and pip on Python 2.6 has no SNI, so nothing is
# fetched by Python 2.6 itself.
#
# Usage: .ci/sl6-wheelhouse.sh DIR    (default .tox/sl6-wheelhouse); idempotent.
# Needs python3 with pip, and a Python 2.7 (pyenv, PATH or $PYTHON27) to build the
# ordereddict wheel, which upstream ships as an sdist only.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
WH=${1:-$HERE/../.tox/sl6-wheelhouse}
mkdir -p "$WH"
WH=$(cd "$WH" && pwd)

# --ignore-requires-python: six 1.17.0 declares >=2.7, yet its six.py works on 2.6 (the pyz ships it)
download() {
    python3 -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: \
        --ignore-requires-python --python-version 2.6 --implementation py --abi none --platform any \
        -d "$WH" "$@"
}
for req in pytest==3.2.5 py==1.4.34 argparse==1.4.0 setuptools==36.8.0 pip==9.0.3 six==1.17.0; do
    name=${req%%==*}; version=${req#*==}
    ls "$WH/$name-$version-"*.whl >/dev/null 2>&1 || download "$req"
done

if ! ls "$WH"/ordereddict-1.1-*.whl >/dev/null 2>&1; then
    py27=${PYTHON27:-}
    if [ -z "$py27" ]; then
        for c in "$(pyenv root 2>/dev/null)/versions/2.7.18/bin/python2.7" \
                 "$(command -v python2.7 2>/dev/null || true)"; do
            if [ -n "$c" ] && [ -x "$c" ]; then py27=$c; break; fi
        done
    fi
    if [ -z "$py27" ]; then
        echo "sl6-wheelhouse: need a Python 2.7 to build the ordereddict wheel" \
             "(set PYTHON27, or run .ci/provision-python27.sh)" >&2
        exit 1
    fi
    # Built by Python 2, so the wheel is tagged py2-none-any, which pip 9 on 2.6 accepts.
    tools=$(mktemp -d)
    trap 'rm -rf "$tools"' EXIT
    "$py27" -m pip install -q --disable-pip-version-check --target "$tools" wheel==0.37.1
    PYTHONPATH=$tools "$py27" -m pip wheel -q --disable-pip-version-check --no-deps \
        --no-build-isolation -w "$WH" ordereddict==1.1
fi
ls "$WH"
