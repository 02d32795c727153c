//! `ggufkit convert`: a Hugging Face checkpoint to GGUF in one streaming pass.
//!
//! 1. Read `config.json`, pick the architecture table ([`crate::arch`]), open the safetensors
//!    shards memory-mapped ([`crate::input`]).
//! 2. Plan every output tensor up front: GGUF name, dims, and type. The type is what the two-step
//!    reference produces: `convert_hf_to_gguf.py --outtype f16|bf16|f32` decides a "converter
//!    type" per tensor (F32 for norms, biases and 1-D tensors), then for quantized file types
//!    llama-quantize's policy ([`quantize::policy`]) picks the final type from the converter's
//!    F16 file. Tensors are ordered as the reference file orders them (converter order for float
//!    outputs, llama-quantize's `weights_map` order for quantized ones).
//! 3. Write header and metadata ([`gguf::GgufWriter`]), then stream tensor data: each tensor is
//!    read from the mmap in slabs of rows, transformed ([`transform`]), rounded to the converter
//!    type, and (when the final type differs) quantized in parallel ([`quantize::quantize_tensor`]).
//!    A writer thread appends the finished slabs while the next ones are quantized (a bounded
//!    channel); consumed checkpoint pages are released slab by slab. No intermediate file;
//!    memory is bounded by a few slabs.
//! 4. Rename into place, then write the Ollama Modelfile `<file>.Modelfile` ([`modelfile`]).

pub mod chat_templates;
pub mod error;
pub mod modelfile;
pub mod transform;

use std::path::{Path, PathBuf};
use std::time::Instant;

use gguf::{GgmlType, GgufWriter, TensorSpec, Value};
use quantize::ftype::FileType;
use quantize::imatrix::ImatrixFile;
use quantize::policy::{ModelInfo, PolicyOptions, TensorRef, TypePolicy};
use serde_json::Value as Json;

pub use error::ConvertError;

use crate::arch::{self, ArchSpec, Dims, HfConfig, Transform};
use crate::input::{Checkpoint, Dtype3};
use transform::{float_size, RowMap, Stage};

/// Elements converted per slab (bounded memory: ~4 M elements ≈ 16 MiB of f32 per buffer).
const SLAB_ELEMENTS: usize = 4 << 20;

/// What to convert and how.
#[derive(Debug, Clone)]
pub struct Options {
    /// The Hugging Face model folder.
    pub model_dir: PathBuf,
    /// The output file type (`F16`, `Q4_K_M`, …).
    pub file_type: FileType,
    /// Output file or folder (`None`: `<model-dir-name>-<TYPE>.gguf` in the current folder).
    pub output: Option<PathBuf>,
    /// Importance matrix for the quantized types.
    pub imatrix: Option<PathBuf>,
    /// Overwrite an existing output.
    pub force: bool,
    /// `general.name` override (the converter's `--model-name`).
    pub name: Option<String>,
    /// The Ollama Modelfile to write next to the output (`None`: none, `--no-modelfile`).
    pub modelfile: Option<modelfile::Options>,
    /// Per-tensor types over the mix's (llama-quantize's `--tensor-type`), for the quantized types.
    pub tensor_types: Vec<quantize::policy::TensorTypeOverride>,
    /// Keys set after the quantizer's edits, for the quantized types (`ggufkit.mix`).
    pub extra_metadata: Vec<(String, Value)>,
}

/// What a conversion produced.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    /// [`crate::numbers::SCHEMA_VERSION`] (`docs/json.md`).
    pub schema_version: u32,
    /// The GGUF file.
    pub output: PathBuf,
    /// The Ollama Modelfile next to it (`None` with `--no-modelfile`).
    pub modelfile: Option<PathBuf>,
    /// Whether that Modelfile was written now (false: an existing one was kept, no `--force`).
    pub modelfile_written: bool,
    /// The chat-template family of its `TEMPLATE` (`None`: no `TEMPLATE`, see `notes`).
    pub chat_template: Option<String>,
    /// Things the user should know (unknown chat template: Ollama will use the raw prompt, …).
    pub notes: Vec<String>,
    /// File type name (`Q4_K_M`).
    pub file_type: String,
    /// `general.architecture`.
    pub architecture: String,
    /// Number of tensors.
    pub n_tensors: usize,
    /// `file_size`, `tensor_bytes`, `n_params`, `bits_per_weight` ([`crate::numbers`]).
    #[serde(flatten)]
    pub numbers: crate::numbers::FileNumbers,
    /// Wall time in seconds.
    pub seconds: f64,
}

