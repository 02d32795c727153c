//! The GGUF reader: header, metadata, tensor infos and tensor data access of arbitrary bytes; and
//! validate's tokenizer rebuilt from the file's vocabulary keys (`validate::vocab`), used once.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(f) = gguf::GgufFile::from_bytes("fuzz.gguf", data.to_vec()) else { return };
    let _ = (f.version(), f.alignment(), f.data_offset(), f.file_len());
    for (k, v) in f.metadata() {
        let _ = (f.get(k), v.as_str());
    }
    let mut sum = 0u64;
    for t in f.tensors() {
        let bytes = f.tensor_data(t);
        sum = sum.wrapping_add(bytes.first().copied().unwrap_or(0) as u64 + bytes.len() as u64);
        let _ = f.tensor(&t.name);
    }
    std::hint::black_box(sum);
    if let Ok(tok) = validate::vocab::GgufVocab::read(&f).and_then(|v| v.tokenizer()) {
        std::hint::black_box(tok.encode("Hello  world\n<s> 12345 \u{1f999}", true).map(|e| e.len()).ok());
    }
});
