//! The pinned converter's model classes as data: what each class's `set_gguf_parameters` writes
//! (its [`Key`]s, in order) and what its `generate_extra_tensors` computes ([`Computed`]). Every
//! [`super::ArchSpec`] names its class ([`super::ArchSpec::converter`]); `src/arch` turns the keys
//! into GGUF metadata from a config (one function over [`Key`]'s kinds, one over [`Computed`]'s),
//! with no code of its own per class or architecture.
//!
//! A key is one `add_*` call of gguf-py's `GGUFWriter` as the class makes it: the GGUF key (its
//! name after `{arch}.`), the value type, the config fields it reads in `find_hparam`'s order, and
//! whether the converter requires them ([`Need`]). The few calls that compute a value (Phi-2's
//! `4 * n_embd`, partial rotary dimensions, rope scaling, …) are kinds of their own.
//!
//! A class that calls `super().set_gguf_parameters()` lists its base class's group first
//! ([`TEXT_MODEL`]). gguf-py keeps a key's first position when a later call rewrites it, so a
//! rewrite with the same value adds nothing to a class's list (Gemma 3's `add_*` of keys
//! `TextModel` wrote).

use super::config_class::{EXPERT_COUNT_FIELDS, EXPERT_USED_FIELDS};

/// What a key does when the config has none of its fields (a present `null` counts as absent).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Need {
    /// The converter fails (`find_hparam` without `optional`, `hparams[...]`): the config is refused.
    Required,
    /// The key is not written (`find_hparam(..., optional=True)`, `hparams.get(...)`).
    Optional,
    /// This value is written (`hparams.get(field) or value`).
    Or(u32),
}

/// One `add_*` call of a converter class's `set_gguf_parameters`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Key {
    /// `{arch}.{key}`: the first of `fields` the config has, an integer, written as u32.
    U32 {
        /// GGUF key after `{arch}.`.
        key: &'static str,
        /// Config fields, in `find_hparam`'s order.
        fields: &'static [&'static str],
        /// When none is there.
        need: Need,
    },
    /// `{arch}.{key}`: the first of `fields` the config has, a number, written as f32.
    F32 {
        /// GGUF key after `{arch}.`.
        key: &'static str,
        /// Config fields, in `find_hparam`'s order.
        fields: &'static [&'static str],
        /// When none is there.
        need: Need,
    },
    /// `{arch}.{key}`: the number field when it is set and not 0 (Gemma 3's final soft-cap).
    F32NonZero {
        /// GGUF key after `{arch}.`.
        key: &'static str,
        /// The config field.
        field: &'static str,
    },
    /// `{arch}.{key}`: `times` × the first of `fields` (required), written as u32 (Phi-2's
    /// `feed_forward_length = 4 * n_embd`).
    U32Times {
        /// GGUF key after `{arch}.`.
        key: &'static str,
        /// Config fields, in `find_hparam`'s order.
        fields: &'static [&'static str],
        /// The factor.
        times: u64,
    },
    /// `{arch}.attention.head_count_kv`: the key/value heads ([`KV_HEAD_FIELDS`]), or the
    /// attention heads ([`HEAD_FIELDS`]) when the config has none; required.
    HeadCountKv,
    /// `{arch}.{key}`: the per-head width, `head_dim`, else `hidden_size / num_attention_heads`
    /// (LlamaModel's `rope.dimension_count`).
    HeadDim {
        /// GGUF key after `{arch}.`.
        key: &'static str,
    },
    /// `{arch}.rope.dimension_count = int(partial_rotary_factor × hidden_size) // heads`, the
    /// factor from the rope parameters; `default` when they have none (`None`: required).
    PartialRotaryDims {
        /// The factor when the config has none.
        default: Option<f64>,
    },
    /// `{arch}.attention.causal = false` when the config's `is_causal` is `false`.
    NonCausal,
    /// `TextModel`'s rope-scaling keys from the full-attention rope parameters: `linear` (type,
    /// factor), `yarn` (type, factor, original context, and its optional ext/attn factors and
    /// betas), `longrope`/`su` (type).
    RopeScaling,
    /// `{arch}.rope.freq_base`: the full-attention layers' `rope_theta`.
    RopeFreqBase {
        /// When the config has none.
        need: Need,
    },
    /// `{arch}.rope.freq_base_swa`: the sliding layers' `rope_theta`, when the config has one.
    RopeFreqBaseSwa,
    /// `{arch}.rope.scaling.original_context_length` from the rope parameters'
    /// `original_max_position_embeddings` (required; Phi-3).
    RopeOriginalContext,
    /// `{arch}.attention.sliding_window` (required) unless `sliding_window_pattern` is 1 (Gemma 3:
    /// no layer slides then).
    SlidingWindowUnlessGlobal,
    /// `general.file_type`: the output file's type.
    FileType,
    /// A key (its whole name) with a constant boolean value.
    Bool {
        /// The whole GGUF key.
        key: &'static str,
        /// The value.
        value: bool,
    },
}

