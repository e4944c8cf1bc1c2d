#!/usr/bin/env bash
# A private one-node Slurm cluster for the tests, run as plain processes (no systemd, no cgroups):
# munged with its own key and socket, slurmctld and slurmd, all configured in one directory, with
# ports picked free at start and a cluster name of their own, so they clash with nothing else on
# the machine (no file of /etc/slurm or /etc/munge is used).  Debian's slurm-wlm and munge are
# installed with apt-get (as root) when missing.  Run it as root (slurmd runs the jobs as their users).
#
# Usage: .ci/slurm.sh start [DIR]   start a cluster in DIR (default: a new /tmp/pilots2-slurm.XXXXXX);
#                                   prints DIR on its last line; waits until the node is idle
#        .ci/slurm.sh env DIR       print the shell lines that point Slurm's commands at it
#                                   (eval "$(.ci/slurm.sh env DIR)"; then sbatch, squeue ... work)
#        .ci/slurm.sh stop DIR      cancel its jobs (and wait for their end), stop its daemons by PID;
#                                   DIR (logs) stays
#        .ci/slurm.sh status DIR    which daemons run, and sinfo
#        .ci/slurm.sh install       only install the packages when missing
# The cluster: one node "p2node" that declares PILOTS2_SLURM_CPUS CPUs (default 4; more than the
# machine has is allowed, so that several jobs run side by side) and PILOTS2_SLURM_MEMORY MB
# (default 2048), one partition "pilots" (default, MaxTime unlimited), KillWait
# PILOTS2_SLURM_KILLWAIT seconds (default 30: SIGTERM, then SIGKILL that much later), no
# accounting storage (sacct then says so: the submit backend reads squeue instead).
# Files of DIR: slurm.conf, env, munge/ (key, socket, log), state/, spool/, *.log (the daemons' logs),
# *.out (their stdout/stderr), *.pid.
set -euo pipefail

PACKAGES="slurmctld slurmd slurm-client munge"
NODE=p2node
PARTITION=pilots

die() { echo "slurm.sh: $*" >&2; exit 1; }

install_packages() {
    local missing=0 tool
    for tool in slurmctld slurmd sbatch squeue scontrol munged mungekey; do
        command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || missing=1
    done
    [ $missing = 0 ] && return 0
    command -v apt-get >/dev/null || die "Slurm or munge is missing and there is no apt-get (not Debian-like): install $PACKAGES"
    local sudo=
    if [ "$(id -u)" != 0 ]; then
        command -v sudo >/dev/null && sudo -n true 2>/dev/null || die "installing $PACKAGES needs root (run as root or with sudo)"
        sudo="sudo -n"
    fi
    echo "slurm.sh: installing $PACKAGES with apt-get" >&2
    # policy-rc.d (where present) keeps the packages' own services from starting; ours run from DIR.
    export DEBIAN_FRONTEND=noninteractive
    # shellcheck disable=SC2086
    if ! $sudo apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends $PACKAGES >&2; then
        $sudo apt-get -o DPkg::Lock::Timeout=300 update -q >&2 || true
        # shellcheck disable=SC2086
        $sudo apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends $PACKAGES >&2 \
            || die "apt-get install $PACKAGES failed"
    fi
}

# Two free TCP ports below the ephemeral range: the daemons bind every address, and a port of that
# range may be any connection's local port by the time they start.
FREE_PORTS='
import random, socket
low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
found = []
while len(found) < 2:
    port = random.randint(10000, low - 1)
    sock = socket.socket()
    try:
        sock.bind(("0.0.0.0", port))
        if port not in found:
            found.append(port)
    except OSError:
        pass
    finally:
        sock.close()
print(found[0], found[1])
'


# start_daemon NAME COMMAND...: a plain background process in its own session, its PID in DIR/NAME.pid
start_daemon() {
    local name=$1
    shift
    setsid "$@" > "$dir/$name.out" 2>&1 < /dev/null &
    echo $! > "$dir/$name.pid"
}

alive() { [ -f "$dir/$1.pid" ] && kill -0 "$(cat "$dir/$1.pid")" 2>/dev/null; }

wait_for() {  # wait_for SECONDS WHAT COMMAND...
    local seconds=$1 what=$2 i
    shift 2
    for ((i = 0; i < seconds * 5; i++)); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    return 1
}

write_config() {
    local ctld_port slurmd_port host
    read -r ctld_port slurmd_port < <(python3 -c "$FREE_PORTS")
    [ -n "$slurmd_port" ] || die "could not find two free ports (python3 -c ...)"
    host=$(hostname -s)
    cat > "$dir/slurm.conf" <<EOF
# A private test cluster made by .ci/slurm.sh (Pilots 2.0); everything lives in $dir.
ClusterName=$cluster
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=$(id -un)
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.socket
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool/%n
SlurmctldPidFile=$dir/slurmctld.daemon.pid
SlurmdPidFile=$dir/slurmd.daemon.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# No systemd and no cgroup delegation here: track processes by parent PID, no task binding.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
LaunchParameters=use_interactive_step
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
# A job without --mem gets this much per CPU (Slurm's default would give it the whole node).
DefMemPerCPU=256
# The node declares what the tests need, whatever the machine has.
SlurmdParameters=config_overrides
ReturnToService=2
# The end of a job: SIGTERM to every process of the job, SIGKILL KillWait seconds later.
KillWait=$killwait
OverTimeLimit=0
MinJobAge=600
InactiveLimit=0
SlurmctldTimeout=60
SlurmdTimeout=120
MessageTimeout=20
NodeName=$NODE NodeHostname=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=$PARTITION Nodes=$NODE Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
    printf 'export SLURM_CONF=%q\n' "$dir/slurm.conf" > "$dir/env"
}

