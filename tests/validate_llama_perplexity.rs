//! `ggufkit validate` against the pinned `llama-perplexity` on the same GGUF files, text and
//! context: PPL within 1 %, mean KLD within 5 % relative, and (where the tokenizers agree) the
//! very same evaluation tokens.
//!
//! Files: the reference converter's F16 GGUF of a fixture model and `llama-quantize` outputs
//! (Q8_0, Q4_K_M). Text: eval-pydocs.txt, `-c 256 --chunks 4` (508 scored tokens).

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

const CTX: &str = "256";
// `-nr` (no weight repacking) in every llama-perplexity call: the pinned build is native, and its
// repacked AMX kernels for Q8_0/Q4_K die with SIGILL on this machine (the kernel does not grant
// AMX tile state to the process); the plain ggml-cpu kernels compute the same model.
const CHUNKS: &str = "4";

/// The number after `prefix` on the line that contains it.
fn number_after(text: &str, prefix: &str) -> f64 {
    let line = text.lines().find(|l| l.contains(prefix)).unwrap_or_else(|| panic!("no {prefix:?} in:\n{text}"));
    let rest = &line[line.find(prefix).unwrap() + prefix.len()..];
    rest.split_whitespace().next().unwrap().parse().unwrap_or_else(|e| panic!("{line}: {e}"))
}

/// llama-perplexity's output once it holds `marker`, through [`common::llama_tool_log`] (timeout,
/// more runs: under load the pinned tool has exited 0 before its asynchronous logger wrote the
/// closing statistics; runs are serialised there).
fn llama_perplexity(args: &dyn Fn(&mut Command), marker: &str) -> String {
    common::llama_tool_log("llama-perplexity", args, &[marker])
}

fn llama_ppl(model: &Path) -> f64 {
    let marker = "Final estimate: PPL = ";
    let text = llama_perplexity(
        &|cmd| {
            cmd.arg("-m")
                .arg(model)
                .arg("-f")
                .arg(common::corpus("eval-pydocs.txt"))
                .args(["-c", CTX, "--chunks", CHUNKS, "-t", "2", "-nr"]);
        },
        marker,
    );
    number_after(&text, marker)
}

/// `llama-perplexity --kl-divergence-base` of `base_model`, cached.
fn llama_kld_base(base_model: &Path, name: &str) -> PathBuf {
    common::cached(&common::cache_dir().join(format!("{name}.c{CTX}x{CHUNKS}.kld")), |tmp| {
        llama_perplexity(
            &|cmd| {
                cmd.arg("-m")
                    .arg(base_model)
                    .arg("-f")
                    .arg(common::corpus("eval-pydocs.txt"))
                    .arg("--kl-divergence-base")
                    .arg(tmp)
                    .args(["-c", CTX, "--chunks", CHUNKS, "-t", "2", "-nr"]);
            },
            "Final estimate: PPL = ",
        );
    })
}

fn llama_kld(model: &Path, base: &Path) -> (f64, f64) {
    let text = llama_perplexity(
        &|cmd| {
            cmd.arg("-m")
                .arg(model)
                .arg("--kl-divergence-base")
                .arg(base)
                .arg("--kl-divergence")
                .args(["-c", CTX, "--chunks", CHUNKS, "-t", "2", "-nr"]);
        },
        "Same top p: ",
    );
    (number_after(&text, "Mean    KLD: "), number_after(&text, "Same top p: "))
}

/// `ggufkit validate … --json`.
fn ours(reference: &Path, files: &[&Path], extra: &[&str]) -> serde_json::Value {
    let mut cmd = Command::new(common::ggufkit());
    cmd.arg("validate").arg(reference).args(files).arg("--text").arg(common::corpus("eval-pydocs.txt"));
    cmd.args(["--ctx", CTX, "--chunks", CHUNKS, "--json"]).args(extra);
    let out = common::run(&mut cmd);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("bad JSON ({e}):\n{out}"))
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs()
}

fn check_ppl(model: &str, ty: &str) {
    let f16 = common::ref_converted(model, "f16");
    let q = common::ref_quantized(&f16, ty, &[], &format!("{model}-ref-{ty}.gguf"));
    let theirs = llama_ppl(&q);
    let report = ours(&common::fixture_model(model), &[&q], &[]);
    let mine = report["files"][0]["stats"]["ppl"]["value"].as_f64().unwrap();
    eprintln!("{model} {ty}: PPL ours {mine:.4}, llama-perplexity {theirs:.4} ({:.3} %)", 100.0 * rel(mine, theirs));
    assert!(rel(mine, theirs) < 0.01, "{model} {ty}: PPL {mine} vs llama-perplexity {theirs}");
}

#[test]
fn ppl_tiny_llama_q8_0() {
    check_ppl("tiny-llama", "Q8_0");
}

#[test]
fn ppl_tiny_llama_q4_k_m() {
    check_ppl("tiny-llama", "Q4_K_M");
}

#[test]
fn ppl_tiny_gemma2_q8_0() {
    check_ppl("tiny-gemma2", "Q8_0");
}

#[test]
fn ppl_tiny_phi3_q4_k_m() {
    check_ppl("tiny-phi3", "Q4_K_M");
}

