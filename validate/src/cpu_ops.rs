//! Steps of the forward pass that candle runs on one thread on the CPU (its element-wise maps),
//! fused and run on every rayon thread instead: the gated activation `silu(gate) · up`, and the
//! attention scores' scale, causal mask and softmax. They compute candle's functions in candle's
//! order (`Silu` then `Mul`; `Affine` then `Add` then `softmax_last_dim`) with the vectorised
//! [`crate::vec_math`] (its `exp` instead of libm's, partial sums in 16 lanes), so the results are
//! candle's within a few ulp (tests below), not bit for bit; off the CPU, or on other dtypes or
//! layouts, the candle operations themselves run.

use crate::error::Result;
use crate::vec_math;
use candle_core::{CpuStorage, CustomOp2, DType, Layout, Shape, Storage, Tensor};
use rayon::prelude::*;

/// Elements per parallel task of the element-wise maps.
const CHUNK: usize = 1 << 14;

/// The f32 elements of contiguous f32 CPU storage; `None` for another dtype or a strided layout.
fn f32_slice<'s>(s: &'s CpuStorage, l: &Layout) -> Option<&'s [f32]> {
    match (s, l.contiguous_offsets()) {
        (CpuStorage::F32(v), Some((a, b))) => Some(&v[a..b]),
        _ => None,
    }
}

/// The f32 elements of a contiguous f32 CPU tensor, borrowed in place, given to `f`; `None` for
/// another device, dtype or layout.
pub fn with_cpu_f32<R>(x: &Tensor, f: impl FnOnce(&[f32]) -> R) -> Option<R> {
    let (storage, layout) = x.storage_and_layout();
    match &*storage {
        Storage::Cpu(s) => f32_slice(s, layout).map(f),
        _ => None,
    }
}

/// The f32 elements of a contiguous CPU operand of the operation `op`.
fn f32_elements<'s>(s: &'s CpuStorage, l: &Layout, op: &str) -> candle_core::Result<&'s [f32]> {
    match f32_slice(s, l) {
        Some(v) => Ok(v),
        None => candle_core::bail!("{op}: contiguous f32 operands only"),
    }
}

/// Whether `x` is an f32 tensor on the CPU (where the fused operations apply).
fn cpu_f32(x: &Tensor) -> bool {
    x.device().is_cpu() && x.dtype() == DType::F32
}

/// `silu(gate) · up`, element by element, for `gate` and `up` of the same shape.
pub fn silu_mul(gate: &Tensor, up: &Tensor) -> Result<Tensor> {
    if cpu_f32(gate) && cpu_f32(up) && gate.shape() == up.shape() {
        return Ok(gate.contiguous()?.apply_op2_no_bwd(&up.contiguous()?, &SiluMul)?);
    }
    Ok((candle_nn::ops::silu(gate)? * up)?)
}

struct SiluMul;

impl CustomOp2 for SiluMul {
    fn name(&self) -> &'static str {
        "ggufkit-silu-mul"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (g, u) = (f32_elements(s1, l1, self.name())?, f32_elements(s2, l2, self.name())?);
        if g.len() != u.len() {
            candle_core::bail!("silu_mul: {} gate elements, {} up elements", g.len(), u.len())
        }
        // Each task writes its chunk of the uninitialised output (no zero-filled buffer first).
        let mut out: Vec<f32> = Vec::with_capacity(g.len());
        out.spare_capacity_mut()[..g.len()]
            .par_chunks_mut(CHUNK)
            .zip(g.par_chunks(CHUNK).zip(u.par_chunks(CHUNK)))
            .for_each(|(o, (g, u))| vec_math::silu_mul(g, u, o));
        // SAFETY: the chunks above cover all g.len() elements.
        unsafe { out.set_len(g.len()) };
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

/// `softmax(scores · scale + mask)` over the last dimension: `scores` `[.., t, t]` (each query
/// row's scores against the `t` keys), `mask` `[t, t]` (0 or −∞, added to every head's rows).
pub fn masked_softmax(scores: &Tensor, mask: &Tensor, scale: f64) -> Result<Tensor> {
    let t = scores.dim(candle_core::D::Minus1)?;
    if cpu_f32(scores) && cpu_f32(mask) && mask.dims() == [t, t] && scores.dim(candle_core::D::Minus2)? == t {
        return Ok(scores.contiguous()?.apply_op2_no_bwd(&mask.contiguous()?, &MaskedSoftmax { scale })?);
    }
    Ok(candle_nn::ops::softmax_last_dim(&(scores * scale)?.broadcast_add(mask)?)?)
}

struct MaskedSoftmax {
    scale: f64,
}

impl CustomOp2 for MaskedSoftmax {
    fn name(&self) -> &'static str {
        "ggufkit-masked-softmax"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (s, m) = (f32_elements(s1, l1, self.name())?, f32_elements(s2, l2, self.name())?);
        let t = l1.dims().last().copied().unwrap_or(0);
        if t == 0 || m.len() != t * t || !s.len().is_multiple_of(t * t) {
            candle_core::bail!("masked_softmax: scores {:?}, mask {:?}", l1.dims(), l2.dims())
        }
        // Each task writes its rows of the uninitialised output (no zero-filled buffer first).
        let mut out: Vec<f32> = Vec::with_capacity(s.len());
        out.spare_capacity_mut()[..s.len()]
            .par_chunks_mut(t)
            .zip(s.par_chunks(t))
            .enumerate()
            .for_each(|(r, (o, s))| vec_math::softmax_row(s, &m[(r % t) * t..][..t], self.scale as f32, o));
        // SAFETY: the rows above cover all s.len() elements (s.len() is a multiple of t).
        unsafe { out.set_len(s.len()) };
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use candle_core::Device;

