//! `ggufkit quantize` against llama-quantize: the whole output file is byte-identical for every
//! mix, on real models of several architectures, without and with an importance matrix made by
//! the pinned llama-imatrix (GGUF and legacy .dat formats); bad input fails cleanly.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::MIXES;

fn input(model: &str) -> PathBuf {
    common::quantize_input(model)
}

/// An importance matrix of `model` by the pinned llama-imatrix on calib.txt (`format`: gguf or
/// dat), cached.
fn imatrix(model: &str, format: &str) -> PathBuf {
    let inp = input(model);
    let _g = common::input_lock();
    let out = common::cache_dir().join(format!("{model}-imatrix.{format}"));
    common::cached(&out, |tmp| {
        common::run(
            Command::new(common::ref_bin("llama-imatrix"))
                .arg("-m")
                .arg(&inp)
                .arg("-f")
                .arg(common::corpus("calib.txt"))
                .args(["-c", "128", "--chunks", "16", "-t", "2", "--output-format", format, "-o"])
                .arg(tmp),
        );
    })
}

/// Our output for `mix` (fresh each run).
fn ours(input: &Path, mix: &str, extra: &[&str], dir: &Path) -> PathBuf {
    let out = dir.join(format!("ours-{mix}.gguf"));
    common::run(Command::new(common::ggufkit()).arg("quantize").arg(input).arg(&out).args(["-t", mix]).args(extra));
    out
}

fn assert_same_bytes(ours: &Path, theirs: &Path, what: &str) -> Result<(), String> {
    let a = std::fs::read(ours).expect("read ours");
    let b = std::fs::read(theirs).expect("read reference");
    if a == b {
        return Ok(());
    }
    let first = a.iter().zip(&b).position(|(x, y)| x != y).unwrap_or(a.len().min(b.len()));
    Err(format!("{what}: differs from llama-quantize at byte {first} (sizes {} vs {})", a.len(), b.len()))
}

/// Runs every mix through both tools with the same options; panics listing the differences.
fn check(model: &str, mixes: &[&str], extra: &[&str], tag: &str) {
    check_input(model, &input(model), mixes, extra, tag);
}

/// [`check`] on a given input file (`model`: its label in file names).
fn check_input(model: &str, inp: &Path, mixes: &[&str], extra: &[&str], tag: &str) {
    let inp = inp.to_path_buf();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut bad = Vec::new();
    for mix in mixes {
        let theirs = common::ref_quantized(&inp, mix, extra, &format!("{model}-{mix}{tag}.gguf"));
        let o = ours(&inp, mix, extra, dir.path());
        if let Err(e) = assert_same_bytes(&o, &theirs, &format!("{model} {mix}{tag}")) {
            bad.push(e);
        }
        std::fs::remove_file(&o).expect("remove our output");
    }
    assert!(bad.is_empty(), "{} of {} files differ:\n{}", bad.len(), mixes.len(), bad.join("\n"));
}

/// The per-tensor lines of `--dry-run` (`[  k/  n] NAME - [dims], type = T, size = … (NEW)`): each
/// tensor's name, shape, input type, chosen type and size, as llama-quantize prints them.
fn choice_lines(log: &str) -> Vec<String> {
    log.lines().filter(|l| l.starts_with('[') && l.contains("] ") && l.contains(" type = ")).map(|l| l.trim_end().to_string()).collect()
}

