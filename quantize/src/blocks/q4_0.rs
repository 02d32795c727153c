//! Q4_0: blocks of 32 weights, one f16 scale, 4-bit symmetric quants (offset 8).
//! Layout: `d: f16, qs: [u8; 16]` (low nibbles = elements 0..16, high nibbles = 16..32).

use super::common::{c_f32_to_i32, max_by_abs, read_f16, write_f16};

/// Elements per block.
pub const BLOCK: usize = 32;
/// Bytes per block.
pub const BYTES: usize = 18;

/// `quantize_row_q4_0_ref` for one block.
pub fn quantize_block(x: &[f32], y: &mut [u8]) {
    let (max, _) = max_by_abs(&x[..BLOCK]);
    let d = max / -8.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    write_f16(y, 0, d);
    for j in 0..BLOCK / 2 {
        let x0 = x[j] * id;
        let x1 = x[BLOCK / 2 + j] * id;
        let xi0 = (c_f32_to_i32(x0 + 8.5f32) as i8).min(15) as u8;
        let xi1 = (c_f32_to_i32(x1 + 8.5f32) as i8).min(15) as u8;
        y[2 + j] = xi0 | (xi1 << 4);
    }
}

/// `quantize_row_q4_0_impl` with importance weights, for one row.
pub fn quantize_row_weighted(x: &[f32], qw: &[f32], y: &mut [u8]) {
    super::symmetric_weighted_row(x, qw, y, 8, BYTES, |l, yb| {
        for j in 0..16 {
            yb[2 + j] = (l[j] as u8) | ((l[j + 16] as u8) << 4);
        }
    });
}

/// `dequantize_row_q4_0` for one block.
pub fn dequantize_block(y: &[u8], out: &mut [f32]) {
    let d = read_f16(y, 0);
    for j in 0..BLOCK / 2 {
        let q = y[2 + j];
        out[j] = ((q & 0x0F) as i32 - 8) as f32 * d;
        out[j + BLOCK / 2] = ((q >> 4) as i32 - 8) as f32 * d;
    }
}
