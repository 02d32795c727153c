//! The GGUF file format (ggml's `docs/gguf.md`): value and tensor types, a memory-mapped reader and
//! a streaming writer. Knows nothing of quantization: tensor data is bytes.

pub mod ggml_type;

pub use ggml_type::{GgmlType, TypeTraits, TYPE_TABLE};
