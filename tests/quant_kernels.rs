//! Byte identity of our quantization kernels with the pinned llama-quantize: every tensor of real
//! models (tiny-llama and tiny-phi3 converted by the reference converter, SmolLM2-135M as F16),
//! quantized with `llama-quantize --pure` to each type, without and with an importance matrix
//! made by the pinned llama-imatrix, must equal `quantize::quantize_tensor` on the F16 input
//! bytes. Also: our dequantization equals gguf-py's on llama.cpp's blocks.

use crate::common;
use crate::quant_kernels_support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use quant_kernels_support::{f16_models, imatrix, imatrix_weights, Gguf};
use quantize::{GgmlType, Source};

/// The input's bytes as a quantize Source.
fn source<'a>(g: &'a Gguf, t: &quant_kernels_support::Tensor) -> Source<'a> {
    match GgmlType::from_id(t.ty) {
        Some(GgmlType::F32) => Source::F32(g.data(t)),
        Some(GgmlType::F16) => Source::F16(g.data(t)),
        Some(GgmlType::BF16) => Source::BF16(g.data(t)),
        other => panic!("input tensor {} has type {other:?}", t.name),
    }
}

/// The cached llama-quantize output's file name for [`compare_model`].
fn reference_name(model_name: &str, ftype: &str, with_imatrix: bool, more: &[&str]) -> String {
    let more_tag: String = more.iter().map(|m| format!("-{}", m.trim_start_matches('-'))).collect();
    format!("qk-{model_name}-{ftype}-pure{}{more_tag}.gguf", if with_imatrix { "-imatrix" } else { "" })
}

/// llama-quantize's output for [`compare_model`]: `--pure`, optionally `--imatrix` (llama-imatrix's
/// matrix of `model`), then `more`; cached ([`common::ref_quantized`] names the file by these args).
fn reference_file(model_name: &str, model: &Path, ftype: &str, with_imatrix: bool, more: &[&str]) -> PathBuf {
    let mut extra = vec!["--pure".to_string()];
    if with_imatrix {
        extra.extend(["--imatrix".to_string(), imatrix(model_name, model).display().to_string()]);
    }
    extra.extend(more.iter().map(|s| s.to_string()));
    let extra: Vec<&str> = extra.iter().map(|s| s.as_str()).collect();
    common::ref_quantized(model, ftype, &extra, &reference_name(model_name, ftype, with_imatrix, more))
}

/// Quantizes `model` with llama-quantize (`--pure`, optionally `--imatrix`) to `ftype`, then
/// requantizes every tensor of the input with our kernels to the type llama-quantize chose and
/// compares bytes; `more`: more llama-quantize options (e.g. a token-embedding type). Returns how many 2-D tensors were compared, per type.
fn compare_model(model_name: &str, model: &Path, ftype: &str, with_imatrix: bool, more: &[&str]) -> HashMap<GgmlType, usize> {
    let weights = with_imatrix.then(|| {
        let imat = imatrix(model_name, model);
        let w = imatrix_weights(&imat);
        assert!(!w.is_empty(), "empty imatrix {}", imat.display());
        w
    });
    let out = reference_file(model_name, model, ftype, with_imatrix, more);
    let input = Gguf::read(model);
    let reference = Gguf::read(&out);
    assert_eq!(input.tensors.len(), reference.tensors.len());
    let mut counts = HashMap::new();
    let mut weighted = 0usize;
    for t in &reference.tensors {
        let ty = GgmlType::from_id(t.ty).unwrap();
        assert!(quantize::supports(ty), "{}: llama-quantize chose {ty}, which we do not support", t.name);
        let it = input.tensor(&t.name).unwrap_or_else(|| panic!("{} missing in input", t.name));
        assert_eq!(it.dims, t.dims);
        let n_per_row = t.dims[0] as usize;
        // llama-quantize uses an imatrix entry only when its size is ne0·ne2 (ne2 = 1 here).
        let w = weights.as_ref().and_then(|m| m.get(&t.name)).filter(|w| w.len() == n_per_row).map(|w| w.as_slice());
        let expected = reference.data(t);
        let mut ours = vec![0u8; expected.len()];
        quantize::quantize_tensor(ty, source(&input, it), n_per_row, w, &mut ours)
            .unwrap_or_else(|e| panic!("{model_name} {ftype} {}: {e}", t.name));
        if ours != expected {
            let bs = ty.type_size();
            let first = ours.chunks(bs).zip(expected.chunks(bs)).position(|(a, b)| a != b).unwrap();
            let ndiff = ours.chunks(bs).zip(expected.chunks(bs)).filter(|(a, b)| a != b).count();
            panic!(
                "{model_name} {ftype}{} tensor {} ({ty}, dims {:?}, imatrix {}): {ndiff} of {} blocks differ, first block {first}\n ours {:?}\n ref  {:?}",
                if with_imatrix { " +imatrix" } else { "" },
                t.name,
                t.dims,
                w.is_some(),
                ours.len() / bs,
                &ours[first * bs..(first + 1) * bs],
                &expected[first * bs..(first + 1) * bs]
            );
        }
        if t.dims.len() >= 2 {
            *counts.entry(ty).or_insert(0) += 1;
            weighted += w.is_some() as usize;
        }
    }
    if with_imatrix {
        assert!(weighted >= 10, "{model_name} {ftype}: only {weighted} tensors had importance weights");
    }
    counts
}

