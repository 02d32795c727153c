//! Errors of `ggufkit plan`.

use std::path::PathBuf;

/// Why a model cannot be planned.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The input path is neither a GGUF file, a `config.json` nor a folder holding one.
    #[error("{}: not a GGUF file, a config.json or a folder with a config.json", path.display())]
    UnknownInput {
        /// The path given.
        path: PathBuf,
    },
    /// A file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// `config.json` is not valid JSON.
    #[error("{}: invalid JSON: {source}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// A GGUF file could not be read.
    #[error("{source}")]
    Gguf {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: gguf::GgufError,
    },
    /// The architecture is not one `plan` knows.
    #[error("{file}: architecture {arch:?} cannot be planned (supported: {supported})")]
    UnsupportedArch {
        /// The file.
        file: String,
        /// The architecture found.
        arch: String,
        /// The supported ones.
        supported: String,
    },
    /// A GGUF file's hyper-parameter keys cannot be read (no architecture, a key of the wrong type).
    #[error("{file}: {source}")]
    Hparams {
        /// The file.
        file: String,
        /// What is wrong with its hyper-parameter keys.
        #[source]
        source: gguf::arch::HparamsError,
    },
    /// A field the plan needs is absent or zero.
    #[error("{file}: missing or invalid field {field:?}; it is needed to size the model")]
    MissingField {
        /// The file.
        file: String,
        /// The field (HF config field or GGUF key).
        field: String,
    },
    /// Fields contradict each other.
    #[error("{file}: {what}")]
    Inconsistent {
        /// The file.
        file: String,
        /// What is wrong.
        what: String,
    },
    /// A size overflowed 64 bits (absurd hyper-parameters, context or batch).
    #[error("{file}: sizes overflow 64 bits: {what}; no machine can hold this model at these settings (check the config's sizes, --ctx and --batch)")]
    Overflow {
        /// The file.
        file: String,
        /// Which size.
        what: String,
    },
    /// A tensor has a shape its type cannot hold (row length not a multiple of the block size).
    #[error("tensor {tensor}: {ty} needs rows that are a multiple of {block} elements, found {row}")]
    BadRow {
        /// The tensor.
        tensor: String,
        /// Its type.
        ty: String,
        /// The type's block size.
        block: usize,
        /// The row length.
        row: u64,
    },
    /// An option value is wrong.
    #[error("{0}")]
    BadOption(String),
    /// The type policy refuses a file type for this model (e.g. an i-quant without the tensor
    /// sizes it needs).
    #[error("{file_type}: {source}")]
    Policy {
        /// The file type asked for.
        file_type: String,
        /// Why llama-quantize's rules refuse it.
        #[source]
        source: quantize::policy::PolicyError,
    },
    /// A `config.json` field has the wrong type.
    #[error("{file}: {source}")]
    Config {
        /// The file.
        file: String,
        /// The field and what is wrong with it.
        #[source]
        source: gguf::arch::ConfigError,
    },
    /// The converter's tables cannot map this config (a field of the wrong type, an unmapped
    /// tensor, …): what `convert` would say for the same folder.
    #[error("{file}: {source}")]
    Arch {
        /// The file.
        file: String,
        /// What the converter's tables found.
        #[source]
        source: crate::arch::ArchError,
    },
    /// The model folder's safetensors checkpoint cannot be read.
    #[error("{0}")]
    Checkpoint(#[source] crate::input::InputError),
}
