//! How a transformer block is built, as data: what `plan` needs to rebuild llama.cpp's graph
//! (`src/llama-model.cpp`, `llm_build_*`) and `validate` to run the same forward pass.

/// The normalization before attention, the FFN and the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NormKind {
    /// RMSNorm: x / rms(x) · w (`ggml_rms_norm` × weight).
    Rms,
    /// LayerNorm with bias (`ggml_norm` × weight + bias; phi2).
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

/// The feed-forward block's layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FfnLayout {
    /// `ffn_gate`, `ffn_up` [n_embd → n_ff] and `ffn_down`: act(gate) · up → down.
    GateUp,
    /// One fused `ffn_up` [n_embd → 2·n_ff] split into gate and up halves, and `ffn_down` (phi3).
    FusedGateUp,
    /// `ffn_up` and `ffn_down` only: act(up) → down (phi2's MLP).
    UpOnly,
}

impl FfnLayout {
    /// Whether a gate multiplies the activation (`GateUp`, `FusedGateUp`).
    pub fn gated(self) -> bool {
        !matches!(self, FfnLayout::UpOnly)
    }
}

/// A mixture-of-experts FFN in place of the dense one (llama.cpp's `build_moe_ffn` with softmax
/// gating): a router (`ffn_gate_inp`) scores the experts, softmax over them, the top
/// `expert_used_count` are chosen and each one's FFN (the block's [`FfnLayout`] and activation,
/// on the stacked `ffn_{gate,up,down}_exps`) is weighted by its probability and summed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MoeLayout {
    /// llama.cpp's graph renormalises the chosen experts' probabilities to sum to 1 (`norm_w`).
    pub norm_w: bool,
    /// The Hugging Face config field that says whether transformers renormalises them
    /// (`norm_topk_prob`); `None` when transformers does as llama.cpp.
    pub hf_norm_field: Option<&'static str>,
}

impl MoeLayout {
    /// Whether the chosen probabilities are renormalised for a model read from a Hugging Face
    /// config with these fields (transformers' choice, defaulting to llama.cpp's).
    pub fn renormalise_hf(&self, fields: &serde_json::Map<String, serde_json::Value>) -> bool {
        match self.hf_norm_field {
            Some(f) => fields.get(f).and_then(serde_json::Value::as_bool).unwrap_or(false),
            None => self.norm_w,
        }
    }
}

/// The FFN activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// SiLU (SwiGLU when gated).
    Silu,
    /// GELU, tanh approximation (`gelu_pytorch_tanh`, `gelu_new`; GeGLU when gated).
    GeluTanh,
}

/// Which layers use the sliding-window KV cache (llama.cpp's `hparams.swa_layers`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SwaPattern {
    /// Every layer attends to the whole context.
    None,
    /// llama.cpp's `set_swa_pattern(period)`: layer `il` slides when `il % period < period - 1`,
    /// so every `period`-th layer attends to the whole context (gemma2: 2, the even layers slide;
    /// gemma3: 6, transformers' default `sliding_window_pattern`).
    Period {
        /// Layers per group; the last of each group is global.
        period: u64,
        /// The window when the GGUF has no `attention.sliding_window` key (gemma2's loader: 4096);
        /// 0 when llama.cpp then runs every layer global (gemma3).
        default_window: u64,
    },
}

impl SwaPattern {
    /// Whether layer `il` slides, given the model's window (`None` or 0: no layer slides).
    pub fn is_swa(self, il: u64, window: Option<u64>) -> bool {
        match self {
            SwaPattern::Period { period, .. } if window.is_some_and(|w| w > 0) && period > 0 => il % period < period - 1,
            _ => false,
        }
    }

    /// The sliding window llama.cpp uses for a window key `found` (absent or 0: the default;
    /// `None` when no layer slides).
    pub fn window(self, found: Option<u64>) -> Option<u64> {
        match self {
            SwaPattern::None => None,
            SwaPattern::Period { default_window, .. } => Some(found.filter(|&w| w > 0).unwrap_or(default_window)).filter(|&w| w > 0),
        }
    }
}

