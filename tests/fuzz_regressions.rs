//! Every input the fuzz targets (fuzz/) crashed on, minimised, kept in
//! `fuzz/regressions/TARGET/`: each goes through the same entry point as its target and must give
//! an answer (an error, for all found so far), not a panic. Runs on stable, without libFuzzer.

mod common;

use std::path::{Path, PathBuf};

/// The regression inputs of one target.
fn inputs(target: &str) -> Vec<PathBuf> {
    let dir = common::repo_root().join("fuzz/regressions").join(target);
    let mut v: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(rd) => rd.map(|e| e.expect("entry").path()).collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

/// Runs `check` on every input of `target`, catching panics, and reports them all.
fn each(target: &str, check: impl Fn(&Path) -> Result<(), String>) {
    let mut failures = Vec::new();
    for p in inputs(target) {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&p))) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failures.push(format!("{}: {e}", p.display())),
            Err(_) => failures.push(format!("{}: panicked", p.display())),
        }
    }
    assert!(failures.is_empty(), "{target}:\n{}", failures.join("\n"));
}

/// The header's sizes multiplied past u64 (`4 · n_ctx · n_chunk + 2 · n_chunk · scored · row`):
/// a panic with overflow checks (what the fuzzer found), and without them (release builds) a
/// header-only file of 20 bytes whose sizes wrap to exactly 20 was accepted
/// (`header-size-wraps-to-file-size`: n_ctx 2^31, n_vocab 2^32 − 4, 2^31 chunks). Now computed in
/// u128 and refused as a size mismatch.
#[test]
fn validate_logits() {
    assert!(!inputs("validate_logits").is_empty(), "the regression inputs are missing");
    each("validate_logits", |p| match validate::logits_file::LogitsReader::open(p) {
        Ok(_) => Err("accepted".into()),
        Err(e) if e.to_string().contains("size") => Ok(()),
        Err(e) => Err(format!("unexpected error: {e}")),
    });
}
