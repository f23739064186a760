#!/usr/bin/env bash
# A single-node Slurm on this machine, from the distribution's packages, for the `slurm` tests
# (tests/test_slurm.py) and for trying workflow/profiles/slurm without a cluster.
#   scripts/slurm-local.sh [start]   install slurm-wlm + munge if missing (apt-get), write
#                                    /etc/slurm/slurm.conf, start munged, slurmctld, slurmd;
#                                    wait until the node takes jobs. Idempotent: a running,
#                                    healthy cluster with the same config is left alone.
#   scripts/slurm-local.sh stop      stop the three daemons (started by this script)
#   scripts/slurm-local.sh status    exit 0 when the local cluster takes jobs
# Needs root (packages, daemons, /etc). No cgroups: processes are tracked through /proc
# (proctrack/linuxproc) and tasks are not confined (task/none). Every finished job is written
# to Slurm's job-completion record, a text file (JobCompType=jobcomp/filetxt, JobCompLoc below):
# that, not Snakemake's own log, is what the tests check. There is no accounting database
# (sacct has nothing to report); the executor plugin queries job states with squeue, which
# keeps finished jobs for MinJobAge seconds.
# When it cannot bring Slurm up, it prints why on one line and exits non-zero.
set -euo pipefail

CONF=/etc/slurm/slurm.conf
JOBCOMP=/var/log/slurm/jobcomp.log
RUN=/run/robsens-slurm            # pid files of the daemons this script started
NODE=localhost

die() { echo "slurm-local: $*" >&2; exit 1; }

ready() {
  # The controller answers and the node is idle, mixed or allocated (not down or drained).
  scontrol ping 2>/dev/null | grep -q "is UP" &&
    [ -n "$(sinfo -h -n "$NODE" -t idle,mix,alloc -o %n 2>/dev/null)" ]
}

install_packages() {
  command -v slurmctld >/dev/null && command -v slurmd >/dev/null &&
    command -v sbatch >/dev/null && command -v munged >/dev/null && return
  command -v apt-get >/dev/null ||
    die "slurm-wlm and munge are not installed and there is no apt-get to install them;" \
        "install Slurm (slurmctld, slurmd, client) and munge with your package manager"
  echo "slurm-local: installing slurm-wlm and munge (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null 2>&1; then
    apt-get update -qq >/dev/null 2>&1 || die "apt-get update failed (no network?)"
    apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null ||
      die "apt-get install slurm-wlm munge failed"
  fi
}

write_config() {
  local cpus mem
  cpus=$(nproc)
  # What slurmd will find, less 10% for the system: a node that reports less memory than
  # slurm.conf declares is drained.
  mem=$(awk '/MemTotal/ {printf "%d", $2 / 1024 * 0.9}' /proc/meminfo)
  cat >"$CONF.new" <<EOF
# Written by robsens scripts/slurm-local.sh: a single-node cluster on localhost.
ClusterName=robsens-local
SlurmctldHost=localhost
SlurmUser=slurm
AuthType=auth/munge
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$JOBCOMP
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
MpiDefault=none
ReturnToService=2
MinJobAge=600
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
  if cmp -s "$CONF.new" "$CONF"; then rm "$CONF.new"; return 1; fi
  mv "$CONF.new" "$CONF"
}

daemon_running() { [ -s "$RUN/$1.pid" ] && kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null; }

stop_daemon() {
  local pid
  daemon_running "$1" || return 0
  pid=$(cat "$RUN/$1.pid")
  kill "$pid"
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.2; done
  die "$1 (pid $pid) did not stop within 10 s"
}

start() {
  [ "$(id -u)" = 0 ] || die "needs root (installs packages, writes /etc/slurm, starts daemons);" \
                            "run it with sudo or as root"
  install_packages
  mkdir -p "$RUN" /run/munge /var/lib/slurm/slurmctld /var/lib/slurm/slurmd /var/log/slurm
  chown munge:munge /run/munge
  chown slurm:slurm /var/lib/slurm/slurmctld /var/log/slurm
  if [ ! -s /etc/munge/munge.key ]; then
    mungekey --create --keyfile=/etc/munge/munge.key
    chown munge:munge /etc/munge/munge.key
    chmod 0400 /etc/munge/munge.key
  fi
  if write_config; then
    stop_daemon slurmd
    stop_daemon slurmctld
  elif ready; then
    echo "slurm-local: already running (partition debug, node $NODE); records: $JOBCOMP"
    return
  fi
  touch "$JOBCOMP" && chown slurm:slurm "$JOBCOMP"
  if ! munge -n </dev/null >/dev/null 2>&1; then
    runuser -u munge -- munged || die "munged did not start (see /var/log/munge/munged.log)"
    # munged (user munge) cannot write into $RUN (root's): record its pid here, so that
    # `stop` stops the munged this script started and no other
    pgrep -n -x -u munge munged > "$RUN/munged.pid" || die "munged exited after starting"
  fi
  daemon_running slurmctld || slurmctld || die "slurmctld did not start (see /var/log/slurm/slurmctld.log)"
  daemon_running slurmd || slurmd -N "$NODE" || die "slurmd did not start (see /var/log/slurm/slurmd.log)"
  for _ in $(seq 60); do
    if ready; then
      echo "slurm-local: up (partition debug, node $NODE, $(nproc) CPUs); records: $JOBCOMP"
      return
    fi
    # A node that was down (e.g. after a restart with another config) comes back on request.
    scontrol update nodename="$NODE" state=resume >/dev/null 2>&1 || true
    sleep 1
  done
  die "the node did not become ready within 60 s: $(sinfo -h -N -o '%N %T %E' 2>&1 | head -1)" \
      "(see /var/log/slurm/slurmctld.log and slurmd.log)"
}

stop() {
  [ "$(id -u)" = 0 ] || die "needs root to stop the daemons"
  stop_daemon slurmd
  stop_daemon slurmctld
  if [ -s "$RUN/munged.pid" ] && kill -0 "$(cat "$RUN/munged.pid")" 2>/dev/null; then
    kill "$(cat "$RUN/munged.pid")"
  fi
  echo "slurm-local: stopped"
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  status) ready || die "not running (start it with scripts/slurm-local.sh start)" ;;
  *) echo "usage: scripts/slurm-local.sh [start|stop|status]" >&2; exit 2 ;;
esac
