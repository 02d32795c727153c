//! The block formats, one file per ggml type, and the table that maps a [`GgmlType`] to its
//! kernels. Each kernel reproduces the pinned ggml's scalar code bit for bit.

pub mod common;
pub mod iq1_m;
pub mod iq1_s;
pub mod iq2_s;
pub mod iq2_xs;
pub mod iq2_xxs;
pub mod iq3_s;
pub mod iq3_xxs;
pub mod iq4_nl;
pub mod iq4_xs;
pub mod iq_grid;
pub mod q2_k;
pub mod q3_k;
pub mod q4_0;
pub mod q4_1;
pub mod q4_k;
pub mod q5_0;
pub mod q5_1;
pub mod q5_k;
pub mod q6_k;
pub mod q8_0;
pub mod q8_k;
pub mod tq1_0;
pub mod tq2_0;

use gguf::GgmlType;

/// Sum of squares of a row in order (ggml's `sum_x2` loops).
#[inline]
pub(crate) fn row_sigma2(x: &[f32]) -> f32 {
    let mut s = 0.0f32;
    for &v in x {
        s += v * v;
    }
    s
}

/// Elements per block of the legacy types (Q4_0, Q4_1, Q5_0, Q5_1).
const LEGACY_BLOCK: usize = 32;

/// ggml's `quantize_row_q4_0_impl` / `quantize_row_q5_0_impl` with importance weights, for one
/// row: per block of 32, weights `qw · sqrt(σ²/n + x²)` and a symmetric
/// `make_qx_quants(nmax, …, rmse_type 1)`, sixteen blocks at a time through the lane-per-block
/// kernels (eight, then scalar, for the tail). Writes each block's scale as f16 at byte 0 and hands
/// its levels to `pack`.
pub(crate) fn symmetric_weighted_row(x: &[f32], qw: &[f32], y: &mut [u8], nmax: i32, bytes: usize, pack: impl Fn(&[i8], &mut [u8])) {
    use common::{make_qx_quants, qx_16_groups, qx_8_groups, write_f16};
    const B: usize = LEGACY_BLOCK;
    let sigma2 = row_sigma2(x) / x.len() as f32;
    let mut weight = [0.0f32; 16 * B];
    let mut lg = [0i8; 16 * B];
    let mut ds = [0.0f32; 16];
    for (ib, yb) in y.chunks_exact_mut(bytes).enumerate() {
        let k = ib % 16;
        if k == 0 {
            let g = (x.len() / B - ib).min(16);
            let xs = &x[ib * B..(ib + g) * B];
            for (j, w) in weight[..g * B].iter_mut().enumerate() {
                *w = qw[ib * B + j] * (sigma2 + xs[j] * xs[j]).sqrt();
            }
            let mut b = 0;
            if g == 16 {
                qx_16_groups(B, nmax, xs, Some(&weight), &mut lg, &mut ds);
                b = 16;
            }
            while b + 8 <= g {
                let r = b * B..(b + 8) * B;
                qx_8_groups(B, nmax, &xs[r.clone()], Some(&weight[r.clone()]), &mut lg[r], &mut ds[b..]);
                b += 8;
            }
            for b in b..g {
                let r = b * B..(b + 1) * B;
                ds[b] = make_qx_quants(nmax, &xs[r.clone()], &mut lg[r.clone()], 1, Some(&weight[r]));
            }
        }
        write_f16(yb, 0, ds[k]);
        pack(&lg[k * B..(k + 1) * B], yb);
    }
}

/// ggml's `quantize_row_q4_1_impl` / `quantize_row_q5_1_impl` with importance weights, for one
/// row: per block of 32, weights `qw · sqrt(σ²/n + x²)` and `make_qkx3_quants(nmax, …, -0.9,
/// 0.05, 36)`, eight blocks at a time through the lane-per-block kernel (scalar for the tail).
/// Writes each block's scale and min as f16 at bytes 0 and 2 and hands its levels to `pack`.
pub(crate) fn asymmetric_weighted_row(x: &[f32], qw: &[f32], y: &mut [u8], nmax: i32, bytes: usize, pack: impl Fn(&[u8], &mut [u8])) {
    use common::{make_qkx3_quants, write_f16};
    const B: usize = LEGACY_BLOCK;
    let n = x.len();
    let sigma2 = row_sigma2(x) / n as f32;
    let nb = n / B;
    let mut weight = [0.0f32; 8 * B];
    let mut lg = [0u8; 8 * B];
    let mut laux = [0u8; B];
    let mut ds = [0.0f32; 8];
    let mut mins = [0.0f32; 8];
    let mut ib = 0;
    while ib < nb {
        let g = (nb - ib).min(8);
        let xs = &x[ib * B..(ib + g) * B];
        for (j, w) in weight[..g * B].iter_mut().enumerate() {
            *w = qw[ib * B + j] * (sigma2 + xs[j] * xs[j]).sqrt();
        }
        if g == 8 {
            q4_k::qkx_8_groups(B, nmax, xs, &weight, -0.9, 0.05, 36, false, &mut lg, &mut laux, &mut ds, &mut mins);
        } else {
            for k in 0..g {
                let r = k * B..(k + 1) * B;
                let (d, m) = make_qkx3_quants(nmax, &xs[r.clone()], Some(&weight[r.clone()]), &mut lg[r], &mut laux, -0.9, 0.05, 36, false);
                ds[k] = d;
                mins[k] = m;
            }
        }
        for k in 0..g {
            let yb = &mut y[(ib + k) * bytes..(ib + k + 1) * bytes];
            write_f16(yb, 0, ds[k]);
            write_f16(yb, 2, -mins[k]);
            pack(&lg[k * B..(k + 1) * B], yb);
        }
        ib += g;
    }
}

