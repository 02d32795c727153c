//! AVX2 + F16C kernels. Every function is `unsafe` with `#[target_feature]`: call only when
//! [`super::has_avx2`] is true.

use std::arch::x86_64::*;

use crate::fp::f32_to_f16;

/// Converts little-endian f16 bytes to f32 (exact, like the scalar path) and returns the index
/// of the first Inf/NaN, if any.
///
/// # Safety
/// The CPU must support AVX2 and F16C; `out.len() * 2 == src.len()`.
#[target_feature(enable = "avx2,f16c")]
pub unsafe fn f16_to_f32(src: &[u8], out: &mut [f32]) -> Option<usize> {
    let n = out.len();
    let mut bad = None;
    let mut i = 0;
    let expmask = _mm_set1_epi16(0x7c00);
    while i + 8 <= n {
        if i % 32 == 0 {
            // A software prefetch well ahead of the stream, once per 64 bytes (a hint: never
            // faults).
            _mm_prefetch::<_MM_HINT_T0>(src.as_ptr().wrapping_add(2 * i + 2048) as *const i8);
        }
        let h = _mm_loadu_si128(src.as_ptr().add(2 * i) as *const __m128i);
        let e = _mm_cmpeq_epi16(_mm_and_si128(h, expmask), expmask);
        let m = _mm_movemask_epi8(e);
        if m != 0 && bad.is_none() {
            bad = Some(i + (m.trailing_zeros() as usize) / 2);
        }
        _mm256_storeu_ps(out.as_mut_ptr().add(i), _mm256_cvtph_ps(h));
        i += 8;
    }
    while i < n {
        let h = u16::from_le_bytes([src[2 * i], src[2 * i + 1]]);
        if h & 0x7c00 == 0x7c00 && bad.is_none() {
            bad = Some(i);
        }
        out[i] = crate::fp::f16_to_f32(h);
        i += 1;
    }
    bad
}

#[inline(always)]
unsafe fn abs(v: __m256) -> __m256 {
    _mm256_and_ps(v, _mm256_castsi256_ps(_mm256_set1_epi32(0x7fff_ffff)))
}

#[inline(always)]
unsafe fn hmax(v: __m256) -> f32 {
    let m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    let m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    let m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
    _mm_cvtss_f32(m)
}

/// C's `roundf` (half away from zero), exact for every input, element-wise.
#[inline(always)]
unsafe fn round_away(p: __m256) -> __m256 {
    let t = _mm256_round_ps(p, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    let diff = abs(_mm256_sub_ps(p, t));
    let ge = _mm256_cmp_ps(diff, _mm256_set1_ps(0.5), _CMP_GE_OQ);
    let one = _mm256_or_ps(_mm256_set1_ps(1.0), _mm256_and_ps(p, _mm256_set1_ps(-0.0)));
    _mm256_add_ps(t, _mm256_and_ps(ge, one))
}

/// Low bytes of 32 i32 lanes (4 vectors), in order.
#[inline(always)]
unsafe fn low_bytes(a: __m256i, b: __m256i, c: __m256i, d: __m256i) -> __m256i {
    let ff = _mm256_set1_epi32(0xff);
    let ab = _mm256_packus_epi32(_mm256_and_si256(a, ff), _mm256_and_si256(b, ff));
    let cd = _mm256_packus_epi32(_mm256_and_si256(c, ff), _mm256_and_si256(d, ff));
    let abcd = _mm256_packus_epi16(ab, cd);
    _mm256_permutevar8x32_epi32(abcd, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7))
}

/// `quantize_row_q8_0_ref` over whole blocks (`x.len()` = 32 × blocks, `y` = 34 × blocks).
///
/// # Safety
/// The CPU must support AVX2 and F16C.
#[target_feature(enable = "avx2,f16c")]
pub unsafe fn quantize_q8_0(x: &[f32], y: &mut [u8]) {
    for (xb, yb) in x.chunks_exact(32).zip(y.chunks_exact_mut(34)) {
        let p = xb.as_ptr();
        let v = [_mm256_loadu_ps(p), _mm256_loadu_ps(p.add(8)), _mm256_loadu_ps(p.add(16)), _mm256_loadu_ps(p.add(24))];
        let m = _mm256_max_ps(_mm256_max_ps(abs(v[0]), abs(v[1])), _mm256_max_ps(abs(v[2]), abs(v[3])));
        let amax = hmax(m);
        let d = amax / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        yb[..2].copy_from_slice(&f32_to_f16(d).to_le_bytes());
        let idv = _mm256_set1_ps(id);
        let q: [__m256i; 4] = std::array::from_fn(|k| _mm256_cvttps_epi32(round_away(_mm256_mul_ps(v[k], idv))));
        let bytes = low_bytes(q[0], q[1], q[2], q[3]);
        _mm256_storeu_si256(yb.as_mut_ptr().add(2) as *mut __m256i, bytes);
    }
}

