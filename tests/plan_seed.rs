//! The seed scenario and the shipped configs: `ggufkit plan` from a lone config.json.
//!
//! Phi-3.5-mini-instruct in FP16 on an 8 GiB GPU with a 4096-token context does not fit; the plan
//! names the best type that does, and at which context. The config is checked against the model's
//! published parameter count (3,821,079,552, the Phi-3-mini architecture) plus the two 48-element
//! LongRoPE factor tensors llama.cpp's converter adds.

use crate::common;

use std::path::PathBuf;
use std::process::Command;

fn config(name: &str) -> PathBuf {
    common::repo_root().join("configs").join(name)
}

fn plan(args: &[&str]) -> serde_json::Value {
    let out = common::run(Command::new(common::ggufkit()).arg("plan").args(args).arg("--json"));
    serde_json::from_str(&out).expect("plan --json output is JSON")
}

#[test]
fn seed_phi35_mini_fp16_does_not_fit_8gib() {
    let dir = config("phi-3.5-mini-instruct");
    let p = plan(&[dir.to_str().expect("utf-8 path"), "--vram", "8GiB", "--ctx", "4096"]);
    assert_eq!(p["arch"], "phi3");
    assert_eq!(p["n_params"], 3_821_079_552u64 + 2 * 48, "Phi-3.5-mini parameter count");
    let rows = p["rows"].as_array().expect("rows");
    let f16 = rows.iter().find(|r| r["name"] == "F16").expect("F16 row");
    // 2 bytes per weight, F32 norms: more than 7 GiB of weights.
    assert!(f16["weights_bytes"].as_u64().unwrap() > 7_600_000_000, "{f16}");
    assert_eq!(f16["fits"], false, "FP16 Phi-3.5-mini must not fit 8 GiB at ctx 4096: {f16}");
    let rec = p["recommendation"]["name"].as_str().expect("a recommendation");
    let rec_row = rows.iter().find(|r| r["name"] == rec).expect("recommended row");
    assert_eq!(rec_row["fits"], true);
    assert!(rec_row["max_ctx"].as_u64().unwrap() >= 4096, "{rec_row}");
    assert!(rec_row["total_bytes"].as_u64().unwrap() <= 8 * (1u64 << 30) - 600 * (1 << 20));
    // The recommendation is the best fitting type in llama.cpp's quality order: every row better
    // than it does not fit.
    let order = ["F16", "Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q4_0", "Q3_K_M", "Q2_K"];
    let pos = order.iter().position(|n| *n == rec).expect("known type");
    for better in &order[..pos] {
        let r = rows.iter().find(|r| r["name"] == *better).expect("row");
        assert_eq!(r["fits"], false, "{better} fits but {rec} was recommended");
    }
    // F16 partially offloads: some but not all of the 33 offloadable layers.
    let layers = f16["gpu_layers"].as_u64().unwrap();
    assert!(layers > 0 && layers < 33, "{f16}");
}

#[test]
fn every_shipped_config_plans() {
    for (name, arch, n_layer) in [
        ("phi-3.5-mini-instruct", "phi3", 32),
        ("deepseek-coder-6.7b", "llama", 32),
        ("codellama-7b", "llama", 32),
        ("phi-2", "phi2", 32),
        ("gemma-2b", "gemma", 18),
        ("gemma-2-2b", "gemma2", 26),
        ("qwen3-30b-a3b", "qwen3moe", 48),
    ] {
        let dir = config(name);
        let p = plan(&[dir.join("config.json").to_str().expect("utf-8 path"), "--ctx", "2048"]);
        assert_eq!(p["arch"], arch, "{name}");
        assert_eq!(p["n_layer"], n_layer, "{name}");
        assert_eq!(p["rows"].as_array().map(|r| r.len()), Some(8), "{name}: default type list");
    }
}

