//! `ggufkit batch MANIFEST.toml`: many models × many types, resumable, with a report.
//!
//! - [`manifest`]: the TOML manifest.
//! - [`jobs`]: the job list (model × type → output file, predicted size, input fingerprint).
//! - [`state`]: the state file of finished and failed jobs (locked, atomic updates).
//! - [`shard`]: `--shard I/N` and the scheduler's environment (Slurm arrays, Kubernetes).
//! - [`run`]: the run itself: skip what is finished and still matches, convert each model's
//!   pending types in one pass, check disk space first, keep going past failures.

pub mod jobs;
pub mod manifest;
pub mod run;
pub mod shard;
pub mod state;

use std::path::PathBuf;

pub use run::{run, Event, RunOptions};

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
    /// The manifest is not valid TOML or not a valid manifest.
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
