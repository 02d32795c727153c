//! Builds a model's parts from a weight source, one block at a time: checks shapes, splits fused
//! tensors (Phi-3's qkv and gate_up) by rows of their stored blocks, ties the output to the
//! embeddings when `output.weight` is absent. Every matrix goes to the device in its stored type
//! (see [`crate::linear::representation`]); once copied, its mapped pages are released.

use crate::arch::{FfnLayout, NormKind};
use crate::config::ModelConfig;
use crate::error::{Result, ValidateError};
use crate::linear::{self, Linear, Weight};
use crate::model::{Ffn, Head, Layer, Mlp, Moe, Norm};
use crate::weights::{StoredTensor, WeightSource};
use candle_core::{Device, Tensor};

struct Loader<'a> {
    src: &'a dyn WeightSource,
    device: &'a Device,
}

impl Loader<'_> {
    fn bad_shape(&self, name: &str, expected: &[usize], found: &[usize]) -> ValidateError {
        ValidateError::BadTensor {
            source_name: self.src.source_name().into(),
            tensor: name.into(),
            expected: format!("shape {expected:?}"),
            found: format!("shape {found:?}"),
        }
    }

    /// A small tensor (norm, bias) as f32.
    fn tensor(&self, name: &str, expected: &[usize]) -> Result<Tensor> {
        let t = self.src.load(name)?;
        if t.shape != expected {
            return Err(self.bad_shape(name, expected, &t.shape));
        }
        Ok(Tensor::from_vec(t.data, expected, self.device)?)
    }

    fn optional(&self, name: &str, expected: &[usize]) -> Result<Option<Tensor>> {
        if self.src.contains(name) {
            self.tensor(name, expected).map(Some)
        } else {
            Ok(None)
        }
    }

    fn stored(&self, name: &str, expected: &[usize]) -> Result<StoredTensor<'_>> {
        let t = self.src.stored(name)?;
        if t.shape != expected {
            return Err(self.bad_shape(name, expected, &t.shape));
        }
        Ok(t)
    }

    fn weight(&self, t: &StoredTensor<'_>) -> Result<Weight> {
        Weight::from_stored_releasing(t, self.device, &|b| self.src.release_bytes(b)).map_err(|e| match e {
            ValidateError::Dequantize { tensor, ty, message, .. } => {
                ValidateError::Dequantize { source_name: self.src.source_name().into(), tensor, ty, message }
            }
            ValidateError::BadTensor { tensor, expected, found, .. } => {
                ValidateError::BadTensor { source_name: self.src.source_name().into(), tensor, expected, found }
            }
            other => other,
        })
    }

    fn linear(&self, base: &str, out: usize, inp: usize) -> Result<Linear> {
        let name = format!("{base}.weight");
        let weight = self.weight(&self.stored(&name, &[out, inp])?)?;
        self.src.release(&name);
        Ok(Linear { weight, bias: self.optional(&format!("{base}.bias"), &[out])? })
    }

    /// Expert `xid`'s `[out, inp]` matrix of the stacked tensor `base` (no bias).
    fn expert(&self, base: &str, xid: usize, out: usize, inp: usize) -> Result<Linear> {
        let name = format!("{base}.weight");
        let t = self.src.expert(&name, xid)?;
        if t.shape != [out, inp] {
            return Err(self.bad_shape(&name, &[out, inp], &t.shape));
        }
        Ok(Linear { weight: self.weight(&t)?, bias: None })
    }

    fn norm(&self, base: &str, n: usize, kind: NormKind) -> Result<Norm> {
        let bias = match kind {
            NormKind::Layer => self.optional(&format!("{base}.bias"), &[n])?,
            NormKind::Rms => None,
        };
        Ok(Norm { weight: self.tensor(&format!("{base}.weight"), &[n])?, bias })
    }

    /// Splits a fused `[sum(parts), inp]` linear layer (and its bias) by rows.
    fn fused(&self, base: &str, parts: &[usize], inp: usize) -> Result<Vec<Linear>> {
        let total: usize = parts.iter().sum();
        let name = format!("{base}.weight");
        let w = self.stored(&name, &[total, inp])?;
        let b = self.optional(&format!("{base}.bias"), &[total])?;
        let mut out = Vec::with_capacity(parts.len());
        let mut start = 0;
        for &n in parts {
            out.push(Linear {
                weight: self.weight(&w.rows(start, n)?)?,
                bias: match &b {
                    Some(b) => Some(b.narrow(0, start, n)?.contiguous()?),
                    None => None,
                },
            });
            start += n;
        }
        self.src.release(&name);
        Ok(out)
    }
}

fn take3(mut v: Vec<Linear>, src: &str, tensor: &str) -> Result<(Linear, Linear, Linear)> {
    let missing = || ValidateError::MissingTensor { source_name: src.into(), tensor: tensor.into() };
    let c = v.pop().ok_or_else(missing)?;
    let b = v.pop().ok_or_else(missing)?;
    let a = v.pop().ok_or_else(missing)?;
    Ok((a, b, c))
}