/// A tensor a converter class computes from the config (`generate_extra_tensors`), always F32.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Computed {
    /// `rope_freqs.weight` when the rope type is `llama3` (`LlamaModel`): the per-frequency
    /// factors of Llama 3.x rope scaling.
    Llama3RopeFreqs,
    /// `rope_factors_long.weight` and `rope_factors_short.weight` when the rope parameters hold a
    /// `long_factor`, with the key `{arch}.rope.scaling.attn_factor` (`Phi3MiniModel`: LongRoPE).
    LongRopeFactors,
}

/// One of the pinned converter's model classes: the keys its `set_gguf_parameters` writes and
/// the tensors its `generate_extra_tensors` computes.
#[derive(Debug, PartialEq)]
pub struct ConverterClass {
    /// The class's name in the pinned converter.
    pub name: &'static str,
    /// Its keys in the order it writes them, in groups: a base class's group first.
    pub keys: &'static [&'static [Key]],
    /// The tensors it computes, in the order it yields them.
    pub computed: &'static [Computed],
}

/// `general.architecture`.
pub const ARCHITECTURE_KEY: &str = "general.architecture";
/// `general.file_type`.
pub const FILE_TYPE_KEY: &str = "general.file_type";

/// `block_count`'s fields (`TextModel.block_count`).
pub const BLOCK_COUNT_FIELDS: &[&str] = &["n_layers", "num_hidden_layers", "n_layer", "num_layers"];
/// The embedding width's fields (`TextModel`).
pub const EMBD_FIELDS: &[&str] = &["hidden_size", "n_embd", "dim"];
/// The attention head count's fields (`TextModel`).
pub const HEAD_FIELDS: &[&str] = &["num_attention_heads", "n_head", "n_heads"];
/// The key/value head count's fields of [`Key::HeadCountKv`].
pub const KV_HEAD_FIELDS: &[&str] = &["num_key_value_heads", "n_kv_heads", "n_head_kv"];

use Key::*;
use Need::*;

