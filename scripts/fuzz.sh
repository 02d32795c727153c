#!/usr/bin/env bash
# scripts/fuzz.sh TARGET SECONDS [libFuzzer options...]
#   Runs one cargo-fuzz target of fuzz/ (or every target with TARGET=all, SECONDS split evenly) with
#   the limits the fuzz figures are held to: 2048 MB RSS (and so no single allocation over 2 GB),
#   1 s per input. Exits non-zero on a crash, a timeout or an out-of-memory input; libFuzzer writes
#   the input to fuzz/artifacts/TARGET/. New coverage goes to fuzz/work/TARGET (not committed); the
#   committed seeds in fuzz/corpus/TARGET are only read.
#
# Needs the nightly toolchain (libFuzzer instrumentation) and cargo-fuzz: a missing cargo-fuzz is
# installed from crates.io; a missing nightly is installed with rustup when rustup exists. When
# neither works the script says so and fails, unless GGUFKIT_FUZZ=off, which skips it with a
# message (for machines that cannot build nightly code; the fuzz figures then do not hold there).
#
# Builds use debug assertions (-a: integer overflow panics) and no sanitizer (-s none: the parsers
# are safe Rust; the only unsafe code they reach is the read-only mmap).
set -euo pipefail
cd "$(dirname "$0")/.."
TARGETS=(gguf_reader safetensors_checkpoint config_arch tokenizer_json tokenizer_model imatrix validate_logits batch_manifest)

if [ $# -lt 2 ]; then
  echo "usage: scripts/fuzz.sh TARGET|all SECONDS [libFuzzer options]; targets: ${TARGETS[*]}" >&2
  exit 2
fi
target=$1 seconds=$2
shift 2

say() { echo "[fuzz] $*" >&2; }
if [ "${GGUFKIT_FUZZ:-on}" = off ]; then
  say "GGUFKIT_FUZZ=off: fuzzing skipped"
  exit 0
fi
if ! cargo +nightly --version >/dev/null 2>&1; then
  if command -v rustup >/dev/null; then
    say "installing the nightly toolchain (rustup toolchain install nightly --profile minimal)"
    rustup toolchain install nightly --profile minimal >&2
  fi
  if ! cargo +nightly --version >/dev/null 2>&1; then
    say "FAILED: no nightly Rust toolchain (needed by cargo-fuzz); install one, or set GGUFKIT_FUZZ=off to skip fuzzing"
    exit 1
  fi
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  say "installing cargo-fuzz (cargo install cargo-fuzz --locked)"
  cargo install cargo-fuzz --locked >&2
fi

run_one() {
  local t=$1 s=$2 work=${WORK:-work}
  shift 2
  mkdir -p "fuzz/$work/$t" "fuzz/artifacts/$t"
  say "$t: ${s}s"
  # -timeout: an input running longer is a failure (1 s; wall-clock time, so a loaded machine can
  # stall a niced fuzzer past it: GGUFKIT_FUZZ_TIMEOUT raises it, as the test command does);
  # -rss_limit_mb=2048 (malloc_limit_mb follows it): a process over 2 GB or one allocation over
  # 2 GB is a failure.
  (cd fuzz && cargo +nightly fuzz run -a -s none "$t" "$work/$t" "corpus/$t" -- \
    -max_total_time="$s" -rss_limit_mb=2048 -timeout="${GGUFKIT_FUZZ_TIMEOUT:-1}" -print_final_stats=1 \
    -artifact_prefix="artifacts/$t/" "$@")
}

if [ "$target" = all ]; then
  (cd fuzz && cargo +nightly fuzz build -a -s none)
  per=$(( seconds / ${#TARGETS[@]} ))
  [ "$per" -ge 1 ] || per=1
  # short runs start from the seeds alone (a fresh fuzz/work-all/), so that their length does not
  # grow with what earlier long runs found (libFuzzer replays the whole corpus before its clock)
  rm -rf fuzz/work-all
  for t in "${TARGETS[@]}"; do WORK=work-all run_one "$t" "$per" "$@"; done
else
  run_one "$target" "$seconds" "$@"
fi
