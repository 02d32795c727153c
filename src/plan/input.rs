//! What `plan` reads: a GGUF file, a lone `config.json`, or an HF model folder.

use std::path::{Path, PathBuf};

use gguf::{GgufFile, Value};

use super::error::PlanError;
use super::filesize;
use super::shape::ModelShape;
use super::tensors::PlannedTensor;
use gguf::arch::{self, GgufHparams, PerLayer};

/// Where the model description came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    /// A GGUF file: its own metadata and tensors (sizes exact).
    Gguf,
    /// An HF `config.json` (alone, or in a model folder): tensors and metadata planned the way
    /// the converter writes them — the tensors from the safetensors headers when the weights are
    /// beside it, else from the config; exact when the tokenizer files are beside it, else the
    /// tokenizer metadata is estimated.
    Config,
}

/// A model ready to be planned.
#[derive(Debug, Clone)]
pub struct ModelInput {
    /// The path given.
    pub path: PathBuf,
    /// What it is.
    pub kind: InputKind,
    /// Hyper-parameters.
    pub shape: ModelShape,
    /// Tensors in file order.
    pub tensors: Vec<PlannedTensor>,
    /// The metadata of the file to be written, when known exactly (GGUF input, minus the keys a
    /// quantizer rewrites).
    pub metadata: Option<Vec<(String, Value)>>,
    /// Encoded metadata bytes of the file to be written (exact when `metadata` is known).
    pub metadata_bytes: u64,
    /// Data alignment.
    pub alignment: u64,
}

/// Keys llama-quantize sets on every output (`general.quantization_version`, `general.file_type`,
/// both u32) — their size is the same for every type.
const QUANTIZER_KEYS: &[&str] = &["general.quantization_version", "general.file_type"];
/// Keys llama-quantize removes (`split.*`).
const REMOVED_KEYS: &[&str] = &["split.no", "split.count", "split.tensors.count"];

/// Reads a model description from `path`.
pub fn load(path: &Path) -> Result<ModelInput, PlanError> {
    if path.is_dir() {
        let config = path.join("config.json");
        if config.is_file() {
            return load_config(path, &config);
        }
        return Err(PlanError::UnknownInput { path: path.to_path_buf() });
    }
    let mut magic = [0u8; 4];
    let is_gguf = std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
        .map(|_| &magic == b"GGUF")
        .map_err(|e| PlanError::Io { path: path.to_path_buf(), source: e })?;
    if is_gguf {
        return load_gguf(path);
    }
    if path.extension().is_some_and(|e| e == "json") {
        return load_config(path, path);
    }
    Err(PlanError::UnknownInput { path: path.to_path_buf() })
}

fn load_config(path: &Path, config_path: &Path) -> Result<ModelInput, PlanError> {
    let text = std::fs::read_to_string(config_path).map_err(|e| PlanError::Io { path: config_path.to_path_buf(), source: e })?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| PlanError::Json { path: config_path.to_path_buf(), source: e })?;
    let source = config_path.display().to_string();
    // the one reading of the config: typed, with its config class's defaults (as for `convert`)
    let config = crate::arch::HfConfig::new(json).map_err(|e| PlanError::Config { file: source.clone(), source: e })?;
    let shape = ModelShape::from_hf_config(&config, &source)?;
    shape.check(&source)?;
    let dir = config_path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let converter = |e: crate::arch::ArchError| PlanError::Arch { file: source.clone(), source: e };
    // The converter's own tables: its tensors (names, ggml dims) and its metadata keys. With the
    // weights beside the config, the tensors are those of their safetensors headers (only the
    // headers are read), mapped the way `convert` maps them.
    let named = match checkpoint_tensors(dir, &config)? {
        Some(named) => named,
        None => crate::arch::planned_tensors(&config).map_err(converter)?,
    };
    let tensors: Vec<PlannedTensor> = named
        .into_iter()
        .map(|(name, dims)| {
            let source_type = converter_type(&name, &dims);
            PlannedTensor { name, dims, source_type }
        })
        .collect();
    let n_params = crate::arch::general::ParamCount::of(tensors.iter().map(|t| (t.name.as_str(), t.dims.as_slice())));
    let mut metadata = crate::arch::config_metadata(&config, F16_FILE_TYPE).map_err(converter)?;
    let generation =
        std::fs::read_to_string(dir.join("generation_config.json")).ok().and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok());
    metadata.extend(crate::arch::general::general_keys(dir, &config.file, generation.as_ref(), &n_params));
    metadata.push(("general.quantization_version".into(), Value::U32(0)));
    // With the tokenizer files beside the config the metadata is exact; from a lone config the
    // tokenizer keys (most of the metadata) are estimated.
    let (metadata, metadata_bytes) = match crate::tokenizer::gguf_metadata(dir, &config.file, shape.arch.gguf_name) {
        Ok(tok) => {
            metadata.extend(tok);
            let metadata = dedup_keys(metadata);
            let bytes = filesize::metadata_size(&metadata);
            (Some(metadata), bytes)
        }
        Err(_) => (None, filesize::metadata_size(&dedup_keys(metadata)) + estimated_tokenizer_bytes(&shape)),
    };
    Ok(ModelInput {
        path: path.to_path_buf(),
        kind: InputKind::Config,
        shape,
        tensors,
        metadata,
        metadata_bytes,
        alignment: filesize::DEFAULT_ALIGNMENT,
    })
}