/// Runs [`compare_model`] on every model and checks that enough tensors of `target` were compared.
fn check_type(ftype: &str, target: GgmlType, with_imatrix: bool) {
    check_type_with(ftype, target, with_imatrix, &[])
}

/// [`check_type`] with more llama-quantize options.
fn check_type_with(ftype: &str, target: GgmlType, with_imatrix: bool, more: &[&str]) {
    for (name, path) in f16_models() {
        let counts = compare_model(name, &path, ftype, with_imatrix, more);
        let n = counts.get(&target).copied().unwrap_or(0);
        // tiny-llama: 6 layers × 7 matrices + 2; tiny-phi3 (fused qkv, gate_up): 6 × 4 + 2;
        // SmolLM2: 30 × 7 + 1.
        // SmolLM2's rows of 576 are not a multiple of 256: for K-quants only its 30 ffn_down
        // tensors (rows of 1536) keep the type; llama-quantize falls back (Q5_0, …) for the rest,
        // and those fallback tensors are compared too.
        let k_quant = target.block_size() == 256;
        // With `more` (the IQ2 tests) the token embedding and the output are Q8_0: tiny-phi3
        // keeps 24 − 6 of its own (6 fall back to IQ4_NL), so 18.
        let min = match (name, k_quant) {
            ("smollm2", true) => 30,
            ("smollm2", false) => 200,
            _ if !more.is_empty() => 18,
            _ => 20,
        };
        assert!(n >= min, "{name} {ftype}: only {n} 2-D tensors of {target} compared (counts {counts:?})");
        eprintln!("{name} {ftype}{}: byte-identical, 2-D tensors per type {counts:?}", if with_imatrix { " +imatrix" } else { "" });
    }
}

macro_rules! identity_tests {
    ($($plain:ident, $weighted:ident, $ftype:literal, $ty:ident;)*) => {$(
        #[test]
        fn $plain() {
            check_type($ftype, GgmlType::$ty, false);
        }
        #[test]
        fn $weighted() {
            check_type($ftype, GgmlType::$ty, true);
        }
    )*};
}

