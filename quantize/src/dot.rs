//! Dot products of K-quant weight rows with activations quantized to Q8_K, and the row-parallel
//! matrix product built on them: the quantized matmul of `ggufkit validate` on the CPU (as
//! llama.cpp's `ggml_vec_dot_q4_K_q8_K` / `ggml_vec_dot_q6_K_q8_K`: activations rounded to Q8_K
//! per row, integer products per super-block, one float scale per super-block).
//!
//! Each super-block's integer sum is exact, so the AVX2 and AVX-512 VNNI paths and the tiled GEMM
//! of [`crate::dot_tiled`] (behind runtime detection; `GGUFKIT_NO_AVX512` keeps the AVX2 ones,
//! `GGUFKIT_NO_TILED` the row-by-row ones) give the scalar reference's result bit for bit: the
//! float arithmetic, one multiply-add per super-block in block order, is the same code for all.
//! Against ggml's own kernels the result differs only by that float rounding (ggml sums the 8
//! lanes of a block's scaled products in f32).

use crate::blocks::common::{get_scale_min_k4, read_f16, QK_K};
use crate::blocks::{q4_k, q6_k, q8_k};
use gguf::GgmlType;
use rayon::prelude::*;

use crate::dot_tiled as tiled;

/// Bytes of one Q4_K block: `d: f16, dmin: f16, scales: [u8; 12], qs: [u8; 128]`.
const Q4_K_BYTES: usize = q4_k::BYTES;
/// Bytes of one Q6_K block: `ql: [u8; 128], qh: [u8; 64], scales: [i8; 16], d: f16`.
const Q6_K_BYTES: usize = q6_k::BYTES;

/// The weight types [`matmul`] takes.
pub fn supports(ty: GgmlType) -> bool {
    matches!(ty, GgmlType::Q4_K | GgmlType::Q6_K)
}

/// Activations `[m, k]` (f32) as Q8_K rows (`k` a multiple of 256): `m · k/256 · 292` bytes.
pub fn quantize_q8_k(x: &[f32], k: usize) -> Vec<u8> {
    let blocks = k / QK_K;
    let mut out = vec![0u8; x.len() / QK_K * q8_k::BYTES];
    out.par_chunks_mut(blocks * q8_k::BYTES).zip(x.par_chunks(k)).for_each(|(o, row)| {
        for (ob, xb) in o.chunks_exact_mut(q8_k::BYTES).zip(row.chunks_exact(QK_K)) {
            q8_k::quantize_block(xb, ob);
        }
    });
    out
}

/// The f32 at byte `at` of `b` (a Q8_K block's scale at 0).
pub(crate) fn f32_at(b: &[u8], at: usize) -> f32 {
    f32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Q8_K's 16 group sums of a block.
pub(crate) fn bsums(a: &[u8]) -> [i32; 16] {
    std::array::from_fn(|g| i16::from_le_bytes([a[260 + 2 * g], a[261 + 2 * g]]) as i32)
}

/// A Q4_K block's 256 quants (0..15) into `q`, in element order: sub-block `j` is the low (even `j`) or
/// high (odd `j`) nibbles of bytes `32·(j/2)..` of `qs`.
pub(crate) fn q4_k_quants(w: &[u8], q: &mut [u8]) {
    for (p, chunk) in w[16..144].chunks_exact(32).enumerate() {
        for (l, &byte) in chunk.iter().enumerate() {
            (q[64 * p + l], q[64 * p + 32 + l]) = (byte & 0xF, byte >> 4);
        }
    }
}

/// A Q6_K block's 256 quants (0..63, before their −32) into `q`, in element order: per half of 128, four
/// parts of 32 from the low/high nibbles of `ql` and two bits each of `qh`.
pub(crate) fn q6_k_quants(w: &[u8], q: &mut [u8]) {
    for half in 0..2 {
        let (ql, qh) = (&w[64 * half..], &w[128 + 32 * half..]);
        for l in 0..32 {
            let e = 128 * half + l;
            q[e] = (ql[l] & 0xF) | ((qh[l] & 3) << 4);
            q[e + 32] = (ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4);
            q[e + 64] = (ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4);
            q[e + 96] = (ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4);
        }
    }
}

/// The exact integer parts of one Q4_K · Q8_K block: (Σ scale·Σ q4·q8, Σ min·Σ q8).
fn q4_k_block_scalar(w: &[u8], a: &[u8]) -> (i32, i32) {
    let mut q = [0u8; QK_K];
    q4_k_quants(w, &mut q);
    let q8 = &a[4..260];
    let bs = bsums(a);
    let (mut isum, mut msum) = (0i32, 0i32);
    for j in 0..8 {
        let (s, m) = get_scale_min_k4(j, &w[4..16]);
        let (s, m) = (s as i32, m as i32);
        let dot: i32 = (32 * j..32 * j + 32).map(|e| q[e] as i32 * (q8[e] as i8) as i32).sum();
        isum += s * dot;
        msum += m * (bs[2 * j] + bs[2 * j + 1]);
    }
    (isum, msum)
}

/// The exact integer part of one Q6_K · Q8_K block: Σ scale·Σ (q6 − 32)·q8.
fn q6_k_block_scalar(w: &[u8], a: &[u8]) -> i32 {
    let (mut q, sc) = ([0u8; QK_K], &w[192..208]);
    q6_k_quants(w, &mut q);
    let q8 = &a[4..260];
    (0..QK_K).map(|e| (sc[e / 16] as i8) as i32 * (q[e] as i32 - 32) * (q8[e] as i8) as i32).sum()
}

/// A Q4_K block's contribution added to `acc`: the float arithmetic of every path (so that
/// they agree bit for bit), from the block's exact integer sums.
#[inline(always)]
fn q4_k_acc(acc: f32, w: &[u8], da: f32, isum: i32, msum: i32) -> f32 {
    q4_k_acc_scaled(acc, read_f16(w, 0), read_f16(w, 2), da, isum, msum)
}

/// [`q4_k_acc`] with the block's `d` and `dmin` already read.
#[inline(always)]
fn q4_k_acc_scaled(acc: f32, d: f32, dmin: f32, da: f32, isum: i32, msum: i32) -> f32 {
    acc + d * da * isum as f32 - dmin * da * msum as f32
}

/// A Q6_K block's contribution added to `acc` (see [`q4_k_acc`]).
#[inline(always)]
fn q6_k_acc(acc: f32, w: &[u8], da: f32, isum: i32) -> f32 {
    q6_k_acc_scaled(acc, read_f16(w, 208), da, isum)
}

/// [`q6_k_acc`] with the block's `d` already read.
#[inline(always)]
fn q6_k_acc_scaled(acc: f32, d: f32, da: f32, isum: i32) -> f32 {
    acc + d * da * isum as f32
}

/// One weight row · one Q8_K activation row, `k` elements; scalar reference.
pub fn dot_scalar(ty: GgmlType, w: &[u8], a: &[u8], k: usize) -> f32 {
    let mut acc = 0f32;
    for b in 0..k / QK_K {
        let ab = &a[b * q8_k::BYTES..][..q8_k::BYTES];
        let da = f32_at(ab, 0);
        match ty {
            GgmlType::Q4_K => {
                let wb = &w[b * Q4_K_BYTES..][..Q4_K_BYTES];
                let (isum, msum) = q4_k_block_scalar(wb, ab);
                acc = q4_k_acc(acc, wb, da, isum, msum);
            }
            GgmlType::Q6_K => {
                let wb = &w[b * Q6_K_BYTES..][..Q6_K_BYTES];
                acc = q6_k_acc(acc, wb, da, q6_k_block_scalar(wb, ab));
            }
            _ => unreachable!("dot of {ty:?}: checked by supports()"),
        }
    }
    acc
}

/// One weight row · one Q8_K activation row, `k` elements: the AVX2 path where the CPU has it
/// (equal to [`dot_scalar`] bit for bit), else the scalar one.
pub fn dot(ty: GgmlType, w: &[u8], a: &[u8], k: usize) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if crate::simd::has_avx2() {
        // SAFETY: AVX2 is present (checked at run time).
        return unsafe { avx2::dot(ty, w, a, k / QK_K) };
    }
    dot_scalar(ty, w, a, k)
}

