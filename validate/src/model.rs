//! The forward pass: token ids → logits for every position, in f32, on a candle device.

use crate::arch::{Activation, NormKind};
use crate::config::ModelConfig;
use crate::error::{Result, ValidateError};
use crate::rope;
use candle_core::{DType, Device, Tensor, D};

/// A linear layer `y = x · Wᵀ + b`, W is `[out, in]`.
pub struct Linear {
    /// Weight `[out, in]`.
    pub weight: Tensor,
    /// Optional bias `[out]`.
    pub bias: Option<Tensor>,
}

impl Linear {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = x.matmul(&self.weight.t()?)?;
        Ok(match &self.bias {
            Some(b) => y.broadcast_add(b)?,
            None => y,
        })
    }
}

/// A norm layer holding its effective multiplier (Gemma's 1 + w already added).
pub struct Norm {
    /// Multiplier `[hidden]`.
    pub weight: Tensor,
    /// Bias `[hidden]` (LayerNorm).
    pub bias: Option<Tensor>,
}

/// One transformer block.
pub struct Layer {
    /// Norm before attention.
    pub attn_norm: Norm,
    /// Query projection.
    pub q: Linear,
    /// Key projection.
    pub k: Linear,
    /// Value projection.
    pub v: Linear,
    /// Attention output projection.
    pub o: Linear,
    /// Norm of the attention output (Gemma 2).
    pub post_attn_norm: Option<Norm>,
    /// Norm before the FFN (absent for parallel blocks).
    pub ffn_norm: Option<Norm>,
    /// FFN gate (gated FFNs).
    pub gate: Option<Linear>,
    /// FFN up.
    pub up: Linear,
    /// FFN down.
    pub down: Linear,
    /// Norm of the FFN output (Gemma 2).
    pub post_ffn_norm: Option<Norm>,
}

/// A loaded model, ready to evaluate.
pub struct Model {
    /// Hyperparameters.
    pub config: ModelConfig,
    /// Token embeddings `[n_vocab, hidden]`.
    pub embed: Tensor,
    /// The blocks.
    pub layers: Vec<Layer>,
    /// Final norm.
    pub final_norm: Norm,
    /// Output projection (the embeddings when tied).
    pub lm_head: Linear,
    /// The device the weights live on.
    pub device: Device,
}

fn causal_mask(n: usize, window: Option<usize>, device: &Device) -> Result<Tensor> {
    let mut m = vec![0f32; n * n];
    for i in 0..n {
        for j in 0..n {
            let masked = j > i || window.is_some_and(|w| i - j >= w);
            if masked {
                m[i * n + j] = f32::NEG_INFINITY;
            }
        }
    }
    Ok(Tensor::from_vec(m, (n, n), device)?)
}

fn softcap(x: &Tensor, cap: f64) -> Result<Tensor> {
    Ok(((x / cap)?.tanh()? * cap)?)
}

impl Model {
    fn norm(&self, n: &Norm, x: &Tensor) -> Result<Tensor> {
        let eps = self.config.norm_eps as f32;
        Ok(match (self.config.arch.norm, &n.bias) {
            (NormKind::Rms, _) => candle_nn::ops::rms_norm(x, &n.weight, eps)?,
            (NormKind::Layer, Some(b)) => candle_nn::ops::layer_norm(x, &n.weight, b, eps)?,
            (NormKind::Layer, None) => {
                let zeros = n.weight.zeros_like()?;
                candle_nn::ops::layer_norm(x, &n.weight, &zeros, eps)?
            }
        })
    }

    fn rope(&self, x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
        // x: [1, heads, T, head_dim]
        let c = &self.config;
        let apply = |t: &Tensor| -> Result<Tensor> {
            let t = t.contiguous()?;
            Ok(if c.rope_interleaved {
                candle_nn::rotary_emb::rope_i(&t, cos, sin)?
            } else {
                candle_nn::rotary_emb::rope(&t, cos, sin)?
            })
        };
        if c.rotary_dim == c.head_dim {
            apply(x)
        } else {
            let rot = apply(&x.narrow(D::Minus1, 0, c.rotary_dim)?)?;
            let pass = x.narrow(D::Minus1, c.rotary_dim, c.head_dim - c.rotary_dim)?;
            Ok(Tensor::cat(&[&rot, &pass], D::Minus1)?)
        }
    }

    /// Self-attention of `b` sequences of `t` tokens each; `h` is `[b·t, hidden]`.
    fn attention(&self, layer: &Layer, h: &Tensor, b: usize, cos: &Tensor, sin: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let c = &self.config;
        let t = h.dim(0)? / b;
        let (nh, nkv, hd) = (c.n_head, c.n_head_kv, c.head_dim);
        let group = nh / nkv;
        // [b·t, n·hd] → [b, n, t, hd]
        let heads = |x: Tensor, n: usize| -> Result<Tensor> {
            Ok(x.reshape((b, t, n, hd))?.transpose(1, 2)?.contiguous()?)
        };
        let q = self.rope(&heads(layer.q.forward(h)?, nh)?, cos, sin)?;
        let k = self.rope(&heads(layer.k.forward(h)?, nkv)?, cos, sin)?;
        let v = heads(layer.v.forward(h)?, nkv)?;
        // Query heads grouped by the KV head they share: [b·nkv, group·t, hd].
        let q = q.reshape((b * nkv, group * t, hd))?;
        let k = k.reshape((b * nkv, t, hd))?;
        let v = v.reshape((b * nkv, t, hd))?;
        let mut scores = (q.matmul(&k.t()?)? * c.attn_scale)?;
        if let Some(cap) = c.attn_softcap {
            scores = softcap(&scores, cap)?;
        }
        let scores = scores.reshape((b * nkv, group, t, t))?.broadcast_add(mask)?;
        let probs = candle_nn::ops::softmax_last_dim(&scores)?.reshape((b * nkv, group * t, t))?;
        let out = probs.matmul(&v)?.reshape((b, nh, t, hd))?.transpose(1, 2)?.reshape((b * t, nh * hd))?;
        layer.o.forward(&out)
    }

