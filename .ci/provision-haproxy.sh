#!/bin/sh
# Debian's HAProxy for the several-receivers tests and bench (tests/server/test_logbook_receivers.py,
# bench/bench_receivers.py): the haproxy package, installed with apt-get (as root) when no haproxy
# is on PATH or in /usr/sbin.  The tests run it as a plain process with a configuration of their
# own; the system service that the package starts on installation is stopped again (this
# script started it), so nothing is left running.  Idempotent; prints the binary's path and the
# time the installation took.  When it cannot be installed it says why and exits 1: the tests
# then fail and say so (they never skip).
#
# Usage: .ci/provision-haproxy.sh
set -eu
found() { command -v haproxy 2>/dev/null || { [ -x /usr/sbin/haproxy ] && echo /usr/sbin/haproxy; }; }
if path=$(found); then
    echo "$path"
    exit 0
fi
command -v apt-get >/dev/null || {
    echo "provision-haproxy: haproxy is missing and there is no apt-get (not Debian-like)" >&2; exit 1; }
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        echo "provision-haproxy: installing haproxy needs root (run as root or with sudo)" >&2
        exit 1
    fi
else
    SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
began=$(date +%s)
install() {
    $SUDO apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends haproxy >&2
}
if ! install; then
    echo "provision-haproxy: apt-get install failed; updating the package lists and retrying" >&2
    $SUDO apt-get -o DPkg::Lock::Timeout=300 update -q >&2 || true
    install || { echo "provision-haproxy: apt-get install -y haproxy failed" >&2; exit 1; }
fi
# the package starts its service (Debian's default configuration, no listener): stop it
if [ -x /etc/init.d/haproxy ]; then
    $SUDO /etc/init.d/haproxy stop >/dev/null 2>&1 || true
fi
path=$(found) || { echo "provision-haproxy: installed, but no haproxy binary was found" >&2; exit 1; }
echo "provision-haproxy: installed $("$path" -v | head -1) in $(( $(date +%s) - began )) s" >&2
echo "$path"
