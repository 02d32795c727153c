//! The architecture table: for each model family we can evaluate, how its forward pass is built
//! and how its tensors are named in Hugging Face checkpoints and in GGUF files. Declared once, as
//! data; the loader and the forward pass only read it.

/// A model family with a forward pass here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    /// Llama and its kin (Mistral, SmolLM, CodeLlama, DeepSeek-Coder), with GQA.
    Llama,
    /// Qwen2: Llama with q/k/v biases, usually tied embeddings.
    Qwen2,
    /// Phi-3: fused qkv and gate_up projections.
    Phi3,
    /// Phi-2: LayerNorm, parallel attention and MLP, partial rotary, biases everywhere.
    Phi2,
    /// Gemma: GeGLU, embedding scale, norm weights stored as (w − 1) in HF.
    Gemma,
    /// Gemma 2: Gemma plus logit soft-capping, alternating sliding-window layers, post norms.
    Gemma2,
}

/// Normalisation layer kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NormKind {
    /// RMSNorm: x / rms(x) · w.
    Rms,
    /// LayerNorm with bias.
    Layer,
}

/// Activation of the feed-forward network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// SiLU (SwiGLU when gated).
    Silu,
    /// GELU, tanh approximation (`gelu_pytorch_tanh`, `gelu_new`).
    GeluTanh,
}

/// How one architecture is built and named.
#[derive(Debug)]
pub struct ArchInfo {
    /// The family.
    pub arch: Arch,
    /// `general.architecture` in GGUF.
    pub gguf_name: &'static str,
    /// `model_type` values of HF config.json.
    pub hf_model_types: &'static [&'static str],
    /// Normalisation kind.
    pub norm: NormKind,
    /// FFN activation.
    pub activation: Activation,
    /// FFN is gated (gate · up → down) rather than up → act → down.
    pub gated_ffn: bool,
    /// Attention and FFN read the same normed input and are added together (Phi-2).
    pub parallel_block: bool,
    /// Extra norms after attention and after the FFN (Gemma 2).
    pub post_norms: bool,
    /// Input embeddings are scaled by sqrt(hidden_size) (Gemma).
    pub embed_scale: bool,
    /// HF stores norm weights as (w − 1): the converter adds 1 (Gemma).
    pub hf_norm_plus_one: bool,
    /// The converter permutes Q/K rows for llama.cpp's interleaved ("normal") RoPE; HF uses
    /// rotate-half ("NeoX") RoPE on unpermuted weights.
    pub gguf_rope_interleaved: bool,
    /// Linear layers carry biases in HF checkpoints (beyond q/k/v, which are probed).
    pub default_attention_bias: bool,
    /// GGUF tensor name (without `blk.N.` and `.weight`/`.bias`) → HF name inside `model.layers.N.`.
    pub hf_layer_names: &'static [(&'static str, &'static str)],
    /// Global tensors: GGUF name → HF name (without `.weight`/`.bias`).
    pub hf_global_names: &'static [(&'static str, &'static str)],
}

const LLAMA_LAYER: &[(&str, &str)] = &[
    ("attn_norm", "input_layernorm"),
    ("attn_q", "self_attn.q_proj"),
    ("attn_k", "self_attn.k_proj"),
    ("attn_v", "self_attn.v_proj"),
    ("attn_output", "self_attn.o_proj"),
    ("ffn_norm", "post_attention_layernorm"),
    ("ffn_gate", "mlp.gate_proj"),
    ("ffn_up", "mlp.up_proj"),
    ("ffn_down", "mlp.down_proj"),
];

const PHI3_LAYER: &[(&str, &str)] = &[
    ("attn_norm", "input_layernorm"),
    ("attn_qkv", "self_attn.qkv_proj"),
    ("attn_output", "self_attn.o_proj"),
    ("ffn_norm", "post_attention_layernorm"),
    ("ffn_up", "mlp.gate_up_proj"),
    ("ffn_down", "mlp.down_proj"),
];

