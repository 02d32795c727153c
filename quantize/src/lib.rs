//! ggml block formats: quantize and dequantize rows per type, importance weights, and the
//! per-tensor type policy of llama.cpp's mixes (Q4_K_M, …).
//!
//! The row API ([`quantize_rows`], [`dequantize_rows`], [`quantize_tensor`]) reproduces the
//! pinned ggml (0.25.3) byte for byte: `ggml_quantize_chunk` for quantization (the `_ref`
//! quantizers without an importance matrix, the `_impl` ones with it) and the `dequantize_row_*`
//! functions.

// The kernels index several arrays with one loop variable, in ggml's loop shapes, so that each can
// be read side by side with the C it reproduces byte for byte.
#![allow(clippy::needless_range_loop)]

pub mod blocks;
pub mod dot;
pub mod dot_tiled;
pub mod error;
pub mod fp;
pub mod ftype;
pub mod imatrix;
pub mod metadata;
pub mod policy;
pub mod simd;

pub use error::QuantizeError;
pub use gguf::GgmlType;

use blocks::{kernel, Weighted};
use rayon::prelude::*;

/// Whether [`quantize_rows`] / [`dequantize_rows`] handle `ty`.
pub fn supports(ty: GgmlType) -> bool {
    matches!(ty, GgmlType::F32 | GgmlType::F16 | GgmlType::BF16) || kernel(ty).is_some()
}

/// Index of the first NaN or infinity in `x`.
fn first_non_finite(x: &[f32]) -> Option<usize> {
    x.iter().position(|v| !v.is_finite())
}

/// Checks a row length against the type's block size; returns (block size, row bytes).
fn row_geometry(ty: GgmlType, n_per_row: usize) -> Result<(usize, usize), QuantizeError> {
    if !supports(ty) {
        return Err(QuantizeError::UnsupportedType { ty });
    }
    let block = ty.block_size();
    if n_per_row == 0 || !n_per_row.is_multiple_of(block) {
        return Err(QuantizeError::RowLength { ty, n_per_row, block_size: block });
    }
    Ok((block, n_per_row / block * ty.type_size()))
}

/// Checks the importance weights: one per row element, and present for the types ggml cannot
/// quantize without them.
fn check_imatrix(ty: GgmlType, n_per_row: usize, imatrix: Option<&[f32]>) -> Result<(), QuantizeError> {
    match imatrix {
        Some(w) if w.len() != n_per_row => Err(QuantizeError::ImatrixLength { expected: n_per_row, found: w.len() }),
        None if kernel(ty).is_some_and(|k| k.quantize_block.is_none()) => Err(QuantizeError::ImatrixRequired { ty }),
        _ => Ok(()),
    }
}

/// Quantizes whole rows of f32 to `ty`, as `ggml_quantize_chunk(ty, src, dst, 0, nrows,
/// n_per_row, imatrix)` does. `src.len()` must be a multiple of `n_per_row`, `dst.len()` =
/// rows × row size, `imatrix` (if any) holds `n_per_row` weights; `None` takes llama.cpp's path
/// without an importance matrix. Types that ignore importance weights (Q8_0, Q8_K, F16, BF16,
/// F32) accept and ignore them. NaN/Inf input gives [`QuantizeError::NonFinite`].
pub fn quantize_rows(ty: GgmlType, src: &[f32], n_per_row: usize, imatrix: Option<&[f32]>, dst: &mut [u8]) -> Result<(), QuantizeError> {
    let (_, row_bytes) = row_geometry(ty, n_per_row)?;
    if !src.len().is_multiple_of(n_per_row) {
        return Err(QuantizeError::SourceSize {
            ty,
            expected: src.len() / n_per_row * n_per_row + n_per_row,
            found: src.len(),
            unit: "elements",
        });
    }
    let nrows = src.len() / n_per_row;
    let expected = nrows * row_bytes;
    if dst.len() != expected {
        return Err(QuantizeError::DestinationSize { ty, expected, found: dst.len(), unit: "bytes" });
    }
    check_imatrix(ty, n_per_row, imatrix)?;
    if let Some(index) = first_non_finite(src) {
        return Err(QuantizeError::NonFinite { index });
    }
    quantize_rows_unchecked(ty, src, n_per_row, row_bytes, imatrix, dst);
    Ok(())
}

