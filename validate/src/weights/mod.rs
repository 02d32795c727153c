//! Where weights come from: HF safetensors checkpoints (the reference) or GGUF files. Both hand
//! out f32 tensors under their GGUF names (`blk.N.attn_q.weight`), in row-major order, outermost
//! dimension first; the loader fixes layout differences between the two.

pub mod gguf;
pub mod safetensors;

use crate::error::Result;

/// A tensor converted to f32.
#[derive(Debug)]
pub struct RawTensor {
    /// Row-major shape, outermost first (HF order: `[out, in]` for a linear layer).
    pub shape: Vec<usize>,
    /// The values.
    pub data: Vec<f32>,
}

/// A store of named weights.
pub trait WeightSource {
    /// The file or folder, for messages.
    fn source_name(&self) -> &str;
    /// Whether a tensor (GGUF name) exists.
    fn contains(&self, gguf_name: &str) -> bool;
    /// Loads a tensor (GGUF name) as f32.
    fn load(&self, gguf_name: &str) -> Result<RawTensor>;
}
