#!/usr/bin/env bash
# scripts/test-under-load.sh [RUNS]: the test command (scripts/test.sh) must pass RUNS times in a
# row (default 3) while another full test run loads the machine: a second `cargo test --workspace`
# of the same build, in a loop, started first and stopped at the end. Takes about RUNS × 2 × the
# suite's time and the whole machine: run it on a machine of its own (the coordinator does, on
# the merged result). Logs: target/under-load/. Exits 0 only when every run passed.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
logs=target/under-load
mkdir -p "$logs"
REF=$(bash scripts/setup-reference-tools.sh | tail -n 1)
export GGUFKIT_REF="$REF"
# build once, so that the load and the measured runs share the test binaries
cargo test --workspace --release --locked --no-run

# the load: the whole suite again and again, in its own process group, stopped on exit
setsid bash -c 'while true; do cargo test --workspace --release --locked --no-fail-fast; done' \
  >"$logs/load.log" 2>&1 &
load_pid=$!
stop_load() { kill -- "-$load_pid" 2>/dev/null || true; wait "$load_pid" 2>/dev/null || true; }
trap stop_load EXIT
sleep 30 # let the load reach its test binaries

passed=0
for i in $(seq 1 "$runs"); do
  start=$(date +%s)
  if bash scripts/test.sh >"$logs/run$i.log" 2>&1; then
    passed=$((passed + 1))
    echo "under load: run $i passed in $(( $(date +%s) - start )) s (load average $(cut -d' ' -f1-3 /proc/loadavg))"
  else
    echo "under load: run $i FAILED after $(( $(date +%s) - start )) s; see $logs/run$i.log:"
    grep -E "^test .* FAILED|panicked|^error" "$logs/run$i.log" | head -40 || true
    break
  fi
done
echo "under load: $passed of $runs runs passed in a row"
[ "$passed" -eq "$runs" ]