const PHI2_LAYER: &[(&str, &str)] = &[
    ("attn_norm", "input_layernorm"),
    ("attn_q", "self_attn.q_proj"),
    ("attn_k", "self_attn.k_proj"),
    ("attn_v", "self_attn.v_proj"),
    ("attn_output", "self_attn.dense"),
    ("ffn_up", "mlp.fc1"),
    ("ffn_down", "mlp.fc2"),
];

const GEMMA2_LAYER: &[(&str, &str)] = &[
    ("attn_norm", "input_layernorm"),
    ("attn_q", "self_attn.q_proj"),
    ("attn_k", "self_attn.k_proj"),
    ("attn_v", "self_attn.v_proj"),
    ("attn_output", "self_attn.o_proj"),
    ("post_attention_norm", "post_attention_layernorm"),
    ("ffn_norm", "pre_feedforward_layernorm"),
    ("post_ffw_norm", "post_feedforward_layernorm"),
    ("ffn_gate", "mlp.gate_proj"),
    ("ffn_up", "mlp.up_proj"),
    ("ffn_down", "mlp.down_proj"),
];

const COMMON_GLOBAL: &[(&str, &str)] = &[("token_embd", "model.embed_tokens"), ("output_norm", "model.norm"), ("output", "lm_head")];

const PHI2_GLOBAL: &[(&str, &str)] =
    &[("token_embd", "model.embed_tokens"), ("output_norm", "model.final_layernorm"), ("output", "lm_head")];

/// Every architecture we can evaluate.
pub static ARCHITECTURES: &[ArchInfo] = &[
    ArchInfo {
        arch: Arch::Llama,
        gguf_name: "llama",
        hf_model_types: &["llama", "mistral"],
        norm: NormKind::Rms,
        activation: Activation::Silu,
        gated_ffn: true,
        parallel_block: false,
        post_norms: false,
        embed_scale: false,
        hf_norm_plus_one: false,
        gguf_rope_interleaved: true,
        default_attention_bias: false,
        hf_layer_names: LLAMA_LAYER,
        hf_global_names: COMMON_GLOBAL,
    },
    ArchInfo {
        arch: Arch::Qwen2,
        gguf_name: "qwen2",
        hf_model_types: &["qwen2"],
        norm: NormKind::Rms,
        activation: Activation::Silu,
        gated_ffn: true,
        parallel_block: false,
        post_norms: false,
        embed_scale: false,
        hf_norm_plus_one: false,
        gguf_rope_interleaved: false,
        default_attention_bias: false,
        hf_layer_names: LLAMA_LAYER,
        hf_global_names: COMMON_GLOBAL,
    },
    ArchInfo {
        arch: Arch::Phi3,
        gguf_name: "phi3",
        hf_model_types: &["phi3"],
        norm: NormKind::Rms,
        activation: Activation::Silu,
        gated_ffn: true,
        parallel_block: false,
        post_norms: false,
        embed_scale: false,
        hf_norm_plus_one: false,
        gguf_rope_interleaved: false,
        default_attention_bias: false,
        hf_layer_names: PHI3_LAYER,
        hf_global_names: COMMON_GLOBAL,
    },
    ArchInfo {
        arch: Arch::Phi2,
        gguf_name: "phi2",
        hf_model_types: &["phi"],
        norm: NormKind::Layer,
        activation: Activation::GeluTanh,
        gated_ffn: false,
        parallel_block: true,
        post_norms: false,
        embed_scale: false,
        hf_norm_plus_one: false,
        gguf_rope_interleaved: false,
        default_attention_bias: true,
        hf_layer_names: PHI2_LAYER,
        hf_global_names: PHI2_GLOBAL,
    },
    ArchInfo {
        arch: Arch::Gemma,
        gguf_name: "gemma",
        hf_model_types: &["gemma"],
        norm: NormKind::Rms,
        activation: Activation::GeluTanh,
        gated_ffn: true,
        parallel_block: false,
        post_norms: false,
        embed_scale: true,
        hf_norm_plus_one: true,
        gguf_rope_interleaved: false,
        default_attention_bias: false,
        hf_layer_names: LLAMA_LAYER,
        hf_global_names: COMMON_GLOBAL,
    },
    ArchInfo {
        arch: Arch::Gemma2,
        gguf_name: "gemma2",
        hf_model_types: &["gemma2"],
        norm: NormKind::Rms,
        activation: Activation::GeluTanh,
        gated_ffn: true,
        parallel_block: false,
        post_norms: true,
        embed_scale: true,
        hf_norm_plus_one: true,
        gguf_rope_interleaved: false,
        default_attention_bias: false,
        hf_layer_names: GEMMA2_LAYER,
        hf_global_names: COMMON_GLOBAL,
    },
];

