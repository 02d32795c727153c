//! What `plan` reads: a GGUF file, a lone `config.json`, or an HF model folder.

use std::path::{Path, PathBuf};

use gguf::{GgufFile, Value};

use super::arch;
use super::error::PlanError;
use super::filesize;
use super::shape::ModelShape;
use super::tensors::{planned_tensors, PlannedTensor};

/// Where the model description came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    /// A GGUF file: its own metadata and tensors (sizes exact).
    Gguf,
    /// An HF `config.json` alone: tensors planned from the hyper-parameters, tokenizer metadata
    /// estimated (sizes approximate).
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

fn load_config(path: &Path, config: &Path) -> Result<ModelInput, PlanError> {
    let text = std::fs::read_to_string(config).map_err(|e| PlanError::Io { path: config.to_path_buf(), source: e })?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| PlanError::Json { path: config.to_path_buf(), source: e })?;
    let source = config.display().to_string();
    let shape = ModelShape::from_hf_config(&json, &source)?;
    shape.check(&source)?;
    let tensors = planned_tensors(&shape);
    // With the tokenizer files beside the config, the tokenizer keys are exact (they are most of
    // the metadata); the architecture and general keys are estimated.
    let dir = config.parent().unwrap_or(Path::new("."));
    let metadata_bytes = match crate::tokenizer::gguf_metadata(dir, &json, shape.arch.gguf_arch) {
        Ok(tok) => filesize::metadata_size(&tok) + NON_TOKENIZER_METADATA_BYTES,
        Err(_) => estimated_metadata_bytes(&shape),
    };
    Ok(ModelInput {
        path: path.to_path_buf(),
        kind: InputKind::Config,
        shape,
        tensors,
        metadata: None,
        metadata_bytes,
        alignment: filesize::DEFAULT_ALIGNMENT,
    })
}

/// Encoded bytes of the `general.*` and architecture keys the converter writes: 700–900 bytes on
/// the fixtures and SmolLM2 (an estimate; it depends on names and optional keys).
const NON_TOKENIZER_METADATA_BYTES: u64 = 1024;

/// Metadata bytes when only the config is known: about 2 KiB of architecture and general keys
/// plus the tokenizer arrays, ~24 bytes per token (string length and text, score, token type)
/// and as much again for BPE merges. An estimate: the file size is then approximate.
fn estimated_metadata_bytes(shape: &ModelShape) -> u64 {
    2048 + 48 * shape.n_vocab
}

fn load_gguf(path: &Path) -> Result<ModelInput, PlanError> {
    let file = GgufFile::open(path).map_err(|e| PlanError::Gguf { path: path.to_path_buf(), source: e })?;
    let source = path.display().to_string();
    let shape = shape_from_gguf(&file, &source)?;
    let tensors = file
        .tensors()
        .iter()
        .map(|t| PlannedTensor { name: t.name.clone(), dims: t.dims.clone(), source_type: t.ty })
        .collect();
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
    let arch_name = file.get("general.architecture").and_then(|v| v.as_str()).ok_or_else(|| missing("general.architecture"))?;
    let arch = arch::by_gguf_name(arch_name).ok_or_else(|| PlanError::UnsupportedArch {
        file: source.to_string(),
        arch: arch_name.to_string(),
        supported: arch::ARCHES.iter().map(|a| a.gguf_arch).collect::<Vec<_>>().join(", "),
    })?;
    let key = |k: &str| format!("{arch_name}.{k}");
    let get = |k: &str| file.get(&key(k)).and_then(|v| v.as_u64());
    let need = |k: &str| get(k).filter(|&v| v > 0).ok_or_else(|| missing(&key(k)));
    let n_layer = need("block_count")?;
    let n_embd = need("embedding_length")?;
    let n_head = need("attention.head_count")?;
    let n_head_kv = get("attention.head_count_kv").filter(|&v| v > 0).unwrap_or(n_head);
    let head_dim_k = get("attention.key_length").filter(|&v| v > 0).unwrap_or(n_embd / n_head);
    let head_dim_v = get("attention.value_length").filter(|&v| v > 0).unwrap_or(head_dim_k);
    let n_ff = need("feed_forward_length")?;
    let n_ctx_train = need("context_length")?;
    let token_embd = file.tensor("token_embd.weight").ok_or_else(|| missing("tensor token_embd.weight"))?;
    let n_vocab = token_embd.dims.get(1).copied().filter(|&v| v > 0).ok_or_else(|| missing("token_embd.weight rows"))?;
    let n_swa = match arch.swa {
        arch::SwaRule::None => None,
        arch::SwaRule::EvenLayers => Some(get("attention.sliding_window").filter(|&w| w > 0).unwrap_or(super::shape::DEFAULT_SWA)),
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
        tied_embeddings: file.tensor("output.weight").is_none(),
        rope_factors: file.tensor("rope_factors_long.weight").map(|t| t.n_elements()),
    };
    shape.check(source)?;
    Ok(shape)
}
