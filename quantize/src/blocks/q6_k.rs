//! Q6_K: super-blocks of 256 weights in 16 groups of 16; 6-bit quants (4 low bits + 2 high bits),
//! 8-bit signed group scales, one f16 super-block scale. Layout: `ql: [u8; 128], qh: [u8; 64],
//! scales: [i8; 16], d: f16`.

use super::common::{nearest_int, qx_16_groups, read_f16, requantize_group, write_f16, GROUP_MAX_EPS, QK_K};

/// Elements per block.
pub const BLOCK: usize = QK_K;
/// Bytes per block.
pub const BYTES: usize = 210;

const QH: usize = 128;
const SCALES: usize = 192;
const D: usize = 208;

/// `quantize_row_q6_K_ref` (`qw` = None) and `quantize_row_q6_K_impl` (`qw` = the block's 256
/// importance weights, used directly as make_qx_quants weights) for one block.
pub fn quantize_block_with(x: &[f32], qw: Option<&[f32]>, y: &mut [u8]) {
    let x = &x[..QK_K];
    let mut l = [0i8; QK_K];
    let mut scales = [0.0f32; 16];
    qx_16_groups(16, 32, x, qw.map(|q| &q[..QK_K]), &mut l, &mut scales);
    let (max_scale, max_abs_scale) = super::common::max_by_abs(&scales);
    if max_abs_scale < GROUP_MAX_EPS {
        y[..BYTES].fill(0);
        write_f16(y, D, 0.0);
        return;
    }
    let iscale = -128.0f32 / max_scale;
    write_f16(y, D, 1.0 / iscale);
    for ib in 0..16 {
        y[SCALES + ib] = nearest_int(iscale * scales[ib]).min(127) as i8 as u8;
    }
    let dd = read_f16(y, D);
    for j in 0..16 {
        let d = dd * (y[SCALES + j] as i8) as f32;
        if d == 0.0 {
            continue;
        }
        let mut q = [0u8; 16];
        requantize_group(&x[16 * j..16 * j + 16], 0.0, d, -32, 31, 32, &mut q);
        for ii in 0..16 {
            l[16 * j + ii] = q[ii] as i8;
        }
    }
    for (k, j) in (0..QK_K).step_by(128).enumerate() {
        for i in 0..32 {
            let q1 = l[j + i] as u8 & 0xF;
            let q2 = l[j + i + 32] as u8 & 0xF;
            let q3 = l[j + i + 64] as u8 & 0xF;
            let q4 = l[j + i + 96] as u8 & 0xF;
            y[64 * k + i] = q1 | (q3 << 4);
            y[64 * k + i + 32] = q2 | (q4 << 4);
            y[QH + 32 * k + i] = ((l[j + i] as u8) >> 4)
                | (((l[j + i + 32] as u8) >> 4) << 2)
                | (((l[j + i + 64] as u8) >> 4) << 4)
                | (((l[j + i + 96] as u8) >> 4) << 6);
        }
    }
}

/// `quantize_row_q6_K_ref` for one block.
pub fn quantize_block(x: &[f32], y: &mut [u8]) {
    quantize_block_with(x, None, y)
}

/// `quantize_row_q6_K_impl` (importance-weighted) for one block.
pub fn quantize_block_weighted(x: &[f32], qw: &[f32], y: &mut [u8]) {
    quantize_block_with(x, Some(qw), y)
}

/// `dequantize_row_q6_K` for one block.
pub fn dequantize_block(y: &[u8], out: &mut [f32]) {
    let d = read_f16(y, D);
    for n in 0..2 {
        let ql = &y[64 * n..64 * n + 64];
        let qh = &y[QH + 32 * n..QH + 32 * n + 32];
        let sc = &y[SCALES + 8 * n..SCALES + 8 * n + 8];
        let o = &mut out[128 * n..128 * n + 128];
        for i in 0..32 {
            let is = i / 16;
            let q1 = ((ql[i] & 0xF) | ((qh[i] & 3) << 4)) as i8 as i32 - 32;
            let q2 = ((ql[i + 32] & 0xF) | (((qh[i] >> 2) & 3) << 4)) as i8 as i32 - 32;
            let q3 = ((ql[i] >> 4) | (((qh[i] >> 4) & 3) << 4)) as i8 as i32 - 32;
            let q4 = ((ql[i + 32] >> 4) | (((qh[i] >> 6) & 3) << 4)) as i8 as i32 - 32;
            o[i] = d * (sc[is] as i8) as f32 * q1 as f32;
            o[i + 32] = d * (sc[is + 2] as i8) as f32 * q2 as f32;
            o[i + 64] = d * (sc[is + 4] as i8) as f32 * q3 as f32;
            o[i + 96] = d * (sc[is + 6] as i8) as f32 * q4 as f32;
        }
    }
}