/// One weight row · `N` Q8_K activation rows; scalar reference of the AVX2 [`dotn`].
pub fn dotn_scalar<const N: usize>(ty: GgmlType, w: &[u8], a: [&[u8]; N], k: usize) -> [f32; N] {
    a.map(|a| dot_scalar(ty, w, a, k))
}

/// One weight row · `N` Q8_K activation rows (`N` a multiple of 4), each result equal to
/// [`dot`]'s bit for bit: the AVX-512 VNNI or AVX2 path decodes each weight block once for the
/// `N` rows.
pub fn dotn<const N: usize>(ty: GgmlType, w: &[u8], a: [&[u8]; N], k: usize) -> [f32; N] {
    assert!(N.is_multiple_of(4), "dotn takes rows in fours, not {N}");
    #[cfg(target_arch = "x86_64")]
    if crate::simd::has_avx512_vnni() {
        // SAFETY: AVX-512 (F, BW, VL, VNNI), AVX2 and F16C are present (checked at run time).
        return unsafe { avx512::dotn(ty, w, a, k / QK_K) };
    }
    #[cfg(target_arch = "x86_64")]
    if crate::simd::has_avx2() {
        // SAFETY: AVX2 and F16C are present (checked at run time).
        return unsafe { avx2::dotn(ty, w, a, k / QK_K) };
    }
    dotn_scalar(ty, w, a, k)
}

/// Activation rows each weight row meets at once in [`matmul`] (by [`dotn`]).
const ROWS: usize = 8;
/// Bytes of weight rows one parallel task takes (they stay in the core's L2 cache while every
/// activation row passes them).
const WEIGHT_CHUNK_BYTES: usize = 192 << 10;
/// Bytes of activation rows multiplied by each weight row of a chunk in turn (an L2-sized tile,
/// beside the weight chunk).
const ACTIVATION_TILE_BYTES: usize = 128 << 10;

/// `y = x · Wᵀ`: `w` holds `n` rows of `k` weights of type `ty` (ggml blocks), `x_q8` the `m`
/// activation rows from [`quantize_q8_k`]; `y` is `[m, n]` f32. Parallel over chunks of weight
/// rows (about [`WEIGHT_CHUNK_BYTES`] each); within a chunk, activation rows go by tiles of about
/// [`ACTIVATION_TILE_BYTES`], each tile meeting every weight row of the chunk, so that the
/// activations are read from memory once per chunk instead of once per 16 weight rows.
pub fn matmul(ty: GgmlType, w: &[u8], n: usize, k: usize, x_q8: &[u8], m: usize) -> Vec<f32> {
    assert!(supports(ty) && k.is_multiple_of(QK_K), "matmul of {ty:?} with k = {k}");
    let nb = k / QK_K;
    let row_bytes = nb * if ty == GgmlType::Q4_K { Q4_K_BYTES } else { Q6_K_BYTES };
    let a_bytes = nb * q8_k::BYTES;
    assert_eq!(w.len(), n * row_bytes, "weights of {n} rows");
    assert_eq!(x_q8.len(), m * a_bytes, "activations of {m} rows");
    // AVX-512 VNNI: whole groups of tiled::R activation rows go through the tiled GEMM, the rest
    // (and a chunk's last weight rows short of tiled::J) through dotn.
    let tiled = tiled_available() && m >= tiled::R;
    let groups = if tiled { m / tiled::R } else { 0 };
    let acts = tiled.then(|| tiled::Activations::new(ty, x_q8, nb, groups));
    let tiled_rows = groups * tiled::R;
    // At least 4 tasks per thread where the matrix allows it, at most the cache-sized chunk (for
    // the tiled GEMM: of unpacked weights, one byte per quant).
    let per_thread = n.div_ceil(4 * rayon::current_num_threads()).max(1);
    let rows_per_chunk = if tiled {
        (TILED_WEIGHT_CHUNK_BYTES / k).clamp(tiled::J, 256).min(per_thread.next_multiple_of(tiled::J)) / tiled::J * tiled::J
    } else {
        (WEIGHT_CHUNK_BYTES / row_bytes.max(1)).clamp(16, 256).min(per_thread).max(1)
    };
    // Whole groups of ROWS activation rows per tile: a tile's remainder goes row by row.
    let tile = (ACTIVATION_TILE_BYTES / a_bytes.max(1)).max(1).next_multiple_of(ROWS);
    // Each task writes its own columns of y (weight rows j0.. of its chunk) in every row r.
    let mut y: Vec<f32> = Vec::with_capacity(m * n);
    let out = Columns(y.as_mut_ptr());
    w.par_chunks(rows_per_chunk * row_bytes).enumerate().for_each(|(c, w)| {
        let (rows, j0) = (w.len() / row_bytes, c * rows_per_chunk);
        let act = |r: usize| &x_q8[r * a_bytes..][..a_bytes];
        // SAFETY: r < m and j0 + j < n, so the index is inside y's capacity; the chunks' column
        // ranges are disjoint, so no two tasks write the same element.
        let put = |r: usize, j: usize, v: f32| unsafe { out.write(r * n + j0 + j, v) };
        // Activation rows `rr` times the chunk's weight rows `jr`, by dotn and dot.
        let by_dot = |rr: std::ops::Range<usize>, jr: std::ops::Range<usize>| {
            for r0 in rr.clone().step_by(tile) {
                let r1 = (r0 + tile).min(rr.end);
                for j in jr.clone() {
                    let wj = &w[j * row_bytes..][..row_bytes];
                    let mut r = r0;
                    while r + ROWS <= r1 {
                        for (i, v) in dotn::<ROWS>(ty, wj, std::array::from_fn(|i| act(r + i)), k).into_iter().enumerate() {
                            put(r + i, j, v);
                        }
                        r += ROWS;
                    }
                    while r + 4 <= r1 {
                        for (i, v) in dotn::<4>(ty, wj, std::array::from_fn(|i| act(r + i)), k).into_iter().enumerate() {
                            put(r + i, j, v);
                        }
                        r += 4;
                    }
                    for r in r..r1 {
                        put(r, j, dot(ty, wj, act(r), k));
                    }
                }
            }
        };
        if let Some(acts) = &acts {
            let full = rows / tiled::J * tiled::J;
            thread_local! {
                /// The unpacked weights of this thread's last task, reused by its next.
                static WEIGHTS: std::cell::RefCell<Option<tiled::Weights>> = const { std::cell::RefCell::new(None) };
            }
            let mut slot = WEIGHTS.with(|s| s.take());
            let wt = match &mut slot {
                Some(wt) => {
                    wt.unpack(ty, w, full, nb);
                    wt
                }
                None => slot.insert(tiled::Weights::new(ty, w, full, nb)),
            };
            for g in 0..groups {
                for jg in (0..full).step_by(tiled::J) {
                    let block = tiled_block(ty, wt, jg, acts, g);
                    // Transposed, so that each activation row's J outputs go in one contiguous write.
                    let rows: [[f32; tiled::J]; tiled::R] = std::array::from_fn(|r| std::array::from_fn(|j| block[j][r]));
                    for (r, row) in rows.iter().enumerate() {
                        // SAFETY: as for put: row g·R + r < m, columns j0 + jg .. + J < n of this chunk.
                        unsafe { out.write_all((g * tiled::R + r) * n + j0 + jg, row) };
                    }
                }
            }
            WEIGHTS.with(|s| s.replace(slot));
            by_dot(0..tiled_rows, full..rows);
        }
        by_dot(tiled_rows..m, 0..rows);
    });
    // SAFETY: every (r, j) of 0..m × 0..n was written once above: rows below tiled_rows by the
    // tiled GEMM (whole J-row groups of each chunk) or by_dot (the chunk's other rows), the rest
    // by by_dot for every weight row of every chunk.
    unsafe { y.set_len(m * n) };
    y
}

