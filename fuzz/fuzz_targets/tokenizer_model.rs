//! tokenizer.model (SentencePiece protobuf) decoding and conversion. Input: one byte choosing the
//! architecture, then tokenizer.model.
#![no_main]
use ggufkit_fuzz::{scratch_dir, tokenizer};
use libfuzzer_sys::fuzz_target;

const ARCHS: [&str; 3] = ["llama", "gemma2", "phi3"];

fuzz_target!(|data: &[u8]| {
    let Some((&which, model)) = data.split_first() else { return };
    if tokenizer::sentencepiece::decode_model(model).is_err() {
        return;
    }
    let dir = scratch_dir(&["tokenizer.model"]);
    std::fs::write(dir.join("tokenizer.model"), model).expect("write tokenizer.model");
    let arch = ARCHS[which as usize % ARCHS.len()];
    if let Ok(kv) = tokenizer::gguf_metadata(dir, &serde_json::json!({}), arch) {
        std::hint::black_box(kv.len());
    }
});
