//! The per-tensor type policy (`quantize::policy`) against llama-quantize: for every mix and real
//! models of several architectures, the type we choose for each tensor equals the type in
//! llama-quantize's output, and llama-quantize writes the tensors in our order. Reads the
//! files with gguf-py (tests/py/gguf_tensors.py); needs no quantization kernels.

use crate::common;

use gguf::GgmlType;
use quantize::ftype::FileType;
use quantize::policy::{llama_tensor_order, ModelInfo, PolicyOptions, TensorRef, TypePolicy};
use serde_json::Value as Json;
use std::path::{Path, PathBuf};

use common::MIXES;

fn input(model: &str) -> PathBuf {
    common::quantize_input(model)
}

struct Tensor {
    name: String,
    dims: Vec<u64>,
    ty: GgmlType,
}

fn tensors(dump: &Json) -> Vec<Tensor> {
    dump["tensors"]
        .as_array()
        .expect("tensors")
        .iter()
        .map(|t| Tensor {
            name: t[0].as_str().expect("name").to_string(),
            dims: t[1].as_array().expect("dims").iter().map(|d| d.as_u64().expect("dim")).collect(),
            ty: GgmlType::from_id(t[2].as_u64().expect("type") as u32).expect("known type"),
        })
        .collect()
}

/// ModelInfo from gguf-py's metadata (the same keys llama.cpp's load_hparams reads).
fn model_info(dump: &Json) -> ModelInfo {
    let md = &dump["metadata"];
    let arch = md["general.architecture"][1].as_str().expect("arch").to_string();
    let num = |key: &str| -> Option<u32> {
        let v = &md[format!("{arch}.{key}")];
        if v.is_null() {
            return None;
        }
        let v = if v[0] == 9 { &v[1][1][0] } else { &v[1] };
        Some(v.as_u64().expect("number") as u32)
    };
    let n_head = num("attention.head_count").unwrap_or(0);
    ModelInfo {
        n_layer: num("block_count").expect("block_count"),
        n_expert: num("expert_count").unwrap_or(0),
        n_head,
        n_head_kv: num("attention.head_count_kv").unwrap_or(n_head),
        arch,
    }
}

/// llama-quantize's output for `model` with `mix` and `extra` options, cached.
fn reference(model: &str, input: &Path, mix: &str, extra: &[&str], tag: &str) -> PathBuf {
    common::ref_quantized(input, mix, extra, &format!("{model}-{mix}{tag}.gguf"))
}

/// Compares our choices with llama-quantize's outputs for each mix; panics listing mismatches.
fn check(model: &str, opts: &PolicyOptions, extra: &[&str], tag: &str, mixes: &[&str]) {
    let inp = input(model);
    let refs: Vec<PathBuf> = mixes.iter().map(|m| reference(model, &inp, m, extra, tag)).collect();
    let mut files: Vec<&Path> = vec![&inp];
    files.extend(refs.iter().map(|p| p.as_path()));
    let dumps = common::gguf_py_dump(&files);
    let src = tensors(&dumps[0]);
    let info = model_info(&dumps[0]);
    let refs_t: Vec<TensorRef> = src.iter().map(|t| TensorRef { name: &t.name, dims: &t.dims, ty: t.ty }).collect();
    let names: Vec<&str> = src.iter().map(|t| t.name.as_str()).collect();
    let order: Vec<&str> = llama_tensor_order(&names).into_iter().map(|i| names[i]).collect();

    let mut bad = Vec::new();
    let mut n_fallback = 0;
    for (mix, dump) in mixes.iter().zip(&dumps[1..]) {
        let ftype = FileType::from_name(mix).expect("mix name");
        let policy = TypePolicy::new(ftype, opts.clone(), &info).expect("policy");
        let ours = policy.choose_types(&refs_t).unwrap_or_else(|e| panic!("{model} {mix}: {e}"));
        let theirs = tensors(dump);
        let their_order: Vec<&str> = theirs.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(order, their_order, "{model} {mix}{tag}: tensor order differs from llama-quantize's");
        assert_eq!(dump["metadata"]["general.file_type"][1].as_u64(), Some(u64::from(ftype.id())), "{model} {mix}: general.file_type");
        for (t, c) in src.iter().zip(&ours) {
            let r = theirs.iter().find(|r| r.name == t.name).expect("tensor in reference");
            if r.ty != c.ty {
                bad.push(format!("{model} {mix}{tag} {}: ours {} llama-quantize {}", t.name, c.ty, r.ty));
            }
            n_fallback += c.fallback as usize;
        }
    }
    assert!(bad.is_empty(), "{} type mismatches:\n{}", bad.len(), bad.join("\n"));
    eprintln!("{model}{tag}: {} mixes agree ({} fallbacks)", mixes.len(), n_fallback);
}

#[test]
fn policy_matches_llama_quantize_tiny_llama() {
    check("tiny-llama", &PolicyOptions::default(), &[], "", MIXES);
}

#[test]
fn policy_matches_llama_quantize_tiny_phi3() {
    // 704-wide FFN rows: every K-quant falls back; fused attn_qkv.
    check("tiny-phi3", &PolicyOptions::default(), &[], "", MIXES);
}

#[test]
fn policy_matches_llama_quantize_tiny_gemma2() {
    // BF16 input, tied embeddings, 704-wide FFN rows.
    check("tiny-gemma2", &PolicyOptions::default(), &[], "", MIXES);
}

#[test]
fn policy_matches_llama_quantize_smollm2() {
    // 30 layers (use_more_bits pattern), 576-wide rows (fallbacks), tied embeddings.
    check("smollm2", &PolicyOptions::default(), &[], "", MIXES);
}

#[test]
fn policy_options_match_llama_quantize() {
    let mixes = &["Q4_K_M", "Q3_K_S", "Q8_0", "Q5_1"];
    for model in ["tiny-llama", "smollm2"] {
        check(model, &PolicyOptions { pure: true, ..Default::default() }, &["--pure"], "-pure", mixes);
        check(
            model,
            &PolicyOptions { leave_output_tensor: true, ..Default::default() },
            &["--leave-output-tensor"],
            "-leave-output",
            mixes,
        );
        check(
            model,
            &PolicyOptions { output_tensor_type: Some(GgmlType::Q5_0), token_embedding_type: Some(GgmlType::Q4_0), ..Default::default() },
            &["--output-tensor-type", "q5_0", "--token-embedding-type", "q4_0"],
            "-out-q5_0-emb-q4_0",
            mixes,
        );
    }
}
