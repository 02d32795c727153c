//! Fast paths behind runtime CPU detection, each equal to the scalar reference bit for bit
//! (tested in tests/quant_kernels_props.rs). Only order-independent operations are vectorised
//! inside a block (element-wise arithmetic, max of absolute values, conversions); reductions
//! that sum keep the scalar order.

#[cfg(target_arch = "x86_64")]
pub mod x86;
#[cfg(target_arch = "x86_64")]
pub mod x86_512;
#[cfg(target_arch = "x86_64")]
pub mod x86_iq;

/// Whether the AVX2 + F16C paths may run on this CPU (checked once).
#[inline]
pub fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use std::sync::OnceLock;
        static AVX2: OnceLock<bool> = OnceLock::new();
        *AVX2.get_or_init(|| {
            std::env::var_os("GGUFKIT_NO_SIMD").is_none() && std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("f16c")
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether the AVX-512 paths may run on this CPU (F, BW, VL, DQ, plus the AVX2 + F16C set;
/// checked once). `GGUFKIT_NO_SIMD` turns every fast path off, `GGUFKIT_NO_AVX512` only these
/// (to run the AVX2 paths on an AVX-512 machine).
#[inline]
pub fn has_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use std::sync::OnceLock;
        static AVX512: OnceLock<bool> = OnceLock::new();
        *AVX512.get_or_init(|| {
            has_avx2()
                && std::env::var_os("GGUFKIT_NO_AVX512").is_none()
                && std::is_x86_feature_detected!("avx512f")
                && std::is_x86_feature_detected!("avx512bw")
                && std::is_x86_feature_detected!("avx512vl")
                && std::is_x86_feature_detected!("avx512dq")
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether the AVX-512 VNNI dot products may run on this CPU: [`has_avx512`] plus VNNI (Ice Lake,
/// Zen 4 and later; checked once). `GGUFKIT_NO_AVX512` turns them off with the other AVX-512 paths.
#[inline]
pub fn has_avx512_vnni() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use std::sync::OnceLock;
        static VNNI: OnceLock<bool> = OnceLock::new();
        *VNNI.get_or_init(|| has_avx512() && std::is_x86_feature_detected!("avx512vnni"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}
