//! The sensitivity proxy: for one tensor and one candidate type, the importance-weighted squared
//! error of quantizing it (`Σ_rows Σ_cols w[col] · (x − dequant(quant(x)))²`) with our own kernels
//! (the quantity ggml's quantizers minimise). With an importance matrix `w[col]` is llama-imatrix's
//! mean squared input of that column, so the sum estimates the squared error this matrix adds to
//! its output per token; without one every weight is 1. The token embedding is only looked up, one
//! row per token: its error is divided by its row count (the error per looked-up row).
//!
//! Large tensors are measured on an even sample of rows (at most [`MAX_ROWS`]) and scaled up to the
//! whole tensor.
//!
//! The importance weights are normalised to mean 1 per tensor (per expert), so that only the
//! relative importance of the columns counts and one scale per tensor kind serves files with and
//! without an importance matrix: [`KIND_SCALE`], measured (scripts/fit-proxy-check.sh,
//! docs/measurements/quality-fit.md): the same squared error costs much more KLD in `attn_v` than in
//! `attn_q`.

use gguf::GgmlType;
use quantize::Source;

/// Rows measured per tensor at most (evenly spaced); the proxy is scaled to all rows.
pub const MAX_ROWS: usize = 256;

/// The KLD one unit of proxy error costs, per tensor kind (the name without `blk.N.`), relative to
/// `ffn_gate`: the median of measured KLD / proxy over every block and the types Q2_K, Q3_K, Q4_K
/// on the trained tiny-llama fixture, one tensor quantized at a time (scripts/fit-proxy-check.sh;
/// docs/measurements/quality-fit.md). A kind not listed counts 1; the fused `attn_qkv` takes
/// `attn_k`'s (not measured: no trained fixture has it).
pub const KIND_SCALE: &[(&str, f64)] = &[
    ("attn_q.weight", 0.463),
    ("attn_k.weight", 2.96),
    ("attn_v.weight", 13.9),
    ("attn_qkv.weight", 2.96),
    ("attn_output.weight", 2.25),
    ("ffn_gate.weight", 1.0),
    ("ffn_up.weight", 0.797),
    ("ffn_down.weight", 0.926),
    ("output.weight", 0.321),
    ("token_embd.weight", 3325.0),
];

/// [`KIND_SCALE`] of a tensor.
pub fn kind_scale(name: &str) -> f64 {
    let kind = name.strip_prefix("blk.").and_then(|r| r.split_once('.')).map_or(name, |(_, k)| k);
    KIND_SCALE.iter().find(|(k, _)| *k == kind).map_or(1.0, |(_, s)| *s)
}

/// One (type, size, error) point of a tensor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// The type the tensor is written as (after the row-length fallback).
    pub ty: GgmlType,
    /// The proxy error (importance-weighted squared error, whole tensor).
    pub error: f64,
}

/// Why a tensor could not be measured.
#[derive(Debug, thiserror::Error)]
#[error("measuring {tensor} as {ty}: {source}")]
pub struct MeasureError {
    /// The tensor.
    pub tensor: String,
    /// The candidate type.
    pub ty: String,
    /// The kernel's error.
    #[source]
    pub source: quantize::QuantizeError,
}

/// The f32 values of `src` rows `rows` (each `n` long).
fn sample_rows(src: &Source<'_>, n: usize, rows: &[usize]) -> Result<Vec<f32>, quantize::QuantizeError> {
    let (ty, bytes, esize) = match src {
        Source::F32(b) => (GgmlType::F32, *b, 4),
        Source::F16(b) => (GgmlType::F16, *b, 2),
        Source::BF16(b) => (GgmlType::BF16, *b, 2),
    };
    let mut out = vec![0f32; rows.len() * n];
    for (k, &r) in rows.iter().enumerate() {
        quantize::dequantize_rows(ty, &bytes[r * n * esize..(r + 1) * n * esize], &mut out[k * n..(k + 1) * n])?;
    }
    Ok(out)
}

