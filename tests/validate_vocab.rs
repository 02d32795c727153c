//! `validate`'s tokenizer rebuilt from a GGUF's own vocabulary (`validate::vocab`) gives the very
//! token ids of the pinned llama.cpp's `llama-tokenize` on the same GGUF, for every fixture's
//! reference-converter GGUF (SentencePiece: tiny-llama, tiny-phi3, tiny-gemma2; byte-level BPE:
//! tiny-qwen2), SmolLM2-135M's shipped GGUF (`smollm`) and its vocabulary under every other
//! pre-tokenizer we know; on hostile texts and the evaluation corpus, with special
//! tokens parsed (llama-tokenize's default) and not (llama-perplexity's way, `--no-parse-special`).
//! And `ggufkit validate` on a GGUF reference without `--tokenizer` gives the PPL it gives with
//! the model's tokenizer.json.

use crate::common;
use crate::tokenizer_util;

use std::path::{Path, PathBuf};
use std::process::Command;
use validate::tokenize::TextTokenizer;

/// Texts tokenizers disagree on: scripts, digits, whitespace runs, newlines, a leading space,
/// special-token strings (of both vocabularies) at the start, middle and end.
const HOSTILE: &[&str] = &[
    "Hello world",
    " leading space, then  two,   three    four spaces",
    "\n\nnewlines\n\n\nand\r\ncarriage returns\n",
    "\ttabs\t\tand trailing spaces   ",
    "digits 0 12 345 6789 1234567890 3.14159 1,000,000 2024-11-30",
    "unicode: naïve café émigré; числа; 数字和文字; καλημέρα; עברית; العربية; 🦙🦙 👩‍💻 e\u{301}",
    "It's I'M we'Ve they'll you'd SHE'S o'clock...!!! ??? --> <== ``` \"\"\" '''",
    "<s>BOS in front</s> and <unk> and <0x0A> as text",
    "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n<|endoftext|>",
    "mixed <s> <|im_end|>tail",
    "    def f(x):\n        return x  # comment\n",
    "a",
];

/// `llama-tokenize` ids of `text` (read from a file, byte for byte).
fn llama_tokenize(gguf: &Path, text: &str, parse_special: bool) -> Vec<u32> {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("text.txt");
    std::fs::write(&file, text).unwrap();
    let mut cmd = Command::new(common::ref_bin("llama-tokenize"));
    cmd.arg("-m").arg(gguf).arg("-f").arg(&file).args(["--ids", "--no-escape", "--log-disable"]);
    if !parse_special {
        cmd.arg("--no-parse-special");
    }
    let out = common::run(&mut cmd);
    let line = out.lines().rev().find(|l| l.starts_with('[')).unwrap_or_else(|| panic!("no id list in llama-tokenize output:\n{out}"));
    serde_json::from_str(line).unwrap_or_else(|e| panic!("bad id list {line:?}: {e}"))
}

/// Ours and llama.cpp's ids for every text and both special-token modes; panics at the first
/// difference with both lists around it.
fn check(name: &str, gguf: &Path, texts: &[String]) {
    let tok = TextTokenizer::open_gguf(gguf).unwrap_or_else(|e| panic!("{name}: {e}"));
    let mut compared = 0;
    for text in texts {
        for parse_special in [false, true] {
            // llama-tokenize passes add_special = the model's add_bos (our fixtures never add EOS).
            let theirs = llama_tokenize(gguf, text, parse_special);
            let ours = tok.encode_llama(text, true, parse_special).unwrap();
            if ours != theirs {
                let i = ours.iter().zip(&theirs).position(|(a, b)| a != b).unwrap_or(ours.len().min(theirs.len()));
                let lo = i.saturating_sub(5);
                panic!(
                    "{name}: parse_special={parse_special}: ids differ at {i} for {:?}\n ours   {:?}\n theirs {:?}",
                    text.chars().take(120).collect::<String>(),
                    &ours[lo..(i + 8).min(ours.len())],
                    &theirs[lo..(i + 8).min(theirs.len())]
                );
            }
            compared += ours.len();
        }
    }
    eprintln!("{name}: {} texts, {compared} ids identical to llama-tokenize", texts.len());
}

