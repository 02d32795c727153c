#!/usr/bin/env bash
# `ggufkit validate --device cuda` speed against the pinned llama-perplexity built with CUDA on the
# same machine, in the same run (the device tool; not a test: docs/measurements/gpu-validate-7b-h200.md).
#
# Runs there from the repo root with CARRY (default .devcarry/val) carried:
#   CARRY/ggufkit.xz       ggufkit built here by scripts/build-cuda.sh, stripped, xz-compressed
#   CARRY/llama-src.tgz    the pinned llama.cpp source ($GGUFKIT_REF/src/vendor/llama.cpp without
#                          models/docs/tests/other backends/server/ui/mtmd)
# Everything else comes from the checkout: configs/*/config.json, tiny-llama's and tiny-phi3's
# tokenizers, tests/fixtures/corpus/eval-pydocs.txt.
#
# PHASE=prepare (first call): starts the llama.cpp CUDA build (sm_90, target llama-perplexity) in
#   its own session so that it outlives the call, makes BF16 checkpoints with random weights
#   (transformers on the GPU, vocabulary cut to 4096) for the CodeLlama-7B and Phi-3.5-mini shapes,
#   converts them to Q4_K_M with ggufkit, checks GPU = CPU on tiny-llama, and runs one validate per
#   shape with an empty driver compute cache (CUDA_CACHE_PATH) to show the one-time PTX compilation.
# PHASE=measure (next call, while the machine is still held): waits for the llama.cpp build, then
#   on a quiet machine: per shape, our validate (default path and GGUFKIT_CUDA_QMATMUL=q8) and
#   llama-perplexity on the same Q4_K_M, same text, ctx and chunks, twice each.
set -uo pipefail
CARRY=${CARRY:-.devcarry/val}
OUT=${OUT:-/tmp/gpuspeed-out}
W=/tmp/gpuspeed
CHUNKS=${CHUNKS:-16}
MEM=${MEM:-6G}
PHASE=${PHASE:-prepare}
# Per-run JSON and nvidia-smi logs go to $RES, returned as one tarball (the device tool returns 8 files).
RES=$W/results-$PHASE
mkdir -p "$W" "$OUT" "$RES"
exec > >(tee -a "$OUT/log-$PHASE.txt") 2>&1
T0=$(date +%s)
at() { echo "[$(( $(date +%s) - T0 )) s] $*"; }
date -u
nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used --format=csv,noheader
SITE=$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
LIBS=$(ls -d "$SITE"/nvidia/*/lib "$SITE"/nvidia/cu13/lib* 2>/dev/null | tr '\n' ':')
export LD_LIBRARY_PATH="${LIBS}/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
BIN=$W/ggufkit
[ -x "$BIN" ] || { xz -dc "$CARRY/ggufkit.xz" > "$BIN" && chmod +x "$BIN"; }
TEXT=tests/fixtures/corpus/eval-pydocs.txt
LP=$W/build/bin/llama-perplexity
export CUDA_CACHE_PATH=$W/compute-cache

shape() { # shape NAME -> sets CFG TOK
  case $1 in
    codellama) CFG=configs/codellama-7b/config.json; TOK=tests/fixtures/models/tiny-llama ;;
    phi35) CFG=configs/phi-3.5-mini-instruct/config.json; TOK=tests/fixtures/models/tiny-phi3 ;;
  esac
}

validate() { # validate TAG NAME [env...]: our validate of NAME's Q4_K_M against its BF16 folder
  local tag=$1 name=$2; shift 2
  local smi=$RES/$name-$tag-smi.log
  nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 20 > "$smi" &
  local p=$!
  env "$@" "$BIN" validate "$W/$name-bf16" "$W/$name-Q4_K_M.gguf" --text $TEXT --ctx 512 --chunks "$CHUNKS" \
    --device cuda --max-memory "$MEM" --json > "$RES/$name-$tag.json" || echo "FAILED: validate $name $tag"
  kill $p 2>/dev/null; wait $p 2>/dev/null
  python3 - "$RES/$name-$tag.json" "$(sort -n "$smi" | tail -1)" "$name $tag" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); rf = r["reference"]; t = rf["timing"]
print(f'{sys.argv[3]}: kernel setup {r.get("kernel_setup_seconds", float("nan")):.2f} s; nvidia-smi peak {sys.argv[2]} MiB; '
      f'reference ({rf["memory"]["plan"]["mode"]}) PPL {rf["ppl"]["value"]:.4f}, {t["tokens"]} tokens in {t["seconds"]:.3f} s = {t["tokens"] / t["seconds"]:.0f} tok/s')
for f in r["files"]:
    s, t = f["stats"], f["timing"]
    print(f'  Q4_K_M ({f["memory"]["plan"]["mode"]}): PPL {s["ppl"]["value"]:.4f} (ΔPPL {f["dppl_percent"]:.3f} %), KLD {s["kld_mean"]["value"]:.6f}, '
          f'{t["tokens"]} tokens in {t["seconds"]:.3f} s = {t["tokens"] / t["seconds"]:.0f} tok/s (forward {t["forward_seconds"]:.3f} s)')
PY
}

llama_ppl() { # llama_ppl NAME I: llama-perplexity on NAME's Q4_K_M; tok/s from its own log's timestamps
  local log=$RES/$1-llama-perplexity-$2.log extra=()
  # The pinned llama.cpp refuses tiny-phi3's vocabulary under the converted file's general.name
  # ("error loading model vocabulary: unordered_map::at"; not investigated); device-gpu-memory.sh
  # overrides the name the same way.
  [ "$1" = phi35 ] && extra=(--override-kv general.name=str:tinymodel)
  "$LP" -m "$W/$1-Q4_K_M.gguf" -f $TEXT -c 512 --chunks "$CHUNKS" -ngl 99 "${extra[@]}" > "$log" 2>&1 || echo "FAILED: llama-perplexity $1"
  python3 - "$log" "$1 llama-perplexity run $2" <<'PY'
import re, sys
lines = open(sys.argv[1], errors="replace").read().splitlines()
def ts(pat):
    for l in lines:
        if pat in l:
            m, s, ms = re.match(r"\s*(\d+)\.(\d+)\.(\d+)", l).groups()
            return int(m) * 60 + int(s) + int(ms) / 1000, l
    return None, None
t0, l0 = ts("calculating perplexity over")
t1, l1 = ts("Final estimate")
pp = next((l for l in lines if "seconds per pass" in l), "")
n = re.search(r"over (\d+) chunks, n_ctx=(\d+)", l0)
tokens = int(n.group(1)) * int(n.group(2))
print(f"{sys.argv[2]}: {l1.split('I ', 1)[1]}; {tokens} tokens in {t1 - t0:.3f} s = {tokens / (t1 - t0):.0f} tok/s "
      f"(from 'calculating' to 'Final estimate'; {pp.split('I ', 1)[1].strip()})")
PY
}

if [ "$PHASE" = prepare ]; then
  if [ ! -x "$LP" ]; then
    [ -d "$W/llama.cpp" ] || tar xzf "$CARRY/llama-src.tgz" -C "$W"
    # Only llama-perplexity's folder under tools/ (the others are not carried).
    printf 'find_package(Threads REQUIRED)\nllama_add_compile_flags()\nadd_subdirectory(perplexity)\n' > "$W/llama.cpp/tools/CMakeLists.txt"
    setsid bash -c "cmake -S $W/llama.cpp -B $W/build -G Ninja -DCMAKE_BUILD_TYPE=Release -DGGML_CUDA=ON \
      -DCMAKE_CUDA_ARCHITECTURES=90 -DGGML_NATIVE=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF \
      -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF > $W/cmake.log 2>&1 && \
      cmake --build $W/build -j 12 --target llama-perplexity > $W/build.log 2>&1; echo \$? > $W/build.rc" < /dev/null &
  fi
  for name in codellama phi35; do
    shape $name
    M=$W/$name-bf16
    if [ ! -f "$M/config.json" ]; then
      mkdir -p "$M" && cp "$TOK"/tokenizer* "$TOK"/special_tokens_map.json "$M/"
      python3 - "$M" "$CFG" <<'PY'
import json, sys, time, torch
from transformers import AutoConfig, AutoModelForCausalLM
d, cfg_path = sys.argv[1], sys.argv[2]
c = json.load(open(cfg_path)); c["vocab_size"] = 4096
c["bos_token_id"], c["eos_token_id"], c["pad_token_id"] = 1, 2, None
json.dump(c, open(f"{d}/config.json", "w"))
torch.manual_seed(0); t = time.time()
with torch.device("cuda"):
    m = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(d), dtype=torch.bfloat16)
m.save_pretrained(d, safe_serialization=True, max_shard_size="4GB")
print(f"{d}: {sum(p.numel() for p in m.parameters()) / 1e9:.3f} B parameters, made in {time.time() - t:.1f} s")
PY
    fi
    [ -f "$W/$name-Q4_K_M.gguf" ] || "$BIN" convert "$M" -t Q4_K_M -o "$W/$name-Q4_K_M.gguf" --force > /dev/null
    at "$(ls -l "$W/$name-Q4_K_M.gguf")"
  done
  # GPU = CPU on a trained fixture through the default (f16 GEMM) and the q8 path.
  T=tests/fixtures/models/tiny-llama
  "$BIN" convert $T -t Q4_K_M -o "$W/tiny-llama-Q4_K_M.gguf" --force > /dev/null
  for dev in cpu cuda cuda-q8; do
    d=${dev%-q8}; q=; [ "$dev" = cuda-q8 ] && q=q8
    GGUFKIT_CUDA_QMATMUL=$q "$BIN" validate $T "$W/tiny-llama-Q4_K_M.gguf" --text $TEXT --ctx 256 --chunks 16 --device $d --json > "$RES/tiny-$dev.json"
    python3 -c "import json; r=json.load(open('$RES/tiny-$dev.json')); f=r['files'][0]['stats']
print('tiny-llama $dev: reference PPL %.6f, Q4_K_M PPL %.6f, KLD %.6f, top-1 %s' % (r['reference']['ppl']['value'], f['ppl']['value'], f['kld_mean']['value'], f['same_top']['value']))"
  done
  at "cold driver cache (one-time PTX compilation):"
  rm -rf "$CUDA_CACHE_PATH"
  validate cold codellama
  at "phi35 with the cache filled by the codellama run:"
  validate after-codellama phi35
  at "llama.cpp build: $(tail -1 $W/build.log 2>/dev/null)"
fi

if [ "$PHASE" = measure ]; then
  while [ ! -f $W/build.rc ] && [ $(( $(date +%s) - T0 )) -lt 420 ]; do sleep 5; done
  at "llama.cpp build rc=$(cat $W/build.rc 2>/dev/null): $(tail -1 $W/build.log)"
  for name in codellama phi35; do
    for i in 1 2; do
      validate f16-$i $name
      validate q8-$i $name GGUFKIT_CUDA_QMATMUL=q8
      [ -x "$LP" ] && llama_ppl $name $i
    done
  done
fi
tar czf "$OUT/results-$PHASE.tgz" -C "$W" "results-$PHASE"
at "end of $PHASE"
date -u
