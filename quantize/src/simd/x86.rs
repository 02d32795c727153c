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
