#!/usr/bin/env bash
# Builds `ggufkit` with candle's CUDA backend (`--features cuda`) on a machine without a GPU or a
# system CUDA toolkit: nvcc, headers and libraries come from NVIDIA's PyPI wheels (CUDA 13.0, to
# match the 580 driver of the lent H200 machines), merged into one toolkit tree; libcuda.so is a
# link-time stub (the real one is the driver's, on the GPU machine).
#
# Usage: scripts/build-cuda.sh            (release build into $CUDA_TARGET_DIR, default /work/target-cuda)
# Env:   CUDA_COMPUTE_CAP (default 90 = H100/H200), GGUFKIT_CUDA_HOME (toolkit cache folder).
# Run time on the GPU machine: LD_LIBRARY_PATH must reach libcudart/libcublas/libcurand/libnvrtc
# 13.x, e.g. the nvidia/*/lib folders of the torch environment there.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TOOLS="${GGUFKIT_CUDA_HOME:-$HOME/.cache/ggufkit-cuda}"
VENV="$TOOLS/venv"
CUDA_HOME="$TOOLS/cuda-13.0"
export CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-90}"
TARGET="${CUDA_TARGET_DIR:-/work/target-cuda}"

if [ ! -f "$TOOLS/.wheels-done" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet \
    nvidia-cuda-nvcc==13.0.88 nvidia-cuda-runtime==13.0.96 nvidia-cublas==13.0.2.14 \
    nvidia-curand==10.4.0.35 nvidia-cuda-nvrtc==13.0.88 nvidia-cuda-cccl==13.0.85 \
    nvidia-cuda-crt==13.0.88 nvidia-nvvm==13.0.88
  touch "$TOOLS/.wheels-done"
fi

if [ ! -f "$CUDA_HOME/.merged" ]; then
  rm -rf "$CUDA_HOME"
  mkdir -p "$CUDA_HOME"
  SITE="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  # Every wheel ships a toolkit fragment (bin/, include/, lib/, nvvm/) under site-packages/nvidia/…:
  # merge them as symlinks into one tree that looks like /usr/local/cuda.
  while IFS= read -r frag; do
    cp -rs --remove-destination "$frag"/. "$CUDA_HOME"/ 2>/dev/null || cp -rs "$frag"/. "$CUDA_HOME"/
  done < <(find "$SITE/nvidia" -mindepth 1 -maxdepth 2 -type d \( -exec test -d '{}/include' \; -o -exec test -d '{}/bin' \; \) -print | sort -u)
  [ -x "$CUDA_HOME/bin/nvcc" ] || { echo "nvcc not found in the wheels under $SITE/nvidia" >&2; exit 1; }
  mkdir -p "$CUDA_HOME/lib64"
  for lib in "$CUDA_HOME"/lib/*.so.*; do
    base="$(basename "$lib")"; stem="${base%%.so.*}"
    [ -e "$CUDA_HOME/lib64/$stem.so" ] || ln -s "$lib" "$CUDA_HOME/lib64/$stem.so"
  done
  touch "$CUDA_HOME/.merged"
fi

# A stub libcuda.so to link against: cudarc (candle's "dynamic-linking") links the driver API
# directly, so the stub defines every driver entry point of the 13.0 headers (cuda.h after the
# preprocessor, which maps cuFoo to cuFoo_v2 as the real library exports them, plus the profiler
# calls). Its soname is the real driver's: on the GPU machine the dynamic loader takes the driver's
# libcuda.so.1. Linked with lazy binding (below), so an entry point the driver lacks fails only if called.
if [ ! -f "$TOOLS/.stub-v2" ]; then
  {
    echo '#include <cuda.h>' | gcc -E -I"$CUDA_HOME/include" - | grep -oE '\bcu[A-Z][A-Za-z0-9_]*[[:space:]]*\(' | tr -d ' ('
    grep -ohE 'PFN_cuProfiler[A-Za-z]+' "$CUDA_HOME"/include/cudaProfilerTypedefs.h | sed 's/^PFN_//'
  } | sort -u | sed 's/.*/void &(void) {}/' > "$TOOLS/stub.c"
  gcc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$CUDA_HOME/lib64/libcuda.so" "$TOOLS/stub.c"
  echo "stub libcuda.so: $(wc -l < "$TOOLS/stub.c") entry points"
  touch "$TOOLS/.stub-v2"
fi

export CUDA_ROOT="$CUDA_HOME" CUDA_PATH="$CUDA_HOME" CUDA_TOOLKIT_ROOT_DIR="$CUDA_HOME"
export PATH="$CUDA_HOME/bin:$PATH"
export LIBRARY_PATH="$CUDA_HOME/lib64:$CUDA_HOME/lib:${LIBRARY_PATH:-}"
export LD_LIBRARY_PATH="$CUDA_HOME/lib64:$CUDA_HOME/lib:${LD_LIBRARY_PATH:-}"
nvcc --version | tail -1
cd "$ROOT"
CARGO_TARGET_DIR="$TARGET" cargo rustc --release --features cuda --bin ggufkit -- -C link-arg=-Wl,-z,lazy
echo "built $TARGET/release/ggufkit (CUDA, compute capability $CUDA_COMPUTE_CAP)"
