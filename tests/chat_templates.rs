//! The Modelfile's `TEMPLATE` renders the prompts the model's own Jinja chat template renders.
//!
//! For every fixture model (converted by ggufkit) and every public chat template in
//! `tests/fixtures/chat-templates/` (one metadata-only GGUF each, written by gguf-py), the
//! Modelfile's Go template is executed by Go's `text/template` the way Ollama executes it
//! (`tests/ollama_template/main.go`), and the Jinja template by transformers'
//! `apply_chat_template` (`tests/py/chat_render.py`), on the same conversations: a system prompt and
//! three user turns with the generation prompt; the same without the system prompt; and a system
//! prompt with three complete turns, the last assistant message left open (Ollama continues it;
//! transformers' `continue_final_message`). The prompts must be identical, with the BOS token that
//! llama.cpp adds in front when the GGUF says `add_bos_token`. A template that refuses a case
//! (Gemma 1/2 and Mistral v0.2 raise on a system message) is skipped for that case only.
//!
//! The stop tokens are checked against the same reference: the text the Jinja template writes after
//! a finished assistant message (without a generation prompt) must start with one of the
//! Modelfile's stop strings.

use crate::common;

use std::path::PathBuf;
use std::process::{Command, Stdio};

use common::*;
use serde_json::{json, Value};

/// The Go renderer, built once into the cache folder.
fn go_renderer() -> PathBuf {
    let bin = cache_dir().join(format!("ollama-render-{}", std::process::id()));
    if !bin.is_file() {
        let out = Command::new("go")
            .arg("build")
            .arg("-o")
            .arg(&bin)
            .arg(".")
            .current_dir(repo_root().join("tests/ollama_template"))
            .env("GOFLAGS", "-mod=mod")
            .output()
            .unwrap_or_else(|e| {
                panic!("cannot run `go` ({e}): install Go (Debian package golang-go; scripts/setup-reference-tools.sh does)")
            });
        assert!(out.status.success(), "go build failed:\n{}", String::from_utf8_lossy(&out.stderr));
    }
    bin
}

