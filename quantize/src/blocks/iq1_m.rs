//! IQ1_M: super-blocks of 256 weights in 16 groups of 16, each group 2 points of the IQ1_S grid
//! (8 values in {-1, 0, 1}), each point shifted by +δ or -δ (δ = 1/8) on its own, and a 3-bit
//! scale; an f16 super-block scale spread over the scales' top nibbles. Layout: `qs: [u8; 32]`
//! (low 8 bits of the grid indices), `qh: [u8; 16]` (one per group: bits 8..11 of its two indices
//! in bits 0..3 and 4..7, the shifts' signs in bits 3 and 7), `scales: [u16; 4]` (little endian:
//! four 3-bit group scales in bits 0..12, a nibble of the f16 scale in 12..16, lowest first).
//!
//! As IQ1_S, each group's levels come from an exhaustive search of the two boundaries that split
//! its sorted values into -1, 0 and +1, here with the sign of each half's shift chosen too
//! (`quantize_row_iq1_m_impl`). Without importance weights ggml weighs each value by `x²`.

use super::common::{nearest_int, QK_K};
use super::iq1_s::{abs_max, ascending, grid, grid_points, split_levels, DELTA, X_M, X_P};
use super::row_sigma2;
use crate::fp;

/// Elements per block.
pub const BLOCK: usize = QK_K;
/// Bytes per block.
pub const BYTES: usize = 56;

const QH: usize = QK_K / 8;
const SCALES: usize = QH + QK_K / 16;

/// Groups with a largest magnitude below this are zero (`GROUP_MAX_EPS_IQ1_M`).
const GROUP_MAX_EPS: f32 = 1e-7;
/// The `qh` bits of a group's shift choice `k` (0: +,+; 1: +,-; 2: -,+; 3: -,-).
const MASKS: [u8; 4] = [0x00, 0x80, 0x08, 0x88];
/// Values per group.
const B: usize = 16;

/// The shifted level values of point `k` (0 or 1) of a group with shift choice `shift`.
fn shifted(shift: usize, k: usize) -> &'static [f32; 3] {
    let minus = if k == 0 { shift >= 2 } else { shift % 2 == 1 };
    if minus {
        &X_M
    } else {
        &X_P
    }
}

/// The weights of one group: `qw · sqrt(σ² + x²)`, or `x²` without importance weights.
fn group_weights(xb: &[f32], qw: Option<&[f32]>, sigma2: f32, weight: &mut [f32; B]) {
    for i in 0..B {
        weight[i] = match qw {
            Some(qw) => qw[i] * (sigma2 + xb[i] * xb[i]).sqrt(),
            None => xb[i] * xb[i],
        };
    }
}

