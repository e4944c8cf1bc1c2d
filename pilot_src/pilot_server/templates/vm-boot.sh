#!/bin/sh
# Pilots 2.0 VM boot script, made by pilotctl @VERSION@.  cloud-init runs it once, as root, at
# first boot (runcmd).  It starts the pilot wrapper @RUN_SCRIPT@ in the background as user
# @USER@ and returns at once, so that cloud-init can finish; "--foreground" runs it in the
# foreground (what the background copy does).  The pilot's work directory is made under
# @HOME@ and kept; this script logs to @BOOT_LOG@.  $PILOT_VM_ROOT prefixes every
# path (a scratch root for tests, run as an ordinary user who then runs the pilot as itself).
set -f
pv_root=${PILOT_VM_ROOT:-}
pv_user=${PILOT_VM_USER:-@Q_USER@}
pv_home=$pv_root@HOME@
pv_log=$pv_root@BOOT_LOG@
pv_poweroff=@Q_POWEROFF@

if [ "${1:-}" != --foreground ]; then
    mkdir -p "$pv_root@LOG_DIR@"
    nohup /bin/sh "$0" --foreground >> "$pv_log" 2>&1 < /dev/null &
    echo "pilots2: the pilot starts in the background (pid $!); log: $pv_log"
    exit 0
fi

pv_say() { printf '%s vm-boot: %s\n' "$(date -u '+%Y-%m-%dT%H:%M:%SZ' 2>/dev/null)" "$1"; }

mkdir -p "$pv_home" || { pv_say "cannot make $pv_home"; exit 3; }
(umask 077 && cp "$pv_root@RUN_SCRIPT@" "$pv_home/run-pilot.sh") || { pv_say "cannot copy the wrapper"; exit 3; }
pv_me=$(id -un 2>/dev/null)
if [ "$pv_me" = "$pv_user" ]; then
    pv_say "running the pilot as $pv_user"
    (cd "$pv_home" && PILOT_WORK_BASE=$pv_home PILOT_PYZ_FILE=$pv_root@PYZ@ exec /bin/sh "$pv_home/run-pilot.sh")
    pv_rc=$?
elif [ "$(id -u)" = 0 ]; then
    chown -R "$pv_user" "$pv_home" || { pv_say "cannot give $pv_home to $pv_user (no such user?)"; exit 3; }
    pv_say "running the pilot as $pv_user"
    if runuser -u root -- true >/dev/null 2>&1; then
        (cd "$pv_home" && exec runuser -u "$pv_user" -- env PILOT_WORK_BASE="$pv_home" \
            PILOT_PYZ_FILE="$pv_root@PYZ@" /bin/sh "$pv_home/run-pilot.sh")
    else  # no runuser -u (EL6): su with a constant command line
        (cd "$pv_home" && exec su -s /bin/sh "$pv_user" -c 'PILOT_WORK_BASE=@HOME@ exec /bin/sh @HOME@/run-pilot.sh')
    fi
    pv_rc=$?
else
    pv_say "running as $pv_me, not root: cannot become $pv_user"
    exit 3
fi
pv_say "the pilot wrapper exited with code $pv_rc"
if [ "$pv_poweroff" = yes ]; then
    if [ -n "$pv_root" ]; then
        pv_say "would power off now (not with PILOT_VM_ROOT set)"
    else
        pv_say "powering off"
        shutdown -h now || poweroff
    fi
fi
exit "$pv_rc"
