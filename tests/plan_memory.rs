//! `ggufkit plan`'s memory model against what the pinned llama.cpp allocates: for every fixture
//! model (reference-converted F16 GGUF) and SmolLM2-135M (F16), at several context / batch / KV
//! type combinations, the plan's weights, KV cache and compute buffer are within 5% of the sizes
//! `llama-completion` logs when it loads the model on the CPU (`CPU_Mapped model buffer size`,
//! `llama_kv_cache: size`, `sched_reserve: CPU compute buffer size`). Synthetic models
//! (tests/py/plan_synthetic_gguf.py) cover what no fixture reaches: FFN-bound compute buffers, and
//! the phi2 and gemma (v1) architectures. The CUDA model is held to the buffers a CUDA build of the
//! same llama.cpp reported on an H200 (configs/README.md).

use crate::common;

/// The reference converter's F16 GGUF of a fixture.
fn converted(model: &str) -> std::path::PathBuf {
    common::ref_converted_fixture_f16(model)
}

use std::path::Path;
use std::process::Command;

/// Buffer sizes llama.cpp logged, in MiB.
#[derive(Debug)]
struct LlamaReport {
    model: f64,
    kv: f64,
    compute: f64,
}

/// Sums every `<prefix> <number> MiB` occurrence in the log.
fn sum_mib(log: &str, prefix: &str) -> Option<f64> {
    let mut total = None;
    for line in log.lines() {
        if let Some(pos) = line.find(prefix) {
            let rest = line[pos + prefix.len()..].trim_start();
            let num: String = rest.chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
            if let Ok(v) = num.parse::<f64>() {
                *total.get_or_insert(0.0) += v;
            }
        }
    }
    total
}

fn llama_report(model: &Path, ctx: u64, batch: u64, kv: &str, fa: &str) -> LlamaReport {
    const MARKERS: [&str; 3] = ["CPU_Mapped model buffer size =", "llama_kv_cache: size =", "CPU compute buffer size ="];
    let log = common::llama_tool_log(
        "llama-completion",
        &|cmd| {
            cmd.arg("-m")
                .arg(model)
                .args(["-c", &ctx.to_string(), "-b", &batch.to_string(), "-ub", &batch.to_string()])
                .args(["-ctk", kv, "-ctv", kv, "-fa", fa])
                // no weight repacking (extra CPU buffers), no fitting, one token, verbose buffer logs
                .args(["-nr", "-fit", "off", "--no-warmup", "-n", "1", "-p", "hi", "-no-cnv", "-t", "2", "-lv", "4"]);
        },
        &MARKERS,
    );
    let get =
        |prefix: &str| sum_mib(&log, prefix).unwrap_or_else(|| panic!("no '{prefix}' <number> MiB in the llama-completion output:\n{log}"));
    LlamaReport { model: get(MARKERS[0]), kv: get(MARKERS[1]), compute: get(MARKERS[2]) }
}

/// The plan's numbers (MiB) for the GGUF's own types ("as-is" row).
fn plan_report(model: &Path, ctx: u64, batch: u64, kv: &str, fa: &str) -> LlamaReport {
    let out = common::run(
        Command::new(common::ggufkit())
            .arg("plan")
            .arg(model)
            .args(["--ctx", &ctx.to_string(), "--batch", &batch.to_string(), "--kv-type", kv])
            .args(["--types", "F16", "--backend", "cpu", "--flash-attn", fa, "--json"]),
    );
    let v: serde_json::Value = serde_json::from_str(&out).expect("plan --json output is JSON");
    let row = &v["rows"][0];
    assert_eq!(row["name"], "as-is");
    let mib = |k: &str| row[k].as_u64().unwrap_or_else(|| panic!("{k} missing in {row}")) as f64 / (1u64 << 20) as f64;
    LlamaReport { model: mib("weights_bytes"), kv: mib("kv_bytes"), compute: mib("compute_bytes") }
}

const COMBOS: &[(u64, u64, &str)] = &[
    (512, 512, "f16"),
    (2048, 512, "f16"),
    (4096, 512, "f16"),
    (8192, 512, "f16"),
    (2048, 256, "q8_0"),
    (1024, 128, "q4_0"),
    (3000, 64, "q8_0"),
    (384, 512, "f16"), // batch clamped to the context
    (256, 512, "f16"), // small contexts: the logits and FFN activations, not the mask, dominate
    (128, 512, "f16"),
];

/// llama.cpp's reports vs the plan, within 5% each, flash attention as llama.cpp decides (`auto`).
fn check(name: &str, model: &Path) {
    check_combos(name, model, COMBOS, "auto")
}

/// Without flash attention: the f32 KQ matrices, softmax and a transposed V cache.
const COMBOS_NO_FA: &[(u64, u64, &str)] = &[(128, 512, "f16"), (384, 512, "f16"), (2048, 512, "f16"), (4096, 256, "f16")];

