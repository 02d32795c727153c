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

mod error;

pub use error::BatchError;

pub use run::{run, Event, RunOptions};
