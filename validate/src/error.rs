//! Errors of the evaluation engine.

use std::path::PathBuf;

/// Everything that can go wrong while loading a model, tokenizing a text or scoring logits.
#[derive(Debug, thiserror::Error)]
pub enum ValidateError {
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A JSON file (config.json, tokenizer.json, …) is malformed.
    #[error("{path}: invalid JSON: {message}")]
    Json {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        message: String,
    },
    /// A safetensors file is malformed.
    #[error("{path}: invalid safetensors: {message}")]
    Safetensors {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A GGUF file is malformed or unreadable.
    #[error("{path}: {message}")]
    Gguf {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The model's architecture has no forward pass here.
    #[error("{source_name}: unsupported architecture {arch:?} (supported: {supported})")]
    UnsupportedArchitecture {
        /// The model file or folder.
        source_name: String,
        /// The architecture as named by the file.
        arch: String,
        /// The architectures we can evaluate.
        supported: String,
    },
    /// A GGUF file's hyper-parameter keys cannot be read (no architecture, a key of the wrong type).
    #[error("{source_name}: {source}")]
    Hparams {
        /// The model file.
        source_name: String,
        /// What is wrong.
        #[source]
        source: gguf::arch::HparamsError,
    },
    /// An HF `config.json` field has the wrong type.
    #[error("{source_name}: config.json: {source}")]
    HfConfig {
        /// The model folder.
        source_name: String,
        /// The field and what is wrong with it.
        #[source]
        source: gguf::arch::ConfigError,
    },
    /// A hyperparameter is missing or has an unusable value.
    #[error("{source_name}: hyperparameter {key}: {message}")]
    Config {
        /// The model file or folder.
        source_name: String,
        /// The config.json field or GGUF key.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A tensor the architecture needs is absent.
    #[error("{source_name}: tensor {tensor} is missing")]
    MissingTensor {
        /// The model file or folder.
        source_name: String,
        /// The tensor (HF or GGUF name).
        tensor: String,
    },
    /// A tensor has the wrong shape or an unsupported element type.
    #[error("{source_name}: tensor {tensor}: expected {expected}, found {found}")]
    BadTensor {
        /// The model file or folder.
        source_name: String,
        /// The tensor.
        tensor: String,
        /// What was expected.
        expected: String,
        /// What was found.
        found: String,
    },
    /// The tokenizer could not be loaded or failed.
    #[error("tokenizer {path}: {message}")]
    Tokenizer {
        /// tokenizer.json.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A GGUF's own vocabulary cannot be rebuilt into a tokenizer.
    #[error("{path}: cannot tokenize with this GGUF's own vocabulary: {source}; pass --tokenizer tokenizer.json (the model's Hugging Face tokenizer)")]
    GgufVocabulary {
        /// The GGUF file.
        path: PathBuf,
        /// What is wrong with its `tokenizer.ggml.*` keys.
        #[source]
        source: crate::vocab::VocabError,
    },
    /// No tokenizer can be found for the text.
    #[error(
        "{reference}: no tokenizer: it is an HF folder without tokenizer.json and no GGUF file was given; pass --tokenizer tokenizer.json"
    )]
    NoTokenizer {
        /// The reference.
        reference: PathBuf,
    },
    /// The text is too short for one evaluation window.
    #[error(
        "{path}: the text tokenizes to {tokens} tokens, fewer than one context window of {ctx}; give a longer text or a smaller --ctx"
    )]
    TextTooShort {
        /// The text file.
        path: PathBuf,
        /// Token count.
        tokens: usize,
        /// Context size asked for.
        ctx: usize,
    },
    /// A calibration text shorter than the two windows `llama-imatrix` asks for.
    #[error("{path}: the text tokenizes to {tokens} tokens; an importance matrix needs at least two windows of --ctx {ctx} ({} tokens): give a longer text or a smaller --ctx", 2 * ctx)]
    CalibrationTooShort {
        /// The text file.
        path: PathBuf,
        /// Token count.
        tokens: usize,
        /// Context size asked for.
        ctx: usize,
    },
    /// A GGUF file could not be written.
    #[error("{path}: cannot write: {source}")]
    GgufWrite {
        /// The output file.
        path: PathBuf,
        /// The writer's error.
        #[source]
        source: gguf::GgufError,
    },
    /// Reference and evaluated model do not share a vocabulary.
    #[error(
        "vocabulary mismatch: {reference} has {reference_vocab} tokens, {other} has {other_vocab}; KL divergence needs the same vocabulary"
    )]
    VocabMismatch {
        /// The reference model or logits file.
        reference: String,
        /// Its vocabulary size.
        reference_vocab: usize,
        /// The evaluated model.
        other: String,
        /// Its vocabulary size.
        other_vocab: usize,
    },
    /// A token id is outside the model's vocabulary.
    #[error("{source_name}: token id {token} is outside the vocabulary of {vocab} tokens")]
    TokenOutOfRange {
        /// The model.
        source_name: String,
        /// The token id.
        token: u32,
        /// Vocabulary size.
        vocab: usize,
    },
    /// A reference log-probability file is malformed or does not fit the evaluation.
    #[error("{path}: {message}")]
    LogitsFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The requested device is unavailable.
    #[error("device {device}: {message}")]
    Device {
        /// The device asked for (`cpu`, `cuda`).
        device: String,
        /// Why it cannot be used.
        message: String,
    },
    /// Dequantizing a GGUF tensor failed.
    #[error("{source_name}: tensor {tensor}: cannot dequantize {ty}: {message}")]
    Dequantize {
        /// The model file.
        source_name: String,
        /// The tensor.
        tensor: String,
        /// Its ggml type.
        ty: String,
        /// What went wrong.
        message: String,
    },
    /// An evaluation batch was malformed (windows of different lengths, positions out of range).
    #[error("evaluation batch: {message}")]
    Batch {
        /// What is wrong.
        message: String,
    },
    /// A model does not fit the memory budget even with its blocks streamed one at a time.
    #[error("{what}: needs at least {} streamed one block at a time ({} resident), but the budget is {}; give a larger --max-memory, a smaller --ctx, or another device", crate::memory::gib(*needed), crate::memory::gib(*resident), crate::memory::gib(*budget))]
    NotEnoughMemory {
        /// The model.
        what: String,
        /// Bytes needed streamed (the largest block, one group's temporaries and its hidden states).
        needed: u64,
        /// Bytes needed resident.
        resident: u64,
        /// The budget, bytes.
        budget: u64,
    },
    /// Reference and evaluated model are of different architectures or shapes.
    #[error("{other} ({other_arch}) cannot be compared with the reference {reference} ({reference_arch}): {message}")]
    ModelMismatch {
        /// The reference.
        reference: String,
        /// Its architecture and shape.
        reference_arch: String,
        /// The evaluated model.
        other: String,
        /// Its architecture and shape.
        other_arch: String,
        /// What differs.
        message: String,
    },
    /// A computation in candle failed.
    #[error("tensor computation failed: {0}")]
    Candle(#[from] candle_core::Error),
    /// Drawing the plot failed.
    #[error("plot {path}: {step} failed; check that the folder is writable")]
    Plot {
        /// The output file.
        path: PathBuf,
        /// What was being drawn.
        step: &'static str,
        /// plotters' error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Result alias of this crate.
pub type Result<T, E = ValidateError> = std::result::Result<T, E>;

impl ValidateError {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ValidateError::Io { path: path.into(), source }
    }
}