fn check_combos(name: &str, model: &Path, combos: &[(u64, u64, &str)], fa: &str) {
    let tolerance = 0.05;
    let mut failures = Vec::new();
    for &(ctx, batch, kv) in combos {
        let want = llama_report(model, ctx, batch, kv, fa);
        let got = plan_report(model, ctx, batch, kv, fa);
        for (what, w, g) in [("weights", want.model, got.model), ("KV", want.kv, got.kv), ("compute", want.compute, got.compute)] {
            // llama.cpp prints MiB with two decimals: allow that rounding on top.
            let err = (g - w).abs();
            let line = format!(
                "{name} ctx={ctx} batch={batch} kv={kv} fa={fa} {what}: llama.cpp {w:.2} MiB, plan {g:.2} MiB ({:+.1}%)",
                100.0 * (g - w) / w
            );
            eprintln!("{line}");
            if err > tolerance * w + 0.005 {
                failures.push(line);
            }
        }
    }
    assert!(failures.is_empty(), "plan is more than {}% off llama.cpp:\n{}", tolerance * 100.0, failures.join("\n"));
}

#[test]
fn memory_tiny_llama() {
    check("tiny-llama", &converted("tiny-llama"));
}

#[test]
fn memory_tiny_qwen2() {
    check("tiny-qwen2", &converted("tiny-qwen2"));
}

#[test]
fn memory_tiny_phi3() {
    check("tiny-phi3", &converted("tiny-phi3"));
}

#[test]
fn memory_tiny_gemma2() {
    check("tiny-gemma2", &converted("tiny-gemma2"));
}

/// The generated fixtures (Mistral with its own head_dim, Llama 3.2 with rope_freqs, Phi-4-mini
/// with partial rotary and LongRoPE factors), reference-converted F16.
#[test]
fn memory_generated_architectures() {
    for model in common::GENERATED.iter() {
        check(model, &common::ref_converted_generated_f16(model));
    }
}

#[test]
fn memory_smollm2_135m() {
    check("SmolLM2-135M", &common::smollm2_f16());
}

/// A synthetic model (tests/py/plan_synthetic_gguf.py), cached.
fn synthetic(name: &str, args: &[&str]) -> std::path::PathBuf {
    let out = common::cache_dir().join(format!("plan-synthetic-{name}.gguf"));
    common::cached(&out, |tmp| {
        common::run(
            Command::new(common::ref_python()).arg(common::repo_root().join("tests/py/plan_synthetic_gguf.py")).arg(tmp).args(args),
        );
    })
}

/// llama, 4 layers, n_embd 512, n_ff 8192, vocab 1024: the FFN activations, not the logits, set
/// the compute buffer.
#[test]
fn memory_synthetic_llama_ffn_bound() {
    let args = ["--n-layer", "4", "--n-embd", "512", "--n-ff", "8192", "--n-head", "8", "--n-head-kv", "2", "--n-vocab", "1024"];
    check("synthetic-llama-ffn", &synthetic("ffn", &args));
}

/// phi2 (no fixture): biases, one up projection with GELU, no FFN norm; FFN-bound shape.
#[test]
fn memory_synthetic_phi2() {
    let args = ["--arch", "phi2", "--n-layer", "4", "--n-embd", "512", "--n-ff", "8192", "--n-head", "8", "--n-head-kv", "8"];
    check("synthetic-phi2", &synthetic("phi2", &[&args[..], &["--n-vocab", "1024"]].concat()));
}

/// gemma v1 (no fixture): tied output, one KV head of 256 dims, logits-bound.
#[test]
fn memory_synthetic_gemma() {
    let args = ["--arch", "gemma", "--n-layer", "4", "--n-embd", "512", "--n-ff", "2048", "--n-head", "4", "--n-head-kv", "1"];
    check("synthetic-gemma", &synthetic("gemma", &[&args[..], &["--head-dim", "256", "--n-vocab", "32000"]].concat()));
}

/// phi3 with an FFN-bound shape (the fixture is logits-bound): fused qkv and gate+up.
#[test]
fn memory_synthetic_phi3() {
    let args = ["--arch", "phi3", "--n-layer", "4", "--n-embd", "512", "--n-ff", "8192", "--n-head", "8", "--n-head-kv", "8"];
    check("synthetic-phi3", &synthetic("phi3", &[&args[..], &["--n-vocab", "1024"]].concat()));
}

/// gemma2 with an FFN-bound shape and a 1024-token window: post-norms, SWA cache sizes, and with a
/// quantized cache the Hadamard rotations (one pair of inputs per cache).
#[test]
fn memory_synthetic_gemma2() {
    let args = ["--arch", "gemma2", "--n-layer", "4", "--n-embd", "512", "--n-ff", "8192", "--n-head", "4", "--n-head-kv", "2"];
    let extra = ["--head-dim", "256", "--n-vocab", "1024", "--sliding-window", "1024"];
    check("synthetic-gemma2", &synthetic("gemma2", &[&args[..], &extra[..]].concat()));
}