#[test]
fn ppl_f16_gguf_reference_matches() {
    // The reference path itself (F16 GGUF, tokenizer from the HF folder).
    let f16 = common::ref_converted("tiny-llama", "f16");
    let theirs = llama_ppl(&f16);
    let tok = common::fixture_model("tiny-llama").join("tokenizer.json");
    let report = ours(&f16, &[&f16], &["--tokenizer", tok.to_str().unwrap()]);
    let mine = report["reference"]["ppl"]["value"].as_f64().unwrap();
    eprintln!("tiny-llama F16: PPL ours {mine:.4}, llama-perplexity {theirs:.4}");
    assert!(rel(mine, theirs) < 0.01, "F16 PPL {mine} vs llama-perplexity {theirs}");
    // Same file against itself: no divergence.
    let kld = report["files"][0]["stats"]["kld_mean"]["value"].as_f64().unwrap();
    assert!(kld < 1e-4, "self-KLD {kld}");
}

fn check_kld(model: &str, ty: &str) {
    let f16 = common::ref_converted(model, "f16");
    let q = common::ref_quantized(&f16, ty, &[], &format!("{model}-ref-{ty}.gguf"));
    let base = llama_kld_base(&f16, &format!("{model}-ref-f16"));
    let (theirs, their_top) = llama_kld(&q, &base);
    let tok = common::fixture_model(model).join("tokenizer.json");
    // Our whole pipeline: our F16 forward pass as the reference, our quantized forward pass.
    let report = ours(&f16, &[&q], &["--tokenizer", tok.to_str().unwrap()]);
    let mine = report["files"][0]["stats"]["kld_mean"]["value"].as_f64().unwrap();
    let my_top = 100.0 * report["files"][0]["stats"]["same_top"]["value"].as_f64().unwrap();
    eprintln!("{model} {ty}: mean KLD ours {mine:.6}, llama-perplexity {theirs:.6}; same top ours {my_top:.2} %, theirs {their_top:.2} %");
    assert!(rel(mine, theirs) < 0.05, "{model} {ty}: KLD {mine} vs llama-perplexity {theirs}");
    // llama-perplexity's own base file as our reference: the same tokens and log-probabilities.
    let report = ours(&base, &[&q], &[]);
    let mine2 = report["files"][0]["stats"]["kld_mean"]["value"].as_f64().unwrap();
    eprintln!("{model} {ty}: mean KLD ours against llama.cpp's base file {mine2:.6}");
    assert!(rel(mine2, theirs) < 0.05, "{model} {ty}: KLD vs llama.cpp base {mine2} vs {theirs}");
}

#[test]
fn kld_tiny_llama_q4_k_m() {
    check_kld("tiny-llama", "Q4_K_M");
}

#[test]
fn kld_tiny_gemma2_q4_k_m() {
    check_kld("tiny-gemma2", "Q4_K_M");
}

#[test]
fn tokens_match_llama_cpp() {
    // The evaluation tokens we save equal those llama-perplexity saves for the same text.
    let f16 = common::ref_converted("tiny-llama", "f16");
    let base = llama_kld_base(&f16, "tiny-llama-ref-f16");
    let ours_file = common::cache_dir().join(format!("tiny-llama-ours-{}.kld", std::process::id()));
    ours(&common::fixture_model("tiny-llama"), &[&f16], &["--save-reference", ours_file.to_str().unwrap()]);
    let read_tokens = |p: &Path| -> Vec<i32> {
        let b = std::fs::read(p).unwrap();
        let n_ctx = u32::from_le_bytes(b[8..12].try_into().unwrap()) as usize;
        let n_chunk = i32::from_le_bytes(b[16..20].try_into().unwrap()) as usize;
        b[20..20 + 4 * n_ctx * n_chunk].chunks_exact(4).map(|c| i32::from_le_bytes(c.try_into().unwrap())).collect()
    };
    let (theirs, mine) = (read_tokens(&base), read_tokens(&ours_file));
    let _ = std::fs::remove_file(&ours_file);
    assert_eq!(mine.len(), theirs.len());
    let first_diff = mine.iter().zip(&theirs).position(|(a, b)| a != b);
    assert_eq!(first_diff, None, "token streams differ");
}

/// Every generated fixture whose architecture is a mixture of experts (the table's
/// `layout.moe`), quantized to Q4_K_M by llama-quantize: our forward pass on the quantized stacked
/// experts (each expert's rows of `ffn_*_exps`, routed per token) gives llama-perplexity's PPL.
#[test]
fn ppl_generated_moe_q4_k_m() {
    for model in common::GENERATED.iter() {
        let dir = common::generated_fixture(model);
        let config: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
        let moe = config["model_type"].as_str().and_then(gguf::arch::by_hf_model_type).is_some_and(|a| a.layout.moe.is_some());
        if !moe {
            continue;
        }
        let f16 = common::ref_converted_generated_f16(model);
        let q = common::ref_quantized(&f16, "Q4_K_M", &[], &format!("{model}-ref-Q4_K_M.gguf"));
        let theirs = llama_ppl(&q);
        let report = ours(&dir, &[&q], &[]);
        let mine = report["files"][0]["stats"]["ppl"]["value"].as_f64().unwrap();
        eprintln!("{model} Q4_K_M: PPL ours {mine:.4}, llama-perplexity {theirs:.4} ({:.3} %)", 100.0 * rel(mine, theirs));
        assert!(rel(mine, theirs) < 0.01, "{model} Q4_K_M: PPL {mine} vs llama-perplexity {theirs}");
    }
}
