//! `ggufkit convert --imatrix` against `llama-quantize --imatrix` on the reference converter's F16
//! file: byte-identical tensors and equal metadata (incl. `quantize.imatrix.*`), with an importance
//! matrix made by the pinned llama-imatrix on calib.txt (GGUF and legacy .dat formats).

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// llama-imatrix on the reference F16 file of `model`, cached.
pub(crate) fn imatrix(model: &str, format: &str) -> PathBuf {
    imatrix_of(&ref_converted_fixture_f16(model), model, format)
}

/// llama-imatrix on a generated fixture's reference F16 file, cached with the spec's hash.
pub(crate) fn imatrix_generated(name: &str, format: &str) -> PathBuf {
    let f16 = ref_converted_generated_f16(name);
    let key =
        f16.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".ref-f16.gguf")).expect("generated F16 name").to_owned();
    imatrix_of(&f16, &key, format)
}

/// llama-imatrix on `f16` (calib.txt, ctx 128, 16 chunks), cached under `key`.
fn imatrix_of(f16: &Path, key: &str, format: &str) -> PathBuf {
    cached(&cache_dir().join(format!("convert-{key}-imatrix.{format}")), |tmp| {
        run(Command::new(ref_bin("llama-imatrix"))
            .arg("-m")
            .arg(f16)
            .arg("-f")
            .arg(corpus("calib.txt"))
            .args(["-c", "128", "--chunks", "16", "-t", "2", "--output-format", format, "-o"])
            .arg(tmp));
    })
}

pub(crate) fn compare(ours: &Path, reference: &Path) {
    let out = Command::new(ref_python())
        .arg(repo_root().join("tests/py/gguf_compare.py"))
        .arg(ours)
        .arg(reference)
        .arg("--order")
        .output()
        .expect("run gguf_compare.py");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains(" 0 differences"),
        "{} vs {}:\n{text}{}",
        ours.display(),
        reference.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn imatrix_conversions_match_llama_quantize() {
    for (model, format, types) in [
        (
            "tiny-llama",
            "gguf",
            &[
                "Q4_K_M", "Q2_K", "Q3_K_S", "Q5_K_S", "Q4_0", "Q6_K", "IQ4_XS", "IQ4_NL", "TQ2_0", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ1_S",
                "IQ1_M",
            ][..],
        ),
        ("tiny-gemma2", "gguf", &["Q4_K_M", "Q5_0", "IQ4_XS"][..]),
        ("tiny-llama", "dat", &["Q4_K_M", "Q4_1"][..]),
    ] {
        let im = imatrix(model, format);
        let f16 = ref_converted(model, "f16");
        for ty in types {
            let im_arg = im.to_str().expect("utf-8 path");
            let reference = ref_quantized(&f16, ty, &["--imatrix", im_arg], &format!("convert-{model}-ref-{ty}-imatrix-{format}.gguf"));
            let dir = cache_dir().join(format!("imatrix-{model}-{ty}-{format}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("mkdir");
            let ours = dir.join("m.gguf");
            run(Command::new(ggufkit()).arg("convert").arg(fixture_model(model)).args(["-t", ty, "--imatrix", im_arg, "-o"]).arg(&ours));
            compare(&ours, &reference);
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}

/// Mixtures of experts: each expert's matrix of a stacked `ffn_{gate,up,down}_exps` tensor is
/// quantized with its own slice of the importance matrix, as llama-quantize does. With
/// llama-imatrix's matrix (both formats) and with `ggufkit imatrix`'s (its `[n_in, n_expert]`
/// entries read by llama-quantize too), `ggufkit convert DIR --imatrix` and `ggufkit quantize
/// --imatrix` on the reference F16 equal `llama-quantize --imatrix` on that F16 byte for byte.
#[test]
fn moe_imatrix_conversions_match_llama_quantize() {
    let dir = tempfile::tempdir().expect("tempdir");
    for name in generated_moe() {
        let f16 = ref_converted_generated_f16(name);
        let ours_im = dir.path().join(format!("{name}.imatrix.gguf"));
        crate::imatrix_compute::ours(&generated_fixture(name), &ours_im);
        for (source, im) in [
            ("llama-imatrix-gguf", imatrix_generated(name, "gguf")),
            ("llama-imatrix-dat", imatrix_generated(name, "dat")),
            ("ggufkit", ours_im),
        ] {
            let im_arg = im.to_str().expect("utf-8 path");
            for ty in ["Q4_K_M", "IQ4_XS"] {
                let reference = dir.path().join(format!("{name}-{source}-{ty}-reference.gguf"));
                run(Command::new(ref_bin("llama-quantize")).args(["--imatrix", im_arg]).arg(&f16).arg(&reference).args([ty, "2"]));
                let converted = dir.path().join(format!("{name}-{source}-{ty}-convert.gguf"));
                run(Command::new(ggufkit())
                    .arg("convert")
                    .arg(generated_fixture(name))
                    .args(["-t", ty, "--imatrix", im_arg, "-o"])
                    .arg(&converted));
                compare(&converted, &reference);
                let quantized = dir.path().join(format!("{name}-{source}-{ty}-quantize.gguf"));
                run(Command::new(ggufkit()).arg("quantize").arg(&f16).arg(&quantized).args(["-t", ty, "--imatrix", im_arg]));
                compare(&quantized, &reference);
                eprintln!("{name} {ty} with {source}'s matrix: convert and quantize equal llama-quantize");
            }
        }
    }
}

/// `ggufkit convert DIR -t IQ4_XS --imatrix m.gguf` (byte-identical to the two-step path above)
/// loads in the pinned llama-completion and generates.
#[test]
fn iq4_xs_conversion_loads_in_llama_completion() {
    let im = imatrix("tiny-llama", "gguf");
    let dir = tempfile::tempdir().expect("tempdir");
    let ours = dir.path().join("m.gguf");
    run(Command::new(ggufkit())
        .arg("convert")
        .arg(fixture_model("tiny-llama"))
        .args(["-t", "IQ4_XS", "--imatrix"])
        .arg(&im)
        .arg("-o")
        .arg(&ours));
    // llama_tool_log: a failing exit panics with the log; a log that lost its tail (the pinned
    // llama.cpp does not flush its logger at exit) is run again.
    let log = llama_tool_log(
        "llama-completion",
        &|cmd| {
            cmd.arg("-m").arg(&ours).args(["-n", "8", "-p", "def main():", "-no-cnv", "--no-warmup", "-t", "2", "--temp", "0", "-lv", "4"]);
        },
        &["file type   = IQ4_XS"],
    );
    assert!(log.contains("file type   = IQ4_XS"), "llama-completion did not report the IQ4_XS file type:\n{log}");
}
