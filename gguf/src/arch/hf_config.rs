//! A Hugging Face `config.json`, read once for every command (convert, plan, validate, the
//! tokenizer conversion): [`HfConfig`].
//!
//! The pinned converter reads the file through `AutoConfig.from_pretrained(dir).to_dict()`, so
//! [`HfConfig::new`] fills in the config class's defaults ([`super::config_class::apply`]), merges
//! `text_config` into the root and mirrors the global rope fields into the rope parameters, as
//! `TextModel.__init__` does. The result has two views:
//! - [`HfConfig::typed`] ([`HfFields`], `serde::Deserialize`): the fields the commands read by
//!   name, with their types; a field of the wrong type is refused when the file is read, naming
//!   the field. The rope block is typed too ([`RopeParams`]).
//! - [`HfConfig::fields`]: the merged field map, for the converter classes' keys, which are data
//!   naming config fields in the converter's `find_hparam` order ([`super::Key`]), and for the
//!   config classes' own field names ([`super::HfSlidingWindow`], [`super::MoeLayout`]).
//!
//! [`HfConfig::file`] keeps the file as written, for what reads the raw file in the pinned
//! converter too (gguf-py's `SpecialVocab` reads `config.json` itself).

use serde::{de::Error as _, Deserialize, Deserializer};
use serde_json::{Map, Value as Json};

use super::{config_class, converter};

/// Why a `config.json` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file is JSON but not an object.
    #[error("the file is not a JSON object (found {found})")]
    NotAnObject {
        /// What it is.
        found: &'static str,
    },
    /// A field has a type the model class does not accept.
    #[error("field `{field}`: {source}")]
    FieldType {
        /// The field (a `rope_scaling`/`rope_parameters` field as `rope_scaling.NAME`).
        field: String,
        /// What serde found wrong.
        #[source]
        source: serde_json::Error,
    },
    /// A required field is absent (or `null`).
    #[error("missing field {0}")]
    MissingField(String),
    /// A field has a value the converter cannot write or llama.cpp cannot load.
    #[error("field `{field}` should be {expected}, found {found}")]
    BadField {
        /// The field.
        field: String,
        /// What was expected.
        expected: &'static str,
        /// What was found.
        found: String,
    },
}

/// The config fields the commands read by name, typed. Integers accept integral floats
/// (`2048.0`), as Python's `int` fields do after a round trip through JSON tools; `null` and
/// absent are both `None`. Fields read through a list of names (the converter's `find_hparam`
/// lists: expert counts, …) are read from [`HfConfig::fields`] with [`HfConfig::u64_opt`].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct HfFields {
    /// `model_type` (AutoConfig's key; plan and validate pick the architecture by it).
    pub model_type: Option<String>,
    /// `architectures` (the converter picks the architecture by the first).
    pub architectures: Option<Vec<String>>,
    /// Vocabulary size.
    #[serde(deserialize_with = "uint")]
    pub vocab_size: Option<u64>,
    /// Embedding width.
    #[serde(deserialize_with = "uint")]
    pub hidden_size: Option<u64>,
    /// FFN width.
    #[serde(deserialize_with = "uint")]
    pub intermediate_size: Option<u64>,
    /// One expert's FFN width.
    #[serde(deserialize_with = "uint")]
    pub moe_intermediate_size: Option<u64>,
    /// Layers.
    #[serde(deserialize_with = "uint")]
    pub num_hidden_layers: Option<u64>,
    /// Attention heads.
    #[serde(deserialize_with = "uint")]
    pub num_attention_heads: Option<u64>,
    /// Key/value heads.
    #[serde(deserialize_with = "uint")]
    pub num_key_value_heads: Option<u64>,
    /// Per-head width.
    #[serde(deserialize_with = "uint")]
    pub head_dim: Option<u64>,
    /// Training context.
    #[serde(deserialize_with = "uint")]
    pub max_position_embeddings: Option<u64>,
    /// Sliding attention window.
    #[serde(deserialize_with = "uint")]
    pub sliding_window: Option<u64>,
    /// Per layer, `full_attention` or `sliding_attention` (transformers' own list, when present).
    pub layer_types: Option<Vec<String>>,
    /// RMS norm epsilon.
    pub rms_norm_eps: Option<f64>,
    /// Layer norm epsilon.
    pub layer_norm_eps: Option<f64>,
    /// Gemma 2/3: the attention scale is `query_pre_attn_scalar^-0.5`.
    pub query_pre_attn_scalar: Option<f64>,
    /// Soft-cap of the attention scores.
    pub attn_logit_softcapping: Option<f64>,
    /// Soft-cap of the output logits.
    pub final_logit_softcapping: Option<f64>,
    /// Gemma 3: the rope base of the sliding-window layers.
    pub rope_local_base_freq: Option<f64>,
    /// Tied input and output embeddings.
    pub tie_word_embeddings: Option<bool>,
}

