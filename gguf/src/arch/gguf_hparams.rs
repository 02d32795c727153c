//! A GGUF file's hyper-parameters, read once and typed ([`GgufHparams::read`]): the
//! `{arch}.*` keys that llama.cpp's `llama_model::load_hparams` reads and ggufkit's commands use
//! (quantize's type policy, plan's shape, validate's model config). The reader applies no
//! default: a key the file lacks is `None`, and each command fills in llama.cpp's default for what
//! it needs.

use crate::Value;

/// A GGUF file's hyper-parameter keys have the wrong type (or the architecture is missing).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HparamsError {
    /// `general.architecture` is missing or not a string.
    #[error("GGUF metadata: general.architecture is missing or not a string (is this a model file?)")]
    NoArchitecture,
    /// A key holds a value of another type than llama.cpp reads.
    #[error("GGUF metadata: {key} should be {expected}, found {found}")]
    WrongType {
        /// The GGUF key.
        key: String,
        /// What llama.cpp reads there.
        expected: &'static str,
        /// What the file holds.
        found: String,
    },
}

/// An integer that llama.cpp reads per layer (`get_key_or_arr`): one value for all layers, or an
/// array of one per layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PerLayer {
    /// One value for every layer.
    All(u64),
    /// One value per layer.
    Each(Vec<u64>),
}

impl PerLayer {
    /// Layer 0's value (llama.cpp's `hparams.n_head()` and the like); `None` for an empty array.
    pub fn first(&self) -> Option<u64> {
        match self {
            PerLayer::All(v) => Some(*v),
            PerLayer::Each(v) => v.first().copied(),
        }
    }

    /// The value when every layer has the same one; `None` when they differ (or the array is
    /// empty).
    pub fn uniform(&self) -> Option<u64> {
        match self {
            PerLayer::All(v) => Some(*v),
            PerLayer::Each(v) => v.first().copied().filter(|f| v.iter().all(|x| x == f)),
        }
    }
}

/// A GGUF file's hyper-parameters (`{arch}.KEY`, `None` where the file has no such key).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GgufHparams {
    /// `general.architecture`.
    pub arch: String,
    /// `block_count`.
    pub block_count: Option<u64>,
    /// `context_length` (the training context).
    pub context_length: Option<u64>,
    /// `embedding_length`.
    pub embedding_length: Option<u64>,
    /// `feed_forward_length`.
    pub feed_forward_length: Option<PerLayer>,
    /// `attention.head_count`.
    pub head_count: Option<PerLayer>,
    /// `attention.head_count_kv`.
    pub head_count_kv: Option<PerLayer>,
    /// `attention.key_length`.
    pub key_length: Option<u64>,
    /// `attention.value_length`.
    pub value_length: Option<u64>,
    /// `attention.layer_norm_rms_epsilon`.
    pub rms_eps: Option<f64>,
    /// `attention.layer_norm_epsilon`.
    pub norm_eps: Option<f64>,
    /// `attention.sliding_window`.
    pub sliding_window: Option<u64>,
    /// `rope.dimension_count`.
    pub rope_dimension_count: Option<u64>,
    /// `rope.freq_base`.
    pub rope_freq_base: Option<f64>,
    /// `rope.freq_base_swa`.
    pub rope_freq_base_swa: Option<f64>,
    /// `rope.scaling.type`.
    pub rope_scaling_type: Option<String>,
    /// `rope.scaling.factor`.
    pub rope_scaling_factor: Option<f64>,
    /// `rope.scaling.attn_factor`.
    pub rope_scaling_attn_factor: Option<f64>,
    /// `rope.scaling.original_context_length`.
    pub rope_scaling_original_context_length: Option<u64>,
    /// `attn_logit_softcapping`.
    pub attn_logit_softcapping: Option<f64>,
    /// `final_logit_softcapping`.
    pub final_logit_softcapping: Option<f64>,
    /// `expert_count`.
    pub expert_count: Option<u64>,
    /// `expert_used_count`.
    pub expert_used_count: Option<u64>,
    /// `expert_feed_forward_length`.
    pub expert_feed_forward_length: Option<u64>,
}