/// [`tiled::micro`] where [`tiled_available`] said yes: weight rows `jg..jg + J` of `wt` times
/// activation group `g` of `acts`.
#[cfg(target_arch = "x86_64")]
fn tiled_block(ty: GgmlType, wt: &tiled::Weights, jg: usize, acts: &tiled::Activations, g: usize) -> [[f32; tiled::R]; tiled::J] {
    // SAFETY: only called when tiled_available() found AVX-512 F, BW and VNNI; micro checks the
    // ranges itself.
    unsafe { tiled::micro(ty, wt, jg, acts, g) }
}

/// Never called off x86-64 ([`tiled_available`] is false there).
#[cfg(not(target_arch = "x86_64"))]
fn tiled_block(_: GgmlType, _: &tiled::Weights, _: usize, _: &tiled::Activations, _: usize) -> [[f32; tiled::R]; tiled::J] {
    unreachable!("the tiled GEMM runs only on x86-64")
}

/// Bytes of unpacked weight rows (one byte per quant) one task of the tiled GEMM takes.
const TILED_WEIGHT_CHUNK_BYTES: usize = 384 << 10;

/// Whether [`matmul`] uses the tiled GEMM (AVX-512 VNNI, not turned off by `GGUFKIT_NO_AVX512`
/// or `GGUFKIT_NO_TILED`).
fn tiled_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use std::sync::OnceLock;
        static TILED: OnceLock<bool> = OnceLock::new();
        *TILED.get_or_init(|| crate::simd::has_avx512_vnni() && std::env::var_os("GGUFKIT_NO_TILED").is_none())
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The output of [`matmul`] shared by its tasks, each writing its own columns.
#[derive(Clone, Copy)]
struct Columns(*mut f32);
impl Columns {
    /// Writes element `at`.
    ///
    /// # Safety
    /// `at` is inside the buffer, and no other task writes or reads it meanwhile.
    unsafe fn write(self, at: usize, v: f32) {
        self.0.add(at).write(v)
    }

