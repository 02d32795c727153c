//! qwen2moe's converter class (`Qwen2MoeModel` of the pinned converter, the base of
//! `Qwen3MoeModel`): `TextModel`'s keys (with the expert counts), then the width of one expert's
//! FFN (`moe_intermediate_size`) and of the shared expert's (`shared_expert_intermediate_size`),
//! each when the config has it. The per-expert tensors are stacked through the tensor map
//! ([`gguf::arch::Transform::StackExperts`]).

use super::keys::{self, Kv};
use super::{Hparams, KeyFn};

/// `{arch}.expert_feed_forward_length` from `moe_intermediate_size` (optional).
fn expert_ff(hp: &Hparams, a: &str) -> Kv {
    keys::opt_u32(hp, a, "expert_feed_forward_length", &["moe_intermediate_size"])
}

/// `{arch}.expert_shared_feed_forward_length` from `shared_expert_intermediate_size` (optional).
fn expert_shared_ff(hp: &Hparams, a: &str) -> Kv {
    keys::opt_u32(hp, a, "expert_shared_feed_forward_length", &["shared_expert_intermediate_size"])
}

/// `set_gguf_parameters` of the converter class, in its order.
pub const PARAMS: &[&[KeyFn]] = &[keys::TEXT_MODEL, &[expert_ff, expert_shared_ff]];
