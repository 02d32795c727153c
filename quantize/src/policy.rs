//! The per-tensor type policy of llama.cpp's mixes (Q4_K_M, Q3_K_S, …): which tensors are
//! quantized at all, and to which type, exactly as the pinned `src/llama-quant.cpp` decides it
//! (`tensor_allows_quantization`, `llama_tensor_get_type`, `llama_tensor_get_type_impl`,
//! `tensor_type_fallback`, `tensor_requires_imatrix`).
//!
//! llama-quantize walks the tensors in its own order (`llama_model_loader::weights_map`: tensors
//! outside `blk.N.` first, then by layer number, each group sorted by name) and keeps counters
//! of the `attn_v` / `ffn_down` / … tensors seen so far; [`TypePolicy::choose_types`] does the
//! same walk, and [`llama_tensor_order`] gives that order to the writer.
//!
//! Everything here is data (the tables [`NEVER_QUANTIZED`], [`CATEGORY_RULES`],
//! [`FALLBACK_TYPES`], [`LLM_TYPE_70B`]) or the one function [`mix_type`] that holds the mix
//! rules, each with its reason.

use crate::ftype::FileType;
use gguf::arch::{GgufHparams, PerLayer};
use gguf::GgmlType;

/// Errors of the type policy.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The file type has no default tensor type (llama-quantize refuses it too).
    #[error("file type {0} cannot be produced by quantization (no default tensor type)")]
    InvalidFileType(FileType),
    /// A MoE model's tensor name carries no usable layer number.
    #[error("tensor {name}: cannot determine its layer (expected blk.N. with N < {n_layer})")]
    BadLayer {
        /// Tensor name.
        name: String,
        /// The model's block count.
        n_layer: u32,
    },
    /// A row length fits neither the chosen type nor any fallback llama.cpp defines.
    #[error("tensor {name}: row length {ncols} not divisible by {block} (type {ty}), and llama.cpp defines no fallback for {ty}")]
    NoFallback {
        /// Tensor name.
        name: String,
        /// Row length (`ne0`).
        ncols: u64,
        /// The type's block size.
        block: usize,
        /// The chosen type.
        ty: GgmlType,
    },
    /// The mix needs an importance matrix for this tensor (IQ1/IQ2/IQ3_XXS types, Q2_K_S).
    #[error("tensor {name}: quantizing to {ty} requires an importance matrix (--imatrix)")]
    RequiresImatrix {
        /// Tensor name.
        name: String,
        /// The chosen type.
        ty: GgmlType,
    },
    /// A `--tensor-type` option is malformed.
    #[error("--tensor-type {arg:?}: {problem}")]
    BadTensorType {
        /// The option's value.
        arg: String,
        /// What is wrong.
        problem: String,
    },
    /// A `--tensor-type` pattern is not a valid regular expression.
    #[error("--tensor-type pattern {pattern:?} is not a valid regular expression")]
    BadPattern {
        /// The pattern.
        pattern: String,
        /// The parser's complaint.
        #[source]
        source: regex::Error,
    },
    /// A `--prune-layers` item is not a layer number.
    #[error("--prune-layers {arg:?}: invalid layer id {item:?} (expected comma-separated block numbers, e.g. 20,21)")]
    BadPruneLayers {
        /// The option's value.
        arg: String,
        /// The bad item.
        item: String,
    },
    /// A required metadata key is missing or out of range.
    #[error("metadata key {key}: {problem}")]
    Metadata {
        /// The GGUF key.
        key: String,
        /// What is wrong.
        problem: String,
    },
    /// The hyper-parameter keys cannot be read (no architecture, a key of the wrong type).
    #[error("{0}")]
    Hparams(#[source] gguf::arch::HparamsError),
}

/// What the policy needs to know about the model (llama.cpp's `hparams`), from GGUF metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelInfo {
    /// `general.architecture`.
    pub arch: String,
    /// `<arch>.block_count` (llama.cpp's `n_layer_all`).
    pub n_layer: u32,
    /// `<arch>.expert_count`, 0 when absent.
    pub n_expert: u32,
    /// `<arch>.attention.head_count` of layer 0 (first element when it is a per-layer array).
    pub n_head: u32,
    /// `<arch>.attention.head_count_kv` of layer 0; equals `n_head` when absent.
    pub n_head_kv: u32,
}

/// Architectures and block counts for which llama.cpp sets `LLM_TYPE_70B` (the only model size
/// the policy looks at): `(arch, block_count, only when n_head != n_head_kv)`, from the pinned
/// `src/models/{llama,qwen2,deci,olmo,jais2}.cpp`.
pub const LLM_TYPE_70B: &[(&str, u32, bool)] =
    &[("llama", 80, true), ("qwen2", 80, false), ("deci", 80, false), ("olmo", 80, false), ("jais2", 68, false)];

impl ModelInfo {
    /// Heads per KV head (`hparams.n_gqa()`), 0 when `n_head_kv` is 0.
    pub fn n_gqa(&self) -> u32 {
        self.n_head.checked_div(self.n_head_kv).unwrap_or(0)
    }

    /// Whether llama.cpp classifies the model as 70B (`LLM_TYPE_70B`).
    pub fn is_70b(&self) -> bool {
        LLM_TYPE_70B.iter().any(|&(arch, n_layer, needs_gqa)| {
            self.arch == arch && self.n_layer == n_layer && (!needs_gqa || self.n_head != self.n_head_kv)
        })
    }