/// Where one output tensor's values come from.
#[derive(Debug, Clone)]
enum Source {
    /// Checkpoint tensors (indices into `Checkpoint::tensors`): one, or one per expert stacked.
    Checkpoint {
        indices: Vec<usize>,
        transform: Transform,
        /// Heads of the rotary permutation (0 when none).
        heads: usize,
    },
    /// Computed by the converter (rope factors).
    Computed(Vec<f32>),
}

/// One output tensor, fully decided before anything is written.
#[derive(Debug, Clone)]
struct Planned {
    /// GGUF name.
    name: String,
    /// Hugging Face name (or the GGUF name for computed tensors), for messages.
    hf_name: String,
    /// ggml dims.
    dims: Vec<u64>,
    /// The converter's output type (F32/F16/BF16).
    conv: GgmlType,
    /// The final type.
    ty: GgmlType,
    source: Source,
}

impl Planned {
    fn n_elements(&self) -> u64 {
        self.dims.iter().product()
    }

    /// Bytes of this tensor's data when written as `ty`.
    fn out_bytes_as(&self, ty: GgmlType) -> u64 {
        let n_per_row = self.dims.first().copied().unwrap_or(1).max(1);
        ty.row_size(n_per_row).unwrap_or(0) * (self.n_elements() / n_per_row)
    }
}

/// The converter's float output type for a file type: F32/F16/BF16 as asked, F16 for the
/// quantized types (the reference's first step is `--outtype f16`).
pub fn intermediate_type(ft: FileType) -> GgmlType {
    match ft {
        FileType::AllF32 => GgmlType::F32,
        FileType::MostlyBF16 => GgmlType::BF16,
        _ => GgmlType::F16,
    }
}

/// `prepare_tensors`' rule: 1-D tensors, norms, non-`.weight` tensors and the kinds it lists
/// (the expert router) are written F32.
pub fn converter_type(name: &str, n_dims: usize, outtype: GgmlType) -> GgmlType {
    let listed = || gguf::arch::TensorKind::parse(name).is_some_and(|(k, _, _)| k.always_f32());
    if n_dims <= 1 || name.ends_with("_norm.weight") || !name.ends_with(".weight") || listed() {
        GgmlType::F32
    } else {
        outtype
    }
}

fn read_json(path: &Path, what: &'static str) -> Result<Json, ConvertError> {
    if !path.is_file() {
        return Err(ConvertError::MissingFile { path: path.to_path_buf(), what });
    }
    let text = std::fs::read_to_string(path).map_err(|source| ConvertError::Io { path: path.to_path_buf(), source })?;
    serde_json::from_str(&text).map_err(|source| ConvertError::BadJson { path: path.to_path_buf(), source })
}

/// The default output file name: `<model-dir-name>-<TYPE>.gguf` (for a Hugging Face cache
/// snapshot folder, the repo's name: [`arch::general::model_dir_id`]).
pub fn default_file_name(model_dir: &Path, ft: FileType) -> String {
    let id = arch::general::model_dir_id(model_dir).unwrap_or_else(|| "model".into());
    let dir = id.rsplit('/').next().unwrap_or(&id);
    format!("{dir}-{}.gguf", ft.name())
}

/// Resolves `-o`: absent → default name in the current folder; a folder → default name in it.
pub fn output_path(opts: &Options) -> PathBuf {
    let name = default_file_name(&opts.model_dir, opts.file_type);
    match &opts.output {
        None => PathBuf::from(name),
        Some(p) if p.is_dir() => p.join(name),
        Some(p) => p.clone(),
    }
}

/// Sets `key` like gguf-py's writer: an existing key keeps its place and gets the new value.
fn set_key(md: &mut Vec<(String, Value)>, key: String, value: Value) {
    if let Some(slot) = md.iter_mut().find(|(k, _)| *k == key) {
        slot.1 = value;
    } else {
        md.push((key, value));
    }
}

/// Everything decided before writing: metadata and tensors in file order.
struct Plan {
    spec: &'static ArchSpec,
    metadata: Vec<(String, Value)>,
    tensors: Vec<Planned>,
    ckpt: Checkpoint,
    /// The importance matrix, read once: metadata keys while planning, weights while writing.
    imatrix: Option<ImatrixFile>,
}

