//! phi3: Phi-3 / Phi-3.5-mini (`Phi3MiniModel` of the pinned converter). The checkpoint's fused
//! `qkv_proj` and `gate_up_proj` are written as they are (`attn_qkv`, `ffn_up` of width 2×ff);
//! LongRoPE configs add `rope_factors_long/short.weight` and `rope.scaling.attn_factor`.

use gguf::Value;

use super::keys::{self, *};
use super::{ArchError, ExtraTensor, Extras, Hparams, KeyFn};

fn orig_ctx(hp: &Hparams) -> Result<u64, ArchError> {
    hp.rope
        .get("original_max_position_embeddings")
        .and_then(super::hparams::json_u64)
        .ok_or_else(|| ArchError::MissingField("original_max_position_embeddings".into()))
}

fn orig_ctx_key(hp: &Hparams, a: &str) -> Result<Vec<(String, Value)>, ArchError> {
    Ok(vec![(format!("{a}.rope.scaling.original_context_length"), Value::U32(orig_ctx(hp)? as u32))])
}

fn rope_dims(hp: &Hparams, a: &str) -> Result<Vec<(String, Value)>, ArchError> {
    Ok(vec![(format!("{a}.rope.dimension_count"), Value::U32(partial_rope_dims(hp, Some(1.0))? as u32))])
}

fn rope_base(hp: &Hparams, a: &str) -> Result<Vec<(String, Value)>, ArchError> {
    let t = hp.rope_full().get("rope_theta").and_then(|v| v.as_f64()).ok_or_else(|| ArchError::MissingField("rope_theta".into()))?;
    Ok(vec![(format!("{a}.rope.freq_base"), Value::F32(t as f32))])
}

fn sliding(hp: &Hparams, a: &str) -> Result<Vec<(String, Value)>, ArchError> {
    let w = hp.u64_opt(&["sliding_window"])?.unwrap_or(0);
    Ok(vec![(format!("{a}.attention.sliding_window"), Value::U32(w as u32))])
}

/// LongRoPE factor tensors (`Phi3MiniModel.generate_extra_tensors`).
pub fn extra(hp: &Hparams, a: &str) -> Result<Extras, ArchError> {
    let floats = |k: &str| -> Option<Vec<f32>> {
        hp.rope.get(k).and_then(|v| v.as_array()).map(|a| a.iter().filter_map(|x| x.as_f64()).map(|x| x as f32).collect())
    };
    let long = floats("long_factor");
    if long.as_ref().map(|l| l.is_empty()).unwrap_or(true) {
        return Ok((vec![], vec![]));
    }
    let max_pos = hp.u64_req(&["n_positions", "max_position_embeddings"])? as f64;
    let orig = orig_ctx(hp)? as f64;
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
        "" => return Err(ArchError::MissingField("rope_scaling.type".into())),
        other => {
            return Err(ArchError::BadField {
                field: "rope_scaling.type".into(),
                expected: "su, longrope or yarn",
                found: other.to_string(),
            })
        }
    };
    let long = long.unwrap_or_default();
    let short = floats("short_factor").ok_or_else(|| ArchError::MissingField("rope_scaling.short_factor".into()))?;
    let rope_dims = partial_rope_dims(hp, Some(1.0))?;
    if long.len() != short.len() || long.len() as u64 * 2 != rope_dims {
        return Err(ArchError::BadField {
            field: "rope_scaling.long_factor/short_factor".into(),
            expected: "two lists of rope_dims/2 numbers",
            found: format!("{} and {} numbers for rope_dims {rope_dims}", long.len(), short.len()),
        });
    }
    Ok((
        vec![
            ExtraTensor { name: "rope_factors_long.weight".into(), data: long },
            ExtraTensor { name: "rope_factors_short.weight".into(), data: short },
        ],
        vec![(format!("{a}.rope.scaling.attn_factor"), Value::F32(attn_factor as f32))],
    ))
}

/// `set_gguf_parameters` of the converter class, in its order.
pub const PARAMS: &[&[KeyFn]] = &[&[
    context_length_pos,
    orig_ctx_key,
    embedding_length,
    feed_forward_length,
    block_count,
    head_count,
    head_count_kv,
    rms_eps,
    rope_dims,
    rope_base,
    keys::file_type,
    sliding,
]];
