//! Metadata key makers shared by the architecture tables: each is one `add_*` call of the pinned
//! converter (gguf-py `GGUFWriter`), with its GGUF key, value type and the config fields it reads.

use gguf::Value;

use super::{ArchError, Hparams};

/// `general.architecture`.
pub const ARCHITECTURE: &str = "general.architecture";
/// `general.file_type` (its value is filled in with the output file type).
pub const FILE_TYPE: &str = "general.file_type";

/// What a key maker returns: its keys and values, in order.
pub type Kv = Result<Vec<(String, Value)>, ArchError>;

fn k(arch: &str, suffix: &str) -> String {
    format!("{arch}.{suffix}")
}

fn u32v(field: &str, v: u64) -> Result<Value, ArchError> {
    u32::try_from(v).map(Value::U32).map_err(|_| ArchError::BadField {
        field: field.to_string(),
        expected: "a 32-bit unsigned integer",
        found: v.to_string(),
    })
}

/// Optional u32 key from the first present field.
pub fn opt_u32(hp: &Hparams, arch: &str, key: &str, fields: &[&str]) -> Kv {
    match hp.u64_opt(fields)? {
        Some(v) => Ok(vec![(k(arch, key), u32v(fields[0], v)?)]),
        None => Ok(vec![]),
    }
}

/// Required u32 key from the first present field.
fn req_u32(hp: &Hparams, arch: &str, key: &str, fields: &[&str]) -> Kv {
    let v = hp.u64_req(fields)?;
    Ok(vec![(k(arch, key), u32v(fields[0], v)?)])
}

/// Optional f32 key.
fn opt_f32(hp: &Hparams, arch: &str, key: &str, fields: &[&str]) -> Kv {
    Ok(hp.f64_opt(fields)?.map(|v| (k(arch, key), Value::F32(v as f32))).into_iter().collect())
}

/// Required f32 key.
fn req_f32(hp: &Hparams, arch: &str, key: &str, fields: &[&str]) -> Kv {
    Ok(vec![(k(arch, key), Value::F32(hp.f64_req(fields)? as f32))])
}

/// `general.file_type` placeholder.
pub fn file_type(_: &Hparams, _: &str) -> Kv {
    Ok(vec![(FILE_TYPE.to_string(), Value::U32(0))])
}

// ---- TextModel.set_gguf_parameters (llama, qwen2) --------------------------------------------

