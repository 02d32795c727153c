//! Q8_K: super-blocks of 256 weights, 8-bit quants, an f32 scale and 16-element group sums
//! (the intermediate type of ggml's K-quant dot products). Layout: `d: f32, qs: [i8; 256],
//! bsums: [i16; 16]`. Ignores importance weights.

use super::common::{nearest_int, QK_K};

/// Elements per block.
pub const BLOCK: usize = QK_K;
/// Bytes per block.
pub const BYTES: usize = 292;

/// `quantize_row_q8_K_ref` for one block.
pub fn quantize_block(x: &[f32], y: &mut [u8]) {
    let x = &x[..QK_K];
    let (max, amax) = super::common::max_by_abs(x);
    if amax == 0.0 {
        // ggml zeroes d and qs but leaves bsums untouched; we write zeros (the sums of zeros).
        y[..BYTES].fill(0);
        return;
    }
    let iscale = -127.0f32 / max;
    for j in 0..QK_K {
        let v = nearest_int(iscale * x[j]);
        y[4 + j] = v.min(127) as i8 as u8;
    }
    for j in 0..16 {
        let mut sum = 0i32;
        for ii in 0..16 {
            sum += (y[4 + 16 * j + ii] as i8) as i32;
        }
        y[260 + 2 * j..262 + 2 * j].copy_from_slice(&(sum as i16).to_le_bytes());
    }
    y[0..4].copy_from_slice(&(1.0f32 / iscale).to_le_bytes());
}

/// `dequantize_row_q8_K` for one block.
pub fn dequantize_block(y: &[u8], out: &mut [f32]) {
    let d = f32::from_le_bytes([y[0], y[1], y[2], y[3]]);
    for j in 0..QK_K {
        out[j] = d * (y[4 + j] as i8) as f32;
    }
}
