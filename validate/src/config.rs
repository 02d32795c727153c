//! Hyperparameters of a model, read from an HF `config.json` or from GGUF metadata keys.

use crate::arch::{self, ArchInfo};
use crate::error::{Result, ValidateError};
use gguf::arch::{GgufHparams, HfConfig, PerLayer, RopeParams, SwaPattern};

/// YaRN's blend of interpolated and extrapolated frequencies (ggml's `rope_yarn`): pair i keeps
/// its unscaled frequency by `ramp(i) · ext_factor`, where the ramp falls from 1 to 0 between the
/// correction dimensions of `beta_fast` and `beta_slow` rotations over `orig_ctx` positions.
#[derive(Debug, Clone, PartialEq)]
pub struct Yarn {
    /// Weight of the extrapolated (unscaled) frequencies (llama.cpp: 1 for YaRN).
    pub ext_factor: f64,
    /// Rotations at which the ramp starts (dimensions below keep their own frequency).
    pub beta_fast: f64,
    /// Rotations at which the ramp ends (dimensions above are fully interpolated).
    pub beta_slow: f64,
    /// The context the model was trained with (`original_max_position_embeddings`).
    pub orig_ctx: usize,
    /// Correction dimensions rounded outwards to whole dimensions (llama.cpp always; transformers'
    /// `truncate`, default true).
    pub truncate: bool,
}

impl Yarn {
    /// The ramp's (start, end) over pair indices for `rotary_dim` rotated dimensions and base
    /// `theta`: ggml_rope_yarn_corr_dims and transformers' find_correction_range alike.
    pub fn corr_dims(&self, rotary_dim: usize, theta: f64) -> (f64, f64) {
        let n = rotary_dim as f64;
        let dim = |rot: f64| n * (self.orig_ctx as f64 / (rot * 2.0 * std::f64::consts::PI)).ln() / (2.0 * theta.ln());
        let (lo, hi) = (dim(self.beta_fast), dim(self.beta_slow));
        let (lo, hi) = if self.truncate { (lo.floor(), hi.ceil()) } else { (lo, hi) };
        (lo.max(0.0), hi.min(n - 1.0))
    }

    /// How much of pair `i`'s unscaled frequency is kept (1 below the ramp, 0 above it).
    pub fn extrapolation(&self, i: usize, (lo, hi): (f64, f64)) -> f64 {
        let y = (i as f64 - lo) / (hi - lo).max(0.001);
        (1.0 - y.clamp(0.0, 1.0)) * self.ext_factor
    }
}

/// YaRN's magnitude correction for a context extended `factor` times (transformers' and
/// llama.cpp's `get_mscale`).
fn yarn_mscale(factor: f64, mscale: f64) -> f64 {
    if factor <= 1.0 {
        1.0
    } else {
        0.1 * mscale * factor.ln() + 1.0
    }
}

/// RoPE frequency scaling as the converter writes it (linear, llama3, LongRoPE, YaRN).
#[derive(Debug, Clone, PartialEq)]
pub struct RopeScaling {
    /// Frequency i is divided by `freq_factors[i]` (llama3's computed factors, `rope_freqs.weight`);
    /// empty = none.
    pub freq_factors: Vec<f64>,
    /// LongRoPE: (short factors, long factors, original context); the long ones apply when the
    /// sequence is longer than the original context (transformers and llama.cpp alike).
    pub longrope: Option<(Vec<f64>, Vec<f64>, usize)>,
    /// Positions are divided by this (linear scaling; 1 = none).
    pub linear_factor: f64,
    /// cos and sin are multiplied by this (LongRoPE's and YaRN's attention factor; 1 = none).
    pub attn_factor: f64,
    /// YaRN: frequencies divided by `linear_factor` only partly (see [`Yarn`]); None = fully.
    pub yarn: Option<Yarn>,
}

impl Default for RopeScaling {
    fn default() -> Self {
        RopeScaling { freq_factors: Vec::new(), longrope: None, linear_factor: 1.0, attn_factor: 1.0, yarn: None }
    }
}

