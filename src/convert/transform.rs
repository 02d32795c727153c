//! The converter stage of one tensor: checkpoint bytes → the values `convert_hf_to_gguf.py` writes
//! (row permutation, Gemma's `+1`, dtype rounding), row by row and in parallel.
//!
//! The reference's dtype rules, mirrored here: F16 and F32 checkpoint tensors keep their dtype
//! while transformed, BF16 ones become F32 first (`prepare_tensors`); an F16 tensor gets `+1` in
//! F16 arithmetic (torch rounds the sum to F16). The output element type is then F32, F16 (numpy
//! `astype(float16)`: round to nearest even) or BF16 (gguf-py's round to nearest even).

use gguf::GgmlType;
use half::{bf16, f16};
use rayon::prelude::*;

use crate::input::Dtype3;

/// Maps output rows to source rows (llama's rotary permutation of Q/K, or identity).
#[derive(Debug, Clone, Copy)]
pub struct RowMap {
    /// Number of heads the rows are grouped in (0 = identity).
    heads: usize,
    /// Rows per head.
    per_head: usize,
}

impl RowMap {
    /// Identity.
    pub const IDENTITY: RowMap = RowMap { heads: 0, per_head: 0 };

    /// The permutation `reshape(heads, 2, rows/heads/2, …).swapaxes(1, 2)` of `LlamaModel.permute`;
    /// `None` when `n_rows` is not a multiple of `2 × heads`.
    pub fn permute(n_rows: usize, heads: usize) -> Option<RowMap> {
        if heads == 0 || n_rows % (2 * heads) != 0 {
            return None;
        }
        Some(RowMap { heads, per_head: n_rows / heads })
    }

    /// The source row of output row `r`.
    #[inline]
    pub fn source_row(&self, r: usize) -> usize {
        if self.heads == 0 {
            return r;
        }
        let half = self.per_head / 2;
        let h = r / self.per_head;
        let rem = r % self.per_head;
        h * self.per_head + (rem % 2) * half + rem / 2
    }
}

/// One tensor's converter stage.
#[derive(Debug, Clone, Copy)]
pub struct Stage<'a> {
    /// Checkpoint bytes (little-endian, unaligned) of the whole tensor.
    pub src: &'a [u8],
    /// Their dtype.
    pub dtype: Dtype3,
    /// Elements per row.
    pub n_per_row: usize,
    /// Row permutation.
    pub rows: RowMap,
    /// Gemma's `+1`.
    pub add_one: bool,
    /// Output element type: F32, F16 or BF16.
    pub out: GgmlType,
}

/// Bytes per element of a float output type.
pub fn float_size(ty: GgmlType) -> usize {
    match ty {
        GgmlType::F32 => 4,
        _ => 2,
    }
}

impl Stage<'_> {
    /// Converts output rows `first..first + out.len()/row_bytes` into `out`. On a non-finite
    /// value (in the checkpoint, or made by rounding to F16), returns `Err(element index)` in the
    /// checkpoint tensor (row-major), the smallest such index of the rows converted.
    pub fn convert_rows(&self, first: usize, out: &mut [u8]) -> Result<(), usize> {
        let row_bytes = self.n_per_row * float_size(self.out);
        if row_bytes == 0 {
            return Ok(());
        }
        let bad = out
            .par_chunks_mut(row_bytes)
            .enumerate()
            .filter_map(|(i, dst)| {
                let src_row = self.rows.source_row(first + i);
                self.convert_row(src_row, dst).err()
            })
            .min();
        match bad {
            Some(i) => Err(i),
            None => Ok(()),
        }
    }

    fn convert_row(&self, src_row: usize, dst: &mut [u8]) -> Result<(), usize> {
        let es = self.dtype.size();
        let start = src_row * self.n_per_row * es;
        let Some(src) = self.src.get(start..start + self.n_per_row * es) else {
            return Err(src_row * self.n_per_row);
        };
        let base = src_row * self.n_per_row;
        // Fast path: F16 → F16 without transform is a copy (after the finiteness check).
        if self.dtype == Dtype3::F16 && self.out == GgmlType::F16 && !self.add_one {
            for (j, b) in src.chunks_exact(2).enumerate() {
                if u16::from_le_bytes([b[0], b[1]]) & 0x7c00 == 0x7c00 {
                    return Err(base + j);
                }
            }
            dst.copy_from_slice(src);
            return Ok(());
        }
        for j in 0..self.n_per_row {
            let b = &src[j * es..(j + 1) * es];
            let mut x = match self.dtype {
                Dtype3::F32 => f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
                Dtype3::F16 => f16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f32(),
                Dtype3::BF16 => f32::from_bits((u16::from_le_bytes([b[0], b[1]]) as u32) << 16),
            };
            if !x.is_finite() {
                return Err(base + j);
            }
            if self.add_one {
                x += 1.0;
                if self.dtype == Dtype3::F16 {
                    x = f16::from_f32(x).to_f32();
                }
            }
            match self.out {
                GgmlType::F32 => dst[j * 4..j * 4 + 4].copy_from_slice(&x.to_le_bytes()),
                GgmlType::F16 => {
                    let h = f16::from_f32(x);
                    if !h.is_finite() {
                        return Err(base + j);
                    }
                    dst[j * 2..j * 2 + 2].copy_from_slice(&h.to_bits().to_le_bytes());
                }
                _ => {
                    let h = bf16::from_f32(x);
                    if !h.is_finite() {
                        return Err(base + j);
                    }
                    dst[j * 2..j * 2 + 2].copy_from_slice(&h.to_bits().to_le_bytes());
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `LlamaModel.permute` on 8 rows, 2 heads: reshape(2, 2, 2).swapaxes(1, 2) — worked by hand
    /// from numpy's definition: head 0 rows [0,1,2,3] → [0,2,1,3].
    #[test]
    fn permute_like_numpy() {
        let m = RowMap::permute(8, 2).expect("valid");
        let rows: Vec<usize> = (0..8).map(|r| m.source_row(r)).collect();
        assert_eq!(rows, vec![0, 2, 1, 3, 4, 6, 5, 7]);
        assert!(RowMap::permute(6, 2).is_none());
    }
}
