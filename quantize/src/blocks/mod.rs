//! The block formats, one file per ggml type, and the table that maps a [`GgmlType`] to its
//! kernels. Each kernel reproduces the pinned ggml's scalar code bit for bit.

pub mod common;
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

/// How a type uses an importance matrix (ggml's `quantize_<type>(…, quant_weights)`).
#[derive(Clone, Copy)]
pub enum Weighted {
    /// The type ignores importance weights (Q8_0, Q8_K).
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
    /// The no-imatrix quantizer (`quantize_row_<type>_ref`) for one block.
    pub quantize_block: fn(&[f32], &mut [u8]),
    /// The importance-weighted quantizer.
    pub weighted: Weighted,
    /// The dequantizer (`dequantize_row_<type>`) for one block.
    pub dequantize_block: fn(&[u8], &mut [f32]),
}

macro_rules! kernel {
    ($ty:ident, $m:ident, $w:expr) => {
        BlockKernel {
            ty: GgmlType::$ty,
            block: $m::BLOCK,
            bytes: $m::BYTES,
            quantize_block: $m::quantize_block,
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
];

/// The kernels of `ty`, if it is a supported block type.
pub fn kernel(ty: GgmlType) -> Option<&'static BlockKernel> {
    BLOCK_KERNELS.iter().find(|k| k.ty == ty)
}
