//! Bad inputs to `ggufkit convert`: each gives a clear error naming the file or tensor, a non-zero
//! exit, and leaves no output file (nor temporary file) behind.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;

/// A scratch folder for one case.
/// (Folder names are neutral words, so that a message naming the path cannot pass a check.)
fn scratch(case: &str) -> PathBuf {
    let mut h: u64 = 1469598103934665603;
    for b in case.bytes() {
        h = (h ^ b as u64).wrapping_mul(1099511628211);
    }
    let d = cache_dir().join(format!("case{:x}-{}", h & 0xffffff, std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("create scratch folder");
    d
}

fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).expect("mkdir");
    for e in std::fs::read_dir(src).expect("read fixture") {
        let e = e.expect("entry");
        std::fs::copy(e.path(), dst.join(e.file_name())).expect("copy fixture file");
    }
}

/// Copy of tiny-llama (3 F16 shards + index) to damage.
fn llama_copy(case: &str) -> (PathBuf, PathBuf) {
    let root = scratch(case);
    let model = root.join("model");
    copy_dir(&fixture_model("tiny-llama"), &model);
    let out = root.join("out");
    std::fs::create_dir_all(&out).expect("mkdir out");
    (model, out)
}

fn convert(model: &Path, out: &Path, ty: &str) -> Output {
    Command::new(ggufkit()).arg("convert").arg(model).arg("-t").arg(ty).arg("-o").arg(out).output().expect("run ggufkit")
}

/// Asserts failure, that stderr names every `needle`, and that `out_dir` holds no file.
fn assert_fails(o: &Output, out_dir: &Path, needles: &[&str]) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "expected failure, got success; stderr: {err}");
    for n in needles {
        assert!(err.contains(n), "stderr should mention `{n}`:\n{err}");
    }
    if out_dir.is_dir() {
        let left: Vec<_> = std::fs::read_dir(out_dir).expect("read out").map(|e| e.expect("entry").file_name()).collect();
        assert!(left.is_empty(), "files left behind in {}: {left:?}", out_dir.display());
    }
}

#[test]
fn missing_config() {
    let (model, out) = llama_copy("noconfig");
    std::fs::remove_file(model.join("config.json")).expect("rm");
    assert_fails(&convert(&model, &out, "Q8_0"), &out, &["config.json"]);
}

#[test]
fn missing_tokenizer() {
    let (model, out) = llama_copy("notok");
    std::fs::remove_file(model.join("tokenizer.json")).expect("rm");
    std::fs::remove_file(model.join("tokenizer.model")).expect("rm");
    assert_fails(&convert(&model, &out, "Q8_0"), &out, &["tokenizer"]);
}

#[test]
fn missing_shard() {
    let (model, out) = llama_copy("noshard");
    std::fs::remove_file(model.join("model-00002-of-00003.safetensors")).expect("rm");
    assert_fails(&convert(&model, &out, "F16"), &out, &["model-00002-of-00003.safetensors", "missing"]);
}

#[test]
fn truncated_shard() {
    let (model, out) = llama_copy("truncated");
    let p = model.join("model-00003-of-00003.safetensors");
    let len = std::fs::metadata(&p).expect("stat").len();
    let f = std::fs::OpenOptions::new().write(true).open(&p).expect("open");
    f.set_len(len - 1000).expect("truncate");
    let (expected, found) = (len.to_string(), (len - 1000).to_string());
    assert_fails(&convert(&model, &out, "Q4_K_M"), &out, &["model-00003-of-00003.safetensors", "truncated", &expected, &found]);
}

#[test]
fn index_names_absent_tensor() {
    let (model, out) = llama_copy("absent");
    let p = model.join("model.safetensors.index.json");
    let mut index: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&p).expect("read")).expect("json");
    index["weight_map"]["model.layers.0.mlp.extra_proj.weight"] = "model-00001-of-00003.safetensors".into();
    std::fs::write(&p, serde_json::to_string(&index).expect("ser")).expect("write");
    assert_fails(&convert(&model, &out, "F16"), &out, &["model.layers.0.mlp.extra_proj.weight", "model-00001-of-00003.safetensors"]);
}

#[test]
fn shape_disagrees_with_config() {
    let (model, out) = llama_copy("shape");
    let p = model.join("config.json");
    let mut cfg: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&p).expect("read")).expect("json");
    cfg["intermediate_size"] = 512.into();
    std::fs::write(&p, serde_json::to_string(&cfg).expect("ser")).expect("write");
    assert_fails(&convert(&model, &out, "F16"), &out, &["mlp.", "config.json", "768", "512"]);
}

fn damaged(case: &str, mode: &str, tensor: &str) -> (PathBuf, PathBuf) {
    let root = scratch(case);
    let model = root.join("model");
    run(Command::new(ref_python())
        .arg(repo_root().join("tests/py/make_bad_checkpoint.py"))
        .arg(fixture_model("tiny-llama"))
        .arg(&model)
        .arg(mode)
        .arg(tensor));
    let out = root.join("out");
    std::fs::create_dir_all(&out).expect("mkdir out");
    (model, out)
}

