//! AVX2 searches of the grid i-quants (IQ3_XXS, IQ3_S, IQ2_XXS, IQ2_XS, IQ2_S, IQ1_S, IQ1_M),
//! one candidate per lane: each lane does the scalar reference's arithmetic for its own candidate
//! in the reference's order (no fused multiply-add, no reordered sums), so every candidate's
//! figure has the scalar bits, and the choice among candidates follows the scalar loop's order
//! (first wins ties). Every function is `unsafe` with `#[target_feature]`: call only when
//! [`super::has_avx2`] is true.

use std::arch::x86_64::*;

/// The position in `codes` of the entry with the least `Σ_i w[i]·(scale·values[l_i] − x[i])²`
/// (summed over `i` in order), `l_i` being the `bits`-bit field `i` of the entry's code; the first
/// such entry on ties; `None` when no distance is below `f32::MAX` (the scalar loop's `d2 <
/// best_d2` from `FLT_MAX`). `codes` is a neighbour list padded to a multiple of 8 by repeating
/// its last entry (a repeat ties with that entry and so never wins).
///
/// # Safety
/// The CPU must support AVX2; `codes.len()` must be a multiple of 8; `bits · N ≤ 32`.
#[inline]
#[target_feature(enable = "avx2")]
pub unsafe fn nearest_code<const N: usize>(codes: &[u16], bits: u32, values: &[f32; 8], x: &[f32], w: &[f32], scale: f32) -> Option<usize> {
    debug_assert!(codes.len().is_multiple_of(8));
    let (x, w) = (&x[..N], &w[..N]);
    let table = _mm256_loadu_ps(values.as_ptr());
    let sv = _mm256_set1_ps(scale);
    let mask = _mm256_set1_epi32((1 << bits) - 1);
    // (Loops, not closures: a closure would not inherit the AVX2 feature, and its intrinsics
    // would become calls.)
    let (mut xv, mut wv, mut shift) = ([_mm256_setzero_ps(); N], [_mm256_setzero_ps(); N], [_mm_setzero_si128(); N]);
    for i in 0..N {
        xv[i] = _mm256_set1_ps(x[i]);
        wv[i] = _mm256_set1_ps(w[i]);
        shift[i] = _mm_cvtsi32_si128((bits as usize * i) as i32);
    }
    let mut best = _mm256_set1_ps(f32::MAX);
    let mut best_pos = _mm256_set1_epi32(-1);
    let mut pos = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    let eight = _mm256_set1_epi32(8);
    for chunk in codes.chunks_exact(8) {
        let c = _mm256_cvtepu16_epi32(_mm_loadu_si128(chunk.as_ptr() as *const __m128i));
        let mut d2 = _mm256_setzero_ps();
        for i in 0..N {
            let l = _mm256_and_si256(_mm256_srl_epi32(c, shift[i]), mask);
            let v = _mm256_permutevar8x32_ps(table, l);
            let diff = _mm256_sub_ps(_mm256_mul_ps(sv, v), xv[i]);
            d2 = _mm256_add_ps(d2, _mm256_mul_ps(_mm256_mul_ps(wv[i], diff), diff));
        }
        let lt = _mm256_cmp_ps::<_CMP_LT_OQ>(d2, best);
        best = _mm256_blendv_ps(best, d2, lt);
        best_pos = _mm256_blendv_epi8(best_pos, pos, _mm256_castps_si256(lt));
        pos = _mm256_add_epi32(pos, eight);
    }
    // Each lane holds the first least entry of its positions; the answer is the least of those,
    // the earliest position on ties. A lane that took no entry holds f32::MAX, which no taken
    // entry equals (it had to be below it).
    let m = _mm256_min_ps(best, _mm256_permute2f128_ps::<1>(best, best));
    let m = _mm256_min_ps(m, _mm256_permute_ps::<0b0100_1110>(m));
    let m = _mm256_min_ps(m, _mm256_permute_ps::<0b1011_0001>(m));
    if _mm256_cvtss_f32(m) == f32::MAX {
        return None;
    }
    let at_min = _mm256_castps_si256(_mm256_cmp_ps::<_CMP_EQ_OQ>(best, m));
    let p = _mm256_blendv_epi8(_mm256_set1_epi32(i32::MAX), best_pos, at_min);
    let p = _mm256_min_epi32(p, _mm256_permute2x128_si256::<1>(p, p));
    let p = _mm256_min_epi32(p, _mm256_shuffle_epi32::<0b0100_1110>(p));
    let p = _mm256_min_epi32(p, _mm256_shuffle_epi32::<0b1011_0001>(p));
    Some(_mm256_cvtsi256_si32(p) as usize)
}

