//! The tiled form of [`crate::dot::matmul`] for AVX-512 VNNI: a GEMM instead of row-by-row dot
//! products. Weight rows are unpacked once per task to one byte per quant with their scales as
//! integers ([`Weights`]); the activations once per product to the layout `vpdpbusd` wants, four
//! quants of 16 rows per register ([`Activations`]); a micro-kernel multiplies 8 weight rows by 16
//! activation rows (`J` × `R`), 64 products per instruction, with no per-row decoding, horizontal
//! sum or shuffle.
//!
//! The results equal [`crate::dot::dot_scalar`]'s bit for bit: each super-block's integer sums are
//! exact (integer additions in any order), and each output's float arithmetic is the scalar
//! reference's, one update per super-block in block order, the same operations per lane.

use crate::blocks::common::{get_scale_min_k4, read_f16, QK_K};
use crate::blocks::{q4_k, q6_k, q8_k};
use crate::dot::{bsums as q8_bsums, f32_at, q4_k_quants, q6_k_quants};
use gguf::GgmlType;

/// Activation rows per micro-tile (the 16 i32 lanes of a register).
pub const R: usize = 16;
/// Weight rows per micro-tile.
pub const J: usize = 8;

/// Groups of quants sharing one scale in a super-block: 8 of 32 (Q4_K), 16 of 16 (Q6_K).
fn groups(ty: GgmlType) -> usize {
    if ty == GgmlType::Q4_K {
        8
    } else {
        16
    }
}

/// Pairs of Q8_K bsums the micro-kernel weighs with `vpdpwssd`, per super-block: Q4_K's 4 pairs of
/// sub-block sums (each the sum of two bsums, 32 quants: one per sub-block min), Q6_K's 8 pairs of
/// bsums (one per group scale).
fn pairs(ty: GgmlType) -> usize {
    groups(ty) / 2
}

/// Packs two i16 into the i32 lane `vpdpwssd` reads: `lo` in the low half.
fn pack_i16(lo: i32, hi: i32) -> i32 {
    debug_assert!(i16::try_from(lo).is_ok() && i16::try_from(hi).is_ok(), "{lo}, {hi} out of i16");
    ((lo as u16 as u32) | ((hi as u16 as u32) << 16)) as i32
}

/// Activation rows `0..groups·R` of a product in the micro-kernel's layout, per group of [`R`]
/// rows and super-block: the 256 Q8_K quants as `[k/4][row][4]` bytes, each row's scale, and its
/// bsums as `[pair][row]` i16 pairs (see [`pairs`]; Q8_K's sums of 16 quants are at most 2,048 in
/// magnitude, a sub-block's 4,096).
pub struct Activations {
    nb: usize,
    q: Vec<i8>,
    d: Vec<f32>,
    bsum_pairs: Vec<i32>,
}

impl Activations {
    /// Re-lays the first `groups · R` rows of `x_q8` (rows of `nb` Q8_K blocks) for weights of
    /// type `ty`.
    pub fn new(ty: GgmlType, x_q8: &[u8], nb: usize, groups: usize) -> Activations {
        let a_bytes = nb * q8_k::BYTES;
        let np = pairs(ty);
        let mut q = vec![0i8; groups * nb * R * QK_K];
        let mut d = vec![0f32; groups * nb * R];
        let mut bsum_pairs = vec![0i32; groups * nb * np * R];
        for g in 0..groups {
            for b in 0..nb {
                let tile = g * nb + b;
                let qt = &mut q[tile * R * QK_K..][..R * QK_K];
                for r in 0..R {
                    let ab = &x_q8[(g * R + r) * a_bytes + b * q8_k::BYTES..][..q8_k::BYTES];
                    d[tile * R + r] = f32_at(ab, 0);
                    for k4 in 0..QK_K / 4 {
                        for i in 0..4 {
                            qt[(k4 * R + r) * 4 + i] = ab[4 + 4 * k4 + i] as i8;
                        }
                    }
                    let bs = q8_bsums(ab);
                    for p in 0..np {
                        let (lo, hi) = if ty == GgmlType::Q4_K {
                            (bs[4 * p] + bs[4 * p + 1], bs[4 * p + 2] + bs[4 * p + 3])
                        } else {
                            (bs[2 * p], bs[2 * p + 1])
                        };
                        bsum_pairs[(tile * np + p) * R + r] = pack_i16(lo, hi);
                    }
                }
            }
        }
        Activations { nb, q, d, bsum_pairs }
    }
}

