"""Compare two GGUF files with gguf-py (the reference reader): tensors and metadata.

usage: gguf_compare.py OURS REF [--ignore-key KEY ...] [--no-tokenizer] [--order]

Checks that both files hold the same tensor names, each with the same type, shape and data
bytes, and that every metadata key of REF is in OURS with the same value type and value (and no
extra keys in OURS). --ignore-key skips a key in both; --no-tokenizer skips tokenizer.* keys;
--order also requires the same tensor order. Prints one line per difference; exit status 1 when
there is any.
"""
import sys

import gguf
import numpy as np


def field_value(f):
    t = gguf.GGUFValueType(f.types[0])
    if t == gguf.GGUFValueType.ARRAY:
        sub = gguf.GGUFValueType(f.types[-1]) if len(f.types) > 1 else None
        if sub == gguf.GGUFValueType.STRING:
            return ("array", sub.name, [bytes(f.parts[i]).decode("utf-8", "surrogateescape") for i in f.data])
        return ("array", sub.name if sub else None, [f.parts[i].tolist() for i in f.data])
    if t == gguf.GGUFValueType.STRING:
        return (t.name, bytes(f.parts[f.data[0]]).decode("utf-8", "surrogateescape"))
    return (t.name, f.parts[f.data[0]].tolist())


def main():
    args = sys.argv[1:]
    ignore = set()
    no_tok = False
    order = False
    pos = []
    i = 0
    while i < len(args):
        if args[i] == "--ignore-key":
            ignore.add(args[i + 1]); i += 2; continue
        if args[i] == "--no-tokenizer":
            no_tok = True; i += 1; continue
        if args[i] == "--order":
            order = True; i += 1; continue
        pos.append(args[i]); i += 1
    ours, ref = gguf.GGUFReader(pos[0]), gguf.GGUFReader(pos[1])
    diffs = []

    def keys(r):
        out = {}
        for k, f in r.fields.items():
            if k.startswith("GGUF.") or k in ignore or (no_tok and k.startswith("tokenizer.")):
                continue
            out[k] = field_value(f)
        return out

    ko, kr = keys(ours), keys(ref)
    for k in kr:
        if k not in ko:
            diffs.append(f"key missing in ours: {k} = {str(kr[k])[:120]}")
        elif ko[k] != kr[k]:
            diffs.append(f"key differs: {k}: ours {str(ko[k])[:200]} ref {str(kr[k])[:200]}")
    for k in ko:
        if k not in kr:
            diffs.append(f"extra key in ours: {k} = {str(ko[k])[:120]}")

    to = {t.name: t for t in ours.tensors}
    tr = {t.name: t for t in ref.tensors}
    if order and [t.name for t in ours.tensors] != [t.name for t in ref.tensors]:
        diffs.append("tensor order differs")
    for n, t in tr.items():
        o = to.get(n)
        if o is None:
            diffs.append(f"tensor missing in ours: {n}")
            continue
        if o.tensor_type != t.tensor_type:
            diffs.append(f"tensor type differs: {n}: ours {o.tensor_type.name} ref {t.tensor_type.name}")
            continue
        if list(o.shape) != list(t.shape):
            diffs.append(f"tensor shape differs: {n}: ours {list(o.shape)} ref {list(t.shape)}")
            continue
        a = np.asarray(o.data).view(np.uint8).reshape(-1)
        b = np.asarray(t.data).view(np.uint8).reshape(-1)
        if a.size != b.size or not np.array_equal(a, b):
            nd = int(np.count_nonzero(a != b)) if a.size == b.size else -1
            diffs.append(f"tensor data differs: {n} ({t.tensor_type.name}): {nd} of {b.size} bytes")
    for n in to:
        if n not in tr:
            diffs.append(f"extra tensor in ours: {n}")
    for d in diffs:
        print(d)
    print(f"compared {len(tr)} tensors, {len(kr)} keys: {len(diffs)} differences")
    sys.exit(1 if diffs else 0)


if __name__ == "__main__":
    main()