/// Reads an importance matrix and rejects non-finite entries.
fn open_imatrix(p: &Path) -> Result<ImatrixFile, ConvertError> {
    let m = ImatrixFile::open(p).map_err(|source| ConvertError::ImatrixFile { path: p.to_path_buf(), source: Box::new(source) })?;
    if let Some((name, i)) = m.first_non_finite() {
        return Err(ConvertError::Imatrix {
            path: p.to_path_buf(),
            reason: format!("entry `{name}` holds a non-finite value at index {i}"),
        });
    }
    Ok(m)
}

fn plan(opts: &Options, file_type: FileType) -> Result<Plan, ConvertError> {
    let dir = &opts.model_dir;
    if !dir.is_dir() {
        return Err(ConvertError::MissingFile { path: dir.clone(), what: "model folder" });
    }
    let config = HfConfig::new(read_json(&dir.join("config.json"), "config.json (the Hugging Face model config)")?)
        .map_err(|e| ConvertError::Arch(e.into()))?;
    if !dir.join("tokenizer.json").is_file() && !dir.join("tokenizer.model").is_file() {
        return Err(ConvertError::MissingFile { path: dir.join("tokenizer.json"), what: "tokenizer (tokenizer.json or tokenizer.model)" });
    }
    let spec = arch::detect(&config)?;
    let dims = Dims::new(&config)?;
    let ckpt = Checkpoint::open(dir)?;
    let outtype = intermediate_type(file_type);

    let (extra, extra_keys) = arch::ConvertSpec::extra(spec, &config)?;
    let mut tensors: Vec<Planned> = extra
        .into_iter()
        .map(|e| Planned {
            name: e.name.clone(),
            hf_name: e.name,
            dims: vec![e.data.len() as u64],
            conv: GgmlType::F32,
            ty: GgmlType::F32,
            source: Source::Computed(e.data),
        })
        .collect();
    let mut mapped = Vec::new();
    for (index, t) in ckpt.tensors().iter().enumerate() {
        let Some(m) = arch::ConvertSpec::map_tensor(spec, &t.name, &dims)? else { continue };
        if let Err(dtype) = &t.dtype {
            return Err(ConvertError::UnsupportedDtype {
                path: ckpt.shard_path(t).to_path_buf(),
                tensor: t.name.clone(),
                dtype: dtype.clone(),
            });
        }
        let found: Vec<u64> = t.shape.iter().rev().map(|&d| d as u64).collect();
        if found != m.source_dims() {
            return Err(ConvertError::ShapeMismatch {
                path: ckpt.shard_path(t).to_path_buf(),
                tensor: t.name.clone(),
                expected: m.source_dims().iter().rev().copied().collect(),
                found: t.shape.iter().map(|&d| d as u64).collect(),
            });
        }
        let heads = match m.transform {
            Transform::PermuteQ => Some(dims.n_head),
            Transform::PermuteK => Some(dims.n_head_kv),
            _ => None,
        };
        if let Some(h) = heads {
            let h = h.max(1);
            let n_rows = t.shape.first().copied().unwrap_or(0);
            if RowMap::permute(n_rows, h as usize).is_none() {
                return Err(ConvertError::ShapeMismatch {
                    path: ckpt.shard_path(t).to_path_buf(),
                    tensor: t.name.clone(),
                    expected: vec![2 * h * (n_rows as u64 / (2 * h)).max(1), t.shape.get(1).copied().unwrap_or(1) as u64],
                    found: t.shape.iter().map(|&d| d as u64).collect(),
                });
            }
        }
        mapped.push((index, m));
    }
    let hf_expert = |m: &arch::Mapped, xid: u64| spec.hf_expert_name(&m.name, xid).unwrap_or_default();
    for p in arch::place(mapped, dims.n_expert, &hf_expert)? {
        let m = p.mapped;
        let heads = match m.transform {
            Transform::PermuteQ => dims.n_head.max(1),
            Transform::PermuteK => dims.n_head_kv.max(1),
            _ => 0,
        };
        let hf_name = ckpt.tensors().get(p.sources[0]).map(|t| t.name.clone()).unwrap_or_default();
        let conv = converter_type(&m.name, m.dims.len(), outtype);
        tensors.push(Planned {
            name: m.name,
            hf_name,
            dims: m.dims,
            conv,
            ty: conv,
            source: Source::Checkpoint { indices: p.sources, transform: m.transform, heads: heads as usize },
        });
    }
    // Every tensor the config implies must be there (the output projection may be absent:
    // llama.cpp then uses the token embedding, as for tied embeddings).
    for (name, _) in arch::planned_tensors(&config)? {
        if name != "output.weight" && !tensors.iter().any(|t| t.name == name) {
            return Err(ConvertError::MissingTensor { dir: dir.clone(), tensor: name, arch: spec.gguf_name });
        }
    }

    // Metadata, in the converter's order.
    let n_params = arch::general::ParamCount::of(tensors.iter().map(|t| (t.name.as_str(), t.dims.as_slice())));
    let generation = read_json(&dir.join("generation_config.json"), "generation_config.json").ok();
    let mut metadata: Vec<(String, Value)> = vec![(arch::keys::ARCHITECTURE.to_string(), Value::String(spec.gguf_name.to_string()))];
    metadata.extend(extra_keys);
    for (k, v) in arch::general::general_keys(dir, &config.file, generation.as_ref(), &n_params) {
        let v = match (&opts.name, k.as_str()) {
            (Some(n), "general.name") => Value::String(n.clone()),
            _ => v,
        };
        set_key(&mut metadata, k, v);
    }
    let converter_ftype = match file_type {
        FileType::AllF32 | FileType::MostlyBF16 => file_type,
        _ => FileType::MostlyF16,
    };
    for (k, v) in arch::model_params(spec, &config, converter_ftype.id())? {
        set_key(&mut metadata, k, v);
    }
    set_key(&mut metadata, "general.quantization_version".into(), Value::U32(quantize::metadata::GGML_QNT_VERSION));
    let tok = crate::tokenizer::gguf_metadata(dir, &config.file, spec.gguf_name).map_err(ConvertError::Tokenizer)?;
    for (k, v) in tok {
        set_key(&mut metadata, k, v);
    }

    let imatrix = opts.imatrix.as_deref().map(open_imatrix).transpose()?;

    // The quantized types: llama-quantize's view of the converter's F16 file.
    if !matches!(file_type, FileType::AllF32 | FileType::MostlyF16 | FileType::MostlyBF16) {
        let model = ModelInfo {
            arch: spec.gguf_name.to_string(),
            n_layer: dims.n_layer as u32,
            n_expert: dims.n_expert as u32,
            n_head: dims.n_head as u32,
            n_head_kv: dims.n_head_kv as u32,
        };
        let options =
            PolicyOptions { has_imatrix: opts.imatrix.is_some(), tensor_types: opts.tensor_types.clone(), ..PolicyOptions::default() };
        let policy = TypePolicy::new(file_type, options, &model).map_err(ConvertError::Policy)?;
        let refs: Vec<TensorRef> = tensors.iter().map(|t| TensorRef { name: &t.name, dims: &t.dims, ty: t.conv }).collect();
        let choices = policy.choose_types(&refs).map_err(ConvertError::Policy)?;
        for (t, c) in tensors.iter_mut().zip(choices) {
            t.ty = c.ty;
        }
        let names: Vec<&str> = tensors.iter().map(|t| t.name.as_str()).collect();
        let order = quantize::policy::llama_tensor_order(&names);
        let mut slots: Vec<Option<Planned>> = tensors.into_iter().map(Some).collect();
        tensors = order.into_iter().filter_map(|i| slots.get_mut(i).and_then(Option::take)).collect();
        // llama-quantize copies the metadata, then edits it (remove + append) as this does
        quantize::metadata::apply_quantize_edits(&mut metadata, file_type, imatrix.as_ref().zip(opts.imatrix.as_deref()));
        for (k, v) in &opts.extra_metadata {
            quantize::metadata::set(&mut metadata, k, v.clone());
        }
    }
    Ok(Plan { spec, metadata, tensors, ckpt, imatrix })
}