/// `quantize_row_q4_0_ref` over whole blocks (`x.len()` = 32 × blocks, `y` = 18 × blocks).
///
/// # Safety
/// The CPU must support AVX2 and F16C.
#[target_feature(enable = "avx2,f16c")]
pub unsafe fn quantize_q4_0(x: &[f32], y: &mut [u8]) {
    for (xb, yb) in x.chunks_exact(32).zip(y.chunks_exact_mut(18)) {
        let p = xb.as_ptr();
        let v = [_mm256_loadu_ps(p), _mm256_loadu_ps(p.add(8)), _mm256_loadu_ps(p.add(16)), _mm256_loadu_ps(p.add(24))];
        let a = [abs(v[0]), abs(v[1]), abs(v[2]), abs(v[3])];
        let amax = hmax(_mm256_max_ps(_mm256_max_ps(a[0], a[1]), _mm256_max_ps(a[2], a[3])));
        // ggml keeps the first element whose |x| is the maximum (0.0 when all are zero).
        let max = if amax == 0.0 {
            0.0
        } else {
            let am = _mm256_set1_ps(amax);
            let mut idx = 0;
            for (k, ak) in a.iter().enumerate() {
                let mask = _mm256_movemask_ps(_mm256_cmp_ps(*ak, am, _CMP_EQ_OQ));
                if mask != 0 {
                    idx = 8 * k + mask.trailing_zeros() as usize;
                    break;
                }
            }
            xb[idx]
        };
        let d = max / -8.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        yb[..2].copy_from_slice(&f32_to_f16(d).to_le_bytes());
        let idv = _mm256_set1_ps(id);
        let off = _mm256_set1_ps(8.5);
        let fifteen = _mm256_set1_epi32(15);
        let q: [__m256i; 4] = std::array::from_fn(|k| {
            let i = _mm256_cvttps_epi32(_mm256_add_ps(_mm256_mul_ps(v[k], idv), off));
            // (int8_t) keeps the sign-extended low byte; then MIN(15, ·) and the uint8 store.
            let lo = _mm256_srai_epi32(_mm256_slli_epi32(i, 24), 24);
            _mm256_and_si256(_mm256_min_epi32(lo, fifteen), _mm256_set1_epi32(0xff))
        });
        let n0 = _mm256_or_si256(q[0], _mm256_slli_epi32(q[2], 4));
        let n1 = _mm256_or_si256(q[1], _mm256_slli_epi32(q[3], 4));
        let ff = _mm256_set1_epi32(0xff);
        let w = _mm256_packus_epi32(_mm256_and_si256(n0, ff), _mm256_and_si256(n1, ff));
        let w = _mm256_permute4x64_epi64(w, 0b11_01_10_00);
        let b = _mm_packus_epi16(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1));
        _mm_storeu_si128(yb.as_mut_ptr().add(2) as *mut __m128i, b);
    }
}

/// ggml's `nearest_int` on 8 lanes (same bit trick, so same result for every input).
#[inline(always)]
unsafe fn nearest_int(v: __m256) -> __m256i {
    let b = _mm256_castps_si256(_mm256_add_ps(v, _mm256_set1_ps(12582912.0)));
    _mm256_sub_epi32(_mm256_and_si256(b, _mm256_set1_epi32(0x007f_ffff)), _mm256_set1_epi32(0x0040_0000))
}

#[inline(always)]
unsafe fn clamp(l: __m256i, lo: i32, hi: i32) -> __m256i {
    _mm256_max_epi32(_mm256_min_epi32(l, _mm256_set1_epi32(hi)), _mm256_set1_epi32(lo))
}

#[inline(always)]
unsafe fn blend(a: __m256, b: __m256, mask: __m256) -> __m256 {
    _mm256_blendv_ps(a, b, mask)
}

/// Most elements per group handled by [`qkx_groups`].
pub const MAX_GROUP: usize = 32;

