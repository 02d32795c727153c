//! The pre-tokenizer we recognise splits text the way the model's own tokenizer does: llama.cpp
//! tokenizing with the recognised `tokenizer.ggml.pre` gives the same token ids as the Hugging
//! Face `tokenizers` library with the model's tokenizer.json.
//!
//! tiny-qwen2 is the case the pinned converter refuses; its GGUF here is the converter's, run
//! through tests/py/convert_with_pre.py answering "qwen2" (tokenizer_reference.rs checks that our
//! tokenizer keys equal that file's). llama.cpp tokenizes through `llama-completion
//! --verbose-prompt`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

/// Text with the cases pre-tokenizers disagree on: whitespace runs, tabs and newlines, digit
/// runs, contractions in both cases, punctuation runs, non-Latin scripts and emoji; then a slice
/// of the evaluation corpus.
fn sample_text() -> String {
    let tricky = "Tabs\tand  double  spaces,\n\n\n  indented\n    code: x = 12 + 345 * 6789 / 10000000;\n\
                  It's, I'M, we'Ve, they'll, you'd, SHE'S, o'clock...!!! ???  --> <== ``` \"\"\" '''\n\
                  Zahlen 3.14159 und 2,718; числа и слова; 数字和文字 123; καλημέρα; émigré naïve café\n\
                  emoji 🦙🦙 ✅ 👩‍💻 end   \n \t \n";
    let corpus = std::fs::read_to_string(common::corpus("eval-pydocs.txt")).expect("read eval-pydocs.txt");
    let cut = corpus.char_indices().nth(3000).map_or(corpus.len(), |(i, _)| i);
    format!("{tricky}{}", &corpus[..cut])
}

fn llama_cpp_ids(gguf: &Path, text_file: &Path) -> Vec<u32> {
    let out = Command::new(common::ref_bin("llama-completion"))
        .arg("-m").arg(gguf)
        .arg("-f").arg(text_file)
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

fn hf_ids(tokenizer_json: &Path, text_file: &Path) -> Vec<u32> {
    let out = common::run(
        Command::new(common::ref_python())
            .arg(common::repo_root().join("tests/py/hf_tokenize.py"))
            .arg(tokenizer_json)
            .arg(text_file),
    );
    serde_json::from_str(&out).expect("hf_tokenize.py prints a JSON list")
}

fn qwen2_gguf() -> PathBuf {
    let out = common::cache_dir().join("tiny-qwen2-ref-qwen2pre-f16.gguf");
    common::cached(&out, |tmp| {
        common::run(
            Command::new(common::ref_python())
                .arg(common::repo_root().join("tests/py/convert_with_pre.py"))
                .arg(common::ref_llama_src())
                .arg("qwen2")
                .arg(common::fixture_model("tiny-qwen2"))
                .args(["--outtype", "f16", "--outfile"])
                .arg(tmp),
        );
    })
}

#[test]
fn tiny_qwen2_recognised_pre_tokenizer_tokenizes_like_hf() {
    // Our recognition for this model (the keys of the GGUF are checked in tokenizer_reference.rs).
    let out = common::run(Command::new(common::ggufkit()).arg("tokenizer").arg(common::fixture_model("tiny-qwen2")));
    assert!(out.contains("tokenizer.ggml.pre = \"qwen2\""), "ggufkit tokenizer output:\n{out}");

    let tmp = tempfile::tempdir().unwrap();
    let text_file = tmp.path().join("text.txt");
    std::fs::write(&text_file, sample_text()).unwrap();
    let ours = llama_cpp_ids(&qwen2_gguf(), &text_file);
    let hf = hf_ids(&common::fixture_model("tiny-qwen2").join("tokenizer.json"), &text_file);
    if let Some(i) = (0..ours.len().min(hf.len())).find(|&i| ours[i] != hf[i]) {
        panic!(
            "token {i} differs: llama.cpp {:?} vs HF {:?} (lengths {} and {})",
            &ours[i..(i + 8).min(ours.len())],
            &hf[i..(i + 8).min(hf.len())],
            ours.len(),
            hf.len()
        );
    }
    assert_eq!(ours.len(), hf.len(), "token counts differ");
    assert!(ours.len() > 500, "too few tokens compared: {}", ours.len());
}
