#!/usr/bin/env bash
# A one-node Slurm cluster on loopback, from Debian's slurm-wlm packages, for
# the tests that need a real scheduler: munged, a MariaDB server, slurmdbd
# (so `sacct` answers), slurmctld and slurmd, each started directly (no
# systemd) with all its files under one directory, and stopped by its pid.
#
#   scripts/slurm-cluster.sh start DIR [EXTRA]  # prints the SLURM_CONF to export
#   scripts/slurm-cluster.sh stop DIR
#
# EXTRA is a file of slurm.conf lines appended to the generated ones (e.g.
# JobSubmitPlugins=lua, with job_submit.lua put in DIR beforehand).
#
# Runs as root (the daemons and `runuser` need it). Ports are chosen free on
# 127.0.0.1 at start. The cluster is named `rtp`, its node `rtpnode`, with
# partitions `short` (MaxTime 10 min, default), `long` (60 min) and `day`
# (24 h), and two
# users for tests, rtpslurm1 and rtpslurm2 (created when absent). Logs are
# in DIR/log; a failed start prints the last lines of each.
set -euo pipefail

usage() {
    echo "usage: $0 start DIR [EXTRA_CONF] | stop DIR" >&2
    exit 2
}
[ $# -eq 2 ] || [ $# -eq 3 ] || usage
action=$1
mkdir -p "$2"
dir=$(cd "$2" && pwd)
extra=${3:-}
run="$dir/run"
log="$dir/log"

# A free TCP port on 127.0.0.1.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits until `$2...` succeeds, up to $1 seconds.
wait_for() {
    local seconds=$1
    shift
    local deadline=$((SECONDS + seconds))
    until "$@" >/dev/null 2>&1; do
        if [ $SECONDS -ge $deadline ]; then
            echo "timed out after ${seconds}s waiting for: $*" >&2
            return 1
        fi
        sleep 0.2
    done
}

# Starts `$2...` in the background, its output in DIR/log/$1.out, its pid in
# DIR/run/$1.pid.
daemon() {
    local name=$1
    shift
    setsid "$@" >"$log/$name.out" 2>&1 </dev/null &
    echo $! >"$run/$name.pid"
}

show_logs() {
    for f in "$log"/*; do
        [ -f "$f" ] || continue
        echo "== $f" >&2
        tail -n 15 "$f" >&2
    done
}

stop() {
    # Reverse order of start; SIGTERM, then SIGKILL after 10 s.
    for name in slurmd slurmctld slurmdbd mariadbd munged; do
        local pidfile="$run/$name.pid"
        [ -f "$pidfile" ] || continue
        local pid
        pid=$(cat "$pidfile")
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
            for _ in $(seq 50); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.2
            done
            kill -KILL "$pid" 2>/dev/null || true
        fi
        rm -f "$pidfile"
    done
}

start() {
    for binary in munged mungekey mariadbd mariadb-install-db slurmdbd slurmctld slurmd sacctmgr sacct sbatch; do
        command -v "$binary" >/dev/null || {
            echo "$binary is missing: install Debian's munge, mariadb-server, slurmdbd, slurmctld, slurmd and slurm-client (scripts/setup-tests.sh does)" >&2
            exit 1
        }
    done
    [ "$(id -u)" -eq 0 ] || { echo "the cluster's daemons must start as root" >&2; exit 1; }
    stop
    rm -rf "$dir/munge" "$dir/mysql" "$dir/state" "$dir/spool" "$log" "$run"
    mkdir -p "$dir/munge" "$dir/mysql" "$dir/state" "$dir/spool" "$log" "$run"
    # munged refuses a socket directory others cannot traverse.
    chmod 0755 "$dir" "$dir/munge"
    trap 'echo "the Slurm cluster did not start" >&2; show_logs; stop' ERR

    local socket="$dir/munge/munge.socket.2"
    mungekey --create --keyfile="$dir/munge/munge.key" --force
    chmod 0600 "$dir/munge/munge.key"
    daemon munged munged --foreground --force --socket="$socket" \
        --key-file="$dir/munge/munge.key" --pid-file="$dir/munge/munged.pid" \
        --seed-file="$dir/munge/munged.seed" --log-file="$log/munged.log"
    wait_for 10 test -S "$socket"

    local db_port db_socket="$dir/mysql/mysqld.sock"
    db_port=$(free_port)
    mariadb-install-db --no-defaults --datadir="$dir/mysql/data" --user=root \
        --auth-root-authentication-method=socket >"$log/mariadb-install.out" 2>&1
    daemon mariadbd mariadbd --no-defaults --datadir="$dir/mysql/data" --user=root \
        --socket="$db_socket" --port="$db_port" --bind-address=127.0.0.1 \
        --skip-name-resolve --log-error="$log/mariadbd.log"
    wait_for 30 mariadb --no-defaults --socket="$db_socket" -e 'select 1'
    mariadb --no-defaults --socket="$db_socket" -e "
        CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'rtp-slurm';
        GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';"

    local ctld_port slurmd_port dbd_port cpus
    ctld_port=$(free_port)
    slurmd_port=$(free_port)
    dbd_port=$(free_port)
    cpus=$(nproc)
    cat >"$dir/slurm.conf" <<EOF
ClusterName=rtp
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$socket
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$run/slurmctld.daemon.pid
SlurmdPidFile=$run/slurmd.daemon.pid
SlurmctldLogFile=$log/slurmctld.log
SlurmdLogFile=$log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$dbd_port
AccountingStoragePass=$socket
NodeName=rtpnode NodeAddr=127.0.0.1 NodeHostname=$(hostname) CPUs=$cpus RealMemory=1000 State=UNKNOWN
PartitionName=short Nodes=rtpnode Default=YES MaxTime=10 State=UP
PartitionName=long Nodes=rtpnode MaxTime=60 State=UP
PartitionName=day Nodes=rtpnode MaxTime=1-00:00:00 State=UP
EOF
    if [ -n "$extra" ]; then
        cat "$extra" >>"$dir/slurm.conf"
    fi
    # slurmdbd reads slurmdbd.conf beside slurm.conf, and only with mode 0600.
    cat >"$dir/slurmdbd.conf" <<EOF
AuthType=auth/munge
AuthInfo=socket=$socket
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$dbd_port
SlurmUser=root
PidFile=$run/slurmdbd.daemon.pid
LogFile=$log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$db_port
StorageUser=slurm
StoragePass=rtp-slurm
StorageLoc=slurm_acct_db
EOF
    chmod 0600 "$dir/slurmdbd.conf"
    export SLURM_CONF="$dir/slurm.conf"

    daemon slurmdbd slurmdbd -D
    wait_for 30 sacctmgr -n list cluster
    sacctmgr -i add cluster rtp >/dev/null
    sacctmgr -i add account research Cluster=rtp Description=tests Organization=rtp >/dev/null
    for user in rtpslurm1 rtpslurm2; do
        id "$user" >/dev/null 2>&1 || useradd --no-create-home --shell /bin/sh "$user"
        sacctmgr -i add user "$user" Account=research >/dev/null
    done
    daemon slurmctld slurmctld -D -i
    wait_for 30 scontrol ping
    daemon slurmd slurmd -D -N rtpnode
    wait_for 30 sh -c 'sinfo -h -n rtpnode -o %t | grep -qx idle'
    trap - ERR
    echo "SLURM_CONF=$SLURM_CONF"
}

case "$action" in
start) start ;;
stop) stop ;;
*) usage ;;
esac
