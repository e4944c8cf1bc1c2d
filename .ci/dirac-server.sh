#!/usr/bin/env bash
# A local DIRAC server (the one the real-DIRAC tests start), by hand:
#
#   .ci/dirac-server.sh start [DIR]   configure and start it in DIR (default: a new temporary
#                                     directory); prints DIR.  Builds DIRAC once (provision-dirac.sh).
#   .ci/dirac-server.sh env DIR       the exports of its user client: eval "$(.ci/dirac-server.sh env DIR)",
#                                     then dirac-proxy-init -g dirac_user, dirac-wms-job-submit ...
#   .ci/dirac-server.sh status DIR    its processes
#   .ci/dirac-server.sh stop DIR      stop its processes (by PID) and drop its databases
#
# It needs the machine's MariaDB on 127.0.0.1:3306 (root without password: .ci/services.sh).
# What it does is described in tests/real_dirac/dirac_server.py and in docs/testing.md, "A real DIRAC server".
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
MODULE=$REPO/tests/real_dirac/dirac_server.py
if [ "${1:-}" = start ]; then
    venv=$("$REPO/.ci/provision-dirac.sh" | tail -1)
    exec "$venv/bin/python" "$MODULE" "$@"   # the venv has diraccfg, which writes the CS
fi
exec python3 "$MODULE" "$@"
