//! Where weights come from: HF safetensors checkpoints (the reference) or GGUF files. Both hand
//! out tensors under their GGUF names (`blk.N.attn_q.weight`), in row-major order, outermost
//! dimension first: as f32 ([`WeightSource::load`], for norms and biases) or as their stored
//! bytes ([`WeightSource::stored`], for matrices, which stay in their stored type).

pub mod gguf;
pub mod safetensors;

use crate::error::{Result, ValidateError};
use ::gguf::GgmlType;

/// A tensor converted to f32.
#[derive(Debug)]
pub struct RawTensor {
    /// Row-major shape, outermost first (HF order: `[out, in]` for a linear layer).
    pub shape: Vec<usize>,
    /// The values.
    pub data: Vec<f32>,
}

/// A tensor's bytes as stored (ggml blocks, or F32/F16/BF16 elements), borrowed from the mapping.
#[derive(Debug, Clone)]
pub struct StoredTensor<'a> {
    /// Row-major shape, outermost first.
    pub shape: Vec<usize>,
    /// Element type (safetensors F32/F16/BF16 map to the ggml types of the same name).
    pub ty: GgmlType,
    /// The data: whole rows of `ty`.
    pub bytes: &'a [u8],
    /// The source and tensor, for messages.
    pub name: String,
}

impl<'a> StoredTensor<'a> {
    /// Elements per row (innermost dimension).
    pub fn row_len(&self) -> usize {
        self.shape.last().copied().unwrap_or(0)
    }

    /// Rows (product of the outer dimensions).
    pub fn n_rows(&self) -> usize {
        self.shape.iter().rev().skip(1).product()
    }

    fn bad(&self, message: String) -> ValidateError {
        ValidateError::Dequantize { source_name: String::new(), tensor: self.name.clone(), ty: self.ty.name().into(), message }
    }

    /// Bytes of one row.
    pub fn row_bytes(&self) -> Result<usize> {
        self.ty
            .row_size(self.row_len() as u64)
            .and_then(|b| usize::try_from(b).ok())
            .ok_or_else(|| self.bad(format!("rows of {} elements are not whole blocks", self.row_len())))
    }

    /// Rows `start..start + n` of a matrix, as a tensor of its own (fused projections split by rows).
    pub fn rows(&self, start: usize, n: usize) -> Result<StoredTensor<'a>> {
        let rb = self.row_bytes()?;
        let bytes = self
            .bytes
            .get(start * rb..(start + n) * rb)
            .ok_or_else(|| self.bad(format!("rows {start}..{} beyond {} rows", start + n, self.n_rows())))?;
        Ok(StoredTensor { shape: vec![n, self.row_len()], ty: self.ty, bytes, name: self.name.clone() })
    }

    /// Rows `ids` of a matrix converted to f32, `[ids.len(), row_len]` row-major (embedding lookup).
    pub fn rows_f32(&self, ids: &[u32]) -> Result<Vec<f32>> {
        let (rb, n) = (self.row_bytes()?, self.row_len());
        let mut out = vec![0f32; ids.len() * n];
        for (dst, &id) in out.chunks_exact_mut(n.max(1)).zip(ids) {
            let id = id as usize;
            let src = self.bytes.get(id * rb..(id + 1) * rb).ok_or_else(|| self.bad(format!("row {id} beyond {} rows", self.n_rows())))?;
            quantize::dequantize_rows(self.ty, src, dst).map_err(|e| self.bad(e.to_string()))?;
        }
        Ok(out)
    }

    /// All values converted to f32.
    pub fn to_f32(&self) -> Result<Vec<f32>> {
        self.to_f32_releasing(&|_| {})
    }

    /// [`StoredTensor::to_f32`] in slices of rows of about [`CONVERT_SLICE_BYTES`], each handed
    /// to `release` once converted, so that a source can drop its pages as it goes (the stored
    /// tensor and its f32 copy are then never in memory whole at once).
    pub fn to_f32_releasing(&self, release: &dyn Fn(&[u8])) -> Result<Vec<f32>> {
        let n: usize = self.shape.iter().product();
        let mut data = Vec::new();
        data.try_reserve_exact(n).map_err(|e| self.bad(format!("cannot allocate {n} floats: {e}")))?;
        data.resize(n, 0f32);
        let (rb, len) = (self.row_bytes()?, self.row_len());
        if rb == 0 || self.bytes.len() != self.n_rows() * rb {
            // dequantize_rows says what is wrong with the length
            quantize::dequantize_rows(self.ty, self.bytes, &mut data).map_err(|e| self.bad(e.to_string()))?;
            return Ok(data);
        }
        let rows = (CONVERT_SLICE_BYTES / rb).max(1);
        for (src, dst) in self.bytes.chunks(rows * rb).zip(data.chunks_mut(rows * len)) {
            quantize::dequantize_rows(self.ty, src, dst).map_err(|e| self.bad(e.to_string()))?;
            release(src);
        }
        Ok(data)
    }
}

