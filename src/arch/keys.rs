//! The interpreter of the converter classes' keys ([`gguf::arch::Key`], listed by each
//! [`gguf::arch::ConverterClass`] in `gguf::arch::converter`): [`key_values`] makes the GGUF
//! keys and values of one `add_*` call from the config, one arm per kind of key.

use gguf::arch::{Key, Need};
use gguf::Value;

use super::ArchError;
use gguf::arch::{ConfigError, HfConfig};

/// `general.architecture`.
pub const ARCHITECTURE: &str = gguf::arch::converter::ARCHITECTURE_KEY;
/// `general.file_type`.
pub const FILE_TYPE: &str = gguf::arch::converter::FILE_TYPE_KEY;

/// What a key makes: its keys and values, in order.
pub type Kv = Result<Vec<(String, Value)>, ArchError>;

fn k(arch: &str, suffix: &str) -> String {
    format!("{arch}.{suffix}")
}

fn u32v(field: &str, v: u64) -> Result<Value, ArchError> {
    u32::try_from(v)
        .map(Value::U32)
        .map_err(|_| ConfigError::BadField { field: field.to_string(), expected: "a 32-bit unsigned integer", found: v.to_string() })
        .map_err(ArchError::from)
}

/// A key's value under `need`, given the value found in the config (from `fields`): `None` when
/// the key is not written.
fn needed<T>(found: Option<T>, need: Need, fields: &[&str], or: fn(u32) -> T) -> Result<Option<T>, ArchError> {
    match (found, need) {
        (Some(v), _) => Ok(Some(v)),
        (None, Need::Optional) => Ok(None),
        (None, Need::Or(v)) => Ok(Some(or(v))),
        (None, Need::Required) => Err(ConfigError::MissingField(fields.join(" or ")).into()),
    }
}

/// The keys and values one `add_*` call of the converter writes for this config, for
/// architecture `arch` and an output of `file_type` (`general.file_type`).
pub fn key_values(key: &Key, hp: &HfConfig, arch: &str, file_type: u32) -> Kv {
    let one = |name: String, v: Value| Ok(vec![(name, v)]);
    match *key {
        Key::U32 { key, fields, need } => match needed(hp.u64_opt(fields)?, need, fields, u64::from)? {
            Some(v) => one(k(arch, key), u32v(fields[0], v)?),
            None => Ok(vec![]),
        },
        Key::F32 { key, fields, need } => match needed(hp.f64_opt(fields)?, need, fields, f64::from)? {
            Some(v) => one(k(arch, key), Value::F32(v as f32)),
            None => Ok(vec![]),
        },
        Key::F32NonZero { key, field } => match hp.f64_opt(&[field])? {
            Some(v) if v != 0.0 => one(k(arch, key), Value::F32(v as f32)),
            _ => Ok(vec![]),
        },
        Key::U32Times { key, fields, times } => {
            let v = hp.u64_req(fields)?;
            one(k(arch, key), u32v(fields[0], v.saturating_mul(times))?)
        }
        Key::HeadCountKv => one(k(arch, "attention.head_count_kv"), u32v("num_key_value_heads", hp.n_head_kv()?)?),
        Key::HeadDim { key } => one(k(arch, key), u32v("head_dim", hp.head_dim()?)?),
        Key::PartialRotaryDims { default } => {
            one(k(arch, "rope.dimension_count"), u32v("partial_rotary_factor", partial_rope_dims(hp, default)?)?)
        }
        Key::NonCausal => match hp.fields.get("is_causal").and_then(|v| v.as_bool()) {
            Some(false) => one(k(arch, "attention.causal"), Value::Bool(false)),
            _ => Ok(vec![]),
        },
        Key::RopeScaling => rope_scaling(hp, arch),
        Key::RopeFreqBase { need } => {
            match needed(hp.rope_full().get("rope_theta").and_then(|v| v.as_f64()), need, &["rope_theta"], f64::from)? {
                Some(t) => one(k(arch, "rope.freq_base"), Value::F32(t as f32)),
                None => Ok(vec![]),
            }
        }
        Key::RopeFreqBaseSwa => {
            let t = hp.rope.get("sliding_attention").and_then(|s| s.get("rope_theta")).and_then(|v| v.as_f64());
            Ok(t.map(|t| (k(arch, "rope.freq_base_swa"), Value::F32(t as f32))).into_iter().collect())
        }
        Key::RopeOriginalContext => {
            one(k(arch, "rope.scaling.original_context_length"), u32v("original_max_position_embeddings", hp.rope_original_context()?)?)
        }
        Key::SlidingWindowUnlessGlobal => {
            if hp.fields.get("sliding_window_pattern").and_then(|v| v.as_u64()) == Some(1) {
                return Ok(vec![]);
            }
            one(k(arch, "attention.sliding_window"), u32v("sliding_window", hp.u64_req(&["sliding_window"])?)?)
        }
        Key::FileType => one(FILE_TYPE.to_string(), Value::U32(file_type)),
        Key::Bool { key, value } => one(key.to_string(), Value::Bool(value)),
    }
}