/// `make_qkx2_quants` / `make_qkx3_quants` (with weights: the two are the same computation for
/// finite input) on 8 consecutive groups of `n` elements at once, one group per lane, each lane
/// doing exactly the scalar sequence of operations. `x`, `w`: 8·n values; writes the levels of
/// group g to `l[g·n..]`, its scale to `scales[g]` and ggml's `the_min` to `mins[g]`.
///
/// # Safety
/// The CPU must support AVX2 and F16C; `n <= MAX_GROUP`; `x`, `w` and `l` hold at least 8·n
/// values; `scales` and `mins` at least 8.
#[target_feature(enable = "avx2,f16c")]
#[allow(clippy::too_many_arguments)]
pub unsafe fn qkx_groups(
    n: usize,
    nmax: i32,
    x: &[f32],
    w: &[f32],
    rmin: f32,
    rdelta: f32,
    nstep: i32,
    use_mad: bool,
    l: &mut [u8],
    scales: &mut [f32],
    mins: &mut [f32],
) {
    let n = n.min(MAX_GROUP);
    // Transpose: xt[i] lane g = x[g·n + i].
    let mut xt = [_mm256_setzero_ps(); MAX_GROUP];
    let mut wt = [_mm256_setzero_ps(); MAX_GROUP];
    let idx = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(n as i32));
    for i in 0..n {
        xt[i] = _mm256_i32gather_ps::<4>(x.as_ptr().add(i), idx);
        wt[i] = _mm256_i32gather_ps::<4>(w.as_ptr().add(i), idx);
    }
    let zero = _mm256_setzero_ps();
    let nmaxf = _mm256_set1_ps(nmax as f32);
    let absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fff_ffff));
    let err = |diff: __m256| if use_mad { _mm256_and_ps(diff, absmask) } else { _mm256_mul_ps(diff, diff) };

    let mut min = xt[0];
    let mut max = xt[0];
    let mut sum_w = wt[0];
    let mut sum_x = _mm256_mul_ps(sum_w, xt[0]);
    for i in 1..n {
        min = _mm256_min_ps(xt[i], min);
        max = _mm256_max_ps(xt[i], max);
        sum_w = _mm256_add_ps(sum_w, wt[i]);
        sum_x = _mm256_add_ps(sum_x, _mm256_mul_ps(wt[i], xt[i]));
    }
    min = blend(min, zero, _mm256_cmp_ps(min, zero, _CMP_GT_OQ));
    let degenerate = _mm256_cmp_ps(max, min, _CMP_EQ_OQ);
    let range = _mm256_sub_ps(max, min);
    let iscale = _mm256_div_ps(nmaxf, range);
    let mut scale = _mm256_div_ps(_mm256_set1_ps(1.0), iscale);
    let mut lv = [_mm256_setzero_si256(); MAX_GROUP];
    let mut best = zero;
    for i in 0..n {
        let li = clamp(nearest_int(_mm256_mul_ps(iscale, _mm256_sub_ps(xt[i], min))), 0, nmax);
        lv[i] = li;
        let diff = _mm256_sub_ps(_mm256_add_ps(_mm256_mul_ps(scale, _mm256_cvtepi32_ps(li)), min), xt[i]);
        best = _mm256_add_ps(best, _mm256_mul_ps(wt[i], err(diff)));
    }
    if nstep >= 1 {
        let mut laux = [_mm256_setzero_si256(); MAX_GROUP];
        let mut lf = [zero; MAX_GROUP];
        for is in 0..=nstep {
            let num = rmin + rdelta * is as f32 + nmax as f32;
            // ggml reads the current `min`, which improves as the search goes.
            let iscale = _mm256_div_ps(_mm256_set1_ps(num), _mm256_sub_ps(max, min));
            let (mut sum_l, mut sum_l2, mut sum_xl) = (zero, zero, zero);
            for i in 0..n {
                let li = clamp(nearest_int(_mm256_mul_ps(iscale, _mm256_sub_ps(xt[i], min))), 0, nmax);
                laux[i] = li;
                let f = _mm256_cvtepi32_ps(li);
                lf[i] = f;
                let wl = _mm256_mul_ps(wt[i], f);
                sum_l = _mm256_add_ps(sum_l, wl);
                sum_l2 = _mm256_add_ps(sum_l2, _mm256_mul_ps(wl, f));
                sum_xl = _mm256_add_ps(sum_xl, _mm256_mul_ps(wl, xt[i]));
            }
            let d = _mm256_sub_ps(_mm256_mul_ps(sum_w, sum_l2), _mm256_mul_ps(sum_l, sum_l));
            let dpos = _mm256_cmp_ps(d, zero, _CMP_GT_OQ);
            if _mm256_movemask_ps(dpos) == 0 {
                continue;
            }
            let mut this_scale = _mm256_div_ps(_mm256_sub_ps(_mm256_mul_ps(sum_w, sum_xl), _mm256_mul_ps(sum_x, sum_l)), d);
            let mut this_min = _mm256_div_ps(_mm256_sub_ps(_mm256_mul_ps(sum_l2, sum_x), _mm256_mul_ps(sum_l, sum_xl)), d);
            let minpos = _mm256_cmp_ps(this_min, zero, _CMP_GT_OQ);
            this_min = blend(this_min, zero, minpos);
            this_scale = blend(this_scale, _mm256_div_ps(sum_xl, sum_l2), minpos);
            let mut cur = zero;
            for i in 0..n {
                let diff = _mm256_sub_ps(_mm256_add_ps(_mm256_mul_ps(this_scale, lf[i]), this_min), xt[i]);
                cur = _mm256_add_ps(cur, _mm256_mul_ps(wt[i], err(diff)));
            }
            let better = _mm256_and_ps(dpos, _mm256_cmp_ps(cur, best, _CMP_LT_OQ));
            if _mm256_movemask_ps(better) == 0 {
                continue;
            }
            let bi = _mm256_castps_si256(better);
            for i in 0..n {
                lv[i] = _mm256_blendv_epi8(lv[i], laux[i], bi);
            }
            best = blend(best, cur, better);
            scale = blend(scale, this_scale, better);
            min = blend(min, this_min, better);
        }
    }
    // Degenerate lanes (max == min): levels 0, scale 0, the_min = -min (of the clamped min).
    let di = _mm256_castps_si256(degenerate);
    scale = blend(scale, zero, degenerate);
    let mut sc = [0f32; 8];
    let mut mn = [0f32; 8];
    _mm256_storeu_ps(sc.as_mut_ptr(), scale);
    _mm256_storeu_ps(mn.as_mut_ptr(), _mm256_xor_ps(min, _mm256_set1_ps(-0.0)));
    scales[..8].copy_from_slice(&sc);
    mins[..8].copy_from_slice(&mn);
    for i in 0..n {
        let v = _mm256_andnot_si256(di, lv[i]);
        let mut a = [0i32; 8];
        _mm256_storeu_si256(a.as_mut_ptr() as *mut __m256i, v);
        for g in 0..8 {
            l[g * n + i] = a[g] as u8;
        }
    }
}

