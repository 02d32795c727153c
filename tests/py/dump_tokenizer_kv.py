#!/usr/bin/env python3
"""Print the tokenizer.* metadata of a GGUF file as JSON, read with gguf-py (the reference).

Output: [{"key", "type", "item_type"?, "value"}, ...] in file order, with gguf-py's type names
(GGUFValueType); floats are the exact values of the stored float32s.

Usage: python dump_tokenizer_kv.py FILE.gguf
"""
import json
import sys

from gguf import GGUFReader, GGUFValueType


def main() -> int:
    reader = GGUFReader(sys.argv[1])
    out = []
    for key, field in reader.fields.items():
        if not key.startswith("tokenizer."):
            continue
        entry = {"key": key, "type": field.types[0].name}
        if field.types[0] == GGUFValueType.ARRAY:
            entry["item_type"] = field.types[1].name if len(field.types) > 1 else None
        entry["value"] = field.contents()
        out.append(entry)
    json.dump(out, sys.stdout, ensure_ascii=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
