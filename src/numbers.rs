//! One vocabulary of numbers for every command: the same quantity has the same name in every
//! `--json` output and the same definition in every table (`docs/json.md`).
//!
//! - `file_size`: bytes of the whole GGUF file.
//! - `tensor_bytes`: bytes of tensor data (no header, metadata or alignment padding).
//! - `n_params`: weights, the elements of all tensors.
//! - `bits_per_weight`: `tensor_bytes * 8 / n_params`, what llama.cpp's model loader prints as
//!   "BPW" (`llama_model_loader`: `n_bytes*8.0/n_elements` over the tensors).
//!
//! Each command's JSON carries `schema_version` ([`SCHEMA_VERSION`] where it has not changed
//! meaning since); fields are only ever added.

use serde::Serialize;

/// The `schema_version` of the convert, quantize and plan JSON outputs.
pub const SCHEMA_VERSION: u32 = 1;

/// Bits per weight: tensor data bits over weights, as llama.cpp prints BPW (0 without weights).
pub fn bits_per_weight(tensor_bytes: u64, n_params: u64) -> f64 {
    if n_params == 0 {
        0.0
    } else {
        tensor_bytes as f64 * 8.0 / n_params as f64
    }
}

/// The sizes of one GGUF file, flattened into each command's JSON under the shared names.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct FileNumbers {
    /// Bytes of the whole file.
    pub file_size: u64,
    /// Bytes of tensor data.
    pub tensor_bytes: u64,
    /// Weights (elements of all tensors).
    pub n_params: u64,
    /// `tensor_bytes * 8 / n_params`.
    pub bits_per_weight: f64,
}

impl FileNumbers {
    /// The numbers of a file of `file_size` bytes holding `tensor_bytes` of data for `n_params`
    /// weights.
    pub fn new(file_size: u64, tensor_bytes: u64, n_params: u64) -> Self {
        FileNumbers { file_size, tensor_bytes, n_params, bits_per_weight: bits_per_weight(tensor_bytes, n_params) }
    }
}

/// A command's JSON output with its `schema_version` first.
#[derive(Debug, Serialize)]
pub struct Versioned<'a, T: Serialize> {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The output's own fields.
    #[serde(flatten)]
    pub body: &'a T,
}

impl<'a, T: Serialize> Versioned<'a, T> {
    /// `body` with the current [`SCHEMA_VERSION`].
    pub fn new(body: &'a T) -> Self {
        Versioned { schema_version: SCHEMA_VERSION, body }
    }
}
