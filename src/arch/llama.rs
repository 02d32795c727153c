//! llama: Llama 2/3, Mistral, SmolLM, TinyLlama, DeepSeek-Coder, CodeLlama (`LlamaModel` of the
//! pinned converter). Q and K rows are permuted for ggml's rotary layout; Llama 3.x rope scaling
//! adds a computed `rope_freqs.weight`.

use gguf::Value;

use super::keys::*;
use super::{ArchError, ArchSpec, Dim::*, ExtraTensor, Hparams, TensorRule, Transform, When};

const W: &[&str] = &[".weight"];
const WB: &[&str] = &[".weight", ".bias"];

const fn r(hf: &'static str, gguf: &'static str, suffixes: &'static [&'static str], dims: &'static [super::Dim], transform: Transform, when: When, bias_when: When) -> TensorRule {
    TensorRule { hf, gguf, suffixes, dims, transform, when, bias_when }
}

/// The llama tensor table.
pub const TENSORS: &[TensorRule] = &[
    r("model.embed_tokens", "token_embd", W, &[Embd, Vocab], Transform::None, When::Always, When::Never),
    r("model.norm", "output_norm", W, &[Embd], Transform::None, When::Always, When::Never),
    r("lm_head", "output", W, &[Embd, Vocab], Transform::None, When::Untied, When::Never),
    r("model.layers.{bid}.input_layernorm", "blk.{bid}.attn_norm", W, &[Embd], Transform::None, When::Always, When::Never),
    r("model.layers.{bid}.self_attn.q_proj", "blk.{bid}.attn_q", WB, &[Embd, Q], Transform::PermuteQ, When::Always, When::AttnBias),
    r("model.layers.{bid}.self_attn.k_proj", "blk.{bid}.attn_k", WB, &[Embd, Kv], Transform::PermuteK, When::Always, When::AttnBias),
    r("model.layers.{bid}.self_attn.v_proj", "blk.{bid}.attn_v", WB, &[Embd, Kv], Transform::None, When::Always, When::AttnBias),
    r("model.layers.{bid}.self_attn.o_proj", "blk.{bid}.attn_output", WB, &[Q, Embd], Transform::None, When::Always, When::AttnBias),
    r("model.layers.{bid}.post_attention_layernorm", "blk.{bid}.ffn_norm", W, &[Embd], Transform::None, When::Always, When::Never),
    r("model.layers.{bid}.mlp.gate_proj", "blk.{bid}.ffn_gate", WB, &[Embd, Ff], Transform::None, When::Always, When::MlpBias),
    r("model.layers.{bid}.mlp.up_proj", "blk.{bid}.ffn_up", WB, &[Embd, Ff], Transform::None, When::Always, When::MlpBias),
    r("model.layers.{bid}.mlp.down_proj", "blk.{bid}.ffn_down", WB, &[Ff, Embd], Transform::None, When::Always, When::MlpBias),
];

fn vocab_size(hp: &Hparams, a: &str) -> Result<Vec<(String, Value)>, ArchError> {
    let v = hp.u64_req(&["vocab_size"])?;
    Ok(vec![(format!("{a}.vocab_size"), Value::U32(u32::try_from(v).map_err(|_| ArchError::BadField { field: "vocab_size".into(), expected: "a 32-bit integer", found: v.to_string() })?))])
}

fn rope_dimension_count(hp: &Hparams, a: &str) -> Result<Vec<(String, Value)>, ArchError> {
    let d = hp.head_dim()?;
    Ok(vec![(format!("{a}.rope.dimension_count"), Value::U32(d as u32))])
}

/// Llama 3.x `rope_type: llama3`: per-frequency factors (`LlamaModel.generate_extra_tensors`).
pub fn extra(hp: &Hparams, _: &str) -> Result<(Vec<ExtraTensor>, Vec<(String, Value)>), ArchError> {
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

/// llama.
pub static SPEC: ArchSpec = ArchSpec {
    name: "llama",
    tied_default: false,
    tensors: TENSORS,
    skip: &[],
    params: &[TEXT_MODEL, &[vocab_size, rope_dimension_count]],
    extra,
};