/// `-fa off` on every fixture and the synthetic phi2 and gemma shapes.
#[test]
fn memory_flash_attention_off() {
    for model in ["tiny-llama", "tiny-qwen2", "tiny-phi3", "tiny-gemma2"] {
        check_combos(model, &converted(model), COMBOS_NO_FA, "off");
    }
    let phi2 = ["--arch", "phi2", "--n-layer", "4", "--n-embd", "512", "--n-ff", "8192", "--n-head", "8", "--n-head-kv", "8"];
    check_combos("synthetic-phi2", &synthetic("phi2", &[&phi2[..], &["--n-vocab", "1024"]].concat()), COMBOS_NO_FA, "off");
    let gemma = ["--arch", "gemma", "--n-layer", "4", "--n-embd", "512", "--n-ff", "2048", "--n-head", "4", "--n-head-kv", "1"];
    let gemma_extra = ["--head-dim", "256", "--n-vocab", "32000"];
    check_combos("synthetic-gemma", &synthetic("gemma", &[&gemma[..], &gemma_extra[..]].concat()), COMBOS_NO_FA, "off");
}

/// The CUDA buffers a CUDA build of the pinned llama.cpp reported on an H200 (configs/README.md's
/// "Checked on a GPU" table, read here so the measurements are declared once): the plan's CUDA
/// compute buffer and KV cache from the shipped configs are within 0.5% of each row.
#[test]
fn memory_cuda_recorded_on_h200() {
    let readme = std::fs::read_to_string(common::repo_root().join("configs/README.md")).expect("read configs/README.md");
    let folders = [("CodeLlama-7B", "codellama-7b"), ("Phi-3.5-mini", "phi-3.5-mini-instruct"), ("Gemma-2-2B", "gemma-2-2b")];
    let mut rows = 0;
    let mut failures = Vec::new();
    let measured_section = readme.split("## Checked on a GPU").nth(1).expect("configs/README.md has its \"Checked on a GPU\" section");
    for line in measured_section.lines().filter(|l| l.starts_with("| ") && l.contains(", ") && !l.contains("model shape")) {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        assert_eq!(cells.len(), 5, "unexpected row in configs/README.md: {line}");
        // "CodeLlama-7B Q4_K_M, 16384, q8_0"
        let spec: Vec<&str> = cells[0].split(", ").collect();
        let (model, ty) = spec[0].rsplit_once(' ').expect("shape and type");
        let folder = folders.iter().find(|(m, _)| *m == model).unwrap_or_else(|| panic!("no config for {model}")).1;
        let measured = |cell: &str| -> f64 { cell.split_whitespace().next().and_then(|v| v.parse().ok()).expect("MiB value") };
        let out = common::run(Command::new(common::ggufkit()).arg("plan").arg(common::repo_root().join("configs").join(folder)).args([
            "--ctx",
            spec[1],
            "--batch",
            "512",
            "--kv-type",
            spec[2],
            "--types",
            ty,
            "--backend",
            "cuda",
            "--json",
        ]));
        let v: serde_json::Value = serde_json::from_str(&out).expect("plan --json output is JSON");
        let row = &v["rows"][0];
        for (what, key, cell) in [("KV", "kv_bytes", cells[2]), ("compute", "compute_bytes", cells[3])] {
            let (want, got) = (measured(cell), row[key].as_u64().expect(key) as f64 / (1u64 << 20) as f64);
            let line = format!("{}: CUDA {what} {want:.2} MiB, plan {got:.2} MiB", cells[0]);
            eprintln!("{line}");
            if (got - want).abs() > 0.005 * want + 0.005 {
                failures.push(line);
            }
        }
        rows += 1;
    }
    assert_eq!(rows, 7, "configs/README.md's GPU table lost rows");
    assert!(failures.is_empty(), "plan is off the recorded CUDA buffers:\n{}", failures.join("\n"));
}

/// Every mixture-of-experts architecture of the table (`layout.moe`) on an expert-bound synthetic
/// shape (16 experts, 8 used per token, a small vocabulary): the router, top-k, the stacked
/// experts' `mul_mat_id` intermediates and the weighted sum, not the logits, set the compute buffer.
#[test]
fn memory_synthetic_moe_architectures() {
    for spec in gguf::arch::ARCHITECTURES.iter().filter(|a| a.layout.moe.is_some()) {
        let mut args = vec!["--arch", spec.gguf_name, "--n-layer", "2", "--n-embd", "512", "--n-ff", "1024", "--n-head", "8"];
        args.extend(["--n-head-kv", "2", "--head-dim", "64", "--n-vocab", "1024", "--n-expert", "16", "--n-expert-used", "8"]);
        args.extend(["--n-ff-exp", "512"]);
        if spec.layout.qk_norm {
            args.push("--qk-norm");
        }
        let name = format!("synthetic-{}", spec.gguf_name);
        check(&name, &synthetic(&format!("moe-{}", spec.gguf_name), &args));
    }
}
