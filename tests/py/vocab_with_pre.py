#!/usr/bin/env python3
"""Copy a GGUF's metadata (no tensors: a vocabulary-only GGUF, as `convert_hf_to_gguf.py
--vocab-only` writes) with `tokenizer.ggml.pre` set to PRE, with gguf-py's reader and writer.

llama-tokenize reads such a file; it lets tests run one real vocabulary under every pre-tokenizer.

Usage: python vocab_with_pre.py IN.gguf PRE OUT.gguf
"""
import sys

from gguf import GGUFReader, GGUFValueType, GGUFWriter


def main() -> None:
    src, pre, out = sys.argv[1], sys.argv[2], sys.argv[3]
    reader = GGUFReader(src)
    writer = GGUFWriter(out, reader.fields["general.architecture"].contents())
    for name, field in reader.fields.items():
        if name.startswith("GGUF.") or name == "general.architecture":
            continue
        value = pre if name == "tokenizer.ggml.pre" else field.contents()
        vtype = field.types[0]
        sub = field.types[-1] if vtype == GGUFValueType.ARRAY else None
        writer.add_key_value(name, value, vtype, sub_type=sub)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.close()


if __name__ == "__main__":
    main()
