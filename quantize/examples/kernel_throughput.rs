//! Quick throughput probe (1 thread, or KT_THREADS) of the kernels (not the whole-command
//! benchmark: that is scripts/bench-quantize.sh, which also runs this probe next to
//! tests/py/ggml_throughput.py). Usage: `cargo run --release -p ggufkit-quantize --example
//! kernel_throughput [TYPE…]`. Input: 16 Mi pseudo-Gaussian values as F16 bytes, rows of 2048.
//!
//! Environment: KT_THREADS=N (rayon threads, default 1), KT_REPS=N (best of N, default 3),
//! KT_MODE=plain|imatrix|both (default both), KT_DUMP=FILE (write the raw F16 input for
//! tests/py/ggml_throughput.py), KT_ROWS=N (rows of 2048 values, default 8192: 32 MB of F16; fewer
//! for the slow i-quants on a loaded machine). Prints MB/s of F16 input by wall time and by CPU time of the
//! process (the sum over its threads, from /proc/self/task/*/schedstat), the latter being the
//! fair per-thread figure on a loaded machine.

use std::time::Instant;

use quantize::{GgmlType, Source};

mod common;
use common::cpu_seconds;

fn main() {
    let n_per_row = 2048usize;
    let rows = std::env::var("KT_ROWS").ok().and_then(|v| v.parse().ok()).unwrap_or(8192usize);
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
    let env_num = |k: &str, d: usize| std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d);
    let threads = env_num("KT_THREADS", 1);
    let reps = env_num("KT_REPS", 3).max(1);
    let mode = std::env::var("KT_MODE").unwrap_or_else(|_| "both".into());
    let modes: Vec<Option<&[f32]>> = match mode.as_str() {
        "plain" => vec![None],
        "imatrix" => vec![Some(weights.as_slice())],
        _ => vec![None, Some(weights.as_slice())],
    };
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("thread pool");
    for name in names {
        let Some(ty) = GgmlType::from_name(name) else {
            eprintln!("unknown type {name}");
            continue;
        };
        for imatrix in modes.iter().copied() {
            let mut dst = vec![0u8; rows * ty.row_size(n_per_row as u64).unwrap_or(0) as usize];
            let (mut best_wall, mut best_cpu) = (f64::INFINITY, f64::INFINITY);
            for _ in 0..reps {
                let c0 = cpu_seconds();
                let t = Instant::now();
                let r = pool.install(|| quantize::quantize_tensor(ty, Source::F16(&f16), n_per_row, imatrix, &mut dst));
                let wall = t.elapsed().as_secs_f64();
                if let Err(e) = r {
                    // IQ2_XXS/IQ2_XS without importance weights: refused, as ggml refuses them.
                    eprintln!("{name}: {e}");
                    break;
                }
                best_wall = best_wall.min(wall);
                if let (Some(a), Some(b)) = (c0, cpu_seconds()) {
                    best_cpu = best_cpu.min(b - a);
                }
            }
            if best_wall.is_infinite() {
                continue;
            }
            let mb = f16.len() as f64 / 1e6;
            println!(
                "ours {:>5} {:8} {:9.1} MB/s wall {:9.1} MB/s cpu of F16 input ({threads} thread(s), best of {reps})",
                ty.to_string(),
                if imatrix.is_some() { "imatrix" } else { "plain" },
                mb / best_wall,
                mb / best_cpu
            );
        }
    }
}
