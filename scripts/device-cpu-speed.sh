#!/usr/bin/env bash
# `ggufkit validate --device cpu` on a quantized file against the pinned llama-perplexity (CPU build)
# on a quiet machine: the device machine (16 cores, nothing else running), both pinned to the same
# $CORES (2 by default, the CI machine's count) with the same number of threads, alternated, in one
# run. Not a test; the figures go to docs/measurements/cpu-validate-1.5b.md.
#
# Runs there from the repo root with CARRY (default .devcarry/cpu) carried:
#   CARRY/ggufkit.xz      ggufkit (CPU release build made here, objcopy --strip-debug, xz)
#   CARRY/llama-src.tgz   the pinned llama.cpp source (or llama-src.txz, xz-compressed) ($GGUFKIT_REF/src/vendor/llama.cpp without models,
#                         docs, tests, examples, gguf-py, server/mtmd and the non-CPU backends)
#   CARRY/qwen2.5-1.5b/   config.json, tokenizer.json.xz, tokenizer_config.json of the bench model
#                         (scripts/make-bench-model.py's Qwen2.5-Coder-1.5B)
# Model: that config with random weights (transformers, seed 0, BF16; the whole 151,936-token
# vocabulary, so the output projection costs what it costs in the real model), converted to Q4_K_M
# by ggufkit (byte-identical to llama-quantize's). Text: eval-pydocs.txt, ctx 512, $CHUNKS windows.
# Ours evaluates the Q4_K_M file as reference and as file (both on the quantized path); its tokens/s
# per evaluation come from --json. llama-perplexity's from its log timestamps, as bench-validate.sh.
#
# PHASE=prepare: builds llama-perplexity (CPU, as scripts/setup-reference-tools.sh configures it: for
#   the machine's own instruction sets), makes and converts the model. PHASE=measure: ROUNDS rounds
#   of llama-perplexity -nr (no weight repacking, as bench-validate.sh), ours, llama-perplexity with
#   its default repacking. PHASE=avx2: also builds llama-perplexity for AVX2 only (GGML_NATIVE off,
#   no AVX-512/VNNI/AMX: the instruction sets of the CI and dev machines, and the only SIMD ggufkit's
#   kernels use), then ROUNDS rounds of it (-nr) and ours.
# PHASE=compare: one self-contained call for a before/after pair: makes the model and builds only the
#   AVX2-only llama-perplexity (as PHASE=avx2; NATIVE=1: the native one, as PHASE=prepare) where
#   missing, then ROUNDS rounds of: llama-perplexity -nr, ours before (CARRY/ggufkit-before.xz, or
#   with AVX2_BEFORE=1 the after binary with GGUFKIT_NO_AVX512=1), ours after (CARRY/ggufkit.xz),
#   llama-perplexity with its default repacking; every second round in the reverse order (no before
#   carried: the after binary alone).
set -uo pipefail
CARRY=${CARRY:-.devcarry/cpu}
OUT=${OUT:-/tmp/cpuspeed-out}
W=/tmp/cpuspeed
CHUNKS=${CHUNKS:-4}
CORES=${CORES:-2,3}
ROUNDS=${ROUNDS:-2}
PHASE=${PHASE:-prepare}
NT=$(echo "$CORES" | tr ',' '\n' | wc -l)
mkdir -p "$W" "$OUT"
exec > >(tee -a "$OUT/log-$PHASE.txt") 2>&1
T0=$(date +%s)
at() { echo "[$(( $(date +%s) - T0 )) s] $*"; }
date -u
lscpu | grep -E "^(Model name|CPU\(s\)|Thread|Core|Socket)" | sed 's/  */ /g'
grep -o -w -E "avx2|avx512f|avx512_vnni|avx512bw|avxvnni|f16c|fma" /proc/cpuinfo | sort -u | tr '\n' ' '; echo
BIN=$W/ggufkit
[ -x "$BIN" ] || { xz -dc "$CARRY/ggufkit.xz" > "$BIN" && chmod +x "$BIN"; }
BEFORE=$W/ggufkit-before
[ -x "$BEFORE" ] || [ ! -f "$CARRY/ggufkit-before.xz" ] || { xz -dc "$CARRY/ggufkit-before.xz" > "$BEFORE" && chmod +x "$BEFORE"; }
LP=$W/build/bin/llama-perplexity
TEXT=tests/fixtures/corpus/eval-pydocs.txt
M=$W/qwen2.5-1.5b
Q=$W/qwen2.5-1.5b-Q4_K_M.gguf

