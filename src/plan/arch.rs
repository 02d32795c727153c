//! The architectures `plan` can size: how each maps from a Hugging Face `config.json` to llama.cpp's
//! graph (the GGUF `general.architecture`, its sliding-window layers and its tensor layout).
//! One table, declared once.

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

/// The attention projections' layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttnLayout {
    /// Separate `attn_q`, `attn_k`, `attn_v`.
    Separate,
    /// One fused `attn_qkv` (phi3).
    FusedQkv,
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
    /// Attention projections.
    pub attn: AttnLayout,
    /// Feed-forward layout.
    pub ffn: FfnLayout,
    /// Biases on q/k/v (qwen2) — tiny, but part of the exact size.
    pub qkv_bias: bool,
    /// Biases on every linear layer and layer norm (phi2).
    pub all_bias: bool,
    /// Extra per-layer norms after attention and after the FFN (gemma2).
    pub post_norms: bool,
    /// The token embedding doubles as the output projection unless the config says otherwise
    /// (`tie_word_embeddings` default of the HF class).
    pub tied_by_default: bool,
}

/// Every architecture `plan` supports.
pub const ARCHES: &[ArchInfo] = &[
    ArchInfo {
        gguf_arch: "llama",
        hf_model_types: &["llama", "mistral"],
        swa: SwaRule::None,
        attn: AttnLayout::Separate,
        ffn: FfnLayout::GateUp,
        qkv_bias: false,
        all_bias: false,
        post_norms: false,
        tied_by_default: false,
    },
    ArchInfo {
        gguf_arch: "qwen2",
        hf_model_types: &["qwen2"],
        swa: SwaRule::None,
        attn: AttnLayout::Separate,
        ffn: FfnLayout::GateUp,
        qkv_bias: true,
        all_bias: false,
        post_norms: false,
        tied_by_default: false,
    },
    ArchInfo {
        gguf_arch: "phi3",
        hf_model_types: &["phi3"],
        swa: SwaRule::None,
        attn: AttnLayout::FusedQkv,
        ffn: FfnLayout::FusedGateUp,
        qkv_bias: false,
        all_bias: false,
        post_norms: false,
        tied_by_default: false,
    },
    ArchInfo {
        gguf_arch: "phi2",
        hf_model_types: &["phi"],
        swa: SwaRule::None,
        attn: AttnLayout::Separate,
        ffn: FfnLayout::UpOnly,
        qkv_bias: true,
        all_bias: true,
        post_norms: false,
        tied_by_default: false,
    },
    ArchInfo {
        gguf_arch: "gemma",
        hf_model_types: &["gemma"],
        swa: SwaRule::None,
        attn: AttnLayout::Separate,
        ffn: FfnLayout::GateUp,
        qkv_bias: false,
        all_bias: false,
        post_norms: false,
        tied_by_default: true,
    },
    ArchInfo {
        gguf_arch: "gemma2",
        hf_model_types: &["gemma2"],
        swa: SwaRule::EvenLayers,
        attn: AttnLayout::Separate,
        ffn: FfnLayout::GateUp,
        qkv_bias: false,
        all_bias: false,
        post_norms: true,
        tied_by_default: true,
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
