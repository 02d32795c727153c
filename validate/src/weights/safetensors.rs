//! HF checkpoints: `config.json` plus one `model.safetensors` or shards listed in
//! `model.safetensors.index.json`, memory-mapped. F32, F16 and BF16 tensors.

use super::{RawTensor, StoredTensor, WeightSource};
use crate::arch::ArchInfo;
use crate::error::{Result, ValidateError};
use ::gguf::GgmlType;
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

    /// A tensor's stored bytes by its HF name.
    fn stored_hf(&self, hf_name: &str) -> Result<(StoredTensor<'_>, &Shard)> {
        let missing = || ValidateError::MissingTensor { source_name: self.name.clone(), tensor: hf_name.into() };
        let shard = self.index.get(hf_name).and_then(|&i| self.shards.get(i)).ok_or_else(missing)?;
        let info = shard.meta.info(hf_name).ok_or_else(missing)?;
        let (begin, end) = info.data_offsets;
        let start = 8 + shard.header_len;
        let bytes = shard
            .map
            .get(start + begin..start + end)
            .ok_or_else(|| st_err(&shard.path, format!("tensor {hf_name}: data {begin}..{end} beyond the file")))?;
        let ty = match info.dtype {
            Dtype::F32 => GgmlType::F32,
            Dtype::F16 => GgmlType::F16,
            Dtype::BF16 => GgmlType::BF16,
            other => {
                return Err(ValidateError::BadTensor {
                    source_name: self.name.clone(),
                    tensor: hf_name.into(),
                    expected: "F32, F16 or BF16".into(),
                    found: format!("{other:?}"),
                })
            }
        };
        let n: usize = info.shape.iter().product();
        if Some(bytes.len()) != n.checked_mul(ty.type_size()) {
            return Err(ValidateError::BadTensor {
                source_name: self.name.clone(),
                tensor: hf_name.into(),
                expected: format!("{n} elements"),
                found: format!("{} bytes", bytes.len()),
            });
        }
        Ok((StoredTensor { shape: info.shape.clone(), ty, bytes, name: hf_name.into() }, shard))
    }

    /// Loads a tensor by its HF name, as f32.
    pub fn load_hf(&self, hf_name: &str) -> Result<RawTensor> {
        let (t, _) = self.stored_hf(hf_name)?;
        let data = t.to_f32().map_err(|e| match e {
            ValidateError::Dequantize { tensor, ty, message, .. } => {
                ValidateError::Dequantize { source_name: self.name.clone(), tensor, ty, message }
            }
            other => other,
        })?;
        Ok(RawTensor { shape: t.shape, data })
    }

    fn hf(&self, gguf_name: &str) -> Result<String> {
        self.arch
            .hf_name(gguf_name)
            .ok_or_else(|| ValidateError::MissingTensor { source_name: self.name.clone(), tensor: gguf_name.into() })
    }
}

impl WeightSource for HfWeights {
    fn source_name(&self) -> &str {
        &self.name
    }

    fn tensor_names(&self) -> Vec<String> {
        // the experts of a stacked tensor share its name: once
        let mut names: Vec<String> = self.index.keys().filter_map(|h| self.arch.gguf_name_of(h)).collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    fn contains(&self, gguf_name: &str) -> bool {
        let hf = self.arch.hf_name(gguf_name).or_else(|| self.arch.spec().hf_expert_name(gguf_name, 0));
        hf.is_some_and(|hf| self.index.contains_key(&hf))
    }

    fn expert(&self, gguf_name: &str, xid: usize) -> Result<StoredTensor<'_>> {
        let hf = self
            .arch
            .spec()
            .hf_expert_name(gguf_name, xid as u64)
            .ok_or_else(|| ValidateError::MissingTensor { source_name: self.name.clone(), tensor: format!("{gguf_name} expert {xid}") })?;
        Ok(self.stored_hf(&hf)?.0)
    }

    fn load(&self, gguf_name: &str) -> Result<RawTensor> {
        let mut t = self.load_hf(&self.hf(gguf_name)?)?;
        // The converter writes Gemma norms as (1 + w); we hold the effective multiplier.
        if self.arch.layout().norm_plus_one && gguf_name.ends_with("norm.weight") {
            t.data.iter_mut().for_each(|v| *v += 1.0);
        }
        Ok(t)
    }

    fn stored(&self, gguf_name: &str) -> Result<StoredTensor<'_>> {
        Ok(self.stored_hf(&self.hf(gguf_name)?)?.0)
    }

    fn release_bytes(&self, bytes: &[u8]) {
        for shard in &self.shards {
            gguf::reader::release_pages(&shard.map, bytes);
        }
    }
}
