#!/usr/bin/env bash
# Validates the sensitivity proxy of `--size/--bpw/--fit` (issue 14) against a real measurement:
# for each quantizable tensor of a trained fixture and each type of $TYPES, the file with only that
# tensor at that type (every other one Q8_0, `--tensor-type '^NAME$=TYPE'`) is measured by the
# pinned llama-perplexity (mean KLD against the F16 file on held-out text); the KLD added over the
# all-Q8_0 file is compared with the proxy error `ggufkit quantize --sensitivity` reports.
#
# Usage: nice -n 19 scripts/fit-proxy-check.sh MODEL [IMATRIX]   (MODEL: a fixture name, e.g. tiny-llama)
#   env: TYPES ("q2_K q3_K q4_K"), CTX (128), CHUNKS (20), TEXT (eval-pydocs.txt), THREADS, OUT, GGUFKIT_BIN
# Writes $OUT/MODEL-proxy.tsv (tensor, type, proxy, dKLD) and prints the correlations (scripts/fit-proxy-stats.py).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
REF=${GGUFKIT_REF:-$HOME/.cache/ggufkit-ref/llama-cpp-python-0.3.36}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
NT=${THREADS:-$(nproc)}
TYPES=${TYPES:-q2_K q3_K q4_K}
CTX=${CTX:-128}
CHUNKS=${CHUNKS:-20}
OUT=${OUT:-${TMPDIR:-/tmp}/ggufkit-fit-proxy}
BIN=${GGUFKIT_BIN:-$TARGET/release/ggufkit}
LP=$REF/build/bin/llama-perplexity
EVAL=${TEXT:-$ROOT/tests/fixtures/corpus/eval-pydocs.txt}
m=$1
im=${2:-}
mkdir -p "$OUT"
f16=$OUT/$m-F16.gguf
[ -f "$f16" ] || "$BIN" convert "$ROOT/tests/fixtures/models/$m" -t F16 -o "$f16" --no-modelfile --force >&2
imarg=()
[ -n "$im" ] && imarg=(--imatrix "$im")
tag=$m${im:+-imatrix}
base=$OUT/$m.kld-base
[ -f "$base" ] || "$LP" -m "$f16" -f "$EVAL" --kl-divergence-base "$base" -c "$CTX" --chunks "$CHUNKS" -t "$NT" >"$OUT/$m.base.log" 2>&1

kld() {
    local k="" try
    for try in 1 2 3 4 5 6; do
        "$LP" -m "$1" --kl-divergence-base "$base" --kl-divergence -c "$CTX" --chunks "$CHUNKS" -t "$NT" >"$1.log" 2>&1
        k=$(sed -n 's/.*Mean *KLD: *\([0-9.e+-]*\).*/\1/p' "$1.log" | tail -1)
        [ -n "$k" ] && break
    done
    [ -n "$k" ] || { echo "no KLD in $1.log" >&2; exit 1; }
    echo "$k"
}

sens=$OUT/$tag.sensitivity.tsv
"$BIN" quantize "${imarg[@]}" "$f16" --dry-run --bpw 16 --sensitivity "$sens" >/dev/null 2>&1 || \
    "$BIN" quantize "${imarg[@]}" "$f16" --dry-run --bpw 8 --sensitivity "$sens" >/dev/null
q8=$OUT/$m-Q8_0.gguf
"$BIN" quantize "$f16" "$q8" -t Q8_0 --force >/dev/null 2>&1
k8=$(kld "$q8")
echo "all Q8_0: KLD $k8" >&2
res=$OUT/$tag-proxy.tsv
[ -f "$res" ] || echo -e "tensor\ttype\tproxy\tdkld" >"$res"
tail -n +2 "$sens" | while IFS=$'\t' read -r name ty _ proxy _; do
    case " $TYPES " in *" $ty "*) ;; *) continue ;; esac
    grep -q "^$name	$ty	" "$res" && continue
    f=$OUT/one.gguf
    "$BIN" quantize "${imarg[@]}" "$f16" "$f" -t Q8_0 --tensor-type "^${name//./\\.}\$=$ty" --force >/dev/null 2>&1
    k=$(kld "$f")
    echo -e "$name\t$ty\t$proxy\t$(awk -v a="$k" -v b="$k8" 'BEGIN { printf "%.6e", a - b }')" | tee -a "$res" >&2
done
"$REF/venv/bin/python" "$ROOT/scripts/fit-proxy-stats.py" "$res"
