//! AVX-512 kernels (F, BW, VL, DQ with F16C). Every function is `unsafe` with
//! `#[target_feature]`: call only when [`super::has_avx512`] is true. Same rules as the AVX2
//! kernels: element-wise work is vectorised inside a block, searches run one group per lane (16
//! lanes) with each lane doing exactly the scalar sequence of f32 operations, and no sum is
//! re-associated.

use std::arch::x86_64::*;

use crate::fp::f32_to_f16;

/// Most elements per group handled by the lane-per-group kernels.
pub const MAX_GROUP: usize = 32;

/// Lanes (groups) per vector.
pub const LANES: usize = 16;

/// Lane indices times `n`: the gather offsets of element 0 of 16 consecutive groups of `n`.
#[inline(always)]
unsafe fn group_offsets(n: usize) -> __m512i {
    _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32(n as i32))
}

/// ggml's `nearest_int` on 16 lanes (same bit trick, so same result for every input).
#[inline(always)]
unsafe fn nearest_int(v: __m512) -> __m512i {
    let b = _mm512_castps_si512(_mm512_add_ps(v, _mm512_set1_ps(12582912.0)));
    _mm512_sub_epi32(_mm512_and_si512(b, _mm512_set1_epi32(0x007f_ffff)), _mm512_set1_epi32(0x0040_0000))
}

#[inline(always)]
unsafe fn clamp(l: __m512i, lo: i32, hi: i32) -> __m512i {
    _mm512_max_epi32(_mm512_min_epi32(l, _mm512_set1_epi32(hi)), _mm512_set1_epi32(lo))
}

/// ggml's first-strict-maximum of |x| over a group: (amax, the signed value), per lane.
#[inline(always)]
unsafe fn signed_absmax(xt: &[__m512]) -> (__m512, __m512) {
    let zero = _mm512_setzero_ps();
    let (mut max, mut amax) = (zero, zero);
    for &x in xt {
        let ax = _mm512_abs_ps(x);
        let gt = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(ax, amax);
        amax = _mm512_mask_blend_ps(gt, amax, ax);
        max = _mm512_mask_blend_ps(gt, max, x);
    }
    (amax, max)
}

/// Writes lane g of `lv[i]` plus `off` (0 for lanes in `zero_lanes`) to `l[g·n + i]`.
#[inline(always)]
unsafe fn store_levels(lv: &[__m512i], n: usize, off: i32, zero_lanes: __mmask16, l: &mut [i8]) {
    let offv = _mm512_set1_epi32(off);
    for (i, v) in lv.iter().enumerate().take(n) {
        let v = _mm512_maskz_add_epi32(!zero_lanes, *v, offv);
        let mut b = [0i8; 16];
        _mm_storeu_si128(b.as_mut_ptr() as *mut __m128i, _mm512_cvtepi32_epi8(v));
        for g in 0..LANES {
            l[g * n + i] = b[g];
        }
    }
}

