//! qwen2: Qwen2 / Qwen2.5 (`Qwen2Model` of the pinned converter): llama layout with q/k/v biases and
//! no Q/K permutation (ggml's NEOX rope).

use super::keys::TEXT_MODEL;
use super::{no_extra, ArchSpec, Dim::*, TensorRule, Transform, When};

const W: &[&str] = &[".weight"];
const WB: &[&str] = &[".weight", ".bias"];

const fn r(hf: &'static str, gguf: &'static str, suffixes: &'static [&'static str], dims: &'static [super::Dim], when: When, bias_when: When) -> TensorRule {
    TensorRule { hf, gguf, suffixes, dims, transform: Transform::None, when, bias_when }
}

/// The qwen2 tensor table.
pub const TENSORS: &[TensorRule] = &[
    r("model.embed_tokens", "token_embd", W, &[Embd, Vocab], When::Always, When::Never),
    r("model.norm", "output_norm", W, &[Embd], When::Always, When::Never),
    r("lm_head", "output", W, &[Embd, Vocab], When::Untied, When::Never),
    r("model.layers.{bid}.input_layernorm", "blk.{bid}.attn_norm", W, &[Embd], When::Always, When::Never),
    r("model.layers.{bid}.self_attn.q_proj", "blk.{bid}.attn_q", WB, &[Embd, Q], When::Always, When::Always),
    r("model.layers.{bid}.self_attn.k_proj", "blk.{bid}.attn_k", WB, &[Embd, Kv], When::Always, When::Always),
    r("model.layers.{bid}.self_attn.v_proj", "blk.{bid}.attn_v", WB, &[Embd, Kv], When::Always, When::Always),
    r("model.layers.{bid}.self_attn.o_proj", "blk.{bid}.attn_output", WB, &[Q, Embd], When::Always, When::Never),
    r("model.layers.{bid}.post_attention_layernorm", "blk.{bid}.ffn_norm", W, &[Embd], When::Always, When::Never),
    r("model.layers.{bid}.mlp.gate_proj", "blk.{bid}.ffn_gate", W, &[Embd, Ff], When::Always, When::Never),
    r("model.layers.{bid}.mlp.up_proj", "blk.{bid}.ffn_up", W, &[Embd, Ff], When::Always, When::Never),
    r("model.layers.{bid}.mlp.down_proj", "blk.{bid}.ffn_down", W, &[Ff, Embd], When::Always, When::Never),
];

/// qwen2.
pub static SPEC: ArchSpec = ArchSpec {
    name: "qwen2",
    tied_default: false,
    tensors: TENSORS,
    skip: &[],
    params: &[TEXT_MODEL],
    extra: no_extra,
};