/// Loads block `il` of `c`'s architecture from `src` onto `device`.
pub fn load_layer(c: &ModelConfig, src: &dyn WeightSource, device: &Device, il: usize) -> Result<Layer> {
    let l = Loader { src, device };
    let a = c.arch;
    let (hidden, ffn) = (c.hidden, c.ffn);
    let p = |s: &str| format!("blk.{il}.{s}");
    let (q, k, v) = if src.contains(&p("attn_qkv.weight")) {
        take3(l.fused(&p("attn_qkv"), &[c.q_dim(), c.kv_dim(), c.kv_dim()], hidden)?, src.source_name(), &p("attn_qkv"))?
    } else {
        (
            l.linear(&p("attn_q"), c.q_dim(), hidden)?,
            l.linear(&p("attn_k"), c.kv_dim(), hidden)?,
            l.linear(&p("attn_v"), c.kv_dim(), hidden)?,
        )
    };
    let o = l.linear(&p("attn_output"), hidden, c.q_dim())?;
    let (q_norm, k_norm) = if a.layout().qk_norm {
        (Some(l.norm(&p("attn_q_norm"), c.head_dim, NormKind::Rms)?), Some(l.norm(&p("attn_k_norm"), c.head_dim, NormKind::Rms)?))
    } else {
        (None, None)
    };
    let ffn_layer = match &c.moe {
        Some(m) => {
            let experts = (0..m.n_expert)
                .map(|x| {
                    Ok(Mlp {
                        gate: Some(l.expert(&p("ffn_gate_exps"), x, m.ffn, hidden)?),
                        up: l.expert(&p("ffn_up_exps"), x, m.ffn, hidden)?,
                        down: l.expert(&p("ffn_down_exps"), x, hidden, m.ffn)?,
                    })
                })
                .collect::<Result<Vec<Mlp>>>()?;
            for base in ["ffn_gate_exps", "ffn_up_exps", "ffn_down_exps"] {
                src.release(&format!("{}.weight", p(base)));
            }
            Ffn::Moe(Moe { router: l.linear(&p("ffn_gate_inp"), m.n_expert, hidden)?, experts, config: *m })
        }
        None => {
            let (gate, up) = if !a.layout().ffn.gated() {
                (None, l.linear(&p("ffn_up"), ffn, hidden)?)
            } else if a.layout().ffn == FfnLayout::FusedGateUp && !src.contains(&p("ffn_gate.weight")) {
                let mut parts = l.fused(&p("ffn_up"), &[ffn, ffn], hidden)?;
                let up = parts.pop();
                let gate = parts.pop();
                match (gate, up) {
                    (Some(g), Some(u)) => (Some(g), u),
                    _ => return Err(ValidateError::MissingTensor { source_name: src.source_name().into(), tensor: p("ffn_up") }),
                }
            } else {
                (Some(l.linear(&p("ffn_gate"), ffn, hidden)?), l.linear(&p("ffn_up"), ffn, hidden)?)
            };
            Ffn::Dense(Mlp { gate, up, down: l.linear(&p("ffn_down"), hidden, ffn)? })
        }
    };
    Ok(Layer {
        attn_norm: l.norm(&p("attn_norm"), hidden, a.layout().norm)?,
        q,
        k,
        v,
        q_norm,
        k_norm,
        o,
        post_attn_norm: if a.layout().post_norms { Some(l.norm(&p("post_attention_norm"), hidden, a.layout().norm)?) } else { None },
        ffn_norm: if a.layout().parallel_block { None } else { Some(l.norm(&p("ffn_norm"), hidden, a.layout().norm)?) },
        ffn: ffn_layer,
        post_ffn_norm: if a.layout().post_norms { Some(l.norm(&p("post_ffw_norm"), hidden, a.layout().norm)?) } else { None },
    })
}

/// The tensor the output projection reads: `output.weight`, or the embeddings when tied.
pub fn head_tensor_name(src: &dyn WeightSource) -> &'static str {
    if src.contains("output.weight") {
        "output.weight"
    } else {
        "token_embd.weight"
    }
}

/// Loads the final norm and the output projection (the embeddings when tied).
pub fn load_head(c: &ModelConfig, src: &dyn WeightSource, device: &Device) -> Result<Head> {
    let l = Loader { src, device };
    let final_norm = l.norm("output_norm", c.hidden, c.arch.layout().norm)?;
    let lm_head = if src.contains("output.weight") {
        l.linear("output", c.n_vocab, c.hidden)?
    } else {
        let name = "token_embd.weight";
        let weight = l.weight(&l.stored(name, &[c.n_vocab, c.hidden])?)?;
        src.release(name);
        Linear { weight, bias: None }
    };
    Ok(Head { final_norm, lm_head })
}

/// Checks that the embedding matrix exists with the configuration's shape.
pub fn check_embeddings(c: &ModelConfig, src: &dyn WeightSource) -> Result<()> {
    let l = Loader { src, device: &Device::Cpu };
    l.stored("token_embd.weight", &[c.n_vocab, c.hidden]).map(|_| ())
}

/// Bytes one block's matrices, norms and biases take on `device`.
pub fn layer_device_bytes(src: &dyn WeightSource, device: &Device, il: usize) -> u64 {
    let prefix = format!("blk.{il}.");
    tensors_device_bytes(src, device, &|name| name.starts_with(&prefix))
}

/// Bytes the final norm and output projection take on `device`.
pub fn head_device_bytes(src: &dyn WeightSource, device: &Device) -> u64 {
    let head = head_tensor_name(src);
    tensors_device_bytes(src, device, &|name| name == head || name.starts_with("output_norm."))
}

fn tensors_device_bytes(src: &dyn WeightSource, device: &Device, pick: &dyn Fn(&str) -> bool) -> u64 {
    src.tensor_names()
        .iter()
        .filter(|n| pick(n))
        .flat_map(|n| src.parts(n))
        .map(|t| {
            let n: u64 = t.shape.iter().map(|&d| d as u64).product();
            if t.shape.len() == 2 {
                linear::device_bytes(t.ty, n, t.bytes.len() as u64, device)
            } else {
                n * 4
            }
        })
        .sum()
}
