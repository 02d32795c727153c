//! Q4_1: blocks of 32 weights, f16 scale and min, 4-bit unsigned quants.
//! Layout: `d: f16, m: f16, qs: [u8; 16]`.

use super::common::{c_f32_to_i32, read_f16, write_f16};

/// Elements per block.
pub const BLOCK: usize = 32;
/// Bytes per block.
pub const BYTES: usize = 20;

/// `quantize_row_q4_1_ref` for one block.
pub fn quantize_block(x: &[f32], y: &mut [u8]) {
    let mut min = f32::MAX;
    let mut max = -f32::MAX;
    for &v in &x[..BLOCK] {
        if v < min {
            min = v;
        }
        if v > max {
            max = v;
        }
    }
    let d = (max - min) / 15.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    write_f16(y, 0, d);
    write_f16(y, 2, min);
    for j in 0..BLOCK / 2 {
        let x0 = (x[j] - min) * id;
        let x1 = (x[BLOCK / 2 + j] - min) * id;
        let xi0 = (c_f32_to_i32(x0 + 0.5f32) as i8).min(15) as u8;
        let xi1 = (c_f32_to_i32(x1 + 0.5f32) as i8).min(15) as u8;
        y[4 + j] = xi0 | (xi1 << 4);
    }
}

/// `quantize_row_q4_1_impl` with importance weights, for one row.
pub fn quantize_row_weighted(x: &[f32], qw: &[f32], y: &mut [u8]) {
    super::asymmetric_weighted_row(x, qw, y, 15, BYTES, |l, yb| {
        for j in 0..16 {
            yb[4 + j] = l[j] | (l[j + 16] << 4);
        }
    });
}

/// `dequantize_row_q4_1` for one block.
pub fn dequantize_block(y: &[u8], out: &mut [f32]) {
    let d = read_f16(y, 0);
    let m = read_f16(y, 2);
    for j in 0..BLOCK / 2 {
        let q = y[4 + j];
        out[j] = (q & 0x0F) as f32 * d + m;
        out[j + BLOCK / 2] = (q >> 4) as f32 * d + m;
    }
}
