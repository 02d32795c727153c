//! The forward pass's element-wise math on f32 slices: `exp`, `silu(gate) · up` and a softmax
//! row. candle (and the C library's `expf` it calls one element at a time) took a sixth of a
//! CPU evaluation; these are written as branch-free scalar code that the compiler vectorises,
//! compiled three times (AVX-512, AVX2, baseline x86-64 or other targets) behind runtime
//! detection. The three give the same bits: the same IEEE operations in the same order, no fused
//! multiply-add (Rust never contracts), only the register width differs (tests below).
//!
//! [`exp`] is a Cody–Waite reduction `x = n·ln 2 + r` with Cephes' degree-5 polynomial for
//! `e^r`, within 2 ulp of the true value on `[-86.5, 88]` (test: a dense sweep against f64);
//! below that it is 0 (the true value is under 3·10⁻³⁸), above it +∞. llama.cpp's CPU backend
//! also uses an approximation of its own (`ggml_v_expf`) rather than libm, for the same reason.

use std::mem::MaybeUninit;

const LOG2_E: f32 = std::f32::consts::LOG2_E;
/// ln 2 in two parts: `LN2_HI` has few enough bits that `n · LN2_HI` is exact for |n| < 2⁹.
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
/// 1.5 · 2²³: adding it rounds an f32 of magnitude < 2²² to an integer (to nearest, even), which
/// then sits in the low mantissa bits.
const ROUND: f32 = 12_582_912.0;
/// Inputs below give 0: 2ⁿ · e^r stays a normal number for n ≥ −125.
const EXP_MIN: f32 = -86.5;
/// Inputs above give +∞: 2ⁿ · e^r stays finite for n ≤ 127.
const EXP_MAX: f32 = 88.0;