/// `TextModel.set_gguf_parameters`, in order (the base of most classes).
pub const TEXT_MODEL: &[Key] = &[
    U32 { key: "block_count", fields: BLOCK_COUNT_FIELDS, need: Required },
    U32 {
        key: "context_length",
        fields: &["max_position_embeddings", "n_ctx", "n_positions", "max_length", "max_sequence_length", "model_max_length"],
        need: Optional,
    },
    U32 { key: "embedding_length", fields: EMBD_FIELDS, need: Optional },
    U32 {
        key: "feed_forward_length",
        fields: &["prefix_dense_intermediate_size", "dense_intermediate_size", "intermediate_size", "n_inner", "hidden_dim"],
        need: Optional,
    },
    U32 { key: "attention.head_count", fields: HEAD_FIELDS, need: Optional },
    U32 { key: "attention.head_count_kv", fields: &["num_key_value_heads", "n_kv_heads"], need: Optional },
    NonCausal,
    RopeScaling,
    RopeFreqBase { need: Optional },
    RopeFreqBaseSwa,
    F32 { key: "attention.layer_norm_rms_epsilon", fields: &["rms_norm_eps", "norm_eps"], need: Optional },
    F32 { key: "attention.layer_norm_epsilon", fields: &["layer_norm_eps", "layer_norm_epsilon", "norm_epsilon"], need: Optional },
    U32 { key: "expert_count", fields: EXPERT_COUNT_FIELDS, need: Optional },
    U32 { key: "expert_used_count", fields: EXPERT_USED_FIELDS, need: Optional },
    U32 { key: "expert_group_count", fields: &["n_group"], need: Optional },
    U32 { key: "expert_group_used_count", fields: &["topk_group"], need: Optional },
    U32 { key: "attention.key_length", fields: &["head_dim"], need: Optional },
    U32 { key: "attention.value_length", fields: &["head_dim"], need: Optional },
    FileType,
];

/// The keys of the classes with a `set_gguf_parameters` of their own (context from
/// `max_position_embeddings`, …, all required).
const CONTEXT: Key = U32 { key: "context_length", fields: &["max_position_embeddings"], need: Required };
const CONTEXT_POS: Key = U32 { key: "context_length", fields: &["n_positions", "max_position_embeddings"], need: Required };
const EMBD: Key = U32 { key: "embedding_length", fields: &["hidden_size", "n_embd"], need: Required };
const FF: Key = U32 { key: "feed_forward_length", fields: &["intermediate_size"], need: Required };
const BLOCKS: Key = U32 { key: "block_count", fields: BLOCK_COUNT_FIELDS, need: Required };
const HEADS: Key = U32 { key: "attention.head_count", fields: &["num_attention_heads", "n_head"], need: Required };
const RMS_EPS: Key = F32 { key: "attention.layer_norm_rms_epsilon", fields: &["rms_norm_eps"], need: Required };
const KEY_LENGTH: Key = U32 { key: "attention.key_length", fields: &["head_dim"], need: Required };
const VALUE_LENGTH: Key = U32 { key: "attention.value_length", fields: &["head_dim"], need: Required };
/// `GemmaModel.set_gguf_parameters`, in order.
const GEMMA_KEYS: &[Key] = &[CONTEXT, EMBD, BLOCKS, FF, HEADS, HeadCountKv, RMS_EPS, KEY_LENGTH, VALUE_LENGTH, FileType];
const SLIDING_WINDOW: Key = U32 { key: "attention.sliding_window", fields: &["sliding_window"], need: Required };

impl ConverterClass {
    /// `TextModel`: its keys only (qwen2, qwen3).
    pub const TEXT: ConverterClass = ConverterClass { name: "TextModel", keys: &[TEXT_MODEL], computed: &[] };

    /// `LlamaModel`: `TextModel`'s keys, then `vocab_size` and the rope dimensions; llama3
    /// `rope_freqs`.
    pub const LLAMA: ConverterClass = ConverterClass {
        name: "LlamaModel",
        keys: &[TEXT_MODEL, &[U32 { key: "vocab_size", fields: &["vocab_size"], need: Required }, HeadDim { key: "rope.dimension_count" }]],
        computed: &[Computed::Llama3RopeFreqs],
    };

    /// `Phi3MiniModel`: its own keys (`sliding_window` 0 when unset, which marks Phi-4);
    /// LongRoPE factor tensors.
    pub const PHI3_MINI: ConverterClass = ConverterClass {
        name: "Phi3MiniModel",
        keys: &[&[
            CONTEXT_POS,
            RopeOriginalContext,
            EMBD,
            FF,
            BLOCKS,
            HEADS,
            HeadCountKv,
            RMS_EPS,
            PartialRotaryDims { default: Some(1.0) },
            RopeFreqBase { need: Required },
            FileType,
            U32 { key: "attention.sliding_window", fields: &["sliding_window"], need: Or(0) },
        ]],
        computed: &[Computed::LongRopeFactors],
    };

