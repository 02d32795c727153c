#!/usr/bin/env python3
"""Tiny random models with every RoPE scaling the converter writes, and transformers' fp32 logits
for them: the reference of tests/validate_rope.rs. Made at test time (seconds, fixed seeds) into
the test cache rather than committed.

Each case is an HF folder: config.json, model.safetensors (F32), tiny-llama's or tiny-phi3's
tokenizer files (4096 tokens, so `ggufkit convert` accepts the folder), and
reference_logits.safetensors with `input_ids` (I64, [48]) and `logits` (F32, [48, 4096]), the
layout of the trained fixtures' reference logits, plus `logits_unscaled`: the same weights with
RoPE unscaled, so the test can show that the scaling changes the logits far beyond its tolerance.
Weights are drawn with std 0.5 (initializer_range) so the logits reach ~10 and position matters.

Cases:
  llama-linear       rope_scaling linear, factor 4
  llama-llama3       llama3 scaling (factor 8, low 1, high 4, original context 64, theta 500000):
                     head_dim 16 puts frequencies in all three bands
  phi3-longrope      LongRoPE at 48 tokens <= original context 128: short factors, attention factor
  phi3-longrope-long LongRoPE at 48 tokens > original context 32: long factors
  phi35-rope         Phi-3.5-mini-instruct's real rope_scaling block (configs/), head_dim 96 as
                     there (48 factors), two heads and two layers
  qwen2-yarn         Qwen2 with YaRN (factor 4, original context 256, head_dim 16): the ramp
                     between beta_fast 32 and beta_slow 1 spans pairs 0..4 of 8
  qwen2-yarn-params  the same with beta_fast 8, beta_slow 2 and attention_factor 1.25 given: keys
                     the converter writes but the pinned llama.cpp does not read for Qwen2

Every case also stores `logits_gguf`: transformers' logits of the same weights under the RoPE that
llama.cpp evaluates from the converted GGUF (for qwen2-yarn-params: the YaRN defaults, beta_fast
32, beta_slow 1, attention factor 0.1·ln(factor)+1); equal to `logits` for the other cases.

Usage: $GGUFKIT_REF/venv/bin/python scripts/make-rope-fixtures.py OUT_DIR REPO_ROOT
"""
import json
import shutil
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM, LlamaConfig, Phi3Config, Qwen2Config

SEQ = 48


def factors(n, lo, hi, seed):
    g = torch.Generator().manual_seed(seed)
    return [round(float(v), 4) for v in torch.empty(n).uniform_(lo, hi, generator=g)]


def cases(root):
    llama = dict(initializer_range=0.5, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, vocab_size=4096, max_position_embeddings=2048, rms_norm_eps=1e-5,
                 tie_word_embeddings=False, bos_token_id=1, eos_token_id=2)
    phi3 = dict(initializer_range=0.5, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                num_key_value_heads=4, vocab_size=4096, rms_norm_eps=1e-5, tie_word_embeddings=False,
                bos_token_id=1, eos_token_id=2, pad_token_id=None, sliding_window=None)
    qwen2 = dict(initializer_range=0.5, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, vocab_size=4096, max_position_embeddings=1024, rms_norm_eps=1e-6,
                 tie_word_embeddings=False, bos_token_id=0, eos_token_id=0, use_sliding_window=False, rope_theta=10000.0)
    yarn = {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 256}
    real = json.load(open(root / "configs/phi-3.5-mini-instruct/config.json"))
    return {
        "llama-linear": ("tiny-llama", LlamaConfig(**llama, rope_theta=10000.0,
                                                    rope_scaling={"rope_type": "linear", "factor": 4.0})),
        "llama-llama3": ("tiny-llama", LlamaConfig(**llama, rope_theta=500000.0, rope_scaling={
            "rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
            "original_max_position_embeddings": 64})),
        "phi3-longrope": ("tiny-phi3", Phi3Config(**phi3, max_position_embeddings=1024,
                                                   original_max_position_embeddings=128, rope_scaling={
            "type": "longrope", "short_factor": factors(8, 1.0, 3.0, 1), "long_factor": factors(8, 2.0, 20.0, 2)})),
        "phi3-longrope-long": ("tiny-phi3", Phi3Config(**phi3, max_position_embeddings=1024,
                                                        original_max_position_embeddings=32, rope_scaling={
            "type": "longrope", "short_factor": factors(8, 1.0, 3.0, 3), "long_factor": factors(8, 2.0, 20.0, 4)})),
        "phi35-rope": ("tiny-phi3", Phi3Config(**{**phi3, "hidden_size": 192, "num_attention_heads": 2,
                                                   "num_key_value_heads": 2},
                                                max_position_embeddings=real["max_position_embeddings"],
                                                original_max_position_embeddings=real["original_max_position_embeddings"],
                                                rope_theta=real["rope_theta"], rope_scaling=real["rope_scaling"])),
        "qwen2-yarn": ("tiny-qwen2", Qwen2Config(**qwen2, rope_scaling=dict(yarn))),
        "qwen2-yarn-params": ("tiny-qwen2", Qwen2Config(**qwen2, rope_scaling={
            **yarn, "beta_fast": 8.0, "beta_slow": 2.0, "attention_factor": 1.25})),
    }