impl RopeScaling {
    /// The per-frequency divisors for sequences of `n_pos` tokens (empty = none).
    pub fn factors_for(&self, n_pos: usize) -> &[f64] {
        match &self.longrope {
            Some((short, long, orig)) => {
                if n_pos > *orig {
                    long
                } else {
                    short
                }
            }
            None => &self.freq_factors,
        }
    }

    /// From the rope parameters of an HF config (`rope_parameters` or `rope_scaling`, with the
    /// global fields mirrored in: [`HfConfig::rope_full`]); `max_pos` is `max_position_embeddings`.
    fn from_hf(block: &RopeParams, max_pos: Option<u64>, theta: f64, rotary_dim: usize, source_name: &str) -> Result<RopeScaling> {
        let kind = block.rope_type.as_deref().unwrap_or("default");
        let err = |m: String| cfg_err(source_name, "rope_scaling", m);
        let factors = |k: &str, v: &Option<Vec<f64>>| -> Result<Vec<f64>> {
            let v = v.clone().unwrap_or_default();
            if v.len() * 2 != rotary_dim {
                return Err(err(format!("{k} has {} numbers, expected rotary_dim/2 = {}", v.len(), rotary_dim / 2)));
            }
            Ok(v)
        };
        let usize_of = |v: Option<u64>| v.and_then(|v| usize::try_from(v).ok());
        Ok(match kind {
            "default" => RopeScaling::default(),
            "linear" => RopeScaling {
                linear_factor: block.factor.ok_or_else(|| err("linear scaling without factor".into()))?,
                ..Default::default()
            },
            "llama3" => {
                let need = |v: Option<f64>, k: &str| v.ok_or_else(|| err(format!("llama3 scaling without {k}")));
                let (factor, low, high) = (
                    need(block.factor, "factor")?,
                    need(block.low_freq_factor, "low_freq_factor")?,
                    need(block.high_freq_factor, "high_freq_factor")?,
                );
                let old_ctx = need(block.original_max_position_embeddings.map(|v| v as f64), "original_max_position_embeddings")?;
                let (low_wavelen, high_wavelen) = (old_ctx / low, old_ctx / high);
                // transformers' _compute_llama3_parameters, as divisors of the base frequencies.
                let freq_factors = (0..rotary_dim / 2)
                    .map(|i| {
                        let freq = 1.0 / theta.powf((2 * i) as f64 / rotary_dim as f64);
                        let wavelen = 2.0 * std::f64::consts::PI / freq;
                        if wavelen < high_wavelen {
                            1.0
                        } else if wavelen > low_wavelen {
                            factor
                        } else {
                            let smooth = (old_ctx / wavelen - low) / (high - low);
                            1.0 / ((1.0 - smooth) / factor + smooth)
                        }
                    })
                    .collect();
                RopeScaling { freq_factors, ..Default::default() }
            }
            "longrope" | "su" => {
                let orig = usize_of(block.original_max_position_embeddings)
                    .ok_or_else(|| err("longrope without original_max_position_embeddings".into()))?;
                let max_pos = usize_of(max_pos).unwrap_or(orig);
                // transformers' _compute_longrope_parameters: an explicit attention_factor, else
                // sqrt(1 + ln(scale) / ln(original)) for scale = max / original positions > 1.
                let scale = max_pos as f64 / orig as f64;
                let attn_factor = match block.attention_factor {
                    Some(a) => a,
                    None if scale > 1.0 => (1.0 + scale.ln() / (orig as f64).ln()).sqrt(),
                    None => 1.0,
                };
                let longrope = (factors("short_factor", &block.short_factor)?, factors("long_factor", &block.long_factor)?, orig);
                RopeScaling { longrope: Some(longrope), attn_factor, ..Default::default() }
            }
            "yarn" => {
                // transformers' _compute_yarn_parameters.
                let factor = block.factor.ok_or_else(|| err("yarn scaling without factor".into()))?;
                let orig = usize_of(block.original_max_position_embeddings.or(max_pos))
                    .ok_or_else(|| err("yarn without original_max_position_embeddings or max_position_embeddings".into()))?;
                let nonzero = |v: Option<f64>| v.filter(|v| *v != 0.0);
                let attn_factor = match (block.attention_factor, nonzero(block.mscale), nonzero(block.mscale_all_dim)) {
                    (Some(a), _, _) => a,
                    (None, Some(m), Some(all)) => yarn_mscale(factor, m) / yarn_mscale(factor, all),
                    _ => yarn_mscale(factor, 1.0),
                };
                let yarn = Yarn {
                    ext_factor: 1.0,
                    beta_fast: nonzero(block.beta_fast).unwrap_or(32.0),
                    beta_slow: nonzero(block.beta_slow).unwrap_or(1.0),
                    orig_ctx: orig,
                    truncate: block.truncate.unwrap_or(true),
                };
                RopeScaling { linear_factor: factor, attn_factor, yarn: Some(yarn), ..Default::default() }
            }
            other => return Err(err(format!("RoPE scaling {other:?} is not supported yet (supported: linear, llama3, longrope, yarn)"))),
        })
    }

