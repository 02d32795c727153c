//! `ggufkit plan`'s exact file sizes: for GGUF input, the size it predicts for each file type
//! equals, to the byte, the size of the file the pinned `llama-quantize` writes; for a model
//! folder, the size of the file `ggufkit convert` writes, and its planned tensors are the
//! reference converter's (same weights bytes per type).

use crate::common;
use crate::quant_kernels_support;

/// The reference converter's F16 GGUF of a fixture.
fn converted(model: &str) -> std::path::PathBuf {
    common::ref_converted_fixture_f16(model)
}

use std::path::Path;
use std::process::Command;

const TYPES: &[&str] = &[
    "F16", "Q8_0", "Q6_K", "Q5_K_M", "Q5_K_S", "Q4_K_M", "Q4_K_S", "IQ4_NL", "IQ4_XS", "Q4_0", "Q3_K_M", "Q3_K_L", "IQ3_M", "IQ3_S",
    "Q2_K", "TQ2_0", "TQ1_0",
];

fn plan_json(model: &Path, types: &[&str]) -> serde_json::Value {
    let out = common::run(Command::new(common::ggufkit()).arg("plan").arg(model).args(["--types", &types.join(","), "--json"]));
    serde_json::from_str(&out).expect("plan --json output is JSON")
}

fn row<'a>(plan: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    plan["rows"].as_array().and_then(|rows| rows.iter().find(|r| r["name"] == name)).unwrap_or_else(|| panic!("no row {name} in {plan}"))
}