/// The per-tensor type choices of `mixes` on `model`: ours (`quantize --dry-run`) equal to
/// llama-quantize --dry-run's. Used instead of [`check`] on SmolLM2 for the slow i-quant mixes:
/// the bytes of every (tensor, type, imatrix) these mixes choose on it are compared tensor by
/// tensor in `quant_kernels`' identity tests (`--pure` runs of each type, with and without the
/// same importance matrix), and the whole files are compared on the tiny models (and one mix per
/// test on SmolLM2), so what a whole-file comparison of every mix on SmolLM2 adds is the mix's
/// choices, which this checks in seconds.
fn check_choices(model: &str, mixes: &[&str], extra: &[&str]) {
    let inp = input(model);
    for mix in mixes {
        let out = Command::new(common::ref_bin("llama-quantize"))
            .arg("--dry-run")
            .args(extra)
            .arg(&inp)
            .arg(mix)
            .arg("2")
            .output()
            .expect("run llama-quantize");
        let log = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "llama-quantize --dry-run {mix} {extra:?}: {log}");
        let theirs = choice_lines(&log);
        assert!(theirs.len() > 100, "{model} {mix}: llama-quantize --dry-run printed {} tensor lines:\n{log}", theirs.len());
        let dir = tempfile::tempdir().expect("tempdir");
        let o = common::run(
            Command::new(common::ggufkit()).current_dir(dir.path()).arg("quantize").arg(&inp).args(["-t", mix, "--dry-run"]).args(extra),
        );
        let mine = choice_lines(&o);
        let first = theirs.iter().zip(&mine).position(|(a, b)| a != b);
        assert!(
            first.is_none() && mine.len() == theirs.len(),
            "{model} {mix} {extra:?}: first difference {first:?}\n{}\n---\n{}",
            theirs.join("\n"),
            mine.join("\n")
        );
    }
}

#[test]
fn byte_identical_tiny_llama() {
    check("tiny-llama", MIXES, &[], "");
}

#[test]
fn byte_identical_tiny_phi3() {
    check("tiny-phi3", MIXES, &[], "");
}

#[test]
fn byte_identical_tiny_gemma2_bf16_input() {
    check("tiny-gemma2", MIXES, &[], "");
}

#[test]
fn byte_identical_smollm2() {
    check("smollm2", MIXES, &[], "");
}

#[test]
fn byte_identical_with_gguf_imatrix() {
    for model in ["tiny-llama", "smollm2"] {
        let im = imatrix(model, "gguf");
        let im = im.to_str().expect("utf-8 path");
        check(model, MIXES, &["--imatrix", im], "-imatrix-gguf");
    }
}

#[test]
fn byte_identical_with_legacy_dat_imatrix() {
    for model in ["tiny-llama", "smollm2"] {
        let im = imatrix(model, "dat");
        let im = im.to_str().expect("utf-8 path");
        check(model, &["Q2_K", "Q3_K_M", "Q4_K_M", "Q5_K_S", "Q6_K", "Q4_0", "Q5_0", "Q4_1"], &["--imatrix", im], "-imatrix-dat");
    }
}

#[test]
fn byte_identical_with_options() {
    for model in ["tiny-llama", "smollm2"] {
        check(model, &["Q4_K_M", "Q3_K_S", "Q5_1"], &["--pure"], "-pure");
        check(model, &["Q4_K_M", "Q8_0"], &["--leave-output-tensor"], "-leave-output");
        check(model, &["Q4_K_M", "Q3_K_S"], &["--output-tensor-type", "q5_0", "--token-embedding-type", "q4_0"], "-out-q5_0-emb-q4_0");
    }
}

/// The IQ4 and ternary file types (kernels of issue #13), mixes and --pure, on every model,
/// without and with an importance matrix.
#[test]
fn byte_identical_iq4_and_ternary() {
    const TYPES: &[&str] = &["IQ4_NL", "IQ4_XS", "TQ1_0", "TQ2_0"];
    for model in ["tiny-llama", "tiny-phi3", "tiny-gemma2"] {
        check(model, TYPES, &[], "");
    }
    check("tiny-llama", TYPES, &["--pure"], "-pure");
    let im = imatrix("tiny-llama", "gguf");
    check("tiny-llama", TYPES, &["--imatrix", im.to_str().expect("utf-8 path")], "-imatrix-gguf");
    // SmolLM2: the choices (see check_choices)
    check_choices("smollm2", TYPES, &[]);
    let im = imatrix("smollm2", "gguf");
    let im = im.to_str().expect("utf-8 path");
    check_choices("smollm2", TYPES, &["--imatrix", im]);
    check("smollm2", &["IQ4_XS"], &["--imatrix", im], "-imatrix-gguf");
}