identity_tests! {
    identity_f32, identity_f32_imatrix, "F32", F32;
    identity_f16, identity_f16_imatrix, "F16", F16;
    identity_bf16, identity_bf16_imatrix, "BF16", BF16;
    identity_q8_0, identity_q8_0_imatrix, "Q8_0", Q8_0;
    identity_q4_0, identity_q4_0_imatrix, "Q4_0", Q4_0;
    identity_q4_1, identity_q4_1_imatrix, "Q4_1", Q4_1;
    identity_q5_0, identity_q5_0_imatrix, "Q5_0", Q5_0;
    identity_q5_1, identity_q5_1_imatrix, "Q5_1", Q5_1;
    identity_q2_k, identity_q2_k_imatrix, "Q2_K", Q2_K;
    identity_q3_k, identity_q3_k_imatrix, "Q3_K_M", Q3_K;
    identity_q4_k, identity_q4_k_imatrix, "Q4_K_M", Q4_K;
    identity_q5_k, identity_q5_k_imatrix, "Q5_K_M", Q5_K;
    identity_q6_k, identity_q6_k_imatrix, "Q6_K", Q6_K;
    identity_iq4_nl, identity_iq4_nl_imatrix, "IQ4_NL", IQ4_NL;
    identity_iq4_xs, identity_iq4_xs_imatrix, "IQ4_XS", IQ4_XS;
    identity_iq3_s, identity_iq3_s_imatrix, "IQ3_S", IQ3_S;
    identity_tq1_0, identity_tq1_0_imatrix, "TQ1_0", TQ1_0;
    identity_tq2_0, identity_tq2_0_imatrix, "TQ2_0", TQ2_0;
}

/// IQ3_XXS with an importance matrix (llama-quantize refuses IQ3_XXS tensors without one; the
/// token embedding, which has no imatrix entry, takes the path without).
#[test]
fn identity_iq3_xxs_imatrix() {
    check_type("IQ3_XXS", GgmlType::IQ3_XXS, true);
}

/// IQ2_S (the main type of IQ2_M files) with an importance matrix, as IQ3_XXS.
#[test]
fn identity_iq2_s_imatrix() {
    check_type("IQ2_M", GgmlType::IQ2_S, true);
}

/// For IQ2_XXS, IQ2_XS and IQ1_S, which ggml quantizes only with importance weights (it asserts
/// them): the token embedding and the output, which have no imatrix entry, are given Q8_0
/// (llama-quantize --pure would abort on them).
const UNWEIGHTED_Q8_0: &[&str] = &["--token-embedding-type", "q8_0", "--output-tensor-type", "q8_0"];

/// See [`UNWEIGHTED_Q8_0`].
#[test]
fn identity_iq2_xxs_imatrix() {
    check_type_with("IQ2_XXS", GgmlType::IQ2_XXS, true, UNWEIGHTED_Q8_0);
}

/// See [`identity_iq2_xxs_imatrix`].
#[test]
fn identity_iq2_xs_imatrix() {
    check_type_with("IQ2_XS", GgmlType::IQ2_XS, true, UNWEIGHTED_Q8_0);
}

/// IQ1_S with an importance matrix, as IQ2_XXS.
#[test]
fn identity_iq1_s_imatrix() {
    check_type_with("IQ1_S", GgmlType::IQ1_S, true, UNWEIGHTED_Q8_0);
}

/// IQ1_M with an importance matrix (ggml quantizes IQ1_M without one too: the token embedding and
/// the output, which have no imatrix entry, take that path).
#[test]
fn identity_iq1_m_imatrix() {
    check_type("IQ1_M", GgmlType::IQ1_M, true);
}

/// Without an importance matrix, IQ2_XXS, IQ2_XS and IQ1_S are refused with a typed error (ggml
/// asserts the weights).
#[test]
fn iq1_s_iq2_xxs_xs_refused_without_imatrix() {
    let x: Vec<f32> = (0..512).map(|i| (i as f32 * 0.37).sin()).collect();
    for ty in [GgmlType::IQ2_XXS, GgmlType::IQ2_XS, GgmlType::IQ1_S] {
        let mut y = vec![0u8; 2 * ty.type_size()];
        assert_eq!(quantize::quantize_rows(ty, &x, 256, None, &mut y), Err(quantize::QuantizeError::ImatrixRequired { ty }));
        let bytes: Vec<u8> = x.iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(
            quantize::quantize_tensor(ty, Source::F32(&bytes), 256, None, &mut y),
            Err(quantize::QuantizeError::ImatrixRequired { ty })
        );
        let w = vec![1.0f32; 256];
        quantize::quantize_rows(ty, &x, 256, Some(&w), &mut y).unwrap();
    }
}