    /// Reads the fields from GGUF metadata ([`GgufHparams`]), as llama.cpp's `load_hparams` does:
    /// a per-layer head count is layer 0's.
    pub fn from_metadata(metadata: &[(String, gguf::Value)]) -> Result<ModelInfo, PolicyError> {
        let hp = GgufHparams::read(&|key| metadata.iter().find(|(k, _)| k == key).map(|(_, v)| v)).map_err(PolicyError::Hparams)?;
        let u32_of = |suffix: &str, v: Option<u64>| -> Result<Option<u32>, PolicyError> {
            v.map(|x| {
                u32::try_from(x).map_err(|_| PolicyError::Metadata {
                    key: hp.key(suffix),
                    problem: format!("expected an unsigned 32-bit integer, found {x}"),
                })
            })
            .transpose()
        };
        let n_layer = u32_of("block_count", hp.block_count)?
            .ok_or_else(|| PolicyError::Metadata { key: hp.key("block_count"), problem: "missing".into() })?;
        let n_expert = u32_of("expert_count", hp.expert_count)?.unwrap_or(0);
        let n_head = u32_of("attention.head_count", hp.head_count.as_ref().and_then(PerLayer::first))?.unwrap_or(0);
        let n_head_kv = u32_of("attention.head_count_kv", hp.head_count_kv.as_ref().and_then(PerLayer::first))?.unwrap_or(n_head);
        Ok(ModelInfo { arch: hp.arch, n_layer, n_expert, n_head, n_head_kv })
    }
}

/// The user's choices that change the policy (llama-quantize's options).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyOptions {
    /// `--pure`: every quantizable tensor gets the file type's default type (no mix rules).
    pub pure: bool,
    /// `--output-tensor-type`: the type of `output.weight` (and of a tied token embedding).
    pub output_tensor_type: Option<GgmlType>,
    /// `--token-embedding-type`: the type of `token_embd.weight`.
    pub token_embedding_type: Option<GgmlType>,
    /// `--leave-output-tensor`: keep `output.weight` as it is.
    pub leave_output_tensor: bool,
    /// An importance matrix is given (changes some rules).
    pub has_imatrix: bool,
    /// `--tensor-type PATTERN=TYPE`, in the order given: the first pattern (a regular expression
    /// searched anywhere in the tensor name, as `std::regex_search`) that matches a quantizable
    /// tensor gives its type instead of the mix rules; llama-quantize's fallback still applies.
    pub tensor_types: Vec<TensorTypeOverride>,
    /// Do not fail when a tensor's type needs an importance matrix and there is none
    /// (llama-quantize's `--dry-run` only warns); [`requires_imatrix`] says which tensors would.
    pub skip_imatrix_check: bool,
    /// llama-quantize's `COPY` type: no tensor is quantized, all are copied as they are.
    pub only_copy: bool,
}

/// One `--tensor-type PATTERN=TYPE` option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorTypeOverride {
    /// The pattern, lowercased (as llama-quantize stores it).
    pub pattern: String,
    /// The type of the tensors it matches.
    pub ty: GgmlType,
}

impl TensorTypeOverride {
    /// Parses `PATTERN=TYPE` as llama-quantize's `parse_tensor_type` does: split at the first
    /// `=`, the pattern lowercased, the type a ggml type name (case-insensitive: `q8_0`, `iq4_xs`).
    pub fn parse(arg: &str) -> Result<TensorTypeOverride, PolicyError> {
        let bad = |problem: &str| PolicyError::BadTensorType { arg: arg.to_string(), problem: problem.to_string() };
        let (name, ty) = arg.split_once('=').ok_or_else(|| bad("malformed, expected PATTERN=TYPE (e.g. attn_v=q8_0)"))?;
        if name.is_empty() {
            return Err(bad("missing tensor name"));
        }
        if ty.is_empty() {
            return Err(bad("missing quantization type"));
        }
        let ty =
            GgmlType::from_name(ty).ok_or_else(|| bad("invalid quantization type (a ggml type name: q8_0, q4_K, iq4_xs, f16, ...)"))?;
        Ok(TensorTypeOverride { pattern: name.to_lowercase(), ty })
    }
}

/// A tensor as the policy sees it.
#[derive(Debug, Clone, Copy)]
pub struct TensorRef<'a> {
    /// GGUF tensor name.
    pub name: &'a str,
    /// ggml dims (`dims[0]` = row length).
    pub dims: &'a [u64],
    /// The tensor's type in the input file.
    pub ty: GgmlType,
}

/// The policy's decision for one tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TensorChoice {
    /// The output type (equal to the input type: copied unchanged).
    pub ty: GgmlType,
    /// Whether the tensor may be quantized at all (`tensor_allows_quantization`).
    pub allows_quantization: bool,
    /// Whether the chosen type was replaced by a fallback because the row length does not fit.
    pub fallback: bool,
}

/// The broad tensor roles the mix rules look at (`tensor_category`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// `token_embd.weight`, `per_layer_token_embd.weight`.
    TokenEmbd,
    /// `attn_q.weight`.
    AttentionQ,
    /// `attn_v.weight`.
    AttentionV,
    /// `attn_k.weight`.
    AttentionK,
    /// Fused `attn_qkv.weight`.
    AttentionQkv,
    /// `attn_kv_b.weight` (MLA).
    AttentionKvB,
    /// `attn_output.weight`.
    AttentionOutput,
    /// `ffn_up*`.
    FfnUp,
    /// `ffn_gate*`.
    FfnGate,
    /// `ffn_down*`.
    FfnDown,
    /// `output.weight`.
    Output,
    /// Anything else.
    Other,
}

