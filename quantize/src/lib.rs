//! ggml block formats: quantize and dequantize rows per type, importance weights, and the
//! per-tensor type policy of llama.cpp's mixes (Q4_K_M, …).

pub mod ftype;
pub mod policy;