#[test]
fn text_and_markdown_outputs() {
    let dir = config("gemma-2-2b");
    let text = common::run(Command::new(common::ggufkit()).arg("plan").arg(&dir).args(["--vram", "6GiB"]));
    assert!(text.contains("Q4_K_M") && text.contains("Recommended:"), "{text}");
    let md = common::run(Command::new(common::ggufkit()).arg("plan").arg(&dir).args(["--markdown"]));
    assert!(md.contains("| type |") && md.contains("|---|"), "{md}");
}

fn plan_error(config_json: &str) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("config.json"), config_json).expect("write config");
    let out = Command::new(common::ggufkit()).arg("plan").arg(dir.path()).output().expect("run ggufkit");
    assert!(!out.status.success(), "plan accepted {config_json}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn clear_errors_for_configs_it_cannot_plan() {
    let err = plan_error(r#"{"model_type": "mamba", "hidden_size": 768}"#);
    assert!(err.contains("\"mamba\" cannot be planned") && err.contains("llama"), "{err}");
    let err = plan_error(
        r#"{"model_type": "llama", "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 64,
            "vocab_size": 100, "max_position_embeddings": 128}"#,
    );
    assert!(err.contains("\"hidden_size\""), "{err}");
    // a field of the wrong type is named, for every command the same way (one typed reader)
    let err = plan_error(
        r#"{"model_type": "llama", "num_hidden_layers": 2, "hidden_size": "64", "num_attention_heads": 4,
            "intermediate_size": 64, "vocab_size": 100, "max_position_embeddings": 128}"#,
    );
    assert!(err.contains("field `hidden_size`") && err.contains("non-negative integer"), "{err}");
    let err = plan_error("{not json");
    assert!(err.contains("invalid JSON"), "{err}");
    // the cause is named once: the typed error's message holds it, and main prints the chain
    // without repeating it
    assert_eq!(err.matches("key must be a string").count(), 1, "{err}");
}

#[test]
fn a_mixture_of_experts_recommendation_fits_the_ram_too() {
    // Qwen3-30B-A3B: 30,532,122,624 parameters in its published safetensors index; on an 8 GiB
    // card no type fits whole, so plan recommends keeping the experts on the CPU (llama.cpp's
    // --cpu-moe) — with the best type whose host weights fit the RAM given
    let dir = config("qwen3-30b-a3b");
    let dir = dir.to_str().expect("utf-8 path");
    let gib = 1u64 << 30;
    for ram_gib in [1024u64, 24, 12] {
        let p = plan(&[dir, "--vram", "8GiB", "--ctx", "4096", "--ram", &format!("{ram_gib}GiB")]);
        assert_eq!((p["arch"].as_str(), p["n_params"].as_u64()), (Some("qwen3moe"), Some(30_532_122_624)));
        assert_eq!(p["ram_bytes"].as_u64(), Some(ram_gib * gib));
        let rows = p["rows"].as_array().expect("rows");
        assert!(rows.iter().all(|r| r["fits"] == false), "no type fits 8 GiB whole");
        let name = p["recommendation"]["name"].as_str().expect("a recommendation");
        let ty = name.strip_suffix(" --cpu-moe").unwrap_or_else(|| panic!("a --cpu-moe recommendation: {name}"));
        let host = |r: &serde_json::Value| r["experts_on_cpu"]["host_weights_bytes"].as_u64().expect("host weights");
        let pos = rows.iter().position(|r| r["name"] == ty).expect("recommended row");
        assert!(host(&rows[pos]) <= ram_gib * gib && rows[pos]["experts_on_cpu"]["fits"] == true, "{}", rows[pos]);
        // every better type (rows are in quality order) would need more RAM than given
        for better in &rows[..pos] {
            assert!(host(better) > ram_gib * gib, "{} fits {ram_gib} GiB of RAM but {ty} was recommended", better["name"]);
        }
        if ram_gib == 1024 {
            assert_eq!(ty, "F16", "with RAM enough for every type, the best one");
        } else {
            // the reason names the next better type, which only the RAM rules out
            let why = p["recommendation"]["why"].as_str().expect("why");
            let next = rows[pos - 1]["name"].as_str().expect("name");
            assert!(why.contains(&format!("{next} --cpu-moe would need")) && why.contains("--ram"), "{why}");
        }
    }
}
