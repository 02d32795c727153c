//! Q5_0: blocks of 32 weights, one f16 scale, 5-bit symmetric quants (offset 16).
//! Layout: `d: f16, qh: [u8; 4] (5th bits, little-endian u32), qs: [u8; 16]`.

use super::common::{c_f32_to_i32, max_by_abs, read_f16, write_f16};

/// Elements per block.
pub const BLOCK: usize = 32;
/// Bytes per block.
pub const BYTES: usize = 22;

fn pack(l: &[u8; BLOCK], y: &mut [u8]) {
    let mut qh = 0u32;
    for j in 0..BLOCK / 2 {
        let (xi0, xi1) = (l[j], l[j + BLOCK / 2]);
        y[6 + j] = (xi0 & 0x0F) | ((xi1 & 0x0F) << 4);
        qh |= (((xi0 & 0x10) >> 4) as u32) << j;
        qh |= (((xi1 & 0x10) >> 4) as u32) << (j + BLOCK / 2);
    }
    y[2..6].copy_from_slice(&qh.to_le_bytes());
}

/// `quantize_row_q5_0_ref` for one block.
pub fn quantize_block(x: &[f32], y: &mut [u8]) {
    let (max, _) = max_by_abs(&x[..BLOCK]);
    let d = max / -16.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    write_f16(y, 0, d);
    let mut l = [0u8; BLOCK];
    for j in 0..BLOCK {
        l[j] = (c_f32_to_i32(x[j] * id + 16.5f32) as i8).min(31) as u8;
    }
    pack(&l, y);
}

/// `quantize_row_q5_0_impl` with importance weights, for one row.
pub fn quantize_row_weighted(x: &[f32], qw: &[f32], y: &mut [u8]) {
    super::symmetric_weighted_row(x, qw, y, 16, BYTES, |l, yb| {
        let lu: [u8; BLOCK] = std::array::from_fn(|j| l[j] as u8);
        pack(&lu, yb);
    });
}

/// `dequantize_row_q5_0` for one block.
pub fn dequantize_block(y: &[u8], out: &mut [f32]) {
    let d = read_f16(y, 0);
    let qh = u32::from_le_bytes([y[2], y[3], y[4], y[5]]);
    for j in 0..BLOCK / 2 {
        let xh0 = (((qh >> j) << 4) & 0x10) as i32;
        let xh1 = ((qh >> (j + 12)) & 0x10) as i32;
        let q = y[6 + j];
        out[j] = (((q & 0x0F) as i32 | xh0) - 16) as f32 * d;
        out[j + BLOCK / 2] = (((q >> 4) as i32 | xh1) - 16) as f32 * d;
    }
}
