//! `ggufkit imatrix` against the pinned `llama-imatrix`: on every trained fixture, the same
//! weights, windows and counts, and per input column the same importance (sum / count, as
//! llama-quantize reads it) within 1%; quantizing with our matrix gives a file whose KL divergence
//! is within 2% of quantizing with llama.cpp's; a text shorter than two windows is refused before
//! any forward pass.

use crate::common;
use crate::convert_imatrix::imatrix as llama_imatrix;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use quantize::imatrix::ImatrixFile;

/// Relative tolerance per column (issue: 1%).
const COLUMN_TOLERANCE: f64 = 0.01;

/// `ggufkit imatrix` on a model (folder or GGUF) with llama-imatrix's settings of
/// [`llama_imatrix`] (calib.txt, ctx 128, 16 windows).
fn ours(model: &Path, out: &Path) {
    run(Command::new(ggufkit())
        .arg("imatrix")
        .arg(model)
        .arg("--text")
        .arg(corpus("calib.txt"))
        .args(["--ctx", "128", "--chunks", "16", "-o"])
        .arg(out));
}

fn compare(model: &str, ours: &Path, reference: &Path) -> f64 {
    let a = ImatrixFile::open(ours).expect("read our imatrix");
    let b = ImatrixFile::open(reference).expect("read llama-imatrix's");
    let mut names_a: Vec<&str> = a.names().collect();
    let mut names_b: Vec<&str> = b.names().collect();
    names_a.sort_unstable();
    names_b.sort_unstable();
    assert_eq!(names_a, names_b, "{model}: the weights with statistics differ");
    assert_eq!((a.chunk_count(), a.chunk_size()), (b.chunk_count(), b.chunk_size()), "{model}: chunk count/size");
    let mut worst = (0.0f64, String::new());
    for name in names_b {
        let (x, y) = (a.get(name).expect("ours"), b.get(name).expect("reference"));
        assert_eq!(x.len(), y.len(), "{model} {name}: columns");
        for (j, (&p, &q)) in x.iter().zip(y).enumerate() {
            let (p, q) = (f64::from(p), f64::from(q));
            let rel = (p - q).abs() / q.abs().max(1e-30);
            assert!(
                p.is_finite() && (p - q).abs() <= COLUMN_TOLERANCE * q.abs() + 1e-12,
                "{model} {name} column {j}: ours {p}, llama-imatrix {q}"
            );
            if rel > worst.0 {
                worst = (rel, format!("{name}[{j}]"));
            }
        }
    }
    eprintln!("{model}: largest relative difference per column {:.2e} at {}", worst.0, worst.1);
    worst.0
}

/// From the HF folders (the weights as trained, the text through tokenizer.json), and from the
/// reference converter's F16 file that llama-imatrix reads (the text through the GGUF's
/// vocabulary, as llama.cpp tokenizes it). tiny-gemma2 is compared from its F16 file only: its
/// tokenizer.json prepends `▁` to the text (a `Prepend` normalizer) where the GGUF's Gemma
/// vocabulary has `add_space_prefix = false`, so the first word splits into other tokens
/// (`▁whole|some` against `wh|o|le|some`), every window starts two tokens later, and windows of
/// other text move the statistics by more than 1%.
#[test]
fn imatrix_matches_llama_imatrix_on_the_trained_fixtures() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (model, from_folder) in
        [("tiny-llama", true), ("tiny-qwen2", true), ("tiny-phi3", true), ("tiny-llama", false), ("tiny-gemma2", false)]
    {
        let reference = llama_imatrix(model, "gguf");
        let out = dir.path().join(format!("{model}-{from_folder}.imatrix.gguf"));
        let source = if from_folder { fixture_model(model) } else { ref_converted_fixture_f16(model) };
        ours(&source, &out);
        compare(&format!("{model} ({})", if from_folder { "folder" } else { "F16 GGUF" }), &out, &reference);
    }
}

/// KLD against the F16 reference of tiny-llama quantized to `ty` with `imatrix`, by `ggufkit validate`.
fn kld(f16: &Path, ty: &str, imatrix: &Path, dir: &Path, label: &str) -> f64 {
    let out: PathBuf = dir.join(format!("{label}-{ty}.gguf"));
    run(Command::new(ggufkit()).arg("quantize").arg(f16).arg(&out).args(["-t", ty, "--imatrix"]).arg(imatrix));
    let json = run(Command::new(ggufkit())
        .arg("validate")
        .arg(f16)
        .arg(&out)
        .arg("--text")
        .arg(corpus("eval-pydocs.txt"))
        .args(["--ctx", "128", "--chunks", "8", "--json"]));
    let v: serde_json::Value = serde_json::from_str(&json).expect("validate --json");
    v["files"][0]["stats"]["kld_mean"]["value"].as_f64().expect("kld_mean")
}

#[test]
fn quantizing_with_our_imatrix_is_as_good_as_with_llama_imatrix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f16 = ref_converted("tiny-llama", "f16");
    let theirs = llama_imatrix("tiny-llama", "gguf");
    let mine = dir.path().join("ours.imatrix.gguf");
    ours(&fixture_model("tiny-llama"), &mine);
    for ty in ["IQ4_XS", "Q3_K_S"] {
        let (a, b) = (kld(&f16, ty, &mine, dir.path(), "ours"), kld(&f16, ty, &theirs, dir.path(), "theirs"));
        eprintln!("tiny-llama {ty}: mean KLD {a:.6} with our imatrix, {b:.6} with llama-imatrix's");
        assert!(a.is_finite() && b > 0.0 && (a - b).abs() <= 0.02 * b, "{ty}: KLD {a} (ours) vs {b} (llama-imatrix)");
    }
}

#[test]
fn a_calibration_text_shorter_than_two_windows_is_refused_up_front() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = dir.path().join("short.txt");
    std::fs::write(&text, "def main():\n    return 0\n").expect("write");
    let out = dir.path().join("m.imatrix.gguf");
    let o = Command::new(ggufkit())
        .arg("imatrix")
        .arg(fixture_model("tiny-llama"))
        .arg("--text")
        .arg(&text)
        .args(["--ctx", "128", "-o"])
        .arg(&out)
        .output()
        .expect("run ggufkit");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("at least two windows of --ctx 128 (256 tokens)"), "{err}");
    assert!(!out.exists());
}

/// `convert --calibrate`: one command from the HF folder to an i-quant, the same file as the pinned
/// llama-quantize makes from the reference F16 with the importance matrix it kept.
#[test]
fn convert_calibrate_equals_llama_quantize_with_the_matrix_it_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("m.gguf");
    run(Command::new(ggufkit())
        .arg("convert")
        .arg(fixture_model("tiny-llama"))
        .args(["-t", "IQ4_XS", "--calibrate"])
        .arg(corpus("calib.txt"))
        .args(["--calibrate-ctx", "128", "-o"])
        .arg(&out));
    let im = dir.path().join("tiny-llama.imatrix.gguf");
    assert!(im.is_file(), "--calibrate keeps its matrix next to the output");
    let reference = dir.path().join("reference.gguf");
    let f16 = ref_converted("tiny-llama", "f16");
    run(Command::new(ref_bin("llama-quantize")).arg("--imatrix").arg(&im).arg(&f16).arg(&reference).args(["IQ4_XS", "2"]));
    crate::convert_imatrix::compare(&out, &reference);
}