/// `make_q3_quants(N, nmax, x, L, do_rmse = true)` on `S` independent sets of 16 consecutive
/// groups of `N` elements (set s, group g starts at `x[(16·s + g)·N]`), one group per lane,
/// each lane doing exactly the scalar sequence of operations. The sets are interleaved to hide
/// the latency of each lane's sequential refinement. A set's refinement passes run until none
/// of its lanes changes (a pass without change leaves a lane's state as it was, so further
/// passes are no-ops for it, like ggml's early `break`). Writes levels (`l + nmax`) to
/// `l[(16·s + g)·n..]` and scales to `scales[16·s + g]`.
///
/// # Safety
/// The CPU must support AVX-512 F/BW/VL/DQ; `x` and `l` hold at least 16·S·N values, `scales`
/// at least 16·S.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx2,f16c")]
pub unsafe fn q3_groups<const S: usize, const N: usize>(nmax: i32, x: &[f32], l: &mut [i8], scales: &mut [f32]) {
    let n = N;
    let zero = _mm512_setzero_ps();
    // Per element: x, w = x², wx = w·x; the state: the level as f32 (`lf`), and its terms
    // `wx·l` and `(w·l)·l` of sumlx / suml2 (ggml recomputes them from l with the same
    // operations, so keeping them gives the same values). Arrays are built element by element
    // (no zero-filling of stack arrays on every call).
    let idx = group_offsets(n);
    let xt: [[__m512; N]; S] =
        std::array::from_fn(|s| std::array::from_fn(|i| _mm512_i32gather_ps::<4>(idx, x.as_ptr().add(LANES * n * s + i))));
    let wt: [[__m512; N]; S] = std::array::from_fn(|s| std::array::from_fn(|i| _mm512_mul_ps(xt[s][i], xt[s][i])));
    let wxt: [[__m512; N]; S] = std::array::from_fn(|s| std::array::from_fn(|i| _mm512_mul_ps(wt[s][i], xt[s][i])));
    let mut tiny = [0 as __mmask16; S];
    let mut iscale = [zero; S];
    for s in 0..S {
        let (amax, max) = signed_absmax(&xt[s]);
        tiny[s] = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(amax, _mm512_set1_ps(crate::blocks::common::GROUP_MAX_EPS));
        iscale[s] = _mm512_div_ps(_mm512_set1_ps((-nmax) as f32), max);
    }
    let mut lf: [[__m512; N]; S] = std::array::from_fn(|s| {
        std::array::from_fn(|i| _mm512_cvtepi32_ps(clamp(nearest_int(_mm512_mul_ps(iscale[s], xt[s][i])), -nmax, nmax - 1)))
    });
    let mut wxl: [[__m512; N]; S] = std::array::from_fn(|s| std::array::from_fn(|i| _mm512_mul_ps(wxt[s][i], lf[s][i])));
    let mut wl2: [[__m512; N]; S] =
        std::array::from_fn(|s| std::array::from_fn(|i| _mm512_mul_ps(_mm512_mul_ps(wt[s][i], lf[s][i]), lf[s][i])));
    let mut sumlx = [zero; S];
    let mut suml2 = [zero; S];
    for s in 0..S {
        for i in 0..n {
            sumlx[s] = _mm512_add_ps(sumlx[s], wxl[s][i]);
            suml2[s] = _mm512_add_ps(suml2[s], wl2[s][i]);
        }
    }
    let mut active = [true; S];
    for _itry in 0..5 {
        let mut changed = [0 as __mmask16; S];
        for i in 0..n {
            for s in 0..S {
                if !active[s] {
                    continue;
                }
                let (w, xi, wx) = (wt[s][i], xt[s][i], wxt[s][i]);
                let slx = _mm512_sub_ps(sumlx[s], wxl[s][i]);
                let slx_pos = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(slx, zero);
                let sl2 = _mm512_sub_ps(suml2[s], wl2[s][i]);
                let new_l = clamp(nearest_int(_mm512_div_ps(_mm512_mul_ps(xi, sl2), slx)), -nmax, nmax - 1);
                let nf = _mm512_cvtepi32_ps(new_l);
                let differs = _mm512_cmp_ps_mask::<_CMP_NEQ_UQ>(nf, lf[s][i]);
                let wxn = _mm512_mul_ps(wx, nf);
                let wn2 = _mm512_mul_ps(_mm512_mul_ps(w, nf), nf);
                let slx2 = _mm512_add_ps(slx, wxn);
                let sl22 = _mm512_add_ps(sl2, wn2);
                let better = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(sl22, zero)
                    & _mm512_cmp_ps_mask::<_CMP_GT_OQ>(
                        _mm512_mul_ps(_mm512_mul_ps(slx2, slx2), suml2[s]),
                        _mm512_mul_ps(_mm512_mul_ps(sumlx[s], sumlx[s]), sl22),
                    );
                let take = slx_pos & differs & better;
                lf[s][i] = _mm512_mask_blend_ps(take, lf[s][i], nf);
                wxl[s][i] = _mm512_mask_blend_ps(take, wxl[s][i], wxn);
                wl2[s][i] = _mm512_mask_blend_ps(take, wl2[s][i], wn2);
                sumlx[s] = _mm512_mask_blend_ps(take, sumlx[s], slx2);
                suml2[s] = _mm512_mask_blend_ps(take, suml2[s], sl22);
                changed[s] |= take;
            }
        }
        let mut any = false;
        for s in 0..S {
            active[s] = active[s] && changed[s] != 0;
            any |= active[s];
        }
        if !any {
            break;
        }
    }
    for s in 0..S {
        let pos = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(suml2[s], zero);
        let scale = _mm512_maskz_div_ps(pos & !tiny[s], sumlx[s], suml2[s]);
        _mm512_storeu_ps(scales.as_mut_ptr().add(LANES * s), scale);
        let lv: [__m512i; N] = std::array::from_fn(|i| _mm512_cvtps_epi32(lf[s][i]));
        store_levels(&lv, n, nmax, tiny[s], &mut l[LANES * n * s..]);
    }
}