/// `--tensor-type PATTERN=TYPE` (regular expressions searched in the tensor name, first match
/// wins, patterns lowercased, llama-quantize's fallback still applied): the same file as
/// llama-quantize with the same options, for a mix, --pure and an i-quant.
#[test]
fn byte_identical_with_tensor_type() {
    let opts = [
        "--tensor-type",
        "attn_v=q8_0",
        "--tensor-type",
        "FFN_(UP|GATE)=iq4_nl",
        "--tensor-type",
        r"blk\.[0-2]\.ffn_down=Q6_K",
        "--tensor-type",
        "token_embd=q5_0",
    ];
    for model in ["tiny-llama", "smollm2"] {
        check(model, &["Q4_K_M", "IQ4_XS", "Q3_K_S"], &opts, "-tensor-type");
        let pure: Vec<&str> = opts.iter().copied().chain(["--pure"]).collect();
        check(model, &["Q5_K_M"], &pure, "-tensor-type-pure");
    }
}

/// `--prune-layers` (blocks dropped and renumbered, block_count rewritten, importance data found
/// under the original names), `--override-kv` (int written as u32 of the absolute value, float,
/// bool, str; new and existing keys) and `--include-weights` / `--exclude-weights` (importance
/// entries filtered by substring; none left: no importance matrix at all): the same file as
/// llama-quantize with the same options.
#[test]
fn byte_identical_with_prune_override_and_weight_filters() {
    let kv = [
        "--override-kv",
        "general.name=str:renamed by a test",
        "--override-kv",
        "llama.context_length=int:-512",
        "--override-kv",
        "test.flag=bool:true",
        "--override-kv",
        "test.scale=float:0.25",
    ];
    for model in ["tiny-llama", "smollm2"] {
        check(model, &["Q4_K_M", "IQ4_XS"], &["--prune-layers", "1,3"], "-prune-1-3");
        check(model, &["Q4_K_M", "Q8_0"], &kv, "-override-kv");
        let im = imatrix(model, "gguf");
        let im = im.to_str().expect("utf-8 path");
        check(model, &["Q4_K_M", "IQ4_XS"], &["--imatrix", im, "--prune-layers", "0,2"], "-imatrix-prune-0-2");
        check(model, &["Q4_K_M", "IQ4_NL"], &["--imatrix", im, "--include-weights", "ffn"], "-imatrix-include-ffn");
        check(model, &["Q4_K_M"], &["--imatrix", im, "--exclude-weights", "attn_v", "--exclude-weights", "ffn_down"], "-imatrix-exclude");
        check(model, &["Q4_K_M"], &["--imatrix", im, "--include-weights", "no-such-tensor"], "-imatrix-include-none");
    }
}

/// The IQ3 file types and IQ2_M (grid kernels of issue #13), mixes and --pure, on every model:
/// IQ3_S and IQ3_M without and with an importance matrix, IQ3_XS, IQ3_XXS and IQ2_M (IQ3_XXS and
/// IQ2_S tensors) with one; without one, IQ3_XS fails as llama-quantize does.
#[test]
fn byte_identical_iq3() {
    for model in ["tiny-llama", "tiny-phi3", "tiny-gemma2"] {
        check(model, &["IQ3_S", "IQ3_M"], &[], "");
    }
    check("tiny-llama", &["IQ3_S"], &["--pure"], "-pure");
    let im = imatrix("tiny-llama", "gguf");
    let im = im.to_str().expect("utf-8 path");
    check("tiny-llama", &["IQ3_XXS", "IQ3_XS", "IQ3_S", "IQ3_M", "IQ2_M"], &["--imatrix", im], "-imatrix-gguf");
    check("tiny-llama", &["IQ3_XXS", "IQ2_M"], &["--imatrix", im, "--pure"], "-imatrix-pure");
    // SmolLM2: the choices (see check_choices)
    check_choices("smollm2", &["IQ3_S", "IQ3_M"], &[]);
    let im = imatrix("smollm2", "gguf");
    let im = im.to_str().expect("utf-8 path");
    check_choices("smollm2", &["IQ3_XXS", "IQ3_XS", "IQ3_S", "IQ3_M", "IQ2_M"], &["--imatrix", im]);
    check("smollm2", &["IQ3_M"], &["--imatrix", im], "-imatrix-gguf");
    refused_without_imatrix("IQ3_XS");
}

