//! IQ4_NL: blocks of 32 weights, one f16 scale, 4-bit indices into a fixed non-linear table of 16
//! signed levels ([`KVALUES_IQ4NL`]). Layout: `d: f16, qs: [u8; 16]` (low nibbles = elements
//! 0..16, high nibbles = 16..32). The scale search ([`search_superblock`]) is shared with IQ4_XS.

use super::common::{max_by_abs, nearest_int, read_f16, write_f16, GROUP_MAX_EPS};

/// Elements per block.
pub const BLOCK: usize = 32;
/// Bytes per block.
pub const BYTES: usize = 18;

/// The 16 levels of IQ4_NL and IQ4_XS, part of the format's definition: ggml's `kvalues_iq4nl`
/// (`ggml-common.h`), the same values as gguf-py's `IQ4_NL.kvalues` (`gguf/quants.py`). They were
/// fitted once to the distribution of trained weights (llama.cpp PR #5590) and are not derivable.
pub const KVALUES_IQ4NL: [i8; 16] = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];

/// Sub-block size of the shared search (both types scale groups of 32).
const SUB: usize = 32;

/// Search steps each side of the initial scale (`ntry` of `quantize_iq4_{nl,xs}`).
const NTRY: i32 = 7;

/// Index of the level of [`KVALUES_IQ4NL`] nearest to `x`, ggml's `best_index_int8`: the bisection
/// ends at the pair of levels around `x`; the lower one wins only when strictly nearer.
#[inline(always)]
pub fn best_index(x: f32) -> usize {
    let v = &KVALUES_IQ4NL;
    if x <= v[0] as f32 {
        return 0;
    }
    if x >= v[15] as f32 {
        return 15;
    }
    let (mut ml, mut mu) = (0usize, 15usize);
    while mu - ml > 1 {
        let mav = (ml + mu) / 2;
        if x < v[mav] as f32 {
            mu = mav;
        } else {
            ml = mav;
        }
    }
    if x - (v[mu - 1] as f32) < (v[mu] as f32) - x {
        mu - 1
    } else {
        mu
    }
}

/// Weighted sums `(Σ w·q·x, Σ w·q²)` of `x` mapped with scale inverse `id` onto the levels, in
/// ggml's order.
#[inline(always)]
fn fit(xb: &[f32], w: &[f32], id: f32) -> (f32, f32) {
    let (mut sumqx, mut sumq2) = (0.0f32, 0.0f32);
    for j in 0..xb.len() {
        let q = KVALUES_IQ4NL[best_index(id * xb[j])] as f32;
        sumqx += w[j] * q * xb[j];
        sumq2 += w[j] * q * q;
    }
    (sumqx, sumq2)
}

/// The scale of one group of 32 (ggml's per-block loop of `quantize_row_iq4_nl_impl` with
/// `ntry` 7), the scalar reference: the least-squares scale at `max/127`, then the best of 15
/// steps of the inverse scale around it. `weight` is the group's weights. 0 when the group is all
/// (near) zero. (ggml also keeps the first search's indices; both types recompute them from the
/// final scale, so they are not kept here.)
pub fn group_scale(xb: &[f32], weight: &[f32]) -> f32 {
    let (max, amax) = max_by_abs(xb);
    if amax < GROUP_MAX_EPS {
        return 0.0;
    }
    let v0 = KVALUES_IQ4NL[0] as f32;
    let d = -max / v0;
    let (sumqx, sumq2) = fit(xb, weight, 1.0 / d);
    let mut d = if sumq2 > 0.0 { sumqx / sumq2 } else { 0.0 };
    let mut best = d * sumqx;
    for itry in -NTRY..=NTRY {
        let id = (itry as f32 + v0) / max;
        let (sumqx, sumq2) = fit(xb, weight, id);
        if sumq2 > 0.0 && sumqx * sumqx > best * sumq2 {
            d = sumqx / sumq2;
            best = d * sumqx;
        }
    }
    d
}

/// [`group_scale`] on 8 consecutive groups of 32 (`x`, `w`: 256 values): the AVX2 lane-per-group
/// kernel when available, else the scalar one.
pub(crate) fn scales_8_groups(x: &[f32], w: &[f32], scales: &mut [f32; 8]) {
    #[cfg(target_arch = "x86_64")]
    if crate::simd::has_avx2() {
        // SAFETY: AVX2/F16C detected; the kernel checks the slice lengths.
        return unsafe { crate::simd::x86::iq4_groups(x, w, scales) };
    }
    for (g, s) in scales.iter_mut().enumerate() {
        *s = group_scale(&x[SUB * g..SUB * (g + 1)], &w[SUB * g..SUB * (g + 1)]);
    }
}

/// Level indices of `x · id` ([`best_index`] per element) into `l`.
pub(crate) fn indices(x: &[f32], id: f32, l: &mut [u8]) {
    #[cfg(target_arch = "x86_64")]
    if crate::simd::has_avx2() {
        // SAFETY: AVX2/F16C detected; the kernel checks the slice lengths.
        return unsafe { crate::simd::x86::iq4_indices(x, id, l) };
    }
    for (l, &v) in l.iter_mut().zip(x) {
        *l = best_index(id * v) as u8;
    }
}