    /// `Phi2Model`: its own keys; no BOS token.
    pub const PHI2: ConverterClass = ConverterClass {
        name: "Phi2Model",
        keys: &[&[
            CONTEXT_POS,
            EMBD,
            U32Times { key: "feed_forward_length", fields: EMBD_FIELDS, times: 4 },
            BLOCKS,
            HEADS,
            U32 { key: "attention.head_count_kv", fields: HEAD_FIELDS, need: Required },
            F32 { key: "attention.layer_norm_epsilon", fields: &["layer_norm_epsilon", "layer_norm_eps"], need: Required },
            PartialRotaryDims { default: None },
            FileType,
            Bool { key: "tokenizer.ggml.add_bos_token", value: false },
        ]],
        computed: &[],
    };

    /// `GemmaModel`: its own keys.
    pub const GEMMA: ConverterClass = ConverterClass { name: "GemmaModel", keys: &[GEMMA_KEYS], computed: &[] };

    /// `Gemma2Model`: the calls of Gemma's keys (its own method, in the same order), then the
    /// soft-caps and the sliding window.
    pub const GEMMA2: ConverterClass = ConverterClass {
        name: "Gemma2Model",
        keys: &[
            GEMMA_KEYS,
            &[
                F32 { key: "attn_logit_softcapping", fields: &["attn_logit_softcapping"], need: Required },
                F32 { key: "final_logit_softcapping", fields: &["final_logit_softcapping"], need: Required },
                SLIDING_WINDOW,
            ],
        ],
        computed: &[],
    };

    /// `Gemma3Model`: `TextModel`'s keys (with `rope.freq_base_swa` from `rope_local_base_freq`),
    /// then the final soft-cap when set and the sliding window unless every layer is global. Its
    /// other `add_*` calls rewrite keys `TextModel` wrote, with the same values.
    pub const GEMMA3: ConverterClass = ConverterClass {
        name: "Gemma3Model",
        keys: &[TEXT_MODEL, &[F32NonZero { key: "final_logit_softcapping", field: "final_logit_softcapping" }, SlidingWindowUnlessGlobal]],
        computed: &[],
    };

    /// `Qwen2MoeModel` (the base of `Qwen3MoeModel`): `TextModel`'s keys (with the expert counts),
    /// then one expert's FFN width and the shared expert's, each when the config has it.
    pub const QWEN2_MOE: ConverterClass = ConverterClass {
        name: "Qwen2MoeModel",
        keys: &[
            TEXT_MODEL,
            &[
                U32 { key: "expert_feed_forward_length", fields: &["moe_intermediate_size"], need: Optional },
                U32 { key: "expert_shared_feed_forward_length", fields: &["shared_expert_intermediate_size"], need: Optional },
            ],
        ],
        computed: &[],
    };

    /// Every key of the class, in order.
    pub fn all_keys(&self) -> impl Iterator<Item = &'static Key> {
        self.keys.iter().copied().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_class_writes_file_type_once_and_no_key_twice() {
        for a in super::super::ARCHITECTURES {
            let c = a.converter;
            let keys: Vec<&Key> = c.all_keys().collect();
            assert_eq!(keys.iter().filter(|k| ***k == FileType).count(), 1, "{}", c.name);
            let names: Vec<&str> = keys
                .iter()
                .filter_map(|k| match k {
                    U32 { key, .. } | F32 { key, .. } | F32NonZero { key, .. } | U32Times { key, .. } | HeadDim { key } => Some(*key),
                    _ => None,
                })
                .collect();
            for (i, n) in names.iter().enumerate() {
                assert!(!names[i + 1..].contains(n), "{}: {n} twice", c.name);
            }
        }
    }
}
