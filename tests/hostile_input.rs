//! Hostile but well-formed inputs: each is refused with a clear error, or handled, within a stated
//! bound on peak memory (the child's maximum resident set, from `wait4` in a small launcher) and time (a run over
//! [`TIME_LIMIT`] is killed and fails the test: a hang detector, never a timing assertion).
//! The big inputs are made here at run time, never committed; sparse files stand in for content
//! that is refused before it is read.
//!
//! The bounds are what the README promises ("what ggufkit promises when things go wrong").

use crate::common;

use std::io::Write;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

/// Longest a single hostile-input run may take on a loaded 2-core machine before it counts as a
/// hang (each of them takes seconds alone).
const TIME_LIMIT: Duration = Duration::from_secs(600);

const MIB: u64 = 1 << 20;

/// Serialises the tests of this file. A forked child's peak RSS (`ru_maxrss`) includes what the
/// test process held at the fork (execve keeps the old memory's peak), so a test that builds a
/// 100 MB input on another thread would be counted in this test's child: one test at a time, each
/// dropping its big buffers before it runs ggufkit, keeps every figure the child's own.
fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A finished run of the ggufkit binary.
struct Bounded {
    status: ExitStatus,
    stderr: String,
    /// Peak resident memory of the child, bytes.
    max_rss: u64,
}

