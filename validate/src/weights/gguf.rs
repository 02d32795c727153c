//! GGUF files (read with the `gguf` crate, memory-mapped): metadata for the configuration,
//! matrices handed out as their stored ggml blocks, norms and biases converted to f32 with
//! `quantize::dequantize_rows`.

use super::{RawTensor, StoredTensor, WeightSource};
use crate::config::GgufMeta;
use crate::error::{Result, ValidateError};
use gguf::{GgufFile, Value};
use std::path::Path;

/// A GGUF model file.
pub struct GgufWeights {
    name: String,
    file: GgufFile,
}

/// One tensor's storage, for reports (sizes, bits per weight).
#[derive(Debug, Clone)]
pub struct TensorStorage {
    /// GGUF tensor name.
    pub name: String,
    /// ggml type name (`Q4_K`, `F16`, …).
    pub ty: String,
    /// Element count.
    pub n_elements: u64,
    /// Bytes in the file.
    pub n_bytes: u64,
}

impl GgufWeights {
    /// Opens (memory-maps) and parses the header of a GGUF file.
    pub fn open(path: &Path) -> Result<GgufWeights> {
        let file = GgufFile::open(path).map_err(|e| ValidateError::Gguf { path: path.to_path_buf(), message: e.to_string() })?;
        Ok(GgufWeights { name: path.display().to_string(), file })
    }

    /// The file path.
    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// The parsed file (metadata, tensors).
    pub fn file(&self) -> &GgufFile {
        &self.file
    }

    /// Size of the file in bytes.
    pub fn file_size(&self) -> u64 {
        self.file.file_len()
    }

    /// `general.file_type` as llama.cpp names it (`Q4_K_M`), when present and known.
    pub fn file_type_name(&self) -> Option<&'static str> {
        let id = self.file.get("general.file_type")?.as_u32()?;
        quantize::ftype::FileType::from_id(id).map(|f| f.name())
    }

    /// Every tensor's type and size.
    pub fn storage(&self) -> Vec<TensorStorage> {
        self.file
            .tensors()
            .iter()
            .map(|t| TensorStorage { name: t.name.clone(), ty: t.ty.name().to_owned(), n_elements: t.n_elements(), n_bytes: t.size })
            .collect()
    }

    /// The outermost dimension of a tensor (rows of a matrix), e.g. the vocabulary size of
    /// `token_embd.weight`.
    pub fn rows(&self, name: &str) -> Option<usize> {
        self.file.tensor(name).and_then(|t| t.dims.last().copied()).and_then(|d| usize::try_from(d).ok())
    }

    fn value(&self, key: &str) -> Option<&Value> {
        self.file.get(key)
    }

    /// A boolean metadata key.
    pub fn meta_bool(&self, key: &str) -> Option<bool> {
        self.value(key)?.as_bool()
    }
}

impl GgufMeta for GgufWeights {
    fn meta_u64(&self, key: &str) -> Option<u64> {
        match self.value(key)? {
            Value::Bool(_) => None,
            v => v.as_u64().or_else(|| v.as_i64().and_then(|i| u64::try_from(i).ok())),
        }
    }

    fn meta_str(&self, key: &str) -> Option<String> {
        self.value(key)?.as_str().map(str::to_owned)
    }
}

impl WeightSource for GgufWeights {
    fn source_name(&self) -> &str {
        &self.name
    }

    fn tensor_names(&self) -> Vec<String> {
        self.file.tensors().iter().map(|t| t.name.clone()).collect()
    }

    fn contains(&self, gguf_name: &str) -> bool {
        self.file.tensor(gguf_name).is_some()
    }

    fn load(&self, gguf_name: &str) -> Result<RawTensor> {
        let t = self.stored(gguf_name)?;
        let data = t.to_f32().map_err(|e| self.named(e))?;
        Ok(RawTensor { shape: t.shape, data })
    }

    fn stored(&self, gguf_name: &str) -> Result<StoredTensor<'_>> {
        let info = self
            .file
            .tensor(gguf_name)
            .ok_or_else(|| ValidateError::MissingTensor { source_name: self.name.clone(), tensor: gguf_name.into() })?;
        // GGUF dims are ggml order (ne0 = row length first); ours are outermost first.
        let shape = info.dims.iter().rev().map(|&d| usize::try_from(d).unwrap_or(usize::MAX)).collect();
        Ok(StoredTensor { shape, ty: info.ty, bytes: self.file.tensor_data(info), name: gguf_name.into() })
    }

    fn release_bytes(&self, bytes: &[u8]) {
        self.file.release_bytes(bytes);
    }
}

impl GgufWeights {
    /// Fills in the file name of a conversion error.
    fn named(&self, e: ValidateError) -> ValidateError {
        match e {
            ValidateError::Dequantize { tensor, ty, message, .. } => {
                ValidateError::Dequantize { source_name: self.name.clone(), tensor, ty, message }
            }
            other => other,
        }
    }
}
