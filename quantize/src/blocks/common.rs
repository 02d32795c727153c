//! Scalar helpers shared by the block quantizers: rounding and the per-group scale searches of
//! the pinned ggml (`ggml-quants.c`). Every function keeps ggml's order of f32 operations, its
//! int/float conversions and its comparisons, so results are bit-identical.

/// Smallest group maximum treated as non-zero (`GROUP_MAX_EPS`).
pub const GROUP_MAX_EPS: f32 = 1e-15;

/// Elements per K-quant super-block (`QK_K`).
pub const QK_K: usize = 256;

/// Round to nearest (ties to even) by adding 1.5·2^23 and reading the mantissa bits, as
/// ggml's `nearest_int` does. Exact for |fval| ≤ 4194303; beyond that it returns the same
/// wrapped value ggml does.
#[inline(always)]
pub fn nearest_int(fval: f32) -> i32 {
    let val = fval + 12582912.0f32;
    let i = val.to_bits() as i32;
    (i & 0x007f_ffff).wrapping_sub(0x0040_0000)
}

/// C's float-to-integer conversion as x86-64 compiles it (`cvttss2si`): truncation toward zero,
/// and the "integer indefinite" value `i32::MIN` for NaN and out-of-range inputs (Rust's `as`
/// saturates instead). ggml's `(int8_t)(x + 8.5f)`-style casts then keep the low bits.
#[inline(always)]
pub fn c_f32_to_i32(v: f32) -> i32 {
    if v.is_nan() || !(-2147483648.0..2147483648.0).contains(&v) {
        i32::MIN
    } else {
        v as i32
    }
}

/// Reads a little-endian f16 at `at`.
#[inline(always)]
pub fn read_f16(b: &[u8], at: usize) -> f32 {
    crate::fp::f16_to_f32(u16::from_le_bytes([b[at], b[at + 1]]))
}

/// Writes `v` as a little-endian f16 at `at`.
#[inline(always)]
pub fn write_f16(b: &mut [u8], at: usize, v: f32) {
    b[at..at + 2].copy_from_slice(&crate::fp::f32_to_f16(v).to_le_bytes());
}

/// Rounds `v` through f16 (store then load), as ggml does when it re-reads a scale it wrote.
#[inline(always)]
pub fn through_f16(v: f32) -> f32 {
    crate::fp::f16_to_f32(crate::fp::f32_to_f16(v))
}

#[inline(always)]
fn rmse_weight(rmse_type: i32, x: f32) -> f32 {
    match rmse_type {
        1 => x * x,
        2 => 1.0,
        3 => x.abs(),
        _ => x.abs().sqrt(),
    }
}

/// The element of largest magnitude (the first on ties) and that magnitude: `(max, amax)`, as
/// ggml's `max`/`amax` loops find them (`(0, 0)` for an empty or all-zero slice).
#[inline]
pub fn max_by_abs(x: &[f32]) -> (f32, f32) {
    let mut max = 0.0f32;
    let mut amax = 0.0f32;
    for &xi in x {
        let ax = xi.abs();
        if ax > amax {
            amax = ax;
            max = xi;
        }
    }
    (max, amax)
}

