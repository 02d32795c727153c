//! [`ARCHITECTURES`]: every architecture ggufkit supports, declared once.

use super::config_class::{ConfigClass, Fill::*, HfSlidingWindow};
use super::converter::ConverterClass;
use super::layout::{Activation, BlockLayout, FfnLayout, MoeLayout, NormKind, QkvLayout, SwaPattern};
use super::tensors::{self, Dim, TensorKind, TensorRule, Transform, LLAMA_BLOCK, MOE_BLOCK};
use super::vocab::VocabRecipe;

/// One supported architecture.
#[derive(Debug)]
pub struct ArchSpec {
    /// GGUF `general.architecture` (llama.cpp's `LLM_ARCH_*` name).
    pub gguf_name: &'static str,
    /// HF `architectures[0]` classes the pinned converter maps to it.
    pub hf_architectures: &'static [&'static str],
    /// HF `model_type` values of those checkpoints.
    pub hf_model_types: &'static [&'static str],
    /// How the converter builds its vocabulary (its class's `set_vocab`).
    pub vocab: &'static VocabRecipe,
    /// The transformer block.
    pub layout: BlockLayout,
    /// Hugging Face tensor → GGUF tensor.
    pub tensors: &'static [TensorRule],
    /// Hugging Face tensor names (exact) that the converter drops.
    pub skip: &'static [&'static str],
    /// Default of `tie_word_embeddings` when the config omits it (the config class's default).
    pub tied_default: bool,
    /// The converter class that writes its hyper-parameter keys and computed tensors.
    pub converter: &'static ConverterClass,
    /// The transformers config classes of its `model_type`s, with the defaults they fill in.
    pub config_classes: &'static [ConfigClass],
}

