//! Hugging Face safetensors checkpoints: one `model.safetensors`, or shards listed by
//! `model.safetensors.index.json`, memory-mapped (never read whole into RAM).
//!
//! The tensor order is the one the pinned `convert_hf_to_gguf.py` sees: shard files sorted by name,
//! and inside each shard tensors sorted by name. As a tensor is consumed,
//! [`Checkpoint::release_range`] drops its pages from this process (`madvise(MADV_DONTNEED)`) slab
//! by slab, so peak RSS stays bounded by a few slabs, whatever the model or tensor size.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use safetensors::{Dtype, SafeTensors};

/// Errors reading a checkpoint; each names the file or tensor at fault.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// No weights file in the model folder.
    #[error("{dir}: no model.safetensors, model-*.safetensors shards or model.safetensors.index.json found (only safetensors checkpoints are supported)")]
    NoWeights {
        /// The model folder.
        dir: PathBuf,
    },
    /// A file could not be opened or mapped.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The index file is not JSON.
    #[error("{path}: the safetensors index is not valid JSON: {source}")]
    IndexJson {
        /// The index file.
        path: PathBuf,
        /// The parser's error (line and column).
        #[source]
        source: serde_json::Error,
    },
    /// The index file is not the expected JSON.
    #[error("{path}: invalid safetensors index: {reason}")]
    BadIndex {
        /// The index file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A shard named by the index does not exist.
    #[error("{path}: shard named by model.safetensors.index.json is missing (it holds {n_tensors} tensors, e.g. `{example}`)")]
    MissingShard {
        /// The missing shard.
        path: PathBuf,
        /// How many tensors the index puts there.
        n_tensors: usize,
        /// One of them.
        example: String,
    },
    /// A shard's header cannot be parsed.
    #[error("{path}: invalid safetensors header: {reason}")]
    BadHeader {
        /// The shard.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A shard is shorter (or longer) than its header says.
    #[error("{path}: truncated or corrupt shard: header declares {expected} bytes, file has {found}")]
    Truncated {
        /// The shard.
        path: PathBuf,
        /// Size implied by the header.
        expected: u64,
        /// Actual size.
        found: u64,
    },
    /// The index names a tensor its shard does not hold.
    #[error("{index}: tensor `{tensor}` is mapped to {shard}, which does not contain it")]
    AbsentTensor {
        /// The index file.
        index: PathBuf,
        /// The tensor.
        tensor: String,
        /// The shard the index names.
        shard: String,
    },
    /// A shard holds a tensor that the index does not list.
    #[error("{path}: tensor `{tensor}` is not listed in model.safetensors.index.json")]
    UnindexedTensor {
        /// The shard.
        path: PathBuf,
        /// The tensor.
        tensor: String,
    },
    /// The same tensor name occurs in two shards.
    #[error("tensor `{tensor}` occurs in both {first} and {second}")]
    DuplicateTensor {
        /// The tensor.
        tensor: String,
        /// First shard.
        first: PathBuf,
        /// Second shard.
        second: PathBuf,
    },
}

/// A floating-point element type of a checkpoint tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dtype3 {
    /// IEEE half precision.
    F16,
    /// bfloat16.
    BF16,
    /// IEEE single precision.
    F32,
}

impl Dtype3 {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Dtype3::F16 | Dtype3::BF16 => 2,
            Dtype3::F32 => 4,
        }
    }
}

/// One tensor of a checkpoint: where its bytes are.
#[derive(Debug, Clone)]
pub struct TensorEntry {
    /// The Hugging Face tensor name.
    pub name: String,
    /// Element type, or `Err(dtype name)` for types we cannot convert (reported when used).
    pub dtype: Result<Dtype3, String>,
    /// Shape in PyTorch order (`shape[last]` = row length).
    pub shape: Vec<usize>,
    /// Index of the shard in [`Checkpoint::shards`].
    pub shard: usize,
    /// Byte range inside the shard file.
    pub start: usize,
    /// End of the byte range (exclusive).
    pub end: usize,
}

/// One memory-mapped shard.
pub struct Shard {
    /// Its path.
    pub path: PathBuf,
    mmap: Mmap,
}

/// A checkpoint: all tensors of all shards, in the reference converter's order.
pub struct Checkpoint {
    shards: Vec<Shard>,
    tensors: Vec<TensorEntry>,
}