/// Starts `ARGV...` from a small process and reports its exit status and peak RSS. Why a launcher:
/// a child's `ru_maxrss` starts at the resident size of the process it was forked from (execve
/// keeps the old memory's high-water mark), and the test process can be large — not from this
/// file's tests, which run one at a time and drop their buffers, but from any other test of the
/// same binary running beside them (seen under load: 3 tests of this file over their 64/256 MiB
/// bounds while the child's own use was a few MiB). Forked from this ~10 MiB Python process, the
/// figure is ggufkit's own peak, or the launcher's size if that is larger: an upper bound either way.
const LAUNCHER: &str = "import os, sys
pid = os.fork()
if pid == 0:
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.execv(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
print(status, usage.ru_maxrss, flush=True)
";

/// Runs `ggufkit ARGS` (through [`LAUNCHER`]) with stderr to a file and stdout discarded, for its
/// exit status and peak RSS; kills it after [`TIME_LIMIT`].
fn ggufkit(args: &[&std::ffi::OsStr]) -> Bounded {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (e, report) = (tmp.path().join("err"), tmp.path().join("report"));
    let mut child = Command::new(common::ref_python())
        .arg("-c")
        .arg(LAUNCHER)
        .arg(common::ggufkit())
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(&report).expect("report file"))
        .stderr(std::fs::File::create(&e).expect("stderr file"))
        .process_group(0) // the launcher and ggufkit, killed together on a hang
        .spawn()
        .expect("run the launcher");
    let start = Instant::now();
    let launcher = loop {
        if let Some(status) = child.try_wait().expect("wait for the launcher") {
            break status;
        }
        if start.elapsed() > TIME_LIMIT {
            // SAFETY: kill(2) on the process group we created; it has not been reaped.
            unsafe { libc::kill(-(child.id() as libc::pid_t), libc::SIGKILL) };
            let _ = child.wait();
            panic!("ggufkit {args:?} still ran after {TIME_LIMIT:?}: killed");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let read = |p: &Path| String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned();
    let (stderr, line) = (read(&e), read(&report));
    assert!(launcher.success(), "the launcher failed ({launcher}) for ggufkit {args:?}:\n{stderr}");
    let mut fields = line.split_whitespace().map(|f| f.parse::<i64>());
    let (Some(Ok(raw)), Some(Ok(max_rss_kib))) = (fields.next(), fields.next()) else {
        panic!("the launcher's report {line:?} is not `STATUS MAX_RSS_KIB`")
    };
    Bounded { status: ExitStatus::from_raw(raw as i32), stderr, max_rss: max_rss_kib as u64 * 1024 }
}

fn os(s: &str) -> &std::ffi::OsStr {
    s.as_ref()
}

impl Bounded {
    /// Exit 1 with an error message containing every one of `needles`, within `max_rss`.
    fn refused(&self, what: &str, needles: &[&str], max_rss: u64) {
        eprintln!("{what}: exit {:?}, peak RSS {:.1} MiB\n{}", self.status.code(), self.max_rss as f64 / MIB as f64, self.stderr.trim());
        assert_eq!(self.status.code(), Some(1), "{what}: expected a clean error (exit 1), got {}\n{}", self.status, self.stderr);
        assert!(!self.stderr.contains("panicked"), "{what}: panic\n{}", self.stderr);
        for n in needles {
            assert!(self.stderr.contains(n), "{what}: the error should mention {n:?}:\n{}", self.stderr);
        }
        self.within(what, max_rss);
    }

    /// Exit 0 within `max_rss`.
    fn handled(&self, what: &str, max_rss: u64) {
        eprintln!("{what}: exit {:?}, peak RSS {:.1} MiB", self.status.code(), self.max_rss as f64 / MIB as f64);
        assert!(self.status.success(), "{what}: failed with {}\n{}", self.status, self.stderr);
        self.within(what, max_rss);
    }

    fn within(&self, what: &str, max_rss: u64) {
        assert!(self.max_rss <= max_rss, "{what}: peak RSS {} MiB is over the stated {} MiB", self.max_rss / MIB, max_rss / MIB);
    }
}

/// A scratch copy of a fixture's config and tokenizer files (no weights).
fn model_without_weights(fixture: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for e in std::fs::read_dir(common::fixture_model(fixture)).expect("fixture") {
        let p = e.expect("entry").path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".safetensors") && name != "model.safetensors.index.json" {
            std::fs::copy(&p, dir.path().join(&name)).expect("copy fixture file");
        }
    }
    dir
}

/// A scratch copy of a whole fixture model folder.
fn model_copy(fixture: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for e in std::fs::read_dir(common::fixture_model(fixture)).expect("fixture") {
        let p = e.expect("entry").path();
        std::fs::copy(&p, dir.path().join(p.file_name().unwrap())).expect("copy fixture file");
    }
    dir
}

/// A safetensors file: the header JSON (padded to 8 bytes) and `data_len` zero bytes of data.
fn write_safetensors(path: &Path, header: &[u8], data_len: u64) {
    let pad = (8 - header.len() % 8) % 8;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).expect("create"));
    f.write_all(&((header.len() + pad) as u64).to_le_bytes()).unwrap();
    f.write_all(header).unwrap();
    f.write_all(&b"        "[..pad]).unwrap();
    let f = f.into_inner().expect("flush");
    let len = f.metadata().unwrap().len();
    f.set_len(len + data_len).unwrap();
}

fn convert(model: &Path, out_dir: &Path) -> Bounded {
    let out = out_dir.join("out.gguf");
    ggufkit(&[os("convert"), model.as_os_str(), os("-t"), os("F16"), os("-o"), out.as_os_str()])
}

/// A safetensors header over safetensors' 100 MB limit is refused before any of it is read: the
/// header length field alone decides (the file is sparse).
#[test]
fn safetensors_header_over_100mb_is_refused_unread() {
    let _one_at_a_time = one_at_a_time();
    let model = model_without_weights("tiny-llama");
    let out = tempfile::tempdir().unwrap();
    let path = model.path().join("model.safetensors");
    let n: u64 = 100_000_008;
    let f = std::fs::File::create(&path).unwrap();
    f.write_all_at_start(&n.to_le_bytes());
    f.set_len(8 + n).unwrap();
    convert(model.path(), out.path()).refused("100 MB header", &["model.safetensors", "header"], 64 * MIB);
}

