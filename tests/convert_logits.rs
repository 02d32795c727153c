//! Our F32/F16 conversions of every fixture load in the pinned llama.cpp (llama-cpp-python of the
//! same sdist, tests/py/llama_logits.py) and give the transformers reference logits
//! (`reference_logits.safetensors`: fp32 forward pass of the first 64 tokens of eval-pydocs.txt):
//! the top-1 token is identical at every position and the largest absolute logit difference is at
//! most [`MAX_ABS_DIFF`].
//!
//! Tolerance: llama.cpp computes attention with an F16 KV cache and its own kernels, so even the
//! reference converter's F32 file differs from transformers by ~0.01 on these models (logits span
//! about ±20); 0.05 is 5× that, and far below what a wrong permutation, norm offset or tensor
//! mapping gives (differences of several units, top-1 disagreements).
//!
//! The generated fixtures (tests/fixtures/generated: Mistral, Llama 3.2, Phi-4-mini with random
//! weights) are held to the same logit bound; an argmax may differ only at a near tie ([`NEAR_TIE`]).
//!
//! tiny-qwen2 is the model the pinned converter refuses (unknown BPE pre-tokenizer): this logits
//! check is its end-to-end test. tiny-phi3 is named `tinymodel` (llama.cpp's Phi-3 vocab check,
//! tests/fixtures/README.md).

use crate::common;

use std::process::Command;

use common::*;

/// Largest accepted |logit(llama.cpp on our file) − logit(transformers)|.
const MAX_ABS_DIFF: f64 = 0.05;

/// The generated fixtures' random weights give flat logits whose top two can be 0.003 apart: there
/// an argmax may differ, but only where transformers' top-1 − top-2 margin is below this (a near
/// tie that llama.cpp's F16 KV cache can flip; far below what a wrong tensor or rope gives).
const NEAR_TIE: f64 = 0.02;

#[test]
fn our_float_files_reproduce_transformers_logits() {
    let mut failures = Vec::new();
    let trained = ["tiny-llama", "tiny-qwen2", "tiny-phi3", "tiny-gemma2"].map(|m| (m, fixture_model(m)));
    let generated = GENERATED.iter().map(|m| (*m, generated_fixture(m)));
    for (model, folder) in trained.into_iter().chain(generated) {
        for ty in ["F32", "F16"] {
            let dir = cache_dir().join(format!("logits-{model}-{ty}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("mkdir");
            let out = dir.join("m.gguf");
            let mut cmd = Command::new(ggufkit());
            cmd.arg("convert").arg(&folder).arg("-t").arg(ty).arg("-o").arg(&out);
            if model == "tiny-phi3" {
                cmd.arg("--name").arg("tinymodel");
            }
            run(&mut cmd);
            let lib = ref_bin("libllama.so");
            let json = run(Command::new(ref_python())
                .arg(repo_root().join("tests/py/llama_logits.py"))
                .arg(&out)
                .arg(folder.join("reference_logits.safetensors"))
                .env("PYTHONPATH", ref_dir().join("src"))
                .env("LLAMA_CPP_LIB_PATH", lib.parent().expect("lib folder")));
            let v: serde_json::Value = serde_json::from_str(json.trim().lines().last().unwrap_or("")).expect("llama_logits.py JSON");
            let n = v["n_tokens"].as_u64().expect("n_tokens");
            let agree = v["top1_agree"].as_u64().expect("top1_agree");
            let max = v["max_abs_diff"].as_f64().expect("max_abs_diff");
            eprintln!("{model} {ty}: top-1 {agree}/{n}, max |diff| {max:.5}");
            // trained fixtures: every argmax equal; random generated ones: only near ties may flip
            let margins: Vec<f64> = v["top1_disagree_margins"].as_array().expect("margins").iter().filter_map(|m| m.as_f64()).collect();
            let top1_ok = if GENERATED.contains(&model) { margins.iter().all(|m| *m < NEAR_TIE) } else { agree == n };
            if n != 64 || !top1_ok || max.is_nan() || max > MAX_ABS_DIFF {
                failures.push(format!("{model} {ty}: {v}"));
            }
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    assert!(failures.is_empty(), "logits differ from transformers:\n{}", failures.join("\n"));
}