    /// From GGUF metadata and the factor tensors the converter writes (`rope_freqs.weight`,
    /// `rope_factors_short/long.weight`), as llama.cpp reads them.
    pub fn from_gguf(
        hp: &GgufHparams,
        tensor: &dyn Fn(&str) -> Option<Vec<f32>>,
        rotary_dim: usize,
        source_name: &str,
    ) -> Result<RopeScaling> {
        let key = |k: &str| hp.key(k);
        let err = |k: &str, m: String| cfg_err(source_name, &key(k), m);
        let as_f64 = |v: Vec<f32>| v.into_iter().map(f64::from).collect::<Vec<f64>>();
        let check = |name: &str, v: Vec<f32>| -> Result<Vec<f64>> {
            if v.len() * 2 != rotary_dim {
                return Err(cfg_err(source_name, name, format!("{} factors, expected rotary_dim/2 = {}", v.len(), rotary_dim / 2)));
            }
            Ok(as_f64(v))
        };
        let mut r = RopeScaling::default();
        // llama.cpp multiplies cos and sin by `rope.scaling.attn_factor` whatever the scaling type.
        let attn_factor = hp.rope_scaling_attn_factor.unwrap_or(1.0);
        match hp.rope_scaling_type.as_deref() {
            None | Some("none") | Some("longrope") => {}
            Some("linear") => {
                let f = hp.rope_scaling_factor.ok_or_else(|| err("rope.scaling.factor", "missing".into()))?;
                if f > 0.0 {
                    r.linear_factor = f;
                }
            }
            Some("yarn") => {
                // llama.cpp (llama_context's cparams, ggml's rope_yarn): frequency scale 1/factor,
                // ext_factor 1, beta_fast 32 and beta_slow 1 (the converter's
                // rope.scaling.yarn_{ext_factor,attn_factor,beta_fast,beta_slow} keys are read for
                // Grok only, none of our architectures), cos/sin times get_mscale(factor).
                let f = hp.rope_scaling_factor.filter(|f| *f != 0.0).unwrap_or(1.0);
                let orig = hp
                    .rope_scaling_original_context_length
                    .or(hp.context_length)
                    .ok_or_else(|| err("rope.scaling.original_context_length", "missing, and no context_length either".into()))?;
                r.linear_factor = f;
                r.attn_factor = yarn_mscale(f, 1.0);
                r.yarn = Some(Yarn { ext_factor: 1.0, beta_fast: 32.0, beta_slow: 1.0, orig_ctx: orig as usize, truncate: true });
            }
            Some(other) => {
                return Err(err(
                    "rope.scaling.type",
                    format!("RoPE scaling {other:?} is not supported yet (supported: linear, llama3, longrope, yarn)"),
                ))
            }
        }
        r.attn_factor *= attn_factor;
        if let Some(v) = tensor("rope_freqs.weight") {
            r.freq_factors = check("rope_freqs.weight", v)?;
        }
        if let (Some(short), Some(long)) = (tensor("rope_factors_short.weight"), tensor("rope_factors_long.weight")) {
            let orig = hp
                .rope_scaling_original_context_length
                .ok_or_else(|| err("rope.scaling.original_context_length", "missing next to rope_factors_long".into()))?;
            r.longrope = Some((check("rope_factors_short.weight", short)?, check("rope_factors_long.weight", long)?, orig as usize));
        }
        Ok(r)
    }
}

