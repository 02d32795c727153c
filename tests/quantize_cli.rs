//! `ggufkit quantize` against llama-quantize: the whole output file is byte-identical for every
//! mix, on real models of several architectures, without and with an importance matrix made by
//! the pinned llama-imatrix (GGUF and legacy .dat formats); bad input fails cleanly.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::MIXES;

fn input(model: &str) -> PathBuf {
    common::quantize_input(model)
}

/// An importance matrix of `model` by the pinned llama-imatrix on calib.txt (`format`: gguf or
/// dat), cached.
fn imatrix(model: &str, format: &str) -> PathBuf {
    let inp = input(model);
    let _g = common::input_lock();
    let out = common::cache_dir().join(format!("{model}-imatrix.{format}"));
    common::cached(&out, |tmp| {
        common::run(
            Command::new(common::ref_bin("llama-imatrix"))
                .arg("-m")
                .arg(&inp)
                .arg("-f")
                .arg(common::corpus("calib.txt"))
                .args(["-c", "128", "--chunks", "16", "-t", "2", "--output-format", format, "-o"])
                .arg(tmp),
        );
    })
}

/// Our output for `mix` (fresh each run).
fn ours(input: &Path, mix: &str, extra: &[&str], dir: &Path) -> PathBuf {
    let out = dir.join(format!("ours-{mix}.gguf"));
    common::run(Command::new(common::ggufkit()).arg("quantize").arg(input).arg(&out).args(["-t", mix]).args(extra));
    out
}

fn assert_same_bytes(ours: &Path, theirs: &Path, what: &str) -> Result<(), String> {
    let a = std::fs::read(ours).expect("read ours");
    let b = std::fs::read(theirs).expect("read reference");
    if a == b {
        return Ok(());
    }
    let first = a.iter().zip(&b).position(|(x, y)| x != y).unwrap_or(a.len().min(b.len()));
    Err(format!("{what}: differs from llama-quantize at byte {first} (sizes {} vs {})", a.len(), b.len()))
}

/// Runs every mix through both tools with the same options; panics listing the differences.
fn check(model: &str, mixes: &[&str], extra: &[&str], tag: &str) {
    let inp = input(model);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut bad = Vec::new();
    for mix in mixes {
        let theirs = common::ref_quantized(&inp, mix, extra, &format!("{model}-{mix}{tag}.gguf"));
        let o = ours(&inp, mix, extra, dir.path());
        if let Err(e) = assert_same_bytes(&o, &theirs, &format!("{model} {mix}{tag}")) {
            bad.push(e);
        }
        std::fs::remove_file(&o).expect("remove our output");
    }
    assert!(bad.is_empty(), "{} of {} files differ:\n{}", bad.len(), mixes.len(), bad.join("\n"));
}

#[test]
fn byte_identical_tiny_llama() {
    check("tiny-llama", MIXES, &[], "");
}

#[test]
fn byte_identical_tiny_phi3() {
    check("tiny-phi3", MIXES, &[], "");
}

#[test]
fn byte_identical_tiny_gemma2_bf16_input() {
    check("tiny-gemma2", MIXES, &[], "");
}

#[test]
fn byte_identical_smollm2() {
    check("smollm2", MIXES, &[], "");
}

#[test]
fn byte_identical_with_gguf_imatrix() {
    for model in ["tiny-llama", "smollm2"] {
        let im = imatrix(model, "gguf");
        let im = im.to_str().expect("utf-8 path");
        check(model, MIXES, &["--imatrix", im], "-imatrix-gguf");
    }
}

#[test]
fn byte_identical_with_legacy_dat_imatrix() {
    for model in ["tiny-llama", "smollm2"] {
        let im = imatrix(model, "dat");
        let im = im.to_str().expect("utf-8 path");
        check(model, &["Q2_K", "Q3_K_M", "Q4_K_M", "Q5_K_S", "Q6_K", "Q4_0", "Q5_0", "Q4_1"], &["--imatrix", im], "-imatrix-dat");
    }
}

