//! `ggufkit plan`: before converting anything, what each quantization of a model costs — exact
//! GGUF file size, bits per weight, and the memory llama.cpp needs for weights, KV cache and
//! compute at a context — and which one fits a GPU.
//!
//! - [`input`]: a GGUF file, a lone `config.json` or an HF folder → [`input::ModelInput`].
//! - [`shape`], [`tensors`]: hyper-parameters (the architecture from [`gguf::arch`]), the file's tensors.
//! - [`types`]: per-tensor types of each file type (llama.cpp's policy).
//! - [`filesize`], [`memory`]: byte-exact file size; llama.cpp's memory model, whose compute
//!   buffer replays ggml-alloc ([`galloc`]) on llama.cpp's worst-case graph ([`graph`]).
//! - [`planner`], [`quality`], [`report`]: the plan, the recommendation, the output.

pub mod error;
pub mod filesize;
pub mod galloc;
pub mod graph;
pub mod input;
pub mod memory;
pub mod planner;
pub mod quality;
pub mod report;
pub mod shape;
pub mod tensors;
pub mod types;

pub use planner::{plan, PlanOptions};
