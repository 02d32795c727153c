//! Rotary position embedding tables.

use crate::config::RopeScaling;
use crate::error::Result;
use candle_core::{Device, Tensor};

/// cos and sin tables `[n_pos, rotary_dim / 2]` for positions `0..n_pos`:
/// angle(p, i) = p · theta^(−2i / rotary_dim) / freq_factor(i) / linear_factor, computed in f64,
/// times the attention factor (LongRoPE, YaRN), then rounded to f32. YaRN divides by
/// linear_factor only partly: pair i keeps the undivided frequency by its ramp weight
/// (ggml's rope_yarn, transformers' _compute_yarn_parameters).
pub fn tables(n_pos: usize, rotary_dim: usize, theta: f64, scaling: &RopeScaling, device: &Device) -> Result<(Tensor, Tensor)> {
    let half = rotary_dim / 2;
    let factors = scaling.factors_for(n_pos);
    let corr = scaling.yarn.as_ref().map(|y| (y, y.corr_dims(rotary_dim, theta)));
    let inv_freq: Vec<f64> = (0..half)
        .map(|i| {
            let extrapolated = 1.0 / theta.powf((2 * i) as f64 / rotary_dim as f64) / factors.get(i).copied().unwrap_or(1.0);
            let interpolated = extrapolated / scaling.linear_factor;
            match corr {
                Some((yarn, dims)) => {
                    let keep = yarn.extrapolation(i, dims);
                    interpolated * (1.0 - keep) + extrapolated * keep
                }
                None => interpolated,
            }
        })
        .collect();
    let m = scaling.attn_factor;
    let mut cos = Vec::with_capacity(n_pos * half);
    let mut sin = Vec::with_capacity(n_pos * half);
    for p in 0..n_pos {
        for f in &inv_freq {
            let a = p as f64 * f;
            cos.push((a.cos() * m) as f32);
            sin.push((a.sin() * m) as f32);
        }
    }
    Ok((Tensor::from_vec(cos, (n_pos, half), device)?, Tensor::from_vec(sin, (n_pos, half), device)?))
}