/// Weight rows unpacked for the micro-kernel, per row and super-block: the 256 quants as bytes in
/// element order (Q4_K 0..15, Q6_K 0..63 before its −32), the scale of each group as i32, the
/// coefficients of [`Activations`]' bsum pairs as i16 pairs (Q4_K: the two sub-blocks' mins, Q6_K:
/// 32 × the two groups' scales, subtracted), `d` and `dmin` as f32.
pub struct Weights {
    nb: usize,
    q: Vec<u8>,
    scales: Vec<i32>,
    min_pairs: Vec<i32>,
    d: Vec<f32>,
    dmin: Vec<f32>,
}

impl Weights {
    /// Unpacks `rows` rows of `nb` blocks of `ty` (Q4_K or Q6_K).
    pub fn new(ty: GgmlType, w: &[u8], rows: usize, nb: usize) -> Weights {
        let mut made = Weights { nb, q: Vec::new(), scales: Vec::new(), min_pairs: Vec::new(), d: Vec::new(), dmin: Vec::new() };
        made.unpack(ty, w, rows, nb);
        made
    }

    /// [`Weights::new`] into this one's buffers (a task's scratch, reused by the next task on the
    /// same thread instead of fresh pages the kernel must zero).
    pub fn unpack(&mut self, ty: GgmlType, w: &[u8], rows: usize, nb: usize) {
        let (ng, np) = (groups(ty), pairs(ty));
        // every element below is written before it is read (Q6_K reads no dmin)
        fn fit<T: Default + Clone>(v: &mut Vec<T>, n: usize) {
            v.resize(n, T::default());
        }
        self.nb = nb;
        let Weights { q, scales, min_pairs, d, dmin, .. } = self;
        fit(q, rows * nb * QK_K);
        fit(scales, rows * nb * ng);
        fit(min_pairs, rows * nb * np);
        fit(d, rows * nb);
        fit(dmin, rows * nb);
        let size = if ty == GgmlType::Q4_K { q4_k::BYTES } else { q6_k::BYTES };
        for j in 0..rows {
            for b in 0..nb {
                let (t, wb) = (j * nb + b, &w[(j * nb + b) * size..][..size]);
                let qt = &mut q[t * QK_K..][..QK_K];
                if ty == GgmlType::Q4_K {
                    (d[t], dmin[t]) = (read_f16(wb, 0), read_f16(wb, 2));
                    let mut m = [0i32; 8];
                    for s in 0..8 {
                        let sm = get_scale_min_k4(s, &wb[4..16]);
                        (scales[t * ng + s], m[s]) = (sm.0 as i32, sm.1 as i32);
                    }
                    for p in 0..np {
                        min_pairs[t * np + p] = pack_i16(m[2 * p], m[2 * p + 1]);
                    }
                    q4_k_quants(wb, qt);
                } else {
                    d[t] = read_f16(wb, 208);
                    let sc = |g: usize| (wb[192 + g] as i8) as i32;
                    for g in 0..ng {
                        scales[t * ng + g] = sc(g);
                    }
                    for p in 0..np {
                        min_pairs[t * np + p] = pack_i16(32 * sc(2 * p), 32 * sc(2 * p + 1));
                    }
                    q6_k_quants(wb, qt);
                }
            }
        }
    }
}

