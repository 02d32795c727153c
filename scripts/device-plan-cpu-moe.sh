#!/usr/bin/env bash
# scripts/device-plan-cpu-moe.sh (the device tool; not a test): builds the pinned llama-completion with
# CUDA (sm_90) and reports its buffers for the
# tiny-qwen3moe Q4_K_M with no expert placement, --cpu-moe and --n-cpu-moe 1, each with llama.cpp's
# default mmap load and with --load-mode none (this llama.cpp's --no-mmap, which it no longer accepts: the host
# buffer then holds the host tensors' own bytes), to check
# `ggufkit plan FILE --ctx 4096 --batch 512 --backend cuda [--cpu-moe | --n-cpu-moe 1]` against it
# (docs/measurements/plan-cpu-moe-h200.md). CARRY (default .devcarry/moe) holds llama-src.tgz (the pinned
# llama.cpp source with ggml-cuda) and tiny-qwen3moe-Q4_K_M.gguf.xz (the generated fixture's Q4_K_M made
# by llama-quantize in the test cache). Logs go to $OUT.
set -u
C=${CARRY:-$PWD/.devcarry/moe}; W=/tmp/moe; mkdir -p $W $OUT; cd $W
T0=$(date +%s); at() { echo "[$(( $(date +%s) - T0 )) s] $*"; }
SITE=$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
LIBS=$(ls -d "$SITE"/nvidia/*/lib "$SITE"/nvidia/cu13/lib* 2>/dev/null | tr '\n' ':')
export LD_LIBRARY_PATH="${LIBS}/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
export PATH=/usr/local/cuda/bin:$PATH
tar xzf $C/llama-src.tgz
printf 'find_package(Threads REQUIRED)\nllama_add_compile_flags()\nadd_subdirectory(completion)\n' > llama.cpp/tools/CMakeLists.txt
cmake -S llama.cpp -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
  -DGGML_NATIVE=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
  -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF > $OUT/cmake.log 2>&1 || { tail -20 $OUT/cmake.log; exit 1; }
cmake --build build -j 16 --target llama-completion > build.log 2>&1; at "build rc $?"; tail -2 build.log
xz -dc $C/tiny-qwen3moe-Q4_K_M.gguf.xz > m.gguf
for tag in none cpu-moe n-cpu-moe-1 none-no-mmap cpu-moe-no-mmap n-cpu-moe-1-no-mmap; do
  extra=(); case $tag in cpu-moe*) extra=(--cpu-moe) ;; n-cpu-moe-1*) extra=(--n-cpu-moe 1) ;; esac
  case $tag in *no-mmap) extra+=(--load-mode none) ;; esac
  ./build/bin/llama-completion -m m.gguf -c 4096 -b 512 -ub 512 -ngl 99 "${extra[@]}" -fit off --no-warmup -n 1 -p hi -no-cnv -lv 4 \
    > $OUT/$tag.log 2>&1 < /dev/null; echo "$tag rc $?"
  grep -E "model buffer size|KV buffer size|compute buffer size|llama_kv_cache: size" $OUT/$tag.log
done
at done
