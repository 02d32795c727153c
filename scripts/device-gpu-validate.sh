#!/usr/bin/env bash
# `ggufkit validate --device cuda` on the lent GPU machine (the device tool). Not a test: a record.
# Runs there from the repo root with CARRY (default .devcarry/gpu) carried:
#   CARRY/ggufkit.xz        ggufkit built here by scripts/build-cuda.sh (xz-compressed)
#   CARRY/tiny-llama/, CARRY/tiny-gemma2/   trained fixture models (HF folders, tests/fixtures)
#   CARRY/eval-pydocs.txt   the held-out eval text (tests/fixtures/corpus)
#   CARRY/smollm2/          SmolLM2-135M's config.json and tokenizer files (scripts/make-smollm2-hf.py)
#   CARRY/llama-src.tgz     the pinned llama.cpp source (for a CPU llama-perplexity, §6 speed)
# Steps, everything logged to $OUT:
#  1. GPU = CPU: the trained fixtures converted to Q8_0 and Q4_K_M, validated on cpu and on cuda;
#     PPL, KLD and top-1 of every file compared (scripts/compare-validate.py).
#  2. SmolLM2-135M (its real shape and tokenizer, random weights made here with transformers:
#     speed and memory don't depend on the values) at ctx 512: validate on cuda with nvidia-smi
#     sampled every 20 ms (peak GPU memory), then on cpu; tokens/s of both; GPU = CPU again.
#  3. Speed against llama.cpp: llama-perplexity (built here for CPU from the pinned source) on the
#     same Q8_0 file, same ctx, chunks and threads, next to our CPU eval.
set -uo pipefail
CARRY=${CARRY:-.devcarry/gpu}
OUT=${OUT:-/tmp/gpu-validate-out}
W=/tmp/gpuval
CHUNKS=${CHUNKS:-16}
mkdir -p "$W" "$OUT"
exec > >(tee -a "$OUT/log.txt") 2>&1
date -u
nproc
nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used --format=csv

