//! Errors of `ggufkit convert`: each says what, where (file, tensor) and expected vs found.

use std::path::PathBuf;

/// Why a conversion failed.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    /// A required input file is missing.
    #[error("{path}: missing {what}")]
    MissingFile {
        /// The file (or folder) expected.
        path: PathBuf,
        /// What it is.
        what: &'static str,
    },
    /// A JSON file does not parse.
    #[error("{path}: invalid JSON: {source}")]
    BadJson {
        /// The file.
        path: PathBuf,
        /// The parser's error (line and column).
        #[source]
        source: serde_json::Error,
    },
    /// The checkpoint cannot be read.
    #[error(transparent)]
    Input(#[from] crate::input::InputError),
    /// The architecture mapping failed.
    #[error(transparent)]
    Arch(#[from] crate::arch::ArchError),
    /// A tensor's dtype is not convertible.
    #[error("{path}: tensor `{tensor}` has dtype {dtype}; only F16, BF16 and F32 weights are supported")]
    UnsupportedDtype {
        /// The shard.
        path: PathBuf,
        /// The Hugging Face tensor name.
        tensor: String,
        /// The dtype.
        dtype: String,
    },
    /// A tensor's shape disagrees with `config.json`.
    #[error("{path}: tensor `{tensor}` has shape {found:?} but config.json implies {expected:?} (PyTorch order)")]
    ShapeMismatch {
        /// The shard.
        path: PathBuf,
        /// The Hugging Face tensor name.
        tensor: String,
        /// Shape implied by the config.
        expected: Vec<u64>,
        /// Shape in the checkpoint.
        found: Vec<u64>,
    },
    /// A tensor the architecture needs is absent from the checkpoint.
    #[error("{dir}: the checkpoint has no tensor for GGUF `{tensor}`, which config.json implies for {arch}")]
    MissingTensor {
        /// The model folder.
        dir: PathBuf,
        /// The missing tensor (GGUF name).
        tensor: String,
        /// The architecture.
        arch: &'static str,
    },
    /// A weight holds NaN or Inf.
    #[error("{path}: tensor `{tensor}` holds a non-finite value (NaN or Inf) at element {index}")]
    NonFinite {
        /// The shard (or `<computed>`).
        path: PathBuf,
        /// The Hugging Face tensor name.
        tensor: String,
        /// The first bad element (row-major).
        index: usize,
    },
    /// The output exists and `--force` was not given.
    #[error("{0}: already exists (use --force to overwrite)")]
    OutputExists(PathBuf),

    /// Several types asked with `-o` naming a file rather than a folder.
    #[error(
        "{0}: several types need an output folder for their `<model>-<TYPE>.gguf` files, not a file name (create the folder or drop -o)"
    )]
    MultiTypeOutput(PathBuf),

    /// Two outputs of one conversion name the same file.
    #[error("{0}: named twice as an output of one conversion (each type needs its own file)")]
    DuplicateOutput(PathBuf),
    /// The type policy failed.
    #[error("type policy: {0}")]
    Policy(#[source] quantize::policy::PolicyError),
    /// The importance matrix file cannot be read.
    #[error("{path}: {source}")]
    ImatrixFile {
        /// The imatrix file.
        path: PathBuf,
        /// The reader's error (boxed: it is large).
        #[source]
        source: Box<quantize::imatrix::ImatrixError>,
    },
    /// The importance matrix cannot be used.
    #[error("{path}: {reason}")]
    Imatrix {
        /// The imatrix file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Quantizing a tensor failed.
    #[error("tensor `{tensor}` (GGUF `{gguf}`): {source}")]
    Quantize {
        /// The Hugging Face tensor name.
        tensor: String,
        /// The GGUF tensor name.
        gguf: String,
        /// The kernel's error.
        source: quantize::QuantizeError,
    },
    /// Writing the GGUF failed.
    #[error(transparent)]
    Gguf(#[from] gguf::GgufError),
    /// The writer thread stopped before all tensor data was handed to it (its own error, when
    /// it has one, is reported instead).
    #[error("the GGUF writer thread stopped before all tensor data was written")]
    WriterStopped,
    /// The tokenizer could not be converted.
    #[error("tokenizer: {0}")]
    Tokenizer(#[source] crate::tokenizer::TokenizerError),
    /// Another I/O error.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}
