//! The defaults a Hugging Face config class fills in (transformers 4.57.6, the reference venv's
//! version), as data: each [`super::ArchSpec`] lists its classes, and [`apply`] fills them in as
//! `AutoConfig.from_pretrained(dir).to_dict()` does for the pinned converter; every command gets
//! them through [`super::HfConfig`].
//!
//! The pinned converter reads `config.json` through `AutoConfig` (`conversion/base.py`
//! `load_hparams`), so a field missing from the file is present in its hyper-parameters with the
//! config class's default — e.g. `head_dim = hidden_size / num_attention_heads` for `LlamaConfig`,
//! which makes it write `llama.attention.key_length`. An unknown or missing `model_type` gets no
//! defaults: `AutoConfig` fails there and the converter falls back to the raw file, as we do.
//!
//! The sizes that shape the tensors (`vocab_size`, `hidden_size`, `intermediate_size`,
//! `num_hidden_layers`, `num_attention_heads`) are left out on purpose: transformers would fill
//! in e.g. Llama-7B's 4096 and the converter would then fail on the first tensor; a config without
//! them is refused up front ("missing field hidden_size"), which is what a user needs to hear.
//!
//! Checked against the pinned converter (which asks transformers) by `tests/convert_crosscheck.rs`
//! `stripped_configs_match_reference_converter`, which converts every fixture with its
//! `config.json` stripped to the fields that shape its tensors.

use serde_json::{Map, Value as Json};

/// The config fields that hold a mixture of experts' expert count, in the order the pinned converter's
/// `find_hparam` tries them (`TextModel`).
pub const EXPERT_COUNT_FIELDS: &[&str] = &["num_local_experts", "num_experts", "n_routed_experts"];

/// The config fields that hold the number of experts used per token, in `find_hparam`'s order.
pub const EXPERT_USED_FIELDS: &[&str] = &["num_experts_per_tok", "num_experts_per_token", "top_k_experts"];

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

/// How a transformers model class uses config `sliding_window`, for architectures whose layout has
/// no sliding-window pattern of its own ([`super::SwaPattern::None`]) and configs without
/// `layer_types`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HfSlidingWindow {
    /// Never (full attention whatever the config says).
    Unused,
    /// In every layer whenever the config sets one (Mistral, Phi-3).
    Always,
    /// Only when the boolean field `flag` is true, and then in the layers from the one that the
    /// field `from_layer` names on (Qwen2: `use_sliding_window`, `max_window_layers`).
    WhenFlag {
        /// The boolean field.
        flag: &'static str,
        /// The field holding the first sliding layer.
        from_layer: &'static str,
    },
}

impl HfSlidingWindow {
    /// The window layer `il` attends within: `sliding_window` when the class uses it there for
    /// these fields, else None.
    pub fn window(self, fields: &Map<String, Json>, il: u64) -> Option<u64> {
        let used = match self {
            HfSlidingWindow::Unused => false,
            HfSlidingWindow::Always => true,
            HfSlidingWindow::WhenFlag { flag, from_layer } => {
                fields.get(flag).and_then(Json::as_bool).unwrap_or(false)
                    && fields.get(from_layer).and_then(Json::as_u64).is_some_and(|first| il >= first)
            }
        };
        fields.get("sliding_window").and_then(Json::as_u64).filter(|_| used)
    }
}

/// One config class: its `model_type`, its defaults in `__init__` order, and how its model uses
/// a sliding window.
#[derive(Debug)]
pub struct ConfigClass {
    /// `model_type` in `config.json` (AutoConfig's key).
    pub model_type: &'static str,
    /// Whether the model attends within `sliding_window` (layouts without a pattern of their own).
    pub sliding_window: HfSlidingWindow,
    /// Field defaults.
    pub defaults: &'static [(&'static str, Fill)],
}

use Fill::*;

/// The config class `AutoConfig` picks for these fields (by `model_type`), from the architecture
/// table's [`super::ArchSpec::config_classes`].
pub fn config_class(fields: &Map<String, Json>) -> Option<&'static ConfigClass> {
    let model_type = fields.get("model_type")?.as_str()?;
    super::ARCHITECTURES.iter().flat_map(|a| a.config_classes).find(|c| c.model_type == model_type)
}

/// Fills the fields `config.json` lacks with its config class's defaults, in the class's order (so
/// derived defaults see the fields filled before them, as in `__init__`): what
/// `AutoConfig.from_pretrained(dir).to_dict()` gives the pinned converter and transformers' model.
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
