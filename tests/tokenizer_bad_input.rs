//! Bad tokenizer input: a clear error naming the file, a non-zero exit, never a panic.

use crate::common;

use std::path::Path;
use std::process::{Command, Output};

fn copy_model(name: &str, to: &Path) {
    for entry in std::fs::read_dir(common::fixture_model(name)).unwrap() {
        let p = entry.unwrap().path();
        let file = p.file_name().unwrap().to_str().unwrap().to_owned();
        // Tokenizer and config files only: the weights are not needed.
        let tokenizer_or_config = file.ends_with(".json") || file.ends_with(".model") || file.ends_with(".txt");
        if tokenizer_or_config && !file.starts_with("model.safetensors") {
            std::fs::copy(&p, to.join(&file)).unwrap();
        }
    }
}

fn tokenizer_cmd(dir: &Path) -> Output {
    Command::new(common::ggufkit()).arg("tokenizer").arg(dir).output().unwrap()
}

fn assert_clean_failure(out: &Output, must_contain: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "expected a clean error exit (1), got {:?}:\n{stderr}", out.status);
    assert!(!stderr.contains("panicked"), "panic:\n{stderr}");
    for s in must_contain {
        assert!(stderr.contains(s), "error should mention {s:?}:\n{stderr}");
    }
}

#[test]
fn truncated_sentencepiece_model_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    copy_model("tiny-llama", tmp.path());
    let spm = tmp.path().join("tokenizer.model");
    let bytes = std::fs::read(&spm).unwrap();
    for cut in [bytes.len() - 3, bytes.len() / 2, 7] {
        std::fs::write(&spm, &bytes[..cut]).unwrap();
        assert_clean_failure(&tokenizer_cmd(tmp.path()), &["tokenizer.model", "SentencePiece"]);
    }
}

#[test]
fn garbage_sentencepiece_model_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    copy_model("tiny-gemma2", tmp.path());
    std::fs::write(tmp.path().join("tokenizer.model"), b"\x0a\xff\xff\xff\xff\x0fnot a model").unwrap();
    assert_clean_failure(&tokenizer_cmd(tmp.path()), &["tokenizer.model"]);
}

#[test]
fn malformed_tokenizer_json_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    copy_model("tiny-qwen2", tmp.path());
    std::fs::write(tmp.path().join("tokenizer.json"), b"{\"model\": {\"type\": \"BPE\", ").unwrap();
    assert_clean_failure(&tokenizer_cmd(tmp.path()), &["tokenizer.json", "invalid JSON"]);
}

#[test]
fn missing_tokenizer_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    copy_model("tiny-qwen2", tmp.path());
    std::fs::remove_file(tmp.path().join("tokenizer.json")).unwrap();
    assert_clean_failure(&tokenizer_cmd(tmp.path()), &["tokenizer.json"]);
}

/// A pre-tokenizer regex that no llama.cpp pre-type uses: the error lists what was found and
/// what is known.
#[test]
fn unknown_pre_tokenizer_lists_found_and_known() {
    let tmp = tempfile::tempdir().unwrap();
    copy_model("tiny-qwen2", tmp.path());
    let path = tmp.path().join("tokenizer.json");
    let mut tj: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    tj["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = serde_json::Value::from("\\p{L}+|[0-9]{1,5}");
    std::fs::write(&path, serde_json::to_vec(&tj).unwrap()).unwrap();
    assert_clean_failure(&tokenizer_cmd(tmp.path()), &["not recognized", "[0-9]{1,5}", "qwen2", "llama-bpe"]);
}

#[test]
fn vocab_smaller_than_tokenizer_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    copy_model("tiny-qwen2", tmp.path());
    let path = tmp.path().join("config.json");
    let mut cfg: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    cfg["vocab_size"] = serde_json::Value::from(100);
    std::fs::write(&path, serde_json::to_vec(&cfg).unwrap()).unwrap();
    assert_clean_failure(&tokenizer_cmd(tmp.path()), &["tokenizer.json", "vocabulary size 100"]);
}

#[test]
fn unsupported_architecture_lists_supported() {
    let tmp = tempfile::tempdir().unwrap();
    copy_model("tiny-llama", tmp.path());
    let out = Command::new(common::ggufkit()).arg("tokenizer").arg("--arch").arg("MambaForCausalLM").arg(tmp.path()).output().unwrap();
    assert_clean_failure(&out, &["MambaForCausalLM", "llama", "qwen2", "gemma2"]);
}

/// An absurd config vocab_size is refused before anything that size is allocated.
#[test]
fn huge_vocab_size_is_refused() {
    for model in ["tiny-llama", "tiny-qwen2"] {
        let tmp = tempfile::tempdir().unwrap();
        copy_model(model, tmp.path());
        let path = tmp.path().join("config.json");
        let mut cfg: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        cfg["vocab_size"] = serde_json::Value::from(1_000_000_000_000u64);
        std::fs::write(&path, serde_json::to_vec(&cfg).unwrap()).unwrap();
        assert_clean_failure(&tokenizer_cmd(tmp.path()), &["config.json", "vocab_size 1000000000000"]);
    }
}
