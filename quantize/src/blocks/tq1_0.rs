//! TQ1_0: ternary super-blocks of 256 weights (levels -1, 0, 1 times an f16 scale, the absolute
//! maximum), base-3 packed: 5 trits per byte for 240 elements, 4 per byte for the last 16.
//! Layout: `qs: [u8; 48], qh: [u8; 4], d: f16`. Ignores importance weights.
//!
//! A byte holding trits `t0..t4` (most significant first) stores `ceil(Σ tᵢ·3^(4-i) · 256 / 243)`,
//! so that trit `n` reads back as the top bits of `(byte · 3^n mod 256) · 3`.

use super::common::{read_f16, write_f16, QK_K};

/// Elements per block.
pub const BLOCK: usize = QK_K;
/// Bytes per block.
pub const BYTES: usize = 54;

/// Bytes of 5-trit codes.
const QS: usize = (QK_K - 4 * QK_K / 64) / 5;
/// Bytes of 4-trit codes.
const QH: usize = QK_K / 64;

/// Packs the trits `x[m + n·stride]·id` (n = 0..count, most significant first) of one byte.
#[inline(always)]
fn pack_trits(x: &[f32], m: usize, stride: usize, count: usize, id: f32) -> u8 {
    let mut q = 0u16;
    for n in 0..count {
        // lroundf: halves away from zero, as f32::round; the values lie in [-1, 1].
        q = q * 3 + ((x[m + n * stride] * id).round() as i32 + 1) as u16;
    }
    if count == 4 {
        // The first value goes to the most significant of five trits.
        q *= 3;
    }
    // Ceiling division: the byte is the smallest b with b·243 ≥ q·256.
    (q * 256).div_ceil(243) as u8
}

/// The absolute maximum of a super-block and its inverse (0 for an all-zero block).
pub(crate) fn ternary_scale(x: &[f32]) -> (f32, f32) {
    let mut amax = 0.0f32;
    for &v in &x[..QK_K] {
        let a = v.abs();
        amax = if amax > a { amax } else { a };
    }
    (amax, if amax != 0.0 { 1.0 / amax } else { 0.0 })
}

/// `quantize_row_tq1_0_ref` for one block (llama-quantize's path with or without an imatrix).
pub fn quantize_block(x: &[f32], y: &mut [u8]) {
    let (d, id) = ternary_scale(x);
    let mut at = 0;
    // 32 bytes of 5 trits strided by 32, then 16 bytes strided by 16.
    let mut j = 0;
    for width in [32usize, 16] {
        let xs = &x[at..at + 5 * width];
        for m in 0..width {
            y[j + m] = pack_trits(xs, m, width, 5, id);
        }
        j += width;
        at += 5 * width;
    }
    debug_assert_eq!(j, QS);
    for m in 0..QH {
        y[QS + m] = pack_trits(&x[at..at + 4 * QH], m, QH, 4, id);
    }
    write_f16(y, QS + QH, d);
}

/// Trit `n` (0 = most significant) of a packed byte, as -1, 0 or 1.
#[inline(always)]
fn trit(byte: u8, n: usize) -> f32 {
    const POW3: [u8; 5] = [1, 3, 9, 27, 81];
    let q = byte.wrapping_mul(POW3[n]);
    ((q as u16 * 3) >> 8) as f32 - 1.0
}

/// `dequantize_row_tq1_0` for one block.
pub fn dequantize_block(y: &[u8], out: &mut [f32]) {
    let d = read_f16(y, QS + QH);
    let mut o = 0;
    let mut j = 0;
    for width in [32usize, 16] {
        for n in 0..5 {
            for m in 0..width {
                out[o] = trit(y[j + m], n) * d;
                o += 1;
            }
        }
        j += width;
    }
    for n in 0..4 {
        for m in 0..QH {
            out[o] = trit(y[QS + m], n) * d;
            o += 1;
        }
    }
}