#[test]
fn byte_identical_with_options() {
    for model in ["tiny-llama", "smollm2"] {
        check(model, &["Q4_K_M", "Q3_K_S", "Q5_1"], &["--pure"], "-pure");
        check(model, &["Q4_K_M", "Q8_0"], &["--leave-output-tensor"], "-leave-output");
        check(
            model,
            &["Q4_K_M", "Q3_K_S"],
            &["--output-tensor-type", "q5_0", "--token-embedding-type", "q4_0"],
            "-out-q5_0-emb-q4_0",
        );
    }
}

#[test]
fn same_bytes_for_any_thread_count() {
    let inp = input("smollm2");
    let theirs = common::ref_quantized(&inp, "Q4_K_M", &[], "smollm2-Q4_K_M.gguf");
    let dir = tempfile::tempdir().expect("tempdir");
    for threads in ["1", "3"] {
        let o = ours(&inp, "Q4_K_M", &["--threads", threads], dir.path());
        assert_same_bytes(&o, &theirs, &format!("--threads {threads}")).unwrap();
        std::fs::remove_file(&o).expect("remove");
    }
}

/// A copy of `src` with one F16 element of `tensor` set to NaN (located with gguf-py).
fn poisoned(src: &Path, tensor: &str, element: u64, dst: &Path) {
    let dump = common::gguf_py_dump(&[src]);
    let t = dump[0]["tensors"].as_array().unwrap().iter().find(|t| t[0] == tensor).expect("tensor");
    assert_eq!(t[2], 1, "{tensor} is F16");
    let at = t[4].as_u64().unwrap() + 2 * element;
    let mut bytes = std::fs::read(src).unwrap();
    bytes[at as usize..at as usize + 2].copy_from_slice(&0x7e00u16.to_le_bytes());
    std::fs::write(dst, bytes).unwrap();
}

#[test]
fn non_finite_weights_fail_naming_tensor_and_index_and_leave_no_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("nan.gguf");
    poisoned(&input("tiny-llama"), "blk.3.ffn_down.weight", 12345, &bad);
    let outdir = dir.path().join("out");
    std::fs::create_dir(&outdir).unwrap();
    // F16 → F16 copies the tensor (as llama-quantize does) but still checks it.
    for mix in ["Q4_K_M", "Q8_0", "F16"] {
        let out = outdir.join("out.gguf");
        let o = Command::new(common::ggufkit()).arg("quantize").arg(&bad).arg(&out).args(["-t", mix]).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{mix}: NaN input accepted");
        assert!(err.contains("blk.3.ffn_down.weight") && err.contains("12345"), "{mix}: error does not name tensor and index: {err}");
        let left: Vec<_> = std::fs::read_dir(&outdir).unwrap().collect();
        assert!(left.is_empty(), "{mix}: files left behind: {left:?}");
    }
}

#[test]
fn existing_output_needs_force_and_input_is_never_the_output() {
    let inp = input("tiny-llama");
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("o.gguf");
    std::fs::write(&out, b"keep me").unwrap();
    let o = Command::new(common::ggufkit()).arg("quantize").arg(&inp).arg(&out).args(["-t", "Q8_0"]).output().unwrap();
    assert!(!o.status.success());
    assert_eq!(std::fs::read(&out).unwrap(), b"keep me");
    let o = Command::new(common::ggufkit()).arg("quantize").arg(&inp).arg(&inp).args(["-t", "Q8_0", "--force"]).output().unwrap();
    assert!(!o.status.success(), "quantizing a file onto itself must fail");
    let o = Command::new(common::ggufkit()).arg("quantize").arg(&inp).arg(&out).args(["-t", "Q9_X"]).output().unwrap();
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("Q4_K_M"), "unknown type lists the known ones");
}