/// Without an importance matrix, llama-quantize and ggufkit both refuse `mix` on tiny-llama, and
/// ours leaves no output.
fn refused_without_imatrix(mix: &str) {
    let inp = input("tiny-llama");
    let dir = tempfile::tempdir().expect("tempdir");
    let theirs = Command::new(common::ref_bin("llama-quantize"))
        .arg(&inp)
        .arg(dir.path().join("theirs.gguf"))
        .args([mix, "2"])
        .output()
        .expect("run llama-quantize");
    let their_err = String::from_utf8_lossy(&theirs.stderr);
    assert!(
        !theirs.status.success() && their_err.contains("this quantization requires an imatrix!"),
        "llama-quantize {mix} without an imatrix: {their_err}"
    );
    let ours = Command::new(common::ggufkit())
        .arg("quantize")
        .arg(&inp)
        .arg(dir.path().join("ours.gguf"))
        .args(["-t", mix])
        .output()
        .expect("run ggufkit");
    let err = String::from_utf8_lossy(&ours.stderr);
    assert!(!ours.status.success() && err.contains("requires an importance matrix (--imatrix)"), "{mix}: {err}");
    assert!(!dir.path().join("ours.gguf").exists(), "a refused run left its output");
}

/// The file types of the IQ2_XXS, IQ2_XS, IQ1_S and IQ1_M kernels, which llama-quantize makes only
/// with an importance matrix: IQ2_XXS, IQ2_XS, IQ2_S (mostly IQ2_XS tensors, IQ3_S ones too), IQ1_S
/// and IQ1_M (IQ2_XXS ones too) as mixes; on tiny-llama also IQ2_XXS, IQ2_XS and IQ1_S with --pure, where the token
/// embedding and the output (no imatrix entries; ggml has no quantizer for these types without
/// one) are Q8_0, and IQ1_M with --pure (ggml quantizes those two without weights). Without an
/// imatrix each is refused by both tools.
#[test]
fn byte_identical_iq2_iq1() {
    let im = imatrix("tiny-llama", "gguf");
    let im = im.to_str().expect("utf-8 path");
    check("tiny-llama", &["IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ1_S", "IQ1_M"], &["--imatrix", im], "-imatrix-gguf");
    let pure = ["--imatrix", im, "--pure", "--token-embedding-type", "q8_0", "--output-tensor-type", "q8_0"];
    check("tiny-llama", &["IQ2_XXS", "IQ2_XS", "IQ1_S"], &pure, "-imatrix-pure-q8");
    check("tiny-llama", &["IQ1_M"], &["--imatrix", im, "--pure"], "-imatrix-pure");
    // SmolLM2: the choices (see check_choices); its --pure files are the very llama-quantize runs
    // that quant_kernels' identity_iq2_*/identity_iq1_* compare tensor by tensor.
    let im = imatrix("smollm2", "gguf");
    let im = im.to_str().expect("utf-8 path");
    check_choices("smollm2", &["IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ1_S", "IQ1_M"], &["--imatrix", im]);
    check("smollm2", &["IQ1_M"], &["--imatrix", im], "-imatrix-gguf");
    for mix in ["IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ1_S", "IQ1_M"] {
        refused_without_imatrix(mix);
    }
}

