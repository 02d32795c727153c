//! The tensors of a model's GGUF file: read from a GGUF file, or planned from the hyper-parameters
//! the way llama.cpp's converter lays them out (names, ggml dims, F32 for norms and biases).

use gguf::GgmlType;

use super::arch::{AttnLayout, FfnLayout};
use super::shape::ModelShape;

/// One tensor of the file to be written, in ggml order (`dims[0]` = row length).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedTensor {
    /// GGUF tensor name (`blk.0.attn_q.weight`).
    pub name: String,
    /// ggml dims.
    pub dims: Vec<u64>,
    /// Its type in the unquantized (F16) file: F32 for norms, biases and RoPE factors.
    pub source_type: GgmlType,
}

impl PlannedTensor {
    fn new(name: String, dims: &[u64], source_type: GgmlType) -> PlannedTensor {
        PlannedTensor { name, dims: dims.to_vec(), source_type }
    }

    /// Number of elements (saturating: shapes come from checked hyper-parameters).
    pub fn n_elements(&self) -> u64 {
        self.dims.iter().fold(1u64, |a, &d| a.saturating_mul(d))
    }

    /// The repeating layer this tensor belongs to (`blk.N.`), if any.
    pub fn layer(&self) -> Option<u64> {
        let rest = self.name.strip_prefix("blk.")?;
        let (n, _) = rest.split_once('.')?;
        n.parse().ok()
    }
}

/// The tensors llama.cpp's converter writes for a model of this shape, in a converter-like order
/// (token embedding, layers, output). Used when no weights are at hand (a lone `config.json`).
pub fn planned_tensors(s: &ModelShape) -> Vec<PlannedTensor> {
    let (e, f, v) = (s.n_embd, s.n_ff, s.n_vocab);
    let q_dim = s.n_head * s.head_dim_k;
    let k_dim = s.n_head_kv * s.head_dim_k;
    let v_dim = s.n_head_kv * s.head_dim_v;
    let a = s.arch;
    let mut out = Vec::new();
    let mut push = |name: String, dims: &[u64], ty: GgmlType| out.push(PlannedTensor::new(name, dims, ty));
    let (w, n) = (GgmlType::F16, GgmlType::F32);

    push("token_embd.weight".into(), &[e, v], w);
    if let Some(r) = s.rope_factors {
        push("rope_factors_long.weight".into(), &[r], n);
        push("rope_factors_short.weight".into(), &[r], n);
    }
    for il in 0..s.n_layer {
        let b = |t: &str| format!("blk.{il}.{t}");
        push(b("attn_norm.weight"), &[e], n);
        if a.all_bias {
            push(b("attn_norm.bias"), &[e], n);
        }
        match a.attn {
            AttnLayout::Separate => {
                push(b("attn_q.weight"), &[e, q_dim], w);
                push(b("attn_k.weight"), &[e, k_dim], w);
                push(b("attn_v.weight"), &[e, v_dim], w);
                if a.qkv_bias || a.all_bias {
                    push(b("attn_q.bias"), &[q_dim], n);
                    push(b("attn_k.bias"), &[k_dim], n);
                    push(b("attn_v.bias"), &[v_dim], n);
                }
            }
            AttnLayout::FusedQkv => push(b("attn_qkv.weight"), &[e, q_dim + k_dim + v_dim], w),
        }
        push(b("attn_output.weight"), &[s.n_head * s.head_dim_v, e], w);
        if a.all_bias {
            push(b("attn_output.bias"), &[e], n);
        }
        if a.post_norms {
            push(b("post_attention_norm.weight"), &[e], n);
        }
        if a.ffn != FfnLayout::UpOnly {
            push(b("ffn_norm.weight"), &[e], n);
        }
        match a.ffn {
            FfnLayout::GateUp => {
                push(b("ffn_gate.weight"), &[e, f], w);
                push(b("ffn_up.weight"), &[e, f], w);
            }
            FfnLayout::FusedGateUp => push(b("ffn_up.weight"), &[e, 2 * f], w),
            FfnLayout::UpOnly => {
                push(b("ffn_up.weight"), &[e, f], w);
                push(b("ffn_up.bias"), &[f], n);
            }
        }
        push(b("ffn_down.weight"), &[f, e], w);
        if a.all_bias {
            push(b("ffn_down.bias"), &[e], n);
        }
        if a.post_norms {
            push(b("post_ffw_norm.weight"), &[e], n);
        }
    }
    push("output_norm.weight".into(), &[e], n);
    if a.all_bias {
        push("output_norm.bias".into(), &[e], n);
    }
    if !s.tied_embeddings {
        push("output.weight".into(), &[e, v], w);
        if a.all_bias {
            push("output.bias".into(), &[v], n);
        }
    }
    out
}