impl GgufHparams {
    /// Reads the hyper-parameters through `get`, which gives a metadata key's value (a
    /// [`crate::GgufFile`]'s `get`, or a lookup in a metadata list). Integers of any GGUF integer
    /// type are read as integers, numbers as `f64` (an integer too); a key of another kind (a
    /// string for a number, a negative count) is an error, as llama.cpp's loader refuses it (which
    /// is stricter: it wants the exact type the converter writes).
    pub fn read<'a>(get: &dyn Fn(&str) -> Option<&'a Value>) -> Result<GgufHparams, HparamsError> {
        let arch = get("general.architecture").and_then(Value::as_str).ok_or(HparamsError::NoArchitecture)?.to_string();
        let r = Reader { get, arch: &arch };
        Ok(GgufHparams {
            block_count: r.int("block_count")?,
            context_length: r.int("context_length")?,
            embedding_length: r.int("embedding_length")?,
            feed_forward_length: r.per_layer("feed_forward_length")?,
            head_count: r.per_layer("attention.head_count")?,
            head_count_kv: r.per_layer("attention.head_count_kv")?,
            key_length: r.int("attention.key_length")?,
            value_length: r.int("attention.value_length")?,
            rms_eps: r.float("attention.layer_norm_rms_epsilon")?,
            norm_eps: r.float("attention.layer_norm_epsilon")?,
            sliding_window: r.int("attention.sliding_window")?,
            rope_dimension_count: r.int("rope.dimension_count")?,
            rope_freq_base: r.float("rope.freq_base")?,
            rope_freq_base_swa: r.float("rope.freq_base_swa")?,
            rope_scaling_type: r.string("rope.scaling.type")?,
            rope_scaling_factor: r.float("rope.scaling.factor")?,
            rope_scaling_attn_factor: r.float("rope.scaling.attn_factor")?,
            rope_scaling_original_context_length: r.int("rope.scaling.original_context_length")?,
            attn_logit_softcapping: r.float("attn_logit_softcapping")?,
            final_logit_softcapping: r.float("final_logit_softcapping")?,
            expert_count: r.int("expert_count")?,
            expert_used_count: r.int("expert_used_count")?,
            expert_feed_forward_length: r.int("expert_feed_forward_length")?,
            arch,
        })
    }

    /// The full GGUF key of a hyper-parameter (`attention.head_count` → `llama.attention.head_count`),
    /// for messages.
    pub fn key(&self, suffix: &str) -> String {
        format!("{}.{suffix}", self.arch)
    }
}

struct Reader<'r, 'a> {
    get: &'r dyn Fn(&str) -> Option<&'a Value>,
    arch: &'r str,
}

