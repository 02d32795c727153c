//! The converter stage of one tensor: checkpoint bytes → the values `convert_hf_to_gguf.py` writes
//! (row permutation, Gemma's `+1`, dtype rounding), row by row and in parallel.
//!
//! The reference's dtype rules, mirrored here: F16 and F32 checkpoint tensors keep their dtype
//! while transformed, BF16 ones become F32 first (`prepare_tensors`); an F16 tensor gets `+1` in
//! F16 arithmetic (torch rounds the sum to F16). The output element type is then F32, F16 (numpy
//! `astype(float16)`: round to nearest even) or BF16 (gguf-py's round to nearest even).

use gguf::GgmlType;
use half::slice::HalfFloatSliceExt;
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
        if heads == 0 || !n_rows.is_multiple_of(2 * heads) {
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

    /// Every source row below the result has been read once output rows `0..end` are done
    /// (the permutation only moves rows inside a head).
    #[inline]
    pub fn consumed_below(&self, end: usize) -> usize {
        if self.heads == 0 {
            return end;
        }
        (end / self.per_head) * self.per_head
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

/// Per-thread row buffers of [`Stage::convert_rows`].
#[derive(Default)]
struct Scratch {
    f: Vec<f32>,
    h: Vec<f16>,
    b: Vec<bf16>,
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
            .map_init(Scratch::default, |scratch, (i, dst)| {
                let src_row = self.rows.source_row(first + i);
                self.convert_row_bulk(src_row, dst, scratch).err()
            })
            .filter_map(|bad| bad)
            .min();
        match bad {
            Some(i) => Err(i),
            None => Ok(()),
        }
    }

    /// [`Stage::convert_row`] a row at a time: decode to f32, check, round with half's slice
    /// conversions (F16C, 8 lanes, where the CPU has it). Same bytes as the element-wise
    /// version (checked by the tests below); on any non-finite value it defers to it, so the
    /// reported index is the same too.
    fn convert_row_bulk(&self, src_row: usize, dst: &mut [u8], s: &mut Scratch) -> Result<(), usize> {
        let n = self.n_per_row;
        let es = self.dtype.size();
        let start = src_row * n * es;
        let Some(src) = self.src.get(start..start + n * es) else {
            return Err(src_row * n);
        };
        if self.dtype == Dtype3::F16 && self.out == GgmlType::F16 && !self.add_one {
            return self.convert_row(src_row, dst);
        }
        s.f.clear();
        match self.dtype {
            Dtype3::F32 => s.f.extend(src.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))),
            Dtype3::BF16 => s.f.extend(src.chunks_exact(2).map(|b| f32::from_bits((u16::from_le_bytes([b[0], b[1]]) as u32) << 16))),
            Dtype3::F16 => {
                s.h.clear();
                s.h.extend(src.chunks_exact(2).map(|b| f16::from_bits(u16::from_le_bytes([b[0], b[1]]))));
                s.f.resize(n, 0.0);
                s.h.convert_to_f32_slice(&mut s.f);
            }
        }
        // a non-finite value anywhere: the element-wise version finds and reports the first
        if !s.f.iter().fold(true, |ok, x| ok & x.is_finite()) {
            return self.convert_row(src_row, dst);
        }
        if self.add_one {
            s.f.iter_mut().for_each(|x| *x += 1.0);
            if self.dtype == Dtype3::F16 {
                s.h.resize(n, f16::ZERO);
                s.h.convert_from_f32_slice(&s.f);
                s.h.convert_to_f32_slice(&mut s.f);
            }
        }
        let finite = match self.out {
            GgmlType::F32 => {
                for (d, x) in dst.chunks_exact_mut(4).zip(&s.f) {
                    d.copy_from_slice(&x.to_le_bytes());
                }
                true
            }
            GgmlType::F16 => {
                s.h.resize(n, f16::ZERO);
                s.h.convert_from_f32_slice(&s.f);
                for (d, h) in dst.chunks_exact_mut(2).zip(&s.h) {
                    d.copy_from_slice(&h.to_bits().to_le_bytes());
                }
                s.h.iter().fold(true, |ok, h| ok & (h.to_bits() & 0x7c00 != 0x7c00))
            }
            _ => {
                s.b.resize(n, bf16::ZERO);
                s.b.convert_from_f32_slice(&s.f);
                for (d, h) in dst.chunks_exact_mut(2).zip(&s.b) {
                    d.copy_from_slice(&h.to_bits().to_le_bytes());
                }
                s.b.iter().fold(true, |ok, h| ok & (h.to_bits() & 0x7f80 != 0x7f80))
            }
        };
        if finite {
            Ok(())
        } else {
            self.convert_row(src_row, dst)
        }
    }

    /// The element-wise reference conversion of one row (and the error path of the bulk one).
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

    /// Random row data of a dtype: values over many magnitudes (2^-25 .. 2^14: subnormal in F16 up
    /// to near its limit), and when `bad` is set a NaN, an infinity and a value beyond F16's range
    /// (1e6) at random places.
    fn random_bytes(dtype: Dtype3, n: usize, seed: u64, bad: bool) -> Vec<u8> {
        let mut state = seed | 1;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut vals: Vec<f32> = (0..n)
            .map(|_| {
                let r = next();
                let mant = (r & 0xffff) as f32 / 65536.0 - 0.5;
                let exp = ((r >> 16) % 40) as i32 - 24; // 2^-24 .. 2^15 (F16 overflows at 2^16)
                mant * 2f32.powi(exp)
            })
            .collect();
        if bad {
            let k = (next() % n as u64) as usize;
            vals[k] = 1.0e6;
            let i = (next() % n as u64) as usize;
            vals[i] = f32::NAN;
            let j = (next() % n as u64) as usize;
            vals[j] = f32::INFINITY;
        }
        match dtype {
            Dtype3::F32 => vals.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Dtype3::F16 => vals.iter().flat_map(|x| f16::from_f32(*x).to_bits().to_le_bytes()).collect(),
            Dtype3::BF16 => vals.iter().flat_map(|x| bf16::from_f32(*x).to_bits().to_le_bytes()).collect(),
        }
    }

    /// The row-at-a-time conversion gives the element-wise reference's bytes and error index
    /// for every dtype, output type and transform, on random rows with and without bad values.
    #[test]
    fn bulk_rows_equal_element_wise() {
        let n_per_row = 300; // not a multiple of 8: the slice conversions' tails are exercised
        let n_rows = 12;
        let (mut n_ok, mut n_err) = (0, 0);
        for (k, dtype) in [Dtype3::F32, Dtype3::F16, Dtype3::BF16].into_iter().enumerate() {
            for out in [GgmlType::F32, GgmlType::F16, GgmlType::BF16] {
                for add_one in [false, true] {
                    for bad in [false, true] {
                        let src = random_bytes(dtype, n_per_row * n_rows, 0x9e37_79b9 + k as u64 * 7 + bad as u64, bad);
                        let rows = RowMap::permute(n_rows, 2).expect("valid");
                        let stage = Stage { src: &src, dtype, n_per_row, rows, add_one, out };
                        let row_bytes = n_per_row * float_size(out);
                        let mut scratch = Scratch::default();
                        for r in 0..n_rows {
                            let src_row = rows.source_row(r);
                            let mut want = vec![0u8; row_bytes];
                            let mut got = vec![0u8; row_bytes];
                            let w = stage.convert_row(src_row, &mut want);
                            let g = stage.convert_row_bulk(src_row, &mut got, &mut scratch);
                            assert_eq!(g, w, "{dtype:?} -> {out:?} add_one={add_one} row {r}: result");
                            if w.is_ok() {
                                assert!(got == want, "{dtype:?} -> {out:?} add_one={add_one} row {r}: bytes differ");
                                n_ok += 1;
                            } else {
                                n_err += 1;
                            }
                        }
                    }
                }
            }
        }
        // both the clean path and the error path were exercised
        assert!(n_ok > 100 && n_err > 10, "{n_ok} clean rows, {n_err} failing rows");
    }
}