/// One output of a shared pass: its file type, its per-tensor types (in the pass's tensor order)
/// and its pipe to a writer thread.
struct Sink {
    file_type: FileType,
    types: Vec<GgmlType>,
    pipe: Pipe,
}

/// Produces one tensor's data, slab by slab, into every sink's [`Pipe`]: each slab of the
/// checkpoint is read, transformed and rounded to the converter type once, then copied (outputs
/// that keep the converter type) or quantized (the others) for each output in turn.
fn write_tensor(
    sinks: &mut [Sink],
    i: usize,
    ckpt: &Checkpoint,
    t: &Planned,
    imatrix: Option<&[f32]>,
    buf: &mut Vec<u8>,
) -> Result<(), ConvertError> {
    let n_per_row = t.dims.first().copied().unwrap_or(1) as usize;
    let n_rows = (t.n_elements() as usize).checked_div(n_per_row).unwrap_or(0);
    match &t.source {
        Source::Computed(v) => {
            let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
            let stage = Stage { src: &bytes, dtype: Dtype3::F32, n_per_row, rows: RowMap::IDENTITY, add_one: false, out: t.conv };
            write_rows(sinks, i, t, &stage, n_rows, None, Path::new("<computed>"), ckpt, imatrix, buf)
        }
        Source::Checkpoint { indices, transform, heads } => {
            // a stacked tensor is its experts' rows one after the other
            let part_rows = n_rows / indices.len().max(1);
            for (k, index) in indices.iter().enumerate() {
                // each expert of a stacked tensor has its own slice of the importance data
                // (llama-quantize's per-matrix weights); `imatrix_for` checked the length
                let imatrix = match imatrix {
                    Some(w) if indices.len() > 1 => w.get(k * n_per_row..(k + 1) * n_per_row),
                    other => other,
                };
                let Some(e) = ckpt.tensors().get(*index) else {
                    return Err(ConvertError::MissingTensor { dir: PathBuf::new(), tensor: t.hf_name.clone(), arch: "?" });
                };
                let dtype = e.dtype.clone().map_err(|d| ConvertError::UnsupportedDtype {
                    path: ckpt.shard_path(e).to_path_buf(),
                    tensor: e.name.clone(),
                    dtype: d,
                })?;
                // the head count was checked against the row count while planning
                let rows = if *heads > 0 { RowMap::permute(part_rows, *heads).unwrap_or(RowMap::IDENTITY) } else { RowMap::IDENTITY };
                let stage = Stage { src: ckpt.data(e), dtype, n_per_row, rows, add_one: *transform == Transform::AddOne, out: t.conv };
                write_rows(sinks, i, t, &stage, part_rows, Some(e), ckpt.shard_path(e), ckpt, imatrix, buf)?;
            }
            Ok(())
        }
    }
}

