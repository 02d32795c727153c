#!/usr/bin/env bash
# Runs on the lent GPU machine (the device tool), from the repo root, with .devcarry/ carried:
#   .devcarry/llama-src.tgz   the pinned llama.cpp source (the llama-cpp-python 0.3.36 sdist's
#                             vendor/llama.cpp, trimmed of docs/models/other backends)
#   .devcarry/*.gguf          reference GGUFs of the fixtures (F16, Q4_K_M)
#   .devcarry/tok/            tiny-llama's tokenizer files, for a larger random-weight llama
# Builds llama.cpp with CUDA for sm_90 (resumable: run again if the first call ran out of time),
# makes a 1.1B-parameter random llama (TinyLlama shape, vocab 4096), and records what llama.cpp
# allocates on the GPU (its CUDA0 model/KV/compute buffer lines) and nvidia-smi's peak memory use,
# for several ctx/batch/KV types. Everything lands in $OUT.
set -uo pipefail
W=/tmp/gpucheck
OUT=${OUT:-/tmp/gpucheck-out}
mkdir -p "$W" "$OUT"
[ -d "$W/llama.cpp" ] || tar xzf .devcarry/llama-src.tgz -C "$W"
if [ ! -x "$W/build/bin/llama-completion" ] || [ ! -x "$W/build/bin/llama-quantize" ]; then
  [ -f "$W/build/build.ninja" ] || cmake -S "$W/llama.cpp" -B "$W/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 -DGGML_NATIVE=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF \
    >"$OUT/cmake.log" 2>&1 || { tail -40 "$OUT/cmake.log"; exit 1; }
  timeout "${BUILD_SECONDS:-500}" cmake --build "$W/build" -j "$(nproc)" --target llama-completion llama-quantize \
    >"$OUT/build.log" 2>&1
  if [ ! -x "$W/build/bin/llama-completion" ]; then tail -5 "$OUT/build.log"; echo "BUILD NOT FINISHED"; exit 3; fi
fi
BIN=$W/build/bin
nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used --format=csv >"$OUT/gpu.txt"

# A larger random-weight llama: TinyLlama-1.1B's shape with the fixture's 4096-token vocabulary.
BIG=$W/big
if [ ! -f "$W/big-Q4_K_M.gguf" ]; then
  mkdir -p "$BIG" && cp .devcarry/tok/* "$BIG/"
  python3 - "$BIG" <<'PY' >"$OUT/big-make.log" 2>&1
import sys, torch
from transformers import LlamaConfig, LlamaForCausalLM
cfg = LlamaConfig(hidden_size=2048, intermediate_size=5632, num_hidden_layers=22, num_attention_heads=32,
                  num_key_value_heads=4, vocab_size=4096, max_position_embeddings=4096, rms_norm_eps=1e-5,
                  rope_theta=10000.0, tie_word_embeddings=False, bos_token_id=1, eos_token_id=2)
torch.manual_seed(0)
m = LlamaForCausalLM(cfg).to(torch.float16)
m.save_pretrained(sys.argv[1], safe_serialization=True)
PY
  cp "$BIG/config.json" "$OUT/big-config.json"
  python3 "$W/llama.cpp/convert_hf_to_gguf.py" "$BIG" --outtype f16 --outfile "$W/big-F16.gguf" >"$OUT/big-convert.log" 2>&1
  "$BIN/llama-quantize" "$W/big-F16.gguf" "$W/big-Q4_K_M.gguf" Q4_K_M 16 >"$OUT/big-quantize.log" 2>&1
fi

run() { # name model ctx batch kvtype [extra...]
  local name=$1 model=$2 ctx=$3 batch=$4 kv=$5; shift 5
  local log="$OUT/logs/$name-c$ctx-b$batch-$kv.log"
  mkdir -p "$OUT/logs"
  local base; base=$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits | head -1)
  ( while :; do nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits | head -1; sleep 0.05; done ) >"$log.smi" &
  local poll=$!
  "$BIN/llama-completion" -m "$model" -ngl 99 -c "$ctx" -b "$batch" -ub "$batch" -ctk "$kv" -ctv "$kv" \
     -n 4 -p "Once upon a time" -no-cnv --temp 0 --seed 1 -fit off -lv 4 "$@" >"$log" 2>&1 </dev/null
  local rc=$?
  kill $poll 2>/dev/null; wait $poll 2>/dev/null
  local peak; peak=$(sort -n "$log.smi" | tail -1)
  echo "$name ctx=$ctx batch=$batch kv=$kv rc=$rc smi_base_MiB=$base smi_peak_MiB=$peak" | tee -a "$OUT/summary.txt"
  grep -a -E "CUDA0 (model|KV|compute) buffer size|CUDA_Host (model|compute|output) buffer size|CPU_Mapped model buffer size|llama_kv_cache.*size|compute buffer size|flash_attn" "$log" | sed 's/^/    /' | tee -a "$OUT/summary.txt"
}
: >"$OUT/summary.txt"
for ctx in 512 4096; do
  run tiny-llama-F16 .devcarry/plan-tiny-llama-F16.gguf $ctx 512 f16
  # flash attention aborts for gemma2 (head_dim 64 + softcap) in this sm_90 build: measured with -fa off
  run tiny-gemma2-F16 .devcarry/plan-tiny-gemma2-F16.gguf $ctx 512 f16 -fa off
  run tiny-phi3-F16 .devcarry/plan-tiny-phi3-F16.gguf $ctx 512 f16 --override-kv general.name=str:tinymodel
  run tiny-llama-Q4_K_M .devcarry/plan-tiny-llama-Q4_K_M.gguf $ctx 512 f16
  [ -f "$W/big-F16.gguf" ] && run big-F16 "$W/big-F16.gguf" $ctx 512 f16
  [ -f "$W/big-Q4_K_M.gguf" ] && run big-Q4_K_M "$W/big-Q4_K_M.gguf" $ctx 512 f16
done
[ -f "$W/big-Q4_K_M.gguf" ] && run big-Q4_K_M "$W/big-Q4_K_M.gguf" 4096 512 q8_0
[ -f "$W/big-F16.gguf" ] && run big-F16 "$W/big-F16.gguf" 4096 2048 f16
[ -f "$W/big-F16.gguf" ] && run big-F16-fa-off "$W/big-F16.gguf" 4096 512 f16 -fa off
tar czf "$OUT/logs.tgz" -C "$OUT" logs && rm -rf "$OUT/logs"
echo done
