//! A tensor of the GGUF file being planned: read from a GGUF file, or planned from `config.json`
//! by the converter's architecture tables (`crate::arch::planned_tensors`).

use gguf::GgmlType;

/// One tensor of the file to be written, in ggml order (`dims[0]` = row length).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedTensor {
    /// GGUF tensor name (`blk.0.attn_q.weight`).
    pub name: String,
    /// ggml dims.
    pub dims: Vec<u64>,
    /// Its type in the unquantized (F16) file: F32 for norms, biases and RoPE factors.
    pub source_type: GgmlType,
}

impl PlannedTensor {
    /// Number of elements (saturating: shapes come from checked hyper-parameters).
    pub fn n_elements(&self) -> u64 {
        self.dims.iter().fold(1u64, |a, &d| a.saturating_mul(d))
    }

    /// The repeating layer this tensor belongs to (`blk.N.`), if any.
    pub fn layer(&self) -> Option<u64> {
        let rest = self.name.strip_prefix("blk.")?;
        let (n, _) = rest.split_once('.')?;
        n.parse().ok()
    }
}
