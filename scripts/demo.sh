#!/usr/bin/env bash
# The README's first command: on a fresh machine, set up the reference llama.cpp, build ggufkit,
# convert the embedded default model (tests/fixtures/models/tiny-llama, a small llama trained on
# Shakespeare and the Python docs) to Q4_K_M in one pass, and let llama.cpp answer a prompt with it.
set -euo pipefail
cd "$(dirname "$0")/.."
REF=$(bash scripts/setup-reference-tools.sh | tail -n 1)
cargo build --release --locked -q
OUT=${DEMO_OUT:-target/demo}
mkdir -p "$OUT"
./target/release/ggufkit plan tests/fixtures/models/tiny-llama --vram 8GiB --ctx 2048
./target/release/ggufkit convert tests/fixtures/models/tiny-llama -t Q4_K_M -o "$OUT" --force
./target/release/ggufkit inspect "$OUT/tiny-llama-Q4_K_M.gguf" | head -n 12
echo "--- Modelfile (ollama create tiny-llama -f $OUT/tiny-llama-Q4_K_M.Modelfile)"
cat "$OUT/tiny-llama-Q4_K_M.Modelfile"
echo "--- llama.cpp answers:"
"$REF/build/bin/llama-completion" -m "$OUT/tiny-llama-Q4_K_M.gguf" -p "The list data type has some more methods." \
  -n 48 --temp 0 -no-cnv --no-repack --no-warmup -lv 0 2>/dev/null </dev/null
echo
