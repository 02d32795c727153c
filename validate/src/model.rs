//! The forward pass: token ids → logits for every position, in f32, on a candle device.
//!
//! Evaluation is layer-major: every group of windows passes block i before block i+1. A resident
//! model holds all its blocks on the device; a streamed one loads each block from its source (in
//! its stored type) when the windows reach it and frees it after, so only one block, the kept
//! activations and one group's temporaries are on the device at a time.

use crate::arch::{Activation, NormKind};
use crate::config::ModelConfig;
use crate::cpu_ops;
use crate::error::{Result, ValidateError};
use crate::linear::{Input, Linear};
use crate::loader;
use crate::memory;
use crate::rope;
use crate::weights::WeightSource;
use candle_core::{DType, Device, Tensor, D};
use std::borrow::Cow;

/// A norm layer holding its effective multiplier (Gemma's 1 + w already added).
#[derive(Clone)]
pub struct Norm {
    /// Multiplier `[hidden]`.
    pub weight: Tensor,
    /// Bias `[hidden]` (LayerNorm).
    pub bias: Option<Tensor>,
}

/// One transformer block.
#[derive(Clone)]
pub struct Layer {
    /// Norm before attention.
    pub attn_norm: Norm,
    /// Query projection.
    pub q: Linear,
    /// Key projection.
    pub k: Linear,
    /// Value projection.
    pub v: Linear,
    /// Per-head RMS norm of the queries (`attn_q_norm`; qwen3).
    pub q_norm: Option<Norm>,
    /// Per-head RMS norm of the keys (`attn_k_norm`; qwen3).
    pub k_norm: Option<Norm>,
    /// Attention output projection.
    pub o: Linear,
    /// Norm of the attention output (Gemma 2).
    pub post_attn_norm: Option<Norm>,
    /// Norm before the FFN (absent for parallel blocks).
    pub ffn_norm: Option<Norm>,
    /// The FFN.
    pub ffn: Ffn,
    /// Norm of the FFN output (Gemma 2).
    pub post_ffn_norm: Option<Norm>,
}

/// A feed-forward network: gate (gated FFNs), up, down.
#[derive(Clone)]
pub struct Mlp {
    /// FFN gate (gated FFNs).
    pub gate: Option<Linear>,
    /// FFN up.
    pub up: Linear,
    /// FFN down.
    pub down: Linear,
}

/// A mixture of experts (llama.cpp's `build_moe_ffn` with softmax gating, transformers'
/// `Qwen3MoeSparseMoeBlock`).
#[derive(Clone)]
pub struct Moe {
    /// The router `[n_expert, hidden]` (`ffn_gate_inp`).
    pub router: Linear,
    /// Each expert's FFN.
    pub experts: Vec<Mlp>,
    /// Sizes and routing.
    pub config: crate::config::MoeConfig,
}

/// A block's FFN: dense, or a mixture of experts.
#[derive(Clone)]
pub enum Ffn {
    /// One FFN for every token.
    Dense(Mlp),
    /// Each token through its chosen experts.
    Moe(Moe),
}

/// The final norm and the output projection.
pub struct Head {
    /// Final norm.
    pub final_norm: Norm,
    /// Output projection (the embeddings when tied).
    pub lm_head: Linear,
}

/// A model ready to evaluate, its weights resident on the device or streamed from its source.
/// Token embeddings are looked up in the source (rows converted on the host), never copied whole.
pub struct Model<'a> {
    /// Hyperparameters.
    pub config: ModelConfig,
    source: &'a dyn WeightSource,
    /// The blocks (empty when streamed).
    layers: Vec<Layer>,
    /// Final norm and output projection (None when streamed).
    head: Option<Head>,
    /// The device the evaluation runs on.
    pub device: Device,
}

/// What a forward pass reports as it goes.
pub trait Observer {
    /// Block `il` has been applied to `windows` windows.
    fn layer_done(&mut self, il: usize, windows: usize);
    /// Scored logits `[rows, n_vocab]` (f32, on the device) of window `window` of group `group`,
    /// window after window (so that only one window's logits exist at a time).
    fn logits(&mut self, group: usize, window: usize, logits: Tensor) -> Result<()>;
    /// Whether [`Observer::logits`] is wanted: when not, the head is neither loaded (streamed)
    /// nor run. Wanted by default.
    fn wants_logits(&self) -> bool {
        true
    }
    /// The input `x` `[rows, in]` (f32, on the device) that block `il`'s matrices at `site` are
    /// about to multiply (importance statistics, [`crate::imatrix`]). Ignored by default.
    fn matmul_input(&mut self, _il: usize, _site: MatmulSite, _x: &Tensor) -> Result<()> {
        Ok(())
    }
}

