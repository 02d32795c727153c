//! Architectures: one declarative table per architecture (one file each), saying what the pinned
//! `convert_hf_to_gguf.py` writes for it: the GGUF metadata keys made from `config.json` fields, and
//! for every Hugging Face tensor name pattern the GGUF tensor name, its shape from the config, and
//! the transform applied to the data (llama's Q/K row permutation, Gemma's norm `+1`).
//!
//! Adding an architecture is one new file with an [`ArchSpec`] and one line in [`ARCHITECTURES`].

pub mod config_defaults;
pub mod gemma;
pub mod gemma2;
pub mod general;
pub mod hparams;
pub mod keys;
pub mod llama;
pub mod phi2;
pub mod phi3;
pub mod qwen2;

use gguf::Value;
use serde_json::Value as Json;

pub use hparams::Hparams;

/// Errors mapping a model to GGUF.
#[derive(Debug, thiserror::Error)]
pub enum ArchError {
    /// `config.json` names an architecture we do not convert.
    #[error("unsupported architecture {found}; supported Hugging Face architectures: {supported}")]
    Unsupported {
        /// The config's `architectures`.
        found: String,
        /// Every supported name.
        supported: String,
    },
    /// `config.json` is malformed.
    #[error("config.json: {0}")]
    BadConfig(String),
    /// A required config field is missing.
    #[error("config.json: missing field {0}")]
    MissingField(String),
    /// A config field has the wrong type or value.
    #[error("config.json: field `{field}` should be {expected}, found {found}")]
    BadField {
        /// The field.
        field: String,
        /// What was expected.
        expected: &'static str,
        /// What was found.
        found: String,
    },
    /// A checkpoint tensor has no GGUF name in this architecture.
    #[error("tensor `{tensor}` is not part of architecture {arch} (the reference converter fails the same way: \"Can not map tensor\")")]
    UnmappedTensor {
        /// The Hugging Face tensor name.
        tensor: String,
        /// The GGUF architecture.
        arch: &'static str,
    },
}

/// A symbolic tensor dimension, resolved from the config by [`Dims`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dim {
    /// `vocab_size`.
    Vocab,
    /// `hidden_size`.
    Embd,
    /// `intermediate_size`.
    Ff,
    /// `2 × intermediate_size` (fused gate+up).
    Ff2,
    /// `4 × hidden_size` (phi2's MLP).
    Ff4Embd,
    /// `num_attention_heads × head_dim`.
    Q,
    /// `num_key_value_heads × head_dim`.
    Kv,
    /// `Q + 2 × Kv` (fused qkv).
    Qkv,
}

/// Most layers a model may have: llama.cpp's `LLAMA_MAX_LAYERS`.
pub const MAX_LAYERS: u64 = 512;

/// Largest tensor dimension: llama.cpp keeps vocabulary and widths in `int32_t`/`uint32_t`.
pub const MAX_DIM: u64 = i32::MAX as u64;

/// A model's dimensions, read once from the config.
#[derive(Debug, Clone, Copy)]
pub struct Dims {
    /// `vocab_size`.
    pub vocab: u64,
    /// `hidden_size`.
    pub embd: u64,
    /// `intermediate_size` (phi2: `4 × hidden_size` when absent).
    pub ff: u64,
    /// Attention heads.
    pub n_head: u64,
    /// Key/value heads.
    pub n_head_kv: u64,
    /// Per-head width.
    pub head_dim: u64,
    /// Layers.
    pub n_layer: u64,
}

