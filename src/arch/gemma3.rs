//! gemma3: Gemma 3 text (`Gemma3Model` of the pinned converter). `TextModel`'s keys (with
//! `rope.freq_base_swa` from `rope_local_base_freq`), then its own: the final soft-cap when set and
//! the sliding window unless `sliding_window_pattern` is 1. Its other `add_*` calls rewrite keys
//! `TextModel` already wrote with the same values (gguf-py keeps a key's first position), so they
//! add nothing here. Every norm weight (q/k norms included) gets `+1`; llama.cpp applies the
//! embedding scale at run time.

use super::keys::{self, *};
use super::KeyFn;

/// `set_gguf_parameters` of the converter class, in its order.
pub const PARAMS: &[&[KeyFn]] = &[keys::TEXT_MODEL, &[final_softcap_opt, sliding_window_unless_global]];