/// Converts `n_rows` rows of one source through `stage` into every sink, slab by slab, releasing
/// the checkpoint pages of `entry` behind it.
#[allow(clippy::too_many_arguments)] // one tensor's slab loop: its sinks, source and buffers
fn write_rows(
    sinks: &mut [Sink],
    i: usize,
    t: &Planned,
    stage: &Stage<'_>,
    n_rows: usize,
    entry: Option<&crate::input::TensorEntry>,
    path: &Path,
    ckpt: &Checkpoint,
    imatrix: Option<&[f32]>,
    buf: &mut Vec<u8>,
) -> Result<(), ConvertError> {
    let n_per_row = stage.n_per_row;
    let slab_rows = (SLAB_ELEMENTS / n_per_row.max(1)).max(1);
    let conv_row_bytes = n_per_row * float_size(t.conv);
    let src_row_bytes = n_per_row * stage.dtype.size();
    let mut released = 0;
    let mut r = 0;
    while r < n_rows {
        let nr = slab_rows.min(n_rows - r);
        let non_finite = |index| ConvertError::NonFinite { path: path.to_path_buf(), tensor: t.hf_name.clone(), index };
        buf.resize(nr * conv_row_bytes, 0);
        stage.convert_rows(r, buf).map_err(non_finite)?;
        for sink in sinks.iter_mut() {
            let ty = sink.types[i];
            let mut out = sink.pipe.buffer();
            if ty == t.conv {
                out.clear();
                out.extend_from_slice(buf);
            } else {
                let row_size = ty.row_size(n_per_row as u64).unwrap_or(0) as usize;
                out.resize(nr * row_size, 0);
                let source = match t.conv {
                    GgmlType::F32 => quantize::Source::F32(buf),
                    GgmlType::BF16 => quantize::Source::BF16(buf),
                    _ => quantize::Source::F16(buf),
                };
                quantize::quantize_tensor(ty, source, n_per_row, imatrix, &mut out).map_err(|source| match source {
                    quantize::QuantizeError::NonFinite { index } => non_finite(r * n_per_row + index),
                    source => ConvertError::Quantize { tensor: t.hf_name.clone(), gguf: t.name.clone(), source },
                })?;
            }
            sink.pipe.send(out)?;
        }
        r += nr;
        // the checkpoint rows below `consumed` are done with: drop their pages now, so that the
        // resident part of the mapping stays about one slab whatever the tensor's size
        if let Some(e) = entry {
            let consumed = stage.rows.consumed_below(r) * src_row_bytes;
            ckpt.release_range(e, released, consumed);
            released = consumed;
        }
    }
    if let Some(e) = entry {
        ckpt.release(e);
    }
    Ok(())
}

