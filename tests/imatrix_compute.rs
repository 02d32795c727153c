//! `ggufkit imatrix` against the pinned `llama-imatrix`: on every trained fixture, the same
//! weights, windows and counts, and per input column the same importance (sum / count, as
//! llama-quantize reads it) within 1%; quantizing with our matrix gives a file whose KL divergence
//! is within 2% of quantizing with llama.cpp's; a text shorter than two windows is refused before
//! any forward pass.

use crate::common;
use crate::convert_imatrix::{imatrix as llama_imatrix, imatrix_generated as llama_imatrix_generated};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use quantize::imatrix::ImatrixFile;

/// Relative tolerance per column (issue: 1%).
const COLUMN_TOLERANCE: f64 = 0.01;

/// Of a mixture of experts' positions, the share that may go to another expert than in
/// llama-imatrix (near-ties of the router; measured on tiny-qwen3moe: at most 4 of 2048).
const ROUTING_SLACK: f64 = 0.005;

/// `ggufkit imatrix` on a model (folder or GGUF) with llama-imatrix's settings of
/// [`llama_imatrix`] (calib.txt, ctx 128, 16 windows).
pub(crate) fn ours(model: &Path, out: &Path) {
    run(Command::new(ggufkit())
        .arg("imatrix")
        .arg(model)
        .arg("--text")
        .arg(corpus("calib.txt"))
        .args(["--ctx", "128", "--chunks", "16", "-o"])
        .arg(out));
}

/// Same weights and chunks, and per column of every weight `per_column` accepts the same
/// importance within [`COLUMN_TOLERANCE`]; the largest relative difference seen.
fn compare(model: &str, ours: &Path, reference: &Path, per_column: &dyn Fn(&str) -> bool) -> f64 {
    let a = ImatrixFile::open(ours).expect("read our imatrix");
    let b = ImatrixFile::open(reference).expect("read llama-imatrix's");
    let mut names_a: Vec<&str> = a.names().collect();
    let mut names_b: Vec<&str> = b.names().collect();
    names_a.sort_unstable();
    names_b.sort_unstable();
    assert_eq!(names_a, names_b, "{model}: the weights with statistics differ");
    assert_eq!((a.chunk_count(), a.chunk_size()), (b.chunk_count(), b.chunk_size()), "{model}: chunk count/size");
    let mut worst = (0.0f64, String::new());
    for name in names_b.into_iter().filter(|n| per_column(n)) {
        let (x, y) = (a.get(name).expect("ours"), b.get(name).expect("reference"));
        assert_eq!(x.len(), y.len(), "{model} {name}: columns");
        for (j, (&p, &q)) in x.iter().zip(y).enumerate() {
            let (p, q) = (f64::from(p), f64::from(q));
            let rel = (p - q).abs() / q.abs().max(1e-30);
            assert!(
                p.is_finite() && (p - q).abs() <= COLUMN_TOLERANCE * q.abs() + 1e-12,
                "{model} {name} column {j}: ours {p}, llama-imatrix {q}"
            );
            if rel > worst.0 {
                worst = (rel, format!("{name}[{j}]"));
            }
        }
    }
    eprintln!("{model}: largest relative difference per column {:.2e} at {}", worst.0, worst.1);
    worst.0
}

/// From the HF folders (the weights as trained, the text through tokenizer.json), and from the
/// reference converter's F16 file that llama-imatrix reads (the text through the GGUF's
/// vocabulary, as llama.cpp tokenizes it). tiny-gemma2 is compared from its F16 file only: its
/// tokenizer.json prepends `▁` to the text (a `Prepend` normalizer) where the GGUF's Gemma
/// vocabulary has `add_space_prefix = false`, so the first word splits into other tokens
/// (`▁whole|some` against `wh|o|le|some`), every window starts two tokens later, and windows of
/// other text move the statistics by more than 1%.
#[test]
fn imatrix_matches_llama_imatrix_on_the_trained_fixtures() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (model, from_folder) in
        [("tiny-llama", true), ("tiny-qwen2", true), ("tiny-phi3", true), ("tiny-llama", false), ("tiny-gemma2", false)]
    {
        let reference = llama_imatrix(model, "gguf");
        let out = dir.path().join(format!("{model}-{from_folder}.imatrix.gguf"));
        let source = if from_folder { fixture_model(model) } else { ref_converted_fixture_f16(model) };
        ours(&source, &out);
        compare(&format!("{model} ({})", if from_folder { "folder" } else { "F16 GGUF" }), &out, &reference, &|_| true);
    }
}

