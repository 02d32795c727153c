//! Every RoPE scaling the converter writes (linear, llama3, LongRoPE short and long, Phi-3.5-mini's
//! rope_scaling block, YaRN), against transformers' fp32 logits on tiny random models made at test
//! time by scripts/make-rope-fixtures.py: our forward pass from the HF folder (config.json's
//! rope_scaling), and from the pinned converter's F32 GGUF of it (llama.cpp's `rope_freqs.weight`,
//! `rope_factors_short/long.weight`, `rope.scaling.*` keys; the Qwen2 YaRN cases through our
//! converter, as the pinned one refuses tiny-qwen2's pre-tokenizer).
//!
//! YaRN is also checked against the pinned llama.cpp itself: its logits on the converted file
//! (tests/py/llama_logits.py) and llama-perplexity's PPL on it. Where transformers and llama.cpp
//! disagree (beta_fast, beta_slow, attention_factor given: llama.cpp does not read the keys the
//! converter writes for them), the GGUF path follows llama.cpp.
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
    if name.starts_with("qwen2") {
        return common::cached(&out, |tmp| {
            common::run(Command::new(common::ggufkit()).arg("convert").arg(&dir).args(["-t", "F32", "-o"]).arg(tmp));
        });
    }
    common::cached(&out, |tmp| {
        let mut cmd = Command::new(common::ref_python());
        cmd.arg(common::ref_llama_src().join("convert_hf_to_gguf.py")).arg(&dir).args(["--outtype", "f32", "--outfile"]).arg(tmp);
        if name.starts_with("phi") {
            cmd.args(["--model-name", "tinymodel"]);
        }
        common::run(&mut cmd);
    })
}

/// Our logits of `model` against the fixture's `key` logits (`logits`: transformers on the HF
/// config; `logits_gguf`: transformers on the RoPE llama.cpp reads from the converted file).
fn check(name: &str, model: &Path, key: &str) {
    let bytes = std::fs::read(fixture(name).join("reference_logits.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let ids: Vec<u32> =
        st.tensor("input_ids").unwrap().data().chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().unwrap()) as u32).collect();
    let lv = st.tensor(key).unwrap();
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
    eprintln!(
        "{name} from {} vs {key}: max |logit| {max_abs:.2}, max |Δlogit| {max_diff:.2e}, max |ours − unscaled| {off_unscaled:.3}",
        model.display()
    );
    assert!(max_abs > 5.0, "{name}: logits too small to test anything ({max_abs})");
    assert!(off_unscaled > 1.0, "{name}: our logits equal the unscaled RoPE's ({off_unscaled})");
    let tol = 1e-4 * max_abs;
    assert!(max_diff <= tol, "{name} ({}): max |Δlogit| {max_diff} > {tol}", model.display());
    assert!(mismatched.is_empty(), "{name}: top-1 differs at {mismatched:?}");
}

