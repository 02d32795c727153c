//! Our reference forward pass (HF safetensors, f32 on CPU) against the logits transformers
//! computed in fp32 for each fixture model (`reference_logits.safetensors`), trained and generated
//! (tests/fixtures/generated).
//!
//! Tolerance: max |Δlogit| ≤ 2e-4 over all 64 × 4096 logits (|logits| reach ~22; f32 summation
//! order alone gives ~3e-5), and the argmax identical at every position.

use crate::common;

use safetensors::SafeTensors;
use validate::source::ModelFile;

fn check(model: &str) {
    let dir = if common::GENERATED.contains(&model) { common::generated_fixture(model) } else { common::fixture_model(model) };
    let bytes = std::fs::read(dir.join("reference_logits.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let ids_view = st.tensor("input_ids").unwrap();
    assert_eq!(format!("{:?}", ids_view.dtype()), "I64");
    let ids: Vec<u32> = ids_view.data().chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().unwrap()) as u32).collect();
    let lv = st.tensor("logits").unwrap();
    let want: Vec<f32> = lv.data().chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
    let n_vocab = lv.shape()[1];

    let file = ModelFile::open(&dir).unwrap();
    let m = file.load(&validate::Device::Cpu).unwrap();
    let got: Vec<f32> = m.forward(&ids).unwrap().flatten_all().unwrap().to_vec1().unwrap();
    assert_eq!(got.len(), want.len());

    let max_abs = want.iter().fold(0f32, |a, v| a.max(v.abs()));
    let max_diff = got.iter().zip(&want).fold(0f32, |a, (g, w)| a.max((g - w).abs()));
    let tol = 2e-4f32;
    let argmax = |r: &[f32]| r.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0;
    let mismatched: Vec<usize> =
        (0..ids.len()).filter(|&p| argmax(&got[p * n_vocab..][..n_vocab]) != argmax(&want[p * n_vocab..][..n_vocab])).collect();
    eprintln!("{model}: max |logit| {max_abs:.3}, max |diff| {max_diff:.2e} (tolerance {tol:.2e})");
    assert!(max_diff <= tol, "{model}: max |Δlogit| {max_diff} > {tol}");
    assert!(mismatched.is_empty(), "{model}: top-1 differs at positions {mismatched:?}");
}

#[test]
fn tiny_llama_matches_transformers() {
    check("tiny-llama");
}

#[test]
fn tiny_qwen2_matches_transformers() {
    check("tiny-qwen2");
}

#[test]
fn tiny_phi3_matches_transformers() {
    check("tiny-phi3");
}

#[test]
fn tiny_gemma2_matches_transformers() {
    check("tiny-gemma2");
}

#[test]
fn generated_architectures_match_transformers() {
    for model in common::GENERATED.iter() {
        check(model);
    }
}
