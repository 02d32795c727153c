//! What the pinned `convert_hf_to_gguf.py` writes for an architecture of the one table
//! ([`gguf::arch`]): the tensors, mapped with the table's tensor map ([`ConvertSpec::map_tensor`]),
//! and the GGUF metadata keys and computed tensors of the converter class the table names
//! ([`gguf::arch::ConverterClass`], data): `keys.rs` makes each [`gguf::arch::Key`]'s values from
//! the config, `computed.rs` each [`gguf::arch::Computed`] tensor. Nothing here is per
//! architecture or per converter class.

pub mod computed;
pub mod general;
pub mod keys;

use gguf::Value;

pub use gguf::arch::{ArchSpec, Dim, Transform, When};
pub use gguf::arch::{ConfigError, HfConfig};

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
    /// A `config.json` field is missing, of the wrong type or out of range.
    #[error("config.json: {0}")]
    Config(#[from] ConfigError),
    /// A stacked tensor lacks one of its experts in the checkpoint.
    #[error("tensor `{tensor}` stacks {n_expert} experts (num_experts), but the checkpoint has no `{missing}`")]
    MissingExpert {
        /// The GGUF tensor.
        tensor: String,
        /// The experts it stacks.
        n_expert: u64,
        /// The Hugging Face tensor of the missing expert.
        missing: String,
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

/// The config fields of the expert count (`TextModel`'s `find_hparam` list).
pub use gguf::arch::EXPERT_COUNT_FIELDS as EXPERT_COUNT;

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
    /// Experts of a mixture-of-experts FFN (`num_experts`; 0 when dense).
    pub n_expert: u64,
    /// One expert's FFN width (`moe_intermediate_size`; 0 when dense).
    pub expert_ff: u64,
}

impl Dims {
    /// Reads the dimensions from the config. Refuses what llama.cpp could not load: more than
    /// [`MAX_LAYERS`] layers, or a dimension (derived ones included) over [`MAX_DIM`]; so every
    /// dimension, and every product of two, fits in 64 bits (config values of 2^63 once
    /// overflowed here: fuzz/regressions/config_arch/).
    pub fn new(hp: &HfConfig) -> Result<Dims, ArchError> {
        let embd = hp.n_embd()?;
        let dims = Dims {
            vocab: hp.u64_req(&["vocab_size"])?,
            embd,
            ff: hp.u64_opt(&["intermediate_size", "n_inner"])?.unwrap_or(embd.saturating_mul(4)),
            n_head: hp.n_head()?,
            n_head_kv: hp.n_head_kv()?,
            head_dim: hp.head_dim()?,
            n_layer: hp.n_layer()?,
            n_expert: hp.u64_opt(EXPERT_COUNT)?.unwrap_or(0),
            expert_ff: hp.u64_opt(&["moe_intermediate_size"])?.unwrap_or(0),
        };
        let too_big =
            |field: &str, found: String, expected| ArchError::Config(ConfigError::BadField { field: field.into(), expected, found });
        if dims.n_layer > MAX_LAYERS {
            return Err(too_big("num_hidden_layers", dims.n_layer.to_string(), "at most 512 layers (llama.cpp's LLAMA_MAX_LAYERS)"));
        }
        for d in [Dim::Vocab, Dim::Embd, Dim::Ff, Dim::Ff2, Dim::Ff4Embd, Dim::Q, Dim::Kv, Dim::Qkv, Dim::Experts, Dim::ExpertFf] {
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
            Dim::HeadDim => Some(self.head_dim),
            Dim::Experts => Some(self.n_expert),
            Dim::ExpertFf => Some(self.expert_ff),
        }
    }

    /// The value of a symbolic dimension (at most [`MAX_DIM`]: checked by [`Dims::new`]).
    pub fn get(&self, d: Dim) -> u64 {
        self.checked(d).unwrap_or(u64::MAX)
    }
}

/// A computed tensor that the converter adds (rope factors), always F32.
#[derive(Debug, Clone)]
pub struct ExtraTensor {
    /// GGUF name.
    pub name: String,
    /// Values.
    pub data: Vec<f32>,
}

/// Tensor-name suffixes the converter drops whatever the architecture.
pub const SKIP_SUFFIXES: &[&str] = &[".attention.masked_bias", ".attention.bias", ".rotary_emb.inv_freq"];

/// What an architecture computes at conversion time: the extra tensors (rope factors) and the
/// keys written with them.
pub type Extras = (Vec<ExtraTensor>, Vec<(String, Value)>);

/// The architecture of a config (`architectures[0]`, as the converter picks it, looked up in
/// [`gguf::arch::ARCHITECTURES`]).
pub fn detect(config: &HfConfig) -> Result<&'static ArchSpec, ArchError> {
    let names = config.typed.architectures.as_deref().unwrap_or_default();
    let supported = || gguf::arch::ARCHITECTURES.iter().flat_map(|a| a.hf_architectures.iter().copied()).collect::<Vec<_>>().join(", ");
    let Some(first) = names.first() else {
        return Err(ArchError::Unsupported { found: "(config.json has no `architectures`)".into(), supported: supported() });
    };
    gguf::arch::by_hf_architecture(first).ok_or_else(|| ArchError::Unsupported { found: first.to_string(), supported: supported() })
}