/// Symmetric quantization of `x` to integers in `[-nmax, nmax-1]` (stored as `l + nmax` in `l_out`)
/// with a scale search (`make_qx_quants`). `qw`: per-element weights, or `None` for the weighting
/// chosen by `rmse_type`. Returns the scale.
pub fn make_qx_quants(nmax: i32, x: &[f32], l_out: &mut [i8], rmse_type: i32, qw: Option<&[f32]>) -> f32 {
    let n = x.len();
    let (max, amax) = max_by_abs(x);
    if amax < GROUP_MAX_EPS {
        l_out[..n].fill(0);
        return 0.0;
    }
    let mut iscale = (-nmax) as f32 / max;
    if rmse_type == 0 {
        for i in 0..n {
            let l = nearest_int(iscale * x[i]);
            l_out[i] = (nmax + l.min(nmax - 1).max(-nmax)) as i8;
        }
        return 1.0 / iscale;
    }
    let (rmse_type, return_early) = if rmse_type < 0 { (-rmse_type, true) } else { (rmse_type, false) };
    let weight = |i: usize| match qw {
        Some(w) => w[i],
        None => rmse_weight(rmse_type, x[i]),
    };
    let mut sumlx = 0.0f32;
    let mut suml2 = 0.0f32;
    for i in 0..n {
        let l = nearest_int(iscale * x[i]).min(nmax - 1).max(-nmax);
        l_out[i] = (l + nmax) as i8;
        let w = weight(i);
        let lf = l as f32;
        sumlx += w * x[i] * lf;
        suml2 += w * lf * lf;
    }
    let mut scale = if suml2 != 0.0 { sumlx / suml2 } else { 0.0 };
    if return_early {
        return if suml2 > 0.0 { 0.5f32 * (scale + 1.0 / iscale) } else { 1.0 / iscale };
    }
    let mut best = scale * sumlx;
    for is in -9i32..=9 {
        if is == 0 {
            continue;
        }
        iscale = -(nmax as f32 + 0.1f32 * is as f32) / max;
        sumlx = 0.0;
        suml2 = 0.0;
        for i in 0..n {
            let l = nearest_int(iscale * x[i]).min(nmax - 1).max(-nmax);
            let w = weight(i);
            let lf = l as f32;
            sumlx += w * x[i] * lf;
            suml2 += w * lf * lf;
        }
        if suml2 > 0.0 && sumlx * sumlx > best * suml2 {
            for i in 0..n {
                let l = nearest_int(iscale * x[i]);
                l_out[i] = (nmax + l.min(nmax - 1).max(-nmax)) as i8;
            }
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    scale
}

/// [`make_qx_quants`] with `rmse_type` 1 on 8 consecutive groups of `n` elements (weights `qw`
/// or `x²`): the AVX2 lane-per-group kernel when available, else the scalar one. Levels go to
/// `l[g·n..]`, scales to `scales[g]`.
pub fn qx_8_groups(n: usize, nmax: i32, x: &[f32], qw: Option<&[f32]>, l: &mut [i8], scales: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if crate::simd::has_avx2()
        && n <= crate::simd::x86::MAX_GROUP
        && x.len() >= 8 * n
        && l.len() >= 8 * n
        && qw.is_none_or(|w| w.len() >= 8 * n)
    {
        // SAFETY: AVX2/F16C detected; sizes checked above.
        unsafe { crate::simd::x86::qx_groups(n, nmax, x, qw, l, scales) };
        return;
    }
    for g in 0..8 {
        let r = g * n..(g + 1) * n;
        scales[g] = make_qx_quants(nmax, &x[r.clone()], &mut l[r.clone()], 1, qw.map(|w| &w[r]));
    }
}

/// [`make_qx_quants`] with `rmse_type` 1 on 16 consecutive groups of `n` elements (weights `qw`
/// or `x²`): the AVX-512 16-lane kernel when available, else two runs of [`qx_8_groups`]. Levels
/// go to `l[g·n..]`, scales to `scales[g]`.
pub fn qx_16_groups(n: usize, nmax: i32, x: &[f32], qw: Option<&[f32]>, l: &mut [i8], scales: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if crate::simd::has_avx512()
        && n <= crate::simd::x86_512::MAX_GROUP
        && x.len() >= 16 * n
        && l.len() >= 16 * n
        && scales.len() >= 16
        && qw.is_none_or(|w| w.len() >= 16 * n)
    {
        // SAFETY: AVX-512 detected; sizes checked above.
        unsafe { crate::simd::x86_512::qx_groups(n, nmax, x, qw, l, scales) };
        return;
    }
    for h in 0..2 {
        let r = 8 * n * h..8 * n * (h + 1);
        qx_8_groups(n, nmax, &x[r.clone()], qw.map(|w| &w[r.clone()]), &mut l[r], &mut scales[8 * h..]);
    }
}

/// Super-blocks handled at once by [`q3_superblocks`].
pub const Q3_SUPERBLOCKS: usize = 4;

/// [`make_q3_quants`] (`do_rmse`, nmax 4) on the 16 groups of 16 of each of `x.len() / 256`
/// (at most [`Q3_SUPERBLOCKS`]) Q3_K super-blocks: with AVX-512, four super-blocks interleaved
/// (16 lanes each) when there are four, else one at a time; otherwise [`q3_16_groups`] per
/// super-block. Levels go to `l[256·b + 16·g..]`, scales to `scales[16·b + g]`.
pub fn q3_superblocks(x: &[f32], l: &mut [i8], scales: &mut [f32]) {
    let nb = (x.len() / QK_K).min(Q3_SUPERBLOCKS).min(l.len() / QK_K).min(scales.len() / 16);
    #[cfg(target_arch = "x86_64")]
    if crate::simd::has_avx512() {
        if nb == Q3_SUPERBLOCKS {
            // SAFETY: AVX-512 detected; x and l hold 4·256 values, scales 64.
            unsafe { crate::simd::x86_512::q3_groups::<Q3_SUPERBLOCKS, 16>(4, x, l, scales) };
        } else {
            for b in 0..nb {
                let r = QK_K * b..QK_K * (b + 1);
                // SAFETY: AVX-512 detected; x and l hold 256 values here, scales 16.
                unsafe { crate::simd::x86_512::q3_groups::<1, 16>(4, &x[r.clone()], &mut l[r], &mut scales[16 * b..]) };
            }
        }
        return;
    }
    for b in 0..nb {
        let r = QK_K * b..QK_K * (b + 1);
        let (lb, sb) = (&mut l[r.clone()], &mut scales[16 * b..16 * b + 16]);
        let (Ok(lb), Ok(sb)) = (<&mut [i8; QK_K]>::try_from(lb), <&mut [f32; 16]>::try_from(sb)) else { return };
        q3_16_groups(&x[r], lb, sb);
    }
}

/// [`make_q3_quants`] with `do_rmse` on 8 consecutive groups of `n` elements: the AVX2
/// lane-per-group kernel when available, else the scalar one. Levels go to `l[g·n..]`, scales
/// to `scales[g]`.
pub fn q3_8_groups(n: usize, nmax: i32, x: &[f32], l: &mut [i8], scales: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if crate::simd::has_avx2() && n <= crate::simd::x86::MAX_GROUP && x.len() >= 8 * n && l.len() >= 8 * n {
        // SAFETY: AVX2/F16C detected; sizes checked above.
        unsafe { crate::simd::x86::q3_groups(n, nmax, x, l, scales) };
        return;
    }
    for g in 0..8 {
        let r = g * n..(g + 1) * n;
        scales[g] = make_q3_quants(nmax, &x[r.clone()], &mut l[r], true);
    }
}

/// [`make_q3_quants`] (`do_rmse`, nmax 4) on the 16 groups of 16 of a Q3_K super-block: the
/// AVX2 kernel on two interleaved sets of 8 lanes when available, else the scalar one.
pub fn q3_16_groups(x: &[f32], l: &mut [i8; QK_K], scales: &mut [f32; 16]) {
    #[cfg(target_arch = "x86_64")]
    if crate::simd::has_avx2() && x.len() >= QK_K {
        // SAFETY: AVX2/F16C detected; x holds 256 values, l 256, scales 16.
        unsafe { crate::simd::x86::q3_groups16(16, 4, x, l, scales) };
        return;
    }
    for g in 0..16 {
        let r = g * 16..(g + 1) * 16;
        scales[g] = make_q3_quants(4, &x[r.clone()], &mut l[r], true);
    }
}

/// Requantizes a group with a stored scale: `out[i] = clamp(nearest_int((x[i] + add) / d), lo,
/// hi) + off`, as the last loops of the K-quant quantizers do (`add` = 0.0 for the symmetric
/// types: adding zero changes no `nearest_int` result). AVX2 when available.
#[inline]
pub fn requantize_group(x: &[f32], add: f32, d: f32, lo: i32, hi: i32, off: i32, out: &mut [u8]) {
    #[cfg(target_arch = "x86_64")]
    if crate::simd::has_avx2() && x.len().is_multiple_of(8) && out.len() >= x.len() {
        // SAFETY: AVX2/F16C detected; sizes checked above.
        unsafe { crate::simd::x86::requantize(x, add, d, lo, hi, off, out) };
        return;
    }
    for (o, &v) in out.iter_mut().zip(x) {
        *o = (nearest_int((v + add) / d).min(hi).max(lo) + off) as u8;
    }
}

/// Symmetric 3-bit-style quantization with iterative refinement (`make_q3_quants`): levels in
/// `[-nmax, nmax-1]`, stored as `l + nmax`. Returns the scale.
pub fn make_q3_quants(nmax: i32, x: &[f32], l_out: &mut [i8], do_rmse: bool) -> f32 {
    let n = x.len();
    let (max, amax) = max_by_abs(x);
    if amax < GROUP_MAX_EPS {
        l_out[..n].fill(0);
        return 0.0;
    }
    let iscale = (-nmax) as f32 / max;
    if do_rmse {
        let mut sumlx = 0.0f32;
        let mut suml2 = 0.0f32;
        for i in 0..n {
            let l = nearest_int(iscale * x[i]).min(nmax - 1).max(-nmax);
            l_out[i] = l as i8;
            let w = x[i] * x[i];
            let lf = l as f32;
            sumlx += w * x[i] * lf;
            suml2 += w * lf * lf;
        }
        for _itry in 0..5 {
            let mut n_changed = 0;
            for i in 0..n {
                let w = x[i] * x[i];
                let li = l_out[i] as f32;
                let mut slx = sumlx - w * x[i] * li;
                if slx > 0.0 {
                    let mut sl2 = suml2 - w * li * li;
                    let new_l = nearest_int(x[i] * sl2 / slx).min(nmax - 1).max(-nmax);
                    if new_l != l_out[i] as i32 {
                        let nl = new_l as f32;
                        slx += w * x[i] * nl;
                        sl2 += w * nl * nl;
                        if sl2 > 0.0 && slx * slx * suml2 > sumlx * sumlx * sl2 {
                            l_out[i] = new_l as i8;
                            sumlx = slx;
                            suml2 = sl2;
                            n_changed += 1;
                        }
                    }
                }
            }
            if n_changed == 0 {
                break;
            }
        }
        for l in l_out[..n].iter_mut() {
            *l = (*l as i32 + nmax) as i8;
        }
        return if suml2 > 0.0 { sumlx / suml2 } else { 0.0 };
    }
    for i in 0..n {
        let l = nearest_int(iscale * x[i]).min(nmax - 1).max(-nmax);
        l_out[i] = (l + nmax) as i8;
    }
    1.0 / iscale
}

/// Asymmetric quantization to `[0, nmax]` with a min and a weighted scale search
/// (`make_qkx2_quants`). Returns `(scale, the_min)` where `the_min` is ggml's `-min` (≥ 0).
#[allow(clippy::too_many_arguments)]
pub fn make_qkx2_quants(
    nmax: i32,
    x: &[f32],
    weights: &[f32],
    l_out: &mut [u8],
    l_aux: &mut [u8],
    rmin: f32,
    rdelta: f32,
    nstep: i32,
    use_mad: bool,
) -> (f32, f32) {
    qkx_search(nmax, x, |i| weights[i], l_out, l_aux, rmin, rdelta, nstep, use_mad)
}

/// ggml's `make_qkx3_quants`: [`make_qkx2_quants`] with default weights `x²` when `weights` is
/// `None`. (Its `max <= min` test equals qkx2's `max == min`: `max < min` cannot happen, both
/// start at `x[0]` and a positive min is lowered to 0.) Returns `(scale, the_min)`.
#[allow(clippy::too_many_arguments)]
pub fn make_qkx3_quants(
    nmax: i32,
    x: &[f32],
    weights: Option<&[f32]>,
    l_out: &mut [u8],
    l_aux: &mut [u8],
    rmin: f32,
    rdelta: f32,
    nstep: i32,
    use_mad: bool,
) -> (f32, f32) {
    match weights {
        Some(w) => qkx_search(nmax, x, |i| w[i], l_out, l_aux, rmin, rdelta, nstep, use_mad),
        None => qkx_search(nmax, x, |i| x[i] * x[i], l_out, l_aux, rmin, rdelta, nstep, use_mad),
    }
}

/// The search shared by `make_qkx2_quants` and `make_qkx3_quants`, in ggml's operation order,
/// with the weight of element `i` given by `wt(i)`.
#[allow(clippy::too_many_arguments)]
fn qkx_search(
    nmax: i32,
    x: &[f32],
    wt: impl Fn(usize) -> f32,
    l_out: &mut [u8],
    l_aux: &mut [u8],
    rmin: f32,
    rdelta: f32,
    nstep: i32,
    use_mad: bool,
) -> (f32, f32) {
    let n = x.len();
    let mut min = x[0];
    let mut max = x[0];
    let mut sum_w = wt(0);
    let mut sum_x = sum_w * x[0];
    for i in 1..n {
        if x[i] < min {
            min = x[i];
        }
        if x[i] > max {
            max = x[i];
        }
        let w = wt(i);
        sum_w += w;
        sum_x += w * x[i];
    }
    if min > 0.0 {
        min = 0.0;
    }
    if max == min {
        l_out[..n].fill(0);
        return (0.0, -min);
    }
    let mut iscale = nmax as f32 / (max - min);
    let mut scale = 1.0 / iscale;
    let mut best_error = 0.0f32;
    for i in 0..n {
        let l = nearest_int(iscale * (x[i] - min)).min(nmax).max(0);
        l_out[i] = l as u8;
        let diff = scale * l as f32 + min - x[i];
        let diff = if use_mad { diff.abs() } else { diff * diff };
        best_error += wt(i) * diff;
    }
    if nstep < 1 {
        return (scale, -min);
    }
    for is in 0..=nstep {
        iscale = (rmin + rdelta * is as f32 + nmax as f32) / (max - min);
        let mut sum_l = 0.0f32;
        let mut sum_l2 = 0.0f32;
        let mut sum_xl = 0.0f32;
        for i in 0..n {
            let l = nearest_int(iscale * (x[i] - min)).min(nmax).max(0);
            l_aux[i] = l as u8;
            let w = wt(i);
            let lf = l as f32;
            sum_l += w * lf;
            sum_l2 += w * lf * lf;
            sum_xl += w * lf * x[i];
        }
        let d = sum_w * sum_l2 - sum_l * sum_l;
        if d > 0.0 {
            let mut this_scale = (sum_w * sum_xl - sum_x * sum_l) / d;
            let mut this_min = (sum_l2 * sum_x - sum_l * sum_xl) / d;
            if this_min > 0.0 {
                this_min = 0.0;
                this_scale = sum_xl / sum_l2;
            }
            let mut cur_error = 0.0f32;
            for i in 0..n {
                let diff = this_scale * l_aux[i] as f32 + this_min - x[i];
                let diff = if use_mad { diff.abs() } else { diff * diff };
                cur_error += wt(i) * diff;
            }
            if cur_error < best_error {
                l_out[..n].copy_from_slice(&l_aux[..n]);
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    (scale, -min)
}

/// Quantization of non-negative values (super-block scales and mins) to `[0, nmax]` with a
/// weighted scale search and refinement (`make_qp_quants`). Returns the scale.
pub fn make_qp_quants(nmax: i32, x: &[f32], l_out: &mut [u8], quant_weights: &[f32]) -> f32 {
    let n = x.len();
    let mut max = 0.0f32;
    for &xi in x {
        max = if max > xi { max } else { xi };
    }
    if max < GROUP_MAX_EPS {
        l_out[..n].fill(0);
        return 0.0;
    }
    let mut iscale = nmax as f32 / max;
    for i in 0..n {
        l_out[i] = nearest_int(iscale * x[i]) as u8;
    }
    let scale = 1.0 / iscale;
    let mut best_mse = 0.0f32;
    for i in 0..n {
        let diff = x[i] - scale * l_out[i] as f32;
        let w = quant_weights[i];
        best_mse += w * diff * diff;
    }
    for is in -4i32..=4 {
        if is == 0 {
            continue;
        }
        let iscale_is = (0.1f32 * is as f32 + nmax as f32) / max;
        let scale_is = 1.0 / iscale_is;
        let mut mse = 0.0f32;
        for i in 0..n {
            let l = nearest_int(iscale_is * x[i]).min(nmax);
            let diff = x[i] - scale_is * l as f32;
            let w = quant_weights[i];
            mse += w * diff * diff;
        }
        if mse < best_mse {
            best_mse = mse;
            iscale = iscale_is;
        }
    }
    let mut sumlx = 0.0f32;
    let mut suml2 = 0.0f32;
    for i in 0..n {
        let l = nearest_int(iscale * x[i]).min(nmax);
        l_out[i] = l as u8;
        let w = quant_weights[i];
        let lf = l as f32;
        sumlx += w * x[i] * lf;
        suml2 += w * lf * lf;
    }
    for _itry in 0..5 {
        let mut n_changed = 0;
        for i in 0..n {
            let w = quant_weights[i];
            let li = l_out[i] as f32;
            let mut slx = sumlx - w * x[i] * li;
            let mut sl2 = suml2 - w * li * li;
            if slx > 0.0 && sl2 > 0.0 {
                let new_l = nearest_int(x[i] * sl2 / slx).min(nmax);
                if new_l != l_out[i] as i32 {
                    let nl = new_l as f32;
                    slx += w * x[i] * nl;
                    sl2 += w * nl * nl;
                    if slx * slx * suml2 > sumlx * sumlx * sl2 {
                        l_out[i] = new_l as u8;
                        sumlx = slx;
                        suml2 = sl2;
                        n_changed += 1;
                    }
                }
            }
        }
        if n_changed == 0 {
            break;
        }
    }
    if suml2 > 0.0 {
        sumlx / suml2
    } else {
        0.0
    }
}

/// Unpacks the 6-bit scale and min of sub-block `j` of a Q4_K/Q5_K block (`get_scale_min_k4`).
#[inline(always)]
pub fn get_scale_min_k4(j: usize, q: &[u8]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        ((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4))
    }
}

/// Packs 8 pairs of 6-bit scales and mins into the 12-byte Q4_K/Q5_K layout.
#[inline(always)]
pub fn pack_scale_min_k4(ls: &[u8; 8], lm: &[u8; 8], out: &mut [u8]) {
    out[..12].fill(0);
    for j in 0..8 {
        let (s, m) = (ls[j], lm[j]);
        if j < 4 {
            out[j] = s;
            out[j + 4] = m;
        } else {
            out[j + 4] = (s & 0xF) | ((m & 0xF) << 4);
            out[j - 4] |= (s >> 4) << 6;
            out[j] |= (m >> 4) << 6;
        }
    }
}
