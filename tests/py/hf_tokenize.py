#!/usr/bin/env python3
"""Token ids of a UTF-8 text file by a Hugging Face tokenizer.json (the `tokenizers` library),
without special tokens, as a JSON list.

Usage: python hf_tokenize.py TOKENIZER_JSON TEXT_FILE
"""
import json
import sys

from tokenizers import Tokenizer


def main() -> int:
    tok = Tokenizer.from_file(sys.argv[1])
    with open(sys.argv[2], encoding="utf-8") as f:
        text = f.read()
    json.dump(tok.encode(text, add_special_tokens=False).ids, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
