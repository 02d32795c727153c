//! [`BatchError`], in a file of its own so that the manifest parser compiles without the rest of
//! the binary (the `batch_manifest` fuzz target includes `manifest.rs` and this file).

use std::path::PathBuf;

/// What went wrong in a batch (the jobs' own errors are reported per job, not here).
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// A file operation failed.
    #[error("{path}: cannot {op}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What was being done.
        op: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The manifest is not valid TOML, or its fields are not a manifest's.
    #[error("{path}: not a valid manifest: {source}")]
    ManifestToml {
        /// The manifest.
        path: PathBuf,
        /// The TOML parser's error (line, column and the field).
        #[source]
        source: toml::de::Error,
    },
    /// The state file is not valid JSON or not a state file.
    #[error("{path}: not a valid batch state file: {source}")]
    StateJson {
        /// The state file.
        path: PathBuf,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// The manifest is not a valid manifest.
    #[error("{path}: {reason}")]
    Manifest {
        /// The manifest.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A `[[model]]` entry cannot be expanded.
    #[error("model entry `{entry}`: {reason}")]
    BadEntry {
        /// The entry's path or glob.
        entry: String,
        /// What is wrong.
        reason: String,
    },
    /// A state file cannot be used.
    #[error("{path}: state file: {reason} (move it away to start over)")]
    State {
        /// The state file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// `--shard` or the scheduler's environment is invalid.
    #[error("shard: {0}")]
    Shard(String),
}