/// The rope parameters (`rope_parameters`, else `rope_scaling`, with the global rope fields
/// mirrored in; for per-layer-type parameters, those of the full-attention layers), typed.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RopeParams {
    /// `rope_type` (`default`, `linear`, `llama3`, `longrope`, `su`, `yarn`, …); the old `type`
    /// is mirrored in.
    pub rope_type: Option<String>,
    /// The rope base.
    pub rope_theta: Option<f64>,
    /// Fraction of each head's dimensions that is rotated.
    pub partial_rotary_factor: Option<f64>,
    /// Context scaling factor (linear, llama3, yarn).
    pub factor: Option<f64>,
    /// llama3: low-frequency factor.
    pub low_freq_factor: Option<f64>,
    /// llama3: high-frequency factor.
    pub high_freq_factor: Option<f64>,
    /// The context the model was trained with before scaling.
    #[serde(deserialize_with = "uint")]
    pub original_max_position_embeddings: Option<u64>,
    /// LongRoPE: factors for short sequences.
    pub short_factor: Option<Vec<f64>>,
    /// LongRoPE: factors for long sequences.
    pub long_factor: Option<Vec<f64>>,
    /// LongRoPE and YaRN: cos/sin scale.
    pub attention_factor: Option<f64>,
    /// YaRN: the converter's alternative name of `attention_factor`.
    pub attn_factor: Option<f64>,
    /// YaRN: extrapolation factor.
    pub extrapolation_factor: Option<f64>,
    /// YaRN: rotations where the ramp starts.
    pub beta_fast: Option<f64>,
    /// YaRN: rotations where the ramp ends.
    pub beta_slow: Option<f64>,
    /// YaRN: magnitude scale.
    pub mscale: Option<f64>,
    /// YaRN: magnitude scale of all dimensions.
    pub mscale_all_dim: Option<f64>,
    /// YaRN: round the correction dimensions outwards.
    pub truncate: Option<bool>,
}

/// A model's `config.json`, read once (see the module docs).
#[derive(Debug, Clone)]
pub struct HfConfig {
    /// The file as written.
    pub file: Json,
    /// Its fields with the config class's defaults and `text_config` merged into the root.
    pub fields: Map<String, Json>,
    /// `rope_parameters` (or `rope_scaling`) with the global rope fields mirrored in.
    pub rope: Map<String, Json>,
    /// The fields the commands read by name.
    pub typed: HfFields,
    /// The rope parameters of full-attention layers, typed.
    pub rope_full: RopeParams,
}

impl HfConfig {
    /// Reads a parsed `config.json`: the config class's defaults, `text_config` and the rope
    /// parameters as the pinned converter sees them; refuses a field of the wrong type.
    pub fn new(file: Json) -> Result<HfConfig, ConfigError> {
        let mut fields = match &file {
            Json::Object(m) => m.clone(),
            other => return Err(ConfigError::NotAnObject { found: json_kind(other) }),
        };
        // what transformers' AutoConfig fills in for the fields the file lacks
        config_class::apply(&mut fields);
        if let Some(Json::Object(mut text)) = fields.get("text_config").cloned() {
            config_class::apply(&mut text);
            fields.extend(text);
        }
        let rope = rope_parameters(&fields);
        let typed = read_typed::<HfFields>(&fields, "")?;
        let full = match rope.get("full_attention") {
            Some(Json::Object(m)) => m,
            _ => &rope,
        };
        let rope_full = read_typed::<RopeParams>(full, "rope_scaling.")?;
        Ok(HfConfig { file, fields, rope, typed, rope_full })
    }

    /// The first of `keys` present in the config (a present `null` counts, as in the converter's
    /// `find_hparam`, and yields `None` from the typed getters).
    pub fn find(&self, keys: &[&str]) -> Option<&Json> {
        keys.iter().find_map(|k| self.fields.get(*k))
    }

    /// The rope parameters of full-attention layers.
    pub fn rope_full(&self) -> &Map<String, Json> {
        match self.rope.get("full_attention") {
            Some(Json::Object(m)) => m,
            _ => &self.rope,
        }
    }

