//! gemma: Gemma 1 (`GemmaModel` of the pinned converter). RMSNorm weights get `+1`; `lm_head`
//! is dropped (tied embeddings); the embedding scale is applied by llama.cpp at run time.

use super::keys::{self, *};
use super::KeyFn;

/// `set_gguf_parameters` of the converter class, in its order.
pub const PARAMS: &[&[KeyFn]] =
    &[&[context_length, embedding_length, block_count, feed_forward_length, head_count, head_count_kv, rms_eps, head_dim, keys::file_type]];