/// The converter's view of an entry of the table.
pub trait ConvertSpec {
    /// Maps a Hugging Face tensor name: `Ok(None)` when the converter drops it.
    fn map_tensor(&self, hf_name: &str, dims: &Dims) -> Result<Option<Mapped>, ArchError>;
    /// The computed tensors (rope factors) and the keys written with them.
    fn extra(&self, hp: &HfConfig) -> Result<Extras, ArchError>;
}

impl ConvertSpec for ArchSpec {
    fn map_tensor(&self, hf_name: &str, dims: &Dims) -> Result<Option<Mapped>, ArchError> {
        if SKIP_SUFFIXES.iter().any(|s| hf_name.ends_with(s)) || self.skip.contains(&hf_name) {
            return Ok(None);
        }
        let (rule, bid, xid, suffix) = self
            .tensors
            .iter()
            .find_map(|r| r.matches_expert(hf_name).map(|(bid, xid, suffix)| (r, bid, xid, suffix)))
            .ok_or_else(|| ArchError::UnmappedTensor { tensor: hf_name.to_string(), arch: self.gguf_name })?;
        let full: Vec<u64> = rule.dims.iter().map(|d| dims.get(*d)).collect();
        let out_dims = if suffix == ".bias" { full.get(1).or(full.first()).map(|d| vec![*d]).unwrap_or_default() } else { full };
        let name = format!("{}{suffix}", rule.kind.gguf_name(bid));
        Ok(Some(Mapped { name, dims: out_dims, transform: rule.transform, expert: xid, bid }))
    }

    fn extra(&self, hp: &HfConfig) -> Result<Extras, ArchError> {
        computed::computed(self.converter.computed, hp, self.gguf_name)
    }
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
    /// The expert this checkpoint tensor is of a stacked GGUF tensor ([`Transform::StackExperts`];
    /// `dims` are the stacked tensor's, one expert's are `dims` without the last).
    pub expert: Option<u64>,
    /// The block.
    pub bid: Option<u64>,
}

impl Mapped {
    /// The ggml dims the checkpoint tensor itself has: one expert's of a stacked tensor.
    pub fn source_dims(&self) -> &[u64] {
        match self.expert {
            Some(_) => &self.dims[..self.dims.len().saturating_sub(1)],
            None => &self.dims,
        }
    }
}

/// A GGUF tensor made from checkpoint tensors: one, or one per expert stacked.
#[derive(Debug, Clone, PartialEq)]
pub struct Placed {
    /// The checkpoint tensors (indices into the caller's list), expert by expert when stacked.
    pub sources: Vec<usize>,
    /// The mapping (of the first expert when stacked).
    pub mapped: Mapped,
}