/// Every `NAME.counts` tensor of a GGUF imatrix file: per weight, the rows summed per matrix
/// (per expert for the stacked expert tensors), as stored.
fn counts(path: &Path) -> BTreeMap<String, Vec<f32>> {
    let f = gguf::GgufFile::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    f.tensors()
        .iter()
        .filter_map(|t| {
            let name = t.name.strip_suffix(".counts")?;
            let v = f.tensor_data(t).chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
            Some((name.to_owned(), v))
        })
        .collect()
}

/// Mixtures of experts (tiny-qwen3moe: 8 experts, top 2), from the HF folder and from the
/// reference F16 file, against llama-imatrix on that F16 file: the same entries, the router
/// `ffn_gate_inp` (the FFN input of every position) and every other dense weight with equal
/// counts and each column within 1%; each expert of the stacked `ffn_{gate,up,down}_exps` summed
/// over only the positions routed to it (llama-imatrix's `MUL_MAT_ID` statistics, one row and one
/// count per expert).
///
/// The experts are not held to 1% per column: a position whose 2nd and 3rd router
/// probabilities are nearly equal goes to another expert when the arithmetic differs
/// (llama.cpp multiplies an F16 file with F16-rounded activations, and its F32 file routes other
/// positions again; our engine computes in f32), and one such position moves a column of an expert
/// that got ~170 positions by several percent. Per expert: the count within [`ROUTING_SLACK`] of
/// the positions (both sides give every position `n_used` experts, so the totals are equal), and
/// the importance summed over the columns within 1%, the median column within 2%.
#[test]
fn imatrix_per_expert_matches_llama_imatrix_on_the_moe_fixtures() {
    let moe = generated_moe();
    assert!(!moe.is_empty() || std::env::var_os("GGUFKIT_GENERATED").is_some(), "no generated mixture of experts to test");
    let dir = tempfile::tempdir().expect("tempdir");
    let stacked = |n: &str| n.contains("_exps.");
    for name in moe {
        let reference = llama_imatrix_generated(name, "gguf");
        let theirs = counts(&reference);
        let experts: Vec<&String> = theirs.keys().filter(|n| stacked(n)).collect();
        assert!(!experts.is_empty() && experts.iter().all(|n| theirs[*n].len() > 1), "{name}: llama-imatrix kept no per-expert counts");
        let b = ImatrixFile::open(&reference).expect("read llama-imatrix's");
        for (from_folder, source) in [(true, generated_fixture(name)), (false, ref_converted_generated_f16(name))] {
            let label = format!("{name} ({})", if from_folder { "folder" } else { "F16 GGUF" });
            let out = dir.path().join(format!("{name}-{from_folder}.imatrix.gguf"));
            ours(&source, &out);
            compare(&label, &out, &reference, &|n| !stacked(n));
            let mine = counts(&out);
            let a = ImatrixFile::open(&out).expect("read ours");
            let (mut worst_count, mut worst_total, mut worst_median) = (0.0f64, 0.0f64, 0.0f64);
            for (weight, c) in &theirs {
                let m = mine.get(weight).unwrap_or_else(|| panic!("{label}: no counts for {weight}"));
                assert_eq!(m.len(), c.len(), "{label} {weight}: matrices (experts)");
                if !stacked(weight) {
                    assert_eq!(m, c, "{label} {weight}: counts");
                    continue;
                }
                // the block's router multiplies every position
                let block = weight.split_inclusive('.').take(2).collect::<String>();
                let positions = theirs[&format!("{block}ffn_gate_inp.weight")][0];
                assert_eq!(m.iter().sum::<f32>(), c.iter().sum::<f32>(), "{label} {weight}: positions times experts used");
                let (x, y) = (a.get(weight).expect("ours"), b.get(weight).expect("reference"));
                let n_in = y.len() / c.len();
                for (e, (&p, &q)) in m.iter().zip(c).enumerate() {
                    let moved = f64::from((p - q).abs()) / f64::from(positions);
                    assert!(moved <= ROUTING_SLACK, "{label} {weight} expert {e}: {p} positions, llama-imatrix {q}");
                    worst_count = worst_count.max(moved);
                    let (xe, ye) = (&x[e * n_in..(e + 1) * n_in], &y[e * n_in..(e + 1) * n_in]);
                    let (sx, sy) = (xe.iter().map(|&v| f64::from(v)).sum::<f64>(), ye.iter().map(|&v| f64::from(v)).sum::<f64>());
                    let total = (sx - sy).abs() / sy;
                    let mut rel: Vec<f64> =
                        xe.iter().zip(ye).map(|(&p, &q)| (f64::from(p) - f64::from(q)).abs() / f64::from(q).abs().max(1e-30)).collect();
                    rel.sort_by(f64::total_cmp);
                    let median = rel[rel.len() / 2];
                    assert!(
                        total <= 0.01 && median <= 0.02,
                        "{label} {weight} expert {e}: importance summed over columns {sx} vs {sy} (llama-imatrix), median column off by {median:.2e}"
                    );
                    (worst_total, worst_median) = (worst_total.max(total), worst_median.max(median));
                }
            }
            eprintln!(
                "{label}: {} expert tensors; per expert at most {:.2}% of the positions routed elsewhere, importance summed \
                 over columns within {worst_total:.2e}, median column within {worst_median:.2e}",
                experts.len(),
                100.0 * worst_count
            );
        }
    }
}

