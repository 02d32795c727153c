//! tokenizer.json conversion (byte-level BPE, llama HF BPE, pre-tokenizer recognition, special
//! tokens). Input: one byte choosing the architecture, then tokenizer.json; an optional
//! `\n--config--\n` part is tokenizer_config.json.
#![no_main]
use ggufkit_fuzz::{scratch_dir, split, tokenizer};
use libfuzzer_sys::fuzz_target;

const ARCHS: [&str; 4] = ["qwen2", "llama", "phi2", "phi3"];

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else { return };
    let dir = scratch_dir(&["tokenizer.json", "tokenizer_config.json"]);
    let (tj, tc) = split(rest, b"\n--config--\n");
    std::fs::write(dir.join("tokenizer.json"), tj).expect("write tokenizer.json");
    if !tc.is_empty() {
        std::fs::write(dir.join("tokenizer_config.json"), tc).expect("write tokenizer_config.json");
    }
    let arch = ARCHS[which as usize % ARCHS.len()];
    if let Ok(kv) = tokenizer::gguf_metadata(dir, &serde_json::json!({}), arch) {
        std::hint::black_box(kv.len());
    }
});