/// `{arch}.block_count` (required).
pub fn block_count(hp: &Hparams, a: &str) -> Kv {
    req_u32(hp, a, "block_count", &["n_layers", "num_hidden_layers", "n_layer", "num_layers"])
}
/// `{arch}.context_length` from any of the usual fields (optional).
pub fn context_length_any(hp: &Hparams, a: &str) -> Kv {
    opt_u32(
        hp,
        a,
        "context_length",
        &["max_position_embeddings", "n_ctx", "n_positions", "max_length", "max_sequence_length", "model_max_length"],
    )
}
/// `{arch}.embedding_length` (optional).
pub fn embedding_length_any(hp: &Hparams, a: &str) -> Kv {
    opt_u32(hp, a, "embedding_length", &["hidden_size", "n_embd", "dim"])
}
/// `{arch}.feed_forward_length` (optional).
pub fn feed_forward_length_any(hp: &Hparams, a: &str) -> Kv {
    opt_u32(
        hp,
        a,
        "feed_forward_length",
        &["prefix_dense_intermediate_size", "dense_intermediate_size", "intermediate_size", "n_inner", "hidden_dim"],
    )
}
/// `{arch}.attention.head_count` (optional).
pub fn head_count_any(hp: &Hparams, a: &str) -> Kv {
    opt_u32(hp, a, "attention.head_count", &["num_attention_heads", "n_head", "n_heads"])
}
/// `{arch}.attention.head_count_kv` (optional).
pub fn head_count_kv_any(hp: &Hparams, a: &str) -> Kv {
    opt_u32(hp, a, "attention.head_count_kv", &["num_key_value_heads", "n_kv_heads"])
}
/// `{arch}.attention.causal = false` when `is_causal` is false.
pub fn causal(hp: &Hparams, a: &str) -> Kv {
    Ok(if hp.fields.get("is_causal").and_then(|v| v.as_bool()) == Some(false) {
        vec![(k(a, "attention.causal"), Value::Bool(false))]
    } else {
        vec![]
    })
}
/// Rope scaling keys (linear, yarn, longrope) from `rope_parameters`/`rope_scaling`.
pub fn rope_scaling(hp: &Hparams, a: &str) -> Kv {
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
                .and_then(super::hparams::json_u64)
                .ok_or_else(|| ArchError::MissingField("rope_scaling.original_max_position_embeddings".into()))?;
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
/// `{arch}.rope.freq_base` from the rope theta (optional).
pub fn rope_freq_base_opt(hp: &Hparams, a: &str) -> Kv {
    Ok(hp
        .rope_full()
        .get("rope_theta")
        .and_then(|v| v.as_f64())
        .map(|t| (k(a, "rope.freq_base"), Value::F32(t as f32)))
        .into_iter()
        .collect())
}
/// `{arch}.rope.freq_base_swa` (optional).
pub fn rope_freq_base_swa(hp: &Hparams, a: &str) -> Kv {
    let t = hp.rope.get("sliding_attention").and_then(|s| s.get("rope_theta")).and_then(|v| v.as_f64());
    Ok(t.map(|t| (k(a, "rope.freq_base_swa"), Value::F32(t as f32))).into_iter().collect())
}
/// `{arch}.attention.layer_norm_rms_epsilon` (optional).
pub fn rms_eps_any(hp: &Hparams, a: &str) -> Kv {
    opt_f32(hp, a, "attention.layer_norm_rms_epsilon", &["rms_norm_eps", "norm_eps"])
}
/// `{arch}.attention.layer_norm_epsilon` (optional).
pub fn norm_eps_any(hp: &Hparams, a: &str) -> Kv {
    opt_f32(hp, a, "attention.layer_norm_epsilon", &["layer_norm_eps", "layer_norm_epsilon", "norm_epsilon"])
}
/// Expert counts (optional).
pub fn experts(hp: &Hparams, a: &str) -> Kv {
    let mut out = opt_u32(hp, a, "expert_count", super::EXPERT_COUNT)?;
    out.extend(opt_u32(hp, a, "expert_used_count", gguf::arch::EXPERT_USED_FIELDS)?);
    out.extend(opt_u32(hp, a, "expert_group_count", &["n_group"])?);
    out.extend(opt_u32(hp, a, "expert_group_used_count", &["topk_group"])?);
    Ok(out)
}
/// `{arch}.attention.key_length`/`value_length` from `head_dim` (optional).
pub fn head_dim_opt(hp: &Hparams, a: &str) -> Kv {
    let mut out = opt_u32(hp, a, "attention.key_length", &["head_dim"])?;
    out.extend(opt_u32(hp, a, "attention.value_length", &["head_dim"])?);
    Ok(out)
}

/// `TextModel.set_gguf_parameters`, in order (ends with `general.file_type`).
pub const TEXT_MODEL: &[super::KeyFn] = &[
    block_count,
    context_length_any,
    embedding_length_any,
    feed_forward_length_any,
    head_count_any,
    head_count_kv_any,
    causal,
    rope_scaling,
    rope_freq_base_opt,
    rope_freq_base_swa,
    rms_eps_any,
    norm_eps_any,
    experts,
    head_dim_opt,
    file_type,
];

// ---- keys of the architectures with their own set_gguf_parameters ----------------------------

/// `{arch}.context_length` from `n_positions`/`max_position_embeddings` (required).
pub fn context_length_pos(hp: &Hparams, a: &str) -> Kv {
    req_u32(hp, a, "context_length", &["n_positions", "max_position_embeddings"])
}
/// `{arch}.context_length` from `max_position_embeddings` (required).
pub fn context_length(hp: &Hparams, a: &str) -> Kv {
    req_u32(hp, a, "context_length", &["max_position_embeddings"])
}
/// `{arch}.embedding_length` (required).
pub fn embedding_length(hp: &Hparams, a: &str) -> Kv {
    req_u32(hp, a, "embedding_length", &["hidden_size", "n_embd"])
}
/// `{arch}.feed_forward_length` from `intermediate_size` (required).
pub fn feed_forward_length(hp: &Hparams, a: &str) -> Kv {
    req_u32(hp, a, "feed_forward_length", &["intermediate_size"])
}
/// `{arch}.attention.head_count` (required).
pub fn head_count(hp: &Hparams, a: &str) -> Kv {
    req_u32(hp, a, "attention.head_count", &["num_attention_heads", "n_head"])
}
/// `{arch}.attention.head_count_kv` (required; = head count when absent).
pub fn head_count_kv(hp: &Hparams, a: &str) -> Kv {
    Ok(vec![(k(a, "attention.head_count_kv"), u32v("num_key_value_heads", hp.n_head_kv()?)?)])
}
/// `{arch}.attention.layer_norm_rms_epsilon` from `rms_norm_eps` (required).
pub fn rms_eps(hp: &Hparams, a: &str) -> Kv {
    req_f32(hp, a, "attention.layer_norm_rms_epsilon", &["rms_norm_eps"])
}
/// `{arch}.attention.layer_norm_epsilon` (required).
pub fn norm_eps(hp: &Hparams, a: &str) -> Kv {
    req_f32(hp, a, "attention.layer_norm_epsilon", &["layer_norm_epsilon", "layer_norm_eps"])
}
/// `{arch}.attention.key_length`/`value_length` from `head_dim` (required).
pub fn head_dim(hp: &Hparams, a: &str) -> Kv {
    let mut out = req_u32(hp, a, "attention.key_length", &["head_dim"])?;
    out.extend(req_u32(hp, a, "attention.value_length", &["head_dim"])?);
    Ok(out)
}
/// `{arch}.rope.dimension_count = int(partial_rotary_factor × hidden_size) // heads`.
pub fn rope_dims_partial(hp: &Hparams, a: &str) -> Kv {
    Ok(vec![(k(a, "rope.dimension_count"), u32v("partial_rotary_factor", partial_rope_dims(hp, None)?)?)])
}
/// `int(partial_rotary_factor × hidden_size) // heads`; `default` when the factor is absent
/// (`None` = required).
pub fn partial_rope_dims(hp: &Hparams, default: Option<f64>) -> Result<u64, ArchError> {
    let pct = match hp.rope.get("partial_rotary_factor").and_then(|v| v.as_f64()) {
        Some(p) => p,
        None => default.ok_or_else(|| ArchError::MissingField("partial_rotary_factor".into()))?,
    };
    let n_embd = hp.n_embd()? as f64;
    let n_head = hp.n_head()?;
    if n_head == 0 {
        return Err(ArchError::BadField { field: "num_attention_heads".into(), expected: "a positive integer", found: "0".into() });
    }
    Ok(((pct * n_embd).trunc() as u64) / n_head)
}
/// `{arch}.attn_logit_softcapping` (required).
pub fn attn_softcap(hp: &Hparams, a: &str) -> Kv {
    req_f32(hp, a, "attn_logit_softcapping", &["attn_logit_softcapping"])
}
/// `{arch}.final_logit_softcapping` (required).
pub fn final_softcap(hp: &Hparams, a: &str) -> Kv {
    req_f32(hp, a, "final_logit_softcapping", &["final_logit_softcapping"])
}
/// `{arch}.attention.sliding_window` (required).
pub fn sliding_window(hp: &Hparams, a: &str) -> Kv {
    req_u32(hp, a, "attention.sliding_window", &["sliding_window"])
}
/// `{arch}.final_logit_softcapping` when `final_logit_softcapping` is set and not zero (gemma3).
pub fn final_softcap_opt(hp: &Hparams, a: &str) -> Kv {
    Ok(match hp.f64_opt(&["final_logit_softcapping"])? {
        Some(cap) if cap != 0.0 => vec![(k(a, "final_logit_softcapping"), Value::F32(cap as f32))],
        _ => vec![],
    })
}
/// `{arch}.attention.sliding_window` unless `sliding_window_pattern` is 1 (gemma3: no layer
/// slides then), required otherwise.
pub fn sliding_window_unless_global(hp: &Hparams, a: &str) -> Kv {
    if hp.fields.get("sliding_window_pattern").and_then(|v| v.as_u64()) == Some(1) {
        return Ok(vec![]);
    }
    sliding_window(hp, a)
}