/// KLD against the F16 reference of tiny-llama quantized to `ty` with `imatrix`, by `ggufkit validate`.
fn kld(f16: &Path, ty: &str, imatrix: &Path, dir: &Path, label: &str) -> f64 {
    let out: PathBuf = dir.join(format!("{label}-{ty}.gguf"));
    run(Command::new(ggufkit()).arg("quantize").arg(f16).arg(&out).args(["-t", ty, "--imatrix"]).arg(imatrix));
    let json = run(Command::new(ggufkit())
        .arg("validate")
        .arg(f16)
        .arg(&out)
        .arg("--text")
        .arg(corpus("eval-pydocs.txt"))
        .args(["--ctx", "128", "--chunks", "8", "--json"]));
    let v: serde_json::Value = serde_json::from_str(&json).expect("validate --json");
    v["files"][0]["stats"]["kld_mean"]["value"].as_f64().expect("kld_mean")
}

#[test]
fn quantizing_with_our_imatrix_is_as_good_as_with_llama_imatrix() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f16 = ref_converted("tiny-llama", "f16");
    let theirs = llama_imatrix("tiny-llama", "gguf");
    let mine = dir.path().join("ours.imatrix.gguf");
    ours(&fixture_model("tiny-llama"), &mine);
    for ty in ["IQ4_XS", "Q3_K_S"] {
        let (a, b) = (kld(&f16, ty, &mine, dir.path(), "ours"), kld(&f16, ty, &theirs, dir.path(), "theirs"));
        eprintln!("tiny-llama {ty}: mean KLD {a:.6} with our imatrix, {b:.6} with llama-imatrix's");
        assert!(a.is_finite() && b > 0.0 && (a - b).abs() <= 0.02 * b, "{ty}: KLD {a} (ours) vs {b} (llama-imatrix)");
    }
}

#[test]
fn a_calibration_text_shorter_than_two_windows_is_refused_up_front() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = dir.path().join("short.txt");
    std::fs::write(&text, "def main():\n    return 0\n").expect("write");
    let out = dir.path().join("m.imatrix.gguf");
    let o = Command::new(ggufkit())
        .arg("imatrix")
        .arg(fixture_model("tiny-llama"))
        .arg("--text")
        .arg(&text)
        .args(["--ctx", "128", "-o"])
        .arg(&out)
        .output()
        .expect("run ggufkit");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("at least two windows of --ctx 128 (256 tokens)"), "{err}");
    assert!(!out.exists());
}

/// `convert --calibrate`: one command from the HF folder to an i-quant, the same file as the pinned
/// llama-quantize makes from the reference F16 with the importance matrix it kept.
#[test]
fn convert_calibrate_equals_llama_quantize_with_the_matrix_it_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("m.gguf");
    run(Command::new(ggufkit())
        .arg("convert")
        .arg(fixture_model("tiny-llama"))
        .args(["-t", "IQ4_XS", "--calibrate"])
        .arg(corpus("calib.txt"))
        .args(["--calibrate-ctx", "128", "-o"])
        .arg(&out));
    let im = dir.path().join("tiny-llama.imatrix.gguf");
    assert!(im.is_file(), "--calibrate keeps its matrix next to the output");
    let reference = dir.path().join("reference.gguf");
    let f16 = ref_converted("tiny-llama", "f16");
    run(Command::new(ref_bin("llama-quantize")).arg("--imatrix").arg(&im).arg(&f16).arg(&reference).args(["IQ4_XS", "2"]));
    crate::convert_imatrix::compare(&out, &reference);
}