/// `COPY`: every tensor copied as it is, `general.file_type` the input's (F16, BF16 and a
/// quantized input), with and without other options; the same file as llama-quantize's.
#[test]
fn byte_identical_copy() {
    for model in ["tiny-llama", "tiny-gemma2", "smollm2"] {
        check(model, &["COPY"], &[], "");
    }
    check("tiny-llama", &["COPY"], &["--prune-layers", "2", "--override-kv", "general.name=str:copy"], "-prune-2-kv");
    let q8 = common::ref_quantized(&input("tiny-llama"), "Q8_0", &[], "tiny-llama-Q8_0.gguf");
    check_input("tiny-llama-q8_0", &q8, &["COPY"], &[], "");
    // The summaries name the target as llama-quantize does ("COPY"), not by ALL_F32's name.
    let dir = tempfile::tempdir().expect("tempdir");
    let json = common::run(
        Command::new(common::ggufkit()).arg("quantize").arg(&q8).arg(dir.path().join("copy.gguf")).args(["-t", "COPY", "--json"]),
    );
    let v: serde_json::Value = serde_json::from_str(&json).expect("quantize --json output");
    assert_eq!(v["file_type"], "COPY", "{json}");
    let dry = common::run(Command::new(common::ggufkit()).arg("quantize").arg(&q8).args(["-t", "COPY", "--dry-run"]));
    assert!(dry.lines().next().is_some_and(|l| l.ends_with(" as COPY")), "{dry}");
}

/// `--split-max-tensors` / `--split-max-size`: the pieces equal, byte for byte, what
/// llama-gguf-split --split makes of llama-quantize's single file, and llama-completion loads
/// them (from the first piece).
#[test]
fn split_output_matches_gguf_split() {
    for (model, ty, opt, val) in [
        ("tiny-llama", "Q4_K_M", "--split-max-tensors", "20"),
        ("smollm2", "IQ4_XS", "--split-max-size", "30M"),
        ("tiny-llama", "Q8_0", "--split-max-size", "3M"),
    ] {
        let inp = input(model);
        let single = common::ref_quantized(&inp, ty, &[], &format!("{model}-{ty}.gguf"));
        let dir = tempfile::tempdir().expect("tempdir");
        let theirs = dir.path().join("theirs");
        common::run(Command::new(common::ref_bin("llama-gguf-split")).args(["--split", opt, val]).arg(&single).arg(&theirs));
        common::run(Command::new(common::ggufkit()).arg("quantize").arg(&inp).arg(dir.path().join("ours.gguf")).args(["-t", ty, opt, val]));
        let pieces = |prefix: &str| {
            let mut v: Vec<PathBuf> = std::fs::read_dir(dir.path())
                .expect("read dir")
                .map(|e| e.expect("dir entry").path())
                .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(prefix)))
                .collect();
            v.sort();
            v
        };
        let (ours, refs) = (pieces("ours-"), pieces("theirs-"));
        assert!(refs.len() >= 2, "{model} {ty} {opt} {val}: gguf-split made {} piece(s)", refs.len());
        assert_eq!(ours.len(), refs.len(), "{model} {ty} {opt} {val}: piece count");
        for (o, r) in ours.iter().zip(&refs) {
            assert_same_bytes(o, r, &format!("{model} {ty} {opt} {val} {}", o.display())).unwrap();
        }
        let out = Command::new(common::ref_bin("llama-completion"))
            .arg("-m")
            .arg(&ours[0])
            .args(["-n", "4", "-p", "hello", "-no-cnv", "--no-warmup", "-t", "2"])
            .output()
            .expect("run llama-completion");
        let log = String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "llama-completion on our pieces:\n{log}");
    }
}

