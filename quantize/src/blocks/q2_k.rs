//! Q2_K: super-blocks of 256 weights in 16 groups of 16; 2-bit quants, per-group 4-bit scale
//! and min, f16 super-block scales. Layout: `scales: [u8; 16] (scale | min << 4), qs: [u8; 64],
//! d: f16, dmin: f16`.

use super::common::{make_qp_quants, nearest_int, read_f16, requantize_group, write_f16, QK_K};
use super::q4_k::qkx_8_groups;

/// Elements per block.
pub const BLOCK: usize = QK_K;
/// Bytes per block.
pub const BYTES: usize = 84;

const D: usize = 80;
const DMIN: usize = 82;

/// Requantizes with the stored scales and packs the 2-bit quants.
fn finish(x: &[f32], l: &mut [u8; QK_K], y: &mut [u8]) {
    let dm = read_f16(y, D);
    let mm = read_f16(y, DMIN);
    for j in 0..QK_K / 16 {
        let d = dm * (y[j] & 0xF) as f32;
        if d == 0.0 {
            continue;
        }
        let m = mm * (y[j] >> 4) as f32;
        requantize_group(&x[16 * j..16 * j + 16], m, d, 0, 3, 0, &mut l[16 * j..16 * j + 16]);
    }
    for j in (0..QK_K).step_by(128) {
        for i in 0..32 {
            y[16 + j / 4 + i] = l[j + i] | (l[j + i + 32] << 2) | (l[j + i + 64] << 4) | (l[j + i + 96] << 6);
        }
    }
}

/// `quantize_row_q2_K_ref` for one block.
pub fn quantize_block(x: &[f32], y: &mut [u8]) {
    let x = &x[..QK_K];
    let mut l = [0u8; QK_K];
    let mut laux = [0u8; 16];
    let mut mins = [0.0f32; QK_K / 16];
    let mut scales = [0.0f32; QK_K / 16];
    let q4scale = 15.0f32;
    let mut max_scale = 0.0f32;
    let mut max_min = 0.0f32;
    let weights: [f32; QK_K] = std::array::from_fn(|i| x[i].abs());
    for h in 0..2 {
        let r = 128 * h..128 * h + 128;
        qkx_8_groups(
            16,
            3,
            &x[r.clone()],
            &weights[r.clone()],
            -0.5,
            0.1,
            15,
            true,
            &mut l[r],
            &mut laux,
            &mut scales[8 * h..],
            &mut mins[8 * h..],
        );
    }
    for j in 0..QK_K / 16 {
        let (s, m) = (scales[j], mins[j]);
        if s > max_scale {
            max_scale = s;
        }
        if m > max_min {
            max_min = m;
        }
    }
    if max_scale > 0.0 {
        let iscale = q4scale / max_scale;
        for j in 0..QK_K / 16 {
            y[j] = nearest_int(iscale * scales[j]) as u8;
        }
        write_f16(y, D, max_scale / q4scale);
    } else {
        y[..QK_K / 16].fill(0);
        write_f16(y, D, 0.0);
    }
    if max_min > 0.0 {
        let iscale = q4scale / max_min;
        for j in 0..QK_K / 16 {
            let v = nearest_int(iscale * mins[j]);
            y[j] |= (v << 4) as u8;
        }
        write_f16(y, DMIN, max_min / q4scale);
    } else {
        write_f16(y, DMIN, 0.0);
    }
    finish(x, &mut l, y);
}

/// `quantize_row_q2_K_impl` (importance-weighted) for one block; `qw` has 256 weights.
pub fn quantize_block_weighted(x: &[f32], qw: &[f32], y: &mut [u8]) {
    let x = &x[..QK_K];
    let mut l = [0u8; QK_K];
    let mut laux = [0u8; 16];
    let mut mins = [0.0f32; QK_K / 16];
    let mut scales = [0.0f32; QK_K / 16];
    let mut sw = [0.0f32; QK_K / 16];
    let mut weight = [0.0f32; QK_K];
    let mut ls = [0u8; QK_K / 16];
    let mut lm = [0u8; QK_K / 16];
    let mut sumx2 = 0.0f32;
    for &v in x {
        sumx2 += v * v;
    }
    let sigma2 = sumx2 / QK_K as f32;
    for j in 0..QK_K / 16 {
        let xs = &x[16 * j..16 * j + 16];
        let q = &qw[16 * j..16 * j + 16];
        let wj = &mut weight[16 * j..16 * j + 16];
        for i in 0..16 {
            wj[i] = q[i] * (sigma2 + xs[i] * xs[i]).sqrt();
        }
        for &w in wj.iter() {
            sw[j] += w;
        }
    }
    for h in 0..2 {
        let r = 128 * h..128 * h + 128;
        qkx_8_groups(
            16,
            3,
            &x[r.clone()],
            &weight[r.clone()],
            -0.9,
            0.05,
            36,
            false,
            &mut l[r],
            &mut laux,
            &mut scales[8 * h..],
            &mut mins[8 * h..],
        );
    }
    let dm = make_qp_quants(15, &scales, &mut ls, &sw);
    let mm = make_qp_quants(15, &mins, &mut lm, &sw);
    write_f16(y, D, dm);
    write_f16(y, DMIN, mm);
    for j in 0..QK_K / 16 {
        y[j] = ls[j] | (lm[j] << 4);
    }
    finish(x, &mut l, y);
}

/// `dequantize_row_q2_K` for one block.
pub fn dequantize_block(y: &[u8], out: &mut [f32]) {
    let d = read_f16(y, D);
    let min = read_f16(y, DMIN);
    let mut is = 0;
    let mut o = 0;
    for n in 0..QK_K / 128 {
        let q = &y[16 + 32 * n..16 + 32 * n + 32];
        let mut shift = 0;
        for _j in 0..4 {
            for half in 0..2 {
                let sc = y[is];
                is += 1;
                let dl = d * (sc & 0xF) as f32;
                let ml = min * (sc >> 4) as f32;
                for i in 0..16 {
                    out[o] = dl * (((q[16 * half + i] >> shift) & 3) as i8) as f32 - ml;
                    o += 1;
                }
            }
            shift += 2;
        }
    }
}