/// The proxy error of `name` (ggml `dims`, data `src`) for each type of `types` (already resolved
/// for the row length), with the importance weights `imatrix` (`dims[0]` values, or `dims[0]` ×
/// experts for a 3-D expert tensor) or none.
pub fn measure(name: &str, dims: &[u64], src: Source<'_>, imatrix: Option<&[f32]>, types: &[GgmlType]) -> Result<Vec<Point>, MeasureError> {
    let n = dims.first().copied().unwrap_or(1).max(1) as usize;
    let nrows = src.len() / n;
    let rows_per_expert = dims.get(1).copied().unwrap_or(1).max(1) as usize;
    let stride = nrows.div_ceil(MAX_ROWS).max(1);
    let rows: Vec<usize> = (0..nrows).step_by(stride).collect();
    let err = |ty: GgmlType, source| MeasureError { tensor: name.to_string(), ty: ty.name().to_string(), source };
    let x = sample_rows(&src, n, &rows).map_err(|e| err(GgmlType::F32, e))?;
    // The importance weights normalised to mean 1 per expert (the quantizers get them as they are).
    let normalised: Option<Vec<f32>> = imatrix.map(|w| {
        w.chunks(n)
            .flat_map(|c| {
                let mean = c.iter().map(|&v| f64::from(v)).sum::<f64>() / c.len().max(1) as f64;
                c.iter().map(move |&v| if mean > 0.0 { (f64::from(v) / mean) as f32 } else { 1.0 })
            })
            .collect()
    });
    // Per-row weights: the expert's slice of an expert tensor's importance matrix.
    let slice = |w: &'_ [f32], row: usize| -> Option<std::ops::Range<usize>> {
        if w.len() == n {
            Some(0..n)
        } else {
            let e = row / rows_per_expert;
            (w.len() >= (e + 1) * n).then(|| e * n..(e + 1) * n)
        }
    };
    let per_lookup = name == "token_embd.weight" || name == "per_layer_token_embd.weight";
    let scale = kind_scale(name) * nrows as f64 / rows.len().max(1) as f64 / if per_lookup { nrows.max(1) as f64 } else { 1.0 };
    let mut points = Vec::with_capacity(types.len());
    for &ty in types {
        let row_bytes = ty.row_size(n as u64).unwrap_or(0) as usize;
        let mut q = vec![0u8; row_bytes];
        let mut back = vec![0f32; n];
        let mut total = 0f64;
        for (k, &r) in rows.iter().enumerate() {
            let xr = &x[k * n..(k + 1) * n];
            let range = imatrix.and_then(|w| slice(w, r));
            let w = imatrix.zip(range.clone()).map(|(w, r)| &w[r]);
            let wn = normalised.as_deref().zip(range).map(|(w, r)| &w[r]);
            quantize::quantize_rows(ty, xr, n, w, &mut q).map_err(|e| err(ty, e))?;
            quantize::dequantize_rows(ty, &q, &mut back).map_err(|e| err(ty, e))?;
            total += match wn {
                Some(w) => xr.iter().zip(&back).zip(w).map(|((a, b), w)| f64::from(*w) * f64::from(a - b).powi(2)).sum::<f64>(),
                None => xr.iter().zip(&back).map(|(a, b)| f64::from(a - b).powi(2)).sum::<f64>(),
            };
        }
        points.push(Point { ty, error: total * scale });
    }
    Ok(points)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn more_bits_less_error_and_weights_count() {
        // A 512 x 4 matrix of a smooth but irregular signal.
        let n = 512;
        let x: Vec<f32> = (0..n * 4).map(|i| ((i as f32) * 0.37).sin() * (1.0 + (i % 7) as f32 * 0.1)).collect();
        let bytes: Vec<u8> = x.iter().flat_map(|v| v.to_le_bytes()).collect();
        let types = [GgmlType::Q2_K, GgmlType::Q4_K, GgmlType::Q8_0];
        let p = measure("blk.0.ffn_up.weight", &[n as u64, 4], Source::F32(&bytes), None, &types).unwrap();
        assert!(p[0].error > p[1].error && p[1].error > p[2].error && p[2].error > 0.0, "{p:?}");
        // Weights normalised to mean 1: 2 everywhere counts as 1 everywhere (Q8_0 ignores weights).
        let w = vec![2f32; n];
        let pw = measure("blk.0.ffn_up.weight", &[n as u64, 4], Source::F32(&bytes), Some(&w), &types).unwrap();
        assert!((pw[2].error / p[2].error - 1.0).abs() < 1e-9, "{pw:?}");
        // Weight on half the columns only: the other half's error does not count.
        let half: Vec<f32> = (0..n).map(|i| if i < n / 2 { 1.0 } else { 0.0 }).collect();
        let ph = measure("blk.0.ffn_up.weight", &[n as u64, 4], Source::F32(&bytes), Some(&half), &[GgmlType::Q8_0]).unwrap();
        assert!(ph[0].error < p[2].error * 1.5 && ph[0].error > 0.0, "{ph:?}");
        // attn_v's error costs more than attn_q's.
        assert!(kind_scale("blk.3.attn_v.weight") > kind_scale("blk.3.attn_q.weight"));
    }
}