/// `make_qx_quants(n, nmax, x, L, rmse_type = 1, qw)` on 16 consecutive groups of `n` elements,
/// one group per lane, each lane doing exactly the scalar sequence of operations. Weights are
/// `qw` when given, else `x²`. Writes the levels (`l + nmax`) of group g to `l[g·n..]` and its
/// scale to `scales[g]`.
///
/// # Safety
/// The CPU must support AVX-512 F/BW/VL/DQ; `n <= MAX_GROUP`; `x`, `l` (and `qw`) hold at
/// least 16·n values; `scales` at least 16.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx2,f16c")]
pub unsafe fn qx_groups(n: usize, nmax: i32, x: &[f32], qw: Option<&[f32]>, l: &mut [i8], scales: &mut [f32]) {
    let n = n.min(MAX_GROUP);
    let zero = _mm512_setzero_ps();
    let mut xt = [zero; MAX_GROUP];
    // wx[i] = w·x, the first product of ggml's `w*x[i]*l`.
    let mut wt = [zero; MAX_GROUP];
    let mut wx = [zero; MAX_GROUP];
    let idx = group_offsets(n);
    for i in 0..n {
        xt[i] = _mm512_i32gather_ps::<4>(idx, x.as_ptr().add(i));
        wt[i] = match qw {
            Some(w) => _mm512_i32gather_ps::<4>(idx, w.as_ptr().add(i)),
            None => _mm512_mul_ps(xt[i], xt[i]),
        };
        wx[i] = _mm512_mul_ps(wt[i], xt[i]);
    }
    let (amax, max) = signed_absmax(&xt[..n]);
    let tiny = _mm512_cmp_ps_mask::<_CMP_LT_OQ>(amax, _mm512_set1_ps(crate::blocks::common::GROUP_MAX_EPS));
    let mut lv = [_mm512_setzero_si512(); MAX_GROUP];
    let mut cand = [_mm512_setzero_si512(); MAX_GROUP];
    // One pass at `iscale`: clamped levels into `out`, returns (sumlx, suml2).
    let pass = |iscale: __m512, out: &mut [__m512i; MAX_GROUP]| {
        let (mut sumlx, mut suml2) = (zero, zero);
        for i in 0..n {
            let li = clamp(nearest_int(_mm512_mul_ps(iscale, xt[i])), -nmax, nmax - 1);
            out[i] = li;
            let f = _mm512_cvtepi32_ps(li);
            sumlx = _mm512_add_ps(sumlx, _mm512_mul_ps(wx[i], f));
            suml2 = _mm512_add_ps(suml2, _mm512_mul_ps(_mm512_mul_ps(wt[i], f), f));
        }
        (sumlx, suml2)
    };
    let iscale = _mm512_div_ps(_mm512_set1_ps((-nmax) as f32), max);
    let (sumlx, suml2) = pass(iscale, &mut lv);
    let nz = _mm512_cmp_ps_mask::<_CMP_NEQ_UQ>(suml2, zero);
    let mut scale = _mm512_maskz_div_ps(nz, sumlx, suml2);
    let mut best = _mm512_mul_ps(scale, sumlx);
    for is in -9i32..=9 {
        if is == 0 {
            continue;
        }
        let num = -(nmax as f32 + 0.1f32 * is as f32);
        let iscale = _mm512_div_ps(_mm512_set1_ps(num), max);
        let (sumlx, suml2) = pass(iscale, &mut cand);
        let better = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(suml2, zero)
            & _mm512_cmp_ps_mask::<_CMP_GT_OQ>(_mm512_mul_ps(sumlx, sumlx), _mm512_mul_ps(best, suml2));
        if better == 0 {
            continue;
        }
        for i in 0..n {
            lv[i] = _mm512_mask_blend_epi32(better, lv[i], cand[i]);
        }
        let s = _mm512_div_ps(sumlx, suml2);
        scale = _mm512_mask_blend_ps(better, scale, s);
        best = _mm512_mask_blend_ps(better, best, _mm512_mul_ps(s, sumlx));
    }
    _mm512_storeu_ps(scales.as_mut_ptr(), _mm512_mask_blend_ps(tiny, scale, zero));
    store_levels(&lv[..n], n, nmax, tiny, l);
}