/// Slabs in flight between the quantizing thread and the writer thread: the quantizer runs
/// ahead of the output I/O by at most this many slabs (bounded memory).
const PIPE_DEPTH: usize = 2;

/// The producer's end of the writer thread: full slabs go out in order, emptied buffers come
/// back for reuse.
struct Pipe {
    full: std::sync::mpsc::SyncSender<Vec<u8>>,
    empty: std::sync::mpsc::Receiver<Vec<u8>>,
}

impl Pipe {
    /// A buffer back from the writer, or a new one when none has come back yet (so at most
    /// `PIPE_DEPTH + 2` exist: queued, being written, being filled). It keeps its old length and
    /// bytes: the caller resizes it (zeroing only growth) and overwrites every byte.
    fn buffer(&mut self) -> Vec<u8> {
        self.empty.try_recv().unwrap_or_default()
    }

    /// Hands a slab to the writer; fails only when the writer thread has stopped (its own error
    /// is then the one reported).
    fn send(&mut self, slab: Vec<u8>) -> Result<(), ConvertError> {
        self.full.send(slab).map_err(|_| ConvertError::WriterStopped)
    }
}

/// Writes slabs in arrival order until the producer hangs up; returns the writer for `finish`.
fn writer_loop(
    mut w: GgufWriter,
    full: std::sync::mpsc::Receiver<Vec<u8>>,
    empty: std::sync::mpsc::Sender<Vec<u8>>,
) -> Result<GgufWriter, ConvertError> {
    for slab in full {
        w.write_tensor_data(&slab)?;
        // the producer may be gone already (it failed): then the buffer is simply dropped
        let _ = empty.send(slab);
    }
    Ok(w)
}

/// The importance data llama-quantize uses for a tensor: the entry of the same name when it has
/// ne0 values per matrix (`ne0 × n_expert` for a stacked expert tensor; the token embedding
/// never has usable data: a size mismatch there is ignored, elsewhere an error).
fn imatrix_for<'m>(plan: &'m Plan, opts: &Options, t: &Planned) -> Result<Option<&'m [f32]>, ConvertError> {
    let expected = t.dims.first().copied().unwrap_or(0) * t.dims.get(2).copied().unwrap_or(1);
    match plan.imatrix.as_ref().and_then(|m| m.get(&t.name)) {
        Some(v) if v.len() as u64 != expected => {
            if t.name == "token_embd.weight" {
                Ok(None)
            } else {
                Err(ConvertError::Imatrix {
                    path: opts.imatrix.clone().unwrap_or_default(),
                    reason: format!("entry `{}` has {} values, expected {expected} for tensor shape {:?}", t.name, v.len(), t.dims),
                })
            }
        }
        other => Ok(other),
    }
}

/// Converts every tensor of `plan` once, in file order, into every sink; `progress` counts the
/// bytes of all outputs of all passes.
fn produce(plan: &Plan, opts: &Options, sinks: &mut [Sink], progress: &mut ProgressCounter<'_>) -> Result<(), ConvertError> {
    let mut buf = Vec::new();
    for (i, t) in plan.tensors.iter().enumerate() {
        let im = imatrix_for(plan, opts, t)?;
        let mut needs_im = false;
        for sink in sinks.iter() {
            let ty = sink.types[i];
            if ty != t.conv && im.is_none() && quantize::policy::requires_imatrix(&t.name, ty, sink.file_type) {
                return Err(ConvertError::Imatrix {
                    path: opts.imatrix.clone().unwrap_or_default(),
                    reason: format!("tensor `{}`: quantizing to {} needs importance data for it (--imatrix)", t.name, ty.name()),
                });
            }
            needs_im |= ty != t.conv;
        }
        write_tensor(sinks, i, &plan.ckpt, t, if needs_im { im } else { None }, &mut buf)?;
        let bytes: u64 = sinks.iter().map(|s| t.out_bytes_as(s.types[i])).sum();
        progress.advance(bytes, 1);
    }
    Ok(())
}

/// Progress of a conversion, reported after planning and after each tensor.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// Tensor data bytes written so far.
    pub bytes: u64,
    /// Tensor data bytes in all.
    pub total_bytes: u64,
    /// Tensors written so far.
    pub tensors: usize,
    /// Tensors in all.
    pub total_tensors: usize,
}

