#!/usr/bin/env bash
# `ggufkit batch` on a real Slurm job array, on this machine: installs Debian's slurm-wlm and munge
# (when sbatch is missing; needs root and apt), starts munged, slurmctld and slurmd on localhost (one
# node named after `hostname -s`, no cgroups: proctrack/linuxproc, task/none; state, spool and logs
# in a temporary folder), submits deploy/slurm/batch.sbatch with `sbatch --array=0-3 --wait` on a
# manifest of the fixture models, then checks that
#   - every array task wrote its own state file batch-state.shard-I-of-4.json,
#   - `ggufkit report --merge` lists every job of the manifest exactly once,
#   - each output is byte-identical to a local `ggufkit convert -t TYPE` of the same model,
# and stops the daemons it started (also on failure). Prints the time of each step.
#
# Usage: scripts/test-slurm.sh   (env: GGUFKIT_BIN=path to a release ggufkit, default target/release)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${GGUFKIT_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/ggufkit}
[ -x "$BIN" ] || { echo "missing $BIN: cargo build --release --bin ggufkit" >&2; exit 1; }
t0=$(date +%s.%N)
step() { printf '[test-slurm %6.1f s] %s\n' "$(echo "$(date +%s.%N) - $t0" | bc -l)" "$*" >&2; }

if ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then
    step "installing slurm-wlm and munge"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q slurm-wlm munge >/dev/null
fi
step "$(sinfo --version 2>/dev/null || echo slurm ?), $(munged --version 2>&1 | head -1 | cut -d' ' -f1)"

TMP=$(mktemp -d /tmp/ggufkit-slurm.XXXXXX)
HOST=$(hostname -s)
PIDS=()
cleanup() {
    local rc=$?
    for pf in "$TMP/slurmd.pid" "$TMP/slurmctld.pid" "$TMP/munged.pid"; do
        if [ -s "$pf" ]; then
            pid=$(cat "$pf")
            kill "$pid" 2>/dev/null || true
            for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        fi
    done
    if [ $rc -ne 0 ]; then
        echo "--- logs in $TMP (kept)" >&2
        tail -n 20 "$TMP"/*.log >&2 || true
    else
        rm -rf "$TMP"
    fi
    step "daemons stopped"
}
trap cleanup EXIT

# --- munge: our own key and socket ---------------------------------------------------------------
mkdir -p "$TMP/munge" "$TMP/state" "$TMP/spool"
chmod 700 "$TMP/munge"
dd if=/dev/urandom of="$TMP/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$TMP/munge/munge.key"
SOCKET=$TMP/munge/munge.socket
munged --force --key-file="$TMP/munge/munge.key" --socket="$SOCKET" --pid-file="$TMP/munged.pid" \
    --log-file="$TMP/munged.log" --seed-file="$TMP/munge/munged.seed"
step "munged started"

# --- slurm: one node, no cgroups ----------------------------------------------------------------
# Ports the kernel says are free now, not fixed ones: two test runs on one machine (scripts/
# test-under-load.sh) each start their own cluster, and fixed ports made the second one's daemons
# die with "Address already in use" while it waited for its node.
read -r CTLD_PORT SLURMD_PORT < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks:
    s.bind(("", 0))
print(*(s.getsockname()[1] for s in socks))')
cat > "$TMP/slurm.conf" <<EOF
ClusterName=ggufkit-test
SlurmctldHost=$HOST
AuthType=auth/munge
AuthInfo=socket=$SOCKET
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
StateSaveLocation=$TMP/state
SlurmdSpoolDir=$TMP/spool
SlurmctldPidFile=$TMP/slurmctld.pid
SlurmdPidFile=$TMP/slurmd.pid
SlurmctldLogFile=$TMP/slurmctld.log
SlurmdLogFile=$TMP/slurmd.log
NodeName=$HOST CPUs=$(nproc) RealMemory=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 512 )) State=UNKNOWN
PartitionName=test Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF=$TMP/slurm.conf
slurmctld -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF"
# Wait for the node by the clock (a loaded machine makes every sinfo slow), and stop waiting as
# soon as a daemon has exited: its log says why.
state=
deadline=$(( $(date +%s) + 300 ))
while [ "$(date +%s)" -lt "$deadline" ]; do
    for d in slurmctld slurmd; do
        pgrep -f "^$d -f $SLURM_CONF\$" >/dev/null || { echo "$d exited before node $HOST was idle (see $TMP/$d.log)" >&2; exit 1; }
    done
    state=$(timeout 30 sinfo -h -n "$HOST" -o %t 2>/dev/null || true)
    [ "$state" = idle ] && break
    sleep 0.5
done
[ "$state" = idle ] || { echo "node $HOST is '$state', not idle after 300 s" >&2; exit 1; }
step "slurmctld and slurmd up, node $HOST idle"

# --- the batch: 4 fixture models × 2 types in 4 array tasks --------------------------------------
mkdir -p "$TMP/models"
for m in tiny-llama tiny-qwen2 tiny-phi3 tiny-gemma2; do cp -r "$ROOT/tests/fixtures/models/$m" "$TMP/models/"; done
cat > "$TMP/manifest.toml" <<EOF
output = "out"
types = ["Q8_0", "Q4_K_M"]
[[model]]
path = "models/tiny-*"
EOF
export GGUFKIT=$BIN
sbatch --array=0-3 --wait --cpus-per-task=1 --mem=1G --chdir="$TMP" --output="$TMP/task-%a.log" \
    "$ROOT/deploy/slurm/batch.sbatch" "$TMP/manifest.toml" >&2
step "sbatch --array=0-3 --wait finished"
for i in 0 1 2 3; do
    [ -f "$TMP/out/batch-state.shard-$i-of-4.json" ] || { echo "task $i wrote no state file" >&2; cat "$TMP/task-$i.log" >&2; exit 1; }
done

"$BIN" report --merge "$TMP/out" >/dev/null
python3 - "$TMP/out/report.json" <<'EOF'
import json, sys
rows = json.load(open(sys.argv[1]))
ids = sorted(r["id"] for r in rows)
want = sorted(f"{m}/{t}" for m in ["tiny-llama", "tiny-qwen2", "tiny-phi3", "tiny-gemma2"] for t in ["Q8_0", "Q4_K_M"])
assert ids == want, f"merged report lists {ids}, expected each of {want} once"
assert all(r["status"] == "finished" for r in rows), rows
print(f"merged report: {len(ids)} jobs, each once", file=sys.stderr)
EOF
mkdir -p "$TMP/local"
for m in tiny-llama tiny-qwen2 tiny-phi3 tiny-gemma2; do
    "$BIN" convert "$TMP/models/$m" -t Q8_0,Q4_K_M -o "$TMP/local" >/dev/null
    for t in Q8_0 Q4_K_M; do
        cmp "$TMP/out/$m-$t.gguf" "$TMP/local/$m-$t.gguf"
    done
done
step "every output equals its local conversion"
echo "test-slurm: ok" >&2
