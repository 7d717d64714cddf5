#!/usr/bin/env bash
# A real single-node Slurm (Debian/Ubuntu, Slurm 22.05+) for eotrend's profile tests.
#
#   bash tests/slurm/cluster.sh up      # install what is missing, start, wait for idle
#   bash tests/slurm/cluster.sh down    # stop only the daemons `up` started
#
# Accounting (mariadb + slurmdbd) is on, so `sacct` works: the executor plugin polls
# job states with it and the tests read requested CPUs/memory from it. No systemd, no
# cgroups: memory limits are enforced by JobAcctGatherParams=OverMemoryKill.
# Needs root. Idempotent.
set -euo pipefail

ACCOUNT=${SLURM_TEST_ACCOUNT:-ci}
PARTITION=${SLURM_TEST_PARTITION:-debug}
CLUSTER=eotrendci
STATE=/run/eotrend-slurm          # what `up` started, newest last
LOGDIR=/var/log/slurm
DB_PASSWORD=eotrend-local-only    # MariaDB on a unix socket, no network

say() { printf '[cluster %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { say "error: $*"; exit 1; }

# running NAME PIDFILE: the daemon's pid if the pid file names a live NAME process.
running() {
  local pid
  [ -s "$2" ] || return 1
  pid=$(tr -dc '0-9' < "$2")
  [ -n "$pid" ] && [ -r "/proc/$pid/comm" ] || return 1
  case "$(cat "/proc/$pid/comm")" in "$1"*) echo "$pid" ;; *) return 1 ;; esac
}

# wait_until SECONDS WHAT COMMAND...
wait_until() {
  local deadline=$(( $(date +%s) + $1 )) what=$2
  shift 2
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || die "timed out waiting for $what"
    sleep 0.2
  done
}

started() { mkdir -p "$STATE"; echo "$1" >> "$STATE/started"; }

pidfile() {
  case $1 in
    munged) echo /run/munge/munged.pid ;; mariadbd) echo /run/mysqld/mysqld.pid ;;
    slurmdbd) echo /run/slurmdbd.pid ;; slurmctld) echo /run/slurmctld.pid ;;
    slurmd) echo /run/slurmd.pid ;;
  esac
}