/// IQ1_S's `sumqx` of 8 consecutive splits at once: the lanes `i2 .. i2 + 8` of
/// `(t1 + (s[i2] − s1)·c1) + (s_end − s[i2])·c2`, `t1` and `s1` being the scalar parts of the
/// split's first boundary.
#[inline(always)]
unsafe fn three_part(t1: __m256, s1: __m256, s: __m256, s_end: __m256, c1: __m256, c2: __m256) -> __m256 {
    _mm256_add_ps(_mm256_add_ps(t1, _mm256_mul_ps(_mm256_sub_ps(s, s1), c1)), _mm256_mul_ps(_mm256_sub_ps(s_end, s), c2))
}

/// Lanes where `sumq2 > 0 && sumqx² > best·sumq2` (the scalar test of a better fit).
#[inline(always)]
unsafe fn better(sumqx: __m256, sumq2: __m256, best: __m256) -> __m256 {
    _mm256_and_ps(
        _mm256_cmp_ps::<_CMP_GT_OQ>(sumq2, _mm256_setzero_ps()),
        _mm256_cmp_ps::<_CMP_GT_OQ>(_mm256_mul_ps(sumqx, sumqx), _mm256_mul_ps(best, sumq2)),
    )
}

/// Hands the candidates of one chunk of 8 splits (the first `n` lanes; `C` candidates each) to
/// `update(lane, candidate, sumqx, sumq2, best)` in the scalar order, from the first lane where
/// one beats the running best (see [`better`]); none when no candidate beats it. Every
/// candidate skipped fails the scalar test against the best the scalar loop holds at that
/// point, so it would change nothing.
#[inline(always)]
unsafe fn walk<const C: usize>(
    sqx: &[__m256; C],
    sq2: &[__m256; C],
    n: usize,
    best: &mut f32,
    mut update: impl FnMut(usize, usize, f32, f32, &mut f32),
) {
    let bv = _mm256_set1_ps(*best);
    let mut any = 0u32;
    for c in 0..C {
        any |= _mm256_movemask_ps(better(sqx[c], sq2[c], bv)) as u32;
    }
    any &= (1u32 << n) - 1;
    if any == 0 {
        return;
    }
    let (mut qx, mut q2) = ([[0.0f32; 8]; C], [[0.0f32; 8]; C]);
    for c in 0..C {
        _mm256_storeu_ps(qx[c].as_mut_ptr(), sqx[c]);
        _mm256_storeu_ps(q2[c].as_mut_ptr(), sq2[c]);
    }
    for j in any.trailing_zeros() as usize..n {
        for c in 0..C {
            update(j, c, qx[c][j], q2[c][j], best);
        }
    }
}