fn both(name: &str) {
    check(name, &fixture(name), "logits");
    check(name, &gguf_f32(name), "logits");
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
fn yarn() {
    both("qwen2-yarn");
    let (agree, diff, max) = llama_cpp_logits("qwen2-yarn", "logits");
    assert!(agree && diff <= 0.02 * max, "qwen2-yarn: llama.cpp vs transformers max |Δlogit| {diff} (max |logit| {max})");
}

/// YaRN with beta_fast 8, beta_slow 2 and attention_factor 1.25 in config.json: transformers uses
/// them; the converter writes them (`rope.scaling.yarn_beta_fast` …) but the pinned llama.cpp reads
/// those keys for Grok only and evaluates the file with beta 32/1 and 0.1·ln(4)+1. Our HF path
/// follows transformers, our GGUF path and llama.cpp both follow `logits_gguf`.
#[test]
fn yarn_parameters_llama_cpp_ignores() {
    let name = "qwen2-yarn-params";
    check(name, &fixture(name), "logits");
    check(name, &gguf_f32(name), "logits_gguf");
    let (agree, diff, max) = llama_cpp_logits(name, "logits_gguf");
    assert!(agree && diff <= 0.02 * max, "{name}: llama.cpp vs GGUF semantics max |Δlogit| {diff} (max |logit| {max})");
    let (_, off, _) = llama_cpp_logits(name, "logits");
    assert!(off > 1.0, "{name}: llama.cpp now follows transformers' YaRN parameters (max |Δlogit| {off}): follow it here too");
}

/// The pinned llama.cpp's logits on the converted F32 file against the fixture's `key` logits:
/// (top-1 equal everywhere, max |Δlogit|, max |reference logit|). Tolerance of the callers: 2 % of
/// the largest logit (llama.cpp's F16 KV cache; measured 0.22 of 19.6 on qwen2-yarn).
fn llama_cpp_logits(name: &str, key: &str) -> (bool, f64, f64) {
    let lib = common::ref_bin("libllama.so");
    let out = common::run(
        Command::new(common::ref_python())
            .arg(common::repo_root().join("tests/py/llama_logits.py"))
            .arg(gguf_f32(name))
            .arg(fixture(name).join("reference_logits.safetensors"))
            .args(["--logits-key", key])
            .env("PYTHONPATH", common::ref_dir().join("src"))
            .env("LLAMA_CPP_LIB_PATH", lib.parent().expect("lib folder")),
    );
    let v: serde_json::Value = serde_json::from_str(out.trim().lines().last().unwrap_or("")).expect("llama_logits.py JSON");
    let (n, agree) = (v["n_tokens"].as_u64().unwrap(), v["top1_agree"].as_u64().unwrap());
    let (diff, max) = (v["max_abs_diff"].as_f64().unwrap(), v["ref_abs_max"].as_f64().unwrap());
    eprintln!("{name}: llama.cpp vs {key}: top-1 {agree}/{n}, max |Δlogit| {diff:.3} (max |logit| {max:.2})");
    (agree == n, diff, max)
}

/// PPL of the converted YaRN files: `ggufkit validate` (HF folder as reference, the F32 GGUF as
/// the file) against llama-perplexity on the same file, eval-pydocs.txt, ctx 512 (twice the
/// original context), 2 windows: within 1 %.
#[test]
fn yarn_ppl_matches_llama_perplexity() {
    for name in ["qwen2-yarn", "qwen2-yarn-params"] {
        let gguf = gguf_f32(name);
        let marker = "Final estimate: PPL = ";
        let text = common::llama_tool_log(
            "llama-perplexity",
            &|cmd| {
                cmd.arg("-m").arg(&gguf).arg("-f").arg(common::corpus("eval-pydocs.txt"));
                cmd.args(["-c", "512", "--chunks", "2", "-t", "2", "-nr"]);
            },
            &[marker],
        );
        let line = text.lines().find(|l| l.contains(marker)).unwrap();
        let theirs: f64 = line[line.find(marker).unwrap() + marker.len()..].split_whitespace().next().unwrap().parse().unwrap();
        let mut cmd = Command::new(common::ggufkit());
        cmd.arg("validate").arg(fixture(name)).arg(&gguf).arg("--text").arg(common::corpus("eval-pydocs.txt"));
        let out = common::run(cmd.args(["--ctx", "512", "--chunks", "2", "--json"]));
        let report: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("bad JSON ({e}):\n{out}"));
        let mine = report["files"][0]["stats"]["ppl"]["value"].as_f64().unwrap();
        let rel = (mine - theirs).abs() / theirs;
        eprintln!("{name}: PPL ours {mine:.4}, llama-perplexity {theirs:.4} ({:.3} %)", 100.0 * rel);
        assert!(rel < 0.01, "{name}: PPL {mine} vs llama-perplexity {theirs}");
    }
}

#[test]
fn unknown_rope_scaling_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(common::fixture_model("tiny-llama").join("config.json")).unwrap()).unwrap();
    // as transformers 4.x writes it (`rope_scaling`) and as 5.x does (`rope_parameters`, which the
    // pinned converter reads first when both are there)
    let rope_parameters = cfg.as_object_mut().unwrap().remove("rope_parameters").expect("the fixture has rope_parameters");
    cfg["rope_scaling"] = serde_json::json!({"rope_type": "dynamic", "factor": 4.0});
    let mut v5 = cfg.clone();
    v5["rope_parameters"] = rope_parameters;
    v5["rope_parameters"]["rope_type"] = "dynamic".into();
    v5["rope_parameters"]["factor"] = 4.0.into();
    for cfg in [cfg, v5] {
        std::fs::write(dir.path().join("config.json"), cfg.to_string()).unwrap();
        let err = ModelFile::open(dir.path()).err().expect("dynamic refused").to_string();
        assert!(err.contains("\"dynamic\" is not supported"), "{err}");
    }
}