/// `make_qx_quants(n, nmax, x, L, rmse_type = 1, qw)` on 8 consecutive groups of `n` elements,
/// one group per lane, each lane doing exactly the scalar sequence of operations. Weights are
/// `qw` when given, else `x²` (rmse_type 1). Writes the levels (`l + nmax`) of group g to
/// `l[g·n..]` and its scale to `scales[g]`.
///
/// # Safety
/// The CPU must support AVX2 and F16C; `n <= MAX_GROUP`; `x`, `l` (and `qw`) hold at least 8·n
/// values; `scales` at least 8.
#[target_feature(enable = "avx2,f16c")]
pub unsafe fn qx_groups(n: usize, nmax: i32, x: &[f32], qw: Option<&[f32]>, l: &mut [i8], scales: &mut [f32]) {
    let n = n.min(MAX_GROUP);
    let mut xt = [_mm256_setzero_ps(); MAX_GROUP];
    let mut wt = [_mm256_setzero_ps(); MAX_GROUP];
    let idx = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(n as i32));
    for i in 0..n {
        xt[i] = _mm256_i32gather_ps::<4>(x.as_ptr().add(i), idx);
        wt[i] = match qw {
            Some(w) => _mm256_i32gather_ps::<4>(w.as_ptr().add(i), idx),
            None => _mm256_mul_ps(xt[i], xt[i]),
        };
    }
    let zero = _mm256_setzero_ps();
    let absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fff_ffff));
    let mut max = zero;
    let mut amax = zero;
    for i in 0..n {
        let ax = _mm256_and_ps(xt[i], absmask);
        let gt = _mm256_cmp_ps(ax, amax, _CMP_GT_OQ);
        amax = blend(amax, ax, gt);
        max = blend(max, xt[i], gt);
    }
    let tiny = _mm256_cmp_ps(amax, _mm256_set1_ps(crate::blocks::common::GROUP_MAX_EPS), _CMP_LT_OQ);
    let mut lv = [_mm256_setzero_si256(); MAX_GROUP];
    let mut cand = [_mm256_setzero_si256(); MAX_GROUP];
    // One pass at `iscale`: clamped levels into `out`, returns (sumlx, suml2).
    let pass = |iscale: __m256, out: &mut [__m256i; MAX_GROUP]| {
        let (mut sumlx, mut suml2) = (zero, zero);
        for i in 0..n {
            let li = clamp(nearest_int(_mm256_mul_ps(iscale, xt[i])), -nmax, nmax - 1);
            out[i] = li;
            let f = _mm256_cvtepi32_ps(li);
            sumlx = _mm256_add_ps(sumlx, _mm256_mul_ps(_mm256_mul_ps(wt[i], xt[i]), f));
            suml2 = _mm256_add_ps(suml2, _mm256_mul_ps(_mm256_mul_ps(wt[i], f), f));
        }
        (sumlx, suml2)
    };
    let iscale = _mm256_div_ps(_mm256_set1_ps((-nmax) as f32), max);
    let (sumlx, suml2) = pass(iscale, &mut lv);
    let nz = _mm256_cmp_ps(suml2, zero, _CMP_NEQ_UQ);
    let mut scale = _mm256_and_ps(nz, _mm256_div_ps(sumlx, suml2));
    let mut best = _mm256_mul_ps(scale, sumlx);
    for is in -9i32..=9 {
        if is == 0 {
            continue;
        }
        let num = -(nmax as f32 + 0.1f32 * is as f32);
        let iscale = _mm256_div_ps(_mm256_set1_ps(num), max);
        let (sumlx, suml2) = pass(iscale, &mut cand);
        let better = _mm256_and_ps(
            _mm256_cmp_ps(suml2, zero, _CMP_GT_OQ),
            _mm256_cmp_ps(_mm256_mul_ps(sumlx, sumlx), _mm256_mul_ps(best, suml2), _CMP_GT_OQ),
        );
        if _mm256_movemask_ps(better) == 0 {
            continue;
        }
        let bi = _mm256_castps_si256(better);
        for i in 0..n {
            lv[i] = _mm256_blendv_epi8(lv[i], cand[i], bi);
        }
        let s = _mm256_div_ps(sumlx, suml2);
        scale = blend(scale, s, better);
        best = blend(best, _mm256_mul_ps(s, sumlx), better);
    }
    // All-zero lanes: levels 0 and scale 0.
    let ti = _mm256_castps_si256(tiny);
    let mut sc = [0f32; 8];
    _mm256_storeu_ps(sc.as_mut_ptr(), blend(scale, zero, tiny));
    scales[..8].copy_from_slice(&sc);
    let off = _mm256_set1_epi32(nmax);
    for i in 0..n {
        let v = _mm256_andnot_si256(ti, _mm256_add_epi32(lv[i], off));
        let mut a = [0i32; 8];
        _mm256_storeu_si256(a.as_mut_ptr() as *mut __m256i, v);
        for g in 0..8 {
            l[g * n + i] = a[g] as i8;
        }
    }
}

/// f32 to little-endian f16 bytes with F16C (`vcvtps2ph`, round to nearest even): equal to
/// ggml's `ggml_compute_fp32_to_fp16` for every non-NaN input (NaN input is rejected earlier).
///
/// # Safety
/// The CPU must support AVX2 and F16C; `dst.len() == 2 * src.len()`.
#[target_feature(enable = "avx2,f16c")]
pub unsafe fn f32_to_f16_row(src: &[f32], dst: &mut [u8]) {
    let n = src.len().min(dst.len() / 2);
    let mut i = 0;
    while i + 8 <= n {
        let h = _mm256_cvtps_ph::<{ _MM_FROUND_TO_NEAREST_INT }>(_mm256_loadu_ps(src.as_ptr().add(i)));
        _mm_storeu_si128(dst.as_mut_ptr().add(2 * i) as *mut __m128i, h);
        i += 8;
    }
    while i < n {
        dst[2 * i..2 * i + 2].copy_from_slice(&crate::fp::f32_to_f16(src[i]).to_le_bytes());
        i += 1;
    }
}

/// `make_q3_quants(n, nmax, x, L, do_rmse = true)` on 8 consecutive groups of `n` elements, one
/// group per lane, each lane doing exactly the scalar sequence of operations. The refinement
/// passes run until no lane changes (a pass without change leaves a lane's state as it was, so
/// extra passes are no-ops for it, like ggml's early `break`). Writes the levels (`l + nmax`) of
/// group g to `l[g·n..]` and its scale to `scales[g]`.
///
/// # Safety
/// The CPU must support AVX2 and F16C; `n <= MAX_GROUP`; `x` and `l` hold at least 8·n values;
/// `scales` at least 8.
#[target_feature(enable = "avx2,f16c")]
pub unsafe fn q3_groups(n: usize, nmax: i32, x: &[f32], l: &mut [i8], scales: &mut [f32]) {
    q3_sets::<1>(n, nmax, x, l, scales)
}