/// How a type uses an importance matrix (ggml's `quantize_<type>(…, quant_weights)`).
#[derive(Clone, Copy)]
pub enum Weighted {
    /// The type ignores importance weights (Q8_0, Q8_K, TQ1_0, TQ2_0).
    Ignored,
    /// A whole-row function (the legacy types use the row's mean square): `(row, weights, out)`.
    PerRow(fn(&[f32], &[f32], &mut [u8])),
    /// A per-super-block function: `(block, block weights, out block)`.
    PerBlock(fn(&[f32], &[f32], &mut [u8])),
}

/// The kernels of one block type.
#[derive(Clone, Copy)]
pub struct BlockKernel {
    /// The ggml type.
    pub ty: GgmlType,
    /// Elements per block.
    pub block: usize,
    /// Bytes per block.
    pub bytes: usize,
    /// The no-imatrix quantizer (`quantize_row_<type>_ref`) for one block; `None` where ggml
    /// has none and asserts importance weights (IQ1_S, IQ2_XXS, IQ2_XS).
    pub quantize_block: Option<QuantizeBlockFn>,
    /// The importance-weighted quantizer.
    pub weighted: Weighted,
    /// The dequantizer (`dequantize_row_<type>`) for one block.
    pub dequantize_block: fn(&[u8], &mut [f32]),
}

/// A no-imatrix block quantizer: one block of `f32` in, the block's bytes out.
pub type QuantizeBlockFn = fn(&[f32], &mut [u8]);

macro_rules! kernel {
    ($ty:ident, $m:ident, $w:expr) => {
        kernel!($ty, $m, Some($m::quantize_block), $w)
    };
    ($ty:ident, $m:ident, $q:expr, $w:expr) => {
        BlockKernel {
            ty: GgmlType::$ty,
            block: $m::BLOCK,
            bytes: $m::BYTES,
            quantize_block: $q,
            weighted: $w,
            dequantize_block: $m::dequantize_block,
        }
    };
}

/// Every supported block type, declared once.
pub static BLOCK_KERNELS: &[BlockKernel] = &[
    kernel!(Q4_0, q4_0, Weighted::PerRow(q4_0::quantize_row_weighted)),
    kernel!(Q4_1, q4_1, Weighted::PerRow(q4_1::quantize_row_weighted)),
    kernel!(Q5_0, q5_0, Weighted::PerRow(q5_0::quantize_row_weighted)),
    kernel!(Q5_1, q5_1, Weighted::PerRow(q5_1::quantize_row_weighted)),
    kernel!(Q8_0, q8_0, Weighted::Ignored),
    kernel!(Q2_K, q2_k, Weighted::PerBlock(q2_k::quantize_block_weighted)),
    kernel!(Q3_K, q3_k, Weighted::PerBlock(q3_k::quantize_block_weighted)),
    kernel!(Q4_K, q4_k, Weighted::PerBlock(q4_k::quantize_block_weighted)),
    kernel!(Q5_K, q5_k, Weighted::PerBlock(q5_k::quantize_block_weighted)),
    kernel!(Q6_K, q6_k, Weighted::PerBlock(q6_k::quantize_block_weighted)),
    kernel!(Q8_K, q8_k, Weighted::Ignored),
    kernel!(IQ1_M, iq1_m, Weighted::PerBlock(iq1_m::quantize_block_weighted)),
    kernel!(IQ1_S, iq1_s, None, Weighted::PerBlock(iq1_s::quantize_block_weighted)),
    kernel!(IQ2_XXS, iq2_xxs, None, Weighted::PerBlock(iq2_xxs::quantize_block_weighted)),
    kernel!(IQ2_XS, iq2_xs, None, Weighted::PerBlock(iq2_xs::quantize_block_weighted)),
    kernel!(IQ2_S, iq2_s, Weighted::PerBlock(iq2_s::quantize_block_weighted)),
    kernel!(IQ3_XXS, iq3_xxs, Weighted::PerBlock(iq3_xxs::quantize_block_weighted)),
    kernel!(IQ3_S, iq3_s, Weighted::PerBlock(iq3_s::quantize_block_weighted)),
    kernel!(IQ4_NL, iq4_nl, Weighted::PerRow(iq4_nl::quantize_row_weighted)),
    kernel!(IQ4_XS, iq4_xs, Weighted::PerBlock(iq4_xs::quantize_block_weighted)),
    kernel!(TQ1_0, tq1_0, Weighted::Ignored),
    kernel!(TQ2_0, tq2_0, Weighted::Ignored),
];

/// The kernels of `ty`, if it is a supported block type.
pub fn kernel(ty: GgmlType) -> Option<&'static BlockKernel> {
    BLOCK_KERNELS.iter().find(|k| k.ty == ty)
}
