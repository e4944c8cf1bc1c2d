#!/bin/sh
# Unpack Debian's cloud-init package (its Python modules only, nothing installed or started)
# into PREFIX, so that the VM wrapper tests can run cloud-init's own schema check on the user
# data.  Its Python dependencies (jsonschema, jinja2, configobj, jsonpatch, requests, PyYAML)
# come from setup.py's dev extras.  Idempotent; prints PREFIX's dist-packages directory.
#
# Usage: .ci/provision-cloud-init.sh [PREFIX]   (default ~/.cache/pilots2/cloud-init)
set -eu
PREFIX=${1:-$HOME/.cache/pilots2/cloud-init}
SITE=$PREFIX/usr/lib/python3/dist-packages
if [ -f "$SITE/cloudinit/config/schema.py" ]; then
    echo "$SITE"
    exit 0
fi
command -v apt-get >/dev/null && command -v dpkg >/dev/null || {
    echo "provision-cloud-init: needs apt-get and dpkg (a Debian-like host)" >&2; exit 1; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT INT TERM
# _apt cannot write into a root-owned mktemp dir: let it.
chmod 0777 "$T"
if ! (cd "$T" && apt-get -q download cloud-init >&2); then
    echo "provision-cloud-init: apt-get download cloud-init failed (run apt-get update first?)" >&2
    exit 1
fi
mkdir -p "$PREFIX"
dpkg -x "$T"/cloud-init_*.deb "$PREFIX"
[ -f "$SITE/cloudinit/config/schema.py" ] || { echo "provision-cloud-init: no cloudinit/config/schema.py" >&2; exit 1; }
echo "$SITE"
