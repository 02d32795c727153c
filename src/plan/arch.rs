//! The architectures `plan` can size, as llama.cpp's graph sees them: the GGUF
//! `general.architecture`, which layers use the sliding-window KV cache, and the layout of its
//! layers (norms, Q/K/V and FFN projections, biases, scalings) from which `plan` rebuilds the
//! graph that sets the compute buffer (`super::graph`). (Tensor names and shapes are the converter's tables,
//! `crate::arch`.) One table, declared once.

/// How a model's layers use sliding-window attention in llama.cpp (`hparams.swa_layers`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SwaRule {
    /// Every layer attends to the whole context.
    None,
    /// llama.cpp's `set_swa_pattern(2)`: even layers (0, 2, …) use the sliding window, odd layers
    /// the whole context (gemma2).
    EvenLayers,
}

/// The feed-forward block's layout, which decides its tensors and its activations' size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FfnLayout {
    /// `ffn_gate`, `ffn_up` [n_embd → n_ff] and `ffn_down` (llama, qwen2, gemma, gemma2).
    GateUp,
    /// One fused `ffn_up` [n_embd → 2·n_ff] split in gate and up halves, and `ffn_down` (phi3).
    FusedGateUp,
    /// `ffn_up` and `ffn_down` only, with biases (phi2's GELU MLP).
    UpOnly,
}

/// The normalization before attention, FFN and output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NormKind {
    /// `ggml_rms_norm` × weight.
    Rms,
    /// `ggml_norm` × weight + bias (phi2).
    Layer,
}

/// How Q, K and V are projected (`llm_graph_context::build_qkv`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QkvLayout {
    /// Three matrix products, each optionally followed by a bias.
    Separate {
        /// Q, K and V biases (qwen2, phi2).
        bias: bool,
    },
    /// One fused `attn_qkv` product viewed as Q, K and V (phi3).
    Fused,
}

/// One supported architecture.
#[derive(Debug)]
pub struct ArchInfo {
    /// The GGUF `general.architecture` (llama.cpp's `LLM_ARCH_*` name).
    pub gguf_arch: &'static str,
    /// HF `model_type` values that map to it.
    pub hf_model_types: &'static [&'static str],
    /// Sliding-window layers.
    pub swa: SwaRule,
    /// Feed-forward layout.
    pub ffn: FfnLayout,
    /// Normalization.
    pub norm: NormKind,
    /// Q/K/V projection.
    pub qkv: QkvLayout,
    /// The token embeddings are scaled by `sqrt(n_embd)` (gemma, gemma2).
    pub embd_scale: bool,
    /// Q is scaled by its own op before attention rather than inside flash attention.
    pub scale_q: bool,
    /// The attention output projection and the FFN down projection have biases (phi2).
    pub out_biases: bool,
    /// The output projection has a bias (phi2).
    pub output_bias: bool,
    /// RMS norms after attention and after the FFN (gemma2).
    pub post_norms: bool,
    /// Attention and FFN both read the attention norm and are added to the residual (phi2).
    pub parallel_ffn: bool,
    /// The FFN's residual add takes the residual as first operand (phi3).
    pub ffn_residual_first: bool,
    /// Final logit soft-capping: scale, tanh, scale (gemma2).
    pub logit_softcap: bool,
    /// Attention logit soft-capping (gemma2; inside flash attention, else scale, tanh, scale).
    pub attn_softcap: bool,
}

/// Every architecture `plan` supports.
pub const ARCHES: &[ArchInfo] = &[
    ArchInfo {
        gguf_arch: "llama",
        hf_model_types: &["llama", "mistral"],
        swa: SwaRule::None,
        ffn: FfnLayout::GateUp,
        norm: NormKind::Rms,
        qkv: QkvLayout::Separate { bias: false },
        embd_scale: false,
        scale_q: false,
        out_biases: false,
        output_bias: false,
        post_norms: false,
        parallel_ffn: false,
        ffn_residual_first: false,
        logit_softcap: false,
        attn_softcap: false,
    },
    ArchInfo {
        gguf_arch: "qwen2",
        hf_model_types: &["qwen2"],
        swa: SwaRule::None,
        ffn: FfnLayout::GateUp,
        norm: NormKind::Rms,
        qkv: QkvLayout::Separate { bias: true },
        embd_scale: false,
        scale_q: false,
        out_biases: false,
        output_bias: false,
        post_norms: false,
        parallel_ffn: false,
        ffn_residual_first: false,
        logit_softcap: false,
        attn_softcap: false,
    },
    ArchInfo {
        gguf_arch: "phi3",
        hf_model_types: &["phi3"],
        swa: SwaRule::None,
        ffn: FfnLayout::FusedGateUp,
        norm: NormKind::Rms,
        qkv: QkvLayout::Fused,
        embd_scale: false,
        scale_q: true,
        out_biases: false,
        output_bias: false,
        post_norms: false,
        parallel_ffn: false,
        ffn_residual_first: true,
        logit_softcap: false,
        attn_softcap: false,
    },
    ArchInfo {
        gguf_arch: "phi2",
        hf_model_types: &["phi"],
        swa: SwaRule::None,
        ffn: FfnLayout::UpOnly,
        norm: NormKind::Layer,
        qkv: QkvLayout::Separate { bias: true },
        embd_scale: false,
        scale_q: true,
        out_biases: true,
        output_bias: true,
        post_norms: false,
        parallel_ffn: true,
        ffn_residual_first: false,
        logit_softcap: false,
        attn_softcap: false,
    },
    ArchInfo {
        gguf_arch: "gemma",
        hf_model_types: &["gemma"],
        swa: SwaRule::None,
        ffn: FfnLayout::GateUp,
        norm: NormKind::Rms,
        qkv: QkvLayout::Separate { bias: false },
        embd_scale: true,
        scale_q: true,
        out_biases: false,
        output_bias: false,
        post_norms: false,
        parallel_ffn: false,
        ffn_residual_first: false,
        logit_softcap: false,
        attn_softcap: false,
    },
    ArchInfo {
        gguf_arch: "gemma2",
        hf_model_types: &["gemma2"],
        swa: SwaRule::EvenLayers,
        ffn: FfnLayout::GateUp,
        norm: NormKind::Rms,
        qkv: QkvLayout::Separate { bias: false },
        embd_scale: true,
        scale_q: true,
        out_biases: false,
        output_bias: false,
        post_norms: true,
        parallel_ffn: false,
        ffn_residual_first: false,
        logit_softcap: true,
        attn_softcap: true,
    },
];

/// The architecture with this GGUF `general.architecture` name.
pub fn by_gguf_name(name: &str) -> Option<&'static ArchInfo> {
    ARCHES.iter().find(|a| a.gguf_arch == name)
}

/// The architecture of this HF `model_type`.
pub fn by_hf_model_type(model_type: &str) -> Option<&'static ArchInfo> {
    ARCHES.iter().find(|a| a.hf_model_types.contains(&model_type))
}

/// The names `plan` accepts, for error messages.
pub fn supported_names() -> String {
    ARCHES.iter().flat_map(|a| a.hf_model_types.iter().copied()).collect::<Vec<_>>().join(", ")
}