/// C's `roundf` (half away from zero), exact for every input, element-wise.
#[inline(always)]
unsafe fn round_away(p: __m512) -> __m512 {
    let t = _mm512_roundscale_ps::<{ _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC }>(p);
    let ge = _mm512_cmp_ps_mask::<_CMP_GE_OQ>(_mm512_abs_ps(_mm512_sub_ps(p, t)), _mm512_set1_ps(0.5));
    let one = _mm512_castsi512_ps(_mm512_or_si512(
        _mm512_castps_si512(_mm512_set1_ps(1.0)),
        _mm512_and_si512(_mm512_castps_si512(p), _mm512_set1_epi32(i32::MIN)),
    ));
    _mm512_mask_add_ps(t, ge, t, one)
}

/// Loads one block of 32 f16 values (64 bytes at `p`) as two f32 vectors; returns them and the
/// mask of Inf/NaN elements (bit k = element k).
#[inline(always)]
unsafe fn load_f16_block(p: *const u8) -> (__m512, __m512, u32) {
    // Two 32-byte loads (f16 data is often not 64-byte aligned: fewer cache-line splits) and a
    // software prefetch well ahead of the stream.
    _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(2048) as *const i8);
    let h0 = _mm256_loadu_si256(p as *const __m256i);
    let h1 = _mm256_loadu_si256(p.add(32) as *const __m256i);
    let expmask = _mm256_set1_epi16(0x7c00);
    let bad0 = _mm256_cmpeq_epi16_mask(_mm256_and_si256(h0, expmask), expmask) as u32;
    let bad1 = _mm256_cmpeq_epi16_mask(_mm256_and_si256(h1, expmask), expmask) as u32;
    (_mm512_cvtph_ps(h0), _mm512_cvtph_ps(h1), bad0 | (bad1 << 16))
}

/// `quantize_row_q8_0_ref` straight from little-endian f16 bytes (64 per block, converted
/// exactly to f32 in registers as ggml's F16 → F32 step does), into `y` (34 bytes per block).
/// Returns the index of the first Inf/NaN element and stops there (the output is then
/// incomplete).
///
/// # Safety
/// The CPU must support AVX-512 F/BW/VL/DQ and F16C; `src.len() / 64 == y.len() / 34`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx2,f16c")]
pub unsafe fn quantize_q8_0_from_f16(src: &[u8], y: &mut [u8]) -> Option<usize> {
    for (b, (hb, yb)) in src.chunks_exact(64).zip(y.chunks_exact_mut(34)).enumerate() {
        let (lo, hi, bad) = load_f16_block(hb.as_ptr());
        if bad != 0 {
            return Some(32 * b + bad.trailing_zeros() as usize);
        }
        let amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(lo), _mm512_abs_ps(hi)));
        let d = amax / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        yb[..2].copy_from_slice(&f32_to_f16(d).to_le_bytes());
        let idv = _mm512_set1_ps(id);
        // (int8_t)roundf(x·id): the truncating conversion's low byte (vpmovdb truncates).
        let q0 = _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(round_away(_mm512_mul_ps(lo, idv))));
        let q1 = _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(round_away(_mm512_mul_ps(hi, idv))));
        _mm_storeu_si128(yb.as_mut_ptr().add(2) as *mut __m128i, q0);
        _mm_storeu_si128(yb.as_mut_ptr().add(18) as *mut __m128i, q1);
    }
    None
}