/// One architecture's block layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockLayout {
    /// Normalization kind.
    pub norm: NormKind,
    /// HF checkpoints store norm weights as (w − 1); the converter adds 1 (gemma, gemma2).
    pub norm_plus_one: bool,
    /// Q/K/V projection.
    pub qkv: QkvLayout,
    /// Feed-forward layout.
    pub ffn: FfnLayout,
    /// FFN activation.
    pub activation: Activation,
    /// Per-head RMS norms of Q and K after their projections, before RoPE (`attn_q_norm`,
    /// `attn_k_norm`; qwen3).
    pub qk_norm: bool,
    /// Every n-th block (`(il + 1) % n == 0`) attends without RoPE (llama.cpp's
    /// `n_no_rope_layer_step`: 4 for smollm3); 0 when every block is roped.
    pub no_rope_every: u64,
    /// Attention and FFN both read the attention norm's output and are added to the residual
    /// together (phi2).
    pub parallel_block: bool,
    /// RMS norms after attention and after the FFN (gemma2).
    pub post_norms: bool,
    /// The token embeddings are scaled by sqrt(n_embd) (gemma, gemma2).
    pub embd_scale: bool,
    /// The attention output and FFN down projections have biases (phi2).
    pub out_biases: bool,
    /// The output projection has a bias (phi2).
    pub output_bias: bool,
    /// Sliding-window layers.
    pub swa: SwaPattern,
    /// Sliding-window layers rope with a base of their own (HF `rope_local_base_freq`, GGUF
    /// `rope.freq_base_swa`, llama.cpp's default 10000) and unscaled frequencies, global layers
    /// with `rope_theta` and the rope scaling (gemma3: transformers' `rotary_emb_local`, llama.cpp's
    /// `get_rope_freq_base/scale` per layer).
    pub swa_rope_base: bool,
    /// Final logit soft-capping: scale, tanh, scale (gemma2).
    pub logit_softcap: bool,
    /// Attention logit soft-capping (gemma2).
    pub attn_softcap: bool,
    /// The converter permutes Q/K rows for ggml's interleaved ("normal") RoPE; the HF weights are
    /// for rotate-half ("NeoX") RoPE (llama).
    pub rope_permuted: bool,
    /// llama.cpp's graph scales Q with its own op before attention, rather than inside flash
    /// attention (phi2, phi3, gemma, gemma2).
    pub scale_q: bool,
    /// llama.cpp scales attention by 1/sqrt(n_embd / n_head) instead of 1/sqrt(head_dim) for a
    /// model of exactly this many layers (its "27B" type: gemma2 46, gemma3 62; transformers'
    /// `query_pre_attn_scalar` of those checkpoints agrees); 0 = never.
    pub attn_scale_embd_layers: u64,
    /// llama.cpp's graph adds the FFN output with the residual as first operand (phi3).
    pub ffn_residual_first: bool,
    /// Every block's FFN is a mixture of experts (qwen3moe); `None`: dense.
    pub moe: Option<MoeLayout>,
}

impl BlockLayout {
    /// Whether block `il` applies RoPE to Q and K (see [`BlockLayout::no_rope_every`]).
    pub fn uses_rope(&self, il: u64) -> bool {
        self.no_rope_every == 0 || !(il + 1).is_multiple_of(self.no_rope_every)
    }

    /// Llama's block: RMSNorm, separate bias-free Q/K/V, SwiGLU, permuted Q/K rows. Other entries
    /// of the table are written as changes to it.
    pub const LLAMA: BlockLayout = BlockLayout {
        norm: NormKind::Rms,
        norm_plus_one: false,
        qkv: QkvLayout::Separate { bias: false },
        ffn: FfnLayout::GateUp,
        activation: Activation::Silu,
        qk_norm: false,
        no_rope_every: 0,
        parallel_block: false,
        post_norms: false,
        embd_scale: false,
        out_biases: false,
        output_bias: false,
        swa: SwaPattern::None,
        swa_rope_base: false,
        logit_softcap: false,
        attn_softcap: false,
        rope_permuted: true,
        scale_q: false,
        attn_scale_embd_layers: 0,
        ffn_residual_first: false,
        moe: None,
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swa_period_is_llama_cpp_set_swa_pattern() {
        // llama.cpp's set_swa_pattern(n): il % n < n - 1 slides; transformers' default
        // layer_types for sliding_window_pattern 6 agree ((i + 1) % 6 != 0 slides)
        let gemma3 = SwaPattern::Period { period: 6, default_window: 0 };
        let sliding: Vec<bool> = (0..12).map(|il| gemma3.is_swa(il, Some(512))).collect();
        let hf: Vec<bool> = (0..12u64).map(|i| (i + 1) % 6 != 0).collect();
        assert_eq!(sliding, hf);
        let gemma2 = SwaPattern::Period { period: 2, default_window: 4096 };
        assert_eq!((0..4).map(|il| gemma2.is_swa(il, Some(4096))).collect::<Vec<_>>(), [true, false, true, false]);
        // without a window key: gemma2's loader defaults to 4096, gemma3's runs every layer global
        assert_eq!(gemma2.window(None), Some(4096));
        assert_eq!(gemma3.window(None), None);
        assert!(!gemma3.is_swa(0, gemma3.window(None)));
        assert_eq!(gemma3.window(Some(16)), Some(16));
        assert_eq!(SwaPattern::None.window(Some(16)), None);
    }
}
