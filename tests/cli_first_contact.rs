//! First contact with the CLI: wrong inputs get errors that say what to do, types and threads are
//! never confused, outputs are files other users can read, an interrupted conversion leaves
//! nothing behind, every `--json` is versioned, documented and uses one name per quantity, and the
//! usual conventions (`--version`, completions, examples in `--help`, `list`) hold.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;
use serde_json::Value;

/// A fresh folder for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = cache_dir().join(format!("cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn ggufkit_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(ggufkit()).args(args).current_dir(dir).output().unwrap()
}

/// tiny-llama converted to F16 by ggufkit (an input for quantize and the JSON checks).
fn tiny_f16(dir: &Path) -> PathBuf {
    let out = dir.join("tiny-llama-F16.gguf");
    if !out.exists() {
        run(Command::new(ggufkit()).arg("convert").arg(fixture_model("tiny-llama")).args(["-t", "F16", "-o"]).arg(&out));
    }
    out
}

/// Each wrong first command fails before doing anything, with an error that points to the fix.
/// `ggufkit … | head`: a reader that closes the pipe ends ggufkit as SIGPIPE ends other tools, with
/// no panic ("failed printing to stdout: Broken pipe" was printed with a backtrace).
#[test]
fn a_closed_stdout_ends_the_process_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let mut child = Command::new(ggufkit())
        .args(["tokenizer", "--json"])
        .arg(repo_root().join("tests/fixtures/models/tiny-llama"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run ggufkit");
    drop(child.stdout.take()); // the reader goes away before anything is written
    let out = child.wait_with_output().expect("wait for ggufkit");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "ggufkit panicked on a closed stdout:\n{stderr}");
    assert_eq!(out.status.signal(), Some(libc::SIGPIPE), "expected death by SIGPIPE, got {:?}\n{stderr}", out.status);
}

