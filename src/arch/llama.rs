//! llama: Llama 2/3, Mistral, SmolLM, TinyLlama, DeepSeek-Coder, CodeLlama (`LlamaModel` of the
//! pinned converter): its keys, and the computed `rope_freqs.weight` of Llama 3.x rope scaling.
//! (Its tensor map, Q and K rows permuted, is `gguf::arch::tensors::LLAMA`.)

use gguf::Value;

use super::keys::*;
use super::{ArchError, ExtraTensor, Extras, Hparams, KeyFn};

fn vocab_size(hp: &Hparams, a: &str) -> Result<Vec<(String, Value)>, ArchError> {
    let v = hp.u64_req(&["vocab_size"])?;
    Ok(vec![(
        format!("{a}.vocab_size"),
        Value::U32(u32::try_from(v).map_err(|_| ArchError::BadField {
            field: "vocab_size".into(),
            expected: "a 32-bit integer",
            found: v.to_string(),
        })?),
    )])
}

fn rope_dimension_count(hp: &Hparams, a: &str) -> Result<Vec<(String, Value)>, ArchError> {
    let d = hp.head_dim()?;
    Ok(vec![(format!("{a}.rope.dimension_count"), Value::U32(d as u32))])
}

/// Llama 3.x `rope_type: llama3`: per-frequency factors (`LlamaModel.generate_extra_tensors`).
pub fn extra(hp: &Hparams, _: &str) -> Result<Extras, ArchError> {
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

/// `LlamaModel.set_gguf_parameters`: `TextModel`'s keys, then its own.
pub const PARAMS: &[&[KeyFn]] = &[TEXT_MODEL, &[vocab_size, rope_dimension_count]];
