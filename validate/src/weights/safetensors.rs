//! HF checkpoints: `config.json` plus one `model.safetensors` or shards listed in
//! `model.safetensors.index.json`, memory-mapped. F32, F16 and BF16 tensors.

use super::{RawTensor, WeightSource};
use crate::arch::ArchInfo;
use crate::error::{Result, ValidateError};
use ::safetensors::tensor::{Dtype, Metadata};
use ::safetensors::SafeTensors;
use memmap2::Mmap;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

struct Shard {
    path: PathBuf,
    map: Mmap,
    header_len: usize,
    meta: Metadata,
}

/// An HF model folder's weights.
pub struct HfWeights {
    name: String,
    arch: &'static ArchInfo,
    shards: Vec<Shard>,
    /// HF tensor name → shard index.
    index: HashMap<String, usize>,
}

fn st_err(path: &Path, message: impl Into<String>) -> ValidateError {
    ValidateError::Safetensors { path: path.to_path_buf(), message: message.into() }
}

/// Reads and parses a JSON file.
pub fn read_json(path: &Path) -> Result<serde_json::Value> {
    let text = std::fs::read_to_string(path).map_err(|e| ValidateError::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| ValidateError::Json { path: path.to_path_buf(), message: e.to_string() })
}

impl HfWeights {
    /// Opens the safetensors files of `dir` for an architecture.
    pub fn open(dir: &Path, arch: &'static ArchInfo) -> Result<HfWeights> {
        let index_path = dir.join("model.safetensors.index.json");
        let files: Vec<String> = if index_path.is_file() {
            let index = read_json(&index_path)?;
            let map = index
                .get("weight_map")
                .and_then(|m| m.as_object())
                .ok_or_else(|| ValidateError::Json { path: index_path.clone(), message: "no weight_map object".into() })?;
            let mut files: Vec<String> = map.values().filter_map(|v| v.as_str().map(str::to_owned)).collect();
            files.sort();
            files.dedup();
            files
        } else {
            vec!["model.safetensors".to_owned()]
        };
        let mut shards = Vec::with_capacity(files.len());
        let mut index = HashMap::new();
        for file in files {
            if file.contains('/') || file.contains("..") {
                return Err(st_err(&index_path, format!("shard name {file:?} leaves the folder")));
            }
            let path = dir.join(&file);
            let f = std::fs::File::open(&path).map_err(|e| ValidateError::io(&path, e))?;
            // SAFETY: the file is opened read-only; as with any mmap, a concurrent writer could
            // change the bytes under us, which is outside our control (as for llama.cpp).
            let map = unsafe { Mmap::map(&f) }.map_err(|e| ValidateError::io(&path, e))?;
            let (header_len, meta) = SafeTensors::read_metadata(&map).map_err(|e| st_err(&path, e.to_string()))?;
            let shard_no = shards.len();
            for name in meta.tensors().keys() {
                index.insert(name.clone(), shard_no);
            }
            shards.push(Shard { path, map, header_len, meta });
        }
        Ok(HfWeights { name: dir.display().to_string(), arch, shards, index })
    }

    /// Loads a tensor by its HF name.
    pub fn load_hf(&self, hf_name: &str) -> Result<RawTensor> {
        let shard = self
            .index
            .get(hf_name)
            .and_then(|&i| self.shards.get(i))
            .ok_or_else(|| ValidateError::MissingTensor { source_name: self.name.clone(), tensor: hf_name.into() })?;
        let info = shard
            .meta
            .info(hf_name)
            .ok_or_else(|| ValidateError::MissingTensor { source_name: self.name.clone(), tensor: hf_name.into() })?;
        let (begin, end) = info.data_offsets;
        let start = 8 + shard.header_len;
        let bytes = shard
            .map
            .get(start + begin..start + end)
            .ok_or_else(|| st_err(&shard.path, format!("tensor {hf_name}: data {begin}..{end} beyond the file")))?;
        let n: usize = info.shape.iter().product();
        let data = match info.dtype {
            Dtype::F32 => bytes_to_f32(bytes, 4, n, |b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            Dtype::F16 => bytes_to_f32(bytes, 2, n, |b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()),
            Dtype::BF16 => bytes_to_f32(bytes, 2, n, |b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32()),
            other => {
                return Err(ValidateError::BadTensor {
                    source_name: self.name.clone(),
                    tensor: hf_name.into(),
                    expected: "F32, F16 or BF16".into(),
                    found: format!("{other:?}"),
                })
            }
        }
        .ok_or_else(|| ValidateError::BadTensor {
            source_name: self.name.clone(),
            tensor: hf_name.into(),
            expected: format!("{n} elements"),
            found: format!("{} bytes", bytes.len()),
        })?;
        Ok(RawTensor { shape: info.shape.clone(), data })
    }
}

fn bytes_to_f32(bytes: &[u8], width: usize, n: usize, conv: impl Fn(&[u8]) -> f32) -> Option<Vec<f32>> {
    (bytes.len() == n.checked_mul(width)?).then(|| bytes.chunks_exact(width).map(conv).collect())
}

impl WeightSource for HfWeights {
    fn source_name(&self) -> &str {
        &self.name
    }

    fn contains(&self, gguf_name: &str) -> bool {
        self.arch.hf_name(gguf_name).is_some_and(|hf| self.index.contains_key(&hf))
    }

    fn load(&self, gguf_name: &str) -> Result<RawTensor> {
        let hf = self
            .arch
            .hf_name(gguf_name)
            .ok_or_else(|| ValidateError::MissingTensor { source_name: self.name.clone(), tensor: gguf_name.into() })?;
        let mut t = self.load_hf(&hf)?;
        // The converter writes Gemma norms as (1 + w); we hold the effective multiplier.
        if self.arch.hf_norm_plus_one && gguf_name.ends_with("norm.weight") {
            t.data.iter_mut().for_each(|v| *v += 1.0);
        }
        Ok(t)
    }
}