/// Stored bytes converted per slice by [`StoredTensor::to_f32_releasing`].
pub const CONVERT_SLICE_BYTES: usize = 8 << 20;

/// A store of named weights.
pub trait WeightSource {
    /// The file or folder, for messages.
    fn source_name(&self) -> &str;
    /// Every tensor's GGUF name.
    fn tensor_names(&self) -> Vec<String>;
    /// Whether a tensor (GGUF name) exists.
    fn contains(&self, gguf_name: &str) -> bool;
    /// Loads a tensor (GGUF name) as f32, with the converter's value transforms applied (Gemma's
    /// norm + 1): for norms and biases.
    fn load(&self, gguf_name: &str) -> Result<RawTensor>;
    /// A matrix's stored bytes (GGUF name), with no transform: for linear layers and embeddings.
    fn stored(&self, gguf_name: &str) -> Result<StoredTensor<'_>>;
    /// Expert `xid`'s matrix of a stacked tensor (`blk.N.ffn_up_exps.weight`, stored
    /// `[n_expert, rows, cols]`): its rows of the stacked tensor by default; an HF checkpoint
    /// holds each expert's tensor of its own.
    fn expert(&self, gguf_name: &str, xid: usize) -> Result<StoredTensor<'_>> {
        let t = self.stored(gguf_name)?;
        let (n_expert, rows, cols) = match t.shape[..] {
            [e, r, c] => (e, r, c),
            _ => {
                return Err(ValidateError::BadTensor {
                    source_name: self.source_name().into(),
                    tensor: gguf_name.into(),
                    expected: "3 dimensions (experts, rows, columns)".into(),
                    found: format!("shape {:?}", t.shape),
                })
            }
        };
        if xid >= n_expert {
            return Err(ValidateError::MissingTensor {
                source_name: self.source_name().into(),
                tensor: format!("{gguf_name} expert {xid}"),
            });
        }
        let mut m = t.clone();
        m.shape = vec![n_expert * rows, cols];
        m.rows(xid * rows, rows)
    }
    /// The matrices a tensor is multiplied as: itself, or each expert of a stacked tensor.
    fn parts(&self, gguf_name: &str) -> Vec<StoredTensor<'_>> {
        match self.stored(gguf_name) {
            Ok(t) if t.shape.len() == 3 => (0..t.shape[0]).filter_map(|x| self.expert(gguf_name, x).ok()).collect(),
            Ok(t) => vec![t],
            Err(_) => (0..).map_while(|x| self.expert(gguf_name, x).ok()).collect(),
        }
    }
    /// Drops the mapped pages wholly inside `bytes` (part of one of this source's stored tensors)
    /// from the resident set once they were copied (`gguf::reader::release_pages`); a no-op where
    /// not supported.
    fn release_bytes(&self, bytes: &[u8]);
    /// [`WeightSource::release_bytes`] of a whole tensor.
    fn release(&self, gguf_name: &str) {
        if let Ok(t) = self.stored(gguf_name) {
            self.release_bytes(t.bytes);
        }
    }
}