/// Where in a block a matrix multiplies the hidden states: the matrices of one site share their
/// input (Q, K and V the attention norm's output; gate and up the FFN norm's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MatmulSite {
    /// `attn_q`, `attn_k`, `attn_v` (or the fused `attn_qkv`).
    AttnInput,
    /// `attn_output`.
    AttnOutput,
    /// `ffn_gate` and `ffn_up` (or the fused `ffn_up`).
    FfnInput,
    /// `ffn_down`.
    FfnDown,
    /// Expert `e`'s `ffn_gate_exps` and `ffn_up_exps` matrices: the FFN input of the tokens
    /// routed to it (llama.cpp's `MUL_MAT_ID`, whose statistics are kept per expert).
    ExpertInput(usize),
    /// Expert `e`'s `ffn_down_exps` matrix: its inner activations, before the routing weight.
    ExpertDown(usize),
}

/// Called with each matrix input of a block; see [`Observer::matmul_input`].
type Tap<'t> = dyn FnMut(MatmulSite, &Tensor) -> Result<()> + 't;

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

impl<'a> Model<'a> {
    /// Loads every block and the head onto `device`.
    pub fn resident(config: ModelConfig, source: &'a dyn WeightSource, device: &Device) -> Result<Model<'a>> {
        loader::check_embeddings(&config, source)?;
        let layers = (0..config.n_layer).map(|il| loader::load_layer(&config, source, device, il)).collect::<Result<Vec<_>>>()?;
        let head = Some(loader::load_head(&config, source, device)?);
        memory::sample(device);
        Ok(Model { config, source, layers, head, device: device.clone() })
    }

    /// A model whose blocks are loaded when the windows reach them, and freed after.
    pub fn streamed(config: ModelConfig, source: &'a dyn WeightSource, device: &Device) -> Result<Model<'a>> {
        loader::check_embeddings(&config, source)?;
        Ok(Model { config, source, layers: Vec::new(), head: None, device: device.clone() })
    }

    /// Whether blocks are streamed from the source.
    pub fn is_streamed(&self) -> bool {
        self.head.is_none()
    }

    fn layer(&self, il: usize) -> Result<Cow<'_, Layer>> {
        match self.layers.get(il) {
            Some(l) => Ok(Cow::Borrowed(l)),
            None => Ok(Cow::Owned(loader::load_layer(&self.config, self.source, &self.device, il)?)),
        }
    }

    fn embed(&self, ids: &[u32]) -> Result<Tensor> {
        let c = &self.config;
        if let Some(&bad) = ids.iter().find(|&&t| t as usize >= c.n_vocab) {
            return Err(ValidateError::TokenOutOfRange { source_name: self.source.source_name().into(), token: bad, vocab: c.n_vocab });
        }
        let rows = self.source.stored("token_embd.weight")?.rows_f32(ids)?;
        let mut x = Tensor::from_vec(rows, (ids.len(), c.hidden), &self.device)?;
        if c.arch.layout().embd_scale {
            x = (x * (c.hidden as f64).sqrt())?;
        }
        Ok(x)
    }

    fn norm(&self, n: &Norm, x: &Tensor) -> Result<Tensor> {
        let eps = self.config.norm_eps as f32;
        Ok(match (self.config.arch.layout().norm, &n.bias) {
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
            Ok(if c.rope_interleaved { candle_nn::rotary_emb::rope_i(&t, cos, sin)? } else { candle_nn::rotary_emb::rope(&t, cos, sin)? })
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
    /// `rope`: the cos/sin tables, or `None` for a block without RoPE (smollm3).
    fn attention(
        &self,
        layer: &Layer,
        h: &Tensor,
        b: usize,
        rope: Option<(&Tensor, &Tensor)>,
        mask: &Tensor,
        tap: &mut Tap,
    ) -> Result<Tensor> {
        let c = &self.config;
        let t = h.dim(0)? / b;
        let (nh, nkv, hd) = (c.n_head, c.n_head_kv, c.head_dim);
        let group = nh / nkv;
        // [b·t, n·hd] → [b, n, t, hd]
        let heads = |x: Tensor, n: usize| -> Result<Tensor> { Ok(x.reshape((b, t, n, hd))?.transpose(1, 2)?.contiguous()?) };
        // per-head RMS norms of Q and K (qwen3), before RoPE
        let qk_norm = |x: Tensor, n: &Option<Norm>| -> Result<Tensor> {
            match n {
                Some(n) => Ok(candle_nn::ops::rms_norm(&x, &n.weight, c.norm_eps as f32)?),
                None => Ok(x),
            }
        };
        let roped = |x: Tensor| -> Result<Tensor> {
            match rope {
                Some((cos, sin)) => self.rope(&x, cos, sin),
                None => Ok(x),
            }
        };
        tap(MatmulSite::AttnInput, h)?;
        let input = Input::new(h);
        let q = roped(qk_norm(heads(layer.q.forward_input(&input)?, nh)?, &layer.q_norm)?)?;
        let k = roped(qk_norm(heads(layer.k.forward_input(&input)?, nkv)?, &layer.k_norm)?)?;
        let v = heads(layer.v.forward_input(&input)?, nkv)?;
        // Query heads grouped by the KV head they share: [b·nkv, group·t, hd].
        let q = q.reshape((b * nkv, group * t, hd))?;
        let k = k.reshape((b * nkv, t, hd))?;
        let v = v.reshape((b * nkv, t, hd))?;
        let scores = q.matmul(&k.t()?)?;
        let probs = match c.attn_softcap {
            Some(cap) => {
                let scores = softcap(&(scores * c.attn_scale)?, cap)?.reshape((b * nkv, group, t, t))?.broadcast_add(mask)?;
                candle_nn::ops::softmax_last_dim(&scores)?
            }
            None => cpu_ops::masked_softmax(&scores.reshape((b * nkv, group, t, t))?, mask, c.attn_scale)?,
        };
        let probs = probs.reshape((b * nkv, group * t, t))?;
        let out = probs.matmul(&v)?.reshape((b, nh, t, hd))?.transpose(1, 2)?.reshape((b * t, nh * hd))?;
        tap(MatmulSite::AttnOutput, &out)?;
        layer.o.forward(&out)
    }

    fn ffn(&self, layer: &Layer, h: &Tensor, tap: &mut Tap) -> Result<Tensor> {
        tap(MatmulSite::FfnInput, h)?;
        match &layer.ffn {
            Ffn::Dense(m) => self.mlp(m, h, tap, MatmulSite::FfnDown),
            Ffn::Moe(m) => self.moe(m, h, tap),
        }
    }

    /// act(gate) · up → down (or act(up) → down), the down projection's input tapped at `down`.
    fn mlp(&self, m: &Mlp, h: &Tensor, tap: &mut Tap, down: MatmulSite) -> Result<Tensor> {
        let act = |x: Tensor| -> Result<Tensor> {
            Ok(match self.config.arch.layout().activation {
                Activation::Silu => candle_nn::ops::silu(&x)?,
                Activation::GeluTanh => x.gelu()?,
            })
        };
        let input = Input::new(h);
        let up = m.up.forward_input(&input)?;
        let inner = match (&m.gate, self.config.arch.layout().activation) {
            (Some(g), Activation::Silu) => cpu_ops::silu_mul(&g.forward_input(&input)?, &up)?,
            (Some(g), _) => (act(g.forward_input(&input)?)? * up)?,
            (None, _) => act(up)?,
        };
        tap(down, &inner)?;
        m.down.forward(&inner)
    }

    /// The mixture of experts on `h` `[n, hidden]`: softmax of the router's logits, the top
    /// `n_used` experts of each token (optionally renormalised to sum to 1), each expert's FFN on
    /// the tokens that chose it, weighted and summed. Each expert's inputs are tapped as
    /// [`MatmulSite::ExpertInput`] and [`MatmulSite::ExpertDown`].
    fn moe(&self, m: &Moe, h: &Tensor, tap: &mut Tap) -> Result<Tensor> {
        let c = m.config;
        let n = h.dim(0)?;
        let probs: Vec<Vec<f32>> = candle_nn::ops::softmax_last_dim(&m.router.forward(h)?)?.to_dtype(DType::F32)?.to_vec2()?;
        // per expert: the tokens that chose it and their weights
        let mut routed: Vec<(Vec<u32>, Vec<f32>)> = vec![(Vec::new(), Vec::new()); c.n_expert];
        let mut order: Vec<usize> = Vec::with_capacity(c.n_expert);
        for (t, row) in probs.iter().enumerate() {
            order.clear();
            order.extend(0..row.len().min(c.n_expert));
            // descending, ties to the lower expert (torch.topk and ggml's argsort agree on distinct values)
            order.sort_by(|&a, &b| row[b].total_cmp(&row[a]).then(a.cmp(&b)));
            let chosen = &order[..c.n_used.min(order.len())];
            // llama.cpp clamps the sum to the smallest normal f16
            let sum = chosen.iter().map(|&e| row[e]).sum::<f32>().max(6.103_515_6e-5);
            for &e in chosen {
                let w = if c.renormalise { row[e] / sum } else { row[e] };
                routed[e].0.push(t as u32);
                routed[e].1.push(w);
            }
        }
        let mut out = Tensor::zeros((n, h.dim(1)?), DType::F32, &self.device)?;
        for (e, (expert, (tokens, weights))) in m.experts.iter().zip(routed).enumerate() {
            if tokens.is_empty() {
                continue;
            }
            let k = tokens.len();
            let ids = Tensor::from_vec(tokens, k, &self.device)?;
            let x = h.index_select(&ids, 0)?;
            tap(MatmulSite::ExpertInput(e), &x)?;
            let y = self.mlp(expert, &x, tap, MatmulSite::ExpertDown(e))?.to_dtype(DType::F32)?;
            let y = y.broadcast_mul(&Tensor::from_vec(weights, (k, 1), &self.device)?)?;
            out = out.index_add(&ids, &y, 0)?;
        }
        Ok(out.to_dtype(h.dtype())?)
    }

    /// One block applied to the hidden states `x` `[b·t, hidden]` of `b` sequences.
    #[allow(clippy::too_many_arguments)]
    fn block(&self, il: usize, layer: &Layer, x: Tensor, b: usize, tables: &RopeTables, masks: &Masks, tap: &mut Tap) -> Result<Tensor> {
        let c = &self.config;
        let window = c.sliding_window.get(il).copied().flatten();
        let mask = masks.for_layer(window);
        let h = self.norm(&layer.attn_norm, &x)?;
        let (cos, sin) = match &tables.swa {
            Some((cos, sin)) if window.is_some() => (cos, sin),
            _ => (&tables.cos, &tables.sin),
        };
        let rope = c.arch.layout().uses_rope(il as u64).then_some((cos, sin));
        Ok(if c.arch.layout().parallel_block {
            let a = self.attention(layer, &h, b, rope, mask, tap)?;
            let m = self.ffn(layer, &h, tap)?;
            ((x + a)? + m)?
        } else {
            let mut a = self.attention(layer, &h, b, rope, mask, tap)?;
            if let Some(n) = &layer.post_attn_norm {
                a = self.norm(n, &a)?;
            }
            let x = (x + a)?;
            let h = match &layer.ffn_norm {
                Some(n) => self.norm(n, &x)?,
                None => x.clone(),
            };
            let mut m = self.ffn(layer, &h, tap)?;
            if let Some(n) = &layer.post_ffn_norm {
                m = self.norm(n, &m)?;
            }
            (x + m)?
        })
    }

    /// Logits `[T, n_vocab]` (f32) for every position of `tokens` (one sequence, positions 0..T).
    pub fn forward(&self, tokens: &[u32]) -> Result<Tensor> {
        self.forward_batch(&[tokens], 0, tokens.len())
    }

    /// Logits `[b·rows, n_vocab]` (f32) of positions `first..first + rows` of each of `b`
    /// sequences of equal length (each from position 0), sequence by sequence.
    pub fn forward_batch(&self, sequences: &[&[u32]], first: usize, rows: usize) -> Result<Tensor> {
        struct Keep(Vec<Tensor>);
        impl Observer for Keep {
            fn layer_done(&mut self, _: usize, _: usize) {}
            fn logits(&mut self, _: usize, _: usize, logits: Tensor) -> Result<()> {
                self.0.push(logits);
                Ok(())
            }
        }
        let mut keep = Keep(Vec::new());
        self.forward_groups(&[sequences.to_vec()], first, rows, &mut keep)?;
        if keep.0.is_empty() {
            return Err(ValidateError::Batch { message: "forward_batch: no logits".into() });
        }
        Ok(Tensor::cat(&keep.0, 0)?)
    }

    /// Evaluates groups of sequences layer-major: every group passes block i before block i+1 is
    /// loaded (streamed) or used (resident). Each group is one set of device operations (several
    /// windows together); the hidden states of all groups are kept between blocks. After the last
    /// block, each window's logits of positions `first..first + rows` (`[rows, n_vocab]`, f32) go
    /// to `observer`, window by window. All sequences have the same length.
    pub fn forward_groups(&self, groups: &[Vec<&[u32]>], first: usize, rows: usize, observer: &mut dyn Observer) -> Result<()> {
        let c = &self.config;
        let t = groups.first().and_then(|g| g.first()).map_or(0, |s| s.len());
        let bad = groups.iter().any(|g| g.is_empty() || g.iter().any(|s| s.len() != t));
        if t == 0 || bad || first + rows > t {
            return Err(ValidateError::Batch {
                message: format!(
                    "forward_groups: {} groups of sequences of lengths {:?}, positions {first}..{}",
                    groups.len(),
                    groups.iter().map(|g| g.iter().map(|s| s.len()).collect::<Vec<_>>()).collect::<Vec<_>>(),
                    first + rows
                ),
            });
        }
        let mut xs = groups
            .iter()
            .map(|g| self.embed(&g.iter().flat_map(|s| s.iter().copied()).collect::<Vec<u32>>()))
            .collect::<Result<Vec<Tensor>>>()?;
        let windows: usize = groups.iter().map(Vec::len).sum();
        let (cos, sin) = rope::tables(t, c.rotary_dim, c.rope_theta, &c.rope_scaling, &self.device)?;
        let swa = match c.rope_theta_swa {
            Some(theta) => Some(rope::tables(t, c.rotary_dim, theta, &Default::default(), &self.device)?),
            None => None,
        };
        let tables = RopeTables { cos, sin, swa };
        let masks = Masks::new(c, t, &self.device)?;
        for il in 0..c.n_layer {
            let layer = self.layer(il)?;
            for (x, g) in xs.iter_mut().zip(groups) {
                let h = std::mem::replace(x, Tensor::zeros(1, DType::F32, &self.device)?);
                *x = self.block(il, &layer, h, g.len(), &tables, &masks, &mut |site, x| observer.matmul_input(il, site, x))?;
            }
            memory::sample(&self.device);
            drop(layer);
            observer.layer_done(il, windows);
        }
        if !observer.wants_logits() {
            return Ok(());
        }
        let loaded;
        let head = match &self.head {
            Some(h) => h,
            None => {
                loaded = loader::load_head(c, self.source, &self.device)?;
                &loaded
            }
        };
        for (gi, (x, g)) in xs.into_iter().zip(groups).enumerate() {
            // Only the positions asked for go through the final norm and the output projection,
            // one window at a time (its logits are the largest temporary of a pass).
            for wi in 0..g.len() {
                let x = x.narrow(0, wi * t + first, rows)?;
                let x = self.norm(&head.final_norm, &x)?;
                let mut logits = head.lm_head.forward(&x)?;
                if let Some(cap) = c.final_softcap {
                    logits = softcap(&logits, cap)?;
                }
                memory::sample(&self.device);
                observer.logits(gi, wi, logits.to_dtype(DType::F32)?)?;
            }
        }
        Ok(())
    }
}

/// The cos/sin tables of one sequence length: the global ones, and those of the sliding-window
/// layers when they rope with a base of their own (`ModelConfig::rope_theta_swa`).
struct RopeTables {
    cos: Tensor,
    sin: Tensor,
    swa: Option<(Tensor, Tensor)>,
}

/// The causal masks of one sequence length: full, and one per sliding window shorter than it.
struct Masks {
    full: Tensor,
    windows: Vec<(usize, Tensor)>,
}

impl Masks {
    fn new(c: &ModelConfig, t: usize, device: &Device) -> Result<Masks> {
        let mut windows: Vec<(usize, Tensor)> = Vec::new();
        for w in c.sliding_window.iter().flatten().copied() {
            if w < t && !windows.iter().any(|(ww, _)| *ww == w) {
                windows.push((w, causal_mask(t, Some(w), device)?));
            }
        }
        Ok(Masks { full: causal_mask(t, None, device)?, windows })
    }

    fn for_layer(&self, window: Option<usize>) -> &Tensor {
        window.and_then(|w| self.windows.iter().find(|(ww, _)| *ww == w)).map_or(&self.full, |(_, m)| m)
    }
}