/// `quantize_row_iq1_m_impl` for one super-block, with importance weights `qw` (256) or without.
/// `simd`: the split search and the neighbour search with AVX2 when available (the same bytes
/// as the scalar reference).
fn quantize(x: &[f32], qw: Option<&[f32]>, y: &mut [u8], simd: bool) {
    let g = grid();
    let x = &x[..QK_K];
    let y = &mut y[..BYTES];
    y.fill(0);
    let sigma2 = 2.0 * row_sigma2(x) / QK_K as f32;
    let mut scales = [0.0f32; QK_K / B];
    let mut shifts = [0usize; QK_K / B];
    let mut max_scale = 0.0f32;
    let mut weight = [0.0f32; B];
    let mut order = [0usize; B];
    let mut l = [0i8; B];
    let (p2, m2) = (X_P[2], X_M[2]);
    let cp1 = X_P[0] * X_P[0] - X_P[1] * X_P[1];
    let cp2 = X_P[1] * X_P[1] - X_P[2] * X_P[2];
    let cm1 = X_M[0] * X_M[0] - X_M[1] * X_M[1];
    let cm2 = X_M[1] * X_M[1] - X_M[2] * X_M[2];
    for ib in 0..QK_K / B {
        let xb = &x[B * ib..B * ib + B];
        group_weights(xb, qw.map(|w| &w[B * ib..B * ib + B]), sigma2, &mut weight);
        let max = abs_max(xb);
        if max < GROUP_MAX_EPS {
            continue;
        }
        ascending(xb, &mut order);
        // Prefix sums per half (each half has its own shift): with v0 − v1 = v1 − v2 = −1 for both
        // shifts, a split's Σ w·x·q is T·v2 − px[i1] − px[i2].
        // (Padded for the 8-split chunks of the AVX2 search.)
        let (mut px, mut pw) = ([[0.0f32; B + 8]; 2], [[0.0f32; B + 8]; 2]);
        for (j, &i) in order.iter().enumerate() {
            let h = usize::from(i >= B / 2);
            px[h][j + 1] = px[h][j] + weight[i] * xb[i];
            px[1 - h][j + 1] = px[1 - h][j];
            pw[h][j + 1] = pw[h][j] + weight[i];
            pw[1 - h][j + 1] = pw[1 - h][j];
        }
        let txs = [px[0][B], px[1][B]];
        let tws = [pw[0][B], pw[1][B]];
        let mut scale = max;
        let mut best: Option<(usize, usize, usize)> = None;
        let mut best_score = -f32::MAX;
        let mut consider = |i1: usize, i2: usize, k: usize, sumqx: f32, sumq2: f32, best_score: &mut f32| {
            if sumq2 > 0.0 && sumqx * sumqx > *best_score * sumq2 {
                scale = sumqx / sumq2;
                *best_score = scale * sumqx;
                best = Some((i1, i2, k));
            }
        };
        if simd && crate::simd::has_avx2() {
            // SAFETY: AVX2 was detected; px and pw hold B + 8 values per half.
            #[cfg(target_arch = "x86_64")]
            unsafe {
                let k = [p2, m2, cp1, cp2, cm1, cm2];
                crate::simd::x86_iq::iq1_m_splits([&px[0], &px[1]], [&pw[0], &pw[1]], B, k, &mut best_score, &mut consider)
            };
        } else {
            for i1 in 0..=B {
                for i2 in i1..=B {
                    let (mut qx_p, mut qx_m, mut q2_p, mut q2_m) = ([0.0f32; 2], [0.0f32; 2], [0.0f32; 2], [0.0f32; 2]);
                    for h in 0..2 {
                        let sx = px[h][i1] + px[h][i2];
                        qx_p[h] = txs[h] * p2 - sx;
                        qx_m[h] = txs[h] * m2 - sx;
                        q2_p[h] = tws[h] * p2 * p2 + pw[h][i1] * cp1 + pw[h][i2] * cp2;
                        q2_m[h] = tws[h] * m2 * m2 + pw[h][i1] * cm1 + pw[h][i2] * cm2;
                    }
                    let sumqx = [qx_p[0] + qx_p[1], qx_p[0] + qx_m[1], qx_m[0] + qx_p[1], qx_m[0] + qx_m[1]];
                    let sumq2 = [q2_p[0] + q2_p[1], q2_p[0] + q2_m[1], q2_m[0] + q2_p[1], q2_m[0] + q2_m[1]];
                    for k in 0..4 {
                        consider(i1, i2, k, sumqx[k], sumq2[k], &mut best_score);
                    }
                }
            }
        }
        let Some((i1, i2, mut shift)) = best else { continue };
        let (scale, negative) = split_levels(&order, i1, i2, scale, &mut l);
        if negative {
            shift = 3 - shift;
        }
        let mut index = [0usize; 2];
        let scale = grid_points(g, xb, &weight, &mut l, scale, |k| shifted(shift, k), &mut index, simd);
        y[2 * ib] = (index[0] & 255) as u8;
        y[2 * ib + 1] = (index[1] & 255) as u8;
        y[QH + ib] = ((index[0] >> 8) | ((index[1] >> 8) << 4)) as u8;
        scales[ib] = scale;
        shifts[ib] = shift;
        max_scale = if max_scale > scale { max_scale } else { scale };
    }
    if max_scale == 0.0 {
        return;
    }
    let mut sc = [0u16; 4];
    let mut d = max_scale / 15.0;
    let id = 1.0 / d;
    let (mut sumqx, mut sumq2) = (0.0f32, 0.0f32);
    for ib in 0..QK_K / B {
        let l = nearest_int(0.5 * (id * scales[ib] - 1.0)).clamp(0, 7);
        sc[ib / 4] |= (l as u16) << (3 * (ib % 4));
        y[QH + ib] |= MASKS[shifts[ib]];
        // The super-block scale is refitted to the rounded group scales.
        let xb = &x[B * ib..B * ib + B];
        group_weights(xb, qw.map(|w| &w[B * ib..B * ib + B]), sigma2, &mut weight);
        for k in 0..2 {
            let xx = shifted(shifts[ib], k);
            let index = y[2 * ib + k] as usize | ((y[QH + ib] as usize) << (8 - 4 * k)) & 0x700;
            for (j, &p) in g.points[index].iter().enumerate() {
                let w = weight[8 * k + j];
                let q = xx[((p - 1) / 2) as usize] * (2 * l + 1) as f32;
                sumqx += w * q * xb[8 * k + j];
                sumq2 += w * q * q;
            }
        }
    }
    if sumq2 > 0.0 {
        d = sumqx / sumq2;
    }
    let s = fp::f32_to_f16(d * 1.1125);
    sc[0] |= (s & 0x000f) << 12;
    sc[1] |= (s & 0x00f0) << 8;
    sc[2] |= (s & 0x0f00) << 4;
    sc[3] |= s & 0xf000;
    for (o, v) in y[SCALES..].chunks_exact_mut(2).zip(&sc) {
        o.copy_from_slice(&v.to_le_bytes());
    }
}