start() {
    install_packages
    dir=${1:-}
    if [ -z "$dir" ]; then
        dir=$(mktemp -d /tmp/pilots2-slurm.XXXXXX)
    else
        mkdir -p "$dir"
        dir=$(cd "$dir" && pwd)
    fi
    alive slurmctld && die "a cluster already runs in $dir (stop it first: $0 stop $dir)"
    trap 'stop_daemons' EXIT  # a start that fails stops what it started
    cluster=p2$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
    cpus=${PILOTS2_SLURM_CPUS:-4}
    memory=${PILOTS2_SLURM_MEMORY:-2048}
    killwait=${PILOTS2_SLURM_KILLWAIT:-30}
    mkdir -p "$dir/munge" "$dir/state" "$dir/spool/$NODE"
    chmod 700 "$dir/munge"
    write_config

    local munged mungekey slurmctld slurmd
    munged=$(command -v munged || echo /usr/sbin/munged)
    mungekey=$(command -v mungekey || echo /usr/sbin/mungekey)
    slurmctld=$(command -v slurmctld || echo /usr/sbin/slurmctld)
    slurmd=$(command -v slurmd || echo /usr/sbin/slurmd)
    [ -f "$dir/munge/munge.key" ] || "$mungekey" --create --keyfile="$dir/munge/munge.key"
    chmod 600 "$dir/munge/munge.key"
    start_daemon munged "$munged" --foreground --force --key-file="$dir/munge/munge.key" \
        --socket="$dir/munge/munge.socket" --pid-file="$dir/munge/munged.pid" \
        --log-file="$dir/munge/munged.log" --seed-file="$dir/munge/munged.seed"
    wait_for 20 munged test -S "$dir/munge/munge.socket" \
        || { cat "$dir/munged.out" "$dir/munge/munged.log" >&2 2>/dev/null; die "munged did not start (logs above)"; }

    export SLURM_CONF="$dir/slurm.conf"
    start_daemon slurmctld "$slurmctld" -D -i -f "$dir/slurm.conf"
    wait_for 60 slurmctld scontrol ping \
        || { tail -20 "$dir/slurmctld.log" >&2; die "slurmctld did not answer within 60 s (log: $dir/slurmctld.log)"; }
    start_daemon slurmd "$slurmd" -D -N "$NODE" -f "$dir/slurm.conf"
    node_ready() { sinfo -h -n "$NODE" -o %T | grep -Eq '^(idle|mixed|allocated)'; }
    wait_for 60 slurmd node_ready \
        || { tail -20 "$dir/slurmd.log" >&2; sinfo >&2 || true; die "the node did not become idle within 60 s (log: $dir/slurmd.log)"; }
    trap - EXIT
    echo "slurm.sh: cluster $cluster up: node $NODE ($cpus CPUs, $memory MB), partition $PARTITION, KillWait ${killwait}s"
    echo "slurm.sh: eval \"\$($0 env $dir)\" points sbatch/squeue/scancel at it; $0 stop $dir stops it"
    echo "$dir"
}

stop() {
    dir=${1:?give the directory of the cluster}
    [ -f "$dir/slurm.conf" ] || die "$dir holds no cluster (no slurm.conf)"
    if alive slurmctld; then
        # scancel: SIGTERM to every process of each job, SIGKILL KillWait later; wait for the ends so
        # that no job step outlives its slurmd
        export SLURM_CONF="$dir/slurm.conf"
        scancel --quiet --full --partition "$PARTITION" 2>/dev/null || true
        no_jobs() { [ -z "$(squeue --noheader --states=PENDING,CONFIGURING,RUNNING,COMPLETING --format=%i 2>/dev/null)" ]; }
        local grace
        grace=$(sed -n 's/^KillWait=//p' "$dir/slurm.conf")
        wait_for $(( ${grace:-30} + 30 )) jobs no_jobs || echo "slurm.sh: jobs still running after scancel; stopping anyway" >&2
    fi
    stop_daemons
    echo "slurm.sh: stopped the cluster in $dir"
}

stop_daemons() {  # by the PIDs in DIR: slurmd first (its jobs end with it), the controller, munged
    local name pid i
    for name in slurmd slurmctld munged; do
        alive "$name" || continue
        pid=$(cat "$dir/$name.pid")
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
        rm -f "$dir/$name.pid"
    done
}

status() {
    dir=${1:?give the directory of the cluster}
    local name
    for name in munged slurmctld slurmd; do
        if alive "$name"; then echo "$name: running (pid $(cat "$dir/$name.pid"))"; else echo "$name: not running"; fi
    done
    alive slurmctld && SLURM_CONF="$dir/slurm.conf" sinfo
    return 0
}

case ${1:-} in
start) shift; start "$@" ;;
stop) shift; stop "$@" ;;
status) shift; status "$@" ;;
env) [ -f "${2:?give the directory of the cluster}/env" ] || die "$2 holds no cluster"; cat "$2/env" ;;
install) install_packages ;;
*) echo "usage: $0 start [DIR] | env DIR | stop DIR | status DIR | install" >&2; exit 2 ;;
esac