/// A GGUF tensor name and its ggml dims.
type NamedDims = (String, Vec<u64>);

/// The GGUF tensors (name, ggml dims) `convert` writes from the safetensors checkpoint in `dir`,
/// in its order (computed tensors, then the checkpoint's), from the headers alone; `None` when the
/// folder holds no weights or not all of its shards yet (then the config alone decides).
fn checkpoint_tensors(dir: &Path, config: &crate::arch::HfConfig) -> Result<Option<Vec<NamedDims>>, PlanError> {
    use crate::input::{Checkpoint, InputError};
    let ckpt = match Checkpoint::open(dir) {
        Ok(c) => c,
        Err(InputError::NoWeights { .. } | InputError::MissingShard { .. }) => return Ok(None),
        Err(e) => return Err(PlanError::Checkpoint(e)),
    };
    let file = dir.join("config.json").display().to_string();
    let arch_err = |e: crate::arch::ArchError| PlanError::Arch { file: file.clone(), source: e };
    let spec = crate::arch::detect(config).map_err(arch_err)?;
    let dims = crate::arch::Dims::new(config).map_err(arch_err)?;
    let (extra, _) = crate::arch::ConvertSpec::extra(spec, config).map_err(arch_err)?;
    let mut out: Vec<NamedDims> = extra.into_iter().map(|e| (e.name, vec![e.data.len() as u64])).collect();
    let mut mapped = Vec::new();
    for (index, t) in ckpt.tensors().iter().enumerate() {
        let Some(m) = crate::arch::ConvertSpec::map_tensor(spec, &t.name, &dims).map_err(arch_err)? else { continue };
        let shard = ckpt.shard_path(t).display().to_string();
        if let Err(dtype) = &t.dtype {
            return Err(PlanError::Inconsistent {
                file: shard,
                what: format!("tensor {}: dtype {dtype} cannot be converted (F16, BF16 or F32)", t.name),
            });
        }
        let found: Vec<u64> = t.shape.iter().rev().map(|&d| d as u64).collect();
        if found != m.source_dims() {
            return Err(PlanError::Inconsistent {
                file: shard,
                what: format!(
                    "tensor {}: shape {:?}, the config implies {:?}",
                    t.name,
                    t.shape,
                    m.source_dims().iter().rev().collect::<Vec<_>>()
                ),
            });
        }
        mapped.push((index, m));
    }
    let hf_expert = |m: &crate::arch::Mapped, xid: u64| spec.hf_expert_name(&m.name, xid).unwrap_or_default();
    out.extend(
        crate::arch::place(mapped, dims.n_expert, &hf_expert).map_err(arch_err)?.into_iter().map(|p| (p.mapped.name, p.mapped.dims)),
    );
    // What `convert` requires: every tensor the config implies, but for the output projection
    // (llama.cpp falls back on the token embedding).
    for (name, _) in crate::arch::planned_tensors(config).map_err(arch_err)? {
        if name != "output.weight" && !out.iter().any(|(n, _)| *n == name) {
            return Err(PlanError::Inconsistent {
                file: dir.display().to_string(),
                what: format!("tensor {name} is missing from the checkpoint"),
            });
        }
    }
    Ok(Some(out))
}

/// `general.file_type` of the converter's intermediate F16 file (`LLAMA_FTYPE_MOSTLY_F16`); every
/// file type's value is a u32 of the same size.
const F16_FILE_TYPE: u32 = 1;

/// The converter's tensor type in its F16 output (`converter_type` in src/convert).
fn converter_type(name: &str, dims: &[u64]) -> gguf::GgmlType {
    crate::convert::converter_type(name, dims.len(), gguf::GgmlType::F16)
}