# CUDA runtime libraries: those of the machine's torch environment, then the system toolkit.
SITE=$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
LIBS=$(ls -d "$SITE"/nvidia/*/lib "$SITE"/nvidia/cu13/lib* 2>/dev/null | tr '\n' ':')
export LD_LIBRARY_PATH="${LIBS}/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"

BIN=$W/ggufkit
[ -x "$BIN" ] || { xz -dc "$CARRY/ggufkit.xz" > "$BIN" && chmod +x "$BIN"; }
TEXT=$CARRY/eval-pydocs.txt
NT=$(nproc)

# Step 3's llama.cpp CPU build runs in the background while the GPU steps run (they barely use the CPU).
LP=$W/llama-build/bin/llama-perplexity
if [ ! -x "$LP" ]; then
  ( [ -d "$W/llama.cpp" ] || tar xzf "$CARRY/llama-src.tgz" -C "$W"
    cmake -S "$W/llama.cpp" -B "$W/llama-build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON \
      -DGGML_CUDA=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
      -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF \
      >"$W/llama-cmake.log" 2>&1 &&
    cmake --build "$W/llama-build" -j "$NT" --target llama-perplexity >"$W/llama-build.log" 2>&1 ) &
  BUILD_PID=$!
fi

# GPU memory sampler: prints the peak of memory.used (MiB) minus the value before the run.
gpu_peak() { # gpu_peak LOG CMD...
  local log=$1; shift
  local base; base=$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits | head -1)
  nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 20 > "$log" &
  local smi=$!
  "$@"; local rc=$?
  kill $smi 2>/dev/null; wait $smi 2>/dev/null
  echo "GPU memory: before ${base} MiB, peak $(sort -n "$log" | tail -1) MiB (peak minus before: $(( $(sort -n "$log" | tail -1) - base )) MiB)" >&2
  return $rc
}

echo "== 1. GPU = CPU on the trained fixtures"
for m in tiny-llama tiny-gemma2; do
  for t in Q8_0 Q4_K_M; do
    [ -f "$W/$m-$t.gguf" ] || "$BIN" convert "$CARRY/$m" -t "$t" -o "$W/$m-$t.gguf" --force >/dev/null
  done
  for dev in cpu cuda; do
    "$BIN" validate "$CARRY/$m" "$W/$m-Q8_0.gguf" "$W/$m-Q4_K_M.gguf" --text "$TEXT" --ctx 256 --chunks "$CHUNKS" \
      --device "$dev" --json > "$OUT/$m-$dev.json" || echo "FAILED: validate $m on $dev"
  done
  python3 scripts/compare-validate.py "$OUT/$m-cpu.json" "$OUT/$m-cuda.json"
done

echo "== 2. SmolLM2-135M shape, random weights, ctx 512"
S=$W/smollm2
if [ ! -f "$S/model.safetensors" ]; then
  mkdir -p "$S" && cp "$CARRY"/smollm2/* "$S/"
  python3 - "$S" <<'PY'
import sys, torch
from transformers import AutoConfig, LlamaForCausalLM
cfg = AutoConfig.from_pretrained(sys.argv[1])
torch.manual_seed(0)
LlamaForCausalLM(cfg).to(torch.bfloat16).save_pretrained(sys.argv[1], safe_serialization=True)
PY
fi
for t in Q8_0 Q4_K_M; do
  [ -f "$W/smollm2-$t.gguf" ] || "$BIN" convert "$S" -t "$t" -o "$W/smollm2-$t.gguf" --force >/dev/null
done
ls -l "$S" "$W"/smollm2-*.gguf
gpu_peak "$W/smollm2-gpu-mem.log" "$BIN" validate "$S" "$W/smollm2-Q8_0.gguf" "$W/smollm2-Q4_K_M.gguf" \
  --text "$TEXT" --ctx 512 --chunks "$CHUNKS" --device cuda --json > "$OUT/smollm2-cuda.json"
# One file alone too: the memory a single evaluation needs (the reference pass, then one file).
gpu_peak "$W/smollm2-gpu-mem1.log" "$BIN" validate "$S" "$W/smollm2-Q4_K_M.gguf" \
  --text "$TEXT" --ctx 512 --chunks 4 --device cuda --json > "$W/smollm2-cuda-one.json"

if [ -n "${BUILD_PID:-}" ]; then echo "waiting for the llama.cpp CPU build"; wait "$BUILD_PID"; fi
echo "== 2b/3. CPU runs ($NT threads), one at a time"
RAYON_NUM_THREADS=$NT "$BIN" validate "$S" "$W/smollm2-Q8_0.gguf" "$W/smollm2-Q4_K_M.gguf" \
  --text "$TEXT" --ctx 512 --chunks "$CHUNKS" --device cpu --json > "$OUT/smollm2-cpu.json"
python3 scripts/compare-validate.py "$OUT/smollm2-cpu.json" "$OUT/smollm2-cuda.json"
if [ -x "$LP" ]; then
  for nr in "" "-nr"; do
    "$LP" -m "$W/smollm2-Q8_0.gguf" -f "$TEXT" -c 512 --chunks "$CHUNKS" -t "$NT" $nr > "$OUT/llama-perplexity$nr.log" 2>&1 \
      && grep -E "prompt eval time|Final estimate" "$OUT/llama-perplexity$nr.log" && break
    echo "llama-perplexity $nr failed (rc $?)"; tail -3 "$OUT/llama-perplexity$nr.log"
  done
else
  echo "llama-perplexity was not built"; tail -5 "$W/llama-build.log"
fi
python3 - "$OUT" <<'PY'
import json, sys
o = sys.argv[1]
for dev in ("cpu", "cuda"):
    r = json.load(open(f"{o}/smollm2-{dev}.json"))
    runs = [("reference", r["reference"]["timing"])] + [(f["path"].rsplit("/", 1)[-1], f["timing"]) for f in r["files"]]
    for name, t in runs:
        print(f"{dev:5} {name:22} {t['tokens'] / t['seconds']:8.0f} tok/s  ({t['tokens']} tokens in {t['seconds']:.2f} s, "
              f"forward {t.get('forward_seconds', 0):.2f} s, {t.get('windows_per_pass', 1)} windows per pass)")
PY
date -u
