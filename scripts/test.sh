#!/usr/bin/env bash
# The test command (README, .ci/run): builds/finds the reference tools, then runs every test of the
# workspace against them, then a short run of every fuzz target (scripts/fuzz.sh all 64: about 8 s
# each; GGUFKIT_FUZZ=off skips it, saying so). Reference tools are cached outside the checkout (see
# scripts/setup-reference-tools.sh), so only the first run on a machine builds them.
set -euo pipefail
cd "$(dirname "$0")/.."
REF=$(bash scripts/setup-reference-tools.sh | tail -n 1)
export GGUFKIT_REF="$REF"
status=0
cargo test --workspace --release --locked --no-fail-fast "$@" || status=$?
# a 10 s per-input limit here, not the 1 s of the measured runs: the limit is wall-clock time, and
# the suite must pass on a loaded machine (a 1 s stall of a 2 ms input was seen under load)
GGUFKIT_FUZZ_TIMEOUT=10 bash scripts/fuzz.sh all 64 || status=$?
exit "$status"
