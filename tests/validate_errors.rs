//! `ggufkit validate` refuses bad input with a clear message.

use crate::common;

use std::process::Command;

fn fails_with(args: &[&std::ffi::OsStr], needle: &str) {
    let out = Command::new(common::ggufkit()).arg("validate").args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "expected failure, got success; stderr:\n{stderr}");
    assert!(stderr.contains(needle), "expected {needle:?} in stderr:\n{stderr}");
}

#[test]
fn text_shorter_than_one_window() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("short.txt");
    std::fs::write(&text, "def f(x):\n    return x\n").unwrap();
    let model = common::fixture_model("tiny-llama");
    fails_with(
        &[model.as_os_str(), model.as_os_str(), "--text".as_ref(), text.as_os_str(), "--ctx".as_ref(), "256".as_ref()],
        "fewer than one context window",
    );
}

#[test]
fn vocabulary_mismatch() {
    // tiny-llama has 4096 tokens, SmolLM2 49152.
    let model = common::fixture_model("tiny-llama");
    let other = common::smollm2_q4_1();
    let text = common::corpus("eval-pydocs.txt");
    fails_with(
        &[
            model.as_os_str(),
            other.as_os_str(),
            "--text".as_ref(),
            text.as_os_str(),
            "--ctx".as_ref(),
            "64".as_ref(),
            "--chunks".as_ref(),
            "1".as_ref(),
        ],
        "vocabulary mismatch",
    );
}

#[test]
fn unsupported_architecture() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.json"), r#"{"model_type": "mamba", "hidden_size": 64}"#).unwrap();
    let text = common::corpus("eval-pydocs.txt");
    fails_with(
        &[dir.path().as_os_str(), dir.path().as_os_str(), "--text".as_ref(), text.as_os_str()],
        "unsupported architecture \"mamba\"",
    );
}

#[cfg(not(feature = "cuda"))]
#[test]
fn cuda_without_the_feature() {
    let model = common::fixture_model("tiny-llama");
    let text = common::corpus("eval-pydocs.txt");
    fails_with(
        &[model.as_os_str(), model.as_os_str(), "--text".as_ref(), text.as_os_str(), "--device".as_ref(), "cuda".as_ref()],
        "built without CUDA support",
    );
}

#[test]
fn budget_too_small_says_what_it_needs() {
    let model = common::fixture_model("tiny-llama");
    let text = common::corpus("eval-pydocs.txt");
    fails_with(
        &[
            model.as_os_str(),
            model.as_os_str(),
            "--text".as_ref(),
            text.as_os_str(),
            "--ctx".as_ref(),
            "64".as_ref(),
            "--max-memory".as_ref(),
            "1M".as_ref(),
        ],
        "needs at least",
    );
}

#[test]
fn bad_budget_size() {
    let model = common::fixture_model("tiny-llama");
    fails_with(&[model.as_os_str(), model.as_os_str(), "--max-memory".as_ref(), "lots".as_ref()], "expected a number and a unit");
}

#[test]
fn architecture_mismatch() {
    // Both fixtures have 4096 tokens; a Gemma 2 file cannot be a quantization of a Llama.
    let model = common::fixture_model("tiny-llama");
    let other = common::fixture_model("tiny-gemma2");
    let text = common::corpus("eval-pydocs.txt");
    fails_with(
        &[
            model.as_os_str(),
            other.as_os_str(),
            "--text".as_ref(),
            text.as_os_str(),
            "--ctx".as_ref(),
            "64".as_ref(),
            "--chunks".as_ref(),
            "1".as_ref(),
        ],
        "cannot be compared with the reference",
    );
}

#[test]
fn plot_into_a_missing_folder_is_refused_before_the_evaluation() {
    let dir = tempfile::tempdir().unwrap();
    let plot = dir.path().join("no-such-folder").join("q.svg");
    let model = common::fixture_model("tiny-llama");
    let out = Command::new(common::ggufkit()).arg("validate").arg(&model).arg(&model).arg("--plot").arg(&plot).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "expected failure, got success; stderr:\n{stderr}");
    assert!(stderr.contains("no-such-folder does not exist"), "expected the missing folder in stderr:\n{stderr}");
    // the results table is printed before the plot is drawn: none means it was refused up front
    assert!(out.stdout.is_empty(), "the evaluation ran before the refusal:\n{}", String::from_utf8_lossy(&out.stdout));
    assert!(!plot.exists());
}