/// Split input (the first piece of a llama-gguf-split set) to one file, and `--keep-split`
/// (the output cut as the input is): the same files as llama-quantize's.
#[test]
fn split_input_and_keep_split_match_llama_quantize() {
    for (model, ty) in [("tiny-llama", "Q4_K_M"), ("smollm2", "IQ4_NL")] {
        let inp = input(model);
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        common::run(
            Command::new(common::ref_bin("llama-gguf-split")).args(["--split", "--split-max-tensors", "25"]).arg(&inp).arg(d.join("in")),
        );
        let first = std::fs::read_dir(d)
            .expect("read dir")
            .map(|e| e.expect("entry").path())
            .find(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("in-00001-of-")))
            .expect("llama-gguf-split made no first piece");
        for keep in [false, true] {
            let (theirs, ours) = if keep { (d.join("theirs"), d.join("ours")) } else { (d.join("theirs.gguf"), d.join("ours.gguf")) };
            let mut lq = Command::new(common::ref_bin("llama-quantize"));
            if keep {
                lq.arg("--keep-split");
            }
            common::run(lq.arg(&first).arg(&theirs).args([ty, "2"]));
            let mut gk = Command::new(common::ggufkit());
            gk.arg("quantize").arg(&first).arg(&ours).args(["-t", ty]);
            if keep {
                gk.arg("--keep-split");
            }
            common::run(&mut gk);
            let list = |prefix: &str| {
                let mut v: Vec<PathBuf> = std::fs::read_dir(d)
                    .expect("read dir")
                    .map(|e| e.expect("entry").path())
                    .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(prefix)))
                    .collect();
                v.sort();
                v
            };
            let (o, t) = (list("ours"), list("theirs"));
            assert!(!t.is_empty() && o.len() == t.len(), "{model} keep {keep}: ours {o:?}, llama-quantize {t:?}");
            if keep {
                assert!(t.len() >= 2, "{model}: llama-quantize --keep-split made {t:?}");
            }
            for (a, b) in o.iter().zip(&t) {
                assert_same_bytes(a, b, &format!("{model} {ty} split input, keep-split {keep}: {}", a.display())).unwrap();
            }
            for p in o.iter().chain(&t) {
                std::fs::remove_file(p).expect("remove output");
            }
        }
    }
}

/// `--allow-requantize`: quantized input (llama-quantize's own Q8_0 of tiny-llama, SmolLM2's
/// original Q4_1 release) dequantized and quantized again, byte-identical to llama-quantize with
/// the same flag; without the flag both refuse.
#[test]
fn requantize_matches_llama_quantize() {
    let q8 = common::ref_quantized(&input("tiny-llama"), "Q8_0", &[], "tiny-llama-Q8_0.gguf");
    let q4_1 = common::smollm2_q4_1();
    for (label, inp) in [("tiny-llama-q8_0", &q8), ("smollm2-q4_1", &q4_1)] {
        check_input(label, inp, &["Q4_K_M", "IQ4_XS", "Q5_0", "Q8_0"], &["--allow-requantize"], "-requant");
        let dir = tempfile::tempdir().expect("tempdir");
        let out = Command::new(common::ggufkit())
            .arg("quantize")
            .arg(inp)
            .arg(dir.path().join("x.gguf"))
            .args(["-t", "Q4_K_M"])
            .output()
            .expect("run ggufkit");
        assert!(!out.status.success(), "{label}: requantizing without --allow-requantize succeeded");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--allow-requantize"), "{label}: {err}");
    }
}

/// The `model size` / `quant size` totals llama-quantize prints (`--dry-run` or a real run).
fn size_lines(log: &str) -> Vec<String> {
    log.lines().filter_map(|l| ["model size", "quant size"].iter().find_map(|k| l.find(k).map(|i| l[i..].trim_end().to_string()))).collect()
}