/// What the forward pass needs to know about a model.
#[derive(Debug, Clone)]
pub struct ModelConfig {
    /// The architecture table entry.
    pub arch: &'static ArchInfo,
    /// Vocabulary size (rows of the embedding matrix).
    pub n_vocab: usize,
    /// `hidden_size` / `{arch}.embedding_length`.
    pub hidden: usize,
    /// `num_hidden_layers` / `{arch}.block_count`.
    pub n_layer: usize,
    /// `num_attention_heads` / `{arch}.attention.head_count`.
    pub n_head: usize,
    /// `num_key_value_heads` / `{arch}.attention.head_count_kv`.
    pub n_head_kv: usize,
    /// `head_dim` / `{arch}.attention.key_length`.
    pub head_dim: usize,
    /// `intermediate_size` / `{arch}.feed_forward_length`.
    pub ffn: usize,
    /// Norm epsilon.
    pub norm_eps: f64,
    /// `rope_theta` / `{arch}.rope.freq_base`.
    pub rope_theta: f64,
    /// Rotated dimensions per head (`partial_rotary_factor` · head_dim / `{arch}.rope.dimension_count`).
    pub rotary_dim: usize,
    /// RoPE on interleaved pairs (llama.cpp "normal", GGUF llama) rather than rotate-half.
    pub rope_interleaved: bool,
    /// RoPE frequency scaling.
    pub rope_scaling: RopeScaling,
    /// Attention score scale.
    pub attn_scale: f64,
    /// `attn_logit_softcapping`.
    pub attn_softcap: Option<f64>,
    /// `final_logit_softcapping`.
    pub final_softcap: Option<f64>,
    /// Per layer: the sliding attention window (None = full causal attention).
    pub sliding_window: Vec<Option<usize>>,
    /// The RoPE base of the sliding-window layers, which rope unscaled (the layout's
    /// `swa_rope_base`: HF `rope_local_base_freq`, GGUF `rope.freq_base_swa`); None = every layer
    /// ropes with `rope_theta` and `rope_scaling`.
    pub rope_theta_swa: Option<f64>,
    /// The mixture of experts that replaces every block's FFN (the layout's `moe`).
    pub moe: Option<MoeConfig>,
}

/// A mixture-of-experts FFN's sizes and routing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MoeConfig {
    /// Experts (`num_experts` / `{arch}.expert_count`).
    pub n_expert: usize,
    /// Experts chosen per token (`num_experts_per_tok` / `{arch}.expert_used_count`).
    pub n_used: usize,
    /// One expert's FFN width (`moe_intermediate_size` / `{arch}.expert_feed_forward_length`).
    pub ffn: usize,
    /// The chosen experts' probabilities are renormalised to sum to 1 (transformers'
    /// `norm_topk_prob` from an HF folder, llama.cpp's `norm_w` from a GGUF).
    pub renormalise: bool,
}

impl MoeConfig {
    fn checked(self, source_name: &str, key: &str) -> Result<MoeConfig> {
        if self.n_expert == 0 || self.n_used == 0 || self.n_used > self.n_expert || self.ffn == 0 {
            return Err(cfg_err(
                source_name,
                key,
                format!(
                    "{} experts, {} used per token, width {}: need 0 < used <= experts and a width",
                    self.n_expert, self.n_used, self.ffn
                ),
            ));
        }
        Ok(self)
    }
}

/// Read access to a GGUF's own metadata keys outside the hyper-parameters (which
/// [`GgufHparams`] reads): the tokenizer's BOS settings.
pub trait GgufMeta {
    /// An unsigned integer key (any integer type).
    fn meta_u64(&self, key: &str) -> Option<u64>;
    /// A string key.
    fn meta_str(&self, key: &str) -> Option<String>;
}

fn cfg_err(source_name: &str, key: &str, message: impl Into<String>) -> ValidateError {
    ValidateError::Config { source_name: source_name.into(), key: key.into(), message: message.into() }
}

