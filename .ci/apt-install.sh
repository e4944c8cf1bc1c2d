#!/bin/sh
# Installs Debian packages with apt-get, as root or through password-less sudo, with the
# machine's configured sources; on failure it updates the package lists and tries once more.
# Used by the provision-*.sh scripts.  Output goes to stderr; exit 1 (saying why) when it fails.
#
# Usage: .ci/apt-install.sh WHO PACKAGE...   (WHO prefixes the messages, e.g. provision-haproxy)
set -eu
who=$1
shift
command -v apt-get >/dev/null || {
    echo "$who: $* missing and there is no apt-get (not Debian-like)" >&2; exit 1; }
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        echo "$who: installing $* needs root (run as root or with sudo)" >&2
        exit 1
    fi
else
    SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
install() {
    $SUDO apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends "$@" >&2
}
if ! install "$@"; then
    echo "$who: apt-get install failed; updating the package lists and retrying" >&2
    $SUDO apt-get -o DPkg::Lock::Timeout=300 update -q >&2 || true
    install "$@" || { echo "$who: apt-get install -y $* failed" >&2; exit 1; }
fi