    /// An optional unsigned integer field (first of `keys` present; `null` = absent).
    pub fn u64_opt(&self, keys: &[&str]) -> Result<Option<u64>, ConfigError> {
        match self.find(keys) {
            None | Some(Json::Null) => Ok(None),
            Some(v) => json_u64(v).map(Some).ok_or_else(|| ConfigError::BadField {
                field: keys[0].to_string(),
                expected: "a non-negative integer",
                found: v.to_string(),
            }),
        }
    }

    /// A required unsigned integer field.
    pub fn u64_req(&self, keys: &[&str]) -> Result<u64, ConfigError> {
        self.u64_opt(keys)?.ok_or_else(|| ConfigError::MissingField(keys.join(" or ")))
    }

    /// An optional number field.
    pub fn f64_opt(&self, keys: &[&str]) -> Result<Option<f64>, ConfigError> {
        match self.find(keys) {
            None | Some(Json::Null) => Ok(None),
            Some(v) => v.as_f64().map(Some).ok_or_else(|| ConfigError::BadField {
                field: keys[0].to_string(),
                expected: "a number",
                found: v.to_string(),
            }),
        }
    }

    /// A boolean field (absent or `null` = `None`).
    pub fn bool_opt(&self, key: &str) -> Option<bool> {
        self.fields.get(key).and_then(Json::as_bool)
    }

    /// Attention heads.
    pub fn n_head(&self) -> Result<u64, ConfigError> {
        self.u64_req(converter::HEAD_FIELDS)
    }

    /// Key/value heads (= attention heads when absent).
    pub fn n_head_kv(&self) -> Result<u64, ConfigError> {
        match self.u64_opt(converter::KV_HEAD_FIELDS)? {
            Some(n) => Ok(n),
            None => self.n_head(),
        }
    }

    /// Embedding width.
    pub fn n_embd(&self) -> Result<u64, ConfigError> {
        self.u64_req(converter::EMBD_FIELDS)
    }

    /// Per-head width: `head_dim`, else `hidden_size / num_attention_heads`.
    pub fn head_dim(&self) -> Result<u64, ConfigError> {
        match self.typed.head_dim {
            Some(d) => Ok(d),
            None => {
                let h = self.n_head()?;
                if h == 0 {
                    return Err(ConfigError::BadField {
                        field: "num_attention_heads".into(),
                        expected: "a positive integer",
                        found: "0".into(),
                    });
                }
                Ok(self.n_embd()? / h)
            }
        }
    }

    /// The rope parameters' `original_max_position_embeddings` (required).
    pub fn rope_original_context(&self) -> Result<u64, ConfigError> {
        self.rope
            .get("original_max_position_embeddings")
            .and_then(json_u64)
            .ok_or_else(|| ConfigError::MissingField("original_max_position_embeddings".into()))
    }

    /// Layers.
    pub fn n_layer(&self) -> Result<u64, ConfigError> {
        self.u64_req(converter::BLOCK_COUNT_FIELDS)
    }
}

/// The rope parameters as `TextModel.__init__` derives them: `rope_parameters` or `rope_scaling`,
/// with the global rope base, the sliding layers' base, the rope type, the partial rotary factor
/// and the original context mirrored in from the root (each under its first name found).
fn rope_parameters(fields: &Map<String, Json>) -> Map<String, Json> {
    let mut rope = match fields.get("rope_parameters").or_else(|| fields.get("rope_scaling")) {
        Some(Json::Object(m)) => m.clone(),
        _ => Map::new(),
    };
    if rope.contains_key("full_attention") || rope.contains_key("sliding_attention") {
        return rope;
    }
    let find = |keys: &[&str]| keys.iter().find_map(|k| fields.get(*k)).filter(|v| !v.is_null()).cloned();
    if let Some(t) = find(&["local_rope_theta", "rope_local_theta", "rope_theta_local", "swa_rope_theta", "rope_local_base_freq"]) {
        rope.insert("sliding_attention".into(), Json::Object(Map::from_iter([("rope_theta".to_string(), t)])));
    }
    let mirrored = [
        ("rope_theta", find(&["global_rope_theta", "rope_global_theta", "rope_theta_global", "rope_theta", "rotary_emb_base"])),
        ("rope_type", rope.get("type").filter(|v| !v.is_null()).cloned()),
        ("partial_rotary_factor", find(&["partial_rotary_factor", "rope_pct", "rope_percent"])),
        ("original_max_position_embeddings", find(&["original_max_position_embeddings"])),
    ];
    for (name, value) in mirrored {
        if let (false, Some(v)) = (rope.contains_key(name), value) {
            rope.insert(name.into(), v);
        }
    }
    rope
}