impl Checkpoint {
    /// Opens the safetensors weights of a model folder.
    pub fn open(dir: &Path) -> Result<Checkpoint, InputError> {
        let index_path = dir.join("model.safetensors.index.json");
        let mut weight_map: Option<BTreeMap<String, String>> = None;
        let mut part_names: Vec<String> = Vec::new();
        if index_path.is_file() {
            let text = std::fs::read_to_string(&index_path).map_err(|source| InputError::Io { path: index_path.clone(), source })?;
            let json: serde_json::Value =
                serde_json::from_str(&text).map_err(|source| InputError::IndexJson { path: index_path.clone(), source })?;
            let map = json
                .get("weight_map")
                .and_then(|m| m.as_object())
                .ok_or_else(|| InputError::BadIndex { path: index_path.clone(), reason: "no `weight_map` object".into() })?;
            let mut wm = BTreeMap::new();
            for (k, v) in map {
                let shard = v.as_str().ok_or_else(|| InputError::BadIndex {
                    path: index_path.clone(),
                    reason: format!("weight_map entry `{k}` is not a file name"),
                })?;
                if shard.contains('/') || shard.contains('\\') || shard.starts_with('.') {
                    return Err(InputError::BadIndex {
                        path: index_path.clone(),
                        reason: format!("weight_map entry `{k}` names `{shard}`, which is not a file of the model folder"),
                    });
                }
                wm.insert(k.clone(), shard.to_string());
            }
            let parts: BTreeSet<&String> = wm.values().collect();
            part_names = parts.into_iter().cloned().collect();
            weight_map = Some(wm);
        } else {
            let rd = std::fs::read_dir(dir).map_err(|source| InputError::Io { path: dir.to_path_buf(), source })?;
            for e in rd.flatten() {
                let n = e.file_name().to_string_lossy().into_owned();
                if n.starts_with("model") && n.ends_with(".safetensors") {
                    part_names.push(n);
                }
            }
            part_names.sort();
        }
        if part_names.is_empty() {
            return Err(InputError::NoWeights { dir: dir.to_path_buf() });
        }

        let mut shards = Vec::new();
        let mut tensors = Vec::new();
        let mut by_name: BTreeMap<String, usize> = BTreeMap::new();
        for part in &part_names {
            let path = dir.join(part);
            if !path.is_file() {
                if let Some(wm) = &weight_map {
                    let names: Vec<&String> = wm.iter().filter(|(_, s)| *s == part).map(|(k, _)| k).collect();
                    return Err(InputError::MissingShard {
                        path,
                        n_tensors: names.len(),
                        example: names.first().map(|s| s.to_string()).unwrap_or_default(),
                    });
                }
            }
            let file = File::open(&path).map_err(|source| InputError::Io { path: path.clone(), source })?;
            let found = file.metadata().map_err(|source| InputError::Io { path: path.clone(), source })?.len();
            if found < 8 {
                return Err(InputError::Truncated { path, expected: 8, found });
            }
            // SAFETY: the file is opened read-only and mapped privately; we never create a mutable
            // view. A concurrent truncation by another process would fault, as with any mmap reader.
            let mmap = unsafe { Mmap::map(&file) }.map_err(|source| InputError::Io { path: path.clone(), source })?;
            let (header_len, meta) = SafeTensors::read_metadata(&mmap[..]).map_err(|e| match e {
                safetensors::SafeTensorError::InvalidHeaderLength => {
                    let declared = u64::from_le_bytes(mmap[..8].try_into().unwrap_or([0; 8]));
                    InputError::Truncated { path: path.clone(), expected: declared.saturating_add(8), found }
                }
                safetensors::SafeTensorError::MetadataIncompleteBuffer => match declared_size(&mmap[..]) {
                    Some(expected) => InputError::Truncated { path: path.clone(), expected, found },
                    None => InputError::BadHeader { path: path.clone(), reason: "data section does not match the header".into() },
                },
                other => InputError::BadHeader { path: path.clone(), reason: other.to_string() },
            })?;
            let data_start = 8 + header_len;
            let expected = (data_start + meta.data_len()) as u64;
            if expected != found {
                return Err(InputError::Truncated { path, expected, found });
            }
            let shard_idx = shards.len();
            let mut names: Vec<(String, &safetensors::tensor::TensorInfo)> = meta.tensors().into_iter().collect();
            names.sort_by(|a, b| a.0.cmp(&b.0));
            for (name, info) in names {
                if let Some(wm) = &weight_map {
                    if wm.get(&name).map(String::as_str) != Some(part.as_str()) {
                        return Err(InputError::UnindexedTensor { path, tensor: name });
                    }
                }
                if let Some(&prev) = by_name.get(&name) {
                    let first: &TensorEntry = &tensors[prev];
                    return Err(InputError::DuplicateTensor {
                        tensor: name,
                        first: shards.get(first.shard).map(|s: &Shard| s.path.clone()).unwrap_or_default(),
                        second: path,
                    });
                }
                let dtype = match info.dtype {
                    Dtype::F16 => Ok(Dtype3::F16),
                    Dtype::BF16 => Ok(Dtype3::BF16),
                    Dtype::F32 => Ok(Dtype3::F32),
                    other => Err(format!("{other:?}")),
                };
                by_name.insert(name.clone(), tensors.len());
                tensors.push(TensorEntry {
                    name,
                    dtype,
                    shape: info.shape.clone(),
                    shard: shard_idx,
                    start: data_start + info.data_offsets.0,
                    end: data_start + info.data_offsets.1,
                });
            }
            shards.push(Shard { path, mmap });
        }
        if let Some(wm) = &weight_map {
            for (tensor, shard) in wm {
                if !by_name.contains_key(tensor) {
                    return Err(InputError::AbsentTensor { index: index_path.clone(), tensor: tensor.clone(), shard: shard.clone() });
                }
            }
        }
        Ok(Checkpoint { shards, tensors })
    }