#[test]
fn unsupported_dtypes() {
    for (mode, dtype) in [("int8", "I8"), ("f8", "F8_E4M3")] {
        let (model, out) = damaged(&format!("dtype-{mode}"), mode, "model.layers.1.mlp.up_proj.weight");
        assert_fails(&convert(&model, &out, "Q8_0"), &out, &["model.layers.1.mlp.up_proj.weight", dtype]);
    }
}

#[test]
fn non_finite_weights() {
    for (mode, ty) in [("nan", "F16"), ("inf", "Q4_K_M"), ("nan", "Q8_0")] {
        let (model, out) = damaged(&format!("nonfinite-{mode}-{ty}"), mode, "model.layers.2.self_attn.v_proj.weight");
        assert_fails(&convert(&model, &out, ty), &out, &["model.layers.2.self_attn.v_proj.weight", "non-finite", "element 5"]);
    }
}

#[test]
fn unwritable_output_folder() {
    let root = scratch("unwritable");
    let ro = root.join("ro");
    std::fs::create_dir_all(&ro).expect("mkdir");
    let mut perm = std::fs::metadata(&ro).expect("stat").permissions();
    use std::os::unix::fs::PermissionsExt;
    perm.set_mode(0o555);
    std::fs::set_permissions(&ro, perm).expect("chmod");
    // root ignores directory permissions: then use a folder of the read-only /proc instead
    let target = if std::fs::File::create(ro.join("probe")).is_ok() {
        let _ = std::fs::remove_file(ro.join("probe"));
        PathBuf::from("/proc/self/ggufkit-out.gguf")
    } else {
        ro.join("out.gguf")
    };
    let o = convert(&fixture_model("tiny-llama"), &target, "Q8_0");
    assert_fails(&o, &ro, &[target.parent().expect("parent").to_str().expect("utf8")]);
    assert!(!target.exists());
}

#[test]
fn full_disk() {
    // A file-size limit makes writes fail with EFBIG exactly like ENOSPC would (SIGXFSZ ignored).
    let (model, out) = llama_copy("fulldisk");
    let target = out.join("x.gguf");
    let o = Command::new("sh")
        .arg("-c")
        .arg("trap '' XFSZ; ulimit -f 2048; exec \"$0\" convert \"$1\" -t F16 -o \"$2\"")
        .arg(ggufkit())
        .arg(&model)
        .arg(&target)
        .output()
        .expect("run sh");
    assert_fails(&o, &out, &["x.gguf"]);
}

#[test]
fn refuses_to_overwrite_without_force() {
    let root = scratch("overwrite");
    let target = root.join("m.gguf");
    std::fs::write(&target, b"keep me").expect("write");
    let o = convert(&fixture_model("tiny-llama"), &target, "Q8_0");
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--force"));
    assert_eq!(std::fs::read(&target).expect("read"), b"keep me");
}

#[test]
fn unsupported_architecture_lists_supported_ones() {
    let (model, out) = llama_copy("arch");
    let p = model.join("config.json");
    let mut cfg: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&p).expect("read")).expect("json");
    cfg["architectures"] = serde_json::json!(["MambaForCausalLM"]);
    std::fs::write(&p, serde_json::to_string(&cfg).expect("ser")).expect("write");
    assert_fails(
        &convert(&model, &out, "F16"),
        &out,
        &["MambaForCausalLM", "LlamaForCausalLM", "Qwen2ForCausalLM", "Phi3ForCausalLM", "Gemma2ForCausalLM"],
    );
}

#[test]
fn a_config_field_of_the_wrong_type_is_named_by_every_command() {
    // one typed reading of config.json (gguf::arch::HfConfig) for convert, plan and validate:
    // each names the field and what it should be, before reading any weights
    let (model, out) = llama_copy("typed");
    let p = model.join("config.json");
    let mut cfg: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&p).expect("read")).expect("json");
    cfg["num_key_value_heads"] = serde_json::json!("4");
    std::fs::write(&p, serde_json::to_string(&cfg).expect("ser")).expect("write");
    let needles = ["num_key_value_heads", "expected a non-negative integer, found \"4\""];
    assert_fails(&convert(&model, &out, "Q8_0"), &out, &needles);
    let plan = Command::new(ggufkit()).arg("plan").arg(&model).output().expect("run ggufkit");
    assert_fails(&plan, &out, &needles);
    let text = model.join("text.txt");
    std::fs::write(&text, "hello world ".repeat(400)).expect("write text");
    let validate = Command::new(ggufkit()).arg("validate").arg(&model).arg(&model).arg("--text").arg(&text).output().expect("run ggufkit");
    assert_fails(&validate, &out, &needles);
}