/// `fields` as `T`; on a type error, the field that has it (each is tried alone), named with
/// `prefix`.
fn read_typed<T: for<'de> Deserialize<'de>>(fields: &Map<String, Json>, prefix: &str) -> Result<T, ConfigError> {
    T::deserialize(&Json::Object(fields.clone())).map_err(|whole| {
        let one = |k: &String, v: &Json| T::deserialize(&Json::Object(Map::from_iter([(k.clone(), v.clone())]))).err();
        match fields.iter().find_map(|(k, v)| one(k, v).map(|e| (k, e))) {
            Some((k, source)) => ConfigError::FieldType { field: format!("{prefix}{k}"), source },
            None => ConfigError::FieldType { field: prefix.trim_end_matches('.').to_string(), source: whole },
        }
    })
}

/// A JSON number as an unsigned integer (integral floats such as `2048.0` accepted).
pub fn json_u64(v: &Json) -> Option<u64> {
    if let Some(u) = v.as_u64() {
        return Some(u);
    }
    let f = v.as_f64()?;
    if f >= 0.0 && f.fract() == 0.0 && f < 1.8e19 {
        Some(f as u64)
    } else {
        None
    }
}

/// An optional unsigned integer field ([`json_u64`]; `null` = `None`).
fn uint<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    match Option::<Json>::deserialize(d)? {
        None | Some(Json::Null) => Ok(None),
        Some(v) => json_u64(&v).map(Some).ok_or_else(|| D::Error::custom(format!("expected a non-negative integer, found {v}"))),
    }
}

fn json_kind(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(json: Json) -> Result<HfConfig, ConfigError> {
        HfConfig::new(json)
    }

    #[test]
    fn defaults_text_config_and_rope_are_filled_in() {
        let c = config(serde_json::json!({
            "model_type": "llama", "hidden_size": 96, "num_attention_heads": 6, "rope_theta": 5e5,
            "rope_scaling": {"type": "linear", "factor": 2.0},
        }))
        .expect("config");
        assert_eq!(c.typed.head_dim, Some(16), "LlamaConfig's head_dim default");
        assert_eq!(c.head_dim().expect("head_dim"), 16);
        assert_eq!(c.rope_full.rope_type.as_deref(), Some("linear"), "`type` mirrored as rope_type");
        assert_eq!(c.rope_full.rope_theta, Some(5e5), "the global rope_theta mirrored in");
        assert!(c.file.get("head_dim").is_none(), "the file as written stays");
        let c = config(serde_json::json!({"model_type": "x", "text_config": {"hidden_size": 64.0}})).expect("config");
        assert_eq!(c.typed.hidden_size, Some(64), "text_config merged, an integral float read as an integer");
    }

    #[test]
    fn a_field_of_the_wrong_type_is_named() {
        let e = config(serde_json::json!({"model_type": "llama", "hidden_size": "96"})).expect_err("a string width");
        assert!(matches!(&e, ConfigError::FieldType { field, .. } if field == "hidden_size"), "{e}");
        let e = config(serde_json::json!({"rope_scaling": {"rope_type": "yarn", "factor": "4"}})).expect_err("a string factor");
        assert!(matches!(&e, ConfigError::FieldType { field, .. } if field == "rope_scaling.factor"), "{e}");
        let e = config(serde_json::json!({"num_hidden_layers": 2.5})).expect_err("a fractional count");
        assert!(e.to_string().contains("num_hidden_layers") && e.to_string().contains("2.5"), "{e}");
        let e = config(serde_json::json!([1, 2])).expect_err("an array");
        assert!(matches!(e, ConfigError::NotAnObject { found: "an array" }), "{e}");
    }

    #[test]
    fn per_layer_type_rope_parameters_are_kept_apart() {
        let c = config(serde_json::json!({"rope_parameters": {
            "full_attention": {"rope_type": "linear", "factor": 8.0, "rope_theta": 1e6},
            "sliding_attention": {"rope_type": "default", "rope_theta": 1e4},
        }}))
        .expect("config");
        assert_eq!(c.rope_full.factor, Some(8.0));
        assert_eq!(c.rope_full.rope_theta, Some(1e6));
    }
}