/// IQ1_S's split search over the weighted prefix sums `sumx`, `sumw` (`b + 1` values, then at
/// least 7 more of padding), the level tables `xs` (`x_p`, then `x_m`), as the scalar loop
/// `for i1 in 0..=b, for i2 in i1..=b, for table in xs` does it: each lane computes one split's
/// `sumqx`, `sumq2` with the scalar expression; the candidates that beat the running best
/// (`best`) are handed to `update(i1, i2, table, sumqx, sumq2, best)` in the scalar order, as
/// [`walk`] finds them, and `update` updates `best` (a chunk of 8 splits in which no lane beats
/// it cannot change it).
///
/// # Safety
/// The CPU must support AVX2; `sumx.len()` and `sumw.len()` must be at least `b + 8`.
#[target_feature(enable = "avx2")]
pub unsafe fn iq1_s_splits(
    sumx: &[f32],
    sumw: &[f32],
    b: usize,
    xs: [&[f32; 3]; 2],
    best: &mut f32,
    mut update: impl FnMut(usize, usize, usize, f32, f32, &mut f32),
) {
    assert!(sumx.len() >= b + 8 && sumw.len() >= b + 8);
    let (x_end, w_end) = (_mm256_set1_ps(sumx[b]), _mm256_set1_ps(sumw[b]));
    let mut c = [[_mm256_setzero_ps(); 3]; 2];
    for t in 0..2 {
        for k in 0..3 {
            c[t][k] = _mm256_set1_ps(xs[t][k]);
        }
    }
    for i1 in 0..=b {
        let (sx1, sw1) = (sumx[i1], sumw[i1]);
        let (vx1, vw1) = (_mm256_set1_ps(sx1), _mm256_set1_ps(sw1));
        // The first terms, as the scalar expression computes them.
        let (mut tx, mut tw) = ([_mm256_setzero_ps(); 2], [_mm256_setzero_ps(); 2]);
        for t in 0..2 {
            tx[t] = _mm256_set1_ps((sx1 - sumx[0]) * xs[t][0]);
            tw[t] = _mm256_set1_ps((sw1 - sumw[0]) * xs[t][0] * xs[t][0]);
        }
        let mut i2 = i1;
        while i2 <= b {
            let (vx, vw) = (_mm256_loadu_ps(sumx.as_ptr().add(i2)), _mm256_loadu_ps(sumw.as_ptr().add(i2)));
            let (mut sqx, mut sq2) = ([_mm256_setzero_ps(); 2], [_mm256_setzero_ps(); 2]);
            for t in 0..2 {
                // (sumw[i2] − sumw[i1])·x1·x1 is ((Δ·x1)·x1): two roundings, not Δ·(x1²).
                sqx[t] = three_part(tx[t], vx1, vx, x_end, c[t][1], c[t][2]);
                let dw1 = _mm256_mul_ps(_mm256_mul_ps(_mm256_sub_ps(vw, vw1), c[t][1]), c[t][1]);
                let dw2 = _mm256_mul_ps(_mm256_mul_ps(_mm256_sub_ps(w_end, vw), c[t][2]), c[t][2]);
                sq2[t] = _mm256_add_ps(_mm256_add_ps(tw[t], dw1), dw2);
            }
            walk(&sqx, &sq2, (b + 1 - i2).min(8), best, |j, t, qx, q2, best| update(i1, i2 + j, t, qx, q2, best));
            i2 += 8;
        }
    }
}

/// IQ1_M's split search over the per-half prefix sums `px`, `pw` (`b + 1` values each, then at
/// least 7 more of padding), with `k = [p2, m2, cp1, cp2, cm1, cm2]` (the last level of `x_p`
/// and `x_m`, and the differences of their squared levels), as the scalar loop `for i1 in
/// 0..=b, for i2 in i1..=b` and its four shift choices do it; the candidates that beat `best`
/// go to `update(i1, i2, choice, sumqx, sumq2, best)` in the scalar order (see
/// [`iq1_s_splits`]).
///
/// # Safety
/// The CPU must support AVX2; every `px[h]`, `pw[h]` must hold at least `b + 8` values.
#[target_feature(enable = "avx2")]
pub unsafe fn iq1_m_splits(
    px: [&[f32]; 2],
    pw: [&[f32]; 2],
    b: usize,
    k: [f32; 6],
    best: &mut f32,
    mut update: impl FnMut(usize, usize, usize, f32, f32, &mut f32),
) {
    assert!(px.iter().chain(&pw).all(|p| p.len() >= b + 8));
    let [p2, m2, cp1, cp2, cm1, cm2] = k;
    let (txs, tws) = ([px[0][b], px[1][b]], [pw[0][b], pw[1][b]]);
    let (vcp2, vcm2) = (_mm256_set1_ps(cp2), _mm256_set1_ps(cm2));
    let (mut tx_p, mut tx_m) = ([_mm256_setzero_ps(); 2], [_mm256_setzero_ps(); 2]);
    for h in 0..2 {
        tx_p[h] = _mm256_set1_ps(txs[h] * p2);
        tx_m[h] = _mm256_set1_ps(txs[h] * m2);
    }
    for i1 in 0..=b {
        // The parts of the scalar expressions that depend on i1 only, computed as it does.
        let (mut x1, mut w1_p, mut w1_m) = ([_mm256_setzero_ps(); 2], [_mm256_setzero_ps(); 2], [_mm256_setzero_ps(); 2]);
        for h in 0..2 {
            x1[h] = _mm256_set1_ps(px[h][i1]);
            w1_p[h] = _mm256_set1_ps(tws[h] * p2 * p2 + pw[h][i1] * cp1);
            w1_m[h] = _mm256_set1_ps(tws[h] * m2 * m2 + pw[h][i1] * cm1);
        }
        let mut i2 = i1;
        while i2 <= b {
            let (mut qx_p, mut qx_m, mut q2_p, mut q2_m) =
                ([_mm256_setzero_ps(); 2], [_mm256_setzero_ps(); 2], [_mm256_setzero_ps(); 2], [_mm256_setzero_ps(); 2]);
            for h in 0..2 {
                let sx = _mm256_add_ps(x1[h], _mm256_loadu_ps(px[h].as_ptr().add(i2)));
                let w2 = _mm256_loadu_ps(pw[h].as_ptr().add(i2));
                qx_p[h] = _mm256_sub_ps(tx_p[h], sx);
                qx_m[h] = _mm256_sub_ps(tx_m[h], sx);
                q2_p[h] = _mm256_add_ps(w1_p[h], _mm256_mul_ps(w2, vcp2));
                q2_m[h] = _mm256_add_ps(w1_m[h], _mm256_mul_ps(w2, vcm2));
            }
            let sqx = [
                _mm256_add_ps(qx_p[0], qx_p[1]),
                _mm256_add_ps(qx_p[0], qx_m[1]),
                _mm256_add_ps(qx_m[0], qx_p[1]),
                _mm256_add_ps(qx_m[0], qx_m[1]),
            ];
            let sq2 = [
                _mm256_add_ps(q2_p[0], q2_p[1]),
                _mm256_add_ps(q2_p[0], q2_m[1]),
                _mm256_add_ps(q2_m[0], q2_p[1]),
                _mm256_add_ps(q2_m[0], q2_m[1]),
            ];
            walk(&sqx, &sq2, (b + 1 - i2).min(8), best, |j, c, qx, q2, best| update(i1, i2 + j, c, qx, q2, best));
            i2 += 8;
        }
    }
}

