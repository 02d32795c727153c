//! Q8_0: blocks of 32 weights, one f16 scale, 8-bit symmetric quants. Ignores importance weights
//! (as ggml's `quantize_q8_0` does). Layout: `d: f16, qs: [i8; 32]`.

use super::common::{c_f32_to_i32, read_f16, write_f16};

/// Elements per block.
pub const BLOCK: usize = 32;
/// Bytes per block.
pub const BYTES: usize = 34;

/// `quantize_row_q8_0_ref` for one block.
#[inline]
pub fn quantize_block(x: &[f32], y: &mut [u8]) {
    let x = &x[..BLOCK];
    let mut amax = 0.0f32;
    for &v in x {
        let a = v.abs();
        amax = if amax > a { amax } else { a };
    }
    let d = amax / 127.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    write_f16(y, 0, d);
    for (q, &v) in y[2..2 + BLOCK].iter_mut().zip(x) {
        *q = c_f32_to_i32((v * id).round()) as i8 as u8;
    }
}

/// `dequantize_row_q8_0` for one block.
pub fn dequantize_block(y: &[u8], out: &mut [f32]) {
    let d = read_f16(y, 0);
    for j in 0..BLOCK {
        out[j] = (y[2 + j] as i8) as f32 * d;
    }
}
