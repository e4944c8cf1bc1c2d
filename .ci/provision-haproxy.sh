#!/bin/sh
# Debian's HAProxy for the several-receivers tests and bench (tests/server/test_logbook_receivers.py,
# bench/bench_receivers.py): the haproxy package, installed with apt-get (as root) when no haproxy
# is on PATH or in /usr/sbin.  The tests run it as a plain process with a configuration of their
# own; the system service that the package may start on installation is stopped again (this
# script started it), so nothing is left running.  Idempotent; prints the binary's path (and, when
# it installed the package, the time that took, on stderr).  When it cannot be installed it says
# why and exits 1: the tests then fail and say so (they never skip).
#
# Usage: .ci/provision-haproxy.sh
set -eu
found() { command -v haproxy 2>/dev/null || { [ -x /usr/sbin/haproxy ] && echo /usr/sbin/haproxy; }; }
if path=$(found); then
    echo "$path"
    exit 0
fi
began=$(date +%s)
"$(dirname "$0")/apt-install.sh" provision-haproxy haproxy
# the package may start its service (Debian's default configuration, no listener): stop it
if [ -x /etc/init.d/haproxy ]; then
    if [ "$(id -u)" = 0 ]; then /etc/init.d/haproxy stop >/dev/null 2>&1 || true
    else sudo -n /etc/init.d/haproxy stop >/dev/null 2>&1 || true; fi
fi
path=$(found) || { echo "provision-haproxy: installed, but no haproxy binary was found" >&2; exit 1; }
echo "provision-haproxy: installed $("$path" -v | head -1) in $(( $(date +%s) - began )) s" >&2
echo "$path"