    /// Writes elements `at..at + vs.len()`.
    ///
    /// # Safety
    /// As for [`Columns::write`], for every element of the range.
    unsafe fn write_all(self, at: usize, vs: &[f32]) {
        std::ptr::copy_nonoverlapping(vs.as_ptr(), self.0.add(at), vs.len())
    }
}
// SAFETY: the tasks write disjoint elements (see matmul), and nothing reads y before they end.
unsafe impl Send for Columns {}
// SAFETY: as above.
unsafe impl Sync for Columns {}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{f32_at, get_scale_min_k4, q4_k_acc, q6_k_acc, q8_k, GgmlType, Q4_K_BYTES, Q6_K_BYTES};
    use std::arch::x86_64::*;

    /// Horizontal sum of eight i32 lanes (exact).
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn hsum(v: __m256i) -> i32 {
        let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b01_00_11_10));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b10_11_00_01));
        _mm_cvtsi128_si32(s)
    }

    /// [`super::dot_scalar`] over `nb` blocks, block sums 32 products per instruction.
    ///
    /// # Safety
    /// The CPU must have AVX2; `w` and `a` hold `nb` blocks of `ty` and of Q8_K.
    #[target_feature(enable = "avx2")]
    pub unsafe fn dot(ty: GgmlType, w: &[u8], a: &[u8], nb: usize) -> f32 {
        let mut acc = 0f32;
        match ty {
            GgmlType::Q4_K => {
                for b in 0..nb {
                    let (wb, ab) = (&w[b * Q4_K_BYTES..][..Q4_K_BYTES], &a[b * q8_k::BYTES..][..q8_k::BYTES]);
                    let (isum, msum) = q4_k_block(wb, ab);
                    acc = q4_k_acc(acc, wb, f32_at(ab, 0), isum, msum);
                }
            }
            GgmlType::Q6_K => {
                for b in 0..nb {
                    let (wb, ab) = (&w[b * Q6_K_BYTES..][..Q6_K_BYTES], &a[b * q8_k::BYTES..][..q8_k::BYTES]);
                    acc = q6_k_acc(acc, wb, f32_at(ab, 0), q6_k_block(wb, ab));
                }
            }
            _ => unreachable!("dot of {ty:?}: checked by supports()"),
        }
        acc
    }

    /// Q4_K's 8 six-bit scales and 8 mins of a block (the 12 bytes at `sc`), as two `u64` of 8
    /// bytes each: [`get_scale_min_k4`] for all eight sub-blocks at once, on 32-bit words.
    #[inline(always)]
    pub(super) fn q4_k_scales_mins(sc: &[u8]) -> (u64, u64) {
        let word = |i: usize| u32::from_le_bytes([sc[4 * i], sc[4 * i + 1], sc[4 * i + 2], sc[4 * i + 3]]);
        let (w0, w1, w2) = (word(0), word(1), word(2));
        // Sub-blocks 0..4: the low 6 bits of bytes 0..4 (scales) and 4..8 (mins); 4..8: the
        // nibbles of bytes 8..12 with the top 2 bits of bytes 0..4 (scales) and 4..8 (mins).
        let scales = (w0 & 0x3f3f_3f3f) as u64 | (((w2 & 0x0f0f_0f0f) | (((w0 >> 6) & 0x0303_0303) << 4)) as u64) << 32;
        let mins = (w1 & 0x3f3f_3f3f) as u64 | ((((w2 >> 4) & 0x0f0f_0f0f) | (((w1 >> 6) & 0x0303_0303) << 4)) as u64) << 32;
        (scales, mins)
    }

    /// `dotn`'s argument checks: rows in fours, each of at least `nb` Q8_K blocks.
    pub(super) fn check_rows<const N: usize>(a: &[&[u8]; N], nb: usize) {
        assert!(N.is_multiple_of(4), "rows in fours");
        for a in a {
            assert!(a.len() >= nb * q8_k::BYTES, "activation row of {nb} blocks");
        }
    }

    /// Rows 4g..4g+4's Q8_K scales of block b (rows checked by [`check_rows`]).
    #[inline]
    #[target_feature(enable = "avx2")]
    pub(super) fn q8_scales4<const N: usize>(a: &[&[u8]; N], g: usize, b: usize) -> __m128 {
        let d = |r: usize| {
            let at = b * q8_k::BYTES;
            f32::from_le_bytes([a[4 * g + r][at], a[4 * g + r][at + 1], a[4 * g + r][at + 2], a[4 * g + r][at + 3]])
        };
        _mm_setr_ps(d(0), d(1), d(2), d(3))
    }

    /// Q4_K's 8 mins as the i16 coefficients of Q8_K's 16 bsums: m0 m0 m1 m1 … m7 m7.
    #[inline]
    #[target_feature(enable = "avx2")]
    pub(super) fn q4_k_mins(mn: u64) -> __m256i {
        let mins8 = _mm_cvtepu8_epi16(_mm_cvtsi64_si128(mn as i64));
        _mm256_set_m128i(_mm_unpackhi_epi16(mins8, mins8), _mm_unpacklo_epi16(mins8, mins8))
    }

    /// One Q4_K block's update of four rows' accumulators: `isum` the four rows' 8-lane integer
    /// sums, `bsums` their Q8_K bsums, `da` their Q8_K scales; q4_k_acc_scaled's
    /// (acc + d·da·isum) − dmin·da·msum per row.
    #[inline]
    #[target_feature(enable = "avx2")]
    pub(super) fn q4_k_update4(
        acc: __m128,
        isum: &[__m256i],
        bsums: [__m256i; 4],
        mins: __m256i,
        (d, dmin): (f32, f32),
        da: __m128,
    ) -> __m128 {
        let msum = bsums.map(|b| _mm256_madd_epi16(b, mins));
        // SAFETY: AVX2 is enabled here (hsum4 indexes isum, so fewer than four vectors panic).
        let (is, ms) = unsafe { (_mm_cvtepi32_ps(hsum4(isum)), _mm_cvtepi32_ps(hsum4(&msum))) };
        let plus = _mm_mul_ps(_mm_mul_ps(_mm_set1_ps(d), da), is);
        _mm_sub_ps(_mm_add_ps(acc, plus), _mm_mul_ps(_mm_mul_ps(_mm_set1_ps(dmin), da), ms))
    }

    /// Byte shuffles that broadcast i16 lane `j` of a 128-bit half to all eight lanes, per `j`.
    const BROADCAST_I16: [[u8; 32]; 8] = {
        let mut t = [[0u8; 32]; 8];
        let mut j = 0;
        while j < 8 {
            let mut b = 0;
            while b < 32 {
                t[j][b] = (2 * j + b % 2) as u8;
                b += 1;
            }
            j += 1;
        }
        t
    };

    /// The exact integer sums of four rows (`v[r]`'s eight lanes summed, for each `r`), as the
    /// four lanes of one vector (integer additions in any order give the same sums).
    #[inline]
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn hsum4(v: &[__m256i]) -> __m128i {
        let s = _mm256_hadd_epi32(_mm256_hadd_epi32(v[0], v[1]), _mm256_hadd_epi32(v[2], v[3]));
        _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1))
    }

    /// Two consecutive f16 at `at` of `b` as f32 (exact, as `read_f16`), by F16C.
    #[inline]
    #[target_feature(enable = "avx2,f16c")]
    pub(super) unsafe fn read_f16x2(b: &[u8], at: usize) -> (f32, f32) {
        let bits = u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
        let v = _mm_cvtph_ps(_mm_cvtsi32_si128(bits as i32));
        (_mm_cvtss_f32(v), _mm_cvtss_f32(_mm_shuffle_ps(v, v, 1)))
    }

    /// [`dot`] of one weight row with `N` activation rows (`N` a multiple of 4): each weight
    /// block's quants, scales and mins are decoded once for the `N`, its 32 quants of a sub-block
    /// held in a register while the rows pass, and the rows' block sums reduced four at a time.
    /// Each row's integer sums are exact and its float arithmetic is [`dot`]'s (the same
    /// operations in the same order, four rows per instruction), so each result equals [`dot`]'s
    /// bit for bit.
    ///
    /// # Safety
    /// The CPU must have AVX2 and F16C; `w` holds `nb` blocks of `ty`, each of `a` `nb` Q8_K
    /// blocks.
    #[target_feature(enable = "avx2,f16c")]
    pub unsafe fn dotn<const N: usize>(ty: GgmlType, w: &[u8], a: [&[u8]; N], nb: usize) -> [f32; N] {
        check_rows(&a, nb);
        let mut out = [0f32; N];
        let mut acc = [_mm_setzero_ps(); N];
        let low = _mm256_set1_epi8(0xF);
        let q8 = |r: usize, b: usize, at: usize| a[r].as_ptr().add(b * q8_k::BYTES + 4 + at) as *const __m256i;
        let bsums = |r: usize, b: usize| _mm256_loadu_si256(a[r].as_ptr().add(b * q8_k::BYTES + 260) as *const __m256i);
        let da = |g: usize, b: usize| q8_scales4(&a, g, b);
        match ty {
            GgmlType::Q4_K => {
                assert!(w.len() >= nb * Q4_K_BYTES, "weight row of {nb} blocks");
                for b in 0..nb {
                    let wb = &w[b * Q4_K_BYTES..][..Q4_K_BYTES];
                    let (d, dmin) = read_f16x2(wb, 0);
                    let (sc, mn) = q4_k_scales_mins(&wb[4..16]);
                    let scales = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(_mm_cvtsi64_si128(sc as i64)));
                    let qs = wb[16..144].as_ptr();
                    let mut isum = [_mm256_setzero_si256(); N];
                    for p in 0..4 {
                        let q4 = _mm256_loadu_si256(qs.add(32 * p) as *const __m256i);
                        let lo = _mm256_and_si256(q4, low);
                        let hi = _mm256_and_si256(_mm256_srli_epi16(q4, 4), low);
                        let s_lo = _mm256_shuffle_epi8(scales, _mm256_loadu_si256(BROADCAST_I16[2 * p].as_ptr() as *const __m256i));
                        let s_hi = _mm256_shuffle_epi8(scales, _mm256_loadu_si256(BROADCAST_I16[2 * p + 1].as_ptr() as *const __m256i));
                        for (r, isum) in isum.iter_mut().enumerate() {
                            // u8 · i8 pairs summed to i16 (at most 2·15·128, no saturation), then · scale to i32.
                            let p_lo = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, _mm256_loadu_si256(q8(r, b, 64 * p))), s_lo);
                            let p_hi = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, _mm256_loadu_si256(q8(r, b, 64 * p + 32))), s_hi);
                            *isum = _mm256_add_epi32(*isum, _mm256_add_epi32(p_lo, p_hi));
                        }
                    }
                    let mins = q4_k_mins(mn);
                    for g in 0..N / 4 {
                        let bs = std::array::from_fn(|r| bsums(4 * g + r, b));
                        acc[g] = q4_k_update4(acc[g], &isum[4 * g..], bs, mins, (d, dmin), da(g, b));
                    }
                }
            }
            GgmlType::Q6_K => {
                assert!(w.len() >= nb * Q6_K_BYTES, "weight row of {nb} blocks");
                let three = _mm256_set1_epi8(3);
                // Broadcasts i16 lane 0 to the low half's eight lanes, lane 1 to the high half's.
                let pair = _mm256_setr_epi8(0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3);
                for b in 0..nb {
                    let wb = &w[b * Q6_K_BYTES..][..Q6_K_BYTES];
                    let d = _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(u16::from_le_bytes([wb[208], wb[209]]) as i32)));
                    let (ql, qh) = (wb.as_ptr(), wb[128..].as_ptr());
                    // The 16 scales as i16; 32-bit lane j holds scales 2j and 2j + 1.
                    let scales16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(wb[192..208].as_ptr() as *const __m128i));
                    // 32 · Σ scale · bsum, subtracted from each row's sum.
                    let mut isum: [__m256i; N] = std::array::from_fn(|r| {
                        _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(_mm256_madd_epi16(bsums(r, b), scales16), 5))
                    });
                    for half in 0..2 {
                        let l0 = _mm256_loadu_si256(ql.add(64 * half) as *const __m256i);
                        let l1 = _mm256_loadu_si256(ql.add(64 * half + 32) as *const __m256i);
                        let h = _mm256_loadu_si256(qh.add(32 * half) as *const __m256i);
                        for part in 0..4 {
                            let l = if part % 2 == 0 { l0 } else { l1 };
                            let lq = _mm256_and_si256(if part < 2 { l } else { _mm256_srli_epi16(l, 4) }, low);
                            let hv = match part {
                                0 => h,
                                1 => _mm256_srli_epi16(h, 2),
                                2 => _mm256_srli_epi16(h, 4),
                                _ => _mm256_srli_epi16(h, 6),
                            };
                            // The quants 0..63: four low bits and the part's two high bits at 4 and 5.
                            let q = _mm256_or_si256(lq, _mm256_slli_epi16(_mm256_and_si256(hv, three), 4));
                            let e = 128 * half + 32 * part;
                            let s = _mm256_shuffle_epi8(_mm256_permutevar8x32_epi32(scales16, _mm256_set1_epi32((e / 32) as i32)), pair);
                            for (r, isum) in isum.iter_mut().enumerate() {
                                // 0..63 · i8 pairs: at most 2·63·128, no saturation.
                                let p = _mm256_maddubs_epi16(q, _mm256_loadu_si256(q8(r, b, e)));
                                *isum = _mm256_add_epi32(*isum, _mm256_madd_epi16(p, s));
                            }
                        }
                    }
                    let vd = _mm_set1_ps(d);
                    for (g, acc) in acc.iter_mut().enumerate().take(N / 4) {
                        // q6_k_acc_scaled's acc + d·da·isum, per row.
                        *acc = _mm_add_ps(*acc, _mm_mul_ps(_mm_mul_ps(vd, da(g, b)), _mm_cvtepi32_ps(hsum4(&isum[4 * g..]))));
                    }
                }
            }
            _ => unreachable!("dot of {ty:?}: checked by supports()"),
        }
        for (g, acc) in acc.iter().enumerate().take(N / 4) {
            _mm_storeu_ps(out[4 * g..].as_mut_ptr(), *acc);
        }
        out
    }

    /// [`super::q4_k_block_scalar`] with 32 products per instruction.
    ///
    /// # Safety
    /// The CPU must have AVX2; `w` a Q4_K block, `a` a Q8_K block.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn q4_k_block(w: &[u8], a: &[u8]) -> (i32, i32) {
        let (sc, qs) = (&w[4..16], w[16..144].as_ptr());
        let q8 = a[4..260].as_ptr();
        let low = _mm256_set1_epi8(0xF);
        let mut acc = _mm256_setzero_si256();
        let mut mins = [0i16; 16];
        for p in 0..4 {
            let q4 = _mm256_loadu_si256(qs.add(32 * p) as *const __m256i);
            let lo = _mm256_and_si256(q4, low);
            let hi = _mm256_and_si256(_mm256_srli_epi16(q4, 4), low);
            let (s0, m0) = get_scale_min_k4(2 * p, sc);
            let (s1, m1) = get_scale_min_k4(2 * p + 1, sc);
            // u8 · i8 pairs summed to i16 (at most 2·15·128, no saturation), then · scale to i32.
            let p0 = _mm256_maddubs_epi16(lo, _mm256_loadu_si256(q8.add(64 * p) as *const __m256i));
            let p1 = _mm256_maddubs_epi16(hi, _mm256_loadu_si256(q8.add(64 * p + 32) as *const __m256i));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p0, _mm256_set1_epi16(s0 as i16)));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p1, _mm256_set1_epi16(s1 as i16)));
            mins[4 * p..4 * p + 4].copy_from_slice(&[m0 as i16, m0 as i16, m1 as i16, m1 as i16]);
        }
        // Σ min · (the two 16-element group sums of its sub-block).
        let bsums = _mm256_loadu_si256(a[260..292].as_ptr() as *const __m256i);
        let m = _mm256_madd_epi16(bsums, _mm256_loadu_si256(mins.as_ptr() as *const __m256i));
        (hsum(acc), hsum(m))
    }

    /// [`super::q6_k_block_scalar`]: unsigned 6-bit quants times q8, minus 32 · Σ scale · bsum.
    ///
    /// # Safety
    /// The CPU must have AVX2; `w` a Q6_K block, `a` a Q8_K block.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn q6_k_block(w: &[u8], a: &[u8]) -> i32 {
        let (ql, qh, sc) = (w.as_ptr(), w[128..].as_ptr(), &w[192..208]);
        let q8 = a[4..260].as_ptr();
        let low = _mm256_set1_epi8(0xF);
        let three = _mm256_set1_epi8(3);
        // 32 · Σ scale · bsum, subtracted lane-wise at the end.
        let scales16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(sc.as_ptr() as *const __m128i));
        let bsums = _mm256_loadu_si256(a[260..292].as_ptr() as *const __m256i);
        let mut acc = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(_mm256_madd_epi16(bsums, scales16), 5));
        for half in 0..2 {
            let l0 = _mm256_loadu_si256(ql.add(64 * half) as *const __m256i);
            let l1 = _mm256_loadu_si256(ql.add(64 * half + 32) as *const __m256i);
            let h = _mm256_loadu_si256(qh.add(32 * half) as *const __m256i);
            // The two high bits of each part, moved to bits 4 and 5.
            let hb = [
                _mm256_slli_epi16(_mm256_and_si256(h, three), 4),
                _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 2), three), 4),
                _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 4), three), 4),
                _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 6), three), 4),
            ];
            let q = [
                _mm256_or_si256(_mm256_and_si256(l0, low), hb[0]),
                _mm256_or_si256(_mm256_and_si256(l1, low), hb[1]),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), low), hb[2]),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), low), hb[3]),
            ];
            for (part, q) in q.into_iter().enumerate() {
                let e = 128 * half + 32 * part;
                // 0..63 · i8 pairs: at most 2·63·128, no saturation.
                let p = _mm256_maddubs_epi16(q, _mm256_loadu_si256(q8.add(e) as *const __m256i));
                let (s0, s1) = ((sc[e / 16] as i8) as i16, (sc[e / 16 + 1] as i8) as i16);
                let scales = _mm256_setr_epi16(s0, s0, s0, s0, s0, s0, s0, s0, s1, s1, s1, s1, s1, s1, s1, s1);
                acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p, scales));
            }
        }
        hsum(acc)
    }
}