/// Progress over all outputs of a conversion.
struct ProgressCounter<'a> {
    done: Progress,
    report: &'a mut dyn FnMut(Progress),
}

impl ProgressCounter<'_> {
    fn advance(&mut self, bytes: u64, tensors: usize) {
        self.done.bytes += bytes;
        self.done.tensors += tensors;
        (self.report)(self.done);
    }
}

/// One output of [`convert_many`].
#[derive(Debug, Clone)]
pub struct Output {
    /// Its file type.
    pub file_type: FileType,
    /// The GGUF file to write.
    pub path: PathBuf,
    /// Also write the Ollama Modelfile `<stem>.Modelfile` next to it.
    pub modelfile: bool,
}

/// Resolves the outputs of `convert -t A,B,…`: one type → as [`output_path`]; several types → each
/// `<model-dir-name>-<TYPE>.gguf` in the folder `-o` names (or the current folder).
pub fn outputs_for(opts: &Options, types: &[FileType]) -> Result<Vec<Output>, ConvertError> {
    if let [ft] = types {
        let one = Options { file_type: *ft, ..opts.clone() };
        return Ok(vec![Output { file_type: *ft, path: output_path(&one), modelfile: true }]);
    }
    let dir = match &opts.output {
        None => PathBuf::new(),
        Some(p) if p.is_dir() => p.clone(),
        Some(p) => return Err(ConvertError::MultiTypeOutput(p.clone())),
    };
    Ok(types.iter().map(|&ft| Output { file_type: ft, path: dir.join(default_file_name(&opts.model_dir, ft)), modelfile: true }).collect())
}

/// The exact size in bytes of the file `convert` writes for `file_type`, from the checkpoint's
/// headers, the config and the tokenizer only (no tensor data is read).
pub fn predicted_size(opts: &Options, file_type: FileType) -> Result<u64, ConvertError> {
    let plan = plan(opts, file_type)?;
    let specs: Vec<TensorSpec> = plan.tensors.iter().map(|t| TensorSpec::new(t.name.clone(), &t.dims, t.ty)).collect();
    Ok(gguf::layout(&plan.metadata, &specs)?.file_size)
}

/// Whether two plans can share one pass: the same tensors in the same order with the same
/// converter types (all quantized types share llama-quantize's order and the F16 rounding; F32,
/// F16 and BF16 outputs each need their own pass).
fn same_pass(a: &Plan, b: &Plan) -> bool {
    a.tensors.len() == b.tensors.len() && a.tensors.iter().zip(&b.tensors).all(|(x, y)| x.name == y.name && x.conv == y.conv)
}

/// The checks on the output paths that come before any work: no path twice, none that exists
/// (unless `--force`).
pub fn check_outputs(opts: &Options, outputs: &[Output]) -> Result<(), ConvertError> {
    for (k, o) in outputs.iter().enumerate() {
        if outputs[..k].iter().any(|p| p.path == o.path) {
            return Err(ConvertError::DuplicateOutput(o.path.clone()));
        }
        if o.path.exists() && !opts.force {
            return Err(ConvertError::OutputExists(o.path.clone()));
        }
    }
    Ok(())
}