fn check_sizes(label: &str, f16: &Path, types: &[&str]) {
    let plan = plan_json(f16, types);
    let mut failures = Vec::new();
    for ty in types {
        let out = common::ref_quantized(f16, ty, &[], &format!("{label}-{ty}.gguf"));
        let want = std::fs::metadata(&out).expect("quantized file").len();
        let r = row(&plan, ty);
        let got = r["file_size"].as_u64().expect("file_size");
        assert_eq!(r["file_size_exact"], true, "{label} {ty}: GGUF input gives exact sizes");
        eprintln!("{label} {ty}: llama-quantize {want} bytes, plan {got} bytes");
        if got != want {
            failures.push(format!("{label} {ty}: llama-quantize wrote {want} bytes, plan says {got} ({:+})", got as i64 - want as i64));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn file_size_tiny_llama() {
    check_sizes("plan-tiny-llama", &converted("tiny-llama"), TYPES);
}

#[test]
fn file_size_tiny_phi3() {
    check_sizes("plan-tiny-phi3", &converted("tiny-phi3"), TYPES);
}

#[test]
fn file_size_tiny_gemma2() {
    check_sizes("plan-tiny-gemma2", &converted("tiny-gemma2"), TYPES);
}

#[test]
fn file_size_tiny_qwen2() {
    check_sizes("plan-tiny-qwen2", &converted("tiny-qwen2"), TYPES);
}

#[test]
fn file_size_smollm2_135m() {
    let f16 = common::smollm2_f16();
    check_sizes(
        "plan-smollm2",
        &f16,
        &["Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "IQ4_NL", "IQ4_XS", "Q4_0", "Q3_K_M", "IQ3_M", "IQ3_S", "Q2_K", "TQ2_0", "TQ1_0"],
    );
}

/// File types llama-quantize makes only with an importance matrix (IQ3_XS, IQ3_XXS, IQ2_*, IQ1_*):
/// plan sizes them as made with one, but without the `quantize.imatrix.*` keys (which name the
/// imatrix file and dataset): the data section of llama-quantize --imatrix's file after the
/// header of a file made without an imatrix (IQ3_S; headers do not depend on the tensor types).
#[test]
fn file_size_of_types_that_need_an_imatrix() {
    let f16 = converted("tiny-llama");
    let im = quant_kernels_support::imatrix("tiny-llama", &f16);
    let types = ["IQ3_XS", "IQ3_XXS", "IQ2_M", "IQ2_S", "IQ2_XS", "IQ2_XXS", "IQ1_S", "IQ1_M"];
    let plan = plan_json(&f16, &types);
    // Where the data section starts (gguf-py: file offset minus data offset of the first tensor).
    let data_start = |p: &Path| {
        let d = common::gguf_py_dump(&[p]);
        let t = &d[0]["tensors"][0];
        t[4].as_u64().expect("file offset") - t[3].as_u64().expect("data offset")
    };
    let plain = common::ref_quantized(&f16, "IQ3_S", &[], "plan-tiny-llama-IQ3_S.gguf");
    let header = data_start(&plain);
    for ty in types {
        let out = common::ref_quantized(
            &f16,
            ty,
            &["--imatrix", im.to_str().expect("utf-8 path")],
            &format!("plan-tiny-llama-{ty}-imatrix.gguf"),
        );
        let data = std::fs::metadata(&out).expect("quantized file").len() - data_start(&out);
        assert_eq!(row(&plan, ty)["file_size"].as_u64(), Some(header + data), "{ty}: {plan}");
    }
}

/// From the HF folder, the plan's tensors are the reference converter's: the same weights bytes
/// for every type, and the file size within 2 KiB of llama-quantize's file (general.* naming keys
/// differ with the folder name; the convert test below is to the byte).
#[test]
fn config_plan_matches_reference_converter_tensors() {
    for model in ["tiny-llama", "tiny-qwen2", "tiny-phi3", "tiny-gemma2"] {
        let from_gguf = plan_json(&converted(model), TYPES);
        let from_folder = plan_json(&common::fixture_model(model), TYPES);
        assert_eq!(from_folder["input"], "config");
        assert_eq!(from_folder["n_params"], from_gguf["n_params"], "{model}: parameter count");
        for ty in TYPES {
            let (a, b) = (row(&from_gguf, ty), row(&from_folder, ty));
            assert_eq!(a["weights_bytes"], b["weights_bytes"], "{model} {ty}: weights from config vs reference GGUF");
            let (fa, fb) = (a["file_size"].as_u64().unwrap_or(0) as f64, b["file_size"].as_u64().unwrap_or(0) as f64);
            // Tokenizer metadata is exact from the folder; the ~1 KiB of architecture and
            // general keys is estimated.
            assert!((fa - fb).abs() < 2048.0, "{model} {ty}: estimated file size {fb} vs {fa}");
        }
    }
}

/// From an HF folder, the size `plan` predicts for each type is the size of the file
/// `ggufkit convert` writes, to the byte.
#[test]
fn folder_plan_equals_convert_output() {
    let out = tempfile::tempdir().expect("tempdir");
    let mut failures = Vec::new();
    let trained = ["tiny-llama", "tiny-qwen2", "tiny-phi3", "tiny-gemma2"].map(|m| (m, common::fixture_model(m)));
    let generated = common::GENERATED.iter().map(|m| (*m, common::generated_fixture(m)));
    for (model, dir) in trained.into_iter().chain(generated) {
        let plan = plan_json(&dir, TYPES);
        assert_eq!(plan["rows"][0]["file_size_exact"], true, "{model}: folder with tokenizer files");
        for ty in TYPES {
            let file = out.path().join(format!("{model}-{ty}.gguf"));
            common::run(Command::new(common::ggufkit()).arg("convert").arg(&dir).args(["-t", ty, "--force", "-o"]).arg(&file));
            let want = std::fs::metadata(&file).expect("converted file").len();
            let got = row(&plan, ty)["file_size"].as_u64().expect("file_size");
            eprintln!("{model} {ty}: convert {want} bytes, plan {got} bytes");
            if got != want {
                failures.push(format!("{model} {ty}: convert wrote {want} bytes, plan says {got} ({:+})", got as i64 - want as i64));
            }
            let _ = std::fs::remove_file(&file);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// With safetensors beside the config, `plan` takes its tensors from their headers, as `convert`
/// does: tiny-llama's shards merged into one `model.safetensors` without `lm_head.weight` (the
/// config still says untied; llama.cpp then reuses the token embedding). The reference converter's
/// file from that folder has no `output.weight`: the plan's weights match it for every type, and
/// its file sizes are those of `ggufkit convert`'s files to the byte. From the config alone the
/// plan would count the missing projection.
#[test]
fn folder_plan_reads_safetensors_headers() {
    let src = common::fixture_model("tiny-llama");
    let tmp = tempfile::tempdir().expect("tempdir");
    let (with_weights, config_only) = (tmp.path().join("tiny-llama-untied-no-head"), tmp.path().join("config-only"));
    std::fs::create_dir(&with_weights).expect("mkdir");
    std::fs::create_dir(&config_only).expect("mkdir");
    let mut shards = Vec::new();
    for e in std::fs::read_dir(&src).expect("read fixture") {
        let path = e.expect("entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("").to_string();
        if name.starts_with("model") && name.ends_with(".safetensors") {
            shards.push(std::fs::read(&path).expect("read shard"));
        } else if name.ends_with(".json") && !name.starts_with("model.safetensors") || name == "tokenizer.model" {
            std::fs::copy(&path, with_weights.join(&name)).expect("copy");
            std::fs::copy(&path, config_only.join(&name)).expect("copy");
        }
    }
    assert!(!shards.is_empty(), "tiny-llama has safetensors shards");
    let parsed: Vec<safetensors::SafeTensors> = shards.iter().map(|b| safetensors::SafeTensors::deserialize(b).expect("shard")).collect();
    let kept: Vec<(String, safetensors::tensor::TensorView)> =
        parsed.iter().flat_map(|st| st.tensors()).filter(|(n, _)| n != "lm_head.weight").collect();
    assert!(kept.len() + 1 == parsed.iter().map(|st| st.len()).sum::<usize>(), "lm_head.weight removed");
    safetensors::serialize_to_file(kept, None, &with_weights.join("model.safetensors")).expect("write model.safetensors");

    let reference = tmp.path().join("ref-f16.gguf");
    common::run(
        Command::new(common::ref_python())
            .arg(common::ref_llama_src().join("convert_hf_to_gguf.py"))
            .arg(&with_weights)
            .args(["--outtype", "f16", "--outfile"])
            .arg(&reference),
    );
    let types = ["F16", "Q8_0", "Q4_K_M", "Q2_K"];
    let from_ref = plan_json(&reference, &types);
    let from_folder = plan_json(&with_weights, &types);
    let from_config = plan_json(&config_only, &types);
    assert_eq!(from_folder["n_params"], from_ref["n_params"], "parameter count from the headers");
    assert_ne!(from_config["n_params"], from_ref["n_params"], "the config alone counts lm_head");
    for ty in types {
        assert_eq!(
            row(&from_folder, ty)["weights_bytes"],
            row(&from_ref, ty)["weights_bytes"],
            "{ty}: weights from the headers vs the reference GGUF"
        );
        let file = tmp.path().join(format!("{ty}.gguf"));
        common::run(Command::new(common::ggufkit()).arg("convert").arg(&with_weights).args(["-t", ty, "--force", "-o"]).arg(&file));
        let want = std::fs::metadata(&file).expect("converted file").len();
        let got = row(&from_folder, ty)["file_size"].as_u64().expect("file_size");
        eprintln!("untied, no lm_head, {ty}: convert {want} bytes, plan {got} bytes");
        assert_eq!(got, want, "{ty}: plan vs convert's file");
    }
}