/// Every supported architecture.
pub static ARCHITECTURES: &[ArchSpec] = &[
    ArchSpec {
        gguf_name: "llama",
        hf_architectures: &["LlamaForCausalLM", "LLaMAForCausalLM", "MistralForCausalLM", "LlamaModel"],
        hf_model_types: &["llama", "mistral"],
        vocab: &VocabRecipe::LLAMA,
        layout: BlockLayout::LLAMA,
        tensors: tensors::LLAMA,
        skip: &[],
        tied_default: false,
        converter: &ConverterClass::LLAMA,
        config_classes: &[
            ConfigClass {
                model_type: "llama",
                sliding_window: HfSlidingWindow::Unused,
                defaults: &[
                    ("num_key_value_heads", AttentionHeads),
                    ("hidden_act", Str("silu")),
                    ("max_position_embeddings", Int(2048)),
                    ("initializer_range", Float(0.02)),
                    ("rms_norm_eps", Float(1e-6)),
                    ("pretraining_tp", Int(1)),
                    ("use_cache", Bool(true)),
                    ("tie_word_embeddings", Bool(false)),
                    ("rope_theta", Float(10000.0)),
                    ("rope_scaling", Null),
                    ("attention_bias", Bool(false)),
                    ("attention_dropout", Float(0.0)),
                    ("mlp_bias", Bool(false)),
                    ("head_dim", HiddenPerHead),
                ],
            },
            ConfigClass {
                model_type: "mistral",
                sliding_window: HfSlidingWindow::Always,
                defaults: &[
                    ("num_key_value_heads", Int(8)),
                    // MistralConfig keeps `head_dim = None` (its attention derives the width itself)
                    ("head_dim", Null),
                    ("hidden_act", Str("silu")),
                    ("max_position_embeddings", Int(131072)),
                    ("initializer_range", Float(0.02)),
                    ("rms_norm_eps", Float(1e-6)),
                    ("use_cache", Bool(true)),
                    ("tie_word_embeddings", Bool(false)),
                    ("rope_theta", Float(10000.0)),
                    ("sliding_window", Int(4096)),
                    ("attention_dropout", Float(0.0)),
                ],
            },
        ],
    },
    ArchSpec {
        gguf_name: "qwen2",
        hf_architectures: &["Qwen2ForCausalLM"],
        hf_model_types: &["qwen2"],
        vocab: &VocabRecipe::QWEN2,
        layout: BlockLayout { qkv: QkvLayout::Separate { bias: true }, rope_permuted: false, ..BlockLayout::LLAMA },
        tensors: tensors::QWEN2,
        skip: &[],
        tied_default: false,
        converter: &ConverterClass::TEXT,
        config_classes: &[ConfigClass {
            model_type: "qwen2",
            sliding_window: HfSlidingWindow::WhenFlag { flag: "use_sliding_window", from_layer: "max_window_layers" },
            defaults: &[
                ("num_key_value_heads", Int(32)),
                ("hidden_act", Str("silu")),
                ("max_position_embeddings", Int(32768)),
                ("initializer_range", Float(0.02)),
                ("rms_norm_eps", Float(1e-6)),
                ("use_cache", Bool(true)),
                ("tie_word_embeddings", Bool(false)),
                ("rope_theta", Float(10000.0)),
                ("rope_scaling", Null),
                ("use_sliding_window", Bool(false)),
                ("sliding_window", Null),
                ("max_window_layers", Int(28)),
                ("attention_dropout", Float(0.0)),
            ],
        }],
    },
    ArchSpec {
        gguf_name: "qwen3",
        hf_architectures: &["Qwen3ForCausalLM"],
        hf_model_types: &["qwen3"],
        // `Qwen3Model.set_vocab` is `Qwen2Model`'s
        vocab: &VocabRecipe::QWEN2,
        layout: BlockLayout { qk_norm: true, rope_permuted: false, ..BlockLayout::LLAMA },
        tensors: &tensors::concat::<11, 3, 14>(tensors::QWEN3_ATTN, [LLAMA_BLOCK[6], LLAMA_BLOCK[7], LLAMA_BLOCK[8]]),
        skip: &[],
        tied_default: false,
        converter: &ConverterClass::TEXT,
        config_classes: &[ConfigClass {
            model_type: "qwen3",
            sliding_window: HfSlidingWindow::Unused,
            defaults: &[
                ("max_position_embeddings", Int(32768)),
                ("use_sliding_window", Bool(false)),
                ("sliding_window", Null),
                ("max_window_layers", Int(28)),
                ("num_key_value_heads", Int(32)),
                ("head_dim", Int(128)),
                ("hidden_act", Str("silu")),
                ("initializer_range", Float(0.02)),
                ("rms_norm_eps", Float(1e-6)),
                ("use_cache", Bool(true)),
                ("rope_theta", Float(10000.0)),
                ("rope_scaling", Null),
                ("attention_bias", Bool(false)),
                ("attention_dropout", Float(0.0)),
                ("tie_word_embeddings", Bool(false)),
            ],
        }],
    },
    ArchSpec {
        gguf_name: "smollm3",
        hf_architectures: &["SmolLM3ForCausalLM"],
        hf_model_types: &["smollm3"],
        // `SmolLM3Model` is a `LlamaModel`: its vocabulary path, keys and Q/K permutation
        vocab: &VocabRecipe::LLAMA,
        layout: BlockLayout { no_rope_every: 4, ..BlockLayout::LLAMA },
        tensors: tensors::LLAMA,
        skip: &[],
        tied_default: true,
        converter: &ConverterClass::LLAMA,
        config_classes: &[ConfigClass {
            model_type: "smollm3",
            sliding_window: HfSlidingWindow::Unused,
            defaults: &[
                ("tie_word_embeddings", Bool(true)),
                ("max_position_embeddings", Int(32768)),
                ("mlp_bias", Bool(false)),
                ("use_sliding_window", Bool(false)),
                ("sliding_window", Null),
                ("num_key_value_heads", Int(4)),
                ("hidden_act", Str("silu")),
                ("initializer_range", Float(0.02)),
                ("rms_norm_eps", Float(1e-6)),
                ("use_cache", Bool(true)),
                ("rope_theta", Float(2000000.0)),
                ("rope_scaling", Null),
                ("attention_bias", Bool(false)),
                ("attention_dropout", Float(0.0)),
                ("no_rope_layer_interval", Int(4)),
            ],
        }],
    },
    ArchSpec {
        gguf_name: "phi3",
        hf_architectures: &["Phi3ForCausalLM"],
        hf_model_types: &["phi3"],
        vocab: &VocabRecipe::PHI3,
        layout: BlockLayout {
            qkv: QkvLayout::Fused,
            ffn: FfnLayout::FusedGateUp,
            rope_permuted: false,
            scale_q: true,
            ffn_residual_first: true,
            ..BlockLayout::LLAMA
        },
        tensors: tensors::PHI3,
        skip: &[],
        tied_default: false,
        converter: &ConverterClass::PHI3_MINI,
        config_classes: &[ConfigClass {
            model_type: "phi3",
            sliding_window: HfSlidingWindow::Always,
            defaults: &[
                ("num_key_value_heads", AttentionHeads),
                ("resid_pdrop", Float(0.0)),
                ("embd_pdrop", Float(0.0)),
                ("attention_dropout", Float(0.0)),
                ("hidden_act", Str("silu")),
                ("max_position_embeddings", Int(4096)),
                ("original_max_position_embeddings", Int(4096)),
                ("initializer_range", Float(0.02)),
                ("rms_norm_eps", Float(1e-5)),
                ("use_cache", Bool(true)),
                ("tie_word_embeddings", Bool(false)),
                ("rope_theta", Float(10000.0)),
                ("rope_scaling", Null),
                ("partial_rotary_factor", Float(1.0)),
                ("sliding_window", Null),
            ],
        }],
    },
    ArchSpec {
        gguf_name: "phi2",
        hf_architectures: &["PhiForCausalLM"],
        hf_model_types: &["phi"],
        vocab: &VocabRecipe::PHI2,
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
        tensors: tensors::PHI2,
        skip: &[],
        tied_default: false,
        converter: &ConverterClass::PHI2,
        config_classes: &[ConfigClass {
            model_type: "phi",
            sliding_window: HfSlidingWindow::Unused,
            defaults: &[
                ("num_key_value_heads", AttentionHeads),
                ("resid_pdrop", Float(0.0)),
                ("embd_pdrop", Float(0.0)),
                ("attention_dropout", Float(0.0)),
                ("hidden_act", Str("gelu_new")),
                ("max_position_embeddings", Int(2048)),
                ("initializer_range", Float(0.02)),
                ("layer_norm_eps", Float(1e-5)),
                ("use_cache", Bool(true)),
                ("tie_word_embeddings", Bool(false)),
                ("rope_theta", Float(10000.0)),
                ("rope_scaling", Null),
                ("partial_rotary_factor", Float(0.5)),
                ("qk_layernorm", Bool(false)),
            ],
        }],
    },
    ArchSpec {
        gguf_name: "gemma",
        hf_architectures: &["GemmaForCausalLM"],
        hf_model_types: &["gemma"],
        vocab: &VocabRecipe::GEMMA,
        layout: BlockLayout {
            norm_plus_one: true,
            activation: Activation::GeluTanh,
            embd_scale: true,
            rope_permuted: false,
            scale_q: true,
            ..BlockLayout::LLAMA
        },
        tensors: tensors::GEMMA,
        skip: &["lm_head.weight"],
        tied_default: true,
        converter: &ConverterClass::GEMMA,
        config_classes: &[ConfigClass {
            model_type: "gemma",
            sliding_window: HfSlidingWindow::Unused,
            defaults: &[
                ("num_key_value_heads", Int(16)),
                ("head_dim", Int(256)),
                ("hidden_act", Str("gelu_pytorch_tanh")),
                ("hidden_activation", Null),
                ("max_position_embeddings", Int(8192)),
                ("initializer_range", Float(0.02)),
                ("rms_norm_eps", Float(1e-6)),
                ("use_cache", Bool(true)),
                ("tie_word_embeddings", Bool(true)),
                ("rope_theta", Float(10000.0)),
                ("attention_bias", Bool(false)),
                ("attention_dropout", Float(0.0)),
            ],
        }],
    },
    ArchSpec {
        gguf_name: "gemma2",
        hf_architectures: &["Gemma2ForCausalLM"],
        hf_model_types: &["gemma2"],
        vocab: &VocabRecipe::GEMMA2,
        layout: BlockLayout {
            norm_plus_one: true,
            activation: Activation::GeluTanh,
            embd_scale: true,
            post_norms: true,
            swa: SwaPattern::Period { period: 2, default_window: 4096 },
            logit_softcap: true,
            attn_softcap: true,
            rope_permuted: false,
            scale_q: true,
            attn_scale_embd_layers: 46,
            ..BlockLayout::LLAMA
        },
        tensors: tensors::GEMMA2,
        skip: &["lm_head.weight"],
        tied_default: true,
        converter: &ConverterClass::GEMMA2,
        config_classes: &[ConfigClass {
            model_type: "gemma2",
            sliding_window: HfSlidingWindow::Unused,
            defaults: &[
                ("num_key_value_heads", Int(4)),
                ("head_dim", Int(256)),
                ("hidden_activation", Str("gelu_pytorch_tanh")),
                ("max_position_embeddings", Int(8192)),
                ("initializer_range", Float(0.02)),
                ("rms_norm_eps", Float(1e-6)),
                ("use_cache", Bool(true)),
                ("tie_word_embeddings", Bool(true)),
                ("rope_theta", Float(10000.0)),
                ("attention_bias", Bool(false)),
                ("attention_dropout", Float(0.0)),
                ("query_pre_attn_scalar", Int(256)),
                ("sliding_window", Int(4096)),
                ("final_logit_softcapping", Float(30.0)),
                ("attn_logit_softcapping", Float(50.0)),
            ],
        }],
    },
    ArchSpec {
        gguf_name: "gemma3",
        hf_architectures: &["Gemma3ForCausalLM"],
        hf_model_types: &["gemma3_text"],
        vocab: &VocabRecipe::GEMMA3,
        layout: BlockLayout {
            norm_plus_one: true,
            activation: Activation::GeluTanh,
            qk_norm: true,
            embd_scale: true,
            post_norms: true,
            swa: SwaPattern::Period { period: 6, default_window: 0 },
            swa_rope_base: true,
            rope_permuted: false,
            scale_q: true,
            attn_scale_embd_layers: 62,
            ..BlockLayout::LLAMA
        },
        tensors: &[
            tensors::GEMMA2[0],
            tensors::GEMMA2[1],
            tensors::GEMMA2[2],
            tensors::GEMMA2[3],
            tensors::GEMMA2[4],
            tensors::GEMMA2[5],
            tensors::GEMMA2[6],
            TensorRule::w("model.layers.{bid}.self_attn.q_norm", TensorKind::AttnQNorm, &[Dim::HeadDim]).transform(Transform::AddOne),
            TensorRule::w("model.layers.{bid}.self_attn.k_norm", TensorKind::AttnKNorm, &[Dim::HeadDim]).transform(Transform::AddOne),
            tensors::GEMMA2[7],
            tensors::GEMMA2[8],
            tensors::GEMMA2[9],
            tensors::GEMMA2[10],
            tensors::GEMMA2[11],
            tensors::GEMMA2[12],
        ],
        skip: &[],
        tied_default: true,
        converter: &ConverterClass::GEMMA3,
        config_classes: &[ConfigClass {
            model_type: "gemma3_text",
            sliding_window: HfSlidingWindow::Unused,
            defaults: &[
                ("num_key_value_heads", Int(4)),
                ("head_dim", Int(256)),
                ("hidden_activation", Str("gelu_pytorch_tanh")),
                ("max_position_embeddings", Int(131072)),
                ("initializer_range", Float(0.02)),
                ("rms_norm_eps", Float(1e-6)),
                ("use_cache", Bool(true)),
                ("tie_word_embeddings", Bool(true)),
                ("rope_theta", Float(1000000.0)),
                ("attention_bias", Bool(false)),
                ("attention_dropout", Float(0.0)),
                ("query_pre_attn_scalar", Int(256)),
                ("sliding_window", Int(4096)),
                ("final_logit_softcapping", Null),
                ("attn_logit_softcapping", Null),
                ("rope_scaling", Null),
                ("rope_local_base_freq", Float(10000.0)),
                ("use_bidirectional_attention", Bool(false)),
            ],
        }],
    },
    ArchSpec {
        gguf_name: "qwen3moe",
        hf_architectures: &["Qwen3MoeForCausalLM"],
        hf_model_types: &["qwen3_moe"],
        // `Qwen3MoeModel.set_vocab` is `TextModel`'s (through `Qwen2MoeModel`)
        vocab: &VocabRecipe::TEXT,
        layout: BlockLayout {
            qk_norm: true,
            rope_permuted: false,
            // llama.cpp's qwen3moe graph always renormalises; transformers when `norm_topk_prob`
            moe: Some(MoeLayout { norm_w: true, hf_norm_field: Some("norm_topk_prob") }),
            ..BlockLayout::LLAMA
        },
        tensors: &tensors::concat::<11, 4, 15>(tensors::QWEN3_ATTN, MOE_BLOCK),
        skip: &[],
        tied_default: false,
        converter: &ConverterClass::QWEN2_MOE,
        config_classes: &[ConfigClass {
            model_type: "qwen3_moe",
            sliding_window: HfSlidingWindow::Unused,
            defaults: &[
                ("vocab_size", Int(151936)),
                ("max_position_embeddings", Int(32768)),
                ("hidden_size", Int(2048)),
                ("intermediate_size", Int(6144)),
                ("num_hidden_layers", Int(24)),
                ("num_attention_heads", Int(32)),
                ("use_sliding_window", Bool(false)),
                // `sliding_window if use_sliding_window else None`: unused by the model
                ("sliding_window", Null),
                ("num_key_value_heads", Int(4)),
                ("hidden_act", Str("silu")),
                ("initializer_range", Float(0.02)),
                ("rms_norm_eps", Float(1e-6)),
                ("use_cache", Bool(true)),
                ("rope_theta", Float(10000.0)),
                ("rope_scaling", Null),
                ("attention_bias", Bool(false)),
                ("attention_dropout", Float(0.0)),
                ("decoder_sparse_step", Int(1)),
                ("moe_intermediate_size", Int(768)),
                ("num_experts_per_tok", Int(8)),
                ("num_experts", Int(128)),
                ("norm_topk_prob", Bool(false)),
                ("output_router_logits", Bool(false)),
                ("router_aux_loss_coef", Float(0.001)),
                ("tie_word_embeddings", Bool(false)),
            ],
        }],
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

impl ArchSpec {
    /// The Hugging Face name of a GGUF tensor of this architecture (`blk.3.attn_q.weight` →
    /// `model.layers.3.self_attn.q_proj.weight`), from its tensor map.
    pub fn hf_name(&self, gguf_name: &str) -> Option<String> {
        tensors::hf_name_of(self.tensors, gguf_name)
    }

    /// The GGUF name of a Hugging Face tensor of this architecture (the inverse of
    /// [`ArchSpec::hf_name`]); `None` for a tensor the converter drops or does not know.
    pub fn gguf_name_of(&self, hf_name: &str) -> Option<String> {
        if self.skip.contains(&hf_name) {
            return None;
        }
        tensors::gguf_name_of(self.tensors, hf_name)
    }

    /// The Hugging Face name of expert `xid`'s part of a stacked GGUF tensor of this architecture
    /// (`blk.3.ffn_up_exps.weight`, 5 → `model.layers.3.mlp.experts.5.up_proj.weight`).
    pub fn hf_expert_name(&self, gguf_name: &str, xid: u64) -> Option<String> {
        tensors::hf_expert_name_of(self.tensors, gguf_name, xid)
    }
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
            for c in a.config_classes {
                assert!(a.hf_model_types.contains(&c.model_type), "{}: config class {}", a.gguf_name, c.model_type);
            }
        }
    }
}
