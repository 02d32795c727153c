//! `llama-perplexity` (pinned build) on tests/fixtures/corpus/eval-pydocs.txt (`-c 256 --chunks 8`)
//! gives exactly the same PPL for our one-pass file as for llama.cpp's two-step file
//! (`convert_hf_to_gguf.py` [+ `llama-quantize`]), for F16, Q8_0 and Q4_K_M of tiny-llama and
//! tiny-gemma2.

use crate::common;

use std::path::Path;
use std::process::Command;

use common::*;

/// llama-perplexity's "Final estimate: PPL = X +/- Y" line, as printed (read through
/// [`llama_tool_log`]: a timeout, and more runs when the output lacks the line, since llama.cpp's
/// asynchronous logger has lost its last lines under load).
fn ppl(model: &Path) -> String {
    let marker = "Final estimate: PPL =";
    let text = llama_tool_log(
        "llama-perplexity",
        &|cmd| {
            cmd.arg("-m")
                .arg(model)
                .arg("-f")
                .arg(corpus("eval-pydocs.txt"))
                // --no-repack: the pinned build's CPU weight repacking crashes (SIGSEGV/SIGILL) on
                // every quantized file on this machine, llama.cpp's own files included.
                .args(["-c", "256", "--chunks", "8", "-t", "2", "--no-repack"]);
        },
        &[marker],
    );
    let line = text.lines().find(|l| l.contains(marker)).expect("llama_tool_log checked the marker");
    line[line.find("PPL =").expect("PPL")..].trim().to_string()
}

#[test]
fn same_perplexity_as_llama_cpp_two_step() {
    for model in ["tiny-llama", "tiny-gemma2"] {
        let f16 = ref_converted(model, "f16");
        for ty in ["F16", "Q8_0", "Q4_K_M"] {
            let reference = if ty == "F16" { f16.clone() } else { ref_quantized(&f16, ty, &[], &format!("{model}-ref-{ty}.gguf")) };
            let dir = cache_dir().join(format!("ppl-{model}-{ty}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("mkdir");
            let ours = dir.join("m.gguf");
            run(Command::new(ggufkit()).arg("convert").arg(fixture_model(model)).arg("-t").arg(ty).arg("-o").arg(&ours));
            let (a, b) = (ppl(&ours), ppl(&reference));
            eprintln!("{model} {ty}: ours {a}, llama.cpp {b}");
            assert_eq!(a, b, "{model} {ty}: perplexity differs");
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}