/// How a name rule matches.
#[derive(Debug, Clone, Copy)]
pub enum NameMatch {
    /// The whole name.
    Exact(&'static str),
    /// A substring of the name.
    Contains(&'static str),
}

impl NameMatch {
    fn matches(self, name: &str) -> bool {
        match self {
            NameMatch::Exact(s) => name == s,
            NameMatch::Contains(s) => name.contains(s),
        }
    }
}

/// Categories by name, first match wins (`tensor_get_category`).
pub const CATEGORY_RULES: &[(NameMatch, Category)] = {
    use Category::*;
    use NameMatch::*;
    &[
        (Exact("output.weight"), Output),
        (Exact("token_embd.weight"), TokenEmbd),
        (Exact("per_layer_token_embd.weight"), TokenEmbd),
        (Contains("attn_qkv.weight"), AttentionQkv),
        (Contains("attn_kv_b.weight"), AttentionKvB),
        (Contains("attn_v.weight"), AttentionV),
        (Contains("attn_k.weight"), AttentionK),
        (Contains("attn_q.weight"), AttentionQ),
        (Contains("attn_output.weight"), AttentionOutput),
        (Contains("ffn_up"), FfnUp),
        (Contains("ffn_gate"), FfnGate),
        (Contains("ffn_down"), FfnDown),
    ]
};

/// The category of a tensor name.
pub fn category(name: &str) -> Category {
    CATEGORY_RULES.iter().find(|(m, _)| m.matches(name)).map_or(Category::Other, |&(_, c)| c)
}

impl Category {
    /// attn_v-like tensors (more sensitive to quantization, counted together by llama.cpp).
    fn is_attn_v(self) -> bool {
        matches!(self, Category::AttentionV | Category::AttentionQkv | Category::AttentionKvB)
    }
}

/// Tensors never quantized (besides 1-D tensors, names not ending in `weight` and, with
/// `--leave-output-tensor`, `output.weight`): `(architecture or None for all, rule, reason)`,
/// from `tensor_allows_quantization`.
pub const NEVER_QUANTIZED: &[(Option<&str>, NameMatch, &str)] = {
    use NameMatch::*;
    &[
        (None, Contains("_norm.weight"), "norm tensors"),
        (None, Contains("ffn_gate_inp.weight"), "expert gating tensors"),
        (None, Contains("ffn_gate_tid2eid.weight"), "i32 token-id -> expert-id routing table (DeepSeek-V4)"),
        (None, Contains("altup"), "very small (e.g. 4x4)"),
        (None, Contains("laurel"), "very small (e.g. 4x4)"),
        (None, Contains("per_layer_model_proj"), "not too big, kept as is"),
        (None, Exact("position_embd.weight"), "positional embeddings"),
        (None, Exact("token_types.weight"), "token types (BERT)"),
        (None, Contains("ssm_conv1d"), "Mamba's small conv1d weights"),
        (None, Contains("shortconv.conv.weight"), "Kimi's small conv weights"),
        (None, Contains("indexer.k_proj.weight"), "MiniMax's tiny indexer projections"),
        (None, Contains("indexer.q_proj.weight"), "MiniMax's tiny indexer projections"),
        (Some("glm5-next"), Contains("hc_"), "glm5-next small tensors"),
        (Some("glm5-next"), Contains("indexer.attn_q_b"), "glm5-next small tensors"),
        (Some("glm5-next"), Contains("indexer.attn_k"), "glm5-next small tensors"),
        (Some("glm5-next"), Contains("indexer.proj"), "glm5-next small tensors"),
        (Some("glm5-next"), Contains("indexer_compressor_gate"), "glm5-next small tensors"),
        (Some("glm5-next"), Contains("indexer_compressor_ape"), "glm5-next small tensors"),
        (Some("glm5-next"), Contains("ssm_f_a.weight"), "glm5-next small tensors"),
        (Some("glm5-next"), Contains("ssm_f_b.weight"), "glm5-next small tensors"),
        (Some("glm5-next"), Contains("ssm_g_a.weight"), "glm5-next small tensors"),
        (Some("glm5-next"), Contains("ssm_g_b.weight"), "glm5-next small tensors"),
        (Some("glm5-next"), Contains("ssm_beta.weight"), "glm5-next small tensors"),
        (Some("glm5-next"), Contains("attn_kv_a_mqa.weight"), "glm5-next small tensors"),
        (Some("glm5-next"), Contains("attn_k_b.weight"), "glm5-next small tensors"),
        (Some("glm5-next"), Contains("attn_v_b.weight"), "glm5-next small tensors"),
        (None, Contains("time_mix_first.weight"), "RWKV's small 2-D weights"),
        (None, Contains("time_mix_w0.weight"), "RWKV's small 2-D weights"),
        (None, Contains("time_mix_w1.weight"), "RWKV's small 2-D weights"),
        (None, Contains("time_mix_w2.weight"), "RWKV's small 2-D weights"),
        (None, Contains("time_mix_v0.weight"), "RWKV's small 2-D weights"),
        (None, Contains("time_mix_v1.weight"), "RWKV's small 2-D weights"),
        (None, Contains("time_mix_v2.weight"), "RWKV's small 2-D weights"),
        (None, Contains("time_mix_a0.weight"), "RWKV's small 2-D weights"),
        (None, Contains("time_mix_a1.weight"), "RWKV's small 2-D weights"),
        (None, Contains("time_mix_a2.weight"), "RWKV's small 2-D weights"),
        (None, Contains("time_mix_g1.weight"), "RWKV's small 2-D weights"),
        (None, Contains("time_mix_g2.weight"), "RWKV's small 2-D weights"),
        (None, Contains("time_mix_decay_w1.weight"), "RWKV's small 2-D weights"),
        (None, Contains("time_mix_decay_w2.weight"), "RWKV's small 2-D weights"),
        (None, Contains("time_mix_lerp_fused.weight"), "RWKV's small 2-D weights"),
        (None, Contains("attn_rel_b.weight"), "relative position bias (T5)"),
        (None, Contains(".position_embd"), "multimodal position embeddings"),
        (None, Contains("sam.pos_embd"), "multimodal tensors"),
        (None, Contains("sam.neck."), "multimodal tensors"),
        (None, Contains("sam.net_"), "multimodal tensors"),
        (None, Contains(".rel_pos"), "multimodal tensors"),
        (None, Contains(".patch_embd"), "multimodal tensors"),
        (None, Contains(".patch_merger"), "multimodal tensors"),
        (None, Contains("a.rvq.codebook"), "audio codebook"),
        (None, Contains("mm.a.code_embd"), "audio codebook"),
    ]
};

/// ggml's `ggml_n_dims`: the number of dims up to the last one above 1 (at least 1).
fn n_dims(dims: &[u64]) -> usize {
    dims.iter().rposition(|&d| d > 1).map_or(1, |i| i + 1)
}

/// Whether llama-quantize may change this tensor's type at all (`tensor_allows_quantization`).
pub fn allows_quantization(arch: &str, opts: &PolicyOptions, name: &str, dims: &[u64]) -> bool {
    if opts.only_copy {
        return false;
    }
    // Only 2-D and 3-D (expert) tensors are quantized.
    if n_dims(dims) < 2 {
        return false;
    }
    // Only weights (not biases, not other parameters).
    if !name.ends_with("weight") {
        return false;
    }
    if opts.leave_output_tensor && name == "output.weight" {
        return false;
    }
    !NEVER_QUANTIZED.iter().any(|&(a, m, _)| a.is_none_or(|a| a == arch) && m.matches(name))
}

/// The fallback for types whose block does not divide the row length (`tensor_type_fallback`):
/// a 32-element block type of similar size.
pub const FALLBACK_TYPES: &[(GgmlType, GgmlType)] = {
    use GgmlType::*;
    &[
        (IQ1_S, IQ4_NL),
        (IQ1_M, IQ4_NL),
        (IQ2_XXS, IQ4_NL),
        (IQ2_XS, IQ4_NL),
        (IQ2_S, IQ4_NL),
        (IQ3_XXS, IQ4_NL),
        (IQ3_S, IQ4_NL),
        (IQ4_XS, IQ4_NL),
        (Q2_0, Q4_0),
        (Q2_K, Q4_0),
        (Q3_K, Q4_0),
        (TQ1_0, Q4_0),
        (TQ2_0, Q4_0),
        (Q4_K, Q5_0),
        (Q5_K, Q5_1),
        (Q6_K, Q8_0),
    ]
};

/// Replaces `ty` when `ncols` is not a multiple of its block size. Returns the type and whether
/// a fallback happened.
pub fn fallback(name: &str, ncols: u64, ty: GgmlType) -> Result<(GgmlType, bool), PolicyError> {
    let block = ty.block_size();
    if ncols.is_multiple_of(block as u64) {
        return Ok((ty, false));
    }
    let mut out = match FALLBACK_TYPES.iter().find(|(from, _)| *from == ty) {
        Some(&(_, to)) => to,
        // A 32-block type has no smaller block to demote to: the check below makes it F16.
        None if block <= 32 => ty,
        None => return Err(PolicyError::NoFallback { name: name.into(), ncols, block, ty }),
    };
    if !ncols.is_multiple_of(out.block_size() as u64) {
        // Still no fit (row length not a multiple of 32): llama.cpp uses F16.
        out = GgmlType::F16;
    }
    Ok((out, true))
}

/// Whether llama-quantize insists on an importance matrix (`tensor_requires_imatrix`).
pub fn requires_imatrix(name: &str, ty: GgmlType, ftype: FileType) -> bool {
    use GgmlType::*;
    if matches!(category(name), Category::TokenEmbd | Category::Output) {
        return false;
    }
    match ty {
        IQ3_XXS | IQ2_XXS | IQ2_XS | IQ2_S | IQ1_M | IQ1_S => true,
        // K-quants need no imatrix, except the Q2_K tensors of a Q2_K_S file.
        Q2_K => ftype == FileType::MostlyQ2_K_S,
        _ => false,
    }
}

/// The layer number llama.cpp reads with `sscanf(name, "blk.%d.", &layer)` (`None` when the
/// name does not start with `blk.` and a number).
pub fn layer_of(name: &str) -> Option<i64> {
    let rest = name.strip_prefix("blk.")?;
    let rest = rest.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (neg, digits) = match rest.as_bytes().first() {
        Some(b'-') => (true, &rest[1..]),
        Some(b'+') => (false, &rest[1..]),
        _ => (false, rest),
    };
    let end = digits.bytes().position(|b| !b.is_ascii_digit()).unwrap_or(digits.len());
    if end == 0 {
        return None;
    }
    // Saturate far beyond any real layer count rather than overflow.
    let v = digits[..end].parse::<i64>().unwrap_or(i64::MAX);
    Some(if neg { -v } else { v })
}

/// The order in which llama-quantize walks and writes tensors (`weights_map`'s comparator:
/// layer number from `blk.N.`, -1 for other tensors, then name). Returns indices into `names`.
pub fn llama_tensor_order<S: AsRef<str>>(names: &[S]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..names.len()).collect();
    let key = |i: usize| {
        let n = names[i].as_ref();
        (layer_of(n).map_or(-1, |l| l.clamp(i32::MIN as i64, i32::MAX as i64)), n)
    };
    idx.sort_by(|&a, &b| key(a).cmp(&key(b)));
    idx
}

/// Parses `--prune-layers N,N,...` as llama-quantize does (`std::stoi` per item: leading blanks,
/// a sign and digits, the rest ignored; negative or unreadable ids are errors), sorted, without
/// duplicates.
pub fn parse_prune_layers(arg: &str) -> Result<Vec<u32>, PolicyError> {
    let mut ids = Vec::new();
    for item in arg.split(',') {
        let t = item.trim_start();
        let (sign, digits) = match t.as_bytes().first() {
            Some(b'-') => (-1i64, &t[1..]),
            Some(b'+') => (1, &t[1..]),
            _ => (1, t),
        };
        let end = digits.bytes().position(|b| !b.is_ascii_digit()).unwrap_or(digits.len());
        let id = digits[..end].parse::<i64>().ok().map(|v| sign * v).filter(|v| (0..=i32::MAX as i64).contains(v));
        match id {
            Some(v) => ids.push(v as u32),
            None => return Err(PolicyError::BadPruneLayers { arg: arg.to_string(), item: item.to_string() }),
        }
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

/// llama-quantize's `--prune-layers` renaming (`remap_layer`, walked in [`llama_tensor_order`]):
/// tensors of the pruned blocks are dropped (`None`), the remaining blocks renumbered
/// consecutively in the first `blk.N.` of their names. Returns the new names (in the order of
/// `names`) and the new block count (written to `<arch>.block_count`). `prune` is sorted.
pub fn prune_layers<S: AsRef<str>>(names: &[S], prune: &[u32]) -> (Vec<Option<String>>, u32) {
    let mut out: Vec<Option<String>> = names.iter().map(|n| Some(n.as_ref().to_string())).collect();
    let Some(&first) = prune.first() else { return (out, 0) };
    let mut mapped: std::collections::BTreeMap<u64, Option<u64>> = std::collections::BTreeMap::new();
    let mut next_id = 0u64;
    for i in llama_tensor_order(names) {
        let name = names[i].as_ref();
        // The first "blk.<digits>." anywhere in the name (`std::regex_search` of `blk\.(\d+)\.`).
        let found = name.match_indices("blk.").find_map(|(at, _)| {
            let digits = &name[at + 4..];
            let end = digits.bytes().position(|b| !b.is_ascii_digit()).unwrap_or(digits.len());
            (end > 0 && digits.as_bytes().get(end) == Some(&b'.')).then_some((at + 4, end))
        });
        let Some((start, len)) = found else { continue };
        let blk = name[start..start + len].parse::<u64>().unwrap_or(u64::MAX);
        let new = *mapped.entry(blk).or_insert_with(|| {
            if u32::try_from(blk).is_ok_and(|b| prune.binary_search(&b).is_ok()) {
                None
            } else if blk < first as u64 {
                next_id = blk + 1;
                Some(blk)
            } else {
                next_id += 1;
                Some(next_id - 1)
            }
        });
        out[i] = new.map(|b| format!("{}{b}{}", &name[..start], &name[start + len..]));
    }
    (out, next_id.min(u32::MAX as u64) as u32)
}

/// llama.cpp's `use_more_bits`: the first and last eighth of the layers and every third layer
/// between get more bits.
fn use_more_bits(i_layer: i64, n_layers: i64) -> bool {
    i_layer < n_layers / 8 || i_layer >= 7 * n_layers / 8 || (i_layer - n_layers / 8) % 3 == 2
}

/// The counters llama.cpp keeps while walking the tensors (`quantize_state_impl`).
#[derive(Debug, Clone, Default)]
struct Counters {
    n_attention_wv: i64,
    i_attention_wv: i64,
    i_ffn_down: i64,
    i_ffn_gate: i64,
    i_ffn_up: i64,
    has_tied_embeddings: bool,
}

/// Everything [`mix_type`] looks at for one tensor.
struct MixInput<'a> {
    name: &'a str,
    dims: &'a [u64],
    category: Category,
    ftype: FileType,
    model: &'a ModelInfo,
    opts: &'a PolicyOptions,
}

/// The mix rules (`llama_tensor_get_type_impl`): the type for one quantizable tensor of a mix,
/// starting from the file type's default `ty`, updating the counters as llama.cpp does.
// llama.cpp's branch order is kept, to be read side by side with llama_tensor_get_type, even where two
// branches give the same type.
#[allow(clippy::if_same_then_else)]
fn mix_type(m: &MixInput, c: &mut Counters, mut ty: GgmlType) -> Result<GgmlType, PolicyError> {
    use FileType::*;
    use GgmlType as G;
    let ftype = m.ftype;
    let arch = m.model.arch.as_str();
    let falcon = arch == "falcon";
    let n_gqa = m.model.n_gqa();
    let n_expert = m.model.n_expert;
    let n_layer = i64::from(m.model.n_layer);
    let is_iq1_iq2 = matches!(ftype, MostlyIQ2_XXS | MostlyIQ2_XS | MostlyIQ1_S | MostlyIQ2_S | MostlyIQ2_M | MostlyIQ1_M);
    // The layer of an ffn tensor: the running count, except in MoE models where experts are not
    // consecutive, so llama.cpp parses the layer from the name.
    let layer = |counter: i64| -> Result<i64, PolicyError> {
        if n_expert > 1 {
            match layer_of(m.name) {
                Some(l) if (0..n_layer).contains(&l) => Ok(l),
                _ => Err(PolicyError::BadLayer { name: m.name.into(), n_layer: m.model.n_layer }),
            }
        } else {
            Ok(counter)
        }
    };

    // glm5-next: these tensors are never quantized below Q8_0.
    if arch == "glm5-next"
        && ["attn_q_a", "attn_q_b", "nextn.eh_proj"].iter().any(|s| m.name.contains(s))
        && !matches!(ty, G::F32 | G::BF16 | G::F16)
    {
        return Ok(G::Q8_0);
    }

    let cat = m.category;
    if cat == Category::Output || (c.has_tied_embeddings && cat == Category::TokenEmbd) {
        // The output tensor (and a token embedding shared with it) is the most sensitive.
        if let Some(t) = m.opts.output_tensor_type {
            ty = t;
        } else {
            let nx = m.dims.first().copied().unwrap_or(0);
            if ftype == MostlyMXFP4_MOE {
                ty = G::Q8_0;
            } else if falcon || nx % ty.block_size() as u64 != 0 {
                // Falcon, and rows that do not fit the default block: Q8_0.
                ty = G::Q8_0;
            } else if matches!(ftype, MostlyIQ2_XXS | MostlyIQ2_XS | MostlyIQ3_XXS | MostlyIQ1_S | MostlyIQ2_S | MostlyIQ2_M | MostlyIQ1_M)
            {
                ty = G::Q5_K;
            } else if ty != G::Q8_0 {
                // Every other mix: Q6_K (Q8_0 files keep Q8_0).
                ty = G::Q6_K;
            }
        }
    } else if ftype == MostlyMXFP4_MOE {
        // MXFP4 for expert tensors (3-D), Q8_0 for the rest; bailingmoe3's MLA projections are
        // 3-D too, so only its ffn experts count there.
        let expert_role = matches!(cat, Category::FfnUp | Category::FfnGate | Category::FfnDown);
        let ne2 = m.dims.get(2).copied().unwrap_or(1);
        ty = if ne2 > 1 && (arch != "bailingmoe3" || expert_role) { G::MXFP4 } else { G::Q8_0 };
    } else if cat == Category::TokenEmbd {
        // The token embedding is only read row by row: low-bit mixes give it a bit more.
        if let Some(t) = m.opts.token_embedding_type {
            ty = t;
        } else if matches!(ftype, MostlyIQ2_XXS | MostlyIQ2_XS | MostlyIQ1_S | MostlyIQ1_M) {
            ty = G::Q2_K;
        } else if matches!(ftype, MostlyIQ2_S | MostlyIQ2_M | MostlyIQ3_XXS) {
            ty = G::IQ3_S;
        } else if matches!(ftype, MostlyTQ1_0 | MostlyTQ2_0 | MostlyQ2_0) {
            ty = G::Q4_K;
        }
    } else if is_iq1_iq2 {
        // 1-2 bit mixes: lift the sensitive tensors.
        let iq2s_or_m = matches!(ftype, MostlyIQ2_S | MostlyIQ2_M);
        if cat.is_attn_v() {
            ty = if n_gqa >= 4 || n_expert >= 4 {
                G::Q4_K
            } else if iq2s_or_m {
                G::IQ3_S
            } else {
                G::Q2_K
            };
            c.i_attention_wv += 1;
        } else if n_expert == 8 && cat == Category::AttentionK {
            ty = G::Q4_K;
        } else if cat == Category::FfnDown {
            // The first eighth of ffn_down tensors.
            if c.i_ffn_down < n_layer / 8 {
                ty = if iq2s_or_m { G::IQ3_S } else { G::Q2_K };
            }
            c.i_ffn_down += 1;
        } else if cat == Category::AttentionOutput {
            if n_expert == 8 {
                ty = G::Q5_K;
            } else if matches!(ftype, MostlyIQ1_S | MostlyIQ1_M) {
                ty = G::IQ2_XXS;
            } else if iq2s_or_m {
                ty = G::IQ3_S;
            }
        }
    } else if cat.is_attn_v() {
        // attn_v (and fused qkv / MLA kv_b): small and sensitive, more bits are cheap.
        if ftype == MostlyQ2_K {
            ty = if n_gqa >= 4 { G::Q4_K } else { G::Q3_K };
        } else if ftype == MostlyQ2_K_S && n_gqa >= 4 {
            ty = G::Q4_K;
        } else if ftype == MostlyIQ3_XXS {
            ty = if n_gqa >= 4 {
                G::Q4_K
            } else if !m.opts.has_imatrix {
                G::IQ3_S
            } else {
                G::IQ3_XXS
            };
        } else if matches!(ftype, MostlyIQ3_XS | MostlyIQ3_S) && n_gqa >= 4 {
            ty = G::Q4_K;
        } else if ftype == MostlyIQ3_M {
            ty = G::Q4_K;
        } else if ftype == MostlyQ3_K_M {
            // The first two attn_v tensors get Q5_K.
            ty = if c.i_attention_wv < 2 { G::Q5_K } else { G::Q4_K };
        } else if ftype == MostlyQ3_K_L {
            ty = G::Q5_K;
        } else if matches!(ftype, MostlyIQ4_NL | MostlyIQ4_XS) && n_gqa >= 4 {
            ty = G::Q5_K;
        } else if matches!(ftype, MostlyQ4_K_M | MostlyQ5_K_M) && use_more_bits(c.i_attention_wv, c.n_attention_wv) {
            ty = G::Q6_K;
        } else if ftype == MostlyQ4_K_S && c.i_attention_wv < 4 {
            ty = G::Q5_K;
        }
        if m.model.is_70b() && matches!(ty, G::Q3_K | G::Q4_K) {
            // 70B: 8 heads share attn_v, so it is 8x smaller than attn_q: more bits are cheap.
            ty = G::Q5_K;
        }
        if n_expert == 8 {
            // 8-expert models: Q8_0 costs only ~128 MB here.
            ty = G::Q8_0;
        }
        c.i_attention_wv += 1;
    } else if cat == Category::AttentionK {
        if n_expert == 8 {
            // 8-expert models: Q8_0 costs only ~128 MB here.
            ty = G::Q8_0;
        } else if ftype == MostlyIQ3_XS {
            ty = G::IQ3_XXS;
        } else if ftype == MostlyIQ3_XXS {
            ty = G::IQ2_S;
        }
    } else if cat == Category::AttentionQ {
        if ftype == MostlyIQ3_XS {
            ty = G::IQ3_XXS;
        } else if ftype == MostlyIQ3_XXS {
            ty = G::IQ2_S;
        }
    } else if cat == Category::FfnDown {
        // ffn_down is the most quantization-sensitive matrix of the FFN.
        let i_layer = layer(c.i_ffn_down)?;
        if ftype == MostlyQ2_K {
            ty = G::Q3_K;
        } else if ftype == MostlyQ2_K_S {
            if i_layer < n_layer / 8 {
                ty = G::Q4_K;
            }
        } else if ftype == MostlyIQ3_XXS && !m.opts.has_imatrix {
            ty = if i_layer < n_layer / 8 { G::Q4_K } else { G::Q3_K };
        } else if ftype == MostlyQ3_K_M {
            ty = if i_layer < n_layer / 16 {
                G::Q5_K
            } else if !falcon || use_more_bits(i_layer, n_layer) {
                G::Q4_K
            } else {
                G::Q3_K
            };
        } else if ftype == MostlyIQ3_M && (i_layer < n_layer / 8 || (n_expert == 8 && use_more_bits(i_layer, n_layer))) {
            ty = G::Q4_K;
        } else if ftype == MostlyQ3_K_L {
            ty = if falcon { G::Q4_K } else { G::Q5_K };
        } else if ftype == MostlyQ4_K_M {
            if falcon {
                ty = if i_layer < n_layer / 16 {
                    G::Q6_K
                } else if use_more_bits(i_layer, n_layer) {
                    G::Q5_K
                } else {
                    G::Q4_K
                };
            } else if use_more_bits(i_layer, n_layer) {
                ty = G::Q6_K;
            }
        } else if i_layer < n_layer / 8 && matches!(ftype, MostlyIQ4_NL | MostlyIQ4_XS) && !m.opts.has_imatrix {
            ty = G::Q5_K;
        } else if ftype == MostlyQ5_K_M && use_more_bits(i_layer, n_layer) {
            ty = G::Q6_K;
        } else if ftype == MostlyQ4_K_S && !falcon && i_layer < n_layer / 8 {
            ty = G::Q5_K;
        } else if matches!(ftype, MostlyQ4_0 | MostlyQ5_0) && m.opts.has_imatrix && i_layer < n_layer / 8 {
            // Guard the first ffn_down layers against going crazy with Q4_0/Q5_0 even with an
            // imatrix (only with one, so that files without an imatrix stay as they were).
            ty = if ftype == MostlyQ4_0 { G::Q4_1 } else { G::Q5_1 };
        }
        c.i_ffn_down += 1;
    } else if cat == Category::AttentionOutput {
        if !falcon {
            if n_expert == 8 {
                if matches!(
                    ftype,
                    MostlyQ2_K
                        | MostlyIQ3_XS
                        | MostlyIQ3_XXS
                        | MostlyQ3_K_S
                        | MostlyQ3_K_M
                        | MostlyIQ4_NL
                        | MostlyQ4_K_S
                        | MostlyQ4_K_M
                        | MostlyIQ3_S
                        | MostlyIQ3_M
                        | MostlyIQ4_XS
                ) {
                    ty = G::Q5_K;
                }
            } else {
                match ftype {
                    MostlyQ2_K => ty = G::Q3_K,
                    MostlyIQ3_XXS => ty = G::IQ3_S,
                    MostlyQ3_K_M => ty = G::Q4_K,
                    MostlyQ3_K_L => ty = G::Q5_K,
                    MostlyIQ3_M => ty = G::Q4_K,
                    _ => {}
                }
            }
        } else if ftype == MostlyQ3_K_L {
            ty = G::Q4_K;
        }
    } else if cat == Category::AttentionQkv {
        // Unreachable in the pinned llama.cpp (fused qkv is attn_v-like, handled above); kept
        // to mirror its source.
        if matches!(ftype, MostlyQ3_K_M | MostlyQ3_K_L | MostlyIQ3_M) {
            ty = G::Q4_K;
        } else if ftype == MostlyQ4_K_M {
            ty = G::Q5_K;
        } else if ftype == MostlyQ5_K_M {
            ty = G::Q6_K;
        }
    } else if cat == Category::FfnGate || cat == Category::FfnUp {
        // IQ3_XS: the middle layers' gate/up get IQ3_XXS.
        let counter = if cat == Category::FfnGate { c.i_ffn_gate } else { c.i_ffn_up };
        let i_layer = layer(counter)?;
        if ftype == MostlyIQ3_XS && i_layer >= n_layer / 8 && i_layer < 7 * n_layer / 8 {
            ty = G::IQ3_XXS;
        }
        if cat == Category::FfnGate {
            c.i_ffn_gate += 1;
        } else {
            c.i_ffn_up += 1;
        }
    }
    Ok(ty)
}

/// llama.cpp's per-tensor type choice for one file type, options and model.
#[derive(Debug, Clone)]
pub struct TypePolicy {
    ftype: FileType,
    default_type: GgmlType,
    opts: PolicyOptions,
    model: ModelInfo,
    /// `opts.tensor_types`, compiled.
    patterns: Vec<(regex::Regex, GgmlType)>,
}

impl TypePolicy {
    /// A policy; fails for file types llama-quantize cannot produce.
    pub fn new(ftype: FileType, options: PolicyOptions, model: &ModelInfo) -> Result<TypePolicy, PolicyError> {
        let default_type = ftype.default_type().ok_or(PolicyError::InvalidFileType(ftype))?;
        let patterns = options
            .tensor_types
            .iter()
            .map(|o| {
                regex::Regex::new(&o.pattern)
                    .map(|r| (r, o.ty))
                    .map_err(|source| PolicyError::BadPattern { pattern: o.pattern.clone(), source })
            })
            .collect::<Result<_, _>>()?;
        Ok(TypePolicy { ftype, default_type, opts: options, model: model.clone(), patterns })
    }

    /// The file type.
    pub fn ftype(&self) -> FileType {
        self.ftype
    }

    /// The types of all tensors of a file (any order: they are walked in llama.cpp's order,
    /// [`llama_tensor_order`]); the result is in the order of `tensors`.
    pub fn choose_types(&self, tensors: &[TensorRef]) -> Result<Vec<TensorChoice>, PolicyError> {
        let names: Vec<&str> = tensors.iter().map(|t| t.name).collect();
        self.choose_types_walked(tensors, &llama_tensor_order(&names))
    }

    /// As [`TypePolicy::choose_types`], walking the tensors in `order` (indices into `tensors`,
    /// each once): the per-layer counters (`ffn_down`, `attn_v`, …) advance in that order.
    /// llama-quantize --keep-split walks them by input piece, then offset.
    pub fn choose_types_walked(&self, tensors: &[TensorRef], order: &[usize]) -> Result<Vec<TensorChoice>, PolicyError> {
        let mut c = Counters {
            n_attention_wv: tensors.iter().filter(|t| category(t.name).is_attn_v()).count() as i64,
            has_tied_embeddings: !tensors.iter().any(|t| category(t.name) == Category::Output),
            ..Counters::default()
        };
        debug_assert_eq!(order.len(), tensors.len(), "order must walk every tensor once");
        let mut out: Vec<Option<TensorChoice>> = vec![None; tensors.len()];
        for &i in order {
            out[i] = Some(self.tensor_choice(&tensors[i], &mut c)?);
        }
        Ok(out.into_iter().flatten().collect())
    }

    /// `llama_tensor_get_type` plus the imatrix requirement check.
    fn tensor_choice(&self, t: &TensorRef, c: &mut Counters) -> Result<TensorChoice, PolicyError> {
        let keep = TensorChoice { ty: t.ty, allows_quantization: false, fallback: false };
        if !allows_quantization(&self.model.arch, &self.opts, t.name, t.dims) {
            return Ok(keep);
        }
        let cat = category(t.name);
        let choice = |ty| TensorChoice { ty, allows_quantization: true, fallback: false };
        // The first --tensor-type pattern found in the name, if any.
        let manual = self.patterns.iter().find(|(r, _)| r.is_match(t.name)).map(|(_, ty)| *ty);
        // Explicit types for the token embedding and the output tensor win over everything
        // (but a --tensor-type naming per_layer_token_embd.weight wins over
        // --token-embedding-type).
        if let (Some(ty), Category::TokenEmbd) = (self.opts.token_embedding_type, cat) {
            if !(t.name == "per_layer_token_embd.weight" && manual.is_some()) {
                return Ok(choice(ty));
            }
        }
        if let (Some(ty), Category::Output) = (self.opts.output_tensor_type, cat) {
            return Ok(choice(ty));
        }
        let mut ty = self.default_type;
        let mut fell_back = false;
        // Mixes and fallbacks only apply to quantized file types (F16/BF16/F32 files: all
        // quantizable tensors get the default type).
        if ty.is_quantized() {
            if let Some(m) = manual {
                ty = m;
            } else if !self.opts.pure {
                let m = MixInput { name: t.name, dims: t.dims, category: cat, ftype: self.ftype, model: &self.model, opts: &self.opts };
                ty = mix_type(&m, c, ty)?;
            }
            let ncols = t.dims.first().copied().unwrap_or(0);
            (ty, fell_back) = fallback(t.name, ncols, ty)?;
        }
        if !self.opts.has_imatrix && !self.opts.skip_imatrix_check && requires_imatrix(t.name, ty, self.ftype) {
            return Err(PolicyError::RequiresImatrix { name: t.name.into(), ty });
        }
        Ok(TensorChoice { ty, allows_quantization: true, fallback: fell_back })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_info_reads_layer_0_of_per_layer_head_counts() {
        // llama-quantize's n_gqa() is layer 0's (`hparams.n_head(0) / n_head_kv(0)`)
        let arr = |v: &[u32]| gguf::Value::Array(gguf::ValueType::Uint32, v.iter().map(|x| gguf::Value::U32(*x)).collect());
        let md = |extra: Vec<(&str, gguf::Value)>| {
            let mut md = vec![("general.architecture".to_string(), gguf::Value::from("llama"))];
            md.extend(extra.into_iter().map(|(k, v)| (k.to_string(), v)));
            md
        };
        let m = ModelInfo::from_metadata(&md(vec![
            ("llama.block_count", gguf::Value::U32(2)),
            ("llama.attention.head_count", arr(&[8, 8])),
            ("llama.attention.head_count_kv", arr(&[2, 4])),
        ]))
        .unwrap();
        assert_eq!((m.n_layer, m.n_head, m.n_head_kv, m.n_expert), (2, 8, 2, 0));
        let e = ModelInfo::from_metadata(&md(vec![])).unwrap_err();
        assert!(matches!(e, PolicyError::Metadata { ref key, .. } if key == "llama.block_count"), "{e}");
        let e = ModelInfo::from_metadata(&md(vec![("llama.block_count", gguf::Value::U64(1 << 32))])).unwrap_err();
        assert!(matches!(e, PolicyError::Metadata { ref key, .. } if key == "llama.block_count"), "{e}");
        let e = ModelInfo::from_metadata(&md(vec![("llama.block_count", gguf::Value::from("2"))])).unwrap_err();
        assert!(matches!(e, PolicyError::Hparams(_)), "{e}");
    }

    #[test]
    fn prune_renumbers_blocks_in_llama_order() {
        let names = [
            "blk.10.ffn_up.weight",
            "token_embd.weight",
            "blk.2.attn_q.weight",
            "blk.1.attn_q.weight",
            "blk.0.attn_q.weight",
            "blk.3.x.blk.3.y",
        ];
        let (out, n) = prune_layers(&names, &[1, 3]);
        let out: Vec<Option<&str>> = out.iter().map(|o| o.as_deref()).collect();
        assert_eq!(
            out,
            [Some("blk.2.ffn_up.weight"), Some("token_embd.weight"), Some("blk.1.attn_q.weight"), None, Some("blk.0.attn_q.weight"), None]
        );
        assert_eq!(n, 3);
        assert_eq!(parse_prune_layers(" 3,1,+3,2x").unwrap(), [1, 2, 3]);
        assert!(parse_prune_layers("1,-2").is_err());
        assert!(parse_prune_layers("a").is_err());
        assert!(parse_prune_layers("").is_err());
    }

    #[test]
    fn tensor_type_options_parse_like_llama_quantize() {
        let o = TensorTypeOverride::parse("FFN_(UP|gate)=Q8_0").unwrap();
        assert_eq!((o.pattern.as_str(), o.ty), ("ffn_(up|gate)", GgmlType::Q8_0));
        for bad in ["attn_v", "=q8_0", "attn_v=", "attn_v=q9_9"] {
            assert!(TensorTypeOverride::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn order_is_non_layer_first_then_by_layer_then_name() {
        let names = ["blk.10.a", "output.weight", "blk.2.b", "blk.2.a", "token_embd.weight", "blk.x"];
        let o: Vec<&str> = llama_tensor_order(&names).into_iter().map(|i| names[i]).collect();
        assert_eq!(o, ["blk.x", "output.weight", "token_embd.weight", "blk.2.a", "blk.2.b", "blk.10.a"]);
    }

    #[test]
    fn fallbacks() {
        assert_eq!(fallback("t", 704, GgmlType::Q4_K).unwrap(), (GgmlType::Q5_0, true));
        assert_eq!(fallback("t", 70, GgmlType::Q4_K).unwrap(), (GgmlType::F16, true));
        assert_eq!(fallback("t", 70, GgmlType::Q8_0).unwrap(), (GgmlType::F16, true));
        assert_eq!(fallback("t", 512, GgmlType::Q6_K).unwrap(), (GgmlType::Q6_K, false));
    }
}