make_model() { # the random-weight model and its Q4_K_M, where missing
  if [ ! -f "$M/model.safetensors.index.json" ] && [ ! -f "$M/model.safetensors" ]; then
    mkdir -p "$M" && cp "$CARRY"/qwen2.5-1.5b/* "$M/" && xz -d "$M/tokenizer.json.xz"
    python3 - "$M" <<'PY'
import sys, time, torch
from transformers import AutoConfig, AutoModelForCausalLM
d = sys.argv[1]
torch.manual_seed(0); t = time.time()
with torch.device("cuda"):
    m = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(d), dtype=torch.bfloat16)
m.save_pretrained(d, safe_serialization=True, max_shard_size="4GB")
print(f"{d}: {sum(p.numel() for p in m.parameters()) / 1e9:.3f} B parameters, made in {time.time() - t:.1f} s")
PY
  fi
  [ -f "$Q" ] || "$BIN" convert "$M" -t Q4_K_M -o "$Q" --force > "$W/convert.log" 2>&1 || { tail "$W/convert.log"; echo "FAILED: convert"; }
  at "$(ls -l "$Q")"
}

build_avx2() { # llama-perplexity for AVX2 only, where missing
  [ -d "$W/llama.cpp" ] || { tar xf "$(ls "$CARRY"/llama-src.t*z | head -1)" -C "$W" &&
    printf 'find_package(Threads REQUIRED)\nllama_add_compile_flags()\nadd_subdirectory(perplexity)\n' > "$W/llama.cpp/tools/CMakeLists.txt"; }
  if [ ! -x "$W/build-avx2/bin/llama-perplexity" ]; then
    cmake -S $W/llama.cpp -B $W/build-avx2 -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=ON \
      -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF \
      -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_TOOLS=ON -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON \
      -DGGML_F16C=ON -DGGML_BMI2=ON -DGGML_AVX_VNNI=OFF -DGGML_AVX512=OFF -DGGML_AVX512_VBMI=OFF -DGGML_AVX512_VNNI=OFF \
      -DGGML_AVX512_BF16=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF > $W/cmake-avx2.log 2>&1 \
      && cmake --build $W/build-avx2 -j 14 --target llama-perplexity > $W/build-avx2.log 2>&1 || { tail $W/build-avx2.log; echo "FAILED: AVX2 build"; }
  fi
  at "llama.cpp AVX2-only build: $(grep -c . $W/build-avx2.log) log lines"
}

build_native_start() { # llama-perplexity for this machine's instruction sets (as setup-reference-tools.sh), in the background
  if [ ! -x "$LP" ]; then
    [ -d "$W/llama.cpp" ] || tar xf "$(ls "$CARRY"/llama-src.t*z | head -1)" -C "$W"
    printf 'find_package(Threads REQUIRED)\nllama_add_compile_flags()\nadd_subdirectory(perplexity)\n' > "$W/llama.cpp/tools/CMakeLists.txt"
    setsid bash -c "cmake -S $W/llama.cpp -B $W/build -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=ON \
      -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF \
      -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_TOOLS=ON > $W/cmake.log 2>&1 && \
      cmake --build $W/build -j 12 --target llama-perplexity > $W/build.log 2>&1; echo \$? > $W/build.rc" < /dev/null &
  else
    echo 0 > "$W/build.rc"
  fi
}
build_native_wait() {
  while [ ! -f "$W/build.rc" ]; do sleep 5; done
  at "llama.cpp native build rc $(cat "$W/build.rc")"; tail -1 "$W/build.log" 2>/dev/null
}

if [ "$PHASE" = prepare ]; then
  build_native_start
  make_model
  build_native_wait
  exit 0
fi

llama() { # llama TAG [args...]: llama-perplexity on the Q4_K_M, tokens/s from its log timestamps
  local tag=$1; shift
  local log=$OUT/llama-$tag.log
  rm -f "$log"
  taskset -c "$CORES" "$LP" -m "$Q" -f $TEXT -c 512 --chunks "$CHUNKS" -t "$NT" "$@" --log-timestamps --log-file "$log" > /dev/null 2>&1 \
    || echo "FAILED: llama-perplexity $tag"
  echo "llama-perplexity $tag: $(python3 scripts/llama_log_tps.py "$log" "$((CHUNKS * 512))") tok/s ($(grep -o "Final estimate.*" "$log"))"
}

ours() { # ours TAG [BINARY]: our validate of the Q4_K_M against itself
  local j=$OUT/ours-$1.json
  RAYON_NUM_THREADS=$NT taskset -c "$CORES" "${2:-$BIN}" validate "$Q" "$Q" --text $TEXT --ctx 512 --chunks "$CHUNKS" --device cpu --json > "$j" \
    2> "$OUT/ours-$1.err" || { tail -5 "$OUT/ours-$1.err"; echo "FAILED: ours $1"; }
  python3 - "$j" "$1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
tps = lambda e: e["timing"]["tokens"] / e["timing"]["seconds"]
print(f"ggufkit validate {sys.argv[2]}: {tps(r['reference']):.1f} tok/s (reference), {tps(r['files'][0]):.1f} tok/s (file); "
      f"PPL {r['files'][0]['stats']['ppl']['value']:.4f}")
PY
}

if [ "$PHASE" = compare ]; then
  # before: CARRY/ggufkit-before.xz; or, with AVX2_BEFORE=1, the after binary on its AVX2 kernels
  # (GGUFKIT_NO_AVX512=1), to measure an AVX-512 kernel with one binary
  before() {
    if [ -x "$BEFORE" ]; then ours "before-$1" "$BEFORE"
    elif [ "${AVX2_BEFORE:-0}" = 1 ]; then (export GGUFKIT_NO_AVX512=1; ours "avx2-kernels-$1"); fi
  }
  at "before: $([ -x "$BEFORE" ] && "$BEFORE" --version | sed -n 2p || echo "none (no $CARRY/ggufkit-before.xz)"); after: $("$BIN" --version | sed -n 2p)"
  # NATIVE=1: against llama-perplexity built for this machine (AVX-512, VNNI, AMX where present),
  # else against the AVX2-only build
  if [ "${NATIVE:-0}" = 1 ]; then
    build_native_start; make_model; build_native_wait
  else
    make_model; build_avx2; LP=$W/build-avx2/bin/llama-perplexity
  fi
  LT=$([ "${NATIVE:-0}" = 1 ] && echo native || echo avx2)
  at "compare: $ROUNDS rounds on cores $CORES ($NT threads), ctx 512, $CHUNKS windows; load $(cut -d' ' -f1-3 /proc/loadavg)"
  for i in $(seq 1 "$ROUNDS"); do
    if [ $((i % 2)) = 1 ]; then
      llama "$LT-nr-$i" -nr; before "$i"; ours "after-$i"; llama "$LT-repack-$i"
    else
      llama "$LT-repack-$i"; ours "after-$i"; before "$i"; llama "$LT-nr-$i" -nr
    fi
  done
  at "done; load $(cut -d' ' -f1-3 /proc/loadavg)"
  exit 0
fi

if [ "$PHASE" = avx2 ]; then
  build_avx2
  LP=$W/build-avx2/bin/llama-perplexity
  for i in $(seq 1 "$ROUNDS"); do
    llama "avx2-nr-$i" -nr
    ours "avx2-$i"
  done
  at "done; load $(cut -d' ' -f1-3 /proc/loadavg)"
  exit 0
fi

at "measure: $ROUNDS rounds on cores $CORES ($NT threads), ctx 512, $CHUNKS windows; load $(cut -d' ' -f1-3 /proc/loadavg)"
for i in $(seq 1 "$ROUNDS"); do
  llama "nr-$i" -nr
  ours "$i"
  llama "repack-$i"
done
at "done; load $(cut -d' ' -f1-3 /proc/loadavg)"
