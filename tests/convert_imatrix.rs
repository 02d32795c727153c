//! `ggufkit convert --imatrix` against `llama-quantize --imatrix` on the reference converter's F16
//! file: byte-identical tensors and equal metadata (incl. `quantize.imatrix.*`), with an importance
//! matrix made by the pinned llama-imatrix on calib.txt (GGUF and legacy .dat formats).

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// llama-imatrix on the reference F16 file of `model`, cached.
pub(crate) fn imatrix(model: &str, format: &str) -> PathBuf {
    let f16 = ref_converted_fixture_f16(model);
    cached(&cache_dir().join(format!("convert-{model}-imatrix.{format}")), |tmp| {
        run(Command::new(ref_bin("llama-imatrix"))
            .arg("-m")
            .arg(&f16)
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