impl Dims {
    /// Reads the dimensions from the config. Refuses what llama.cpp could not load: more than
    /// [`MAX_LAYERS`] layers, or a dimension (derived ones included) over [`MAX_DIM`]; so every
    /// dimension, and every product of two, fits in 64 bits (config values of 2^63 once
    /// overflowed here: fuzz/regressions/config_arch/).
    pub fn new(hp: &Hparams) -> Result<Dims, ArchError> {
        let embd = hp.n_embd()?;
        let dims = Dims {
            vocab: hp.u64_req(&["vocab_size"])?,
            embd,
            ff: hp.u64_opt(&["intermediate_size", "n_inner"])?.unwrap_or(embd.saturating_mul(4)),
            n_head: hp.n_head()?,
            n_head_kv: hp.n_head_kv()?,
            head_dim: hp.head_dim()?,
            n_layer: hp.n_layer()?,
        };
        let too_big = |field: &str, found: String, expected| ArchError::BadField { field: field.into(), expected, found };
        if dims.n_layer > MAX_LAYERS {
            return Err(too_big("num_hidden_layers", dims.n_layer.to_string(), "at most 512 layers (llama.cpp's LLAMA_MAX_LAYERS)"));
        }
        for d in [Dim::Vocab, Dim::Embd, Dim::Ff, Dim::Ff2, Dim::Ff4Embd, Dim::Q, Dim::Kv, Dim::Qkv] {
            match dims.checked(d) {
                Some(v) if v <= MAX_DIM => {}
                v => {
                    let found = v.map_or_else(|| "a value past 2^64".to_string(), |v| v.to_string());
                    return Err(too_big(&format!("{d:?} dimension"), found, "at most 2^31 - 1 (llama.cpp's int32 sizes)"));
                }
            }
        }
        Ok(dims)
    }

    fn checked(&self, d: Dim) -> Option<u64> {
        match d {
            Dim::Vocab => Some(self.vocab),
            Dim::Embd => Some(self.embd),
            Dim::Ff => Some(self.ff),
            Dim::Ff2 => self.ff.checked_mul(2),
            Dim::Ff4Embd => self.embd.checked_mul(4),
            Dim::Q => self.n_head.checked_mul(self.head_dim),
            Dim::Kv => self.n_head_kv.checked_mul(self.head_dim),
            Dim::Qkv => self.n_head_kv.checked_mul(2)?.checked_add(self.n_head)?.checked_mul(self.head_dim),
        }
    }

    /// The value of a symbolic dimension (at most [`MAX_DIM`]: checked by [`Dims::new`]).
    pub fn get(&self, d: Dim) -> u64 {
        self.checked(d).unwrap_or(u64::MAX)
    }
}

/// What is done to a tensor's values between the checkpoint and the GGUF file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transform {
    /// Copied.
    None,
    /// llama's rotary row permutation of Q (`LlamaModel.permute(w, n_head, n_head)`).
    PermuteQ,
    /// llama's rotary row permutation of K (`LlamaModel.permute(w, n_head, n_head_kv)`).
    PermuteK,
    /// Gemma's RMSNorm stores `w - 1`: the converter writes `w + 1`.
    AddOne,
}

/// When a tensor exists (for planning from the config alone; conversion goes by the checkpoint).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// Always.
    Always,
    /// Only when the embeddings are not tied (`lm_head`).
    Untied,
    /// Only with `attention_bias: true`.
    AttnBias,
    /// Only with `mlp_bias: true`.
    MlpBias,
    /// Never planned (e.g. a tensor the converter drops).
    Never,
}

/// One row of an architecture's tensor table.
#[derive(Debug, Clone, Copy)]
pub struct TensorRule {
    /// Hugging Face name without `.weight`/`.bias`, `{bid}` standing for the layer number.
    pub hf: &'static str,
    /// GGUF name without suffix, `{bid}` standing for the layer number.
    pub gguf: &'static str,
    /// `.weight`, `.bias`, or both.
    pub suffixes: &'static [&'static str],
    /// ggml dims of the weight (`dims[0]` = row length); a bias has `[dims[1]]`.
    pub dims: &'static [Dim],
    /// The transform.
    pub transform: Transform,
    /// When the weight exists.
    pub when: When,
    /// When the bias exists (if `.bias` is among the suffixes).
    pub bias_when: When,
}

/// A computed tensor that the converter adds (rope factors), always F32.
#[derive(Debug, Clone)]
pub struct ExtraTensor {
    /// GGUF name.
    pub name: String,
    /// Values.
    pub data: Vec<f32>,
}

/// Metadata made from the config: `(key, value)` in the converter's order. The placeholder key
/// [`keys::FILE_TYPE`] marks where `general.file_type` goes.
pub type KeyFn = fn(&Hparams, &str) -> Result<Vec<(String, Value)>, ArchError>;

