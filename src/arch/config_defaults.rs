//! The defaults of each supported Hugging Face config class, as transformers 4.57.6 (the version
//! of the reference venv) fills them in.
//!
//! The pinned converter reads `config.json` through `AutoConfig.from_pretrained(dir).to_dict()`
//! (`conversion/base.py` `load_hparams`), so a field missing from the file is present in its
//! hyper-parameters with the config class's default — e.g. `head_dim = hidden_size /
//! num_attention_heads` for `LlamaConfig`, which makes it write `llama.attention.key_length`.
//! [`apply`] fills the same fields into the raw file's fields, keyed by `model_type` (the key
//! `AutoConfig` dispatches on). An unknown or missing `model_type` gets no defaults: `AutoConfig`
//! fails there and the converter falls back to the raw file, as we do.
//!
//! The sizes that shape the tensors (`vocab_size`, `hidden_size`, `intermediate_size`,
//! `num_hidden_layers`, `num_attention_heads`) are left out on purpose: transformers would fill
//! in e.g. Llama-7B's 4096 and the converter would then fail on the first tensor; a config without
//! them is refused up front ("missing field hidden_size"), which is what a user needs to hear.
//!
//! Checked against the pinned converter (which asks transformers) by
//! `tests/convert_crosscheck.rs` `stripped_configs_match_reference_converter`, which converts every
//! fixture with its `config.json` stripped to the fields that shape its tensors.

use serde_json::{Map, Value as Json};

/// How a config class fills a field that `config.json` lacks.
#[derive(Debug, Clone, Copy)]
pub enum Fill {
    /// A constant default: applied when the field is absent (an explicit `null` stays).
    Int(u64),
    /// A constant number.
    Float(f64),
    /// A constant boolean.
    Bool(bool),
    /// A constant string.
    Str(&'static str),
    /// `None`: the field is present and `null`.
    Null,
    /// `hidden_size // num_attention_heads`, also replacing an explicit `null`.
    HiddenPerHead,
    /// `num_attention_heads`, also replacing an explicit `null`.
    AttentionHeads,
}

/// One config class: its `model_type` and its defaults, in `__init__` order.
#[derive(Debug)]
pub struct ConfigClass {
    /// `model_type` in `config.json` (AutoConfig's key).
    pub model_type: &'static str,
    /// Field defaults.
    pub defaults: &'static [(&'static str, Fill)],
}

use Fill::*;

/// The config classes of the architectures we convert (transformers 4.57.6: `LlamaConfig`,
/// `MistralConfig`, `Qwen2Config`, `Phi3Config`, `PhiConfig`, `GemmaConfig`, `Gemma2Config`).
pub const CONFIG_CLASSES: &[ConfigClass] = &[
    ConfigClass {
        model_type: "llama",
        defaults: &[
            ("num_key_value_heads", AttentionHeads),
            ("hidden_act", Str("silu")),
            ("max_position_embeddings", Int(2048)),
            ("initializer_range", Float(0.02)),
            ("rms_norm_eps", Float(1e-6)),
            ("pretraining_tp", Int(1)),
            ("use_cache", Bool(true)),
            ("tie_word_embeddings", Bool(false)),
            ("rope_theta", Float(10000.0)),
            ("rope_scaling", Null),
            ("attention_bias", Bool(false)),
            ("attention_dropout", Float(0.0)),
            ("mlp_bias", Bool(false)),
            ("head_dim", HiddenPerHead),
        ],
    },
    ConfigClass {
        model_type: "mistral",
        defaults: &[
            ("num_key_value_heads", Int(8)),
            // MistralConfig keeps `head_dim = None` (its attention derives the width itself)
            ("head_dim", Null),
            ("hidden_act", Str("silu")),
            ("max_position_embeddings", Int(131072)),
            ("initializer_range", Float(0.02)),
            ("rms_norm_eps", Float(1e-6)),
            ("use_cache", Bool(true)),
            ("tie_word_embeddings", Bool(false)),
            ("rope_theta", Float(10000.0)),
            ("sliding_window", Int(4096)),
            ("attention_dropout", Float(0.0)),
        ],
    },
    ConfigClass {
        model_type: "qwen2",
        defaults: &[
            ("num_key_value_heads", Int(32)),
            ("hidden_act", Str("silu")),
            ("max_position_embeddings", Int(32768)),
            ("initializer_range", Float(0.02)),
            ("rms_norm_eps", Float(1e-6)),
            ("use_cache", Bool(true)),
            ("tie_word_embeddings", Bool(false)),
            ("rope_theta", Float(10000.0)),
            ("rope_scaling", Null),
            ("use_sliding_window", Bool(false)),
            ("sliding_window", Null),
            ("max_window_layers", Int(28)),
            ("attention_dropout", Float(0.0)),
        ],
    },
    ConfigClass {
        model_type: "phi3",
        defaults: &[
            ("num_key_value_heads", AttentionHeads),
            ("resid_pdrop", Float(0.0)),
            ("embd_pdrop", Float(0.0)),
            ("attention_dropout", Float(0.0)),
            ("hidden_act", Str("silu")),
            ("max_position_embeddings", Int(4096)),
            ("original_max_position_embeddings", Int(4096)),
            ("initializer_range", Float(0.02)),
            ("rms_norm_eps", Float(1e-5)),
            ("use_cache", Bool(true)),
            ("tie_word_embeddings", Bool(false)),
            ("rope_theta", Float(10000.0)),
            ("rope_scaling", Null),
            ("partial_rotary_factor", Float(1.0)),
            ("sliding_window", Null),
        ],
    },
    ConfigClass {
        model_type: "phi",
        defaults: &[
            ("num_key_value_heads", AttentionHeads),
            ("resid_pdrop", Float(0.0)),
            ("embd_pdrop", Float(0.0)),
            ("attention_dropout", Float(0.0)),
            ("hidden_act", Str("gelu_new")),
            ("max_position_embeddings", Int(2048)),
            ("initializer_range", Float(0.02)),
            ("layer_norm_eps", Float(1e-5)),
            ("use_cache", Bool(true)),
            ("tie_word_embeddings", Bool(false)),
            ("rope_theta", Float(10000.0)),
            ("rope_scaling", Null),
            ("partial_rotary_factor", Float(0.5)),
            ("qk_layernorm", Bool(false)),
        ],
    },
    ConfigClass {
        model_type: "gemma",
        defaults: &[
            ("num_key_value_heads", Int(16)),
            ("head_dim", Int(256)),
            ("hidden_act", Str("gelu_pytorch_tanh")),
            ("hidden_activation", Null),
            ("max_position_embeddings", Int(8192)),
            ("initializer_range", Float(0.02)),
            ("rms_norm_eps", Float(1e-6)),
            ("use_cache", Bool(true)),
            ("tie_word_embeddings", Bool(true)),
            ("rope_theta", Float(10000.0)),
            ("attention_bias", Bool(false)),
            ("attention_dropout", Float(0.0)),
        ],
    },
    ConfigClass {
        model_type: "gemma2",
        defaults: &[
            ("num_key_value_heads", Int(4)),
            ("head_dim", Int(256)),
            ("hidden_activation", Str("gelu_pytorch_tanh")),
            ("max_position_embeddings", Int(8192)),
            ("initializer_range", Float(0.02)),
            ("rms_norm_eps", Float(1e-6)),
            ("use_cache", Bool(true)),
            ("tie_word_embeddings", Bool(true)),
            ("rope_theta", Float(10000.0)),
            ("attention_bias", Bool(false)),
            ("attention_dropout", Float(0.0)),
            ("query_pre_attn_scalar", Int(256)),
            ("sliding_window", Int(4096)),
            ("final_logit_softcapping", Float(30.0)),
            ("attn_logit_softcapping", Float(50.0)),
        ],
    },
];

