//! Rotary position embedding tables.

use crate::error::Result;
use candle_core::{Device, Tensor};

/// cos and sin tables `[n_pos, rotary_dim / 2]` for positions `0..n_pos`:
/// angle(p, i) = p · theta^(−2i / rotary_dim), computed in f64 then rounded to f32.
pub fn tables(n_pos: usize, rotary_dim: usize, theta: f64, device: &Device) -> Result<(Tensor, Tensor)> {
    let half = rotary_dim / 2;
    let inv_freq: Vec<f64> = (0..half).map(|i| 1.0 / theta.powf((2 * i) as f64 / rotary_dim as f64)).collect();
    let mut cos = Vec::with_capacity(n_pos * half);
    let mut sin = Vec::with_capacity(n_pos * half);
    for p in 0..n_pos {
        for f in &inv_freq {
            let a = p as f64 * f;
            cos.push(a.cos() as f32);
            sin.push(a.sin() as f32);
        }
    }
    Ok((Tensor::from_vec(cos, (n_pos, half), device)?, Tensor::from_vec(sin, (n_pos, half), device)?))
}