/// Our dequantization of llama.cpp's blocks equals gguf-py's `gguf.quants.dequantize`, exactly.
#[test]
fn dequantize_matches_gguf_py() {
    let (name, model) = ("tiny-llama", common::ref_converted("tiny-llama", "f16"));
    let mut seen = HashMap::new();
    let runs = [
        ("Q8_0", false),
        ("Q4_0", false),
        ("Q4_1", true),
        ("Q5_0", false),
        ("Q5_1", true),
        ("Q2_K", false),
        ("Q3_K_M", true),
        ("Q4_K_M", false),
        ("Q5_K_M", true),
        ("Q6_K", false),
        ("BF16", false),
        ("IQ4_NL", true),
        ("IQ4_XS", false),
        ("IQ3_S", false),
        ("IQ3_XXS", true),
        ("IQ2_M", true),
        ("IQ2_XXS", true),
        ("IQ2_XS", true),
        ("IQ1_S", true),
        ("IQ1_M", true),
        ("TQ1_0", false),
        ("TQ2_0", false),
    ];
    for (ftype, with_imatrix) in runs {
        let more = if matches!(ftype, "IQ2_XXS" | "IQ2_XS" | "IQ1_S") { UNWEIGHTED_Q8_0 } else { &[] };
        compare_model(name, &model, ftype, with_imatrix, more);
        let qpath = reference_file(name, &model, ftype, with_imatrix, more);
        let qname = qpath.file_name().expect("a cached file").to_string_lossy().into_owned();
        let dump = common::cache_dir().join(format!("{qname}.gguf-py.f32"));
        common::cached(&dump, |tmp| {
            common::run(
                Command::new(common::ref_python()).arg(common::repo_root().join("tests/py/gguf_dequantize.py")).arg(&qpath).arg(tmp),
            );
        });
        let g = Gguf::read(&qpath);
        let reference: Vec<f32> =
            std::fs::read(&dump).unwrap().chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
        let mut at = 0;
        for t in &g.tensors {
            let ty = GgmlType::from_id(t.ty).unwrap();
            let n: u64 = t.dims.iter().product();
            let mut ours = vec![0f32; n as usize];
            quantize::dequantize_rows(ty, g.data(t), &mut ours).unwrap();
            let theirs = &reference[at..at + n as usize];
            at += n as usize;
            for (i, (a, b)) in ours.iter().zip(theirs).enumerate() {
                assert_eq!(a.to_bits(), b.to_bits(), "{qname} {} ({ty}) element {i}: ours {a:e}, gguf-py {b:e}", t.name);
            }
            *seen.entry(ty).or_insert(0usize) += 1;
        }
        assert_eq!(at, reference.len());
    }
    for ty in [
        GgmlType::Q8_0,
        GgmlType::Q4_0,
        GgmlType::Q4_1,
        GgmlType::Q5_0,
        GgmlType::Q5_1,
        GgmlType::Q2_K,
        GgmlType::Q3_K,
        GgmlType::Q4_K,
        GgmlType::Q5_K,
        GgmlType::Q6_K,
        GgmlType::BF16,
        GgmlType::IQ4_NL,
        GgmlType::IQ4_XS,
        GgmlType::IQ3_S,
        GgmlType::IQ3_XXS,
        GgmlType::IQ2_S,
        GgmlType::IQ2_XXS,
        GgmlType::IQ2_XS,
        GgmlType::IQ1_S,
        GgmlType::IQ1_M,
        GgmlType::TQ1_0,
        GgmlType::TQ2_0,
    ] {
        assert!(seen.get(&ty).copied().unwrap_or(0) >= 30, "too few {ty} tensors dequantized: {seen:?}");
    }
}
