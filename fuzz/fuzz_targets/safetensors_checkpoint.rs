//! Safetensors shards and their index: `Checkpoint::open` on a model folder made from the input,
//! then every tensor's bytes. Input: `INDEX\n--shard--\nSHARD1\n--shard--\nSHARD2`; without a
//! separator the input is a single `model.safetensors`.
#![no_main]
use ggufkit_fuzz::{input::Checkpoint, scratch_dir, split};
use libfuzzer_sys::fuzz_target;

const SEP: &[u8] = b"\n--shard--\n";
const FILES: [&str; 4] =
    ["model.safetensors", "model.safetensors.index.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"];

fuzz_target!(|data: &[u8]| {
    let dir = scratch_dir(&FILES);
    let (first, rest) = split(data, SEP);
    if rest.is_empty() && !data.ends_with(SEP) {
        std::fs::write(dir.join(FILES[0]), first).expect("write shard");
    } else {
        let (a, b) = split(rest, SEP);
        std::fs::write(dir.join(FILES[1]), first).expect("write index");
        std::fs::write(dir.join(FILES[2]), a).expect("write shard 1");
        std::fs::write(dir.join(FILES[3]), b).expect("write shard 2");
    }
    let Ok(ck) = Checkpoint::open(dir) else { return };
    let mut sum = 0usize;
    for t in ck.tensors() {
        sum = sum.wrapping_add(ck.data(t).len() + t.shape.iter().fold(0usize, |a, &d| a.wrapping_add(d)));
        let _ = ck.shard_path(t);
        ck.release(t);
    }
    std::hint::black_box(sum);
});