/// The scalar reference of [`quantize_block`] and [`quantize_block_weighted`] (`qw`: 256
/// importance weights or none).
pub fn quantize_block_scalar(x: &[f32], qw: Option<&[f32]>, y: &mut [u8]) {
    quantize(x, qw, y, false)
}

/// Quantizes one super-block without importance weights (`quantize_iq1_m` with none).
pub fn quantize_block(x: &[f32], y: &mut [u8]) {
    quantize(x, None, y, true)
}

/// Quantizes one super-block with importance weights `qw` (256 values).
pub fn quantize_block_weighted(x: &[f32], qw: &[f32], y: &mut [u8]) {
    quantize(x, Some(qw), y, true)
}

/// `dequantize_row_iq1_m` for one super-block.
pub fn dequantize_block(y: &[u8], out: &mut [f32]) {
    let g = grid();
    let sc: [u16; 4] = std::array::from_fn(|i| u16::from_le_bytes([y[SCALES + 2 * i], y[SCALES + 2 * i + 1]]));
    let bits = (sc[0] >> 12) | ((sc[1] >> 8) & 0x00f0) | ((sc[2] >> 4) & 0x0f00) | (sc[3] & 0xf000);
    let d = fp::f16_to_f32(bits);
    for ib in 0..QK_K / B {
        let dl = d * (2 * ((sc[ib / 4] >> (3 * (ib % 4))) & 7) + 1) as f32;
        let qh = y[QH + ib];
        for k in 0..2 {
            let index = y[2 * ib + k] as usize | (((qh >> (4 * k)) & 7) as usize) << 8;
            let delta = if qh & (0x08 << (4 * k)) != 0 { -DELTA } else { DELTA };
            for (j, &p) in g.points[index].iter().enumerate() {
                let v = ((p - 1) / 2) as f32 - 1.0;
                out[B * ib + 8 * k + j] = dl * (v + delta);
            }
        }
    }
}