# The rope_scaling keys the pinned llama.cpp reads from a converted Qwen2/Llama/Phi-3 GGUF; the
# others (yarn_ext_factor, yarn_attn_factor, yarn_beta_fast/slow) only for Grok (src/models/grok.cpp).
GGUF_ROPE_KEYS = {"rope_type", "type", "factor", "original_max_position_embeddings", "low_freq_factor",
                  "high_freq_factor", "short_factor", "long_factor"}


def logits_of(cfg, state, ids, rope_scaling):
    plain = cfg.to_dict()
    plain["rope_scaling"] = rope_scaling
    m = AutoModelForCausalLM.from_config(type(cfg).from_dict(plain), torch_dtype=torch.float32).eval()
    m.load_state_dict(state)
    with torch.no_grad():
        return m(ids).logits[0].float().contiguous()


def main():
    out, root = Path(sys.argv[1]), Path(sys.argv[2])
    for name, (tok, cfg) in cases(root).items():
        d = out / name
        if (d / "reference_logits.safetensors").is_file():
            continue
        tmp = out / f"{name}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        src = root / "tests/fixtures/models" / tok
        for f in ("tokenizer.json", "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json", "vocab.json",
                  "merges.txt"):
            if (src / f).is_file():
                shutil.copy(src / f, tmp / f)
        torch.manual_seed(0)
        model = AutoModelForCausalLM.from_config(cfg, torch_dtype=torch.float32).eval()
        # Norm weights away from 1 so that a misread norm shows.
        with torch.no_grad():
            for n, p in model.named_parameters():
                if "norm" in n:
                    p.uniform_(0.5, 1.5)
        model.save_pretrained(tmp, safe_serialization=True)
        g = torch.Generator().manual_seed(7)
        ids = torch.randint(3, cfg.vocab_size, (1, SEQ), generator=g)
        ids[0, 0] = 1
        with torch.no_grad():
            logits = model(ids).logits[0].float().contiguous()
        unscaled = logits_of(cfg, model.state_dict(), ids, None)
        scaling = cfg.rope_scaling
        gguf_scaling = {k: v for k, v in scaling.items() if k in GGUF_ROPE_KEYS} if scaling else None
        gguf = logits.clone() if gguf_scaling == scaling else logits_of(cfg, model.state_dict(), ids, gguf_scaling)
        save_file({"input_ids": ids[0].to(torch.int64).contiguous(), "logits": logits, "logits_unscaled": unscaled,
                   "logits_gguf": gguf}, str(tmp / "reference_logits.safetensors"))
        shutil.rmtree(d, ignore_errors=True)
        tmp.rename(d)
        print(f"{name}: {sum(p.numel() for p in model.parameters())} parameters, max |logit| {logits.abs().max():.2f}, "
              f"max |scaled - unscaled| {(logits - unscaled).abs().max():.3f}, "
              f"max |transformers - GGUF semantics| {(logits - gguf).abs().max():.3f}")


if __name__ == "__main__":
    main()
