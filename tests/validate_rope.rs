//! Every RoPE scaling the converter writes (linear, llama3, LongRoPE short and long, Phi-3.5-mini's
//! rope_scaling block), against transformers' fp32 logits on tiny random models made at test time
//! by scripts/make-rope-fixtures.py: our forward pass from the HF folder (config.json's
//! rope_scaling), and from the pinned converter's F32 GGUF of it (llama.cpp's `rope_freqs.weight`,
//! `rope_factors_short/long.weight`, `rope.scaling.*` keys).
//!
//! Tolerance: max |Δlogit| ≤ 1e-4 · max |logit| (f32 summation order: the weights are drawn large,
//! so that logits reach 20–35 and positions matter; measured 0.5–3e-5 of it) and the same argmax
//! at every position. The fixtures also hold transformers' logits of the same weights with RoPE
//! unscaled: ours must differ from those by more than 1 somewhere, so a scaling ignored fails.

use crate::common;

use safetensors::SafeTensors;
use std::path::{Path, PathBuf};
use std::process::Command;
use validate::source::ModelFile;

/// The fixture folders, made once per test binary run (cached in the test cache).
fn fixture(name: &str) -> PathBuf {
    static MADE: std::sync::Mutex<bool> = std::sync::Mutex::new(false);
    let mut made = MADE.lock().unwrap_or_else(|e| e.into_inner());
    let dir = common::cache_dir().join("rope-fixtures");
    if !*made {
        common::run(
            Command::new(common::ref_python())
                .arg(common::repo_root().join("scripts/make-rope-fixtures.py"))
                .arg(&dir)
                .arg(common::repo_root()),
        );
        *made = true;
    }
    dir.join(name)
}

fn gguf_f32(name: &str) -> PathBuf {
    let dir = fixture(name);
    let out = common::cache_dir().join(format!("rope-{name}-f32.gguf"));
    common::cached(&out, |tmp| {
        let mut cmd = Command::new(common::ref_python());
        cmd.arg(common::ref_llama_src().join("convert_hf_to_gguf.py")).arg(&dir).args(["--outtype", "f32", "--outfile"]).arg(tmp);
        if name.starts_with("phi") {
            cmd.args(["--model-name", "tinymodel"]);
        }
        common::run(&mut cmd);
    })
}

fn check(name: &str, model: &Path) {
    let bytes = std::fs::read(fixture(name).join("reference_logits.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let ids: Vec<u32> =
        st.tensor("input_ids").unwrap().data().chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().unwrap()) as u32).collect();
    let lv = st.tensor("logits").unwrap();
    let want: Vec<f32> = lv.data().chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
    let n_vocab = lv.shape()[1];
    let unscaled: Vec<f32> =
        st.tensor("logits_unscaled").unwrap().data().chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
    let file = ModelFile::open(model).unwrap();
    let m = file.load(&validate::Device::Cpu).unwrap();
    let got: Vec<f32> = m.forward(&ids).unwrap().flatten_all().unwrap().to_vec1().unwrap();
    assert_eq!(got.len(), want.len());
    let max_diff = got.iter().zip(&want).fold(0f32, |a, (g, w)| a.max((g - w).abs()));
    let argmax = |r: &[f32]| r.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0;
    let mismatched: Vec<usize> =
        (0..ids.len()).filter(|&p| argmax(&got[p * n_vocab..][..n_vocab]) != argmax(&want[p * n_vocab..][..n_vocab])).collect();
    let max_abs = want.iter().fold(0f32, |a, v| a.max(v.abs()));
    let off_unscaled = got.iter().zip(&unscaled).fold(0f32, |a, (g, w)| a.max((g - w).abs()));
    eprintln!("{name} from {}: max |logit| {max_abs:.2}, max |Δlogit| {max_diff:.2e}, max |ours − unscaled| {off_unscaled:.3}", model.display());
    assert!(max_abs > 5.0, "{name}: logits too small to test anything ({max_abs})");
    assert!(off_unscaled > 1.0, "{name}: our logits equal the unscaled RoPE's ({off_unscaled})");
    let tol = 1e-4 * max_abs;
    assert!(max_diff <= tol, "{name} ({}): max |Δlogit| {max_diff} > {tol}", model.display());
    assert!(mismatched.is_empty(), "{name}: top-1 differs at {mismatched:?}");
}

fn both(name: &str) {
    check(name, &fixture(name));
    check(name, &gguf_f32(name));
}

#[test]
fn linear() {
    both("llama-linear");
}

#[test]
fn llama3() {
    both("llama-llama3");
}

#[test]
fn longrope_short_factors() {
    both("phi3-longrope");
}

#[test]
fn longrope_long_factors() {
    both("phi3-longrope-long");
}

#[test]
fn phi35_mini_rope_scaling_block() {
    both("phi35-rope");
}

#[test]
fn yarn_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(common::fixture_model("tiny-llama").join("config.json")).unwrap()).unwrap();
    cfg["rope_scaling"] = serde_json::json!({"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 512});
    std::fs::write(dir.path().join("config.json"), cfg.to_string()).unwrap();
    let err = ModelFile::open(dir.path()).err().expect("yarn refused").to_string();
    assert!(err.contains("\"yarn\" is not supported"), "{err}");
}
