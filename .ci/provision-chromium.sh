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
command -v apt-get >/dev/null || {
    echo "provision-chromium: $CHROMIUM/$DRIVER are missing and there is no apt-get (not Debian-like)" >&2; exit 1; }
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        echo "provision-chromium: installing chromium chromium-driver needs root (run as root or with sudo)" >&2
        exit 1
    fi
else
    SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
install() {
    $SUDO apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends chromium chromium-driver fonts-dejavu-core >&2
}
if ! install; then
    echo "provision-chromium: apt-get install failed; updating the package lists and retrying" >&2
    $SUDO apt-get -o DPkg::Lock::Timeout=300 update -q >&2 || true
    install || { echo "provision-chromium: apt-get install -y chromium chromium-driver failed" >&2; exit 1; }
fi
[ -x "$CHROMIUM" ] && [ -x "$DRIVER" ] || {
    echo "provision-chromium: installed, but $CHROMIUM or $DRIVER is still missing" >&2; exit 1; }
echo "$CHROMIUM $DRIVER"