#[test]
fn errors_point_to_the_fix() {
    let dir = scratch("errors");
    let model = fixture_model("tiny-llama");
    let m = model.to_str().unwrap();
    let config = model.join("config.json");
    let shard = model.join("model-00001-of-00003.safetensors");
    let gguf = tiny_f16(&dir);
    let g = gguf.to_str().unwrap();
    // A derived output that exists for a missing input: the missing input must be what is reported.
    std::fs::write(dir.join("no-such-model-F16.gguf"), b"x").unwrap();
    let no_kernel = ["IQ4_XS", "IQ1_S", "TQ1_0", "TQ2_0", "MXFP4_MOE", "NVFP4"]
        .into_iter()
        .find(|t| {
            !String::from_utf8_lossy(&ggufkit_in(&dir, &["list", "types"]).stdout).lines().any(|l| l.split_whitespace().next() == Some(*t))
        })
        .expect("every llama.cpp type has a kernel: pick another case");
    let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (vec!["convert", config.to_str().unwrap()], vec!["is a file", "pass the folder that holds config.json"]),
        (vec!["convert", shard.to_str().unwrap()], vec!["pass the folder that holds config.json"]),
        (vec!["convert", g], vec!["already a GGUF file", "ggufkit quantize"]),
        (vec!["quantize", m, "out.gguf", "-t", "Q4_0"], vec!["Hugging Face model folder", "ggufkit convert"]),
        (vec!["inspect", m], vec!["Hugging Face model folder", "ggufkit convert"]),
        (vec!["inspect", config.to_str().unwrap()], vec!["ggufkit convert"]),
        (
            vec!["convert", "microsoft/Phi-3.5-mini-instruct"],
            vec!["download it first", "hf download microsoft/Phi-3.5-mini-instruct --local-dir"],
        ),
        (vec!["plan", "microsoft/Phi-3.5-mini-instruct"], vec!["download it first"]),
        (vec!["convert", "no-such-model", "-t", "F16"], vec!["no such file or folder"]),
        (vec!["quantize", g, "out.gguf", "-t", no_kernel], vec!["no quantization kernel", "supported: ", "Q4_K_M"]),
        (vec!["convert", m, "-t", no_kernel], vec!["no quantization kernel", "supported: "]),
        (vec!["quantize", g, "out.gguf", "-t", "8"], vec!["did you mean --threads 8?"]),
        (vec!["convert", m, "-t", "2"], vec!["did you mean --threads 2?"]),
        (vec!["plan", m, "--vram", "8"], vec!["8 what? Use 8GiB"]),
        (vec!["plan", m, "--vram", "8GiB", "--margin", "600"], vec!["600 what? Use 600GiB"]),
    ];
    let mut failures = Vec::new();
    for (args, wanted) in &cases {
        let out = ggufkit_in(&dir, args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.success() {
            failures.push(format!("ggufkit {}: succeeded", args.join(" ")));
        } else if let Some(w) = wanted.iter().find(|w| !stderr.contains(**w)) {
            failures.push(format!("ggufkit {}: error lacks {w:?}:\n{stderr}", args.join(" ")));
        } else if stderr.matches("os error").count() > 1 {
            failures.push(format!("ggufkit {}: the OS error is printed twice:\n{stderr}", args.join(" ")));
        }
    }
    assert!(!dir.join("out.gguf").exists(), "a refused command wrote its output");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// `ftype:N` names a type by its general.file_type number; `--threads 0` means all cores.
#[test]
fn ftype_numbers_and_zero_threads() {
    let dir = scratch("ftype");
    let gguf = tiny_f16(&dir);
    run(Command::new(ggufkit()).arg("quantize").arg(&gguf).arg(dir.join("q.gguf")).args(["-t", "ftype:7", "--threads", "0"]));
    let info: Value = serde_json::from_str(&run(Command::new(ggufkit()).arg("inspect").arg(dir.join("q.gguf")).arg("--json"))).unwrap();
    let ftype = info["metadata"].as_array().unwrap().iter().find(|kv| kv["key"] == "general.file_type").map(|kv| kv["value"].clone());
    assert_eq!(ftype, Some(Value::from(7)), "ftype:7 is Q8_0");
    run(Command::new(ggufkit())
        .arg("convert")
        .arg(fixture_model("tiny-llama"))
        .args(["-t", "Q8_0", "--threads", "0", "--no-modelfile", "-o"])
        .arg(dir.join("c.gguf")));
    assert!(!dir.join("c.Modelfile").exists(), "--no-modelfile wrote a Modelfile");
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// Outputs get the usual mode of a new file (0666 less the umask), like the Modelfile.
#[cfg(unix)]
#[test]
fn outputs_get_the_usual_file_mode() {
    let dir = scratch("modes");
    for (umask, expected) in [("022", 0o644), ("077", 0o600)] {
        let sub = dir.join(umask);
        std::fs::create_dir_all(&sub).unwrap();
        let script = format!(
            "umask {umask} && \"$0\" convert \"$1\" -t F16 -o \"$2/c.gguf\" && \"$0\" quantize \"$2/c.gguf\" \"$2/q.gguf\" -t Q4_0 && \"$0\" modelfile \"$2/q.gguf\""
        );
        run(Command::new("sh").arg("-c").arg(script).arg(ggufkit()).arg(fixture_model("tiny-llama")).arg(&sub));
        for f in ["c.gguf", "c.Modelfile", "q.gguf", "q.Modelfile"] {
            assert_eq!(mode(&sub.join(f)), expected, "{f} under umask {umask}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A Modelfile the user edited is kept unless `--force`.
#[test]
fn an_existing_modelfile_is_kept_unless_forced() {
    let dir = scratch("keep");
    let modelfile = dir.join("c.Modelfile");
    std::fs::write(&modelfile, "FROM ./c.gguf\n# my edits\n").unwrap();
    let out = run(Command::new(ggufkit())
        .arg("convert")
        .arg(fixture_model("tiny-llama"))
        .args(["-t", "Q8_0", "--json", "-o"])
        .arg(dir.join("c.gguf")));
    let summary: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(summary["modelfile_written"], false, "{summary}");
    assert!(std::fs::read_to_string(&modelfile).unwrap().contains("# my edits"), "the edited Modelfile was replaced");
    let out = Command::new(ggufkit()).arg("modelfile").arg(dir.join("c.gguf")).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("--force"), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(std::fs::read_to_string(&modelfile).unwrap().contains("# my edits"), "`modelfile` replaced the edited Modelfile");
    run(Command::new(ggufkit()).arg("modelfile").arg(dir.join("c.gguf")).arg("--force"));
    assert!(!std::fs::read_to_string(&modelfile).unwrap().contains("# my edits"), "--force kept the old Modelfile");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Starts `cmd`, waits until a file of `dir` satisfies `appeared` (no fixed sleep: under load it
/// just takes longer), sends the signal `name` (`SIGINT`, `SIGTERM`), and returns how the process
/// ended and the files left in `dir`. Panics when no such file appeared before the process ended.
#[cfg(unix)]
fn interrupt_once_written(
    cmd: &mut Command,
    dir: &Path,
    name: &str,
    appeared: impl Fn(&str) -> bool,
) -> (std::process::ExitStatus, Vec<String>) {
    let mut child = cmd.stdout(std::process::Stdio::null()).spawn().unwrap();
    let started = std::time::Instant::now();
    let seen = loop {
        let found = std::fs::read_dir(dir).unwrap().any(|e| appeared(&e.unwrap().file_name().to_string_lossy()));
        if found || started.elapsed().as_secs() > 600 || child.try_wait().unwrap().is_some() {
            break found;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    assert!(seen, "{name}: the file to wait for never appeared before {cmd:?} ended");
    let status = Command::new("kill").arg(format!("-{}", &name[3..])).arg(child.id().to_string()).status().unwrap();
    assert!(status.success());
    let status = child.wait().unwrap();
    let left = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    (status, left)
}

/// SIGINT or SIGTERM in the middle of writing removes the temporary file, and the process dies of
/// the signal.
#[cfg(unix)]
#[test]
fn an_interrupted_conversion_leaves_nothing_behind() {
    use std::os::unix::process::ExitStatusExt;
    let wide = cached(&cache_dir().join("wide-llama"), |tmp| {
        run(Command::new(ref_python()).arg(repo_root().join("tests/py/make_wide_llama.py")).arg(fixture_model("tiny-llama")).arg(tmp));
    });
    for (sig, name) in [(libc_sig::SIGINT, "SIGINT"), (libc_sig::SIGTERM, "SIGTERM")] {
        let dir = scratch(&format!("signal-{name}"));
        let mut cmd = Command::new(ggufkit());
        cmd.arg("convert").arg(&wide).args(["-t", "Q4_K_M", "--threads", "1", "-o"]).arg(&dir);
        let (status, left) = interrupt_once_written(&mut cmd, &dir, name, |f| f.ends_with(".tmp"));
        assert_eq!(status.signal(), Some(sig), "{name}: {status:?} (files: {left:?})");
        assert!(left.iter().all(|f| !f.ends_with(".tmp")), "{name} left a temporary file: {left:?}");
        // A signal after the rename (while the Modelfile is written) leaves a complete output.
        for f in left.iter().filter(|f| f.ends_with(".gguf")) {
            run(Command::new(ggufkit()).arg("inspect").arg(dir.join(f)));
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// SIGINT or SIGTERM while `validate` writes the reference log-probabilities (its temporary file,
/// or the `--save-reference` file not yet complete) removes them, and the process dies of the signal.
#[cfg(unix)]
#[test]
fn an_interrupted_validation_leaves_nothing_behind() {
    use std::os::unix::process::ExitStatusExt;
    for (sig, name) in [(libc_sig::SIGINT, "SIGINT"), (libc_sig::SIGTERM, "SIGTERM")] {
        for save in [false, true] {
            // The temporary file goes to TMPDIR: a folder of its own, which must end empty.
            let dir = scratch(&format!("validate-signal-{name}-{save}"));
            let model = fixture_model("tiny-llama");
            let mut cmd = Command::new(ggufkit());
            cmd.env("TMPDIR", &dir).arg("validate").arg(&model).arg(&model).arg("--text").arg(corpus("eval-pydocs.txt"));
            cmd.args(["--ctx", "128"]);
            if save {
                cmd.arg("--save-reference").arg(dir.join("ref.logits"));
            }
            let (status, left) = interrupt_once_written(&mut cmd, &dir, name, |_| true);
            assert_eq!(status.signal(), Some(sig), "{name}: {status:?} (files: {left:?})");
            assert!(left.is_empty(), "{name} (--save-reference: {save}) left {left:?}");
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}

/// Signal numbers (Linux and the BSDs agree on these two).
mod libc_sig {
    pub const SIGINT: i32 = 2;
    pub const SIGTERM: i32 = 15;
}

/// Every `--json` has a `schema_version`, is documented field by field in docs/json.md, and the
/// same quantity has the same name and value in every command.
#[test]
fn json_outputs_share_names_and_are_documented() {
    let dir = scratch("json");
    let convert: Value = serde_json::from_str(&run(Command::new(ggufkit())
        .arg("convert")
        .arg(fixture_model("tiny-llama"))
        .args(["-t", "Q4_K_M", "--json", "-o"])
        .arg(dir.join("c.gguf"))))
    .unwrap();
    let inspect_c: Value =
        serde_json::from_str(&run(Command::new(ggufkit()).arg("inspect").arg(dir.join("c.gguf")).arg("--json"))).unwrap();
    let f16 = tiny_f16(&dir);
    let quantize: Value = serde_json::from_str(&run(Command::new(ggufkit())
        .arg("quantize")
        .arg(&f16)
        .arg(dir.join("q.gguf"))
        .args(["-t", "Q4_K_M", "--json"])))
    .unwrap();
    let inspect_q: Value =
        serde_json::from_str(&run(Command::new(ggufkit()).arg("inspect").arg(dir.join("q.gguf")).arg("--json"))).unwrap();
    let plan: Value = serde_json::from_str(&run(Command::new(ggufkit())
        .arg("plan")
        .arg(fixture_model("tiny-llama"))
        .args(["--json", "--vram", "8GiB", "--types", "Q4_K_M"])))
    .unwrap();
    let validate: Value = serde_json::from_str(&run(Command::new(ggufkit())
        .arg("validate")
        .arg(fixture_model("tiny-llama"))
        .arg(dir.join("q.gguf"))
        .arg("--text")
        .arg(corpus("eval-pydocs.txt"))
        .args(["--ctx", "64", "--chunks", "1", "--json"])))
    .unwrap();
    let tokenizer: Value =
        serde_json::from_str(&run(Command::new(ggufkit()).arg("tokenizer").arg(fixture_model("tiny-llama")).arg("--json"))).unwrap();
    let docs = std::fs::read_to_string(repo_root().join("docs/json.md")).expect("docs/json.md");
    let mut failures = Vec::new();
    for (cmd, v) in [
        ("convert", &convert),
        ("quantize", &quantize),
        ("inspect", &inspect_c),
        ("plan", &plan),
        ("validate", &validate),
        ("tokenizer", &tokenizer),
    ] {
        if v["schema_version"].as_u64().is_none() {
            failures.push(format!("{cmd} --json has no schema_version"));
        }
        let section = docs.split("\n## ").find(|s| s.starts_with(&format!("`{cmd}"))).unwrap_or("");
        if section.is_empty() {
            failures.push(format!("docs/json.md has no section for {cmd}"));
        }
        for key in v.as_object().unwrap().keys() {
            if !section.contains(&format!("`{key}`")) {
                failures.push(format!("docs/json.md, {cmd}: field `{key}` not documented"));
            }
        }
    }
    for row in plan["rows"].as_array().unwrap() {
        for key in row.as_object().unwrap().keys() {
            if !docs.contains(&format!("`{key}`")) {
                failures.push(format!("docs/json.md, plan rows: field `{key}` not documented"));
            }
        }
    }
    let tokenizer_section = docs.split("\n## ").find(|s| s.starts_with("`tokenizer")).unwrap_or("");
    for key in tokenizer["metadata"].as_array().into_iter().flatten().flat_map(|e| e.as_object().into_iter().flat_map(|o| o.keys())) {
        if !tokenizer_section.contains(&format!("`{key}`")) {
            failures.push(format!("docs/json.md, tokenizer metadata: field `{key}` not documented"));
        }
    }
    let validate_section = docs.split("\n## ").find(|s| s.starts_with("`validate")).unwrap_or("");
    for (part, v) in [("reference", &validate["reference"]), ("files[0]", &validate["files"][0])] {
        for key in v.as_object().unwrap().keys() {
            if !validate_section.contains(&format!("`{key}`")) {
                failures.push(format!("docs/json.md, validate {part}: field `{key}` not documented"));
            }
        }
    }
    for key in ["file_size", "bits_per_weight"] {
        if validate["files"][0][key] != inspect_q[key] {
            failures.push(format!("validate says {key} = {}, inspect says {}", validate["files"][0][key], inspect_q[key]));
        }
    }
    // One definition of bits per weight, one name for the file size, the same values.
    for (what, mine, theirs) in [("convert", &convert, &inspect_c), ("quantize", &quantize, &inspect_q)] {
        for key in ["file_size", "n_params", "tensor_bytes", "bits_per_weight"] {
            if mine[key] != theirs[key] {
                failures.push(format!("{what} says {key} = {}, inspect says {}", mine[key], theirs[key]));
            }
        }
    }
    let row = &plan["rows"][0];
    if row["file_size"] != inspect_c["file_size"]
        || row["bits_per_weight"].as_f64().map(|b| (b - inspect_c["bits_per_weight"].as_f64().unwrap()).abs() > 1e-9) != Some(false)
    {
        failures.push(format!(
            "plan's Q4_K_M row {row} disagrees with inspect on the converted file (file_size {}, bits_per_weight {})",
            inspect_c["file_size"], inspect_c["bits_per_weight"]
        ));
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `--version`, completions, examples in every `--help`, `list`.
#[test]
fn conventions() {
    let version = run(Command::new(ggufkit()).arg("--version"));
    assert!(version.contains("git commit: ") && !version.contains("git commit: unknown"), "{version}");
    assert!(version.contains("llama.cpp 0c1e570") && version.contains("features: "), "{version}");
    for shell in ["bash", "zsh", "fish"] {
        let script = run(Command::new(ggufkit()).args(["completions", shell]));
        assert!(script.contains("ggufkit") && script.contains("quantize") && script.len() > 500, "{shell}: {script}");
    }
    let help = run(Command::new(ggufkit()).arg("--help"));
    let commands: Vec<String> = help
        .split("Commands:")
        .nth(1)
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("  ").and_then(|l| l.split_whitespace().next()).map(str::to_string))
        .take_while(|c| c != "help")
        .collect();
    assert!(commands.len() >= 9, "{commands:?}");
    for c in &commands {
        let h = run(Command::new(ggufkit()).args([c.as_str(), "--help"]));
        assert!(h.contains("Examples:\n  ggufkit ") || h.contains("Examples:\n  ollama"), "ggufkit {c} --help has no examples:\n{h}");
    }
    let archs = run(Command::new(ggufkit()).args(["list", "archs"]));
    assert!(["llama", "qwen2", "phi3", "gemma2"].iter().all(|a| archs.lines().any(|l| l.starts_with(a))), "{archs}");
    let types = run(Command::new(ggufkit()).args(["list", "types"]));
    for t in ["F16", "Q8_0", "Q4_K_M", "Q6_K"] {
        assert!(types.lines().any(|l| l.split_whitespace().next() == Some(t)), "{t} missing:\n{types}");
    }
}

/// `general.name` and `general.organization` of a GGUF, read by gguf-py.
fn name_and_org(gguf: &Path) -> (String, String) {
    let script = "import sys, gguf\n\
                  r = gguf.GGUFReader(sys.argv[1])\n\
                  f = lambda k: r.get_field(k).contents() if r.get_field(k) is not None else ''\n\
                  sys.stdout.write(f('general.name') + '\\n' + f('general.organization'))\n";
    let out = run(Command::new(ref_python()).arg("-c").arg(script).arg(gguf));
    let (name, org) = out.split_once('\n').unwrap_or((&out, ""));
    (name.to_string(), org.to_string())
}

/// A snapshot folder of the Hugging Face cache (`models--ORG--NAME/snapshots/HASH`) names the
/// output and `general.name` after the repo, as the reference converter names a model whose
/// config says `_name_or_path: ORG/NAME` (docs/modelfile.md: the hash would be the reference's
/// own choice for such a folder).
#[cfg(unix)]
#[test]
fn hf_cache_snapshots_are_named_after_the_repo() {
    let dir = scratch("hf-cache");
    let snapshot = dir.join("hub/models--SomeOrg--tiny-thing/snapshots/0123456789abcdef0123456789abcdef01234567");
    std::fs::create_dir_all(&snapshot).unwrap();
    for e in std::fs::read_dir(fixture_model("tiny-llama")).unwrap() {
        let p = e.unwrap().path();
        std::os::unix::fs::symlink(&p, snapshot.join(p.file_name().unwrap())).unwrap();
    }
    let out_dir = dir.join("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    run(Command::new(ggufkit()).arg("convert").arg(&snapshot).args(["-t", "F16", "-o"]).arg(&out_dir));
    let ours = out_dir.join("tiny-thing-F16.gguf");
    assert!(
        ours.is_file(),
        "no tiny-thing-F16.gguf in {:?}",
        std::fs::read_dir(&out_dir).unwrap().map(|e| e.unwrap().file_name()).collect::<Vec<_>>()
    );
    // The reference converter on a plain folder whose config names the repo.
    let plain = dir.join("plain");
    std::fs::create_dir_all(&plain).unwrap();
    for e in std::fs::read_dir(fixture_model("tiny-llama")).unwrap() {
        let p = e.unwrap().path();
        if p.file_name().unwrap() != "config.json" {
            std::os::unix::fs::symlink(&p, plain.join(p.file_name().unwrap())).unwrap();
        }
    }
    let mut config: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture_model("tiny-llama").join("config.json")).unwrap()).unwrap();
    config["_name_or_path"] = Value::from("SomeOrg/tiny-thing");
    std::fs::write(plain.join("config.json"), config.to_string()).unwrap();
    let reference = dir.join("ref.gguf");
    run(Command::new(ref_python())
        .arg(ref_llama_src().join("convert_hf_to_gguf.py"))
        .arg(&plain)
        .args(["--outtype", "f16", "--outfile"])
        .arg(&reference));
    let (name, org) = name_and_org(&ours);
    assert_eq!((name.clone(), org), name_and_org(&reference), "general.name, general.organization");
    assert!(!name.contains("0123456789"), "named after the hash: {name}");
    let _ = std::fs::remove_dir_all(&dir);
}
