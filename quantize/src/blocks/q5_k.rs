//! Q5_K: super-blocks of 256 weights in 8 groups of 32; 5-bit quants (4 low bits + high-bit
//! plane), 6-bit group scales and mins, f16 super-block scales. Layout: `d: f16, dmin: f16,
//! scales: [u8; 12], qh: [u8; 32], qs: [u8; 128]`.

use super::common::{get_scale_min_k4, read_f16, QK_K};
use super::q4_k::{ref_scales, requantize, weighted_scales};

/// Elements per block.
pub const BLOCK: usize = QK_K;
/// Bytes per block.
pub const BYTES: usize = 176;

const QH: usize = 16;
const QS: usize = 48;

fn pack(l: &[u8; QK_K], y: &mut [u8]) {
    y[QH..QH + 32].fill(0);
    let (mut m1, mut m2) = (1u8, 2u8);
    for (k, n) in (0..QK_K).step_by(64).enumerate() {
        for j in 0..32 {
            let mut l1 = l[n + j];
            if l1 > 15 {
                l1 -= 16;
                y[QH + j] |= m1;
            }
            let mut l2 = l[n + j + 32];
            if l2 > 15 {
                l2 -= 16;
                y[QH + j] |= m2;
            }
            y[QS + 32 * k + j] = l1 | (l2 << 4);
        }
        m1 <<= 2;
        m2 <<= 2;
    }
}

/// `quantize_row_q5_K_ref` for one block.
pub fn quantize_block(x: &[f32], y: &mut [u8]) {
    let x = &x[..QK_K];
    let mut l = [0u8; QK_K];
    ref_scales(x, 31, -0.5, 15, y, &mut l);
    requantize(x, y, 31, &mut l);
    pack(&l, y);
}

/// `quantize_row_q5_K_impl` (importance-weighted) for one block; `qw` has 256 weights.
pub fn quantize_block_weighted(x: &[f32], qw: &[f32], y: &mut [u8]) {
    let x = &x[..QK_K];
    let mut l = [0u8; QK_K];
    weighted_scales(x, qw, 31, true, y, &mut l);
    requantize(x, y, 31, &mut l);
    pack(&l, y);
}

/// `dequantize_row_q5_K` for one block.
pub fn dequantize_block(y: &[u8], out: &mut [f32]) {
    let d = read_f16(y, 0);
    let min = read_f16(y, 2);
    let qh = &y[QH..QH + 32];
    let (mut u1, mut u2) = (1u8, 2u8);
    for n in 0..4 {
        let ql = &y[QS + 32 * n..QS + 32 * n + 32];
        let (sc, m) = get_scale_min_k4(2 * n, &y[4..16]);
        let (d1, m1) = (d * sc as f32, min * m as f32);
        let (sc, m) = get_scale_min_k4(2 * n + 1, &y[4..16]);
        let (d2, m2) = (d * sc as f32, min * m as f32);
        for i in 0..32 {
            let v = (ql[i] & 0xF) as i32 + if qh[i] & u1 != 0 { 16 } else { 0 };
            out[64 * n + i] = d1 * v as f32 - m1;
        }
        for i in 0..32 {
            let v = (ql[i] >> 4) as i32 + if qh[i] & u2 != 0 { 16 } else { 0 };
            out[64 * n + 32 + i] = d2 * v as f32 - m2;
        }
        u1 <<= 2;
        u2 <<= 2;
    }
}
