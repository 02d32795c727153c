//! phi2: Phi-2 (`Phi2Model` of the pinned converter): LayerNorm with biases, partial rotary.

use gguf::Value;

use super::keys::{self, *};
use super::{no_extra, ArchError, ArchSpec, Dim::*, Hparams, TensorRule, Transform, When};

const WB: &[&str] = &[".weight", ".bias"];

const fn r(hf: &'static str, gguf: &'static str, dims: &'static [super::Dim], when: When) -> TensorRule {
    TensorRule { hf, gguf, suffixes: WB, dims, transform: Transform::None, when, bias_when: when }
}

/// The phi2 tensor table.
pub const TENSORS: &[TensorRule] = &[
    TensorRule { hf: "model.embed_tokens", gguf: "token_embd", suffixes: &[".weight"], dims: &[Embd, Vocab], transform: Transform::None, when: When::Always, bias_when: When::Never },
    r("model.final_layernorm", "output_norm", &[Embd], When::Always),
    r("lm_head", "output", &[Embd, Vocab], When::Always),
    r("model.layers.{bid}.input_layernorm", "blk.{bid}.attn_norm", &[Embd], When::Always),
    r("model.layers.{bid}.self_attn.q_proj", "blk.{bid}.attn_q", &[Embd, Q], When::Always),
    r("model.layers.{bid}.self_attn.k_proj", "blk.{bid}.attn_k", &[Embd, Kv], When::Always),
    r("model.layers.{bid}.self_attn.v_proj", "blk.{bid}.attn_v", &[Embd, Kv], When::Always),
    r("model.layers.{bid}.self_attn.dense", "blk.{bid}.attn_output", &[Q, Embd], When::Always),
    r("model.layers.{bid}.mlp.fc1", "blk.{bid}.ffn_up", &[Embd, Ff4Embd], When::Always),
    r("model.layers.{bid}.mlp.fc2", "blk.{bid}.ffn_down", &[Ff4Embd, Embd], When::Always),
];

fn ff4(hp: &Hparams, a: &str) -> Result<Vec<(String, Value)>, ArchError> {
    Ok(vec![(format!("{a}.feed_forward_length"), Value::U32((4 * hp.n_embd()?) as u32))])
}

fn kv_eq_heads(hp: &Hparams, a: &str) -> Result<Vec<(String, Value)>, ArchError> {
    Ok(vec![(format!("{a}.attention.head_count_kv"), Value::U32(hp.n_head()? as u32))])
}

fn no_bos(_: &Hparams, _: &str) -> Result<Vec<(String, Value)>, ArchError> {
    Ok(vec![("tokenizer.ggml.add_bos_token".into(), Value::Bool(false))])
}

/// phi2.
pub static SPEC: ArchSpec = ArchSpec {
    name: "phi2",
    tied_default: false,
    tensors: TENSORS,
    skip: &[],
    params: &[&[context_length_pos, embedding_length, ff4, block_count, head_count, kv_eq_heads, norm_eps, rope_dims_partial, keys::file_type, no_bos]],
    extra: no_extra,
};