    fn ffn(&self, layer: &Layer, h: &Tensor) -> Result<Tensor> {
        let act = |x: Tensor| -> Result<Tensor> {
            Ok(match self.config.arch.activation {
                Activation::Silu => candle_nn::ops::silu(&x)?,
                Activation::GeluTanh => x.gelu()?,
            })
        };
        let up = layer.up.forward(h)?;
        let inner = match &layer.gate {
            Some(g) => (act(g.forward(h)?)? * up)?,
            None => act(up)?,
        };
        layer.down.forward(&inner)
    }

    /// Logits `[T, n_vocab]` (f32) for every position of `tokens` (one sequence, positions 0..T).
    pub fn forward(&self, tokens: &[u32]) -> Result<Tensor> {
        self.forward_batch(&[tokens], 0, tokens.len())
    }

    /// Logits `[b·rows, n_vocab]` (f32) of positions `first..first + rows` of each of `b`
    /// sequences of equal length (each from position 0), sequence by sequence. Evaluating several
    /// windows in one pass makes fewer, larger device operations; the output projection runs only
    /// on the positions asked for.
    pub fn forward_batch(&self, sequences: &[&[u32]], first: usize, rows: usize) -> Result<Tensor> {
        let c = &self.config;
        let b = sequences.len();
        let t = sequences.first().map_or(0, |s| s.len());
        if b == 0 || t == 0 || sequences.iter().any(|s| s.len() != t) || first + rows > t {
            return Err(ValidateError::Batch { message: format!(
                "forward_batch: {b} sequences of lengths {:?}, positions {first}..{}",
                sequences.iter().map(|s| s.len()).collect::<Vec<_>>(),
                first + rows
            ) });
        }
        let flat: Vec<u32> = sequences.iter().flat_map(|s| s.iter().copied()).collect();
        if let Some(&bad) = flat.iter().find(|&&t| t as usize >= c.n_vocab) {
            return Err(ValidateError::TokenOutOfRange { source_name: "model".into(), token: bad, vocab: c.n_vocab });
        }
        let ids = Tensor::from_slice(&flat, b * t, &self.device)?;
        let mut x = self.embed.index_select(&ids, 0)?;
        if c.arch.embed_scale {
            x = (x * (c.hidden as f64).sqrt())?;
        }
        let (cos, sin) = rope::tables(t, c.rotary_dim, c.rope_theta, &self.device)?;
        let full_mask = causal_mask(t, None, &self.device)?;
        let mut window_masks: Vec<(usize, Tensor)> = Vec::new();
        for (il, layer) in self.layers.iter().enumerate() {
            let mask = match c.sliding_window.get(il).copied().flatten() {
                Some(w) if w < t => {
                    if !window_masks.iter().any(|(ww, _)| *ww == w) {
                        window_masks.push((w, causal_mask(t, Some(w), &self.device)?));
                    }
                    window_masks.iter().find(|(ww, _)| *ww == w).map(|(_, m)| m).unwrap_or(&full_mask)
                }
                _ => &full_mask,
            };
            let h = self.norm(&layer.attn_norm, &x)?;
            if c.arch.parallel_block {
                let a = self.attention(layer, &h, b, &cos, &sin, mask)?;
                let m = self.ffn(layer, &h)?;
                x = ((x + a)? + m)?;
            } else {
                let mut a = self.attention(layer, &h, b, &cos, &sin, mask)?;
                if let Some(n) = &layer.post_attn_norm {
                    a = self.norm(n, &a)?;
                }
                x = (x + a)?;
                let h = match &layer.ffn_norm {
                    Some(n) => self.norm(n, &x)?,
                    None => x.clone(),
                };
                let mut m = self.ffn(layer, &h)?;
                if let Some(n) = &layer.post_ffn_norm {
                    m = self.norm(n, &m)?;
                }
                x = (x + m)?;
            }
        }
        // Only the positions asked for go through the final norm and the output projection.
        let x = if first == 0 && rows == t {
            x
        } else {
            x.reshape((b, t, c.hidden))?.narrow(1, first, rows)?.reshape((b * rows, c.hidden))?
        };
        let x = self.norm(&self.final_norm, &x)?;
        let mut logits = self.lm_head.forward(&x)?;
        if let Some(cap) = c.final_softcap {
            logits = softcap(&logits, cap)?;
        }
        Ok(logits.to_dtype(DType::F32)?)
    }
}