impl ModelConfig {
    /// From an HF `config.json`, read once with its config class's defaults
    /// ([`HfConfig`], as the converter reads it); `source_name` names the folder in errors.
    pub fn from_hf(cfg: &HfConfig, source_name: &str) -> Result<ModelConfig> {
        let f = &cfg.typed;
        let model_type = f.model_type.as_deref().unwrap_or("");
        let arch = arch::by_hf_model_type(model_type).ok_or_else(|| ValidateError::UnsupportedArchitecture {
            source_name: source_name.into(),
            arch: model_type.into(),
            supported: arch::supported_names(),
        })?;
        let need = |v: Option<u64>, key: &str| {
            v.and_then(|v| usize::try_from(v).ok()).ok_or_else(|| cfg_err(source_name, key, "missing or not an integer"))
        };
        let hidden = need(f.hidden_size, "hidden_size")?;
        let n_layer = need(f.num_hidden_layers, "num_hidden_layers")?;
        let n_head = need(f.num_attention_heads, "num_attention_heads")?;
        let n_head_kv = f.num_key_value_heads.map(|v| v as usize).unwrap_or(n_head);
        if n_head == 0 || n_head_kv == 0 || n_head % n_head_kv != 0 {
            return Err(cfg_err(source_name, "num_key_value_heads", format!("{n_head} heads not divisible by {n_head_kv}")));
        }
        let head_dim = f.head_dim.map(|v| v as usize).unwrap_or(hidden / n_head);
        // the rope fields as the converter reads them: `rope_parameters` or `rope_scaling`, with
        // the global `rope_theta` and `partial_rotary_factor` mirrored in
        let rope = &cfg.rope_full;
        let rope_theta = rope.rope_theta.unwrap_or(10000.0);
        let rotary_dim = ((head_dim as f64) * rope.partial_rotary_factor.unwrap_or(1.0)) as usize;
        let rope_scaling = RopeScaling::from_hf(rope, f.max_position_embeddings, rope_theta, rotary_dim, source_name)?;
        let norm_eps = f.rms_norm_eps.or(f.layer_norm_eps).unwrap_or(1e-5);
        // transformers' Gemma 2 and 3: query_pre_attn_scalar^-0.5
        let attn_scale = match f.query_pre_attn_scalar {
            Some(s) => 1.0 / s.sqrt(),
            None => 1.0 / (head_dim as f64).sqrt(),
        };
        let window = f.sliding_window.map(|w| w as usize);
        let swa = arch.layout().swa;
        let swa_window = swa.window(f.sliding_window).map(|w| w as usize);
        let class_window = |il: usize| {
            gguf::arch::config_class::config_class(&cfg.fields)?.sliding_window.window(&cfg.fields, il as u64).map(|w| w as usize)
        };
        let layer_type = |il: usize| f.layer_types.as_ref().map(|types| types.get(il).map(String::as_str) == Some("sliding_attention"));
        let sliding_window = (0..n_layer)
            .map(|il| {
                if swa == SwaPattern::None {
                    // transformers' `layer_types` when the config has them (Qwen2 writes them,
                    // from use_sliding_window and max_window_layers), else the config class's use
                    // of `sliding_window` (Mistral, Phi-3, Qwen2's flag)
                    return match layer_type(il) {
                        Some(sliding) => window.filter(|_| sliding),
                        None => class_window(il),
                    };
                }
                // a sliding-window pattern in the layout: `layer_types` when the config has them
                // (transformers), else the layout's pattern
                let sliding = layer_type(il).unwrap_or_else(|| swa.is_swa(il as u64, swa_window.map(|w| w as u64)));
                swa_window.filter(|_| sliding)
            })
            .collect();
        let hf_config = |e: gguf::arch::ConfigError| ValidateError::HfConfig { source_name: source_name.into(), source: e };
        Ok(ModelConfig {
            arch,
            n_vocab: need(f.vocab_size, "vocab_size")?,
            hidden,
            n_layer,
            n_head,
            n_head_kv,
            head_dim,
            ffn: need(f.intermediate_size, "intermediate_size")?,
            norm_eps,
            rope_theta,
            rotary_dim,
            rope_interleaved: false,
            rope_scaling,
            attn_scale,
            attn_softcap: f.attn_logit_softcapping,
            final_softcap: f.final_logit_softcapping,
            sliding_window,
            rope_theta_swa: arch.layout().swa_rope_base.then(|| f.rope_local_base_freq.unwrap_or(10000.0)),
            moe: match arch.layout().moe {
                Some(m) => {
                    let first = |keys: &[&str]| cfg.u64_opt(keys).map(|v| v.and_then(|v| usize::try_from(v).ok()).unwrap_or(0));
                    let c = MoeConfig {
                        n_expert: first(gguf::arch::EXPERT_COUNT_FIELDS).map_err(hf_config)?,
                        n_used: first(gguf::arch::EXPERT_USED_FIELDS).map_err(hf_config)?,
                        ffn: f.moe_intermediate_size.and_then(|v| usize::try_from(v).ok()).unwrap_or(0),
                        renormalise: m.renormalise_hf(&cfg.fields),
                    };
                    Some(c.checked(source_name, "num_experts")?)
                }
                None => None,
            },
        })
        .and_then(|c| c.checked(source_name))
    }

