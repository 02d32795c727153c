//! The Ollama Modelfile: each conversion writes `<gguf-stem>.Modelfile` next to its GGUF, so two
//! types converted into one folder keep one Modelfile each, each pointing at its own file; its stop
//! parameter is the end-of-sequence token as gguf-py reads it from that GGUF.

use crate::common;

use std::path::Path;
use std::process::Command;

use common::*;

/// The EOS token's text in a GGUF, read by gguf-py.
fn eos_token(gguf: &Path) -> String {
    let script = "import sys, gguf\n\
                  r = gguf.GGUFReader(sys.argv[1])\n\
                  eos = int(r.get_field('tokenizer.ggml.eos_token_id').contents())\n\
                  sys.stdout.write(r.get_field('tokenizer.ggml.tokens').contents()[eos])\n";
    run(Command::new(ref_python()).arg("-c").arg(script).arg(gguf))
}

#[test]
fn one_modelfile_per_conversion_in_a_shared_folder() {
    let dir = cache_dir().join(format!("modelfile-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create output folder");
    let types = ["Q8_0", "Q4_0"];
    for ty in types {
        run(Command::new(ggufkit()).arg("convert").arg(fixture_model("tiny-llama")).arg("-t").arg(ty).arg("-o").arg(&dir));
    }
    for ty in types {
        let gguf = dir.join(format!("tiny-llama-{ty}.gguf"));
        let modelfile = dir.join(format!("tiny-llama-{ty}.Modelfile"));
        let text = std::fs::read_to_string(&modelfile).unwrap_or_else(|e| panic!("{}: {e}", modelfile.display()));
        assert_eq!(text.lines().next(), Some(format!("FROM ./tiny-llama-{ty}.gguf").as_str()), "{}:\n{text}", modelfile.display());
        assert!(gguf.is_file(), "{} names a missing file", modelfile.display());
        let eos = eos_token(&gguf);
        assert!(!eos.is_empty(), "no EOS token text in {}", gguf.display());
        let stop = format!("PARAMETER stop \"{}\"", eos.replace('\\', "\\\\").replace('"', "\\\""));
        assert!(text.lines().any(|l| l == stop), "{} lacks `{stop}`:\n{text}", modelfile.display());
    }
    assert!(!dir.join("Modelfile").exists(), "a shared `Modelfile` was written");
    let _ = std::fs::remove_dir_all(&dir);
}

/// No `num_ctx` unless asked (a pinned one turns off Ollama's own choice); `--num-ctx N`,
/// `--num-ctx plan` (plan's largest context for this type in `--vram`, capped at the training
/// context) and `--system` write what they say.
#[test]
fn num_ctx_and_system_only_when_asked() {
    let dir = cache_dir().join(format!("modelfile-numctx-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create output folder");
    let model = fixture_model("tiny-llama");
    let modelfile = |extra: &[&str], name: &str| -> String {
        let out = dir.join(format!("{name}.gguf"));
        run(Command::new(ggufkit()).arg("convert").arg(&model).args(["-t", "Q8_0"]).args(extra).arg("-o").arg(&out));
        std::fs::read_to_string(dir.join(format!("{name}.Modelfile"))).expect("Modelfile")
    };
    let plain = modelfile(&[], "plain");
    assert!(!plain.contains("num_ctx") && !plain.contains("SYSTEM"), "{plain}");
    let fixed = modelfile(&["--num-ctx", "1536", "--system", "You are \"terse\"."], "fixed");
    assert!(fixed.lines().any(|l| l == "PARAMETER num_ctx 1536"), "{fixed}");
    assert!(fixed.contains("SYSTEM \"\"\"You are \"terse\".\"\"\""), "Ollama's parser has no escapes: {fixed}");
    let planned = modelfile(&["--num-ctx", "plan", "--vram", "1GiB"], "planned");
    let plan: serde_json::Value =
        serde_json::from_str(&run(Command::new(ggufkit()).arg("plan").arg(&model).args(["--vram", "1GiB", "--types", "Q8_0", "--json"])))
            .expect("plan JSON");
    let max = plan["rows"][0]["max_ctx"].as_u64().expect("max_ctx").min(plan["n_ctx_train"].as_u64().expect("n_ctx_train"));
    assert!(planned.lines().any(|l| l == format!("PARAMETER num_ctx {max}")), "expected num_ctx {max}:\n{planned}");
    let _ = std::fs::remove_dir_all(&dir);
}