impl<'a> Reader<'_, 'a> {
    fn value(&self, suffix: &str) -> (String, Option<&'a Value>) {
        let key = format!("{}.{suffix}", self.arch);
        let v = (self.get)(&key);
        (key, v)
    }

    fn wrong(key: String, expected: &'static str, v: &Value) -> HparamsError {
        let found = match v {
            Value::String(s) => format!("a string of {} bytes", s.len()),
            Value::Array(t, items) => format!("an array of {} {}", items.len(), t.name()),
            other => format!("{other:?}"),
        };
        HparamsError::WrongType { key, expected, found }
    }

    fn int(&self, suffix: &str) -> Result<Option<u64>, HparamsError> {
        match self.value(suffix) {
            (_, None) => Ok(None),
            (key, Some(v)) => v.as_u64().map(Some).ok_or_else(|| Self::wrong(key, "a non-negative integer", v)),
        }
    }

    fn float(&self, suffix: &str) -> Result<Option<f64>, HparamsError> {
        match self.value(suffix) {
            (_, None) => Ok(None),
            (key, Some(v)) => v
                .as_f64()
                .or_else(|| v.as_i64().map(|i| i as f64))
                .or_else(|| v.as_u64().map(|u| u as f64))
                .map(Some)
                .ok_or_else(|| Self::wrong(key, "a number", v)),
        }
    }

    fn string(&self, suffix: &str) -> Result<Option<String>, HparamsError> {
        match self.value(suffix) {
            (_, None) => Ok(None),
            (key, Some(v)) => v.as_str().map(|s| Some(s.to_string())).ok_or_else(|| Self::wrong(key, "a string", v)),
        }
    }

    fn per_layer(&self, suffix: &str) -> Result<Option<PerLayer>, HparamsError> {
        match self.value(suffix) {
            (_, None) => Ok(None),
            (key, Some(v)) => match v.as_array() {
                Some(items) => items
                    .iter()
                    .map(|x| x.as_u64().ok_or_else(|| Self::wrong(key.clone(), "an array of non-negative integers", v)))
                    .collect::<Result<Vec<u64>, _>>()
                    .map(|v| Some(PerLayer::Each(v))),
                None => {
                    v.as_u64().map(|x| Some(PerLayer::All(x))).ok_or_else(|| Self::wrong(key, "a non-negative integer or one per layer", v))
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ValueType;

    fn read(kv: &[(&str, Value)]) -> Result<GgufHparams, HparamsError> {
        GgufHparams::read(&|key| kv.iter().find(|(k, _)| *k == key).map(|(_, v)| v))
    }

    #[test]
    fn keys_are_read_under_the_architecture_any_integer_type() {
        let hp = read(&[
            ("general.architecture", Value::from("qwen3")),
            ("qwen3.block_count", Value::U32(3)),
            ("qwen3.context_length", Value::U64(40960)),
            ("qwen3.attention.head_count", Value::I32(8)),
            ("qwen3.attention.head_count_kv", Value::Array(ValueType::Int32, vec![Value::I32(2), Value::I32(2)])),
            ("qwen3.rope.freq_base", Value::F32(1e6)),
            ("qwen3.attention.layer_norm_rms_epsilon", Value::U32(1)),
            ("llama.block_count", Value::U32(99)),
        ])
        .unwrap();
        assert_eq!(hp.arch, "qwen3");
        assert_eq!(hp.block_count, Some(3));
        assert_eq!(hp.context_length, Some(40960));
        assert_eq!(hp.head_count, Some(PerLayer::All(8)));
        assert_eq!(hp.head_count_kv.as_ref().and_then(PerLayer::uniform), Some(2));
        assert_eq!(hp.rope_freq_base, Some(1e6));
        assert_eq!(hp.rms_eps, Some(1.0));
        assert_eq!(hp.embedding_length, None);
        assert_eq!(hp.key("block_count"), "qwen3.block_count");
    }

    #[test]
    fn per_layer_values() {
        let each = PerLayer::Each(vec![4, 4, 8]);
        assert_eq!(each.first(), Some(4));
        assert_eq!(each.uniform(), None);
        assert_eq!(PerLayer::Each(vec![]).first(), None);
        assert_eq!(PerLayer::All(5).uniform(), Some(5));
    }

    #[test]
    fn wrong_types_and_a_missing_architecture_are_errors() {
        assert_eq!(read(&[]), Err(HparamsError::NoArchitecture));
        let e = read(&[("general.architecture", Value::from("llama")), ("llama.block_count", Value::I32(-1))]).unwrap_err();
        assert!(matches!(e, HparamsError::WrongType { ref key, .. } if key == "llama.block_count"), "{e}");
        let e = read(&[("general.architecture", Value::from("llama")), ("llama.rope.freq_base", Value::from("x"))]).unwrap_err();
        assert_eq!(e.to_string(), "GGUF metadata: llama.rope.freq_base should be a number, found a string of 1 bytes");
        let e = read(&[
            ("general.architecture", Value::from("llama")),
            ("llama.attention.head_count", Value::Array(ValueType::Float32, vec![Value::F32(1.0)])),
        ])
        .unwrap_err();
        assert!(matches!(e, HparamsError::WrongType { ref key, .. } if key == "llama.attention.head_count"), "{e}");
    }
}