/// The levels `nearest_int(0.5·(id·x − 1))` clamped to `0..kmaxq` of the `G` values of a group
/// (into `l`) and the code of each point of `N` of them (level `i` of a point at bit `bits·i`,
/// into `codes`), as the grid search's scalar `code_of` computes them (the same float
/// operations, and ggml's `nearest_int` on the bits).
///
/// # Safety
/// The CPU must support AVX2; `G` must be a multiple of 8 and of `N`, `8` a multiple of `N`,
/// `codes.len() ≥ G / N`.
#[inline]
#[target_feature(enable = "avx2")]
pub unsafe fn group_codes<const G: usize, const N: usize>(
    xval: &[f32; G],
    id: f32,
    kmaxq: i32,
    bits: u32,
    l: &mut [i8; G],
    codes: &mut [usize],
) {
    let (idv, one, half, magic) = (_mm256_set1_ps(id), _mm256_set1_ps(1.0), _mm256_set1_ps(0.5), _mm256_set1_ps(12582912.0));
    let (lo, hi) = (_mm256_setzero_si256(), _mm256_set1_epi32(kmaxq - 1));
    let (mantissa, offset) = (_mm256_set1_epi32(0x007f_ffff), _mm256_set1_epi32(0x0040_0000));
    let mut sh = [0i32; 8];
    for (j, s) in sh.iter_mut().enumerate() {
        *s = (bits as usize * (j % N)) as i32;
    }
    let shifts = _mm256_loadu_si256(sh.as_ptr() as *const __m256i);
    let (mut q, mut s) = ([0i32; G], [0i32; G]);
    for c in 0..G / 8 {
        let x = _mm256_loadu_ps(xval.as_ptr().add(8 * c));
        let v = _mm256_add_ps(_mm256_mul_ps(half, _mm256_sub_ps(_mm256_mul_ps(idv, x), one)), magic);
        let qi = _mm256_sub_epi32(_mm256_and_si256(_mm256_castps_si256(v), mantissa), offset);
        let qi = _mm256_min_epi32(_mm256_max_epi32(qi, lo), hi);
        _mm256_storeu_si256(q.as_mut_ptr().add(8 * c) as *mut __m256i, qi);
        _mm256_storeu_si256(s.as_mut_ptr().add(8 * c) as *mut __m256i, _mm256_sllv_epi32(qi, shifts));
    }
    for i in 0..G {
        l[i] = q[i] as i8;
    }
    for (k, code) in codes[..G / N].iter_mut().enumerate() {
        let mut u = 0usize;
        for &v in &s[N * k..N * k + N] {
            u |= v as usize;
        }
        *code = u;
    }
}
