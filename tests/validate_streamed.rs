//! Streamed evaluation (one block at a time, `--stream`) gives the numbers of the resident one:
//! reference PPL, and the PPL and mean KLD of a quantized file, equal within 1e-4 relative. Each
//! model is an HF folder (BF16/F32 safetensors reference) or a llama.cpp-quantized Q4_K_M GGUF of
//! its F16 conversion (ggml blocks multiplied in place); Phi-3 covers the fused qkv/gate_up split.

use crate::common;

use std::path::Path;
use std::process::Command;

fn ours(reference: &Path, file: &Path, extra: &[&str]) -> serde_json::Value {
    let mut cmd = Command::new(common::ggufkit());
    cmd.arg("validate").arg(reference).arg(file).arg("--text").arg(common::corpus("eval-pydocs.txt"));
    cmd.args(["--ctx", "128", "--chunks", "6", "--json"]).args(extra);
    let out = common::run(&mut cmd);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("bad JSON ({e}):\n{out}"))
}

fn value(r: &serde_json::Value, path: &[&str]) -> f64 {
    value_at(r, path).as_f64().unwrap_or_else(|| panic!("no number at {path:?} in {r}"))
}

fn check(model: &str) {
    let f16 = common::ref_converted(model, "f16");
    let q = common::ref_quantized(&f16, "Q4_K_M", &[], &format!("{model}-ref-Q4_K_M.gguf"));
    let dir = common::fixture_model(model);
    let resident = ours(&dir, &q, &[]);
    let streamed = ours(&dir, &q, &["--stream"]);
    assert_eq!(resident["reference"]["memory"]["plan"]["mode"], "resident", "{resident}");
    assert_eq!(streamed["reference"]["memory"]["plan"]["mode"], "streamed", "{streamed}");
    assert_eq!(streamed["files"][0]["memory"]["plan"]["mode"], "streamed", "{streamed}");
    for path in [
        &["reference", "ppl", "value"][..],
        &["files", "0", "stats", "ppl", "value"],
        &["files", "0", "stats", "kld_mean", "value"],
        &["files", "0", "stats", "same_top", "value"],
    ] {
        let (a, b) = (value(&resident, path), value(&streamed, path));
        let rel = (a - b).abs() / a.abs().max(1e-12);
        eprintln!("{model} {path:?}: resident {a:.6}, streamed {b:.6} (rel {rel:.2e})");
        assert!(rel <= 1e-4, "{model} {path:?}: resident {a} vs streamed {b}");
    }
}

fn value_at(r: &serde_json::Value, path: &[&str]) -> serde_json::Value {
    let mut v = r;
    for p in path {
        v = match p.parse::<usize>() {
            Ok(i) => &v[i],
            Err(_) => &v[*p],
        };
    }
    v.clone()
}

#[test]
fn streamed_equals_resident_tiny_llama() {
    check("tiny-llama");
}

#[test]
fn streamed_equals_resident_tiny_phi3() {
    check("tiny-phi3");
}

#[test]
fn report_says_mode_and_peak() {
    let f16 = common::ref_converted("tiny-llama", "f16");
    let r = ours(&f16, &f16, &["--tokenizer", common::fixture_model("tiny-llama").join("tokenizer.json").to_str().unwrap()]);
    let peak = value_at(&r, &["files", "0", "memory", "peak_bytes"]);
    assert!(peak.as_u64().is_some_and(|p| p > 0), "{r}");
    assert!(value_at(&r, &["files", "0", "memory", "plan", "budget"]).as_u64().is_some_and(|b| b > 0), "{r}");
}
