"""Dump a GGUF file as gguf-py 0.19.0 (GGUFReader) reads it, as JSON on stdout.

Used by tests/gguf_crosscheck.rs to compare ggufkit's reader and writer with gguf-py.

usage: gguf_py_dump.py FILE [--data]

Output: {"version", "alignment", "data_offset", "metadata": [[key, VALUE]...], "tensors": [...]}
VALUE is {"t": TYPE, "v": ...}: fixed-size scalars as the hex of their little-endian bytes (exact
for floats, NaN included), strings as text, arrays as {"t": "ARRAY", "et": TYPE, "v": [VALUE...]}
(nested arrays rebuilt from gguf-py's flat field parts). Tensors: name, type (ggml id), type_name,
dims (ggml order), offset (relative to the data section), abs_offset, n_bytes and, with --data,
the data as hex.
"""
import json
import sys

from gguf import GGUFReader, GGUFValueType


def walk(parts, i, vtype):
    """Decodes one value of type vtype starting at parts[i]; returns (value, next index)."""
    vtype = GGUFValueType(int(vtype))
    if vtype == GGUFValueType.STRING:
        return {"t": "STRING", "v": bytes(parts[i + 1]).decode("utf-8")}, i + 2
    if vtype == GGUFValueType.ARRAY:
        et = GGUFValueType(int(parts[i][0]))
        n = int(parts[i + 1][0])
        i += 2
        items = []
        for _ in range(n):
            item, i = walk(parts, i, et)
            items.append(item)
        return {"t": "ARRAY", "et": et.name, "v": items}, i
    return {"t": vtype.name, "v": parts[i].tobytes().hex()}, i + 1


def main():
    path = sys.argv[1]
    with_data = "--data" in sys.argv[2:]
    r = GGUFReader(path)
    fields = list(r.fields.values())
    # GGUFReader puts three pseudo-fields first: GGUF.version, GGUF.tensor_count, GGUF.kv_count.
    assert [f.name for f in fields[:3]] == ["GGUF.version", "GGUF.tensor_count", "GGUF.kv_count"]
    version = int(fields[0].parts[0][0])
    metadata = []
    for f in fields[3:]:
        # parts: key length, key bytes, value type, value parts...
        value, end = walk(f.parts, 3, f.parts[2][0])
        assert end == len(f.parts), f"{f.name}: {end} of {len(f.parts)} parts decoded"
        metadata.append([f.name, value])
    tensors = []
    for t in r.tensors:
        p = t.field.parts  # name length, name, n_dims, dims, type, offset
        d = {
            "name": t.name,
            "type": int(p[4][0]),
            "type_name": t.tensor_type.name,
            "dims": [int(x) for x in p[3].tolist()],
            "offset": int(p[5][0]),
            "abs_offset": int(t.data_offset),
            "n_bytes": int(t.n_bytes),
        }
        if with_data:
            d["data"] = bytes(r.data[t.data_offset:t.data_offset + t.n_bytes]).hex()
        tensors.append(d)
    json.dump({
        "version": version,
        "alignment": int(r.alignment),
        "data_offset": int(r.data_offset),
        "metadata": metadata,
        "tensors": tensors,
    }, sys.stdout)


if __name__ == "__main__":
    main()
