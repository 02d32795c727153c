//! The tensors a converter class computes from the config ([`gguf::arch::Computed`], listed by
//! each [`gguf::arch::ConverterClass`]): one function per kind, each the pinned converter's
//! `generate_extra_tensors` arithmetic, and [`computed`], which makes a class's list.

use gguf::arch::Computed;
use gguf::Value;

use super::keys::partial_rope_dims;
use super::{ArchError, ExtraTensor, Extras};
use gguf::arch::{ConfigError, HfConfig};

/// The tensors `kinds` compute for this config, and the keys written with them, in order.
pub fn computed(kinds: &[Computed], hp: &HfConfig, arch: &str) -> Result<Extras, ArchError> {
    let (mut tensors, mut keys) = (Vec::new(), Vec::new());
    for kind in kinds {
        let (t, k) = match kind {
            Computed::Llama3RopeFreqs => llama3_rope_freqs(hp)?,
            Computed::LongRopeFactors => long_rope_factors(hp, arch)?,
        };
        tensors.extend(t);
        keys.extend(k);
    }
    Ok((tensors, keys))
}

/// Llama 3.x `rope_type: llama3`: per-frequency factors (`LlamaModel.generate_extra_tensors`).
fn llama3_rope_freqs(hp: &HfConfig) -> Result<Extras, ArchError> {
    let rp = hp.rope_full();
    let is_llama3 = rp.get("rope_type").and_then(|v| v.as_str()).map(|s| s.eq_ignore_ascii_case("llama3")).unwrap_or(false);
    if rp.is_empty() || !is_llama3 {
        return Ok((vec![], vec![]));
    }
    let f = |k: &str, d: f64| rp.get(k).and_then(|v| v.as_f64()).unwrap_or(d);
    let base = f("rope_theta", 10000.0);
    let dim = hp.head_dim()?;
    let factor = f("factor", 8.0);
    let low = f("low_freq_factor", 1.0);
    let high = f("high_freq_factor", 4.0);
    let old_ctx = f("original_max_position_embeddings", 8192.0);
    let low_wavelen = old_ctx / low;
    let high_wavelen = old_ctx / high;
    let mut data = Vec::new();
    // The converter's arithmetic, in torch's dtypes: `freqs` is a float32 tensor, so every
    // expression with a frequency (`2 * math.pi / freq`, `smooth`, the factor) is a float32 tensor
    // op with the Python scalars cast to float32; the wavelength bounds are Python floats, compared
    // in float32 too. Computing `smooth` in f64 gives 1-ulp differences in `rope_freqs.weight`.
    for i in (0..dim).step_by(2) {
        let expo = (i as f32) / (dim as f32);
        let freq = 1.0f32 / (base as f32).powf(expo);
        let wavelen = (2.0 * std::f64::consts::PI) as f32 / freq;
        let v = if wavelen < high_wavelen as f32 {
            1.0f32
        } else if wavelen > low_wavelen as f32 {
            factor as f32
        } else {
            let smooth = ((old_ctx as f32 / wavelen) - low as f32) / (high - low) as f32;
            1.0f32 / ((1.0f32 - smooth) / factor as f32 + smooth)
        };
        data.push(v);
    }
    Ok((vec![ExtraTensor { name: "rope_freqs.weight".into(), data }], vec![]))
}

/// LongRoPE factor tensors and `rope.scaling.attn_factor` (`Phi3MiniModel.generate_extra_tensors`).
fn long_rope_factors(hp: &HfConfig, a: &str) -> Result<Extras, ArchError> {
    let floats = |k: &str| -> Option<Vec<f32>> {
        hp.rope.get(k).and_then(|v| v.as_array()).map(|a| a.iter().filter_map(|x| x.as_f64()).map(|x| x as f32).collect())
    };
    let long = floats("long_factor");
    if long.as_ref().map(|l| l.is_empty()).unwrap_or(true) {
        return Ok((vec![], vec![]));
    }
    let max_pos = hp.u64_req(&["n_positions", "max_position_embeddings"])? as f64;
    let orig = hp.rope_original_context()? as f64;
    let scale = max_pos / orig;
    let rope_type = hp.rope.get("rope_type").and_then(|v| v.as_str()).unwrap_or("").to_lowercase();
    let attn_factor = match rope_type.as_str() {
        "su" | "longrope" => {
            if scale > 1.0 {
                (1.0 + scale.ln() / orig.ln()).sqrt()
            } else {
                1.0
            }
        }
        "yarn" => {
            if scale > 1.0 {
                0.1 * scale.ln() + 1.0
            } else {
                1.0
            }
        }
        "" => return Err(ConfigError::MissingField("rope_scaling.type".into()).into()),
        other => {
            return Err(ConfigError::BadField {
                field: "rope_scaling.type".into(),
                expected: "su, longrope or yarn",
                found: other.to_string(),
            }
            .into())
        }
    };
    let long = long.unwrap_or_default();
    let short = floats("short_factor").ok_or_else(|| ConfigError::MissingField("rope_scaling.short_factor".into()))?;
    let rope_dims = partial_rope_dims(hp, Some(1.0))?;
    if long.len() != short.len() || long.len() as u64 * 2 != rope_dims {
        return Err(ConfigError::BadField {
            field: "rope_scaling.long_factor/short_factor".into(),
            expected: "two lists of rope_dims/2 numbers",
            found: format!("{} and {} numbers for rope_dims {rope_dims}", long.len(), short.len()),
        }
        .into());
    }
    Ok((
        vec![
            ExtraTensor { name: "rope_factors_long.weight".into(), data: long },
            ExtraTensor { name: "rope_factors_short.weight".into(), data: short },
        ],
        vec![(format!("{a}.rope.scaling.attn_factor"), Value::F32(attn_factor as f32))],
    ))
}
