//! Builds a [`Model`] from a weight source: checks shapes, splits fused tensors (Phi-3's qkv and
//! gate_up), ties the output to the embeddings when `output.weight` is absent.

use crate::arch::{Arch, NormKind};
use crate::config::ModelConfig;
use crate::error::{Result, ValidateError};
use crate::model::{Layer, Linear, Model, Norm};
use crate::weights::{RawTensor, WeightSource};
use candle_core::{Device, Tensor};

struct Loader<'a> {
    src: &'a dyn WeightSource,
    device: &'a Device,
}

impl Loader<'_> {
    fn raw(&self, name: &str, expected: &[usize]) -> Result<RawTensor> {
        let t = self.src.load(name)?;
        if t.shape != expected {
            return Err(ValidateError::BadTensor {
                source_name: self.src.source_name().into(),
                tensor: name.into(),
                expected: format!("shape {expected:?}"),
                found: format!("shape {:?}", t.shape),
            });
        }
        Ok(t)
    }

    fn tensor(&self, name: &str, expected: &[usize]) -> Result<Tensor> {
        let t = self.raw(name, expected)?;
        Ok(Tensor::from_vec(t.data, expected, self.device)?)
    }

    fn optional(&self, name: &str, expected: &[usize]) -> Result<Option<Tensor>> {
        if self.src.contains(name) {
            self.tensor(name, expected).map(Some)
        } else {
            Ok(None)
        }
    }

    fn linear(&self, base: &str, out: usize, inp: usize) -> Result<Linear> {
        Ok(Linear {
            weight: self.tensor(&format!("{base}.weight"), &[out, inp])?,
            bias: self.optional(&format!("{base}.bias"), &[out])?,
        })
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
        let w = self.tensor(&format!("{base}.weight"), &[total, inp])?;
        let b = self.optional(&format!("{base}.bias"), &[total])?;
        let mut out = Vec::with_capacity(parts.len());
        let mut start = 0;
        for &n in parts {
            out.push(Linear {
                weight: w.narrow(0, start, n)?.contiguous()?,
                bias: match &b {
                    Some(b) => Some(b.narrow(0, start, n)?.contiguous()?),
                    None => None,
                },
            });
            start += n;
        }
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

/// Loads every weight of `config`'s architecture from `src` onto `device`.
pub fn load_model(config: ModelConfig, src: &dyn WeightSource, device: &Device) -> Result<Model> {
    let l = Loader { src, device };
    let c = &config;
    let a = c.arch;
    let (hidden, ffn) = (c.hidden, c.ffn);
    let embed = l.tensor("token_embd.weight", &[c.n_vocab, hidden])?;
    let mut layers = Vec::with_capacity(c.n_layer);
    for il in 0..c.n_layer {
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
        let (gate, up) = if !a.gated_ffn {
            (None, l.linear(&p("ffn_up"), ffn, hidden)?)
        } else if a.arch == Arch::Phi3 && !src.contains(&p("ffn_gate.weight")) {
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
        layers.push(Layer {
            attn_norm: l.norm(&p("attn_norm"), hidden, a.norm)?,
            q,
            k,
            v,
            o,
            post_attn_norm: if a.post_norms { Some(l.norm(&p("post_attention_norm"), hidden, a.norm)?) } else { None },
            ffn_norm: if a.parallel_block { None } else { Some(l.norm(&p("ffn_norm"), hidden, a.norm)?) },
            gate,
            up,
            down: l.linear(&p("ffn_down"), hidden, ffn)?,
            post_ffn_norm: if a.post_norms { Some(l.norm(&p("post_ffw_norm"), hidden, a.norm)?) } else { None },
        });
    }
    let final_norm = l.norm("output_norm", hidden, a.norm)?;
    let lm_head = if src.contains("output.weight") {
        l.linear("output", c.n_vocab, hidden)?
    } else {
        Linear { weight: embed.clone(), bias: None }
    };
    Ok(Model { config, embed, layers, final_norm, lm_head, device: device.clone() })
}
