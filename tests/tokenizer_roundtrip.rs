//! The pre-tokenizer we recognise splits text the way the model's own tokenizer does: llama.cpp
//! tokenizing with the recognised `tokenizer.ggml.pre` gives the same token ids as the Hugging
//! Face `tokenizers` library with the model's tokenizer.json.
//!
//! tiny-qwen2 is the case the pinned converter refuses; its GGUF here is the converter's, run
//! through tests/py/convert_with_pre.py answering "qwen2" (tokenizer_reference.rs checks that our
//! tokenizer keys equal that file's). llama.cpp tokenizes through `llama-completion
//! --verbose-prompt`.

use crate::common;
use crate::tokenizer_util;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value as Json};
use tokenizer_util::{hf_ids, llama_cpp_ids, sample_text};

fn qwen2_gguf() -> PathBuf {
    common::ref_converted_with_pre("tiny-qwen2", "qwen2", "f16")
}

#[test]
fn tiny_qwen2_recognised_pre_tokenizer_tokenizes_like_hf() {
    // Our recognition for this model (the keys of the GGUF are checked in tokenizer_reference.rs).
    let out = common::run(Command::new(common::ggufkit()).arg("tokenizer").arg(common::fixture_model("tiny-qwen2")));
    assert!(out.contains("tokenizer.ggml.pre = \"qwen2\""), "ggufkit tokenizer output:\n{out}");

    assert_tokenizes_alike("qwen2", &qwen2_gguf(), &common::fixture_model("tiny-qwen2").join("tokenizer.json"));
}

/// llama.cpp on `gguf` and HF tokenizers on `tokenizer_json` give the same ids for sample_text().
fn assert_tokenizes_alike(what: &str, gguf: &Path, tokenizer_json: &Path) {
    let tmp = tempfile::tempdir().unwrap();
    let text_file = tmp.path().join("text.txt");
    std::fs::write(&text_file, sample_text()).unwrap();
    let ours = llama_cpp_ids(gguf, &text_file);
    let hf = hf_ids(tokenizer_json, &text_file);
    if let Some(i) = (0..ours.len().min(hf.len())).find(|&i| ours[i] != hf[i]) {
        panic!(
            "{what}: token {i} differs: llama.cpp {:?} vs HF {:?} (lengths {} and {})",
            &ours[i..(i + 8).min(ours.len())],
            &hf[i..(i + 8).min(hf.len())],
            ours.len(),
            hf.len()
        );
    }
    assert_eq!(ours.len(), hf.len(), "{what}: token counts differ");
    assert!(ours.len() > 500, "{what}: too few tokens compared: {}", ours.len());
}

/// Split regexes as the tokenizer.json of models of each family declares them.
const GPT2: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)";
const LLAMA3: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const QWEN35: &str =
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const GPT4O: &str = r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const TEKKEN: &str = r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+";

fn split_then_bytes(regex: &str) -> Json {
    json!({"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": regex}, "behavior": "Isolated", "invert": false},
        {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}]})
}

/// tiny-qwen2's vocabulary and merges under another declared pre-tokenizer: ggufkit must
/// recognise `expected`, and llama.cpp with that `tokenizer.ggml.pre` must tokenize like HF.
fn check_pre(expected: &str, pre_tokenizer: Json, ignore_merges: bool, clean_up: bool) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("model");
    std::fs::create_dir(&dir).unwrap();
    let src = common::fixture_model("tiny-qwen2");
    for f in ["config.json", "generation_config.json", "special_tokens_map.json", "model.safetensors"] {
        std::fs::copy(src.join(f), dir.join(f)).unwrap();
    }
    let mut tj: Json = serde_json::from_slice(&std::fs::read(src.join("tokenizer.json")).unwrap()).unwrap();
    tj["pre_tokenizer"] = pre_tokenizer;
    tj["model"]["ignore_merges"] = json!(ignore_merges);
    std::fs::write(dir.join("tokenizer.json"), serde_json::to_vec(&tj).unwrap()).unwrap();
    let mut tc: Json = serde_json::from_slice(&std::fs::read(src.join("tokenizer_config.json")).unwrap()).unwrap();
    tc["clean_up_tokenization_spaces"] = json!(clean_up);
    std::fs::write(dir.join("tokenizer_config.json"), serde_json::to_vec(&tc).unwrap()).unwrap();

    let ours = tokenizer_util::ours(&dir);
    let pre = ours.as_array().unwrap().iter().find(|e| e["key"] == "tokenizer.ggml.pre").map(|e| e["value"].clone());
    assert_eq!(pre, Some(json!(expected)), "recognised pre-tokenizer");

    let gguf = tmp.path().join("model.gguf");
    common::convert_with_pre(&dir, expected, "f16", &gguf);
    assert_tokenizes_alike(expected, &gguf, &dir.join("tokenizer.json"));
}

#[test]
fn gpt2_byte_level_tokenizes_like_hf() {
    check_pre("gpt-2", json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true}), false, true);
}

#[test]
fn llama3_split_tokenizes_like_hf() {
    check_pre("llama-bpe", split_then_bytes(LLAMA3), true, true);
}

#[test]
fn llama3_split_without_ignore_merges_tokenizes_like_hf() {
    check_pre("smaug-bpe", split_then_bytes(LLAMA3), false, true);
}

#[test]
fn qwen35_split_tokenizes_like_hf() {
    check_pre("qwen35", split_then_bytes(QWEN35), false, false);
}

#[test]
fn gpt4o_split_tokenizes_like_hf() {
    check_pre("gpt-4o", split_then_bytes(GPT4O), false, false);
}

#[test]
fn tekken_split_tokenizes_like_hf() {
    check_pre("tekken", split_then_bytes(TEKKEN), true, false);
}

#[test]
fn digits_then_byte_level_tokenizes_like_hf() {
    let pt = json!({"type": "Sequence", "pretokenizers": [
        {"type": "Digits", "individual_digits": true},
        {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true}]});
    check_pre("smollm", pt.clone(), false, false);
    check_pre("starcoder", pt, false, true);
}

/// The GPT-2 split declared as an explicit Split (as some tokenizers do) is still "gpt-2".
#[test]
fn explicit_gpt2_split_tokenizes_like_hf() {
    check_pre("gpt-2", split_then_bytes(GPT2), false, true);
}

/// DeepSeek-Coder's chain of isolating splits, digits one by one, then bytes.
#[test]
fn deepseek_coder_chain_tokenizes_like_hf() {
    let split = |r: &str| json!({"type": "Split", "pattern": {"Regex": r}, "behavior": "Isolated", "invert": false});
    let pt = json!({"type": "Sequence", "pretokenizers": [
        split("[\r\n]"),
        split(r"\s?\p{L}+"),
        split(r"\s?\p{P}+"),
        split("[\u{4e00}-\u{9fa5}\u{0800}-\u{4e00}\u{ac00}-\u{d7ff}]+"),
        {"type": "Digits", "individual_digits": true},
        {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}]});
    check_pre("deepseek-coder", pt, false, false);
}