/// Runs `cmd` with `input` on stdin; returns stdout parsed as JSON.
fn json_filter(cmd: &mut Command, input: &Value) -> Value {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let text = serde_json::to_vec(input).unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &text));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().expect("write stdin");
    assert!(out.status.success(), "{cmd:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{cmd:?}: bad JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

struct Case {
    what: &'static str,
    messages: Value,
    add_generation_prompt: bool,
    continue_final_message: bool,
    /// Compared with the Go template (false: only used for the stop-token check).
    compare: bool,
}

fn cases() -> Vec<Case> {
    let sys = json!({"role": "system", "content": "You are a terse assistant."});
    let turns = [
        json!({"role": "user", "content": "Hello there"}),
        json!({"role": "assistant", "content": "Hi! How can I help?"}),
        json!({"role": "user", "content": "What is 2+2?"}),
        json!({"role": "assistant", "content": "4."}),
        json!({"role": "user", "content": "And 3+3?"}),
        json!({"role": "assistant", "content": "6, naturally."}),
    ];
    let with_sys = |n: usize| Value::Array(std::iter::once(sys.clone()).chain(turns[..n].iter().cloned()).collect());
    vec![
        Case {
            what: "system + 3 user turns, generation prompt",
            messages: with_sys(5),
            add_generation_prompt: true,
            continue_final_message: false,
            compare: true,
        },
        Case {
            what: "3 user turns, no system, generation prompt",
            messages: Value::Array(turns[..5].to_vec()),
            add_generation_prompt: true,
            continue_final_message: false,
            compare: true,
        },
        Case {
            what: "system + 3 complete turns, last assistant message continued",
            messages: with_sys(6),
            add_generation_prompt: false,
            continue_final_message: true,
            compare: true,
        },
        Case {
            what: "3 complete turns, no system, last assistant message continued",
            messages: Value::Array(turns.to_vec()),
            add_generation_prompt: false,
            continue_final_message: true,
            compare: true,
        },
        Case {
            what: "system + 3 complete turns, no generation prompt",
            messages: with_sys(6),
            add_generation_prompt: false,
            continue_final_message: false,
            compare: false,
        },
    ]
}

/// The value of the Modelfile's `TEMPLATE """…"""` line (Ollama's parser: no escapes, ends at `"""`).
fn template_of(modelfile: &str) -> Option<String> {
    let start = modelfile.find("\nTEMPLATE \"\"\"")? + "\nTEMPLATE \"\"\"".len();
    let len = modelfile[start..].find("\"\"\"")?;
    Some(modelfile[start..start + len].to_string())
}

/// The Modelfile's stop strings (`PARAMETER stop "…"` or `"""…"""`).
fn stops_of(modelfile: &str) -> Vec<String> {
    modelfile
        .lines()
        .filter_map(|l| l.strip_prefix("PARAMETER stop "))
        .map(|v| v.trim_start_matches("\"\"\"").trim_end_matches("\"\"\"").trim_matches('"').to_string())
        .collect()
}

/// One Modelfile to check: its label, GGUF, text, and the tokenizer source for chat_render.py
/// (`tokenizer_dir`, or a fixture's template and tokens).
struct Subject {
    label: String,
    gguf: PathBuf,
    modelfile: String,
    hf: Value,
}

/// Checks Modelfiles against their Jinja templates as transformers renders them (one Python run
/// for all, as importing transformers is slow); returns the failures.
fn check_all(subjects: &[Subject]) -> Vec<String> {
    let cases = cases();
    let requests: Vec<Value> = subjects
        .iter()
        .map(|s| {
            let mut req = s.hf.clone();
            req["gguf"] = json!(s.gguf);
            req["cases"] = cases
                .iter()
                .map(|c| json!({"messages": c.messages, "add_generation_prompt": c.add_generation_prompt, "continue_final_message": c.continue_final_message}))
                .collect();
            req
        })
        .collect();
    let references =
        json_filter(Command::new(ref_python()).arg(repo_root().join("tests/py/chat_render.py")).arg("render"), &Value::Array(requests));
    let mut failures = Vec::new();
    for (s, reference) in subjects.iter().zip(references.as_array().unwrap()) {
        failures.extend(check(s, &cases, reference));
    }
    failures
}

/// Checks one Modelfile against transformers' renders `reference` of `cases`.
fn check(s: &Subject, cases: &[Case], reference: &Value) -> Vec<String> {
    let (label, modelfile) = (&s.label, &s.modelfile);
    let mut failures = Vec::new();
    let Some(template) = template_of(modelfile) else {
        return vec![format!("{label}: no TEMPLATE in the Modelfile:\n{modelfile}")];
    };
    let go_req = json!({"template": template, "cases": cases.iter().map(|c| json!({"messages": c.messages})).collect::<Vec<_>>()});
    let ours = json_filter(&mut Command::new(go_renderer()), &go_req);
    let bos = reference["bos"].as_str().unwrap_or("").to_string();
    let add_bos = reference["add_bos"].as_bool().unwrap_or(false);
    let mut compared = 0;
    for (i, c) in cases.iter().enumerate() {
        let Some(hf_text) = reference["results"][i]["text"].as_str() else {
            let has_system = c.messages.as_array().unwrap().iter().any(|m| m["role"] == "system");
            if !has_system {
                failures.push(format!("{label}: transformers refused `{}`: {}", c.what, reference["results"][i]["error"]));
            }
            continue;
        };
        if !c.compare {
            // The text after the last assistant message's content closes its turn: it must
            // start with a stop string.
            let after = hf_text.rsplit_once("6, naturally.").map(|(_, a)| a.trim_start()).unwrap_or("");
            let stops = stops_of(modelfile);
            if !stops.iter().any(|s| after.starts_with(s.as_str())) {
                failures.push(format!(
                    "{label}: the Jinja template closes an assistant turn with {after:?}, which starts with none of the stops {stops:?}"
                ));
            }
            continue;
        }
        let Some(go_text) = ours[i]["text"].as_str() else {
            failures.push(format!("{label}: the Go template failed on `{}`: {}", c.what, ours[i]["error"]));
            continue;
        };
        let prefix = if add_bos { bos.as_str() } else { "" };
        let actual = format!("{prefix}{go_text}");
        let expected = if add_bos && !hf_text.starts_with(&bos) { format!("{bos}{hf_text}") } else { hf_text.to_string() };
        compared += 1;
        if actual != expected {
            failures.push(format!("{label}, `{}`:\n  transformers: {expected:?}\n  Ollama:       {actual:?}", c.what));
        }
    }
    // Templates that refuse a system message still get the two conversations without one.
    if compared < 2 {
        failures.push(format!("{label}: only {compared} conversations compared"));
    }
    failures
}

/// Every fixture model, converted by ggufkit: its Modelfile chats like its Jinja template.
#[test]
fn fixture_models_modelfiles_render_like_their_jinja_templates() {
    let dir = cache_dir().join(format!("chat-templates-models-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut subjects = Vec::new();
    for (model, family) in [("tiny-llama", "inst-sys"), ("tiny-qwen2", "chatml"), ("tiny-phi3", "inst-sys"), ("tiny-gemma2", "inst-sys")] {
        let summary = run(Command::new(ggufkit()).arg("convert").arg(fixture_model(model)).args(["-t", "Q8_0", "--json", "-o"]).arg(&dir));
        let summary: Value = serde_json::from_str(&summary).unwrap();
        assert_eq!(summary["chat_template"], json!(family), "{model}: {summary}");
        let gguf = PathBuf::from(summary["output"].as_str().unwrap());
        let modelfile = std::fs::read_to_string(summary["modelfile"].as_str().unwrap()).unwrap();
        subjects.push(Subject { label: model.to_string(), gguf, modelfile, hf: json!({"tokenizer_dir": fixture_model(model)}) });
    }
    let failures = check_all(&subjects);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Every public chat template of the fixtures folder (one per family at least): recognised as its
/// family, and rendered alike by Ollama and transformers.
#[test]
fn public_chat_templates_render_alike_in_ollama_and_transformers() {
    let dir = cache_dir().join(format!("chat-templates-public-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut fixtures: Vec<PathBuf> = std::fs::read_dir(repo_root().join("tests/fixtures/chat-templates"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    fixtures.sort();
    assert!(fixtures.len() >= 15, "chat-template fixtures missing: {fixtures:?}");
    let mut failures = Vec::new();
    let mut families = std::collections::BTreeSet::new();
    let label_of = |fx: &PathBuf| fx.file_stem().unwrap().to_string_lossy().into_owned();
    let mut make = Command::new(ref_python());
    make.arg(repo_root().join("tests/py/chat_render.py")).arg("make-gguf");
    for fx in &fixtures {
        make.arg(fx).arg(dir.join(format!("{}.gguf", label_of(fx))));
    }
    run(&mut make);
    let mut subjects = Vec::new();
    for fx in &fixtures {
        let label = label_of(fx);
        let spec: Value = serde_json::from_str(&std::fs::read_to_string(fx).unwrap()).unwrap();
        let gguf = dir.join(format!("{label}.gguf"));
        let out = Command::new(ggufkit()).arg("modelfile").arg(&gguf).arg("--stdout").output().unwrap();
        assert!(out.status.success(), "{label}: {}", String::from_utf8_lossy(&out.stderr));
        let modelfile = String::from_utf8(out.stdout).unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let family = spec["family"].as_str().unwrap();
        if !stderr.contains(&format!("chat template: {family}")) {
            failures.push(format!("{label}: expected family {family}, ggufkit says: {stderr}"));
            continue;
        }
        families.insert(family.to_string());
        let hf = json!({"chat_template": spec["chat_template"], "bos_token": spec["bos_token"], "eos_token": spec["eos_token"]});
        subjects.push(Subject { label, gguf, modelfile, hf });
    }
    failures.extend(check_all(&subjects));
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    for f in [
        "llama2",
        "llama3",
        "llama3.1",
        "mistral",
        "mistral-nemo",
        "chatml",
        "qwen2.5",
        "phi3",
        "phi3.5",
        "phi4",
        "gemma",
        "gemma3",
        "deepseek-coder",
        "smollm3",
    ] {
        assert!(families.contains(f), "no fixture tested family {f}");
    }
}

/// A chat template of no known family: no TEMPLATE, and a note saying Ollama will use the raw
/// prompt and which Modelfile line to add.
#[test]
fn unknown_chat_template_is_said_not_guessed() {
    let dir = cache_dir().join(format!("chat-templates-unknown-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let fx = dir.join("odd.json");
    std::fs::write(
        &fx,
        json!({"bos_token": "<s>", "eos_token": "</s>", "add_bos_token": true,
               "chat_template": "{% for m in messages %}### {{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"})
        .to_string(),
    )
    .unwrap();
    let gguf = dir.join("odd.gguf");
    run(Command::new(ref_python()).arg(repo_root().join("tests/py/chat_render.py")).arg("make-gguf").arg(&fx).arg(&gguf));
    let out = Command::new(ggufkit()).arg("modelfile").arg(&gguf).arg("--stdout").output().unwrap();
    assert!(out.status.success());
    let modelfile = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!modelfile.contains("TEMPLATE"), "{modelfile}");
    assert!(stderr.contains("raw") && stderr.contains("TEMPLATE"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
