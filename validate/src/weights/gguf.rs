//! GGUF files: metadata for the configuration, tensors dequantized to f32 on load.

use super::{RawTensor, WeightSource};
use crate::config::GgufMeta;
use crate::error::{Result, ValidateError};
use candle_core::quantized::gguf_file::{Content, Value};
use candle_core::Device;
use std::cell::RefCell;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

/// A GGUF model file.
pub struct GgufWeights {
    path: PathBuf,
    name: String,
    content: Content,
    reader: RefCell<BufReader<File>>,
    file_size: u64,
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
    /// Opens and parses the header of a GGUF file.
    pub fn open(path: &Path) -> Result<GgufWeights> {
        let f = File::open(path).map_err(|e| ValidateError::io(path, e))?;
        let file_size = f.metadata().map_err(|e| ValidateError::io(path, e))?.len();
        let mut reader = BufReader::new(f);
        let content = Content::read(&mut reader)
            .map_err(|e| ValidateError::Gguf { path: path.to_path_buf(), message: format!("not a readable GGUF file: {e}") })?;
        Ok(GgufWeights {
            path: path.to_path_buf(),
            name: path.display().to_string(),
            content,
            reader: RefCell::new(reader),
            file_size,
        })
    }

    /// The file path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Size of the file in bytes.
    pub fn file_size(&self) -> u64 {
        self.file_size
    }

    /// Every tensor's type and size.
    pub fn storage(&self) -> Vec<TensorStorage> {
        let mut v: Vec<TensorStorage> = self
            .content
            .tensor_infos
            .iter()
            .map(|(name, info)| {
                let n = info.shape.elem_count() as u64;
                let dt = info.ggml_dtype;
                TensorStorage {
                    name: name.clone(),
                    ty: format!("{dt:?}").to_uppercase(),
                    n_elements: n,
                    n_bytes: n / dt.block_size() as u64 * dt.type_size() as u64,
                }
            })
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// Rows of a 2-D tensor (its outermost dimension), e.g. the vocabulary size of `token_embd.weight`.
    pub fn rows(&self, name: &str) -> Option<usize> {
        self.content.tensor_infos.get(name).and_then(|i| i.shape.dims().first().copied())
    }

    fn value(&self, key: &str) -> Option<&Value> {
        self.content.metadata.get(key)
    }

    /// A boolean metadata key.
    pub fn meta_bool(&self, key: &str) -> Option<bool> {
        match self.value(key)? {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }
}

impl GgufMeta for GgufWeights {
    fn meta_u64(&self, key: &str) -> Option<u64> {
        match self.value(key)? {
            Value::U8(v) => Some(*v as u64),
            Value::U16(v) => Some(*v as u64),
            Value::U32(v) => Some(*v as u64),
            Value::U64(v) => Some(*v),
            Value::I8(v) => u64::try_from(*v).ok(),
            Value::I16(v) => u64::try_from(*v).ok(),
            Value::I32(v) => u64::try_from(*v).ok(),
            Value::I64(v) => u64::try_from(*v).ok(),
            _ => None,
        }
    }

    fn meta_f64(&self, key: &str) -> Option<f64> {
        match self.value(key)? {
            Value::F32(v) => Some(*v as f64),
            Value::F64(v) => Some(*v),
            _ => self.meta_u64(key).map(|v| v as f64),
        }
    }

    fn meta_str(&self, key: &str) -> Option<String> {
        match self.value(key)? {
            Value::String(s) => Some(s.clone()),
            _ => None,
        }
    }

    fn meta_array_len(&self, key: &str) -> Option<usize> {
        match self.value(key)? {
            Value::Array(a) => Some(a.len()),
            _ => None,
        }
    }
}

impl WeightSource for GgufWeights {
    fn source_name(&self) -> &str {
        &self.name
    }

    fn contains(&self, gguf_name: &str) -> bool {
        self.content.tensor_infos.contains_key(gguf_name)
    }

    fn load(&self, gguf_name: &str) -> Result<RawTensor> {
        let info = self
            .content
            .tensor_infos
            .get(gguf_name)
            .ok_or_else(|| ValidateError::MissingTensor { source_name: self.name.clone(), tensor: gguf_name.into() })?;
        let err = |message: String| ValidateError::Dequantize {
            source_name: self.name.clone(),
            tensor: gguf_name.into(),
            ty: format!("{:?}", info.ggml_dtype),
            message,
        };
        let mut reader = self.reader.borrow_mut();
        let q = self.content.tensor(&mut *reader, gguf_name, &Device::Cpu).map_err(|e| err(e.to_string()))?;
        let t = q.dequantize(&Device::Cpu).map_err(|e| err(e.to_string()))?;
        let data = t.flatten_all().and_then(|t| t.to_vec1::<f32>()).map_err(|e| err(e.to_string()))?;
        Ok(RawTensor { shape: info.shape.dims().to_vec(), data })
    }
}
