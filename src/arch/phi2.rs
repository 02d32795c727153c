//! phi2: Phi-2 (`Phi2Model` of the pinned converter): LayerNorm with biases, partial rotary.

use gguf::Value;

use super::keys::{self, *};
use super::{ArchError, Hparams, KeyFn};

fn ff4(hp: &Hparams, a: &str) -> Result<Vec<(String, Value)>, ArchError> {
    Ok(vec![(format!("{a}.feed_forward_length"), Value::U32((4 * hp.n_embd()?) as u32))])
}

fn kv_eq_heads(hp: &Hparams, a: &str) -> Result<Vec<(String, Value)>, ArchError> {
    Ok(vec![(format!("{a}.attention.head_count_kv"), Value::U32(hp.n_head()? as u32))])
}

fn no_bos(_: &Hparams, _: &str) -> Result<Vec<(String, Value)>, ArchError> {
    Ok(vec![("tokenizer.ggml.add_bos_token".into(), Value::Bool(false))])
}

/// `set_gguf_parameters` of the converter class, in its order.
pub const PARAMS: &[&[KeyFn]] = &[&[
    context_length_pos,
    embedding_length,
    ff4,
    block_count,
    head_count,
    kv_eq_heads,
    norm_eps,
    rope_dims_partial,
    keys::file_type,
    no_bos,
]];
