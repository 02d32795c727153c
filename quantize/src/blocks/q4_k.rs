//! Q4_K: super-blocks of 256 weights in 8 groups of 32; 4-bit quants, 6-bit group scales and
//! mins, f16 super-block scales. Layout: `d: f16, dmin: f16, scales: [u8; 12], qs: [u8; 128]`.

use super::common::{
    get_scale_min_k4, make_qkx2_quants, make_qp_quants, nearest_int, pack_scale_min_k4, read_f16, requantize_group, write_f16, QK_K,
};

/// Elements per block.
pub const BLOCK: usize = QK_K;
/// Bytes per block.
pub const BYTES: usize = 144;

/// `make_qkx2_quants` (= `make_qkx3_quants` with weights, for finite input) on 8 consecutive
/// groups of `n` elements: the AVX2 lane-per-group kernel when available, else the scalar one.
/// Levels go to `l[g·n..]`, scales and ggml's `the_min` to `scales[g]`, `mins[g]`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn qkx_8_groups(
    n: usize,
    nmax: i32,
    x: &[f32],
    w: &[f32],
    rmin: f32,
    rdelta: f32,
    nstep: i32,
    use_mad: bool,
    l: &mut [u8],
    laux: &mut [u8],
    scales: &mut [f32],
    mins: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    if crate::simd::has_avx2() && n <= crate::simd::x86::MAX_GROUP && x.len() >= 8 * n && w.len() >= 8 * n && l.len() >= 8 * n {
        // SAFETY: AVX2/F16C detected; sizes checked above.
        unsafe { crate::simd::x86::qkx_groups(n, nmax, x, w, rmin, rdelta, nstep, use_mad, l, scales, mins) };
        return;
    }
    for g in 0..8 {
        let r = g * n..(g + 1) * n;
        let (s, m) = make_qkx2_quants(nmax, &x[r.clone()], &w[r.clone()], &mut l[r], laux, rmin, rdelta, nstep, use_mad);
        scales[g] = s;
        mins[g] = m;
    }
}

/// Requantizes with the stored 6-bit scales/mins to levels `0..=nmax` (shared with Q5_K, whose
/// layout starts the same way).
pub(crate) fn requantize(x: &[f32], y: &[u8], nmax: i32, l: &mut [u8; QK_K]) {
    let dd = read_f16(y, 0);
    let dmin = read_f16(y, 2);
    for j in 0..QK_K / 32 {
        let (sc, m) = get_scale_min_k4(j, &y[4..16]);
        let d = dd * sc as f32;
        if d == 0.0 {
            continue;
        }
        let dm = dmin * m as f32;
        requantize_group(&x[32 * j..32 * j + 32], dm, d, 0, nmax, 0, &mut l[32 * j..32 * j + 32]);
    }
}

/// The reference (no importance weights) search shared by Q4_K and Q5_K
/// (`quantize_row_q{4,5}_K_ref`): writes d, dmin and scales, returns the levels before
/// requantization in `l`.
pub(crate) fn ref_scales(x: &[f32], nmax: i32, rmin: f32, nstep: i32, y: &mut [u8], l: &mut [u8; QK_K]) {
    let mut laux = [0u8; 32];
    let mut weights = [0.0f32; QK_K];
    let mut mins = [0.0f32; 8];
    let mut scales = [0.0f32; 8];
    let mut max_scale = 0.0f32;
    let mut max_min = 0.0f32;
    for j in 0..8 {
        let xs = &x[32 * j..32 * j + 32];
        let mut sum_x2 = 0.0f32;
        for &v in xs {
            sum_x2 += v * v;
        }
        let av_x = (sum_x2 / 32.0).sqrt();
        for i in 0..32 {
            weights[32 * j + i] = av_x + xs[i].abs();
        }
    }
    qkx_8_groups(32, nmax, x, &weights, rmin, 0.1, nstep, false, l, &mut laux, &mut scales, &mut mins);
    for j in 0..8 {
        let (s, m) = (scales[j], mins[j]);
        if s > max_scale {
            max_scale = s;
        }
        if m > max_min {
            max_min = m;
        }
    }
    let inv_scale = if max_scale > 0.0 { 63.0f32 / max_scale } else { 0.0 };
    let inv_min = if max_min > 0.0 { 63.0f32 / max_min } else { 0.0 };
    let mut ls = [0u8; 8];
    let mut lm = [0u8; 8];
    for j in 0..8 {
        ls[j] = (nearest_int(inv_scale * scales[j]) as u8).min(63);
        lm[j] = (nearest_int(inv_min * mins[j]) as u8).min(63);
    }
    pack_scale_min_k4(&ls, &lm, &mut y[4..16]);
    write_f16(y, 0, max_scale / 63.0);
    write_f16(y, 2, max_min / 63.0);
}

