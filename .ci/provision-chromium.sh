#!/bin/sh
# Debian's headless browser for the web page tests (tests/server/test_webui_browser.py):
# the chromium and chromium-driver packages, installed with apt-get (as root) when
# /usr/bin/chromium or /usr/bin/chromedriver is missing.  Idempotent; prints the two paths.
# When they cannot be installed it says why and exits 1: the browser tests then fail (they
# never skip), as the sl6/cc7 tox envs fail without Docker.
#
# Usage: .ci/provision-chromium.sh
set -eu
CHROMIUM=${PILOTS2_CHROMIUM:-/usr/bin/chromium}
DRIVER=${PILOTS2_CHROMEDRIVER:-/usr/bin/chromedriver}
if [ -x "$CHROMIUM" ] && [ -x "$DRIVER" ]; then
    echo "$CHROMIUM $DRIVER"
    exit 0
fi
"$(dirname "$0")/apt-install.sh" provision-chromium chromium chromium-driver fonts-dejavu-core
[ -x "$CHROMIUM" ] && [ -x "$DRIVER" ] || {
    echo "provision-chromium: installed, but $CHROMIUM or $DRIVER is still missing" >&2; exit 1; }
echo "$CHROMIUM $DRIVER"
