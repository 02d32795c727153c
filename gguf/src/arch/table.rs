//! [`ARCHITECTURES`]: every architecture ggufkit supports, declared once.

use super::layout::{Activation, BlockLayout, Family, FfnLayout, NormKind, QkvLayout, SwaPattern};

/// One supported architecture.
#[derive(Debug)]
pub struct ArchSpec {
    /// GGUF `general.architecture` (llama.cpp's `LLM_ARCH_*` name).
    pub gguf_name: &'static str,
    /// HF `architectures[0]` classes the pinned converter maps to it.
    pub hf_architectures: &'static [&'static str],
    /// HF `model_type` values of those checkpoints.
    pub hf_model_types: &'static [&'static str],
    /// The model family.
    pub family: Family,
    /// The transformer block.
    pub layout: BlockLayout,
}

/// Every supported architecture.
pub static ARCHITECTURES: &[ArchSpec] = &[
    ArchSpec {
        gguf_name: "llama",
        hf_architectures: &["LlamaForCausalLM", "LLaMAForCausalLM", "MistralForCausalLM", "LlamaModel"],
        hf_model_types: &["llama", "mistral"],
        family: Family::Llama,
        layout: BlockLayout::LLAMA,
    },
    ArchSpec {
        gguf_name: "qwen2",
        hf_architectures: &["Qwen2ForCausalLM"],
        hf_model_types: &["qwen2"],
        family: Family::Qwen2,
        layout: BlockLayout { qkv: QkvLayout::Separate { bias: true }, rope_permuted: false, ..BlockLayout::LLAMA },
    },
    ArchSpec {
        gguf_name: "phi3",
        hf_architectures: &["Phi3ForCausalLM"],
        hf_model_types: &["phi3"],
        family: Family::Phi3,
        layout: BlockLayout {
            qkv: QkvLayout::Fused,
            ffn: FfnLayout::FusedGateUp,
            rope_permuted: false,
            scale_q: true,
            ffn_residual_first: true,
            ..BlockLayout::LLAMA
        },
    },
    ArchSpec {
        gguf_name: "phi2",
        hf_architectures: &["PhiForCausalLM"],
        hf_model_types: &["phi"],
        family: Family::Phi2,
        layout: BlockLayout {
            norm: NormKind::Layer,
            qkv: QkvLayout::Separate { bias: true },
            ffn: FfnLayout::UpOnly,
            activation: Activation::GeluTanh,
            parallel_block: true,
            out_biases: true,
            output_bias: true,
            rope_permuted: false,
            scale_q: true,
            ..BlockLayout::LLAMA
        },
    },
    ArchSpec {
        gguf_name: "gemma",
        hf_architectures: &["GemmaForCausalLM"],
        hf_model_types: &["gemma"],
        family: Family::Gemma,
        layout: BlockLayout {
            norm_plus_one: true,
            activation: Activation::GeluTanh,
            embd_scale: true,
            rope_permuted: false,
            scale_q: true,
            ..BlockLayout::LLAMA
        },
    },
    ArchSpec {
        gguf_name: "gemma2",
        hf_architectures: &["Gemma2ForCausalLM"],
        hf_model_types: &["gemma2"],
        family: Family::Gemma2,
        layout: BlockLayout {
            norm_plus_one: true,
            activation: Activation::GeluTanh,
            embd_scale: true,
            post_norms: true,
            swa: SwaPattern::EvenLayers,
            logit_softcap: true,
            attn_softcap: true,
            rope_permuted: false,
            scale_q: true,
            ..BlockLayout::LLAMA
        },
    },
];

/// The architecture with this GGUF `general.architecture`.
pub fn by_gguf_name(name: &str) -> Option<&'static ArchSpec> {
    ARCHITECTURES.iter().find(|a| a.gguf_name == name)
}

/// The architecture of this HF `model_type`.
pub fn by_hf_model_type(model_type: &str) -> Option<&'static ArchSpec> {
    ARCHITECTURES.iter().find(|a| a.hf_model_types.contains(&model_type))
}

/// The architecture of this HF `architectures[0]` class.
pub fn by_hf_architecture(class: &str) -> Option<&'static ArchSpec> {
    ARCHITECTURES.iter().find(|a| a.hf_architectures.contains(&class))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_lookups_agree() {
        for (i, a) in ARCHITECTURES.iter().enumerate() {
            assert!(ARCHITECTURES[i + 1..].iter().all(|b| b.gguf_name != a.gguf_name), "{}", a.gguf_name);
            assert!(std::ptr::eq(by_gguf_name(a.gguf_name).unwrap(), a));
            for t in a.hf_model_types {
                assert!(std::ptr::eq(by_hf_model_type(t).unwrap(), a), "{t}");
            }
            for c in a.hf_architectures {
                assert!(std::ptr::eq(by_hf_architecture(c).unwrap(), a), "{c}");
            }
        }
    }
}