    /// Every tensor, in the reference converter's order.
    pub fn tensors(&self) -> &[TensorEntry] {
        &self.tensors
    }

    /// The bytes of a tensor of the checkpoint (borrowed from the mmap, unaligned).
    pub fn data(&self, t: &TensorEntry) -> &[u8] {
        match self.shards.get(t.shard) {
            Some(s) => s.mmap.get(t.start..t.end).unwrap_or(&[]),
            None => &[],
        }
    }

    /// Path of the shard holding a tensor.
    pub fn shard_path(&self, t: &TensorEntry) -> &Path {
        self.shards.get(t.shard).map(|s| s.path.as_path()).unwrap_or(Path::new(""))
    }

    /// Drops this process's pages of a tensor's bytes (they are re-read from the file if needed
    /// again). Best effort: failures are ignored, they only cost memory.
    pub fn release(&self, t: &TensorEntry) {
        self.release_range(t, 0, t.end.saturating_sub(t.start));
    }

    /// Drops this process's pages of bytes `from..to` of a tensor (offsets inside the tensor),
    /// as [`Checkpoint::release`] does for the whole tensor: called as a tensor is consumed, it
    /// keeps the resident part of the mapping to about one slab, even for a tensor of gigabytes.
    /// Only whole pages inside the tensor's range are dropped, so that neighbours are not touched.
    pub fn release_range(&self, t: &TensorEntry, from: usize, to: usize) {
        let Some(shard) = self.shards.get(t.shard) else { return };
        let page = page_size();
        let lo = t.start.saturating_add(from).max(t.start.div_ceil(page) * page);
        // the page holding `from` lies after the tensor's first page boundary: it was consumed
        // up to `from` earlier and is consumed past it now
        let start = (lo / page) * page;
        let end = (t.start.saturating_add(to).min(t.end) / page) * page;
        // start and end are page boundaries: release_pages drops exactly start..end
        if let Some(pages) = shard.mmap.get(start..end) {
            gguf::reader::release_pages(&shard.mmap, pages);
        }
    }
}

/// The file size a safetensors header declares (8 + header + end of the last tensor), read
/// without validation, for the message about a truncated shard.
fn declared_size(buf: &[u8]) -> Option<u64> {
    let n = u64::from_le_bytes(buf.get(..8)?.try_into().ok()?);
    let header = buf.get(8..8usize.checked_add(usize::try_from(n).ok()?)?)?;
    let json: serde_json::Value = serde_json::from_slice(header).ok()?;
    let end = json.as_object()?.values().filter_map(|t| t.get("data_offsets")?.as_array()?.get(1)?.as_u64()).max().unwrap_or(0);
    Some(8 + n + end)
}

fn page_size() -> usize {
    4096
}