/// [`dotn`] on AVX-512 with VNNI: a Q4_K or Q6_K block's quants decoded 64 at a time (two
/// sub-blocks per register, matching 64 consecutive Q8_K bytes), each row's 64 products summed
/// in pairs (`vpmaddubsw`) and multiplied by their sub-block's scale and accumulated in one
/// instruction (`vpdpwssd`). The integer sums are exact and the float arithmetic is the AVX2
/// path's, so the results equal [`dot_scalar`]'s bit for bit.
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::avx2::{check_rows, hsum4, q4_k_mins, q4_k_scales_mins, q4_k_update4, q8_scales4, read_f16x2};
    use super::{q8_k, GgmlType, Q4_K_BYTES, Q6_K_BYTES};
    use std::arch::x86_64::*;

    /// i16 lane indices for `vpermw` that give lane `i` the scale `base + i / per`.
    const fn spread(base: i16, per: usize) -> [i16; 32] {
        let mut t = [0i16; 32];
        let mut i = 0;
        while i < 32 {
            t[i] = base + (i / per) as i16;
            i += 1;
        }
        t
    }

    /// Q4_K, quants 64p..64p+64 (sub-blocks 2p and 2p + 1): the scale of each i16 product lane.
    const Q4_K_SCALE_LANES: [[i16; 32]; 4] = [spread(0, 16), spread(2, 16), spread(4, 16), spread(6, 16)];
    /// Q6_K, quants 64q..64q+64 (four groups of 16): the scale of each i16 product lane.
    const Q6_K_SCALE_LANES: [[i16; 32]; 4] = [spread(0, 8), spread(4, 8), spread(8, 8), spread(12, 8)];

    /// Shift counts per i16 lane: `0` in the low 256 bits, `s` in the high 256 bits.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw")]
    fn halves_shift(s: i16) -> __m512i {
        _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(s), 1)
    }

    /// The sum of a row's 16 lanes folded to 8 (exact).
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn fold(v: __m512i) -> __m256i {
        _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1))
    }

    /// See the module; arguments as [`super::avx2::dotn`].
    ///
    /// # Safety
    /// The CPU must have AVX-512 F, BW, VL and VNNI, AVX2 and F16C; `w` holds `nb` blocks of `ty`,
    /// each of `a` `nb` Q8_K blocks.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,f16c")]
    pub unsafe fn dotn<const N: usize>(ty: GgmlType, w: &[u8], a: [&[u8]; N], nb: usize) -> [f32; N] {
        check_rows(&a, nb);
        let mut out = [0f32; N];
        let mut acc = [_mm_setzero_ps(); N];
        let low = _mm512_set1_epi8(0xF);
        let q8 = |r: usize, b: usize, at: usize| _mm512_loadu_si512(a[r].as_ptr().add(b * q8_k::BYTES + 4 + at) as *const __m512i);
        let bsums = |r: usize, b: usize| _mm256_loadu_si256(a[r].as_ptr().add(b * q8_k::BYTES + 260) as *const __m256i);
        let da = |g: usize, b: usize| q8_scales4(&a, g, b);
        let lanes = |t: &[i16; 32]| _mm512_loadu_si512(t.as_ptr() as *const __m512i);
        match ty {
            GgmlType::Q4_K => {
                assert!(w.len() >= nb * Q4_K_BYTES, "weight row of {nb} blocks");
                let shift = halves_shift(4);
                let scale_lanes = Q4_K_SCALE_LANES.map(|t| lanes(&t));
                for b in 0..nb {
                    let wb = &w[b * Q4_K_BYTES..][..Q4_K_BYTES];
                    let (d, dmin) = read_f16x2(wb, 0);
                    let (sc, mn) = q4_k_scales_mins(&wb[4..16]);
                    // The 8 scales as i16 in lanes 0..8 (vpermw reads no other lane).
                    let scales = _mm512_castsi128_si512(_mm_cvtepu8_epi16(_mm_cvtsi64_si128(sc as i64)));
                    let qs = wb[16..144].as_ptr();
                    let mut isum = [_mm512_setzero_si512(); N];
                    for (p, lanes) in scale_lanes.iter().enumerate() {
                        // Sub-block 2p (low nibbles) in the low 256 bits, 2p + 1 (high) in the high.
                        let q4 = _mm512_broadcast_i64x4(_mm256_loadu_si256(qs.add(32 * p) as *const __m256i));
                        let q = _mm512_and_si512(_mm512_srlv_epi16(q4, shift), low);
                        let s = _mm512_permutexvar_epi16(*lanes, scales);
                        for (r, isum) in isum.iter_mut().enumerate() {
                            // u8 · i8 pairs summed to i16 (at most 2·15·128, no saturation), then
                            // · scale, summed in pairs and added to i32.
                            *isum = _mm512_dpwssd_epi32(*isum, _mm512_maddubs_epi16(q, q8(r, b, 64 * p)), s);
                        }
                    }
                    let mins = q4_k_mins(mn);
                    for g in 0..N / 4 {
                        let folded: [__m256i; 4] = std::array::from_fn(|r| fold(isum[4 * g + r]));
                        let bs = std::array::from_fn(|r| bsums(4 * g + r, b));
                        acc[g] = q4_k_update4(acc[g], &folded, bs, mins, (d, dmin), da(g, b));
                    }
                }
            }
            GgmlType::Q6_K => {
                assert!(w.len() >= nb * Q6_K_BYTES, "weight row of {nb} blocks");
                let three = _mm512_set1_epi8(3);
                let shift = halves_shift(2);
                let scale_lanes = Q6_K_SCALE_LANES.map(|t| lanes(&t));
                for b in 0..nb {
                    let wb = &w[b * Q6_K_BYTES..][..Q6_K_BYTES];
                    let d = _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(u16::from_le_bytes([wb[208], wb[209]]) as i32)));
                    let (ql, qh) = (wb.as_ptr(), wb[128..].as_ptr());
                    // The 16 scales as i16 (lanes 0..16; vpermw reads no other lane).
                    let scales16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(wb[192..208].as_ptr() as *const __m128i));
                    let scales = _mm512_castsi256_si512(scales16);
                    // 32 · Σ scale · bsum, subtracted from each row's sum.
                    let mut isum: [__m512i; N] = std::array::from_fn(|r| {
                        let m = _mm256_slli_epi32(_mm256_madd_epi16(bsums(r, b), scales16), 5);
                        _mm512_zextsi256_si512(_mm256_sub_epi32(_mm256_setzero_si256(), m))
                    });
                    for half in 0..2 {
                        // ql bytes 64·half.. (parts 0 and 1 in the low nibbles, 2 and 3 in the
                        // high) and qh bytes 32·half.. (part 0's two bits at 0, 1's at 2, 2's at
                        // 4, 3's at 6), the high 256 bits shifted by 2 for parts 1 and 3.
                        let l = _mm512_loadu_si512(ql.add(64 * half) as *const __m512i);
                        let h = _mm512_srlv_epi16(_mm512_broadcast_i64x4(_mm256_loadu_si256(qh.add(32 * half) as *const __m256i)), shift);
                        let q01 = _mm512_or_si512(_mm512_and_si512(l, low), _mm512_slli_epi16(_mm512_and_si512(h, three), 4));
                        let q23 = _mm512_or_si512(
                            _mm512_and_si512(_mm512_srli_epi16(l, 4), low),
                            _mm512_slli_epi16(_mm512_and_si512(_mm512_srli_epi16(h, 4), three), 4),
                        );
                        for (pair, q) in [q01, q23].into_iter().enumerate() {
                            let e = 128 * half + 64 * pair;
                            let s = _mm512_permutexvar_epi16(scale_lanes[e / 64], scales);
                            for (r, isum) in isum.iter_mut().enumerate() {
                                // 0..63 · i8 pairs: at most 2·63·128, no saturation.
                                *isum = _mm512_dpwssd_epi32(*isum, _mm512_maddubs_epi16(q, q8(r, b, e)), s);
                            }
                        }
                    }
                    let vd = _mm_set1_ps(d);
                    for (g, acc) in acc.iter_mut().enumerate().take(N / 4) {
                        let folded: [__m256i; 4] = std::array::from_fn(|r| fold(isum[4 * g + r]));
                        // q6_k_acc_scaled's acc + d·da·isum, per row.
                        *acc = _mm_add_ps(*acc, _mm_mul_ps(_mm_mul_ps(vd, da(g, b)), _mm_cvtepi32_ps(hsum4(&folded))));
                    }
                }
            }
            _ => unreachable!("dot of {ty:?}: checked by supports()"),
        }
        for (g, acc) in acc.iter().enumerate().take(N / 4) {
            _mm_storeu_ps(out[4 * g..].as_mut_ptr(), *acc);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic bytes (xorshift).
    fn bytes(n: usize, seed: u64) -> Vec<u8> {
        let mut s = seed | 1;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                s as u8
            })
            .collect()
    }

    /// Random block bytes with finite f16 scales (exponent bits cleared to small values).
    fn weights(ty: GgmlType, rows: usize, k: usize, seed: u64) -> Vec<u8> {
        let (size, scale_at): (usize, &[usize]) = if ty == GgmlType::Q4_K { (Q4_K_BYTES, &[0, 2]) } else { (Q6_K_BYTES, &[208]) };
        let mut w = bytes(rows * k / QK_K * size, seed);
        for b in w.chunks_exact_mut(size) {
            for &at in scale_at {
                b[at + 1] = 0x20 | (b[at + 1] & 0x03); // |d| in [2^-7, 2^-5)
            }
        }
        w
    }

    fn activations(m: usize, k: usize, seed: u64) -> Vec<f32> {
        bytes(m * k, seed).into_iter().map(|b| (b as i8) as f32 / 37.0).collect()
    }

    /// The dequantized weight row (quantize's reference dequantizers) · the dequantized Q8_K row,
    /// in f64: what the integer path must equal up to f32 rounding.
    fn reference(ty: GgmlType, w: &[u8], a: &[u8], k: usize) -> f64 {
        let mut wf = vec![0f32; k];
        crate::dequantize_rows(ty, w, &mut wf).unwrap();
        let mut af = vec![0f32; k];
        for (o, b) in af.chunks_exact_mut(QK_K).zip(a.chunks_exact(q8_k::BYTES)) {
            q8_k::dequantize_block(b, o);
        }
        wf.iter().zip(&af).map(|(x, y)| *x as f64 * *y as f64).sum()
    }

    #[test]
    fn scalar_dot_equals_dequantized_product() {
        for ty in [GgmlType::Q4_K, GgmlType::Q6_K] {
            for seed in 1..20 {
                let k = 512;
                let w = weights(ty, 1, k, seed);
                let a = quantize_q8_k(&activations(1, k, seed + 100), k);
                let got = dot_scalar(ty, &w, &a, k) as f64;
                let want = reference(ty, &w, &a, k);
                assert!((got - want).abs() <= 1e-5 * want.abs().max(1.0), "{ty:?} seed {seed}: {got} vs {want}");
            }
        }
    }

    #[test]
    fn simd_dot_equals_scalar_bit_for_bit() {
        for ty in [GgmlType::Q4_K, GgmlType::Q6_K] {
            for seed in 1..200 {
                let k = 768;
                let w = weights(ty, 1, k, seed);
                let a = quantize_q8_k(&activations(1, k, seed + 1000), k);
                assert_eq!(dot(ty, &w, &a, k).to_bits(), dot_scalar(ty, &w, &a, k).to_bits(), "{ty:?} seed {seed}");
            }
        }
    }

    /// `dotn::<N>` against `dot_scalar` of each row, bit for bit.
    fn check_dotn<const N: usize>(ty: GgmlType, seed: u64) {
        let k = 768;
        let w = weights(ty, 1, k, seed);
        let a = quantize_q8_k(&activations(N, k, seed + 2000), k);
        let rows: Vec<&[u8]> = a.chunks_exact(a.len() / N).collect();
        let a: [&[u8]; N] = std::array::from_fn(|r| rows[r]);
        let mut paths = vec![("dispatched", dotn::<N>(ty, &w, a, k))];
        // Every SIMD path this CPU has, not only the one dotn picks.
        #[cfg(target_arch = "x86_64")]
        {
            if crate::simd::has_avx2() {
                // SAFETY: AVX2 and F16C are present.
                paths.push(("avx2", unsafe { avx2::dotn::<N>(ty, &w, a, k / QK_K) }));
            }
            if crate::simd::has_avx512_vnni() {
                // SAFETY: AVX-512 F, BW, VL, VNNI, AVX2 and F16C are present.
                paths.push(("avx512", unsafe { avx512::dotn::<N>(ty, &w, a, k / QK_K) }));
            }
        }
        for (path, got) in paths {
            for (r, g) in got.iter().enumerate() {
                assert_eq!(g.to_bits(), dot_scalar(ty, &w, rows[r], k).to_bits(), "{path} {ty:?} seed {seed} row {r} of {N}");
            }
        }
    }

    #[test]
    fn dotn_equals_dot_bit_for_bit() {
        for ty in [GgmlType::Q4_K, GgmlType::Q6_K] {
            for seed in 1..100 {
                check_dotn::<4>(ty, seed);
                check_dotn::<8>(ty, seed);
                check_dotn::<12>(ty, seed);
            }
        }
    }

    #[test]
    fn matmul_bsums_at_their_extremes() {
        // Rows of one sign quantize to Q8_K quants of −128 throughout (bsums −2,048, Q4_K's
        // sub-block sums −4,096: the ends of the tiled GEMM's i16 pairs); random Q6_K scales reach
        // −128 (coefficient −4,096).
        let (m, k) = (32, 512);
        let x: Vec<f32> = (0..m * k).map(|i| if (i / k) % 2 == 0 { -1.5 } else { 0.75 }).collect();
        let a = quantize_q8_k(&x, k);
        for ty in [GgmlType::Q4_K, GgmlType::Q6_K] {
            let n = 24;
            let w = weights(ty, n, k, 11);
            let y = matmul(ty, &w, n, k, &a, m);
            let (row, arow) = (w.len() / n, a.len() / m);
            for r in 0..m {
                for j in 0..n {
                    let want = dot_scalar(ty, &w[j * row..][..row], &a[r * arow..][..arow], k);
                    assert_eq!(y[r * n + j].to_bits(), want.to_bits(), "{ty:?} ({r}, {j})");
                }
            }
        }
    }

    #[test]
    fn matmul_is_every_row_dot() {
        // Small, and large enough for several weight chunks and activation tiles with remainders
        // (k = 4096: 28 Q8_K rows per tile, up to 85 Q4_K rows per chunk); on AVX-512 VNNI the
        // tiled GEMM takes whole groups of 16 activation rows and 8 weight rows (250 = 15 · 16 +
        // 10, one exact 16 × 8, and 48 × 70 with a chunk of 6 left over), dotn the rest.
        for (ty, (m, n, k)) in [GgmlType::Q4_K, GgmlType::Q6_K]
            .into_iter()
            .flat_map(|t| [(t, (5, 37, 512)), (t, (250, 301, 4096)), (t, (14, 9, 256)), (t, (16, 8, 256)), (t, (48, 70, 768))])
        {
            let w = weights(ty, n, k, 7);
            let a = quantize_q8_k(&activations(m, k, 8), k);
            let y = matmul(ty, &w, n, k, &a, m);
            let row = w.len() / n;
            let arow = a.len() / m;
            for r in 0..m {
                for j in 0..n {
                    let want = dot_scalar(ty, &w[j * row..][..row], &a[r * arow..][..arow], k);
                    assert_eq!(y[r * n + j].to_bits(), want.to_bits(), "{ty:?} ({r}, {j})");
                }
            }
        }
    }
}