/// Orders mapped checkpoint tensors (index in checkpoint order, mapping) as the pinned converter
/// writes them and stacks the experts of [`Transform::StackExperts`] tensors: a tensor in
/// checkpoint order; the stacked tensors of a block together where the checkpoint's last expert
/// tensor of that block is (`Qwen2MoeModel.modify_tensors` yields them once all `3 × n_expert` are
/// collected), down, gate, up (its loop order, which is the names' order). `hf_name` names a
/// checkpoint tensor for the error when an expert is missing.
pub fn place(mapped: Vec<(usize, Mapped)>, n_expert: u64, hf_name: &dyn Fn(&Mapped, u64) -> String) -> Result<Vec<Placed>, ArchError> {
    use std::collections::BTreeMap;
    // key: position in checkpoint order, then 0 for a tensor of its own / 1 + name for a stack
    let mut out: Vec<((usize, u8, String), Placed)> = Vec::new();
    let mut stacks: BTreeMap<String, (Mapped, Vec<Option<usize>>)> = BTreeMap::new();
    let mut last_of_block: BTreeMap<Option<u64>, usize> = BTreeMap::new();
    for (index, m) in mapped {
        let Some(xid) = m.expert else {
            out.push(((index, 0, String::new()), Placed { sources: vec![index], mapped: m }));
            continue;
        };
        let last = last_of_block.entry(m.bid).or_insert(index);
        *last = (*last).max(index);
        let slot = stacks.entry(m.name.clone()).or_insert_with(|| (m.clone(), vec![None; n_expert as usize]));
        // an expert past num_experts is not the converter's either ("Unprocessed experts")
        match slot.1.get_mut(xid as usize) {
            Some(s) => *s = Some(index),
            None => {
                return Err(ConfigError::BadField {
                    field: "num_experts".into(),
                    expected: "more experts than the checkpoint's expert ids",
                    found: format!("{n_expert}, but the checkpoint has {}", hf_name(&m, xid)),
                }
                .into())
            }
        }
        if xid == 0 {
            slot.0 = m;
        }
    }
    for (name, (m, members)) in stacks {
        let sources = members
            .iter()
            .enumerate()
            .map(|(xid, s)| s.ok_or_else(|| ArchError::MissingExpert { tensor: name.clone(), n_expert, missing: hf_name(&m, xid as u64) }))
            .collect::<Result<Vec<usize>, ArchError>>()?;
        let at = last_of_block.get(&m.bid).copied().unwrap_or(0);
        out.push(((at, 1, name), Placed { sources, mapped: m }));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out.into_iter().map(|(_, p)| p).collect())
}

fn when_holds(w: When, hp: &HfConfig, tied_default: bool) -> bool {
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
pub fn planned_tensors(hp: &HfConfig) -> Result<Vec<(String, Vec<u64>)>, ArchError> {
    let spec = detect(hp)?;
    let dims = Dims::new(hp)?;
    let (extra, _) = spec.extra(hp)?;
    let mut hf: Vec<(String, Mapped)> = Vec::new();
    for rule in spec.tensors {
        let layers: Vec<Option<u64>> = if rule.hf.contains("{bid}") { (0..dims.n_layer).map(Some).collect() } else { vec![None] };
        let experts: Vec<Option<u64>> = if rule.stacked() { (0..dims.n_expert).map(Some).collect() } else { vec![None] };
        for suffix in rule.suffixes {
            let w = if *suffix == ".bias" { rule.bias_when } else { rule.when };
            if !when_holds(w, hp, spec.tied_default) {
                continue;
            }
            for bid in &layers {
                for xid in &experts {
                    let hf_name = match xid {
                        Some(x) => rule.hf_expert_name(*bid, *x, suffix),
                        None => rule.hf_name(*bid, suffix),
                    };
                    if let Some(m) = spec.map_tensor(&hf_name, &dims)? {
                        hf.push((hf_name, m));
                    }
                }
            }
        }
    }
    // a single-file checkpoint holds its tensors sorted by name
    hf.sort_by(|a, b| a.0.cmp(&b.0));
    let placed = place(hf.into_iter().map(|(_, m)| m).enumerate().collect(), dims.n_expert, &|m, xid| {
        spec.hf_expert_name(&m.name, xid).unwrap_or_default()
    })?;
    let mut out: Vec<(String, Vec<u64>)> = extra.into_iter().map(|e| (e.name, vec![e.data.len() as u64])).collect();
    out.extend(placed.into_iter().map(|p| (p.mapped.name, p.mapped.dims)));
    Ok(out)
}

/// The model-parameter metadata keys that converting this config writes (architecture, rope,
/// attention, … — everything but `general.*` naming keys and `tokenizer.*`), from the config alone,
/// with `general.file_type` set to `file_type`. For the plan engineer.
#[allow(dead_code)] // API for `plan` and other callers that have a config but no weights
pub fn config_metadata(hp: &HfConfig, file_type: u32) -> Result<Vec<(String, Value)>, ArchError> {
    let spec = detect(hp)?;
    let (_, extra_keys) = spec.extra(hp)?;
    let mut out = vec![(keys::ARCHITECTURE.to_string(), Value::String(spec.gguf_name.to_string()))];
    out.extend(extra_keys);
    out.extend(model_params(spec, hp, file_type)?);
    Ok(out)
}

/// `set_gguf_parameters`: the keys of the architecture's converter class, in its order, with
/// `general.file_type` filled in.
pub fn model_params(spec: &ArchSpec, hp: &HfConfig, file_type: u32) -> Result<Vec<(String, Value)>, ArchError> {
    let mut out = Vec::new();
    for key in spec.converter.all_keys() {
        out.extend(keys::key_values(key, hp, spec.gguf_name, file_type)?);
    }
    Ok(out)
}
