//! The `tokenizer.*` metadata ggufkit writes equals, key by key, value by value and in order,
//! what the pinned llama.cpp converter (`convert_hf_to_gguf.py`, gguf-py 0.19.0) writes, read
//! back from its GGUF with gguf-py (tests/py/dump_tokenizer_kv.py).
//!
//! Ours comes from `ggufkit tokenizer --json MODEL_DIR` (the same `tokenizer::metadata` that
//! conversion uses).

use crate::common;
use crate::tokenizer_util;

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value as Json;
use tokenizer_util::{assert_same, ours, ours_via_gguf, ref_vocab_only, reference};

/// SmolLM2-135M-Instruct as an HF folder made by scripts/make-smollm2-hf.py, cached.
fn smollm2_hf() -> PathBuf {
    let out = common::cache_dir().join("smollm2-135m-instruct-hf");
    common::cached(&out, |tmp| {
        let _ = std::fs::remove_dir_all(tmp);
        common::run(
            Command::new(common::ref_python())
                .arg(common::repo_root().join("scripts/make-smollm2-hf.py"))
                .arg(tmp)
                .arg("--gguf")
                .arg(common::smollm2_q4_1()),
        );
    })
}

#[test]
fn tiny_llama_sentencepiece_matches_converter() {
    let dir = common::fixture_model("tiny-llama");
    let r = reference(&common::ref_converted("tiny-llama", "f16"));
    assert_same("tiny-llama", &r, &ours(&dir));
    assert_same("tiny-llama (written GGUF)", &r, &ours_via_gguf(&dir));
}

#[test]
fn tiny_phi3_sentencepiece_matches_converter() {
    let dir = common::fixture_model("tiny-phi3");
    let r = reference(&common::ref_converted("tiny-phi3", "f16"));
    assert_same("tiny-phi3", &r, &ours(&dir));
    assert_same("tiny-phi3 (written GGUF)", &r, &ours_via_gguf(&dir));
}

#[test]
fn tiny_gemma2_sentencepiece_matches_converter() {
    let dir = common::fixture_model("tiny-gemma2");
    let r = reference(&common::ref_converted("tiny-gemma2", "f16"));
    assert_same("tiny-gemma2", &r, &ours(&dir));
    assert_same("tiny-gemma2 (written GGUF)", &r, &ours_via_gguf(&dir));
}

/// tiny-qwen2: the pinned converter refuses its pre-tokenizer hash (see
/// `converter_refuses_tiny_qwen2_pre_tokenizer`), so the reference is the converter run through
/// tests/py/convert_with_pre.py, which answers its pre-tokenizer lookup with "qwen2" (the
/// pre-tokenizer tiny-qwen2's tokenizer.json declares: Qwen2's split regex). Every other key is
/// the converter's own work; `tokenizer.ggml.pre` = "qwen2" is our recognition agreeing with
/// that answer.
#[test]
fn tiny_qwen2_bpe_matches_converter_with_qwen2_pre() {
    let dir = common::fixture_model("tiny-qwen2");
    let gguf = ref_vocab_only("tiny-qwen2", &dir, Some("qwen2"));
    let r = reference(&gguf);
    assert_same("tiny-qwen2", &r, &ours(&dir));
    assert_same("tiny-qwen2 (written GGUF)", &r, &ours_via_gguf(&dir));
}

/// The pinned converter gives up on tiny-qwen2 with "BPE pre-tokenizer was not recognized";
/// ggufkit recognises it (previous test).
#[test]
fn converter_refuses_tiny_qwen2_pre_tokenizer() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(common::ref_python())
        .arg(common::ref_llama_src().join("convert_hf_to_gguf.py"))
        .arg(common::fixture_model("tiny-qwen2"))
        .arg("--vocab-only")
        .arg("--outfile")
        .arg(tmp.path().join("x.gguf"))
        .output()
        .expect("run the reference converter");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the pinned converter now accepts tiny-qwen2: use common::ref_converted for it");
    assert!(stderr.contains("BPE pre-tokenizer was not recognized"), "unexpected failure:\n{stderr}");
}

/// SmolLM2-135M-Instruct: a real byte-level BPE vocabulary (49152 tokens, 48900 merges); the
/// converter recognises its pre-tokenizer by hash ("smollm"), we by its declared
/// Digits + ByteLevel chain: both must agree, as must every other key.
#[test]
fn smollm2_bpe_matches_converter() {
    let dir = smollm2_hf();
    let gguf = ref_vocab_only("smollm2-135m-instruct", &dir, None);
    let r = reference(&gguf);
    let pre = r.as_array().unwrap().iter().find(|e| e["key"] == "tokenizer.ggml.pre").map(|e| e["value"].clone());
    assert_eq!(pre, Some(Json::from("smollm")), "the converter's hash lookup");
    assert_same("SmolLM2-135M-Instruct", &r, &ours(&dir));
    assert_same("SmolLM2-135M-Instruct (written GGUF)", &r, &ours_via_gguf(&dir));
}