/// [`q3_groups`] on 16 consecutive groups (two independent sets of 8 lanes interleaved, which
/// hides the latency of each lane's sequential refinement).
///
/// # Safety
/// As [`q3_groups`], with 16·n values and 16 scales.
#[target_feature(enable = "avx2,f16c")]
pub unsafe fn q3_groups16(n: usize, nmax: i32, x: &[f32], l: &mut [i8], scales: &mut [f32]) {
    q3_sets::<2>(n, nmax, x, l, scales)
}

#[inline(always)]
unsafe fn q3_sets<const S: usize>(n: usize, nmax: i32, x: &[f32], l: &mut [i8], scales: &mut [f32]) {
    let n = n.min(MAX_GROUP);
    let zero = _mm256_setzero_ps();
    let mut xt = [[zero; MAX_GROUP]; S];
    let mut wt = [[zero; MAX_GROUP]; S];
    let idx = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(n as i32));
    for s in 0..S {
        let base = x.as_ptr().add(8 * n * s);
        for i in 0..n {
            xt[s][i] = _mm256_i32gather_ps::<4>(base.add(i), idx);
            wt[s][i] = _mm256_mul_ps(xt[s][i], xt[s][i]);
        }
    }
    let absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fff_ffff));
    let mut tiny = [zero; S];
    let mut lv = [[_mm256_setzero_si256(); MAX_GROUP]; S];
    let mut sumlx = [zero; S];
    let mut suml2 = [zero; S];
    for s in 0..S {
        let mut max = zero;
        let mut amax = zero;
        for i in 0..n {
            let ax = _mm256_and_ps(xt[s][i], absmask);
            let gt = _mm256_cmp_ps(ax, amax, _CMP_GT_OQ);
            amax = blend(amax, ax, gt);
            max = blend(max, xt[s][i], gt);
        }
        tiny[s] = _mm256_cmp_ps(amax, _mm256_set1_ps(crate::blocks::common::GROUP_MAX_EPS), _CMP_LT_OQ);
        let iscale = _mm256_div_ps(_mm256_set1_ps((-nmax) as f32), max);
        for i in 0..n {
            let li = clamp(nearest_int(_mm256_mul_ps(iscale, xt[s][i])), -nmax, nmax - 1);
            lv[s][i] = li;
            let f = _mm256_cvtepi32_ps(li);
            sumlx[s] = _mm256_add_ps(sumlx[s], _mm256_mul_ps(_mm256_mul_ps(wt[s][i], xt[s][i]), f));
            suml2[s] = _mm256_add_ps(suml2[s], _mm256_mul_ps(_mm256_mul_ps(wt[s][i], f), f));
        }
    }
    for _itry in 0..5 {
        let mut changed = _mm256_setzero_si256();
        for i in 0..n {
            for s in 0..S {
                let w = wt[s][i];
                let li = _mm256_cvtepi32_ps(lv[s][i]);
                let wx = _mm256_mul_ps(w, xt[s][i]);
                let slx = _mm256_sub_ps(sumlx[s], _mm256_mul_ps(wx, li));
                let slx_pos = _mm256_cmp_ps(slx, zero, _CMP_GT_OQ);
                let sl2 = _mm256_sub_ps(suml2[s], _mm256_mul_ps(_mm256_mul_ps(w, li), li));
                let new_l = clamp(nearest_int(_mm256_div_ps(_mm256_mul_ps(xt[s][i], sl2), slx)), -nmax, nmax - 1);
                let differs = _mm256_xor_si256(_mm256_cmpeq_epi32(new_l, lv[s][i]), _mm256_set1_epi32(-1));
                let nf = _mm256_cvtepi32_ps(new_l);
                let slx2 = _mm256_add_ps(slx, _mm256_mul_ps(wx, nf));
                let sl22 = _mm256_add_ps(sl2, _mm256_mul_ps(_mm256_mul_ps(w, nf), nf));
                let better = _mm256_and_ps(
                    _mm256_cmp_ps(sl22, zero, _CMP_GT_OQ),
                    _mm256_cmp_ps(
                        _mm256_mul_ps(_mm256_mul_ps(slx2, slx2), suml2[s]),
                        _mm256_mul_ps(_mm256_mul_ps(sumlx[s], sumlx[s]), sl22),
                        _CMP_GT_OQ,
                    ),
                );
                let take = _mm256_and_si256(_mm256_and_si256(_mm256_castps_si256(slx_pos), differs), _mm256_castps_si256(better));
                let takef = _mm256_castsi256_ps(take);
                lv[s][i] = _mm256_blendv_epi8(lv[s][i], new_l, take);
                sumlx[s] = blend(sumlx[s], slx2, takef);
                suml2[s] = blend(suml2[s], sl22, takef);
                changed = _mm256_or_si256(changed, take);
            }
        }
        if _mm256_testz_si256(changed, changed) != 0 {
            break;
        }
    }
    let off = _mm256_set1_epi32(nmax);
    for s in 0..S {
        let pos = _mm256_cmp_ps(suml2[s], zero, _CMP_GT_OQ);
        let scale = _mm256_and_ps(pos, _mm256_div_ps(sumlx[s], suml2[s]));
        let mut sc = [0f32; 8];
        _mm256_storeu_ps(sc.as_mut_ptr(), blend(scale, zero, tiny[s]));
        scales[8 * s..8 * s + 8].copy_from_slice(&sc);
        let ti = _mm256_castps_si256(tiny[s]);
        for i in 0..n {
            let v = _mm256_andnot_si256(ti, _mm256_add_epi32(lv[s][i], off));
            let mut a = [0i32; 8];
            _mm256_storeu_si256(a.as_mut_ptr() as *mut __m256i, v);
            for g in 0..8 {
                l[8 * n * s + g * n + i] = a[g] as i8;
            }
        }
    }
}

