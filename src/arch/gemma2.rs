//! gemma2: Gemma 2 (`Gemma2Model` of the pinned converter): gemma plus pre/post feed-forward and
//! post-attention norms (all `+1`), logit soft-capping and the sliding window.

use super::keys::{self, *};
use super::KeyFn;

/// `set_gguf_parameters` of the converter class, in its order.
pub const PARAMS: &[&[KeyFn]] = &[&[
    context_length,
    embedding_length,
    block_count,
    feed_forward_length,
    head_count,
    head_count_kv,
    rms_eps,
    head_dim,
    keys::file_type,
    attn_softcap,
    final_softcap,
    sliding_window,
]];
