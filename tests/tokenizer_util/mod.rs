//! Shared by the tokenizer tests: our metadata (`ggufkit tokenizer`), the reference converter's
//! (read with gguf-py), and their comparison.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value as Json;

use crate::common;

/// `ggufkit tokenizer --json DIR`.
pub fn ours(dir: &Path) -> Json {
    let out = common::run(Command::new(common::ggufkit()).arg("tokenizer").arg("--json").arg(dir));
    serde_json::from_str(&out).expect("ggufkit tokenizer --json prints JSON")
}

/// `ggufkit tokenizer --gguf OUT DIR` read back by gguf-py: the same keys through
/// `tokenizer::gguf_metadata`'s GGUF values and the gguf crate's writer.
pub fn ours_via_gguf(dir: &Path) -> Json {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("vocab.gguf");
    common::run(Command::new(common::ggufkit()).arg("tokenizer").arg("--gguf").arg(&out).arg(dir));
    reference(&out)
}

/// The tokenizer keys of a reference GGUF, read by gguf-py.
pub fn reference(gguf: &Path) -> Json {
    let script = common::repo_root().join("tests/py/dump_tokenizer_kv.py");
    let out = common::run(Command::new(common::ref_python()).arg(script).arg(gguf));
    serde_json::from_str(&out).expect("dump_tokenizer_kv.py prints JSON")
}

pub fn short(v: &Json) -> String {
    let s = v.to_string();
    if s.len() > 200 {
        format!("{}…", &s[..s.char_indices().nth(200).map_or(s.len(), |(i, _)| i)])
    } else {
        s
    }
}

/// Asserts equal key lists (same order) and equal types and values, naming the first difference.
pub fn assert_same(model: &str, reference: &Json, ours: &Json) {
    let keys = |j: &Json| -> Vec<String> {
        j.as_array().expect("a list").iter().map(|e| e["key"].as_str().expect("key").to_owned()).collect()
    };
    let (rk, ok) = (keys(reference), keys(ours));
    assert_eq!(rk, ok, "{model}: tokenizer keys differ (reference, then ours)");
    for (r, o) in reference.as_array().unwrap().iter().zip(ours.as_array().unwrap()) {
        let key = r["key"].as_str().unwrap();
        assert_eq!(r["type"], o["type"], "{model}: {key}: type");
        assert_eq!(r.get("item_type"), o.get("item_type"), "{model}: {key}: array item type");
        match (&r["value"], &o["value"]) {
            (Json::Array(a), Json::Array(b)) => {
                assert_eq!(a.len(), b.len(), "{model}: {key}: array length");
                if let Some(i) = (0..a.len()).find(|&i| a[i] != b[i]) {
                    panic!("{model}: {key}[{i}]: reference {} ours {}", short(&a[i]), short(&b[i]));
                }
            }
            (a, b) => assert_eq!(a, b, "{model}: {key}"),
        }
    }
    assert!(!rk.is_empty(), "{model}: the reference GGUF has no tokenizer keys");
}

/// Reference converter with `--vocab-only` (tokenizer keys are those of a full conversion: the
/// converter runs the same set_gguf_parameters/set_vocab), cached.
pub fn ref_vocab_only(name: &str, dir: &Path, wrapper_pre: Option<&str>) -> PathBuf {
    let out = common::cache_dir().join(format!("{name}-ref-vocab.gguf"));
    common::cached(&out, |tmp| {
        let mut cmd = Command::new(common::ref_python());
        match wrapper_pre {
            Some(pre) => cmd
                .arg(common::repo_root().join("tests/py/convert_with_pre.py"))
                .arg(common::ref_llama_src())
                .arg(pre),
            None => cmd.arg(common::ref_llama_src().join("convert_hf_to_gguf.py")),
        };
        cmd.arg(dir).arg("--vocab-only").arg("--outfile").arg(tmp);
        common::run(&mut cmd);
    })
}

