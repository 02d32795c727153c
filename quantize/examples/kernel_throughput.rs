//! Quick throughput probe (1 thread, or KT_THREADS) of the kernels (not the benchmark: that is
//! scripts/bench-quantize.sh). Usage: `cargo run --release -p ggufkit-quantize --example
//! kernel_throughput [TYPE…]`. Input: 16 Mi pseudo-Gaussian values as F16 bytes, rows of 2048.

use std::time::Instant;

use quantize::{GgmlType, Source};

fn main() {
    let n_per_row = 2048usize;
    let rows = 8192usize;
    let mut s = 0x2545_F491_4F6C_DD1Du64;
    let mut next = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        ((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5
    };
    let f16: Vec<u8> = (0..n_per_row * rows)
        .flat_map(|_| {
            let v = (next() + next() + next()) * 0.05;
            quantize::fp::f32_to_f16(v).to_le_bytes()
        })
        .collect();
    // KT_DUMP=FILE writes the input (raw F16) for tests/py/ggml_throughput.py.
    if let Some(p) = std::env::var_os("KT_DUMP") {
        std::fs::write(p, &f16).expect("write KT_DUMP");
    }
    // The same weights as tests/py/ggml_throughput.py: (i mod 97)/97 + 0.1.
    let weights: Vec<f32> = (0..n_per_row).map(|i| (i % 97) as f32 / 97.0 + 0.1).collect();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let names: Vec<&str> = if args.is_empty() {
        vec!["q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q2_K", "q3_K", "q4_K", "q5_K", "q6_K", "f16", "bf16"]
    } else {
        args.iter().map(|s| s.as_str()).collect()
    };
    // KT_THREADS=N: threads of the rayon pool (default 1).
    let threads = std::env::var("KT_THREADS").ok().and_then(|v| v.parse().ok()).unwrap_or(1usize);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("thread pool");
    for name in names {
        let Some(ty) = GgmlType::from_name(name) else {
            eprintln!("unknown type {name}");
            continue;
        };
        for imatrix in [None, Some(weights.as_slice())] {
            let mut dst = vec![0u8; rows * ty.row_size(n_per_row as u64).unwrap_or(0) as usize];
            let t = Instant::now();
            let r = pool.install(|| quantize::quantize_tensor(ty, Source::F16(&f16), n_per_row, imatrix, &mut dst));
            let secs = t.elapsed().as_secs_f64();
            if let Err(e) = r {
                eprintln!("{name}: {e}");
                continue;
            }
            println!(
                "{:>5} {:9} {:8.1} MB/s of F16 input ({threads} thread(s))",
                ty.to_string(),
                if imatrix.is_some() { "imatrix" } else { "plain" },
                f16.len() as f64 / secs / 1e6
            );
        }
    }
}
