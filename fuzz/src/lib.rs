//! The ggufkit binary's parsers, for the fuzz targets.
//!
//! The `ggufkit` package is a binary crate; its input, architecture and tokenizer modules are
//! compiled here again from their own files (they depend on no other module of the binary), as
//! is the batch manifest parser (with the size parser it uses), so
//! the fuzz targets call exactly the code the binary runs. [`scratch_dir`] gives each fuzz
//! process one folder to write model-folder files into.
#![allow(dead_code, unused_imports, clippy::all)]

#[path = "../../src/arch/mod.rs"]
pub mod arch;
#[path = "../../src/input/mod.rs"]
pub mod input;
#[path = "../../src/tokenizer/mod.rs"]
pub mod tokenizer;

#[path = "../../src/batch/error.rs"]
mod batch_error;
/// The batch manifest parser (`src/batch/manifest.rs`), without the rest of `batch` (which needs
/// the converter); its `super::BatchError` is the one below.
#[path = "../../src/batch/manifest.rs"]
pub mod batch_manifest;
/// Sizes (`8GiB`), which the manifest parses (`src/size.rs`).
#[path = "../../src/size.rs"]
pub mod size;
pub use batch_error::BatchError;

use std::path::{Path, PathBuf};

/// A folder of this fuzz process (created once, under the system temporary folder), emptied of
/// `names` before each use.
pub fn scratch_dir(names: &[&str]) -> &'static Path {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("ggufkit-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("create the fuzz scratch folder");
        d
    });
    for n in names {
        let _ = std::fs::remove_file(dir.join(n));
    }
    dir
}

/// Splits `data` at the first occurrence of `sep` (the rest empty when absent).
pub fn split<'a>(data: &'a [u8], sep: &[u8]) -> (&'a [u8], &'a [u8]) {
    match data.windows(sep.len()).position(|w| w == sep) {
        Some(i) => (&data[..i], &data[i + sep.len()..]),
        None => (data, &[]),
    }
}
