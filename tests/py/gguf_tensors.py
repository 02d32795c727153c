"""Prints, as JSON, what gguf-py reads from GGUF files: for each file the tensors in file order
([name, ggml dims, ggml type id, byte offset from the data section, byte offset in the file]) and the metadata as
{key: [gguf value type id, value]} (arrays: [9, [element type id, values]]).

Usage: gguf_tensors.py FILE...   (long arrays such as the vocabulary are summarised by length)
"""
import json
import sys

import gguf


def value(f):
    t = f.types[0]
    if t == gguf.GGUFValueType.ARRAY:
        v = f.contents()
        return [int(t), [int(f.types[-1]) if len(f.types) > 1 else None, v if len(v) <= 64 else len(v)]]
    return [int(t), f.contents()]


def dump(path):
    r = gguf.GGUFReader(path)
    return {
        "path": path,
        "metadata": {k: value(f) for k, f in r.fields.items() if not k.startswith("GGUF.")},
        "tensors": [[t.name, [int(d) for d in t.shape.tolist()], int(t.tensor_type), int(t.data_offset - r.data_offset), int(t.data_offset)] for t in r.tensors],
    }


if __name__ == "__main__":
    json.dump([dump(p) for p in sys.argv[1:]], sys.stdout)