install_packages() {
  local wanted=(munge slurmctld slurmd slurm-client slurmdbd mariadb-server) missing=()
  for p in "${wanted[@]}"; do
    [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" = "install ok installed" ] \
      || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return
  say "apt-get install ${missing[*]}"
  local policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then  # keep maintainer scripts from starting daemons
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    policy=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" > /dev/null
  if [ "$policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
}

write_config() {
  local host hw memory node
  host=$(hostname -s)
  hw=$(slurmd -C | head -1)       # the node's real CPUs/sockets/cores/memory
  memory=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$hw")
  # A node announcing more memory than it has is drained: keep 1 GiB back.
  node=$(sed "s/RealMemory=[0-9]*/RealMemory=$(( memory > 2048 ? memory - 1024 : memory ))/" \
    <<<"$hw")
  mkdir -p /etc/slurm "$LOGDIR" /var/lib/slurm/slurmctld /var/lib/slurm/slurmd
  chown slurm:slurm "$LOGDIR" /var/lib/slurm/slurmctld
  cat > /etc/slurm/slurm.conf <<CONF
ClusterName=$CLUSTER
SlurmctldHost=$host(127.0.0.1)
AuthType=auth/munge
CryptoType=crypto/munge
SlurmUser=slurm
SlurmdUser=root
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$LOGDIR/slurmctld.log
SlurmdLogFile=$LOGDIR/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=1
JobAcctGatherParams=OverMemoryKill
MpiDefault=none
SwitchType=switch/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
ReturnToService=2
MinJobAge=300
MailProg=/bin/true
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=6819
AccountingStoreFlags=job_comment
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=$PARTITION Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
  cat > /etc/slurm/slurmdbd.conf <<CONF
AuthType=auth/munge
DbdHost=localhost
DbdPort=6819
SlurmUser=slurm
LogFile=$LOGDIR/slurmdbd.log
PidFile=/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=$DB_PASSWORD
StorageLoc=slurm_acct_db
CONF
  chown slurm:slurm /etc/slurm/slurmdbd.conf   # slurmdbd refuses any other owner/mode
  chmod 600 /etc/slurm/slurmdbd.conf
}

start_munge() {
  [ -s /etc/munge/munge.key ] || { mungekey --create --keyfile=/etc/munge/munge.key
    chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key; }
  install -d -o munge -g munge -m 755 /run/munge
  install -d -o munge -g munge -m 700 /var/lib/munge /var/log/munge
  if ! running munged /run/munge/munged.pid > /dev/null; then
    runuser -u munge -- /usr/sbin/munged  # as root it refuses Debian's munge-owned key
    started munged
  fi
  wait_until 20 munged bash -c 'munge -n | unmunge'
}

start_accounting() {
  install -d -o mysql -g root -m 755 /run/mysqld
  if ! running mariadbd /run/mysqld/mysqld.pid > /dev/null; then
    [ -d /var/lib/mysql/mysql ] || mariadb-install-db --user=mysql --datadir=/var/lib/mysql \
      > /dev/null
    setsid /usr/sbin/mariadbd --user=mysql --skip-networking \
      --pid-file=/run/mysqld/mysqld.pid --socket=/run/mysqld/mysqld.sock \
      --innodb-buffer-pool-size=128M --log-error="$LOGDIR/mariadb.err" \
      < /dev/null > /dev/null 2>&1 &          # mariadbd does not daemonize itself
    started mariadbd
    wait_until 60 mariadbd mariadb-admin --socket=/run/mysqld/mysqld.sock ping
  fi
  mariadb --socket=/run/mysqld/mysqld.sock <<SQL
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DB_PASSWORD';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
SQL
  if ! running slurmdbd /run/slurmdbd.pid > /dev/null; then
    /usr/sbin/slurmdbd
    started slurmdbd
  fi
  wait_until 60 slurmdbd sacctmgr -n list cluster
  local out  # captured first: `cmd | grep -q` fails under pipefail on SIGPIPE
  out=$(sacctmgr -n -P list cluster format=cluster)
  grep -qx "$CLUSTER" <<<"$out" || sacctmgr -i add cluster "$CLUSTER" > /dev/null
  out=$(sacctmgr -n -P list account format=account)
  grep -qx "$ACCOUNT" <<<"$out" || sacctmgr -i add account "$ACCOUNT" Cluster="$CLUSTER" \
    Description=ci Organization=ci > /dev/null
  out=$(sacctmgr -n -P list assoc user=root account="$ACCOUNT" format=user)
  grep -qx root <<<"$out" || sacctmgr -i add user root Account="$ACCOUNT" \
    DefaultAccount="$ACCOUNT" > /dev/null
}

node_idle() {
  local state
  state=$(sinfo -h -N -n "$(hostname -s)" -o %T 2>/dev/null | head -1)
  case "$state" in
    idle|mixed|allocated) return 0 ;;
    down*|drain*|inval*) scontrol update NodeName="$(hostname -s)" State=RESUME || true ;;
  esac
  return 1
}

up() {
  [ "$(id -u)" = 0 ] || die "run as root"
  install_packages
  write_config
  start_munge
  start_accounting
  if ! running slurmctld /run/slurmctld.pid > /dev/null; then
    # -c: start without the jobs of the controller's last life. Slurm requeues jobs that
    # were running when it was stopped abruptly (a machine stopped mid-test), and one of
    # them holding the only node makes every test job wait until the test times out.
    /usr/sbin/slurmctld -c
    started slurmctld
  fi
  wait_until 30 slurmctld scontrol ping
  if ! running slurmd /run/slurmd.pid > /dev/null; then
    /usr/sbin/slurmd
    started slurmd
  fi
  wait_until 60 "the node to be idle" node_idle
  say "ready: $(sinfo -h -o '%P %D %T')"
}

down() {
  [ -s "$STATE/started" ] || { say "nothing started by us"; return 0; }
  if grep -qx slurmctld "$STATE/started" && scontrol ping > /dev/null 2>&1; then
    local jobs
    jobs=$(squeue -h -o %i 2> /dev/null || true)
    [ -z "$jobs" ] || scancel $jobs || true
  fi
  local name pid
  for name in $(tac "$STATE/started" | awk '!seen[$0]++'); do
    pid=$(running "$name" "$(pidfile "$name")") || continue
    kill -TERM "$pid" 2> /dev/null || true
    for _ in $(seq 100); do [ -d "/proc/$pid" ] || break; sleep 0.2; done
    if [ -d "/proc/$pid" ]; then kill -KILL "$pid" 2> /dev/null || true; fi
    rm -f "$(pidfile "$name")"  # slurm-owned daemons cannot remove root's pid files
    say "stopped $name"
  done
  rm -f "$STATE/started"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  *) die "usage: $0 up|down" ;;
esac
