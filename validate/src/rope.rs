//! Rotary position embedding tables.

use crate::config::RopeScaling;
use crate::error::Result;
use candle_core::{Device, Tensor};

/// cos and sin tables `[n_pos, rotary_dim / 2]` for positions `0..n_pos`:
/// angle(p, i) = p / linear_factor · theta^(−2i / rotary_dim) / freq_factor(i), computed in f64,
/// times the attention factor (LongRoPE), then rounded to f32.
pub fn tables(n_pos: usize, rotary_dim: usize, theta: f64, scaling: &RopeScaling, device: &Device) -> Result<(Tensor, Tensor)> {
    let half = rotary_dim / 2;
    let factors = scaling.factors_for(n_pos);
    let inv_freq: Vec<f64> = (0..half)
        .map(|i| {
            let f = 1.0 / theta.powf((2 * i) as f64 / rotary_dim as f64) / scaling.linear_factor;
            f / factors.get(i).copied().unwrap_or(1.0)
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