trait WriteStart {
    fn write_all_at_start(&self, b: &[u8]);
}
impl WriteStart for std::fs::File {
    fn write_all_at_start(&self, b: &[u8]) {
        use std::os::unix::fs::FileExt;
        self.write_all_at(b, 0).expect("write");
    }
}

/// A header just under the limit (99.9 MB of `__metadata__` string, one real tensor) is parsed:
/// the run ends with the missing-tensor error, within 1 GiB (about 5 × the header).
#[test]
fn safetensors_header_just_under_100mb_is_parsed_within_bounds() {
    let _one_at_a_time = one_at_a_time();
    let model = model_without_weights("tiny-llama");
    let out = tempfile::tempdir().unwrap();
    let filler = "x".repeat(99_900_000);
    let header = format!(
        r#"{{"__metadata__":{{"format":"pt","filler":"{filler}"}},"model.norm.weight":{{"dtype":"F16","shape":[256],"data_offsets":[0,512]}}}}"#
    );
    drop(filler);
    write_safetensors(&model.path().join("model.safetensors"), header.as_bytes(), 512);
    drop(header);
    convert(model.path(), out.path()).refused("99.9 MB header", &["no tensor"], 1024 * MIB);
}

/// An index naming 10^6 tensors (55 MB of JSON) over the fixture's real shards: refused (the
/// first indexed tensor no shard holds), within 1 GiB.
#[test]
fn index_naming_a_million_tensors_is_refused_within_bounds() {
    let _one_at_a_time = one_at_a_time();
    let model = model_without_weights("tiny-llama");
    let out = tempfile::tempdir().unwrap();
    let src = common::fixture_model("tiny-llama");
    let real: serde_json::Value = serde_json::from_slice(&std::fs::read(src.join("model.safetensors.index.json")).unwrap()).unwrap();
    let mut f = std::io::BufWriter::new(std::fs::File::create(model.path().join("model.safetensors.index.json")).unwrap());
    write!(f, r#"{{"metadata":{{"total_size":1}},"weight_map":{{"#).unwrap();
    for (name, shard) in real["weight_map"].as_object().unwrap() {
        write!(f, r#""{name}":{shard},"#).unwrap();
    }
    for i in 0..1_000_000u32 {
        let sep = if i + 1 < 1_000_000 { "," } else { "" };
        write!(f, r#""model.extra.{i}.weight":"model-00001-of-00003.safetensors"{sep}"#).unwrap();
    }
    write!(f, "}}}}").unwrap();
    f.into_inner().unwrap();
    for e in std::fs::read_dir(&src).unwrap() {
        let p = e.unwrap().path();
        let n = p.file_name().unwrap().to_string_lossy().into_owned();
        if n.starts_with("model-") {
            std::fs::copy(&p, model.path().join(&n)).unwrap();
        }
    }
    convert(model.path(), out.path()).refused("index of 10^6 tensors", &["model.extra.0.weight"], 1024 * MIB);
}

/// Shapes whose element counts overflow 64 bits: in a safetensors header (the safetensors crate's
/// checked product), and in config.json dimensions (`plan` from a config alone).
#[test]
fn overflowing_shapes_are_refused() {
    let _one_at_a_time = one_at_a_time();
    let model = model_without_weights("tiny-llama");
    let out = tempfile::tempdir().unwrap();
    let big = 1u64 << 32;
    let header = format!(r#"{{"model.norm.weight":{{"dtype":"F16","shape":[{big},{big},{big}],"data_offsets":[0,128]}}}}"#);
    write_safetensors(&model.path().join("model.safetensors"), header.as_bytes(), 128);
    convert(model.path(), out.path()).refused("shape product over 2^64", &["model.safetensors"], 64 * MIB);

    std::fs::remove_file(model.path().join("model.safetensors")).unwrap(); // plan from config.json alone
    let cfg_path = model.path().join("config.json");
    let mut cfg: serde_json::Value = serde_json::from_slice(&std::fs::read(&cfg_path).unwrap()).unwrap();
    for (key, value) in [("hidden_size", 1u64 << 40), ("vocab_size", 1u64 << 40), ("intermediate_size", u64::MAX)] {
        let mut c = cfg.clone();
        c[key] = value.into();
        std::fs::write(&cfg_path, serde_json::to_vec(&c).unwrap()).unwrap();
        let r = ggufkit(&[os("plan"), cfg_path.as_os_str()]);
        eprintln!("plan with {key} = {value}: exit {:?}\n{}", r.status.code(), r.stderr.trim());
        assert!(!r.stderr.contains("panicked") && r.status.code().is_some(), "{key} = {value}: {}", r.stderr);
        r.within(&format!("plan with {key} = {value}"), 256 * MIB);
    }
    cfg["num_hidden_layers"] = (1u64 << 31).into();
    std::fs::write(&cfg_path, serde_json::to_vec(&cfg).unwrap()).unwrap();
    let r = ggufkit(&[os("plan"), cfg_path.as_os_str()]);
    assert!(!r.stderr.contains("panicked") && r.status.code().is_some(), "2^31 layers: {}", r.stderr);
    r.within("plan with 2^31 layers", 256 * MIB);
}

/// `plan`'s totals on configs whose every field passes its own bound (at most 4096 layers, widths
/// up to 2^24) but whose sums do not fit 64 bits, and on settings llama.cpp cannot take: each is
/// refused with an error naming the size or the setting, never a wrapped or saturated figure and
/// never a panic. Before these checks the KV cache below was printed as 2^64 − 1 bytes.
#[test]
fn plan_totals_that_overflow_are_refused() {
    let _one_at_a_time = one_at_a_time();
    let model = model_without_weights("tiny-llama");
    let cfg_path = model.path().join("config.json");
    let base: serde_json::Value = serde_json::from_slice(&std::fs::read(&cfg_path).unwrap()).unwrap();
    let plan = |changes: &[(&str, u64)], args: &[&str]| {
        let mut c = base.clone();
        for &(k, v) in changes {
            c[k] = v.into();
        }
        std::fs::write(&cfg_path, serde_json::to_vec(&c).unwrap()).unwrap();
        let mut a = vec![os("plan"), cfg_path.as_os_str()];
        a.extend(args.iter().map(|s| os(s)));
        ggufkit(&a)
    };
    // KV cache: 2 × 4096 heads × 4096 dims × 2 bytes × 2^32 cells × 128 layers = 2^65 bytes.
    let wide_kv = [("num_hidden_layers", 128), ("num_attention_heads", 4096), ("num_key_value_heads", 4096), ("head_dim", 4096)];
    plan(&wide_kv, &["--ctx", "4294967295", "--types", "Q4_0"]).refused(
        "KV cache over 2^64 bytes",
        &["sizes overflow 64 bits", "Q4_0 KV cache at ctx 4294967295"],
        256 * MIB,
    );
    // A training context of 2^32 − 1: with --vram the largest context that fits is searched up
    // to it, each footprint checked.
    plan(&[("max_position_embeddings", u64::from(u32::MAX))], &["--vram", "8GiB", "--types", "Q4_0"])
        .handled("training context 2^32 - 1", 256 * MIB);
    // Contexts and batches beyond llama.cpp's 32-bit n_ctx / n_ubatch.
    for (flag, value) in [("--ctx", "1099511627776"), ("--batch", "1099511627776"), ("--ctx", "4294967296")] {
        plan(&[], &[flag, value]).refused(&format!("{flag} {value}"), &[value, "out of range", "4294967295"], 256 * MIB);
    }
    // 10^9 layers: refused before any per-layer table is built.
    plan(&[("num_hidden_layers", 1_000_000_000)], &[]).refused("10^9 layers", &["1000000000 layers", "4096"], 256 * MIB);
}

/// A BPE tokenizer.json with 10^7 tokens (about 190 MB) is refused: more than the 2^22 tokens
/// ggufkit supports. The file is parsed first, within 3 GiB (about 15 × the file).
#[test]
fn tokenizer_with_ten_million_tokens_is_refused_within_bounds() {
    let _one_at_a_time = one_at_a_time();
    let model = model_without_weights("tiny-qwen2");
    for f in ["vocab.json", "merges.txt"] {
        let _ = std::fs::remove_file(model.path().join(f));
    }
    let mut f = std::io::BufWriter::new(std::fs::File::create(model.path().join("tokenizer.json")).unwrap());
    write!(f, r#"{{"version":"1.0","added_tokens":[],"pre_tokenizer":{{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":true,"use_regex":true}},"model":{{"type":"BPE","merges":[],"vocab":{{"#).unwrap();
    let n = 10_000_000u32;
    for i in 0..n {
        write!(f, r#""t{i}":{i}{}"#, if i + 1 < n { "," } else { "" }).unwrap();
    }
    write!(f, "}}}}}}").unwrap();
    f.into_inner().unwrap();
    let r = ggufkit(&[os("tokenizer"), model.path().as_os_str()]);
    r.refused("10^7 tokens", &["tokenizer.json"], 3072 * MIB);
}

/// A tokenizer.json holding one token string of 1 GB is refused unread: tokenizer files over
/// 256 MiB are refused by their size.
#[test]
fn one_gigabyte_token_string_is_refused_unread() {
    let _one_at_a_time = one_at_a_time();
    let model = model_without_weights("tiny-qwen2");
    let path = model.path().join("tokenizer.json");
    let mut f = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&path).unwrap());
    write!(f, r#"{{"model":{{"type":"BPE","merges":[],"vocab":{{""#).unwrap();
    let chunk = vec![b'a'; 1 << 20];
    for _ in 0..(1_000_000_000 / chunk.len()) {
        f.write_all(&chunk).unwrap();
    }
    write!(f, r#"":0}}}}}}"#).unwrap();
    f.into_inner().unwrap();
    let r = ggufkit(&[os("tokenizer"), model.path().as_os_str()]);
    r.refused("1 GB token", &["tokenizer.json", "larger than"], 64 * MIB);
}

/// JSON nested 100 000 deep in config.json, tokenizer.json, tokenizer_config.json and the
/// safetensors index: a clear error each (serde_json's recursion limit of 128), no stack overflow.
#[test]
fn deeply_nested_json_is_refused() {
    let _one_at_a_time = one_at_a_time();
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    for (file, nested) in [
        ("config.json", format!(r#"{{"architectures":["LlamaForCausalLM"],"x":{deep}}}"#)),
        ("tokenizer.json", format!(r#"{{"model":{deep}}}"#)),
        ("tokenizer_config.json", format!(r#"{{"chat_template":{deep}}}"#)),
        ("model.safetensors.index.json", format!(r#"{{"weight_map":{deep}}}"#)),
    ] {
        let model = model_copy("tiny-llama");
        let out = tempfile::tempdir().unwrap();
        std::fs::write(model.path().join(file), &nested).unwrap();
        convert(model.path(), out.path()).refused(&format!("{file} nested 10^5 deep"), &[file], 128 * MIB);
    }
}

/// A chat template of 100 MB is carried into the GGUF unchanged, within 1 GiB (about 10 × it).
#[test]
fn chat_template_of_100mb_is_handled_within_bounds() {
    let _one_at_a_time = one_at_a_time();
    let model = model_without_weights("tiny-llama");
    let tc_path = model.path().join("tokenizer_config.json");
    let mut tc: serde_json::Value = serde_json::from_slice(&std::fs::read(&tc_path).unwrap()).unwrap();
    let template = || -> String { "{{ m }}".chars().cycle().take(100_000_000).collect() };
    tc["chat_template"] = template().into();
    std::fs::write(&tc_path, serde_json::to_vec(&tc).unwrap()).unwrap();
    drop(tc); // made again below: the child's memory figure includes what this process holds
    let out = tempfile::tempdir().unwrap();
    let gguf_path = out.path().join("vocab.gguf");
    let r = ggufkit(&[os("tokenizer"), model.path().as_os_str(), os("--gguf"), gguf_path.as_os_str()]);
    r.handled("100 MB chat template", 1024 * MIB);
    let f = gguf::GgufFile::open(&gguf_path).expect("the vocabulary GGUF");
    let got = f.get("tokenizer.chat_template").and_then(gguf::Value::as_str).expect("tokenizer.chat_template");
    assert!(got == template(), "the chat template changed on the way ({} bytes written)", got.len());
}

/// Symlinks in a model folder are followed, wherever they point. A model downloaded by
/// huggingface_hub is a folder of symlinks into `../../blobs/`; refusing links out of the folder
/// would refuse every such model. ggufkit only reads through them, and the index cannot name a
/// file outside the folder by itself (its shard names must be plain file names): only whoever made
/// the folder can. The output is the same as from real files.
#[test]
fn symlinks_in_a_model_folder_are_followed() {
    let _one_at_a_time = one_at_a_time();
    let root = tempfile::tempdir().unwrap();
    // (the snapshot folder is named like the fixture: the GGUF's general.name comes from it)
    let (blobs, snapshot) = (root.path().join("blobs"), root.path().join("snapshots/tiny-llama"));
    std::fs::create_dir_all(&blobs).unwrap();
    std::fs::create_dir_all(&snapshot).unwrap();
    let src = common::fixture_model("tiny-llama");
    for (i, e) in std::fs::read_dir(&src).unwrap().enumerate() {
        let p = e.unwrap().path();
        let blob = blobs.join(format!("blob{i}"));
        std::fs::copy(&p, &blob).unwrap();
        std::os::unix::fs::symlink(Path::new("../../blobs").join(format!("blob{i}")), snapshot.join(p.file_name().unwrap())).unwrap();
    }
    let out = tempfile::tempdir().unwrap();
    convert(&snapshot, out.path()).handled("hub-style symlinked folder", 1024 * MIB);
    let plain = tempfile::tempdir().unwrap();
    convert(&src, plain.path()).handled("the fixture itself", 1024 * MIB);
    assert!(
        std::fs::read(out.path().join("out.gguf")).unwrap() == std::fs::read(plain.path().join("out.gguf")).unwrap(),
        "converting through symlinks gave another file"
    );
}

/// An output path that is a symlink: refused without --force; with --force the link itself is
/// replaced by the new file and the file it pointed to is left untouched (the output is renamed
/// into place, never written through the link).
#[test]
fn symlink_at_the_output_path_is_replaced_not_written_through() {
    let _one_at_a_time = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim.txt");
    std::fs::write(&victim, b"keep me").unwrap();
    let out: PathBuf = dir.path().join("out.gguf");
    std::os::unix::fs::symlink(&victim, &out).unwrap();
    let model = common::fixture_model("tiny-llama");
    let args = |force: bool| {
        let mut a = vec![os("convert"), model.as_os_str(), os("-t"), os("Q8_0"), os("-o"), out.as_os_str()];
        if force {
            a.push(os("--force"));
        }
        ggufkit(&a)
    };
    args(false).refused("symlink at the output path", &["--force"], 256 * MIB);
    args(true).handled("--force over a symlink", 1024 * MIB);
    assert_eq!(std::fs::read(&victim).unwrap(), b"keep me", "the link's target was written through");
    assert!(!std::fs::symlink_metadata(&out).unwrap().file_type().is_symlink(), "the link is still there");
    gguf::GgufFile::open(&out).expect("the output is a GGUF file");
}
