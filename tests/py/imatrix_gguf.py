"""Prints, as JSON, what gguf-py reads from a GGUF imatrix file written by llama-imatrix:
{"datasets": [...], "chunk_count": n, "chunk_size": n,
 "entries": {name: {"sums": [...], "counts": [...]}}} (tensors NAME.in_sum2 / NAME.counts).

Usage: imatrix_gguf.py FILE
"""
import json
import sys

import gguf

r = gguf.GGUFReader(sys.argv[1])
out = {
    "datasets": list(r.fields["imatrix.datasets"].contents()),
    "chunk_count": r.fields["imatrix.chunk_count"].contents(),
    "chunk_size": r.fields["imatrix.chunk_size"].contents(),
    "entries": {},
}
for t in r.tensors:
    for suffix, key in ((".in_sum2", "sums"), (".counts", "counts")):
        if t.name.endswith(suffix):
            out["entries"].setdefault(t.name[: -len(suffix)], {})[key] = [float(x) for x in t.data.reshape(-1)]
json.dump(out, sys.stdout)