/// The work of [`quantize_rows`] after validation (sizes consistent, values finite).
fn quantize_rows_unchecked(ty: GgmlType, src: &[f32], n_per_row: usize, row_bytes: usize, imatrix: Option<&[f32]>, dst: &mut [u8]) {
    match ty {
        GgmlType::F32 => {
            for (o, v) in dst.chunks_exact_mut(4).zip(src) {
                o.copy_from_slice(&v.to_le_bytes());
            }
        }
        GgmlType::F16 => {
            #[cfg(target_arch = "x86_64")]
            if simd::has_avx2() {
                // SAFETY: AVX2 and F16C were detected; dst holds 2 bytes per element.
                return unsafe { simd::x86::f32_to_f16_row(src, dst) };
            }
            for (o, v) in dst.chunks_exact_mut(2).zip(src) {
                o.copy_from_slice(&fp::f32_to_f16(*v).to_le_bytes());
            }
        }
        GgmlType::BF16 => {
            for (o, v) in dst.chunks_exact_mut(2).zip(src) {
                o.copy_from_slice(&fp::f32_to_bf16(*v).to_le_bytes());
            }
        }
        _ => {
            let Some(k) = kernel(ty) else { return };
            #[cfg(target_arch = "x86_64")]
            if simd::has_avx2() && (imatrix.is_none() || matches!(k.weighted, Weighted::Ignored)) {
                // SAFETY: AVX2 and F16C were detected; src/dst hold whole blocks.
                match ty {
                    GgmlType::Q8_0 => return unsafe { simd::x86::quantize_q8_0(src, dst) },
                    GgmlType::Q4_0 => return unsafe { simd::x86::quantize_q4_0(src, dst) },
                    GgmlType::Q4_1 => return unsafe { simd::x86::quantize_q4_1(src, dst) },
                    GgmlType::Q5_0 => return unsafe { simd::x86::quantize_q5_0(src, dst) },
                    GgmlType::Q5_1 => return unsafe { simd::x86::quantize_q5_1(src, dst) },
                    _ => {}
                }
            }
            if ty == GgmlType::Q3_K && imatrix.is_none() {
                // Whole super-blocks, several searched at once (rows are whole super-blocks).
                return blocks::q3_k::quantize_blocks(src, dst);
            }
            if ty == GgmlType::IQ4_NL && imatrix.is_none() {
                // Whole blocks, eight searched at once (rows are whole blocks).
                return blocks::iq4_nl::quantize_row(src, None, dst);
            }
            for (x, y) in src.chunks_exact(n_per_row).zip(dst.chunks_exact_mut(row_bytes)) {
                match (imatrix, k.weighted) {
                    (Some(w), Weighted::PerRow(f)) => f(x, w, y),
                    (Some(w), Weighted::PerBlock(f)) => {
                        for ((xb, wb), yb) in x.chunks_exact(k.block).zip(w.chunks_exact(k.block)).zip(y.chunks_exact_mut(k.bytes)) {
                            f(xb, wb, yb)
                        }
                    }
                    _ => {
                        // `quantize_rows` refused a type without a quantizer for no imatrix.
                        let Some(q) = k.quantize_block else { return };
                        for (xb, yb) in x.chunks_exact(k.block).zip(y.chunks_exact_mut(k.bytes)) {
                            q(xb, yb)
                        }
                    }
                }
            }
        }
    }
}

/// Dequantizes `src` (whole blocks of `ty`) to f32, as ggml's `to_float` for the type does.
/// `dst.len()` must equal the number of elements in `src`.
pub fn dequantize_rows(ty: GgmlType, src: &[u8], dst: &mut [f32]) -> Result<(), QuantizeError> {
    if !supports(ty) {
        return Err(QuantizeError::UnsupportedType { ty });
    }
    let (block, bytes) = (ty.block_size(), ty.type_size());
    if !src.len().is_multiple_of(bytes) {
        return Err(QuantizeError::SourceSize { ty, expected: (src.len() / bytes + 1) * bytes, found: src.len(), unit: "bytes" });
    }
    let expected = src.len() / bytes * block;
    if dst.len() != expected {
        return Err(QuantizeError::DestinationSize { ty, expected, found: dst.len(), unit: "elements" });
    }
    match ty {
        GgmlType::F32 => {
            for (o, b) in dst.iter_mut().zip(src.chunks_exact(4)) {
                *o = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            }
        }
        GgmlType::F16 => {
            for (o, b) in dst.iter_mut().zip(src.chunks_exact(2)) {
                *o = fp::f16_to_f32(u16::from_le_bytes([b[0], b[1]]));
            }
        }
        GgmlType::BF16 => {
            for (o, b) in dst.iter_mut().zip(src.chunks_exact(2)) {
                *o = fp::bf16_to_f32(u16::from_le_bytes([b[0], b[1]]));
            }
        }
        _ => {
            let Some(k) = kernel(ty) else { return Err(QuantizeError::UnsupportedType { ty }) };
            for (yb, ob) in src.chunks_exact(k.bytes).zip(dst.chunks_exact_mut(k.block)) {
                (k.dequantize_block)(yb, ob);
            }
        }
    }
    Ok(())
}