fn all_texts() -> Vec<String> {
    let mut t: Vec<String> = HOSTILE.iter().map(|s| s.to_string()).collect();
    t.push(tokenizer_util::sample_text());
    t.push(std::fs::read_to_string(common::corpus("eval-pydocs.txt")).unwrap());
    t
}

#[test]
fn sentencepiece_fixtures_tokenize_as_llama_cpp() {
    for model in ["tiny-llama", "tiny-phi3", "tiny-gemma2"] {
        let gguf = common::ref_converted_fixture_f16(model);
        check(model, &gguf, &all_texts());
    }
}

#[test]
fn byte_level_bpe_fixtures_tokenize_as_llama_cpp() {
    let gguf = common::ref_converted_fixture_f16("tiny-qwen2");
    check("tiny-qwen2 (qwen2)", &gguf, &all_texts());
    check("SmolLM2-135M (smollm)", &common::smollm2_q4_1(), &all_texts());
}

/// SmolLM2-135M's vocabulary (49 152 tokens, real merges) under each other known pre-tokenizer
/// (its metadata copied by gguf-py with `tokenizer.ggml.pre` replaced, tests/py/vocab_with_pre.py):
/// every row of the table splits as llama.cpp does.
#[test]
fn every_known_pre_tokenizer_tokenizes_as_llama_cpp() {
    let texts: Vec<String> = [HOSTILE[1], HOSTILE[4], HOSTILE[5], HOSTILE[6], HOSTILE[8]]
        .iter()
        .map(|s| s.to_string())
        .chain([tokenizer_util::sample_text()])
        .collect();
    for row in validate::vocab::pre::KNOWN.iter().filter(|k| k.pre != "smollm") {
        let gguf = common::cache_dir().join(format!("smollm2-vocab-pre-{}.gguf", row.pre));
        common::cached(&gguf, |tmp| {
            common::run(
                Command::new(common::ref_python())
                    .arg(common::repo_root().join("tests/py/vocab_with_pre.py"))
                    .arg(common::smollm2_q4_1())
                    .arg(row.pre)
                    .arg(tmp),
            );
        });
        check(&format!("SmolLM2-135M vocabulary, pre {}", row.pre), &gguf, &texts);
    }
}

/// A pre-tokenizer we do not know is refused with a message that says to pass --tokenizer.
#[test]
fn unknown_pre_tokenizer_is_refused_with_the_way_out() {
    // A whole model (the command opens its tensors before it tokenizes).
    let gguf = common::ref_converted_with_pre("tiny-qwen2", "falcon", "f16");
    let e = TextTokenizer::open_gguf(&gguf).err().expect("falcon is not rebuilt").to_string();
    assert!(e.contains("\"falcon\"") && e.contains("--tokenizer tokenizer.json") && e.contains("qwen2"), "{e}");
    // The same through the command.
    let out = Command::new(common::ggufkit())
        .arg("validate")
        .arg(&gguf)
        .arg(&gguf)
        .arg("--text")
        .arg(common::corpus("eval-pydocs.txt"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("--tokenizer tokenizer.json"), "{err}");
}

/// `ggufkit validate REF.gguf REF.gguf --json` PPL, with `extra` arguments.
fn validate_ppl(gguf: &Path, extra: &[PathBuf]) -> f64 {
    let mut cmd = Command::new(common::ggufkit());
    cmd.arg("validate").arg(gguf).arg(gguf).arg("--text").arg(common::corpus("eval-pydocs.txt"));
    cmd.args(["--ctx", "128", "--chunks", "3", "--json"]);
    if let Some(t) = extra.first() {
        cmd.arg("--tokenizer").arg(t);
    }
    let out = common::run(&mut cmd);
    let j: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("bad JSON ({e}):\n{out}"));
    j["reference"]["ppl"]["value"].as_f64().expect("reference PPL")
}

#[test]
fn validate_without_tokenizer_gives_the_ppl_of_tokenizer_json() {
    for model in ["tiny-llama", "tiny-qwen2"] {
        let gguf = common::ref_converted_fixture_f16(model);
        let with = validate_ppl(&gguf, &[common::fixture_model(model).join("tokenizer.json")]);
        let without = validate_ppl(&gguf, &[]);
        eprintln!("{model}: PPL with tokenizer.json {with}, with the GGUF's vocabulary {without}");
        assert_eq!(with, without, "{model}: PPL with --tokenizer {with} vs without {without}");
    }
}
