"""Makes a tiny random-initialised model folder from a spec in tests/fixtures/generated/NAME.json.

usage: make_tiny_model.py SPEC.json FIXTURES_MODELS_DIR OUT_DIR

The spec holds an HF `config` (transformers 4.57 of the reference venv instantiates it), a `seed`
and `tokenizer_from`: a fixture under tests/fixtures/models whose tokenizer files are copied and
whose reference input ids (the first 64 tokens of corpus/eval-pydocs.txt) are reused, with the
optional `tokenizer_config` fields set in its tokenizer_config.json, and optional `norm_noise`: the
standard deviation of seeded noise added to every norm weight (transformers initialises them to
ones). Writes
config.json, model.safetensors (the config's torch_dtype), the tokenizer files and
reference_logits.safetensors (`input_ids` i64 [64], `logits` f32 [64, vocab]: an fp32 forward
pass of the stored weights, as the trained fixtures carry).
"""
import json
import shutil
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from transformers import AutoConfig, AutoModelForCausalLM

spec_path, models_dir, out = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
spec = json.loads(spec_path.read_text())
src = models_dir / spec["tokenizer_from"]
out.mkdir(parents=True, exist_ok=True)

for name in ["tokenizer.json", "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json", "vocab.json", "merges.txt"]:
    if (src / name).is_file():
        shutil.copyfile(src / name, out / name)
if "tokenizer_config" in spec:
    # fields of tokenizer_config.json that this architecture's real models set differently
    tc = json.loads((out / "tokenizer_config.json").read_text())
    tc.update(spec["tokenizer_config"])
    (out / "tokenizer_config.json").write_text(json.dumps(tc, indent=2))
config_json = dict(spec["config"])
(out / "config.json").write_text(json.dumps(config_json, indent=2))

torch.manual_seed(spec["seed"])
config = AutoConfig.from_pretrained(out)
model = AutoModelForCausalLM.from_config(config, torch_dtype=torch.float32)
model.eval()
if "norm_noise" in spec:
    # transformers initialises norm weights to ones, which would hide a norm read from the wrong
    # tensor (q_norm for k_norm) or not multiplied at all: perturb them, seeded
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim == 1 and "norm" in name:
                p.add_(torch.randn_like(p) * spec["norm_noise"])
dtype = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}[config_json.get("torch_dtype", "float32")]
state = {k: v.detach().to(dtype).contiguous() for k, v in model.state_dict().items()}
if config.tie_word_embeddings:
    state.pop("lm_head.weight", None)
state = {k: v for k, v in state.items() if not k.endswith("rotary_emb.inv_freq")}
save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})

# the logits of the weights as stored (rounded to the checkpoint dtype), in fp32
stored = {k: v.to(torch.float32) for k, v in load_file(str(out / "model.safetensors")).items()}
missing, unexpected = model.load_state_dict(stored, strict=False)
assert not unexpected, unexpected
assert all(k == "lm_head.weight" for k in missing), missing
if config.tie_word_embeddings:
    model.tie_weights()
ids = load_file(str(src / "reference_logits.safetensors"))["input_ids"].to(torch.int64)
with torch.no_grad():
    logits = model(ids.unsqueeze(0)).logits[0].to(torch.float32).contiguous()
save_file({"input_ids": ids.contiguous(), "logits": logits}, str(out / "reference_logits.safetensors"))
top2 = torch.topk(logits, 2, dim=-1).values
margin = (top2[:, 0] - top2[:, 1]).min().item()
print(json.dumps({"out": str(out), "max_abs_logit": logits.abs().max().item(), "min_top1_margin": margin}))