    /// `n` deterministic values in about −`half`..`half` (xorshift).
    pub(crate) fn values(n: usize, seed: u64, half: f32) -> Vec<f32> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 2.0 * half
            })
            .collect()
    }

    /// A tensor's f32 elements as bits.
    pub(crate) fn bits(t: &Tensor) -> Vec<u32> {
        t.flatten_all().unwrap().to_vec1::<f32>().unwrap().into_iter().map(f32::to_bits).collect()
    }

    /// Asserts `ours` is candle's within `rel` relative (exact zeros stay zero).
    fn assert_close(ours: &Tensor, candle: &Tensor, rel: f32, what: &str) {
        assert_eq!(ours.dims(), candle.dims(), "{what}");
        let (a, b) = (ours.flatten_all().unwrap().to_vec1::<f32>().unwrap(), candle.flatten_all().unwrap().to_vec1::<f32>().unwrap());
        for (i, (&a, &b)) in a.iter().zip(&b).enumerate() {
            assert!((a - b).abs() <= rel * b.abs() && (b != 0.0 || a == 0.0), "{what}[{i}]: {a} vs candle's {b}");
        }
    }

    #[test]
    fn silu_mul_equals_candle_within_a_few_ulp() {
        let d = Device::Cpu;
        // More than one task's chunk, and a size that is not a multiple of it.
        let cols = 3 * CHUNK / 7 + 11;
        let g = Tensor::from_vec(values(7 * cols, 1, 8.0), (7, cols), &d).unwrap();
        let u = Tensor::from_vec(values(7 * cols, 2, 8.0), (7, cols), &d).unwrap();
        assert!(g.elem_count() > 3 * CHUNK && !g.elem_count().is_multiple_of(CHUNK));
        let ours = silu_mul(&g, &u).unwrap();
        let candle = (candle_nn::ops::silu(&g).unwrap() * &u).unwrap();
        assert_close(&ours, &candle, 4.0 * f32::EPSILON, "silu_mul");
        // Strided inputs are made contiguous first.
        let (gt, ut) = (g.t().unwrap(), u.t().unwrap());
        assert_close(&silu_mul(&gt, &ut).unwrap(), &(candle_nn::ops::silu(&gt).unwrap() * &ut).unwrap(), 4.0 * f32::EPSILON, "strided");
    }

    #[test]
    fn masked_softmax_equals_candle_within_a_few_ulp() {
        let d = Device::Cpu;
        let t = 37;
        // [heads, group, t, t] scores, a causal mask with a sliding window of 9.
        let s = Tensor::from_vec(values(3 * 2 * t * t, 3, 8.0), (3, 2, t, t), &d).unwrap();
        let m: Vec<f32> = (0..t * t).map(|e| if e % t > e / t || e / t - e % t >= 9 { f32::NEG_INFINITY } else { 0.0 }).collect();
        let m = Tensor::from_vec(m, (t, t), &d).unwrap();
        for scale in [0.088_388_35, 1.0, 0.125] {
            let ours = masked_softmax(&s, &m, scale).unwrap();
            let candle = candle_nn::ops::softmax_last_dim(&(&s * scale).unwrap().broadcast_add(&m).unwrap()).unwrap();
            assert_close(&ours, &candle, 8.0 * f32::EPSILON, &format!("scale {scale}"));
        }
    }
}