    /// From GGUF metadata, as llama.cpp reads it; `n_vocab` comes from the embedding tensor,
    /// `tensor` reads the RoPE factor tensors (f32) when present.
    pub fn from_gguf(
        hp: &GgufHparams,
        n_vocab: usize,
        tensor: &dyn Fn(&str) -> Option<Vec<f32>>,
        source_name: &str,
    ) -> Result<ModelConfig> {
        let arch = arch::by_gguf_name(&hp.arch).ok_or_else(|| ValidateError::UnsupportedArchitecture {
            source_name: source_name.into(),
            arch: hp.arch.clone(),
            supported: arch::supported_names(),
        })?;
        let key = |k: &str| hp.key(k);
        let usize_of = |v: Option<u64>, k: &str| {
            v.and_then(|v| usize::try_from(v).ok()).ok_or_else(|| cfg_err(source_name, &key(k), "missing or not an integer"))
        };
        // a per-layer value is read when every layer has the same one (our forward pass has one
        // width per model)
        let layers = |v: &Option<PerLayer>| v.as_ref().and_then(PerLayer::uniform);
        let hidden = usize_of(hp.embedding_length, "embedding_length")?;
        let n_layer = usize_of(hp.block_count, "block_count")?;
        let n_head = usize_of(layers(&hp.head_count), "attention.head_count")?;
        let n_head_kv = layers(&hp.head_count_kv).map(|v| v as usize).unwrap_or(n_head);
        if n_head == 0 || n_head_kv == 0 || n_head % n_head_kv != 0 {
            return Err(cfg_err(source_name, &key("attention.head_count_kv"), format!("{n_head} heads not divisible by {n_head_kv}")));
        }
        let head_dim = hp.key_length.map(|v| v as usize).unwrap_or(hidden / n_head);
        let rotary_dim = hp.rope_dimension_count.map(|v| v as usize).unwrap_or(head_dim);
        let norm_eps = hp.rms_eps.or(hp.norm_eps).unwrap_or(1e-5);
        // llama.cpp's Gemma 2 and 3: 1/sqrt(head_dim), except their 27B models (1/sqrt(n_embd/n_head)).
        let layout = arch.layout();
        let attn_scale = if layout.attn_scale_embd_layers != 0 && n_layer as u64 == layout.attn_scale_embd_layers {
            1.0 / ((hidden / n_head) as f64).sqrt()
        } else {
            1.0 / (head_dim as f64).sqrt()
        };
        // llama.cpp: the layout's sliding-window pattern (Phi-3 SWA is disabled)
        let window = layout.swa.window(hp.sliding_window);
        let sliding_window = (0..n_layer).map(|il| window.filter(|_| layout.swa.is_swa(il as u64, window)).map(|w| w as usize)).collect();
        // llama.cpp's iSWA graph ropes the sliding layers with `rope.freq_base_swa` (default
        // 10000), unscaled; without sliding layers every layer uses the global base
        let rope_theta_swa = (layout.swa_rope_base && window.is_some()).then(|| hp.rope_freq_base_swa.unwrap_or(10000.0));
        Ok(ModelConfig {
            arch,
            n_vocab,
            hidden,
            n_layer,
            n_head,
            n_head_kv,
            head_dim,
            ffn: usize_of(layers(&hp.feed_forward_length), "feed_forward_length")?,
            norm_eps,
            rope_theta: hp.rope_freq_base.unwrap_or(10000.0),
            rotary_dim,
            rope_interleaved: arch.layout().rope_permuted,
            rope_scaling: RopeScaling::from_gguf(hp, tensor, rotary_dim, source_name)?,
            attn_scale,
            attn_softcap: hp.attn_logit_softcapping,
            final_softcap: hp.final_logit_softcapping,
            sliding_window,
            rope_theta_swa,
            moe: match layout.moe {
                Some(m) => {
                    let get = |v: Option<u64>| v.and_then(|v| usize::try_from(v).ok()).unwrap_or(0);
                    let c = MoeConfig {
                        n_expert: get(hp.expert_count),
                        n_used: get(hp.expert_used_count),
                        ffn: get(hp.expert_feed_forward_length),
                        renormalise: m.norm_w,
                    };
                    Some(c.checked(source_name, &key("expert_count"))?)
                }
                None => None,
            },
        })
        .and_then(|c| c.checked(source_name))
    }

