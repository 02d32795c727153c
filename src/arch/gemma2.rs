//! gemma2: Gemma 2 (`Gemma2Model` of the pinned converter): gemma plus pre/post feed-forward and
//! post-attention norms (all `+1`), logit soft-capping and the sliding window.

use super::keys::{self, *};
use super::{no_extra, ArchSpec, Dim::*, TensorRule, Transform, When};

const W: &[&str] = &[".weight"];

const fn r(hf: &'static str, gguf: &'static str, dims: &'static [super::Dim], transform: Transform) -> TensorRule {
    TensorRule { hf, gguf, suffixes: W, dims, transform, when: When::Always, bias_when: When::Never }
}

/// The gemma2 tensor table.
pub const TENSORS: &[TensorRule] = &[
    r("model.embed_tokens", "token_embd", &[Embd, Vocab], Transform::None),
    r("model.norm", "output_norm", &[Embd], Transform::AddOne),
    r("model.layers.{bid}.input_layernorm", "blk.{bid}.attn_norm", &[Embd], Transform::AddOne),
    r("model.layers.{bid}.self_attn.q_proj", "blk.{bid}.attn_q", &[Embd, Q], Transform::None),
    r("model.layers.{bid}.self_attn.k_proj", "blk.{bid}.attn_k", &[Embd, Kv], Transform::None),
    r("model.layers.{bid}.self_attn.v_proj", "blk.{bid}.attn_v", &[Embd, Kv], Transform::None),
    r("model.layers.{bid}.self_attn.o_proj", "blk.{bid}.attn_output", &[Q, Embd], Transform::None),
    r("model.layers.{bid}.post_attention_layernorm", "blk.{bid}.post_attention_norm", &[Embd], Transform::AddOne),
    r("model.layers.{bid}.pre_feedforward_layernorm", "blk.{bid}.ffn_norm", &[Embd], Transform::AddOne),
    r("model.layers.{bid}.post_feedforward_layernorm", "blk.{bid}.post_ffw_norm", &[Embd], Transform::AddOne),
    r("model.layers.{bid}.mlp.gate_proj", "blk.{bid}.ffn_gate", &[Embd, Ff], Transform::None),
    r("model.layers.{bid}.mlp.up_proj", "blk.{bid}.ffn_up", &[Embd, Ff], Transform::None),
    r("model.layers.{bid}.mlp.down_proj", "blk.{bid}.ffn_down", &[Ff, Embd], Transform::None),
];

/// gemma2.
pub static SPEC: ArchSpec = ArchSpec {
    name: "gemma2",
    tied_default: true,
    tensors: TENSORS,
    skip: &["lm_head.weight"],
    params: &[&[context_length, embedding_length, block_count, feed_forward_length, head_count, head_count_kv, rms_eps, head_dim, keys::file_type, attn_softcap, final_softcap, sliding_window]],
    extra: no_extra,
};