/// `TextModel`'s rope scaling keys (linear, yarn, longrope) from `rope_parameters`/`rope_scaling`.
fn rope_scaling(hp: &HfConfig, a: &str) -> Kv {
    let rp = hp.rope_full();
    let Some(rope_type) = rp.get("rope_type").and_then(|v| v.as_str()) else { return Ok(vec![]) };
    let factor = rp.get("factor").and_then(|v| v.as_f64());
    let mut out = Vec::new();
    let f = |name: &str| rp.get(name).and_then(|v| v.as_f64());
    match (rope_type, factor) {
        ("linear", Some(fac)) => {
            out.push((k(a, "rope.scaling.type"), Value::String("linear".into())));
            out.push((k(a, "rope.scaling.factor"), Value::F32(fac as f32)));
        }
        ("yarn", Some(fac)) => {
            out.push((k(a, "rope.scaling.type"), Value::String("yarn".into())));
            out.push((k(a, "rope.scaling.factor"), Value::F32(fac as f32)));
            let orig = rp
                .get("original_max_position_embeddings")
                .and_then(gguf::arch::hf_config::json_u64)
                .ok_or_else(|| ConfigError::MissingField("rope_scaling.original_max_position_embeddings".into()))?;
            out.push((k(a, "rope.scaling.original_context_length"), u32v("original_max_position_embeddings", orig)?));
            if let Some(v) = f("extrapolation_factor") {
                out.push((k(a, "rope.scaling.yarn_ext_factor"), Value::F32(v as f32)));
            }
            if let Some(v) = f("attention_factor").or_else(|| f("attn_factor")) {
                out.push((k(a, "rope.scaling.yarn_attn_factor"), Value::F32(v as f32)));
            }
            if let Some(v) = f("beta_fast") {
                out.push((k(a, "rope.scaling.yarn_beta_fast"), Value::F32(v as f32)));
            }
            if let Some(v) = f("beta_slow") {
                out.push((k(a, "rope.scaling.yarn_beta_slow"), Value::F32(v as f32)));
            }
        }
        ("su", _) | ("longrope", _) => out.push((k(a, "rope.scaling.type"), Value::String("longrope".into()))),
        _ => {}
    }
    Ok(out)
}

/// `int(partial_rotary_factor × hidden_size) // heads`; `default` when the factor is absent
/// (`None` = required).
pub fn partial_rope_dims(hp: &HfConfig, default: Option<f64>) -> Result<u64, ArchError> {
    let pct = match hp.rope.get("partial_rotary_factor").and_then(|v| v.as_f64()) {
        Some(p) => p,
        None => default.ok_or_else(|| ConfigError::MissingField("partial_rotary_factor".into()))?,
    };
    let n_embd = hp.n_embd()? as f64;
    let n_head = hp.n_head()?;
    if n_head == 0 {
        return Err(ConfigError::BadField { field: "num_attention_heads".into(), expected: "a positive integer", found: "0".into() }.into());
    }
    Ok(((pct * n_embd).trunc() as u64) / n_head)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gguf::arch::{by_gguf_name, ConverterClass};
    use serde_json::json;

    fn phi3(extra: serde_json::Value) -> HfConfig {
        let mut c = json!({"architectures": ["Phi3ForCausalLM"], "model_type": "phi3", "vocab_size": 64, "hidden_size": 64,
            "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "max_position_embeddings": 512});
        c.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        HfConfig::new(c).unwrap()
    }

    fn values(class: &ConverterClass, hp: &HfConfig) -> Result<Vec<(String, Value)>, ArchError> {
        let mut out = Vec::new();
        for key in class.all_keys() {
            out.extend(key_values(key, hp, "phi3", 7)?);
        }
        Ok(out)
    }

    #[test]
    fn phi3_writes_sliding_window_0_when_unset_and_the_file_type_given() {
        // Phi3MiniModel: `sliding_window = hparams.get("sliding_window")`, 0 when None
        let kv = values(&ConverterClass::PHI3_MINI, &phi3(json!({}))).unwrap();
        assert!(kv.contains(&("phi3.attention.sliding_window".into(), Value::U32(0))), "{kv:?}");
        assert!(kv.contains(&(FILE_TYPE.into(), Value::U32(7))), "{kv:?}");
        let kv = values(&ConverterClass::PHI3_MINI, &phi3(json!({"sliding_window": 48}))).unwrap();
        assert!(kv.contains(&("phi3.attention.sliding_window".into(), Value::U32(48))), "{kv:?}");
    }

    #[test]
    fn a_u32_key_past_32_bits_is_refused() {
        // gguf-py 0.19.0 cannot write it either: `add_sliding_window(2**33)` fails at write time
        // with "'I' format requires 0 <= number <= 4294967295" (checked in the reference venv),
        // so the pinned converter fails; before the keys were data ggufkit wrote 2^33 as 0.
        let e = values(&ConverterClass::PHI3_MINI, &phi3(json!({"sliding_window": 1u64 << 33}))).unwrap_err();
        assert!(matches!(e, ArchError::Config(ConfigError::BadField { ref field, .. }) if field == "sliding_window"), "{e}");
    }

    #[test]
    fn a_missing_required_field_is_named() {
        let hp = phi3(json!({}));
        let mut fields = hp.fields.clone();
        fields.remove("rms_norm_eps");
        let hp = HfConfig { fields, ..hp };
        let e = values(by_gguf_name("phi3").unwrap().converter, &hp).unwrap_err();
        assert!(matches!(e, ArchError::Config(ConfigError::MissingField(ref f)) if f == "rms_norm_eps"), "{e}");
    }
}
