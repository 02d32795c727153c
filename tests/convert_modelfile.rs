//! The Ollama Modelfile: each conversion writes `<gguf-stem>.Modelfile` next to its GGUF, so two
//! types converted into one folder keep one Modelfile each, each pointing at its own file; its stop
//! parameter is the end-of-sequence token as gguf-py reads it from that GGUF.

mod common;

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
