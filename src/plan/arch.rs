//! The architectures `plan` can size, as llama.cpp's graph sees them: the GGUF
//! `general.architecture`, which layers use the sliding-window KV cache, and the feed-forward
//! layout that sets the compute buffer. (Tensor names and shapes are the converter's tables,
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
    /// `n_embd`-wide f32 activations live per token at the FFN's peak on ggml-cpu (residual,
    /// norms), fitted against llama.cpp's compute buffer
    /// (tests/plan_memory.rs, synthetic FFN-bound models).
    pub ffn_embd_live: u64,
    /// Extra `n_head × head_dim`-wide activations live at that peak when the KV cache is
    /// quantized (gemma2 on ggml-cpu: 1), fitted the same way.
    pub quant_kv_q_live: u64,
}

/// Every architecture `plan` supports.
pub const ARCHES: &[ArchInfo] = &[
    ArchInfo {
        gguf_arch: "llama",
        hf_model_types: &["llama", "mistral"],
        swa: SwaRule::None,
        ffn: FfnLayout::GateUp,
        ffn_embd_live: 4,
        quant_kv_q_live: 0,
    },
    ArchInfo {
        gguf_arch: "qwen2",
        hf_model_types: &["qwen2"],
        swa: SwaRule::None,
        ffn: FfnLayout::GateUp,
        ffn_embd_live: 4,
        quant_kv_q_live: 0,
    },
    ArchInfo {
        gguf_arch: "phi3",
        hf_model_types: &["phi3"],
        swa: SwaRule::None,
        ffn: FfnLayout::FusedGateUp,
        ffn_embd_live: 3,
        quant_kv_q_live: 0,
    },
    ArchInfo {
        gguf_arch: "phi2",
        hf_model_types: &["phi"],
        swa: SwaRule::None,
        ffn: FfnLayout::UpOnly,
        ffn_embd_live: 5,
        quant_kv_q_live: 0,
    },
    ArchInfo {
        gguf_arch: "gemma",
        hf_model_types: &["gemma"],
        swa: SwaRule::None,
        ffn: FfnLayout::GateUp,
        ffn_embd_live: 4,
        quant_kv_q_live: 0,
    },
    ArchInfo {
        gguf_arch: "gemma2",
        hf_model_types: &["gemma2"],
        swa: SwaRule::EvenLayers,
        ffn: FfnLayout::GateUp,
        ffn_embd_live: 4,
        quant_kv_q_live: 1,
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
