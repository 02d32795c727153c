//! Scalar conversions between f32 and the 16-bit float formats, bit-exact with the pinned ggml
//! (`ggml_compute_fp16_to_fp32`, `ggml_compute_fp32_to_fp16`, `ggml_compute_bf16_to_fp32`,
//! `ggml_compute_fp32_to_bf16` in ggml-impl.h, i.e. the portable paths ggml-base is built with).

/// IEEE binary16 bits to f32 (exact for every input; NaNs stay NaN).
#[inline]
pub fn f16_to_f32(h: u16) -> f32 {
    let w = (h as u32) << 16;
    let sign = w & 0x8000_0000;
    let two_w = w.wrapping_add(w);
    // Normal numbers: move the exponent/mantissa into place and rescale by 2^-112.
    let exp_offset: u32 = 0xE0 << 23;
    let normalized = f32::from_bits((two_w >> 4).wrapping_add(exp_offset)) * f32::from_bits(0x0780_0000);
    // Subnormals: build 0.5 + m * 2^-24 and subtract the bias.
    let magic_mask: u32 = 126 << 23;
    let denormalized = f32::from_bits((two_w >> 17) | magic_mask) - 0.5f32;
    let denormalized_cutoff: u32 = 1 << 27;
    let bits = if two_w < denormalized_cutoff { denormalized.to_bits() } else { normalized.to_bits() };
    f32::from_bits(sign | bits)
}

/// f32 to IEEE binary16 bits, rounding to nearest even; overflow gives ±Inf, NaN gives 0x7E00
/// with the input's sign (as ggml does).
#[inline]
pub fn f32_to_f16(f: f32) -> u16 {
    let scale_to_inf = f32::from_bits(0x7780_0000); // 2^112
    let scale_to_zero = f32::from_bits(0x0880_0000); // 2^-110
    let mut base = (f.abs() * scale_to_inf) * scale_to_zero;
    let w = f.to_bits();
    let shl1_w = w.wrapping_add(w);
    let sign = w & 0x8000_0000;
    let mut bias = shl1_w & 0xFF00_0000;
    if bias < 0x7100_0000 {
        bias = 0x7100_0000;
    }
    base += f32::from_bits((bias >> 1).wrapping_add(0x0780_0000));
    let bits = base.to_bits();
    let exp_bits = (bits >> 13) & 0x0000_7C00;
    let mantissa_bits = bits & 0x0000_0FFF;
    let nonsign = exp_bits.wrapping_add(mantissa_bits);
    ((sign >> 16) | if shl1_w > 0xFF00_0000 { 0x7E00 } else { nonsign }) as u16
}

/// bfloat16 bits to f32 (exact).
#[inline]
pub fn bf16_to_f32(h: u16) -> f32 {
    f32::from_bits((h as u32) << 16)
}

/// f32 to bfloat16 bits, rounding to nearest even; NaNs are made quiet (ggml's rule).
#[inline]
pub fn f32_to_bf16(f: f32) -> u16 {
    let u = f.to_bits();
    if (u & 0x7fff_ffff) > 0x7f80_0000 {
        return ((u >> 16) | 64) as u16;
    }
    (u.wrapping_add(0x7fff + ((u >> 16) & 1)) >> 16) as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_round_trip_of_every_non_nan_value() {
        for h in 0u16..=u16::MAX {
            let f = f16_to_f32(h);
            let expected = half::f16::from_bits(h).to_f32();
            assert_eq!(f.is_nan(), expected.is_nan(), "h={h:#x}");
            if !f.is_nan() {
                assert_eq!(f.to_bits(), expected.to_bits(), "h={h:#x}");
                assert_eq!(f32_to_f16(f), h, "h={h:#x}");
            }
        }
    }

    #[test]
    fn f32_to_f16_matches_ieee_rounding() {
        // half implements IEEE round-to-nearest-even; ggml's bit trick must agree on non-NaNs.
        let mut s = 0x1234_5678u32;
        for _ in 0..2_000_000 {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            let f = f32::from_bits(s);
            if f.is_nan() {
                assert_eq!(f32_to_f16(f) & 0x7fff, 0x7E00);
                continue;
            }
            assert_eq!(f32_to_f16(f), half::f16::from_f32(f).to_bits(), "f={f:e}");
            assert_eq!(f32_to_bf16(f), half::bf16::from_f32(f).to_bits(), "f={f:e}");
        }
    }
}