    fn checked(self, source_name: &str) -> Result<ModelConfig> {
        if !self.rotary_dim.is_multiple_of(2) || self.rotary_dim > self.head_dim {
            return Err(cfg_err(source_name, "rotary_dim", format!("{} is odd or above head_dim {}", self.rotary_dim, self.head_dim)));
        }
        if self.hidden == 0 || self.head_dim == 0 || self.n_vocab == 0 || self.ffn == 0 {
            return Err(cfg_err(source_name, "sizes", "a size is zero"));
        }
        Ok(self)
    }

    /// Output size of the q projection.
    pub fn q_dim(&self) -> usize {
        self.n_head * self.head_dim
    }

    /// Output size of the k and v projections.
    pub fn kv_dim(&self) -> usize {
        self.n_head_kv * self.head_dim
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Per-layer windows of a 2-block config of `model_type` with `extra` fields, its class's
    /// defaults filled in as `ModelFile::open` does.
    fn windows(architecture: &str, model_type: &str, extra: serde_json::Value) -> Vec<Option<usize>> {
        let mut cfg = serde_json::json!({
            "architectures": [architecture], "model_type": model_type, "hidden_size": 64, "num_attention_heads": 4,
            "num_key_value_heads": 4, "num_hidden_layers": 2, "intermediate_size": 128, "vocab_size": 32,
        });
        cfg.as_object_mut().expect("object").extend(extra.as_object().expect("object").clone());
        ModelConfig::from_hf(&HfConfig::new(cfg).expect("typed config"), "test").expect("config").sliding_window
    }

    #[test]
    fn an_hf_sliding_window_is_used_as_its_config_class_uses_it() {
        let w = serde_json::json!({ "sliding_window": 8 });
        assert_eq!(windows("MistralForCausalLM", "mistral", w.clone()), [Some(8), Some(8)]);
        assert_eq!(windows("Phi3ForCausalLM", "phi3", w.clone()), [Some(8), Some(8)]);
        assert_eq!(windows("LlamaForCausalLM", "llama", w.clone()), [None, None]);
        assert_eq!(windows("Qwen2ForCausalLM", "qwen2", w), [None, None], "Qwen2 without use_sliding_window");
        // Qwen2Config: sliding only with use_sliding_window, from max_window_layers (default 28) on
        let flagged = serde_json::json!({ "sliding_window": 8, "use_sliding_window": true });
        assert_eq!(windows("Qwen2ForCausalLM", "qwen2", flagged), [None, None]);
        let flagged = serde_json::json!({ "sliding_window": 8, "use_sliding_window": true, "max_window_layers": 1 });
        assert_eq!(windows("Qwen2ForCausalLM", "qwen2", flagged), [None, Some(8)]);
        // transformers' own per-layer list, when the config has it, wins
        let typed =
            serde_json::json!({ "sliding_window": 8, "use_sliding_window": true, "layer_types": ["full_attention", "sliding_attention"] });
        assert_eq!(windows("Qwen2ForCausalLM", "qwen2", typed), [None, Some(8)]);
    }
}