/// The config class `AutoConfig` picks for these fields (by `model_type`).
pub fn config_class(fields: &Map<String, Json>) -> Option<&'static ConfigClass> {
    let model_type = fields.get("model_type")?.as_str()?;
    CONFIG_CLASSES.iter().find(|c| c.model_type == model_type)
}

/// Fills the fields `config.json` lacks with its config class's defaults, in the class's order (so
/// derived defaults see the fields filled before them, as in `__init__`).
pub fn apply(fields: &mut Map<String, Json>) {
    let Some(class) = config_class(fields) else { return };
    for (name, fill) in class.defaults {
        let present = fields.get(*name);
        let value = match fill {
            HiddenPerHead | AttentionHeads if present.is_some_and(|v| !v.is_null()) => continue,
            HiddenPerHead => {
                let hidden = fields.get("hidden_size").and_then(Json::as_u64);
                let heads = fields.get("num_attention_heads").and_then(Json::as_u64).filter(|h| *h > 0);
                match (hidden, heads) {
                    (Some(h), Some(n)) => Json::from(h / n),
                    _ => continue,
                }
            }
            AttentionHeads => match fields.get("num_attention_heads") {
                Some(v) => v.clone(),
                None => continue,
            },
            _ if present.is_some() => continue,
            Int(v) => Json::from(*v),
            Float(v) => Json::from(*v),
            Bool(v) => Json::from(*v),
            Str(v) => Json::from(*v),
            Null => Json::Null,
        };
        fields.insert(name.to_string(), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(json: &str) -> Map<String, Json> {
        serde_json::from_str(json).expect("json")
    }

    #[test]
    fn llama_derives_head_dim_and_kv_heads() {
        let mut f = fields(r#"{"model_type":"llama","hidden_size":96,"num_attention_heads":6,"num_key_value_heads":null}"#);
        apply(&mut f);
        assert_eq!(f["head_dim"], Json::from(16));
        assert_eq!(f["num_key_value_heads"], Json::from(6));
        assert_eq!(f["max_position_embeddings"], Json::from(2048));
        assert_eq!(f["rope_scaling"], Json::Null);
    }

    #[test]
    fn explicit_values_and_nulls_stay() {
        let mut f = fields(r#"{"model_type":"mistral","hidden_size":96,"num_attention_heads":6,"sliding_window":null,"rope_theta":5e5}"#);
        apply(&mut f);
        assert_eq!(f["head_dim"], Json::Null);
        assert_eq!(f["sliding_window"], Json::Null);
        assert_eq!(f["rope_theta"], Json::from(5e5));
    }

    #[test]
    fn unknown_model_type_gets_nothing() {
        let mut f = fields(r#"{"model_type":"not-a-model","hidden_size":96}"#);
        apply(&mut f);
        assert_eq!(f.len(), 2);
    }
}
