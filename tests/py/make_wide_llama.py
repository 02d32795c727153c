"""A wider llama checkpoint with random F16 weights and tiny-llama's tokenizer: large enough (about
60 M weights) that converting it takes a few seconds, for the tests that interrupt a conversion.

usage: make_wide_llama.py TINY_LLAMA_DIR DST_DIR
"""
import json
import shutil
import sys
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file


def main():
    src, dst = Path(sys.argv[1]), Path(sys.argv[2])
    dst.mkdir(parents=True)
    for f in src.iterdir():
        if f.suffix != ".safetensors" and f.name not in ("model.safetensors.index.json", "config.json"):
            shutil.copy(f, dst / f.name)
    config = json.loads((src / "config.json").read_text())
    config.update(hidden_size=1024, intermediate_size=2816, num_hidden_layers=6, num_attention_heads=32,
                  num_key_value_heads=8, head_dim=32)
    (dst / "config.json").write_text(json.dumps(config, indent=2))
    h, f, v, kv = 1024, 2816, config["vocab_size"], 8 * 32
    rng = np.random.default_rng(0)
    w = lambda *shape: (rng.standard_normal(shape, dtype=np.float32) * 0.02).astype(np.float16)
    tensors = {"model.embed_tokens.weight": w(v, h), "lm_head.weight": w(v, h), "model.norm.weight": np.ones(h, np.float16)}
    for i in range(config["num_hidden_layers"]):
        p = f"model.layers.{i}."
        tensors.update({
            p + "input_layernorm.weight": np.ones(h, np.float16),
            p + "post_attention_layernorm.weight": np.ones(h, np.float16),
            p + "self_attn.q_proj.weight": w(h, h),
            p + "self_attn.k_proj.weight": w(kv, h),
            p + "self_attn.v_proj.weight": w(kv, h),
            p + "self_attn.o_proj.weight": w(h, h),
            p + "mlp.gate_proj.weight": w(f, h),
            p + "mlp.up_proj.weight": w(f, h),
            p + "mlp.down_proj.weight": w(h, f),
        })
    save_file(tensors, str(dst / "model.safetensors"), metadata={"format": "pt"})


if __name__ == "__main__":
    main()