/// One architecture.
pub struct ArchSpec {
    /// GGUF `general.architecture`.
    pub name: &'static str,
    /// Default of `tie_word_embeddings` when the config omits it (transformers' class default).
    pub tied_default: bool,
    /// The tensor table.
    pub tensors: &'static [TensorRule],
    /// Hugging Face tensor names (exact) that the converter drops.
    pub skip: &'static [&'static str],
    /// The model-parameter keys (`set_gguf_parameters`), in the converter's order: groups of
    /// key functions, a base class's list (e.g. [`keys::TEXT_MODEL`]) before the model's own, as
    /// the converter calls `super().set_gguf_parameters()` first.
    pub params: &'static [&'static [KeyFn]],
    /// Computed tensors, and keys the converter writes while making them (before `general.type`).
    pub extra: fn(&Hparams, &str) -> Result<(Vec<ExtraTensor>, Vec<(String, Value)>), ArchError>,
}

/// Every supported architecture.
pub const ARCHITECTURES: &[&ArchSpec] = &[&llama::SPEC, &qwen2::SPEC, &phi3::SPEC, &phi2::SPEC, &gemma::SPEC, &gemma2::SPEC];

/// Tensor-name suffixes the converter drops whatever the architecture.
pub const SKIP_SUFFIXES: &[&str] = &[".attention.masked_bias", ".attention.bias", ".rotary_emb.inv_freq"];

/// No computed tensors.
pub fn no_extra(_: &Hparams, _: &str) -> Result<(Vec<ExtraTensor>, Vec<(String, Value)>), ArchError> {
    Ok((Vec::new(), Vec::new()))
}

/// The architecture of a config (`architectures[0]`, as the converter picks it, looked up in
/// [`gguf::arch::ARCHITECTURES`]).
pub fn detect(config: &Json) -> Result<&'static ArchSpec, ArchError> {
    let names: Vec<&str> = config
        .get("architectures")
        .and_then(Json::as_array)
        .map(|a| a.iter().filter_map(Json::as_str).collect())
        .unwrap_or_default();
    let supported = || gguf::arch::ARCHITECTURES.iter().flat_map(|a| a.hf_architectures.iter().copied()).collect::<Vec<_>>().join(", ");
    let Some(first) = names.first() else {
        return Err(ArchError::Unsupported { found: "(config.json has no `architectures`)".into(), supported: supported() });
    };
    gguf::arch::by_hf_architecture(first)
        .and_then(|a| ARCHITECTURES.iter().copied().find(|s| s.name == a.gguf_name))
        .ok_or_else(|| ArchError::Unsupported { found: first.to_string(), supported: supported() })
}

/// A Hugging Face tensor mapped to GGUF.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapped {
    /// GGUF name (with suffix).
    pub name: String,
    /// Expected ggml dims from the config.
    pub dims: Vec<u64>,
    /// The transform.
    pub transform: Transform,
}

impl ArchSpec {
    /// Maps a Hugging Face tensor name: `Ok(None)` when the converter drops it.
    pub fn map_tensor(&self, hf_name: &str, dims: &Dims) -> Result<Option<Mapped>, ArchError> {
        if SKIP_SUFFIXES.iter().any(|s| hf_name.ends_with(s)) || self.skip.contains(&hf_name) {
            return Ok(None);
        }
        for rule in self.tensors {
            for suffix in rule.suffixes {
                let Some(base) = hf_name.strip_suffix(suffix) else { continue };
                let Some(bid) = match_pattern(rule.hf, base) else { continue };
                let name = match bid {
                    Some(b) => format!("{}{}", rule.gguf.replace("{bid}", &b.to_string()), suffix),
                    None => format!("{}{}", rule.gguf, suffix),
                };
                let full: Vec<u64> = rule.dims.iter().map(|d| dims.get(*d)).collect();
                let out_dims = if *suffix == ".bias" { full.get(1).or(full.first()).map(|d| vec![*d]).unwrap_or_default() } else { full };
                return Ok(Some(Mapped { name, dims: out_dims, transform: rule.transform }));
            }
        }
        Err(ArchError::UnmappedTensor { tensor: hf_name.to_string(), arch: self.name })
    }
}