/// `quantize_row_q4_0_ref` straight from little-endian f16 bytes (64 per block) into `y` (18
/// bytes per block); as [`quantize_q8_0_from_f16`] for conversion and Inf/NaN.
///
/// # Safety
/// The CPU must support AVX-512 F/BW/VL/DQ and F16C; `src.len() / 64 == y.len() / 18`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx2,f16c")]
pub unsafe fn quantize_q4_0_from_f16(src: &[u8], y: &mut [u8]) -> Option<usize> {
    let (off, fifteen) = (_mm512_set1_ps(8.5), _mm512_set1_epi32(15));
    for (b, (hb, yb)) in src.chunks_exact(64).zip(y.chunks_exact_mut(18)).enumerate() {
        let (lo, hi, bad) = load_f16_block(hb.as_ptr());
        if bad != 0 {
            return Some(32 * b + bad.trailing_zeros() as usize);
        }
        let (alo, ahi) = (_mm512_abs_ps(lo), _mm512_abs_ps(hi));
        let amax = _mm512_reduce_max_ps(_mm512_max_ps(alo, ahi));
        // ggml keeps the first element whose |x| is the maximum (0.0 when all are zero); its
        // value is ±amax with the sign of that f16.
        let max = if amax == 0.0 {
            0.0
        } else {
            let am = _mm512_set1_ps(amax);
            let m = (_mm512_cmp_ps_mask::<_CMP_EQ_OQ>(alo, am) as u32) | ((_mm512_cmp_ps_mask::<_CMP_EQ_OQ>(ahi, am) as u32) << 16);
            let k = m.trailing_zeros() as usize;
            if hb[2 * k + 1] & 0x80 != 0 {
                -amax
            } else {
                amax
            }
        };
        let d = max / -8.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        yb[..2].copy_from_slice(&f32_to_f16(d).to_le_bytes());
        let idv = _mm512_set1_ps(id);
        // MIN(15, (int8_t)(x·id + 8.5)) as uint8_t; byte j = q[j] | q[j + 16] << 4.
        let level = |v: __m512| {
            let i = _mm512_cvttps_epi32(_mm512_add_ps(_mm512_mul_ps(v, idv), off));
            _mm512_min_epi32(_mm512_srai_epi32::<24>(_mm512_slli_epi32::<24>(i)), fifteen)
        };
        let packed = _mm512_or_si512(level(lo), _mm512_slli_epi32::<4>(level(hi)));
        _mm_storeu_si128(yb.as_mut_ptr().add(2) as *mut __m128i, _mm512_cvtepi32_epi8(packed));
    }
    None
}

/// The last steps of Q3_K's quantizers (`quantize_row_q3_K_ref` and `_impl`) for one
/// super-block: each group j of 16 with `d = dall · sc[j]` non-zero is requantized to
/// `clamp(nearest_int(x / d), -4, 3) + 4` (a group with d = 0 keeps its search levels `l`,
/// values 0..=7), then the high bits go to `y[0..32]` (hmask: element e is bit e / 32 of byte
/// e % 32) and the low two bits to `y[32..96]` (qs: four elements 32 apart per byte).
///
/// # Safety
/// The CPU must support AVX-512 F/BW/VL/DQ; `x` and `l` hold 256 values, `y` at least 96 bytes.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx2,f16c")]
pub unsafe fn q3_k_finish(x: &[f32], l: &[i8], dall: f32, sc: &[i8; 16], y: &mut [u8]) {
    let mut lv = [_mm512_setzero_si512(); 16];
    for (j, v) in lv.iter_mut().enumerate() {
        let d = dall * sc[j] as f32;
        *v = if d == 0.0 {
            _mm512_cvtepi8_epi32(_mm_loadu_si128(l.as_ptr().add(16 * j) as *const __m128i))
        } else {
            let q = nearest_int(_mm512_div_ps(_mm512_loadu_ps(x.as_ptr().add(16 * j)), _mm512_set1_ps(d)));
            _mm512_add_epi32(clamp(q, -4, 3), _mm512_set1_epi32(4))
        };
    }
    let (one, three) = (_mm512_set1_epi32(1), _mm512_set1_epi32(3));
    // hmask: bit b of byte i (i < 16) from group 2b, of byte 16 + i from group 2b + 1.
    for h in 0..2 {
        let mut acc = _mm512_setzero_si512();
        for b in 0..8 {
            let bit = _mm512_and_si512(_mm512_srli_epi32::<2>(lv[2 * b + h]), one);
            acc = _mm512_or_si512(acc, _mm512_sllv_epi32(bit, _mm512_set1_epi32(b as i32)));
        }
        _mm_storeu_si128(y.as_mut_ptr().add(16 * h) as *mut __m128i, _mm512_cvtepi32_epi8(acc));
    }
    // qs: byte 32 + 32·k + i (i < 16) from groups 8k, 8k+2, 8k+4, 8k+6; 16 + i from the odd ones.
    let low = |v: __m512i, b: u32| _mm512_sllv_epi32(_mm512_and_si512(v, three), _mm512_set1_epi32(2 * b as i32));
    for k in 0..2 {
        for h in 0..2 {
            let mut acc = _mm512_setzero_si512();
            for b in 0..4 {
                acc = _mm512_or_si512(acc, low(lv[8 * k + h + 2 * b], b as u32));
            }
            _mm_storeu_si128(y.as_mut_ptr().add(32 + 32 * k + 16 * h) as *mut __m128i, _mm512_cvtepi32_epi8(acc));
        }
    }
}
