//! Shared by the tokenizer tests: our metadata (`ggufkit tokenizer`), the reference converter's
//! (read with gguf-py), and their comparison.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value as Json;

use crate::common;

/// `ggufkit tokenizer --json DIR`: its `metadata` list (docs/json.md).
pub fn ours(dir: &Path) -> Json {
    let out = common::run(Command::new(common::ggufkit()).arg("tokenizer").arg("--json").arg(dir));
    let v: Json = serde_json::from_str(&out).expect("ggufkit tokenizer --json prints JSON");
    assert_eq!(v["schema_version"], 1, "tokenizer --json: schema_version");
    v["metadata"].clone()
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
    let keys =
        |j: &Json| -> Vec<String> { j.as_array().expect("a list").iter().map(|e| e["key"].as_str().expect("key").to_owned()).collect() };
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
            Some(pre) => cmd.arg(common::repo_root().join("tests/py/convert_with_pre.py")).arg(common::ref_llama_src()).arg(pre),
            None => cmd.arg(common::ref_llama_src().join("convert_hf_to_gguf.py")),
        };
        cmd.arg(dir).arg("--vocab-only").arg("--outfile").arg(tmp);
        common::run(&mut cmd);
    })
}

/// Text with the cases pre-tokenizers disagree on: whitespace runs, tabs and newlines, digit
/// runs, contractions in both cases, punctuation runs, non-Latin scripts and emoji; then a slice
/// of the evaluation corpus.
pub fn sample_text() -> String {
    let tricky = "Tabs\tand  double  spaces,\n\n\n  indented\n    code: x = 12 + 345 * 6789 / 10000000;\n\
                  It's, I'M, we'Ve, they'll, you'd, SHE'S, o'clock...!!! ???  --> <== ``` \"\"\" '''\n\
                  Zahlen 3.14159 und 2,718; числа и слова; 数字和文字 123; καλημέρα; émigré naïve café\n\
                  emoji 🦙🦙 ✅ 👩‍💻 end   \n \t \n";
    let corpus = std::fs::read_to_string(common::corpus("eval-pydocs.txt")).expect("read eval-pydocs.txt");
    let cut = corpus.char_indices().nth(3000).map_or(corpus.len(), |(i, _)| i);
    format!("{tricky}{}", &corpus[..cut])
}

pub fn llama_cpp_ids(gguf: &Path, text_file: &Path) -> Vec<u32> {
    let out = Command::new(common::ref_bin("llama-completion"))
        .arg("-m")
        .arg(gguf)
        .arg("-f")
        .arg(text_file)
        .args(["--no-escape", "--verbose-prompt", "-no-cnv", "-n", "1", "--temp", "0", "-c", "4096", "-t", "2"])
        .output()
        .expect("run llama-completion");
    let log = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "llama-completion failed:\n{log}");
    let marker = "number of tokens in prompt = ";
    let start = log.find(marker).unwrap_or_else(|| panic!("no prompt token list in:\n{log}"));
    let rest = &log[start + marker.len()..];
    let n: usize = rest.split_whitespace().next().and_then(|s| s.parse().ok()).expect("token count");
    // Lines "<time> I   <id> -> '<piece>'"; a piece holding a newline continues on lines that
    // do not have this shape.
    let ids: Vec<u32> = rest
        .lines()
        .skip(1)
        .filter_map(|line| {
            let (_, after) = line.split_once(" I ")?;
            let (id, piece) = after.trim_start().split_once(" -> '")?;
            let _ = piece;
            id.trim().parse().ok()
        })
        .take(n)
        .collect();
    assert_eq!(ids.len(), n, "parsed {} of {n} prompt tokens", ids.len());
    ids
}

pub fn hf_ids(tokenizer_json: &Path, text_file: &Path) -> Vec<u32> {
    let out = common::run(
        Command::new(common::ref_python()).arg(common::repo_root().join("tests/py/hf_tokenize.py")).arg(tokenizer_json).arg(text_file),
    );
    serde_json::from_str(&out).expect("hf_tokenize.py prints a JSON list")
}