/// The table entry for a GGUF `general.architecture`.
pub fn by_gguf_name(name: &str) -> Option<&'static ArchInfo> {
    ARCHITECTURES.iter().find(|a| a.gguf_name == name)
}

/// The table entry for an HF `model_type`.
pub fn by_hf_model_type(model_type: &str) -> Option<&'static ArchInfo> {
    ARCHITECTURES.iter().find(|a| a.hf_model_types.contains(&model_type))
}

/// The names we accept, for error messages.
pub fn supported_names() -> String {
    ARCHITECTURES.iter().map(|a| a.gguf_name).collect::<Vec<_>>().join(", ")
}

impl ArchInfo {
    /// The HF name of a GGUF tensor name (`blk.3.attn_q.weight` → `model.layers.3.self_attn.q_proj.weight`).
    pub fn hf_name(&self, gguf_name: &str) -> Option<String> {
        let (stem, kind) = gguf_name.rsplit_once('.')?;
        if let Some(rest) = stem.strip_prefix("blk.") {
            let (layer, base) = rest.split_once('.')?;
            let hf = self.hf_layer_names.iter().find(|(g, _)| *g == base)?.1;
            Some(format!("model.layers.{layer}.{hf}.{kind}"))
        } else {
            let hf = self.hf_global_names.iter().find(|(g, _)| *g == stem)?.1;
            Some(format!("{hf}.{kind}"))
        }
    }
}

impl ArchInfo {
    /// The GGUF name of an HF tensor name (the inverse of [`ArchInfo::hf_name`]).
    pub fn gguf_name_of(&self, hf_name: &str) -> Option<String> {
        let (stem, kind) = hf_name.rsplit_once('.')?;
        if let Some(rest) = stem.strip_prefix("model.layers.") {
            let (layer, base) = rest.split_once('.')?;
            let g = self.hf_layer_names.iter().find(|(_, h)| *h == base)?.0;
            Some(format!("blk.{layer}.{g}.{kind}"))
        } else {
            let g = self.hf_global_names.iter().find(|(_, h)| *h == stem)?.0;
            Some(format!("{g}.{kind}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hf_names_map_layers_and_globals() {
        let gemma2 = by_gguf_name("gemma2").unwrap();
        assert_eq!(gemma2.hf_name("blk.2.ffn_norm.weight").as_deref(), Some("model.layers.2.pre_feedforward_layernorm.weight"));
        assert_eq!(by_gguf_name("phi2").unwrap().hf_name("output_norm.bias").as_deref(), Some("model.final_layernorm.bias"));
        assert_eq!(gemma2.hf_name("blk.0.nonsense.weight"), None);
        assert_eq!(gemma2.gguf_name_of("model.layers.2.pre_feedforward_layernorm.weight").as_deref(), Some("blk.2.ffn_norm.weight"));
        assert_eq!(gemma2.gguf_name_of("lm_head.weight").as_deref(), Some("output.weight"));
        assert_eq!(gemma2.gguf_name_of("model.layers.0.rotary_emb.inv_freq"), None);
    }
}
