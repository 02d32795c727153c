//! validate's reference log-probability file (llama-perplexity's `--kl-divergence-base` format):
//! header, tokens, then every chunk's rows, through `validate::logits_file::LogitsReader`.
#![no_main]
use ggufkit_fuzz::scratch_dir;
use libfuzzer_sys::fuzz_target;
use validate::logits_file::{row_len, scored_per_chunk, LogitsReader};

fuzz_target!(|data: &[u8]| {
    let path = scratch_dir(&["ref.kld"]).join("ref.kld");
    std::fs::write(&path, data).expect("write the logits file");
    let Ok(mut r) = LogitsReader::open(&path) else { return };
    if r.n_chunk == 0 {
        return; // no rows to read (and the header's sizes were then not bounded by the file)
    }
    // the header was checked against the file size, so the rows are bounded by the input length
    let mut rows = vec![0u16; scored_per_chunk(r.n_ctx) * row_len(r.n_vocab)];
    for _ in 0..r.n_chunk {
        if r.read_rows(&mut rows).is_err() {
            return;
        }
    }
    std::hint::black_box(rows.first());
});
