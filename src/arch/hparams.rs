//! The Hugging Face `config.json` as the pinned converter sees it: its config class's defaults
//! filled in ([`super::config_defaults`]), `text_config` merged into the root, and the derived `rope_parameters` (rope_theta, rope_type, partial_rotary_factor and
//! original_max_position_embeddings mirrored in, as `TextModel.__init__` does).

use gguf::arch::converter;
use serde_json::{Map, Value as Json};

use super::{config_defaults, ArchError};

/// A model's hyper-parameters.
#[derive(Debug, Clone)]
pub struct Hparams {
    /// The config fields (with `text_config` merged into the root).
    pub fields: Map<String, Json>,
    /// `rope_parameters` (or `rope_scaling`) with the global rope fields mirrored in.
    pub rope: Map<String, Json>,
}

impl Hparams {
    /// Reads the hyper-parameters from a parsed `config.json`.
    pub fn new(config: &Json) -> Result<Hparams, ArchError> {
        let mut fields = config.as_object().cloned().ok_or_else(|| ArchError::BadConfig("config.json is not a JSON object".into()))?;
        // what transformers' AutoConfig fills in for the fields the file lacks
        config_defaults::apply(&mut fields);
        if let Some(Json::Object(mut text)) = fields.get("text_config").cloned() {
            config_defaults::apply(&mut text);
            for (k, v) in text {
                fields.insert(k, v);
            }
        }
        let mut rope = match fields.get("rope_parameters").or_else(|| fields.get("rope_scaling")) {
            Some(Json::Object(m)) if !m.is_empty() => m.clone(),
            Some(Json::Object(_)) | Some(Json::Null) | None => Map::new(),
            Some(_) => Map::new(),
        };
        let hp = Hparams { fields, rope: Map::new() };
        let rope_theta =
            hp.find(&["global_rope_theta", "rope_global_theta", "rope_theta_global", "rope_theta", "rotary_emb_base"]).cloned();
        let local_theta =
            hp.find(&["local_rope_theta", "rope_local_theta", "rope_theta_local", "swa_rope_theta", "rope_local_base_freq"]).cloned();
        let partial = hp.find(&["partial_rotary_factor", "rope_pct", "rope_percent"]).cloned();
        let orig = hp.find(&["original_max_position_embeddings"]).cloned();
        if !rope.contains_key("full_attention") && !rope.contains_key("sliding_attention") {
            if let Some(t) = local_theta.filter(|v| !v.is_null()) {
                let mut m = Map::new();
                m.insert("rope_theta".into(), t);
                rope.insert("sliding_attention".into(), Json::Object(m));
            }
            if !rope.contains_key("rope_theta") {
                if let Some(t) = rope_theta.filter(|v| !v.is_null()) {
                    rope.insert("rope_theta".into(), t);
                }
            }
            if !rope.contains_key("rope_type") {
                if let Some(t) = rope.get("type").cloned().filter(|v| !v.is_null()) {
                    rope.insert("rope_type".into(), t);
                }
            }
            if !rope.contains_key("partial_rotary_factor") {
                if let Some(p) = partial.filter(|v| !v.is_null()) {
                    rope.insert("partial_rotary_factor".into(), p);
                }
            }
            if !rope.contains_key("original_max_position_embeddings") {
                if let Some(o) = orig.filter(|v| !v.is_null()) {
                    rope.insert("original_max_position_embeddings".into(), o);
                }
            }
        }
        Ok(Hparams { rope, ..hp })
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
    pub fn u64_opt(&self, keys: &[&str]) -> Result<Option<u64>, ArchError> {
        match self.find(keys) {
            None | Some(Json::Null) => Ok(None),
            Some(v) => json_u64(v).map(Some).ok_or_else(|| ArchError::BadField {
                field: keys[0].to_string(),
                expected: "a non-negative integer",
                found: v.to_string(),
            }),
        }
    }

    /// A required unsigned integer field.
    pub fn u64_req(&self, keys: &[&str]) -> Result<u64, ArchError> {
        self.u64_opt(keys)?.ok_or_else(|| ArchError::MissingField(keys.join(" or ")))
    }

    /// An optional number field.
    pub fn f64_opt(&self, keys: &[&str]) -> Result<Option<f64>, ArchError> {
        match self.find(keys) {
            None | Some(Json::Null) => Ok(None),
            Some(v) => v.as_f64().map(Some).ok_or_else(|| ArchError::BadField {
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
    pub fn n_head(&self) -> Result<u64, ArchError> {
        self.u64_req(converter::HEAD_FIELDS)
    }

    /// Key/value heads (= attention heads when absent).
    pub fn n_head_kv(&self) -> Result<u64, ArchError> {
        match self.u64_opt(converter::KV_HEAD_FIELDS)? {
            Some(n) => Ok(n),
            None => self.n_head(),
        }
    }

    /// Embedding width.
    pub fn n_embd(&self) -> Result<u64, ArchError> {
        self.u64_req(converter::EMBD_FIELDS)
    }

    /// Per-head width: `head_dim`, else `hidden_size / num_attention_heads`.
    pub fn head_dim(&self) -> Result<u64, ArchError> {
        match self.u64_opt(&["head_dim"])? {
            Some(d) => Ok(d),
            None => {
                let h = self.n_head()?;
                if h == 0 {
                    return Err(ArchError::BadField {
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
    pub fn rope_original_context(&self) -> Result<u64, ArchError> {
        self.rope
            .get("original_max_position_embeddings")
            .and_then(json_u64)
            .ok_or_else(|| ArchError::MissingField("original_max_position_embeddings".into()))
    }

    /// Layers.
    pub fn n_layer(&self) -> Result<u64, ArchError> {
        self.u64_req(converter::BLOCK_COUNT_FIELDS)
    }
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
