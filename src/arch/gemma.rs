//! gemma: Gemma 1 (`GemmaModel` of the pinned converter). RMSNorm weights get `+1`; `lm_head`
//! is dropped (tied embeddings); the embedding scale is applied by llama.cpp at run time.

use super::keys::{self, *};
use super::{no_extra, ArchSpec, Dim::*, TensorRule, Transform, When};

const W: &[&str] = &[".weight"];

const fn r(hf: &'static str, gguf: &'static str, dims: &'static [super::Dim], transform: Transform) -> TensorRule {
    TensorRule { hf, gguf, suffixes: W, dims, transform, when: When::Always, bias_when: When::Never }
}

/// The gemma tensor table.
pub const TENSORS: &[TensorRule] = &[
    r("model.embed_tokens", "token_embd", &[Embd, Vocab], Transform::None),
    r("model.norm", "output_norm", &[Embd], Transform::AddOne),
    r("model.layers.{bid}.input_layernorm", "blk.{bid}.attn_norm", &[Embd], Transform::AddOne),
    r("model.layers.{bid}.self_attn.q_proj", "blk.{bid}.attn_q", &[Embd, Q], Transform::None),
    r("model.layers.{bid}.self_attn.k_proj", "blk.{bid}.attn_k", &[Embd, Kv], Transform::None),
    r("model.layers.{bid}.self_attn.v_proj", "blk.{bid}.attn_v", &[Embd, Kv], Transform::None),
    r("model.layers.{bid}.self_attn.o_proj", "blk.{bid}.attn_output", &[Q, Embd], Transform::None),
    r("model.layers.{bid}.post_attention_layernorm", "blk.{bid}.ffn_norm", &[Embd], Transform::AddOne),
    r("model.layers.{bid}.mlp.gate_proj", "blk.{bid}.ffn_gate", &[Embd, Ff], Transform::None),
    r("model.layers.{bid}.mlp.up_proj", "blk.{bid}.ffn_up", &[Embd, Ff], Transform::None),
    r("model.layers.{bid}.mlp.down_proj", "blk.{bid}.ffn_down", &[Ff, Embd], Transform::None),
];

/// gemma.
pub static SPEC: ArchSpec = ArchSpec {
    name: "gemma",
    tied_default: true,
    tensors: TENSORS,
    skip: &["lm_head.weight"],
    params: &[&[context_length, embedding_length, block_count, feed_forward_length, head_count, head_count_kv, rms_eps, head_dim, keys::file_type]],
    extra: no_extra,
};