/// Tensor data in a floating-point GGUF/safetensors type: little-endian bytes, possibly
/// unaligned (straight from a memory map).
#[derive(Debug, Clone, Copy)]
pub enum Source<'a> {
    /// IEEE f32.
    F32(&'a [u8]),
    /// IEEE binary16.
    F16(&'a [u8]),
    /// bfloat16.
    BF16(&'a [u8]),
}

impl Source<'_> {
    fn bytes_per_element(&self) -> usize {
        match self {
            Source::F32(_) => 4,
            Source::F16(_) | Source::BF16(_) => 2,
        }
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Source::F32(b) | Source::F16(b) | Source::BF16(b) => b,
        }
    }

    fn ggml_type(&self) -> GgmlType {
        match self {
            Source::F32(_) => GgmlType::F32,
            Source::F16(_) => GgmlType::F16,
            Source::BF16(_) => GgmlType::BF16,
        }
    }

    /// Number of elements (bytes / element size).
    pub fn len(&self) -> usize {
        self.bytes().len() / self.bytes_per_element()
    }

    /// Whether the source holds no element.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Converts `bytes` (elements of `src`'s kind) to f32 into `out` (same element count); returns the
/// index of the first non-finite value, if any.
fn convert_chunk(src: &Source<'_>, bytes: &[u8], out: &mut [f32]) -> Option<usize> {
    match src {
        Source::F32(_) => {
            for (o, b) in out.iter_mut().zip(bytes.chunks_exact(4)) {
                *o = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            }
            first_non_finite(out)
        }
        Source::F16(_) => {
            #[cfg(target_arch = "x86_64")]
            if simd::has_avx2() {
                // SAFETY: AVX2 and F16C were detected; bytes hold out.len() f16 values.
                return unsafe { simd::x86::f16_to_f32(bytes, out) };
            }
            convert_halves(bytes, out, 0x7c00, fp::f16_to_f32)
        }
        Source::BF16(_) => convert_halves(bytes, out, 0x7f80, fp::bf16_to_f32),
    }
}

/// 16-bit floats (`exp_mask`: the bits of their all-ones exponent, Inf/NaN) to f32 with
/// `to_f32`; returns the index of the first non-finite value, if any.
fn convert_halves(bytes: &[u8], out: &mut [f32], exp_mask: u16, to_f32: impl Fn(u16) -> f32) -> Option<usize> {
    let mut bad = None;
    for (i, (o, b)) in out.iter_mut().zip(bytes.chunks_exact(2)).enumerate() {
        let h = u16::from_le_bytes([b[0], b[1]]);
        if h & exp_mask == exp_mask && bad.is_none() {
            bad = Some(i);
        }
        *o = to_f32(h);
    }
    bad
}

/// A kernel that quantizes f16 bytes straight to blocks (conversion in registers, no f32
/// buffer), returning the index of the first Inf/NaN element.
type FusedF16 = unsafe fn(&[u8], &mut [u8]) -> Option<usize>;

/// The fused F16 kernel for `ty`, if there is one for this CPU, source and weighting: Q8_0
/// (which ignores importance weights) and Q4_0 without weights, with AVX-512. They give the
/// bytes of the f16 → f32 → `quantize_rows` path.
fn fused_from_f16(ty: GgmlType, src: &Source<'_>, imatrix: Option<&[f32]>) -> Option<FusedF16> {
    if !matches!(src, Source::F16(_)) || !simd::has_avx512() {
        return None;
    }
    #[cfg(target_arch = "x86_64")]
    match (ty, imatrix) {
        (GgmlType::Q8_0, _) => return Some(simd::x86_512::quantize_q8_0_from_f16),
        (GgmlType::Q4_0, None) => return Some(simd::x86_512::quantize_q4_0_from_f16),
        _ => {}
    }
    let _ = (ty, imatrix);
    None
}

thread_local! {
    /// Each worker thread's f32 buffer for converted chunks, reused across chunks and tensors.
    static CHUNK_F32: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Elements converted then quantized at a time inside a work item (rounded to whole rows).
const SLICE_ELEMENTS: usize = 4096;

/// Elements converted per parallel work item (rounded to whole rows).
const CHUNK_ELEMENTS: usize = 64 * 1024;

/// Quantizes a whole tensor from F32/F16/BF16 bytes to `ty`, in parallel (rayon) over chunks of
/// rows; each chunk is converted to f32 on its own (never the whole tensor). The output is that
/// of [`quantize_rows`] on the f32 values (so F16 input is quantized the way llama-quantize does
/// it: f16 → f32 → quantize), identical for any thread count. NaN/Inf input gives
/// [`QuantizeError::NonFinite`] with the first bad element's index in the tensor.
pub fn quantize_tensor(
    ty: GgmlType,
    src: Source<'_>,
    n_per_row: usize,
    imatrix: Option<&[f32]>,
    dst: &mut [u8],
) -> Result<(), QuantizeError> {
    let (_, row_bytes) = row_geometry(ty, n_per_row)?;
    let esize = src.bytes_per_element();
    let bytes = src.bytes();
    if !bytes.len().is_multiple_of(esize * n_per_row) {
        return Err(QuantizeError::SourceSize {
            ty: src.ggml_type(),
            expected: (bytes.len() / (esize * n_per_row) + 1) * esize * n_per_row,
            found: bytes.len(),
            unit: "bytes",
        });
    }
    let nrows = bytes.len() / (esize * n_per_row);
    let expected = nrows * row_bytes;
    if dst.len() != expected {
        return Err(QuantizeError::DestinationSize { ty, expected, found: dst.len(), unit: "bytes" });
    }
    check_imatrix(ty, n_per_row, imatrix)?;
    if nrows == 0 {
        return Ok(());
    }
    let rows_per_chunk = (CHUNK_ELEMENTS / n_per_row).max(1);
    let first_bad = dst
        .par_chunks_mut(rows_per_chunk * row_bytes)
        .enumerate()
        .map(|(ci, out)| {
            let rows = out.len() / row_bytes;
            let n = rows * n_per_row;
            let start = ci * rows_per_chunk * n_per_row;
            let chunk = &bytes[start * esize..(start + n) * esize];
            if let Some(fused) = fused_from_f16(ty, &src, imatrix) {
                // SAFETY: fused kernels exist only when AVX-512 was detected; `chunk` holds
                // whole 32-blocks of f16 (rows are whole blocks), `out` their output blocks.
                return unsafe { fused(chunk, out) }.map(|i| start + i);
            }
            CHUNK_F32.with(|cell| {
                let mut buf = cell.borrow_mut();
                // Convert and quantize a few rows at a time into one small per-thread buffer: the
                // converted values stay in L1/L2 and reading the source overlaps with the
                // quantizers' work. The buffer grows to the largest slice once per thread.
                let slice_rows = (SLICE_ELEMENTS / n_per_row).max(1).min(rows);
                if buf.len() < slice_rows * n_per_row {
                    buf.resize(slice_rows * n_per_row, 0.0);
                }
                let slices = chunk.chunks(slice_rows * n_per_row * esize).zip(out.chunks_mut(slice_rows * row_bytes));
                for (k, (sb, ob)) in slices.enumerate() {
                    let fb = &mut buf[..sb.len() / esize];
                    if let Some(i) = convert_chunk(&src, sb, fb) {
                        return Some(start + k * slice_rows * n_per_row + i);
                    }
                    quantize_rows_unchecked(ty, fb, n_per_row, row_bytes, imatrix, ob);
                }
                None
            })
        })
        .flatten()
        .min();
    match first_bad {
        Some(index) => Err(QuantizeError::NonFinite { index }),
        None => Ok(()),
    }
}