/// Element-wise requantization with a stored scale: `out[i] = clamp(nearest_int((x[i] + add) /
/// d), lo, hi) + off` (the final loops of the K-quant quantizers; `add` = 0 for the symmetric
/// types, which gives the same result as ggml's `x[i] / d`). `x.len()` must be a multiple of 8.
///
/// # Safety
/// The CPU must support AVX2 and F16C; `out.len() >= x.len()`.
#[target_feature(enable = "avx2,f16c")]
pub unsafe fn requantize(x: &[f32], add: f32, d: f32, lo: i32, hi: i32, off: i32, out: &mut [u8]) {
    let (addv, dv, offv) = (_mm256_set1_ps(add), _mm256_set1_ps(d), _mm256_set1_epi32(off));
    let n = x.len().min(out.len()) / 8 * 8;
    let mut i = 0;
    while i < n {
        let v = _mm256_div_ps(_mm256_add_ps(_mm256_loadu_ps(x.as_ptr().add(i)), addv), dv);
        let l = _mm256_add_epi32(clamp(nearest_int(v), lo, hi), offv);
        let mut a = [0i32; 8];
        _mm256_storeu_si256(a.as_mut_ptr() as *mut __m256i, l);
        for k in 0..8 {
            out[i + k] = a[k] as u8;
        }
        i += 8;
    }
}

#[inline(always)]
unsafe fn load4(p: *const f32) -> [__m256; 4] {
    [_mm256_loadu_ps(p), _mm256_loadu_ps(p.add(8)), _mm256_loadu_ps(p.add(16)), _mm256_loadu_ps(p.add(24))]
}

#[inline(always)]
unsafe fn hmin(v: __m256) -> f32 {
    let m = _mm_min_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    let m = _mm_min_ps(m, _mm_movehl_ps(m, m));
    let m = _mm_min_ss(m, _mm_shuffle_ps(m, m, 1));
    _mm_cvtss_f32(m)
}

/// ggml's running `if (v < min) min = v` / `if (v > max) max = v` over a 32-block: the value of
/// the min/max, and for a zero result the first zero in order (so that -0.0 and +0.0 come out
/// as the scalar loop has them).
#[inline(always)]
unsafe fn block_min_max(xb: &[f32], v: &[__m256; 4]) -> (f32, f32) {
    let mut mn = hmin(_mm256_min_ps(_mm256_min_ps(v[0], v[1]), _mm256_min_ps(v[2], v[3])));
    let mut mx = hmax(_mm256_max_ps(_mm256_max_ps(v[0], v[1]), _mm256_max_ps(v[2], v[3])));
    if mn == 0.0 || mx == 0.0 {
        let first_zero = xb.iter().position(|&e| e == 0.0).map(|i| xb[i]).unwrap_or(0.0);
        if mn == 0.0 {
            mn = first_zero;
        }
        if mx == 0.0 {
            mx = first_zero;
        }
    }
    (mn, mx)
}

/// `(int8_t)` of a truncating conversion: the sign-extended low byte of `cvttps`.
#[inline(always)]
unsafe fn cvt_i8(p: __m256) -> __m256i {
    let i = _mm256_cvttps_epi32(p);
    _mm256_srai_epi32(_mm256_slli_epi32(i, 24), 24)
}

/// Packs 32 levels (4 × 8 i32 lanes, values 0..=255) as ggml's low nibbles (element j and j+16
/// share byte j) into 16 bytes at `out`.
#[inline(always)]
unsafe fn pack_nibbles(q: &[__m256i; 4], out: *mut u8) {
    let ff = _mm256_set1_epi32(0xff);
    let n0 = _mm256_and_si256(_mm256_or_si256(_mm256_and_si256(q[0], _mm256_set1_epi32(0xf)), _mm256_slli_epi32(q[2], 4)), ff);
    let n1 = _mm256_and_si256(_mm256_or_si256(_mm256_and_si256(q[1], _mm256_set1_epi32(0xf)), _mm256_slli_epi32(q[3], 4)), ff);
    let w = _mm256_permute4x64_epi64(_mm256_packus_epi32(n0, n1), 0b11_01_10_00);
    let b = _mm_packus_epi16(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1));
    _mm_storeu_si128(out as *mut __m128i, b);
}

/// Bit 4 of each of 32 levels, element k at bit k (the `qh` word of Q5_0/Q5_1).
#[inline(always)]
unsafe fn high_bits(q: &[__m256i; 4]) -> u32 {
    let m = |v: __m256i| _mm256_movemask_ps(_mm256_castsi256_ps(_mm256_slli_epi32(v, 27))) as u32;
    m(q[0]) | (m(q[1]) << 8) | (m(q[2]) << 16) | (m(q[3]) << 24)
}