/// `--dry-run`: no file written, and the totals (MiB and bits per weight) equal llama-quantize
/// --dry-run's, also for a type that would need an importance matrix (a warning, not an error).
#[test]
fn dry_run_totals_match_llama_quantize() {
    for model in ["tiny-llama", "smollm2"] {
        let inp = input(model);
        for ty in ["Q4_K_M", "IQ4_XS", "Q2_K_S", "TQ2_0"] {
            let out = Command::new(common::ref_bin("llama-quantize"))
                .arg("--dry-run")
                .arg(&inp)
                .arg(ty)
                .arg("2")
                .output()
                .expect("run llama-quantize");
            assert!(out.status.success(), "llama-quantize --dry-run {ty}: {}", String::from_utf8_lossy(&out.stderr));
            let theirs = size_lines(&format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)));
            assert_eq!(theirs.len(), 2, "llama-quantize --dry-run {ty}: no size lines");
            let dir = tempfile::tempdir().expect("tempdir");
            let ours = common::run(Command::new(common::ggufkit()).current_dir(dir.path()).arg("quantize").arg(&inp).args([
                "-t",
                ty,
                "--dry-run",
            ]));
            assert_eq!(size_lines(&ours), theirs, "{model} {ty}");
            assert_eq!(std::fs::read_dir(dir.path()).expect("read dir").count(), 0, "{model} {ty}: --dry-run wrote a file");
        }
    }
}

#[test]
fn same_bytes_for_any_thread_count() {
    let inp = input("smollm2");
    let theirs = common::ref_quantized(&inp, "Q4_K_M", &[], "smollm2-Q4_K_M.gguf");
    let dir = tempfile::tempdir().expect("tempdir");
    for threads in ["1", "3"] {
        let o = ours(&inp, "Q4_K_M", &["--threads", threads], dir.path());
        assert_same_bytes(&o, &theirs, &format!("--threads {threads}")).unwrap();
        std::fs::remove_file(&o).expect("remove");
    }
}

/// A copy of `src` with one F16 element of `tensor` set to NaN (located with gguf-py).
fn poisoned(src: &Path, tensor: &str, element: u64, dst: &Path) {
    let dump = common::gguf_py_dump(&[src]);
    let t = dump[0]["tensors"].as_array().unwrap().iter().find(|t| t[0] == tensor).expect("tensor");
    assert_eq!(t[2], 1, "{tensor} is F16");
    let at = t[4].as_u64().unwrap() + 2 * element;
    let mut bytes = std::fs::read(src).unwrap();
    bytes[at as usize..at as usize + 2].copy_from_slice(&0x7e00u16.to_le_bytes());
    std::fs::write(dst, bytes).unwrap();
}

#[test]
fn non_finite_weights_fail_naming_tensor_and_index_and_leave_no_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("nan.gguf");
    poisoned(&input("tiny-llama"), "blk.3.ffn_down.weight", 12345, &bad);
    let outdir = dir.path().join("out");
    std::fs::create_dir(&outdir).unwrap();
    // F16 → F16 copies the tensor (as llama-quantize does) but still checks it.
    for mix in ["Q4_K_M", "Q8_0", "F16"] {
        let out = outdir.join("out.gguf");
        let o = Command::new(common::ggufkit()).arg("quantize").arg(&bad).arg(&out).args(["-t", mix]).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{mix}: NaN input accepted");
        assert!(err.contains("blk.3.ffn_down.weight") && err.contains("12345"), "{mix}: error does not name tensor and index: {err}");
        let left: Vec<_> = std::fs::read_dir(&outdir).unwrap().collect();
        assert!(left.is_empty(), "{mix}: files left behind: {left:?}");
    }
}

#[test]
fn existing_output_needs_force_and_input_is_never_the_output() {
    let inp = input("tiny-llama");
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("o.gguf");
    std::fs::write(&out, b"keep me").unwrap();
    let o = Command::new(common::ggufkit()).arg("quantize").arg(&inp).arg(&out).args(["-t", "Q8_0"]).output().unwrap();
    assert!(!o.status.success());
    assert_eq!(std::fs::read(&out).unwrap(), b"keep me");
    let o = Command::new(common::ggufkit()).arg("quantize").arg(&inp).arg(&inp).args(["-t", "Q8_0", "--force"]).output().unwrap();
    assert!(!o.status.success(), "quantizing a file onto itself must fail");
    let o = Command::new(common::ggufkit()).arg("quantize").arg(&inp).arg(&out).args(["-t", "Q9_X"]).output().unwrap();
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("Q4_K_M"), "unknown type lists the known ones");
}
