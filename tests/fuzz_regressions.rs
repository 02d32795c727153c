//! Every input the fuzz targets (fuzz/) crashed on, minimised, kept in
//! `fuzz/regressions/TARGET/`: each goes through the same entry point as its target and must give
//! an answer (an error, for all found so far), not a panic. Runs on stable, without libFuzzer.

use crate::common;

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

/// config.json dimensions whose products overflowed 64 bits (`num_attention_heads` ≈ 2^63 times
/// `head_dim`): now refused, naming the limit, when converting tiny-llama's weights with that
/// config (`plan` refuses such a config earlier, by its own head-count bound).
#[test]
fn config_arch() {
    assert!(!inputs("config_arch").is_empty(), "the regression inputs are missing");
    each("config_arch", |p| {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        for e in std::fs::read_dir(common::fixture_model("tiny-llama")).map_err(|e| e.to_string())? {
            let f = e.map_err(|e| e.to_string())?.path();
            std::fs::copy(&f, dir.path().join(f.file_name().unwrap_or_default())).map_err(|e| e.to_string())?;
        }
        std::fs::copy(p, dir.path().join("config.json")).map_err(|e| e.to_string())?;
        let out = dir.path().join("out.gguf");
        let mut cmd = std::process::Command::new(common::ggufkit());
        cmd.arg("convert").arg(dir.path()).args(["-t", "F16", "-o"]).arg(&out);
        let r = common::run_to_files(&mut cmd);
        match r.status.and_then(|s| s.code()) {
            Some(1) if r.stderr.contains("at most") && !r.stderr.contains("panicked") => Ok(()),
            other => Err(format!("exit {other:?}, expected a refusal naming the limit:\n{}", r.stderr)),
        }
    });
}