/// Keeps the last value of each key, in first-seen order (the converter's `set_key`).
fn dedup_keys(kv: Vec<(String, Value)>) -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = Vec::with_capacity(kv.len());
    for (k, v) in kv {
        match out.iter_mut().find(|(ok, _)| *ok == k) {
            Some(slot) => slot.1 = v,
            None => out.push((k, v)),
        }
    }
    out
}

/// Tokenizer metadata bytes without the tokenizer files: ~24 bytes per token (string length and
/// text, score, token type) and as much again for BPE merges. An estimate.
fn estimated_tokenizer_bytes(shape: &ModelShape) -> u64 {
    48 * shape.n_vocab
}

fn load_gguf(path: &Path) -> Result<ModelInput, PlanError> {
    let file = GgufFile::open(path).map_err(|e| PlanError::Gguf { path: path.to_path_buf(), source: e })?;
    let source = path.display().to_string();
    let shape = shape_from_gguf(&file, &source)?;
    let tensors = file.tensors().iter().map(|t| PlannedTensor { name: t.name.clone(), dims: t.dims.clone(), source_type: t.ty }).collect();
    let mut metadata: Vec<(String, Value)> = file
        .metadata()
        .iter()
        .filter(|(k, _)| !REMOVED_KEYS.contains(&k.as_str()) && !QUANTIZER_KEYS.contains(&k.as_str()))
        .cloned()
        .collect();
    for key in QUANTIZER_KEYS {
        metadata.push((key.to_string(), Value::U32(0)));
    }
    Ok(ModelInput {
        path: path.to_path_buf(),
        kind: InputKind::Gguf,
        shape,
        tensors,
        metadata_bytes: filesize::metadata_size(&metadata),
        alignment: u64::from(file.alignment()),
        metadata: Some(metadata),
    })
}

/// Reads the hyper-parameters from GGUF metadata (the keys llama.cpp's loader reads).
pub fn shape_from_gguf(file: &GgufFile, source: &str) -> Result<ModelShape, PlanError> {
    let missing = |field: &str| PlanError::MissingField { file: source.to_string(), field: field.to_string() };
    let hp = GgufHparams::read(&|k| file.get(k)).map_err(|e| PlanError::Hparams { file: source.to_string(), source: e })?;
    let arch = arch::by_gguf_name(&hp.arch).ok_or_else(|| PlanError::UnsupportedArch {
        file: source.to_string(),
        arch: hp.arch.clone(),
        supported: arch::ARCHITECTURES.iter().map(|a| a.gguf_name).collect::<Vec<_>>().join(", "),
    })?;
    // a key plan needs: present and not 0; a per-layer one the same in every layer
    let need = |v: Option<u64>, k: &str| v.filter(|&v| v > 0).ok_or_else(|| missing(&hp.key(k)));
    let layers = |v: &Option<PerLayer>| v.as_ref().and_then(PerLayer::uniform);
    let n_layer = need(hp.block_count, "block_count")?;
    let n_embd = need(hp.embedding_length, "embedding_length")?;
    let n_head = need(layers(&hp.head_count), "attention.head_count")?;
    let n_head_kv = layers(&hp.head_count_kv).filter(|&v| v > 0).unwrap_or(n_head);
    let head_dim_k = hp.key_length.filter(|&v| v > 0).unwrap_or(n_embd / n_head);
    let head_dim_v = hp.value_length.filter(|&v| v > 0).unwrap_or(head_dim_k);
    let n_ff = need(layers(&hp.feed_forward_length), "feed_forward_length")?;
    let n_ctx_train = need(hp.context_length, "context_length")?;
    let token_embd = file.tensor("token_embd.weight").ok_or_else(|| missing("tensor token_embd.weight"))?;
    let n_vocab = token_embd.dims.get(1).copied().filter(|&v| v > 0).ok_or_else(|| missing("token_embd.weight rows"))?;
    let n_swa = arch.layout.swa.window(hp.sliding_window);
    let (n_expert, n_expert_used, n_ff_exp) = match arch.layout.moe {
        Some(_) => (
            need(hp.expert_count, "expert_count")?,
            need(hp.expert_used_count, "expert_used_count")?,
            need(hp.expert_feed_forward_length, "expert_feed_forward_length")?,
        ),
        None => (hp.expert_count.unwrap_or(0), 0, 0),
    };
    let shape = ModelShape {
        arch,
        n_layer,
        n_embd,
        n_head,
        n_head_kv,
        head_dim_k,
        head_dim_v,
        n_ff,
        n_vocab,
        n_ctx_train,
        n_swa,
        n_expert,
        n_expert_used,
        n_ff_exp,
    };
    shape.check(source)?;
    Ok(shape)
}