/// `quantize_row_q4_1_ref` over whole blocks (`x.len()` = 32 × blocks, `y` = 20 × blocks).
///
/// # Safety
/// The CPU must support AVX2 and F16C.
#[target_feature(enable = "avx2,f16c")]
pub unsafe fn quantize_q4_1(x: &[f32], y: &mut [u8]) {
    for (xb, yb) in x.chunks_exact(32).zip(y.chunks_exact_mut(20)) {
        let v = load4(xb.as_ptr());
        let (min, max) = block_min_max(xb, &v);
        let d = (max - min) / 15.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        yb[..2].copy_from_slice(&f32_to_f16(d).to_le_bytes());
        yb[2..4].copy_from_slice(&f32_to_f16(min).to_le_bytes());
        let (mv, idv, half) = (_mm256_set1_ps(min), _mm256_set1_ps(id), _mm256_set1_ps(0.5));
        let q: [__m256i; 4] = std::array::from_fn(|k| {
            let i = cvt_i8(_mm256_add_ps(_mm256_mul_ps(_mm256_sub_ps(v[k], mv), idv), half));
            _mm256_min_epi32(i, _mm256_set1_epi32(15))
        });
        pack_nibbles(&q, yb.as_mut_ptr().add(4));
    }
}

/// `quantize_row_q5_0_ref` over whole blocks (`x.len()` = 32 × blocks, `y` = 22 × blocks).
///
/// # Safety
/// The CPU must support AVX2 and F16C.
#[target_feature(enable = "avx2,f16c")]
pub unsafe fn quantize_q5_0(x: &[f32], y: &mut [u8]) {
    for (xb, yb) in x.chunks_exact(32).zip(y.chunks_exact_mut(22)) {
        let v = load4(xb.as_ptr());
        let a = [abs(v[0]), abs(v[1]), abs(v[2]), abs(v[3])];
        let amax = hmax(_mm256_max_ps(_mm256_max_ps(a[0], a[1]), _mm256_max_ps(a[2], a[3])));
        let max = if amax == 0.0 { 0.0 } else { xb[xb.iter().position(|e| e.abs() == amax).unwrap_or(0)] };
        let d = max / -16.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        yb[..2].copy_from_slice(&f32_to_f16(d).to_le_bytes());
        let (idv, off) = (_mm256_set1_ps(id), _mm256_set1_ps(16.5));
        let q: [__m256i; 4] = std::array::from_fn(|k| {
            let i = cvt_i8(_mm256_add_ps(_mm256_mul_ps(v[k], idv), off));
            _mm256_and_si256(_mm256_min_epi32(i, _mm256_set1_epi32(31)), _mm256_set1_epi32(0xff))
        });
        yb[2..6].copy_from_slice(&high_bits(&q).to_le_bytes());
        pack_nibbles(&q, yb.as_mut_ptr().add(6));
    }
}

/// `quantize_row_q5_1_ref` over whole blocks (`x.len()` = 32 × blocks, `y` = 24 × blocks).
///
/// # Safety
/// The CPU must support AVX2 and F16C.
#[target_feature(enable = "avx2,f16c")]
pub unsafe fn quantize_q5_1(x: &[f32], y: &mut [u8]) {
    for (xb, yb) in x.chunks_exact(32).zip(y.chunks_exact_mut(24)) {
        let v = load4(xb.as_ptr());
        let (min, max) = block_min_max(xb, &v);
        let d = (max - min) / 31.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        yb[..2].copy_from_slice(&f32_to_f16(d).to_le_bytes());
        yb[2..4].copy_from_slice(&f32_to_f16(min).to_le_bytes());
        let (mv, idv, half) = (_mm256_set1_ps(min), _mm256_set1_ps(id), _mm256_set1_ps(0.5));
        let q: [__m256i; 4] = std::array::from_fn(|k| {
            // (uint8_t) of the truncating conversion: the low byte.
            let i = _mm256_cvttps_epi32(_mm256_add_ps(_mm256_mul_ps(_mm256_sub_ps(v[k], mv), idv), half));
            _mm256_and_si256(i, _mm256_set1_epi32(0xff))
        });
        yb[4..8].copy_from_slice(&high_bits(&q).to_le_bytes());
        pack_nibbles(&q, yb.as_mut_ptr().add(8));
    }
}

/// The 16 IQ4 levels as f32, low and high halves (for `vpermps` lookups).
#[inline(always)]
unsafe fn iq4_tables() -> (__m256, __m256) {
    let v = &crate::blocks::iq4_nl::KVALUES_IQ4NL;
    let f = |i: usize| v[i] as f32;
    (_mm256_setr_ps(f(0), f(1), f(2), f(3), f(4), f(5), f(6), f(7)), _mm256_setr_ps(f(8), f(9), f(10), f(11), f(12), f(13), f(14), f(15)))
}

/// Level `idx` (0..16 per lane) of the IQ4 table.
#[inline(always)]
unsafe fn iq4_level(t: (__m256, __m256), idx: __m256i) -> __m256 {
    let hi = _mm256_castsi256_ps(_mm256_cmpgt_epi32(idx, _mm256_set1_epi32(7)));
    _mm256_blendv_ps(_mm256_permutevar8x32_ps(t.0, idx), _mm256_permutevar8x32_ps(t.1, idx), hi)
}

