#!/usr/bin/env python3
"""Run the pinned convert_hf_to_gguf.py with its BPE pre-tokenizer lookup answered by us.

The converter identifies a byte-level BPE pre-tokenizer by hashing the token ids of a test string
and refuses every hash it does not list ("BPE pre-tokenizer was not recognized"), even when the
pre-tokenizer is a known one with another vocabulary. tiny-qwen2 is such a model: its
pre-tokenizer is Qwen2's regex, its vocabulary is its own. This wrapper imports the converter,
replaces `TextModel.get_vocab_base_pre` by a function returning PRE, and runs the converter's
main with the remaining arguments; everything else is the converter's own code.

Usage: python convert_with_pre.py LLAMA_CPP_DIR PRE [convert_hf_to_gguf.py arguments...]
"""
import runpy
import sys
from pathlib import Path


def main() -> None:
    llama_dir, pre, rest = Path(sys.argv[1]), sys.argv[2], sys.argv[3:]
    script = llama_dir / "convert_hf_to_gguf.py"
    sys.path.insert(0, str(llama_dir))
    sys.path.insert(1, str(llama_dir / "gguf-py"))
    import conversion.base as base  # the converter's model classes

    base.TextModel.get_vocab_base_pre = lambda self, tokenizer: pre
    sys.argv = [str(script), *rest]
    runpy.run_path(str(script), run_name="__main__")


if __name__ == "__main__":
    main()
