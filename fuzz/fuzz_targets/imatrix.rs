//! Importance-matrix files: the GGUF format (`llama-imatrix` since 2025) and the legacy `.dat`.
//! Input starting with `GGUF` is read as GGUF, anything else as `.dat`.
#![no_main]
use libfuzzer_sys::fuzz_target;
use quantize::imatrix::ImatrixFile;

fuzz_target!(|data: &[u8]| {
    let m = if data.starts_with(b"GGUF") {
        let Ok(g) = gguf::GgufFile::from_bytes("fuzz.imatrix.gguf", data.to_vec()) else { return };
        ImatrixFile::from_gguf(&g)
    } else {
        ImatrixFile::from_legacy(std::path::Path::new("fuzz.imatrix.dat"), data)
    };
    let Ok(m) = m else { return };
    let names: Vec<String> = m.names().map(str::to_string).collect();
    for n in &names {
        std::hint::black_box(m.get(n).map(<[f32]>::len));
    }
    let _ = (m.first_non_finite(), m.chunk_count(), m.chunk_size(), m.datasets().len(), m.is_legacy());
});