/// The importance-weighted search shared by Q4_K and Q5_K (`quantize_row_q{4,5}_K_impl`).
/// `clamp63`: Q5_K clamps the super-block codes to 63, Q4_K does not.
pub(crate) fn weighted_scales(x: &[f32], qw: &[f32], nmax: i32, clamp63: bool, y: &mut [u8], l: &mut [u8; QK_K]) {
    let mut laux = [0u8; 32];
    let mut ls = [0u8; 8];
    let mut lm = [0u8; 8];
    let mut weights = [0.0f32; QK_K];
    let mut sw = [0.0f32; 8];
    let mut mins = [0.0f32; 8];
    let mut scales = [0.0f32; 8];
    let mut sum_x2 = 0.0f32;
    for &v in &x[..QK_K] {
        sum_x2 += v * v;
    }
    let sigma2 = 2.0 * sum_x2 / QK_K as f32;
    for j in 0..8 {
        let xs = &x[32 * j..32 * j + 32];
        let q = &qw[32 * j..32 * j + 32];
        let wj = &mut weights[32 * j..32 * j + 32];
        for i in 0..32 {
            wj[i] = q[i] * (sigma2 + xs[i] * xs[i]).sqrt();
        }
        let mut sumw = 0.0f32;
        for &w in wj.iter() {
            sumw += w;
        }
        sw[j] = sumw;
    }
    qkx_8_groups(32, nmax, x, &weights, -0.9, 0.05, 36, false, l, &mut laux, &mut scales, &mut mins);
    let d_block = make_qp_quants(63, &scales, &mut ls, &sw);
    let m_block = make_qp_quants(63, &mins, &mut lm, &sw);
    if clamp63 {
        for j in 0..8 {
            ls[j] = ls[j].min(63);
            lm[j] = lm[j].min(63);
        }
    }
    pack_scale_min_k4(&ls, &lm, &mut y[4..16]);
    write_f16(y, 0, d_block);
    write_f16(y, 2, m_block);
}

fn pack(l: &[u8; QK_K], y: &mut [u8]) {
    for (n, j) in (0..QK_K).step_by(64).enumerate() {
        for i in 0..32 {
            y[16 + 32 * n + i] = l[j + i] | (l[j + i + 32] << 4);
        }
    }
}

/// `quantize_row_q4_K_ref` for one block.
pub fn quantize_block(x: &[f32], y: &mut [u8]) {
    let x = &x[..QK_K];
    let mut l = [0u8; QK_K];
    ref_scales(x, 15, -1.0, 20, y, &mut l);
    requantize(x, y, 15, &mut l);
    pack(&l, y);
}

/// `quantize_row_q4_K_impl` (importance-weighted) for one block; `qw` has 256 weights.
pub fn quantize_block_weighted(x: &[f32], qw: &[f32], y: &mut [u8]) {
    let x = &x[..QK_K];
    let mut l = [0u8; QK_K];
    weighted_scales(x, qw, 15, false, y, &mut l);
    requantize(x, y, 15, &mut l);
    pack(&l, y);
}

/// `dequantize_row_q4_K` for one block.
pub fn dequantize_block(y: &[u8], out: &mut [f32]) {
    let d = read_f16(y, 0);
    let min = read_f16(y, 2);
    for n in 0..4 {
        let q = &y[16 + 32 * n..16 + 32 * n + 32];
        let (sc, m) = get_scale_min_k4(2 * n, &y[4..16]);
        let (d1, m1) = (d * sc as f32, min * m as f32);
        let (sc, m) = get_scale_min_k4(2 * n + 1, &y[4..16]);
        let (d2, m2) = (d * sc as f32, min * m as f32);
        for i in 0..32 {
            out[64 * n + i] = d1 * (q[i] & 0xF) as f32 - m1;
        }
        for i in 0..32 {
            out[64 * n + 32 + i] = d2 * (q[i] >> 4) as f32 - m2;
        }
    }
}
