//! TQ2_0: ternary super-blocks of 256 weights (levels -1, 0, 1 times an f16 scale, the absolute
//! maximum), 2 bits per element (stored `level + 1`). Layout: `qs: [u8; 64], d: f16`; byte `m`
//! of each 32-byte run holds elements `m, m+32, m+64, m+96` of its 128, lowest bits first.
//! Ignores importance weights.

use super::common::{read_f16, write_f16, QK_K};
use super::tq1_0::ternary_scale;

/// Elements per block.
pub const BLOCK: usize = QK_K;
/// Bytes per block.
pub const BYTES: usize = 66;

/// `quantize_row_tq2_0_ref` for one block (llama-quantize's path with or without an imatrix).
pub fn quantize_block(x: &[f32], y: &mut [u8]) {
    let (d, id) = ternary_scale(x);
    for (h, xs) in x[..QK_K].chunks_exact(128).enumerate() {
        for m in 0..32 {
            let mut q = 0u8;
            for n in 0..4 {
                // lroundf: halves away from zero, as f32::round; the values lie in [-1, 1].
                let xi = (xs[m + 32 * n] * id).round() as i32 + 1;
                q += ((xi & 3) as u8) << (2 * n);
            }
            y[32 * h + m] = q;
        }
    }
    write_f16(y, QK_K / 4, d);
}

/// `dequantize_row_tq2_0` for one block.
pub fn dequantize_block(y: &[u8], out: &mut [f32]) {
    let d = read_f16(y, QK_K / 4);
    for (h, o) in out[..QK_K].chunks_exact_mut(128).enumerate() {
        for n in 0..4 {
            for m in 0..32 {
                o[32 * n + m] = (((y[32 * h + m] >> (2 * n)) & 3) as f32 - 1.0) * d;
            }
        }
    }
}