/// The products of weight rows `j0..j0 + J` of `w` with activation rows `g·R..g·R + R` of `a`:
/// `out[j][r]`, each equal to [`crate::dot::dot_scalar`] of that pair bit for bit.
///
/// # Safety
/// The CPU must have AVX-512 F, BW and VNNI; `w` holds at least `j0 + J` rows and `a` at least
/// `g + 1` groups, of the same `nb` and of type `ty` (checked).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
pub unsafe fn micro(ty: GgmlType, w: &Weights, j0: usize, a: &Activations, g: usize) -> [[f32; R]; J] {
    use std::arch::x86_64::*;
    let nb = w.nb;
    assert!(a.nb == nb && (j0 + J) * nb <= w.d.len() && (g + 1) * nb * R <= a.d.len(), "micro-tile out of range");
    let ng = groups(ty);
    let steps = QK_K / 4 / ng; // k4 steps per group
    let q4 = ty == GgmlType::Q4_K;
    let mut acc = [_mm512_setzero_ps(); J];
    let np = pairs(ty);
    for b in 0..nb {
        let tile = g * nb + b;
        let at = a.q.as_ptr().add(tile * R * QK_K);
        let wq: [*const u8; J] = std::array::from_fn(|j| w.q.as_ptr().add(((j0 + j) * nb + b) * QK_K));
        let mut isum = [_mm512_setzero_si512(); J];
        for grp in 0..ng {
            let mut sub = [_mm512_setzero_si512(); J];
            for k4 in grp * steps..(grp + 1) * steps {
                let av = _mm512_loadu_si512(at.add(k4 * 4 * R) as *const __m512i);
                for j in 0..J {
                    let wv = _mm512_set1_epi32((wq[j].add(4 * k4) as *const i32).read_unaligned());
                    sub[j] = _mm512_dpbusd_epi32(sub[j], wv, av);
                }
            }
            for j in 0..J {
                let s = _mm512_set1_epi32(*w.scales.get_unchecked(((j0 + j) * nb + b) * ng + grp));
                isum[j] = _mm512_add_epi32(isum[j], _mm512_mullo_epi32(sub[j], s));
            }
        }
        let bp = a.bsum_pairs.as_ptr().add(tile * np * R);
        let da = _mm512_loadu_ps(a.d.as_ptr().add(tile * R));
        for j in 0..J {
            let t = (j0 + j) * nb + b;
            let m = w.min_pairs.as_ptr().add(t * np);
            let mut msum = _mm512_setzero_si512();
            for p in 0..np {
                let bs = _mm512_loadu_si512(bp.add(p * R) as *const __m512i);
                msum = _mm512_dpwssd_epi32(msum, bs, _mm512_set1_epi32(*m.add(p)));
            }
            let dd = _mm512_mul_ps(_mm512_set1_ps(*w.d.get_unchecked(t)), da);
            if q4 {
                // q4_k_acc_scaled's (acc + d·da·isum) − dmin·da·msum, per lane.
                let dm = _mm512_mul_ps(_mm512_set1_ps(*w.dmin.get_unchecked(t)), da);
                let plus = _mm512_add_ps(acc[j], _mm512_mul_ps(dd, _mm512_cvtepi32_ps(isum[j])));
                acc[j] = _mm512_sub_ps(plus, _mm512_mul_ps(dm, _mm512_cvtepi32_ps(msum)));
            } else {
                // q6_k_acc_scaled's acc + d·da·isum, isum = Σ scale·q·q8 − 32·Σ scale·bsum.
                let is = _mm512_cvtepi32_ps(_mm512_sub_epi32(isum[j], msum));
                acc[j] = _mm512_add_ps(acc[j], _mm512_mul_ps(dd, is));
            }
        }
    }
    let mut out = [[0f32; R]; J];
    for j in 0..J {
        _mm512_storeu_ps(out[j].as_mut_ptr(), acc[j]);
    }
    out
}