/// `e^x` (see the module doc for its accuracy and range); NaN gives NaN.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    let xc = x.clamp(EXP_MIN, EXP_MAX);
    let t = xc * LOG2_E + ROUND;
    let n = t - ROUND;
    let ni = (t.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
    let r = (xc - n * LN2_HI) - n * LN2_LO;
    let p = ((((1.987_569_2e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r + 1.666_666_5e-1) * r + 0.5;
    let y = (r * r) * p + r + 1.0;
    let v = f32::from_bits((y.to_bits() as i32).wrapping_add(ni << 23) as u32);
    if x < EXP_MIN {
        0.0
    } else if x > EXP_MAX {
        f32::INFINITY
    } else {
        v
    }
}

/// `out[i] = silu(gate[i]) · up[i]`, `silu(v) = v / (1 + e^−v)`, for slices of one length.
pub fn silu_mul(gate: &[f32], up: &[f32], out: &mut [MaybeUninit<f32>]) {
    assert!(gate.len() == up.len() && up.len() == out.len(), "silu_mul of {}, {}, {}", gate.len(), up.len(), out.len());
    #[cfg(target_arch = "x86_64")]
    {
        if quantize::simd::has_avx512() {
            // SAFETY: the CPU has AVX-512 F (checked just above).
            return unsafe { silu_mul_avx512(gate, up, out) };
        }
        if quantize::simd::has_avx2() {
            // SAFETY: the CPU has AVX2 (checked just above).
            return unsafe { silu_mul_avx2(gate, up, out) };
        }
    }
    silu_mul_any(gate, up, out)
}

#[inline(always)]
fn silu_mul_any(gate: &[f32], up: &[f32], out: &mut [MaybeUninit<f32>]) {
    for ((o, &g), &u) in out.iter_mut().zip(gate).zip(up) {
        o.write(g / (1.0 + exp(-g)) * u);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn silu_mul_avx512(gate: &[f32], up: &[f32], out: &mut [MaybeUninit<f32>]) {
    silu_mul_any(gate, up, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn silu_mul_avx2(gate: &[f32], up: &[f32], out: &mut [MaybeUninit<f32>]) {
    silu_mul_any(gate, up, out)
}

/// Lanes of the partial maxima and sums of [`softmax_row`] (its summation order, the same on
/// every path).
const LANES: usize = 16;

/// `row[i] = softmax(s · scale + mask)[i]` over the row: `s` the scores, `mask` 0 or −∞ (masked
/// positions come out 0), all of one length.
pub fn softmax_row(s: &[f32], mask: &[f32], scale: f32, row: &mut [MaybeUninit<f32>]) {
    assert!(s.len() == mask.len() && mask.len() == row.len() && !s.is_empty(), "softmax_row of {}, {}, {}", s.len(), mask.len(), row.len());
    #[cfg(target_arch = "x86_64")]
    {
        if quantize::simd::has_avx512() {
            // SAFETY: the CPU has AVX-512 F (checked just above).
            return unsafe { softmax_row_avx512(s, mask, scale, row) };
        }
        if quantize::simd::has_avx2() {
            // SAFETY: the CPU has AVX2 (checked just above).
            return unsafe { softmax_row_avx2(s, mask, scale, row) };
        }
    }
    softmax_row_any(s, mask, scale, row)
}

#[inline(always)]
fn softmax_row_any(s: &[f32], mask: &[f32], scale: f32, row: &mut [MaybeUninit<f32>]) {
    for ((o, &s), &m) in row.iter_mut().zip(s).zip(mask) {
        o.write(s * scale + m);
    }
    // SAFETY: every element was written just above.
    let row = unsafe { &mut *(row as *mut [MaybeUninit<f32>] as *mut [f32]) };
    let mut lanes = [f32::NEG_INFINITY; LANES];
    let mut chunks = row.chunks_exact(LANES);
    for c in &mut chunks {
        for (l, &v) in lanes.iter_mut().zip(c) {
            *l = l.max(v);
        }
    }
    let max = chunks.remainder().iter().fold(lanes.into_iter().fold(f32::NEG_INFINITY, f32::max), |a, &b| a.max(b));
    for v in row.iter_mut() {
        *v = exp(*v - max);
    }
    let mut sums = [0f32; LANES];
    let mut chunks = row.chunks_exact(LANES);
    for c in &mut chunks {
        for (l, &v) in sums.iter_mut().zip(c) {
            *l += v;
        }
    }
    let sum = chunks.remainder().iter().fold(sums.into_iter().fold(0f32, |a, b| a + b), |a, &b| a + b);
    for v in row.iter_mut() {
        *v /= sum;
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn softmax_row_avx512(s: &[f32], mask: &[f32], scale: f32, row: &mut [MaybeUninit<f32>]) {
    softmax_row_any(s, mask, scale, row)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn softmax_row_avx2(s: &[f32], mask: &[f32], scale: f32, row: &mut [MaybeUninit<f32>]) {
    softmax_row_any(s, mask, scale, row)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu_ops::tests::values;

    fn init(v: Vec<MaybeUninit<f32>>) -> Vec<f32> {
        v.into_iter().map(|x| unsafe { x.assume_init() }).collect()
    }

    fn ulps(a: f32, b: f32) -> u32 {
        (a.to_bits() as i32).abs_diff(b.to_bits() as i32)
    }

    #[test]
    fn exp_is_within_2_ulp_and_saturates() {
        let mut worst = (0, 0f32);
        let mut x = EXP_MIN;
        while x <= EXP_MAX {
            let want = (x as f64).exp() as f32;
            let u = ulps(exp(x), want);
            if u > worst.0 {
                worst = (u, x);
            }
            x += 1.3e-4;
        }
        assert!(worst.0 <= 2, "{} ulp at {}", worst.0, worst.1);
        for (x, want) in [
            (0.0, 1.0),
            (-0.0, 1.0),
            (f32::NEG_INFINITY, 0.0),
            (-90.0, 0.0),
            (-1e30, 0.0),
            (89.0, f32::INFINITY),
            (f32::INFINITY, f32::INFINITY),
        ] {
            assert_eq!(exp(x), want, "exp({x})");
        }
        assert!(exp(f32::NAN).is_nan());
    }

    #[test]
    fn every_path_gives_the_same_bits() {
        // A length with a remainder after 16-lane chunks; values over the whole useful range.
        let n = 4099;
        let (g, u) = (values(n, 5, 100.0), values(n, 6, 8.0));
        let mut outs = vec![vec![MaybeUninit::uninit(); n]; 3];
        silu_mul_any(&g, &u, &mut outs[0]);
        let mask: Vec<f32> = (0..n).map(|i| if i % 7 == 3 { f32::NEG_INFINITY } else { 0.0 }).collect();
        let mut rows = vec![vec![MaybeUninit::uninit(); n]; 3];
        softmax_row_any(&g, &mask, 0.3, &mut rows[0]);
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx512f") {
                unsafe { silu_mul_avx512(&g, &u, &mut outs[1]) };
                unsafe { softmax_row_avx512(&g, &mask, 0.3, &mut rows[1]) };
            } else {
                eprintln!("no AVX-512 here: that path is not compared");
                (outs[1], rows[1]) = (outs[0].clone(), rows[0].clone());
            }
            if std::is_x86_feature_detected!("avx2") {
                unsafe { silu_mul_avx2(&g, &u, &mut outs[2]) };
                unsafe { softmax_row_avx2(&g, &mask, 0.3, &mut rows[2]) };
            } else {
                (outs[2], rows[2]) = (outs[0].clone(), rows[0].clone());
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            (outs[1], outs[2], rows[1], rows[2]) = (outs[0].clone(), outs[0].clone(), rows[0].clone(), rows[0].clone());
        }
        let bits = |v: Vec<MaybeUninit<f32>>| init(v).into_iter().map(f32::to_bits).collect::<Vec<u32>>();
        let outs: Vec<Vec<u32>> = outs.into_iter().map(bits).collect();
        let rows: Vec<Vec<u32>> = rows.into_iter().map(bits).collect();
        assert!(outs[0] == outs[1] && outs[0] == outs[2], "silu_mul differs between paths");
        assert!(rows[0] == rows[1] && rows[0] == rows[2], "softmax_row differs between paths");
    }

    #[test]
    fn silu_mul_and_softmax_row_are_the_functions() {
        let n = 1000;
        let (g, u) = (values(n, 7, 30.0), values(n, 8, 4.0));
        let mut out = vec![MaybeUninit::uninit(); n];
        silu_mul(&g, &u, &mut out);
        for ((o, &g), &u) in init(out).into_iter().zip(&g).zip(&u) {
            let want = (g as f64 / (1.0 + (-g as f64).exp()) * u as f64) as f32;
            assert!((o - want).abs() <= 4.0 * f32::EPSILON * want.abs().max(1e-30), "silu({g}) · {u}: {o} vs {want}");
        }
        let mask: Vec<f32> = (0..n).map(|i| if i > 600 { f32::NEG_INFINITY } else { 0.0 }).collect();
        let mut row = vec![MaybeUninit::uninit(); n];
        softmax_row(&g, &mask, 0.5, &mut row);
        let row = init(row);
        let max = g[..=600].iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b as f64 * 0.5));
        let sum: f64 = g[..=600].iter().map(|&v| (v as f64 * 0.5 - max).exp()).sum();
        for (i, &o) in row.iter().enumerate() {
            let want = if i > 600 { 0.0 } else { ((g[i] as f64 * 0.5 - max).exp() / sum) as f32 };
            assert!((o - want).abs() <= 1e-5 * want.max(1e-30), "softmax[{i}]: {o} vs {want}");
        }
    }
}
