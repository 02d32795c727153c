#!/usr/bin/env bash
# Quality at equal file size: `ggufkit quantize --size S` (per-tensor types chosen by measured
# sensitivity, issue 14) against llama-quantize's standard mix whose file is S bytes, without and
# with the same importance matrix, by mean KLD and PPL from the pinned `llama-perplexity`
# (--kl-divergence-base on the F16 file, then --kl-divergence per quantized file), on held-out text.
#
# Models (MODELS, default "tiny-llama tiny-qwen2 bench"):
#   tiny-*: the trained fixtures of tests/fixtures/models, converted to F16 by ggufkit (identical to
#           the pinned converter's F16); ctx $TINY_CTX (128), $TINY_CHUNKS (40) windows.
#   bench:  the 1.5 B Qwen2.5-Coder F16 GGUF of scripts/bench-convert.sh ($GGUFKIT_BENCH); ctx
#           $BENCH_CTX (512), $BENCH_CHUNKS (4) windows. Its weights were dequantized from a Q4_K_M
#           GGUF (make-bench-model.py), so they sit on a Q4_K grid: read its rows with that in mind.
# Sizes (TYPES, default "Q3_K_M Q4_K_M Q5_K_M"): llama-quantize writes the standard mix; its file
#   size S is the --size given to ggufkit (ours is <= S; more than 1% below is marked "(unspent)":
#   no type lowered the predicted error further).
# Importance matrix: llama-imatrix over tests/fixtures/corpus/calib.txt (calibration text); the
#   evaluation text is tests/fixtures/corpus/eval-pydocs.txt (held out). "imatrix" rows give the
#   same matrix to both quantizers.
#
# Usage: nice -n 19 scripts/bench-quality.sh > table.md
#   env: MODELS, TYPES, THREADS, OUT, TINY_CTX/TINY_CHUNKS, BENCH_CTX/BENCH_CHUNKS, IMATRIX_CHUNKS (2x the
#   windows), GGUFKIT_BIN (a copy of the binary, so that a rebuild during the run does not change it)
# Prints a markdown table on stdout; progress on stderr. Release build; not a test.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
REF=${GGUFKIT_REF:-$HOME/.cache/ggufkit-ref/llama-cpp-python-0.3.36}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BENCH=${GGUFKIT_BENCH:-$HOME/.cache/ggufkit-bench}
NT=${THREADS:-$(nproc)}
MODELS=${MODELS:-tiny-llama tiny-qwen2 bench}
TYPES=${TYPES:-Q3_K_M Q4_K_M Q5_K_M}
TINY_CTX=${TINY_CTX:-128}
TINY_CHUNKS=${TINY_CHUNKS:-40}
BENCH_CTX=${BENCH_CTX:-512}
BENCH_CHUNKS=${BENCH_CHUNKS:-4}
OUT=${OUT:-${TMPDIR:-/tmp}/ggufkit-bench-quality}
BIN=${GGUFKIT_BIN:-$TARGET/release/ggufkit}
LQ=$REF/build/bin/llama-quantize
LP=$REF/build/bin/llama-perplexity
LI=$REF/build/bin/llama-imatrix
CALIB=$ROOT/tests/fixtures/corpus/calib.txt
EVAL=$ROOT/tests/fixtures/corpus/eval-pydocs.txt
mkdir -p "$OUT"

for t in "$BIN" "$LQ" "$LP" "$LI"; do
    [ -x "$t" ] || { echo "missing $t (cargo build --release; scripts/setup-reference-tools.sh)" >&2; exit 1; }
done

log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }

# kld FILE BASE CTX CHUNKS -> "KLD PPL_Q PPL_BASE". The pinned llama.cpp can lose the tail of its
# log at exit (tests/common llama_tool_log): a run whose log lacks the figures is run again (6 tries).
kld() {
    local f=$1 base=$2 ctx=$3 chunks=$4 log=$1.kld.log k="" q="" b="" try
    for try in 1 2 3 4 5 6; do
        "$LP" -m "$f" --kl-divergence-base "$base" --kl-divergence -c "$ctx" --chunks "$chunks" -t "$NT" >"$log" 2>&1
        k=$(sed -n 's/.*Mean *KLD: *\([0-9.e+-]*\).*/\1/p' "$log" | tail -1)
        q=$(sed -n 's/.*Mean PPL(Q) *: *\([0-9.e+-]*\).*/\1/p' "$log" | tail -1)
        b=$(sed -n 's/.*Mean PPL(base) *: *\([0-9.e+-]*\).*/\1/p' "$log" | tail -1)
        [ -n "$k" ] && [ -n "$q" ] && [ -n "$b" ] && break
        echo "no KLD in $log (try $try)" >&2
    done
    [ -n "$k" ] && [ -n "$q" ] && [ -n "$b" ] || exit 1
    echo "$k $q $b"
}

