//! `convert -t A,B,…` reads and converts each tensor once and writes every type: each output is
//! byte for byte the file a single-type `convert -t A` writes (itself byte-identical to
//! llama.cpp's convert + llama-quantize, tests/convert_crosscheck.rs), and the quantized one here
//! is also checked against llama-quantize directly.

use crate::common;

use std::path::Path;
use std::process::Command;

use common::*;

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn each_output_of_a_multi_type_pass_equals_its_single_type_conversion() {
    let base = cache_dir().join(format!("multitype-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let (multi, single) = (base.join("multi"), base.join("single"));
    std::fs::create_dir_all(&multi).expect("mkdir");
    std::fs::create_dir_all(&single).expect("mkdir");
    // quantized types share one pass; F16 and BF16 round differently and get passes of their own
    let types = ["Q4_K_M", "Q5_K_M", "Q8_0", "Q6_K", "F16", "BF16", "Q2_K"];
    for model in ["tiny-llama", "tiny-gemma2"] {
        let out = run(Command::new(ggufkit())
            .arg("convert")
            .arg(fixture_model(model))
            .arg("-t")
            .arg(types.join(","))
            .arg("-o")
            .arg(&multi)
            .arg("--json"));
        let summaries: serde_json::Value = serde_json::from_str(&out).expect("JSON summary");
        assert_eq!(summaries.as_array().map(Vec::len), Some(types.len()), "one summary per type: {out}");
        for ty in types {
            run(Command::new(ggufkit()).arg("convert").arg(fixture_model(model)).arg("-t").arg(ty).arg("-o").arg(&single));
            let name = format!("{model}-{ty}.gguf");
            let (a, b) = (read(&multi.join(&name)), read(&single.join(&name)));
            assert!(a == b, "{name}: the multi-type output differs from the single-type conversion ({} vs {} bytes)", a.len(), b.len());
            let mf = format!("{model}-{ty}.Modelfile");
            assert_eq!(read(&multi.join(&mf)), read(&single.join(&mf)), "{mf}");
        }
    }
    // and straight against the reference for one quantized output of the shared pass
    let reference = ref_quantized(&ref_converted("tiny-llama", "f16"), "Q4_K_M", &[], "tiny-llama-f16-Q4_K_M-multitype.gguf");
    assert!(read(&multi.join("tiny-llama-Q4_K_M.gguf")) == read(&reference), "multi-type Q4_K_M differs from llama-quantize's");
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn several_types_need_an_output_folder() {
    let dir = cache_dir().join(format!("multitype-file-{}", std::process::id()));
    let out = Command::new(ggufkit())
        .arg("convert")
        .arg(fixture_model("tiny-llama"))
        .args(["-t", "Q8_0,Q4_0", "-o"])
        .arg(dir.join("x.gguf"))
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("output folder"), "{err}");
}