/// Per-element weights: `qw·sqrt(σ² + x²)` with importance weights, else `x²`.
pub(crate) fn group_weights(xb: &[f32], qw: Option<&[f32]>, sigma2: f32, out: &mut [f32]) {
    match qw {
        Some(qw) => {
            for ((o, &x), &q) in out.iter_mut().zip(xb).zip(qw) {
                *o = q * (sigma2 + x * x).sqrt();
            }
        }
        None => {
            for (o, &x) in out.iter_mut().zip(xb) {
                *o = x * x;
            }
        }
    }
}

/// `2·Σx²/n` over a super-block, in ggml's order.
pub(crate) fn sigma2(x: &[f32]) -> f32 {
    super::row_sigma2(x) * (2.0f32 / x.len() as f32)
}

/// Packs 32 indices per group into nibbles (element j low, j + 16 high).
pub(crate) fn pack(l: &[u8], qs: &mut [u8]) {
    for (q, l) in qs.chunks_exact_mut(16).zip(l.chunks_exact(SUB)) {
        for j in 0..16 {
            q[j] = l[j] | (l[16 + j] << 4);
        }
    }
}

/// `quantize_iq4_nl` for one block (`quantize_row_iq4_nl_impl` with one group of 32 and `ntry`
/// 7), with importance weights `qw` or without (weights `x²`): llama-quantize takes this path
/// both ways (ggml's `_ref` variant with `ntry` -1 is not used to write files). The scalar
/// reference of [`quantize_row`].
fn quantize(x: &[f32], qw: Option<&[f32]>, y: &mut [u8]) {
    let x = &x[..BLOCK];
    let mut weight = [0.0f32; SUB];
    group_weights(x, qw, sigma2(x), &mut weight);
    let d = group_scale(x, &weight);
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    let mut l = [0u8; BLOCK];
    for j in 0..BLOCK {
        l[j] = best_index(id * x[j]) as u8;
    }
    write_f16(y, 0, d);
    pack(&l, &mut y[2..2 + BLOCK / 2]);
}

/// Quantizes one block without importance weights (scalar reference).
pub fn quantize_block(x: &[f32], y: &mut [u8]) {
    quantize(x, None, y)
}

/// Quantizes one block with importance weights `qw` (32 values; scalar reference).
pub fn quantize_block_weighted(x: &[f32], qw: &[f32], y: &mut [u8]) {
    quantize(x, Some(qw), y)
}

/// `quantize_iq4_nl` on whole blocks (`x.len()` a multiple of 32, `qw` as long as `x` when
/// given): eight blocks searched at once through [`scales_8_groups`], the rest one by one.
pub fn quantize_row(x: &[f32], qw: Option<&[f32]>, y: &mut [u8]) {
    let nb = x.len() / BLOCK;
    let mut ib = 0;
    let mut weight = [0.0f32; 8 * BLOCK];
    let mut scales = [0.0f32; 8];
    let mut l = [0u8; BLOCK];
    while ib + 8 <= nb {
        let xs = &x[ib * BLOCK..(ib + 8) * BLOCK];
        for (g, xb) in xs.chunks_exact(BLOCK).enumerate() {
            let w = &mut weight[g * BLOCK..(g + 1) * BLOCK];
            group_weights(xb, qw.map(|q| &q[(ib + g) * BLOCK..(ib + g + 1) * BLOCK]), sigma2(xb), w);
        }
        scales_8_groups(xs, &weight, &mut scales);
        for (g, xb) in xs.chunks_exact(BLOCK).enumerate() {
            let d = scales[g];
            let yb = &mut y[(ib + g) * BYTES..(ib + g + 1) * BYTES];
            write_f16(yb, 0, d);
            indices(xb, if d != 0.0 { 1.0 / d } else { 0.0 }, &mut l);
            pack(&l, &mut yb[2..]);
        }
        ib += 8;
    }
    for ib in ib..nb {
        let r = ib * BLOCK..(ib + 1) * BLOCK;
        quantize(&x[r.clone()], qw.map(|q| &q[r.clone()]), &mut y[ib * BYTES..(ib + 1) * BYTES]);
    }
}

/// [`quantize_row`] with importance weights (the kernel table's per-row entry).
pub fn quantize_row_weighted(x: &[f32], qw: &[f32], y: &mut [u8]) {
    quantize_row(x, Some(qw), y)
}

/// `dequantize_row_iq4_nl` for one block.
pub fn dequantize_block(y: &[u8], out: &mut [f32]) {
    let d = read_f16(y, 0);
    for j in 0..BLOCK / 2 {
        let q = y[2 + j];
        out[j] = d * KVALUES_IQ4NL[(q & 0xf) as usize] as f32;
        out[j + BLOCK / 2] = d * KVALUES_IQ4NL[(q >> 4) as usize] as f32;
    }
}

/// The super-block scale of IQ4_XS from its groups' scales (`quantize_row_iq4_nl_impl` with
/// several groups): `d = -max_scale/32` and each group's 6-bit code `l + 32`, `l` in `-32..=31`.
/// Returns `(d, codes)`.
pub(crate) fn superblock_codes<const N: usize>(scales: &[f32; N]) -> (f32, [u8; N]) {
    let (max_scale, _) = max_by_abs(scales);
    let d = -max_scale / 32.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    let mut codes = [0u8; N];
    for (c, &s) in codes.iter_mut().zip(scales) {
        *c = (nearest_int(id * s).clamp(-32, 31) + 32) as u8;
    }
    (d, codes)
}