/// Matches `base` against a pattern with at most one `{bid}`: `Some(None)` for an exact match
/// without layer, `Some(Some(n))` with layer `n`, `None` when it does not match.
fn match_pattern(pattern: &str, base: &str) -> Option<Option<u64>> {
    match pattern.split_once("{bid}") {
        None => (pattern == base).then_some(None),
        Some((pre, post)) => {
            let mid = base.strip_prefix(pre)?.strip_suffix(post)?;
            if mid.is_empty() || !mid.bytes().all(|b| b.is_ascii_digit()) || mid.len() > 9 {
                return None;
            }
            mid.parse().ok().map(Some)
        }
    }
}

fn when_holds(w: When, hp: &Hparams, tied_default: bool) -> bool {
    match w {
        When::Always => true,
        When::Untied => !hp.bool_opt("tie_word_embeddings").unwrap_or(tied_default),
        When::AttnBias => hp.bool_opt("attention_bias").unwrap_or(false),
        When::MlpBias => hp.bool_opt("mlp_bias").unwrap_or(false),
        When::Never => false,
    }
}

/// Every GGUF tensor (name, ggml dims) that converting this config writes, from the config alone
/// (no weights), in the reference converter's order for a single-file checkpoint (computed tensors
/// first, then by Hugging Face name). For the plan engineer.
pub fn planned_tensors(config: &Json) -> Result<Vec<(String, Vec<u64>)>, ArchError> {
    let spec = detect(config)?;
    let hp = Hparams::new(config)?;
    let dims = Dims::new(&hp)?;
    let (extra, _) = (spec.extra)(&hp, spec.name)?;
    let mut hf: Vec<(String, String, Vec<u64>)> = Vec::new();
    for rule in spec.tensors {
        let layers: Vec<Option<u64>> = if rule.hf.contains("{bid}") { (0..dims.n_layer).map(Some).collect() } else { vec![None] };
        for suffix in rule.suffixes {
            let w = if *suffix == ".bias" { rule.bias_when } else { rule.when };
            if !when_holds(w, &hp, spec.tied_default) {
                continue;
            }
            for bid in &layers {
                let hf_name = match bid {
                    Some(b) => format!("{}{}", rule.hf.replace("{bid}", &b.to_string()), suffix),
                    None => format!("{}{}", rule.hf, suffix),
                };
                if let Some(m) = spec.map_tensor(&hf_name, &dims)? {
                    hf.push((hf_name, m.name, m.dims));
                }
            }
        }
    }
    hf.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out: Vec<(String, Vec<u64>)> = extra.into_iter().map(|e| (e.name, vec![e.data.len() as u64])).collect();
    out.extend(hf.into_iter().map(|(_, n, d)| (n, d)));
    Ok(out)
}

/// The model-parameter metadata keys that converting this config writes (architecture, rope,
/// attention, … — everything but `general.*` naming keys and `tokenizer.*`), from the config alone,
/// with `general.file_type` set to `file_type`. For the plan engineer.
#[allow(dead_code)] // API for `plan` and other callers that have a config but no weights
pub fn config_metadata(config: &Json, file_type: u32) -> Result<Vec<(String, Value)>, ArchError> {
    let spec = detect(config)?;
    let hp = Hparams::new(config)?;
    let (_, extra_keys) = (spec.extra)(&hp, spec.name)?;
    let mut out = vec![(keys::ARCHITECTURE.to_string(), Value::String(spec.name.to_string()))];
    out.extend(extra_keys);
    out.extend(model_params(spec, &hp, file_type)?);
    Ok(out)
}

/// `set_gguf_parameters`: the architecture's parameter keys with `general.file_type` filled in.
pub fn model_params(spec: &ArchSpec, hp: &Hparams, file_type: u32) -> Result<Vec<(String, Value)>, ArchError> {
    let mut out = Vec::new();
    for f in spec.params.iter().copied().flatten() {
        for (k, v) in f(hp, spec.name)? {
            let v = if k == keys::FILE_TYPE { Value::U32(file_type) } else { v };
            out.push((k, v));
        }
    }
    Ok(out)
}
