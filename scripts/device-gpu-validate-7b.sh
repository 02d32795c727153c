#!/usr/bin/env bash
# `ggufkit validate --device cuda` at the size people run, on the lent GPU machine (the device
# tool). Not a test: a record (docs/measurements/gpu-validate-7b-h200.md).
# Runs there from the repo root with CARRY (default .devcarry/gpu7b) carried:
#   CARRY/ggufkit.xz          ggufkit built here by scripts/build-cuda.sh (xz-compressed)
#   CARRY/tok-llama/          tiny-llama's tokenizer files (4096 tokens, SentencePiece)
#   CARRY/tok-phi3/           tiny-phi3's tokenizer files (4096 tokens)
#   CARRY/codellama-7b.json, CARRY/phi-3.5-mini.json   configs/…/config.json
#   CARRY/eval-pydocs.txt     the held-out eval text (tests/fixtures/corpus)
# For each shape (MODELS, default "codellama phi35"): a BF16 checkpoint with random weights is
# made with transformers on the GPU (the config's shape, vocabulary cut to the tokenizer's 4096;
# Phi-3.5 keeps its real LongRoPE rope_scaling block), converted by ggufkit to Q4_K_M, then
# `ggufkit validate BF16-folder Q4_K_M --ctx 512 --chunks $CHUNKS --device cuda --max-memory $MEM`
# runs with nvidia-smi sampling memory.used every 20 ms (the CUDA context included).
set -uo pipefail
CARRY=${CARRY:-.devcarry/gpu7b}
OUT=${OUT:-/tmp/gpu7b-out}
W=/tmp/gpu7b
CHUNKS=${CHUNKS:-8}
MEM=${MEM:-6.5G}
MODELS=${MODELS:-"codellama phi35"}
mkdir -p "$W" "$OUT"
exec > >(tee -a "$OUT/log.txt") 2>&1
date -u
nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used --format=csv
SITE=$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
LIBS=$(ls -d "$SITE"/nvidia/*/lib "$SITE"/nvidia/cu13/lib* 2>/dev/null | tr '\n' ':')
export LD_LIBRARY_PATH="${LIBS}/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
BIN=$W/ggufkit
[ -x "$BIN" ] || { xz -dc "$CARRY/ggufkit.xz" > "$BIN" && chmod +x "$BIN"; }
TEXT=$CARRY/eval-pydocs.txt

gpu_peak() { # gpu_peak LOG CMD...
  local log=$1; shift
  local base; base=$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits | head -1)
  nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 20 > "$log" &
  local smi=$!
  "$@"; local rc=$?
  kill $smi 2>/dev/null; wait $smi 2>/dev/null
  local peak; peak=$(sort -n "$log" | tail -1)
  echo "GPU memory.used: before ${base} MiB, peak ${peak} MiB (peak minus before $((peak - base)) MiB)" >&2
  return $rc
}

make_model() { # make_model DIR CONFIG TOKDIR
  local dir=$1 cfg=$2 tok=$3
  [ -f "$dir/model.safetensors.index.json" ] || [ -f "$dir/model.safetensors" ] && return 0
  mkdir -p "$dir" && cp "$tok"/* "$dir/"
  python3 - "$dir" "$cfg" <<'PY'
import json, sys, time, torch
from transformers import AutoConfig, AutoModelForCausalLM
d, cfg_path = sys.argv[1], sys.argv[2]
c = json.load(open(cfg_path))
c["vocab_size"] = 4096
c["bos_token_id"], c["eos_token_id"], c["pad_token_id"] = 1, 2, None
json.dump(c, open(f"{d}/config.json", "w"))
cfg = AutoConfig.from_pretrained(d)
torch.manual_seed(0)
t = time.time()
with torch.device("cuda"):
    m = AutoModelForCausalLM.from_config(cfg, dtype=torch.bfloat16)
n = sum(p.numel() for p in m.parameters())
m.save_pretrained(d, safe_serialization=True, max_shard_size="4GB")
print(f"{d}: {n / 1e9:.3f} B parameters, made and saved in {time.time() - t:.1f} s")
PY
}

for name in $MODELS; do
  case $name in
    codellama) cfg=$CARRY/codellama-7b.json; tok=$CARRY/tok-llama ;;
    phi35) cfg=$CARRY/phi-3.5-mini.json; tok=$CARRY/tok-phi3 ;;
  esac
  M=$W/$name-bf16
  echo "== $name"
  make_model "$M" "$cfg" "$tok" || { echo "FAILED: making $name"; continue; }
  du -sh "$M"
  Q=$W/$name-Q4_K_M.gguf
  [ -f "$Q" ] || /usr/bin/time -f "convert: %e s, %M KiB peak RSS" "$BIN" convert "$M" -t Q4_K_M -o "$Q" --force >/dev/null \
    || { echo "FAILED: convert $name"; continue; }
  ls -l "$Q"
  gpu_peak "$OUT/$name-smi.log" "$BIN" validate "$M" "$Q" --text "$TEXT" --ctx 512 --chunks "$CHUNKS" \
    --device cuda --max-memory "$MEM" --json > "$OUT/$name-cuda.json" || echo "FAILED: validate $name"
  echo "nvidia-smi peak memory.used: $(sort -n "$OUT/$name-smi.log" | tail -1) MiB"
  python3 - "$OUT/$name-cuda.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
rf = r["reference"]
def mem(m):
    p = m["peak_bytes"]
    return f'{m["plan"]["mode"]}, {m["plan"]["windows_kept"]} windows kept, sampled peak {p / 2**30:.2f} GiB' if p else m["plan"]["mode"]
t = rf["timing"]
print(f'reference PPL {rf["ppl"]["value"]:.4f}: {t["tokens"] / t["seconds"]:.0f} tok/s, {mem(rf["memory"])}')
for f in r["files"]:
    s, t = f["stats"], f["timing"]
    print(f'{f["path"].rsplit("/", 1)[-1]}: PPL {s["ppl"]["value"]:.4f} (ΔPPL {f["dppl_percent"]:.3f} %), KLD {s["kld_mean"]["value"]:.6f}, '
          f'{t["tokens"] / t["seconds"]:.0f} tok/s, {mem(f["memory"])}')
PY
done
date -u