/// Converts a model into several outputs, reading and converting each checkpoint tensor once per
/// pass: all quantized outputs share one pass (each output is the file a single-type conversion
/// writes, byte for byte), float outputs of another rounding get a pass of their own.
/// `opts.file_type` and `opts.output` are not used: `outputs` says what to write.
pub fn convert_many(opts: &Options, outputs: &[Output], on_progress: &mut dyn FnMut(Progress)) -> Result<Vec<Summary>, ConvertError> {
    check_outputs(opts, outputs)?;
    // Plan every output (headers only), then group the outputs that can share a pass; a pass
    // reads the checkpoint through its first plan.
    struct Member {
        index: usize,
        types: Vec<GgmlType>,
        metadata: Vec<(String, Value)>,
    }
    let mut groups: Vec<(Plan, Vec<Member>)> = Vec::new();
    for (index, o) in outputs.iter().enumerate() {
        let p = plan(opts, o.file_type)?;
        let member = Member { index, types: p.tensors.iter().map(|t| t.ty).collect(), metadata: p.metadata.clone() };
        match groups.iter_mut().find(|(g, _)| same_pass(g, &p)) {
            Some((_, members)) => members.push(member),
            None => groups.push((p, vec![member])),
        }
    }
    let total_bytes: u64 = groups
        .iter()
        .flat_map(|(p, members)| {
            members.iter().map(move |m| p.tensors.iter().zip(&m.types).map(|(t, &ty)| t.out_bytes_as(ty)).sum::<u64>())
        })
        .sum();
    let total_tensors: usize = groups.iter().map(|(p, _)| p.tensors.len()).sum();
    let mut progress = ProgressCounter { done: Progress { bytes: 0, total_bytes, tensors: 0, total_tensors }, report: on_progress };
    (progress.report)(progress.done);

    let mut summaries: Vec<Option<Summary>> = vec![None; outputs.len()];
    for (plan, members) in &groups {
        let started = Instant::now();
        let mut writers = Vec::with_capacity(members.len());
        for m in members {
            let specs: Vec<TensorSpec> =
                plan.tensors.iter().zip(&m.types).map(|(t, &ty)| TensorSpec::new(t.name.clone(), &t.dims, ty)).collect();
            writers.push(GgufWriter::create(&outputs[m.index].path, &m.metadata, &specs)?);
        }
        // Output I/O runs on one thread per output, concurrently with converting and quantizing
        // the next slabs (rayon's threads); the bounded channels keep the slabs in flight to
        // PIPE_DEPTH per output.
        let (produced, joined) = std::thread::scope(|s| {
            let mut sinks = Vec::with_capacity(members.len());
            let mut handles = Vec::with_capacity(members.len());
            for (m, w) in members.iter().zip(writers) {
                let (full_tx, full_rx) = std::sync::mpsc::sync_channel(PIPE_DEPTH);
                let (empty_tx, empty_rx) = std::sync::mpsc::channel();
                handles.push(s.spawn(move || writer_loop(w, full_rx, empty_tx)));
                sinks.push(Sink {
                    file_type: outputs[m.index].file_type,
                    types: m.types.clone(),
                    pipe: Pipe { full: full_tx, empty: empty_rx },
                });
            }
            let produced = produce(plan, opts, &mut sinks, &mut progress);
            drop(sinks); // hang up: the writers drain what is queued and return
            (produced, handles.into_iter().map(|h| h.join()).collect::<Vec<_>>())
        });
        // A writer's own error first: a producer that saw it stop only reports WriterStopped. A
        // writer dropped unfinished removes its temporary file.
        let mut finished = Vec::with_capacity(joined.len());
        for j in joined {
            match j {
                Err(_) => return Err(ConvertError::WriterStopped),
                Ok(Err(e)) => return Err(e),
                Ok(Ok(w)) => finished.push(w),
            }
        }
        produced?;
        // without --force a file that appeared at an output path meanwhile (a second conversion
        // to the same path) is never replaced: of two racing conversions one wins, the other errors
        for w in finished {
            if opts.force {
                w.finish()?;
            } else {
                w.finish_new().map_err(|e| match e {
                    gguf::GgufError::OutputExists { path } => ConvertError::OutputExists(path),
                    e => e.into(),
                })?;
            }
        }
        let seconds = started.elapsed().as_secs_f64();
        let n_params: u64 = plan.tensors.iter().map(Planned::n_elements).sum();
        for m in members {
            let o = &outputs[m.index];
            let file_size = std::fs::metadata(&o.path).map_err(|source| ConvertError::Io { path: o.path.clone(), source })?.len();
            let written = match (&opts.modelfile, o.modelfile) {
                (Some(mo), true) => Some(
                    modelfile::write(&o.path, &m.metadata, mo, opts.force)
                        .map_err(|source| ConvertError::Io { path: modelfile::path_for(&o.path), source })?,
                ),
                _ => None,
            };
            let tensor_bytes: u64 = plan.tensors.iter().zip(&m.types).map(|(t, &ty)| t.out_bytes_as(ty)).sum();
            summaries[m.index] = Some(Summary {
                schema_version: crate::numbers::SCHEMA_VERSION,
                output: o.path.clone(),
                modelfile: written.as_ref().map(|w| w.path.clone()),
                modelfile_written: written.as_ref().is_some_and(|w| w.written),
                chat_template: written.as_ref().and_then(|w| w.modelfile.family).map(str::to_string),
                notes: written.map(|w| w.modelfile.notes).unwrap_or_default(),
                file_type: o.file_type.name().to_string(),
                architecture: plan.spec.gguf_name.to_string(),
                n_tensors: plan.tensors.len(),
                numbers: crate::numbers::FileNumbers::new(file_size, tensor_bytes, n_params),
                seconds,
            });
        }
    }
    Ok(summaries.into_iter().flatten().collect())
}
