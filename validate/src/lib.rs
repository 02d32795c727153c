//! The evaluation engine: a forward pass on candle-core (CPU, CUDA) returning logits for every
//! position, perplexity and KL divergence as llama-perplexity computes them.

pub mod arch;
pub mod config;
pub mod cpu_ops;
pub mod error;
pub mod linear;
pub mod loader;
pub mod memory;
pub mod model;
pub mod rope;
pub mod weights;

pub use error::{Result, ValidateError};
pub mod device;
pub mod eval;
pub mod imatrix;
pub mod logits_file;
pub mod metrics;
pub mod source;
pub mod tokenize;
pub mod vec_math;
pub mod vocab;
pub use candle_core::{Device, Tensor};
pub mod plot;
pub mod run;