/// ggml's `best_index_int8` on the IQ4 table for 8 values: the bisection's final pair is the
/// first level above `x` (`mu` = number of levels ≤ x) and the one below; the lower wins only
/// when strictly nearer, with the scalar's f32 subtractions; below the first / above the last
/// level give 0 / 15.
#[inline(always)]
unsafe fn iq4_best_index(t: (__m256, __m256), x: __m256) -> __m256i {
    let v = &crate::blocks::iq4_nl::KVALUES_IQ4NL;
    let mut mu = _mm256_set1_epi32(1);
    for &lv in &v[1..15] {
        let le = _mm256_castps_si256(_mm256_cmp_ps(_mm256_set1_ps(lv as f32), x, _CMP_LE_OQ));
        mu = _mm256_sub_epi32(mu, le);
    }
    let one = _mm256_set1_epi32(1);
    let lo_i = _mm256_sub_epi32(mu, one);
    let lo = iq4_level(t, lo_i);
    let hi = iq4_level(t, mu);
    let take_lo = _mm256_castps_si256(_mm256_cmp_ps(_mm256_sub_ps(x, lo), _mm256_sub_ps(hi, x), _CMP_LT_OQ));
    let r = _mm256_blendv_epi8(mu, lo_i, take_lo);
    let below = _mm256_castps_si256(_mm256_cmp_ps(x, _mm256_set1_ps(v[0] as f32), _CMP_LE_OQ));
    let above = _mm256_castps_si256(_mm256_cmp_ps(x, _mm256_set1_ps(v[15] as f32), _CMP_GE_OQ));
    let r = _mm256_andnot_si256(below, r);
    _mm256_blendv_epi8(r, _mm256_set1_epi32(15), above)
}

/// The IQ4 group-scale search (`crate::blocks::iq4_nl::group_scale`) on 8 consecutive groups
/// of 32 at once, one group per lane, each lane doing the scalar sequence of operations.
/// `x`, `w`: 256 values; writes group g's scale (0 for an all-zero group) to `scales[g]`.
///
/// # Safety
/// The CPU must support AVX2 and F16C; `x` and `w` hold at least 256 values, `scales` 8.
#[target_feature(enable = "avx2,f16c")]
pub unsafe fn iq4_groups(x: &[f32], w: &[f32], scales: &mut [f32]) {
    const N: usize = 32;
    assert!(x.len() >= 8 * N && w.len() >= 8 * N && scales.len() >= 8);
    let t = iq4_tables();
    let mut xt = [_mm256_setzero_ps(); N];
    let mut wt = [_mm256_setzero_ps(); N];
    let idx = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(N as i32));
    for i in 0..N {
        xt[i] = _mm256_i32gather_ps::<4>(x.as_ptr().add(i), idx);
        wt[i] = _mm256_i32gather_ps::<4>(w.as_ptr().add(i), idx);
    }
    let zero = _mm256_setzero_ps();
    let absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fff_ffff));
    let (mut max, mut amax) = (zero, zero);
    for xi in &xt {
        let ax = _mm256_and_ps(*xi, absmask);
        let gt = _mm256_cmp_ps(ax, amax, _CMP_GT_OQ);
        amax = blend(amax, ax, gt);
        max = blend(max, *xi, gt);
    }
    let tiny = _mm256_cmp_ps(amax, _mm256_set1_ps(crate::blocks::common::GROUP_MAX_EPS), _CMP_LT_OQ);
    let fit = |id: __m256| {
        let (mut sumqx, mut sumq2) = (zero, zero);
        for i in 0..N {
            let q = iq4_level(t, iq4_best_index(t, _mm256_mul_ps(id, xt[i])));
            let wq = _mm256_mul_ps(wt[i], q);
            sumqx = _mm256_add_ps(sumqx, _mm256_mul_ps(wq, xt[i]));
            sumq2 = _mm256_add_ps(sumq2, _mm256_mul_ps(wq, q));
        }
        (sumqx, sumq2)
    };
    let v0 = crate::blocks::iq4_nl::KVALUES_IQ4NL[0] as f32;
    let neg_max = _mm256_xor_ps(max, _mm256_set1_ps(-0.0));
    let d = _mm256_div_ps(neg_max, _mm256_set1_ps(v0));
    let (sumqx, sumq2) = fit(_mm256_div_ps(_mm256_set1_ps(1.0), d));
    let pos = _mm256_cmp_ps(sumq2, zero, _CMP_GT_OQ);
    let mut d = _mm256_and_ps(pos, _mm256_div_ps(sumqx, sumq2));
    let mut best = _mm256_mul_ps(d, sumqx);
    for itry in -7i32..=7 {
        let id = _mm256_div_ps(_mm256_set1_ps(itry as f32 + v0), max);
        let (sumqx, sumq2) = fit(id);
        let better = _mm256_and_ps(
            _mm256_cmp_ps(sumq2, zero, _CMP_GT_OQ),
            _mm256_cmp_ps(_mm256_mul_ps(sumqx, sumqx), _mm256_mul_ps(best, sumq2), _CMP_GT_OQ),
        );
        let s = _mm256_div_ps(sumqx, sumq2);
        d = blend(d, s, better);
        best = blend(best, _mm256_mul_ps(s, sumqx), better);
    }
    _mm256_storeu_ps(scales.as_mut_ptr(), blend(d, zero, tiny));
}

/// IQ4 level indices of `x · id` (ggml's `best_index_int8` per element) into `l`.
///
/// # Safety
/// The CPU must support AVX2 and F16C; `l.len() >= x.len()`.
#[target_feature(enable = "avx2,f16c")]
pub unsafe fn iq4_indices(x: &[f32], id: f32, l: &mut [u8]) {
    assert!(l.len() >= x.len());
    let t = iq4_tables();
    let idv = _mm256_set1_ps(id);
    let mut i = 0;
    while i + 8 <= x.len() {
        let r = iq4_best_index(t, _mm256_mul_ps(idv, _mm256_loadu_ps(x.as_ptr().add(i))));
        let mut a = [0i32; 8];
        _mm256_storeu_si256(a.as_mut_ptr() as *mut __m256i, r);
        for k in 0..8 {
            l[i + k] = a[k] as u8;
        }
        i += 8;
    }
    for k in i..x.len() {
        l[k] = crate::blocks::iq4_nl::best_index(id * x[k]) as u8;
    }
}
