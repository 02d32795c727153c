//! Quick throughput probe of `quantize::dot::matmul` (the quantized matmul of `ggufkit validate`
//! on the CPU) on Qwen2.5-1.5B's block shapes: `ffn_gate` (8960 × 1536) and `ffn_down`
//! (1536 × 8960), as Q4_K and as Q6_K, times 512 activation rows (one window of ctx 512).
//! Usage: `cargo run --release -p ggufkit-quantize --example matmul_throughput`.
//!
//! Environment: MT_THREADS=N (rayon threads, default 1), MT_REPS=N (best of N, default 3),
//! MT_ROWS=N (activation rows, default 512). Prints giga multiply-adds per second by wall time
//! and by CPU time of the process (the sum over its threads, from /proc/self/task/*/schedstat),
//! the latter being the fair per-thread figure on a loaded machine.

use std::time::Instant;

use quantize::GgmlType;

mod common;
use common::cpu_seconds;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    let threads = env("MT_THREADS", 1);
    let reps = env("MT_REPS", 3);
    let m = env("MT_ROWS", 512);
    rayon::ThreadPoolBuilder::new().num_threads(threads).build_global().expect("rayon pool");
    let mut s = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        ((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5
    };
    for (name, n, k) in [("ffn_gate", 8960usize, 1536usize), ("ffn_down", 1536, 8960)] {
        let w: Vec<f32> = (0..n * k).map(|_| next() * 0.1).collect();
        let x: Vec<f32> = (0..m * k).map(|_| next()).collect();
        for ty in [GgmlType::Q4_K, GgmlType::Q6_K] {
            let mut blocks = vec![0u8; n * ty.row_size(k as u64).expect("row size") as usize];
            quantize::quantize_rows(ty, &w, k, None, &mut blocks).expect("quantize");
            let (mut best_wall, mut best_cpu) = (f64::MAX, f64::MAX);
            for _ in 0..reps {
                let (t0, c0) = (Instant::now(), cpu_seconds().unwrap_or(0.0));
                let a = quantize::dot::quantize_q8_k(&x, k);
                let y = quantize::dot::matmul(ty, &blocks, n, k, &a, m);
                std::hint::black_box(&y);
                best_wall = best_wall.min(t0.elapsed().as_secs_f64());
                best_cpu = best_cpu.min(cpu_seconds().unwrap_or(0.0) - c0);
            }
            let gmac = (m * n * k) as f64 / 1e9;
            println!(
                "{name} {:>5} [{n} x {k}] x {m} rows, {threads} thread(s): {:6.1} GMAC/s wall, {:6.1} GMAC/s per CPU-second",
                ty.name(),
                gmac / best_wall,
                gmac / best_cpu
            );
        }
    }
}