echo "| model | size of | imatrix | llama.cpp bytes | ggufkit bytes | llama.cpp KLD | ggufkit KLD | KLD change | llama.cpp ΔPPL | ggufkit ΔPPL | ggufkit mix |"
echo "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|"
for m in $MODELS; do
    case $m in
        bench) f16=$BENCH/qwen2.5-coder-1.5b-f16.gguf; ctx=$BENCH_CTX; chunks=$BENCH_CHUNKS ;;
        *)
            f16=$OUT/$m-F16.gguf; ctx=$TINY_CTX; chunks=$TINY_CHUNKS
            [ -f "$f16" ] || "$BIN" convert "$ROOT/tests/fixtures/models/$m" -t F16 -o "$f16" --no-modelfile --force >&2
            ;;
    esac
    [ -f "$f16" ] || { echo "missing $f16 (scripts/bench-convert.sh makes the bench model)" >&2; exit 1; }
    im=$OUT/$m.imatrix.gguf
    if [ ! -f "$im" ]; then
        log "$m: llama-imatrix over calib.txt"
        "$LI" -m "$f16" -f "$CALIB" -c "$ctx" --chunks "${IMATRIX_CHUNKS:-$((chunks * 2))}" -t "$NT" -o "$im" >"$OUT/$m.imatrix.log" 2>&1
    fi
    base=$OUT/$m.kld-base
    if [ ! -f "$base" ]; then
        log "$m: F16 logits (KLD base)"
        "$LP" -m "$f16" -f "$EVAL" --kl-divergence-base "$base" -c "$ctx" --chunks "$chunks" -t "$NT" >"$OUT/$m.base.log" 2>&1
    fi
    for ty in $TYPES; do
        for with in no yes; do
            imarg=(); tag=$m-$ty-plain
            if [ $with = yes ]; then imarg=(--imatrix "$im"); tag=$m-$ty-imatrix; fi
            ref=$OUT/$tag-llama.gguf; ours=$OUT/$tag-ggufkit.gguf
            log "$tag: llama-quantize"
            "$LQ" "${imarg[@]}" "$f16" "$ref" "$ty" "$NT" >"$ref.log" 2>&1
            size=$(stat -c %s "$ref")
            log "$tag: ggufkit quantize --size ${size}B"
            "$BIN" quantize "${imarg[@]}" "$f16" "$ours" --size "${size}B" --force >"$ours.log" 2>&1
            osize=$(stat -c %s "$ours")
            if [ "$osize" -gt "$size" ]; then
                echo "$ours: $osize bytes, above the budget $size" >&2; exit 1
            fi
            # More than 1% below: no type lowered the predicted error further (e.g. tensors already on
            # a grid); measured anyway, and the table says so ("(unspent)" after the size).
            unspent=""
            [ $((osize * 100)) -lt $((size * 99)) ] && unspent=" (unspent)"
            mix=$(sed -n 's/^mix: \(.*\) (quantized tensors).*/\1/p' "$ours.log")
            log "$tag: llama-perplexity x2"
            read -r rk rq rb < <(kld "$ref" "$base" "$ctx" "$chunks")
            read -r ok oq _ < <(kld "$ours" "$base" "$ctx" "$chunks")
            awk -v m="$m" -v ty="$ty" -v w="$with" -v rs="$size" -v os="$osize" -v un="$unspent" -v rk="$rk" -v ok="$ok" -v rq="$rq" -v oq="$oq" -v b="$rb" -v mix="$mix" \
                'BEGIN { printf "| %s | %s | %s | %d | %d%s | %.6f | %.6f | %+.1f%% | %+.4f | %+.4f | %s |\n", m, ty, w, rs, os, un, rk, ok, 100*(ok-rk)/rk, rq-b, oq-b, mix }'
        done
    done
done
