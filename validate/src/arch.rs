//! The model families we can evaluate: how the block is built comes from the one architecture
//! table ([`gguf::arch`], [`ArchInfo::layout`]); what is still here is how tensors are named in
//! Hugging Face checkpoints (to be folded into that table's tensor map, issue 11).

/// A model family with a forward pass here (the table's [`gguf::arch::Family`]).
pub use gguf::arch::Family as Arch;
pub use gguf::arch::{Activation, BlockLayout, NormKind};

/// How one architecture is named in HF checkpoints.
#[derive(Debug)]
pub struct ArchInfo {
    /// The family.
    pub arch: Arch,
    /// `general.architecture` in GGUF: its entry of [`gguf::arch::ARCHITECTURES`].
    pub gguf_name: &'static str,
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
        hf_layer_names: LLAMA_LAYER,
        hf_global_names: COMMON_GLOBAL,
    },
    ArchInfo {
        arch: Arch::Qwen2,
        gguf_name: "qwen2",
        hf_layer_names: LLAMA_LAYER,
        hf_global_names: COMMON_GLOBAL,
    },
    ArchInfo {
        arch: Arch::Phi3,
        gguf_name: "phi3",
        hf_layer_names: PHI3_LAYER,
        hf_global_names: COMMON_GLOBAL,
    },
    ArchInfo {
        arch: Arch::Phi2,
        gguf_name: "phi2",
        hf_layer_names: PHI2_LAYER,
        hf_global_names: PHI2_GLOBAL,
    },
    ArchInfo {
        arch: Arch::Gemma,
        gguf_name: "gemma",
        hf_layer_names: LLAMA_LAYER,
        hf_global_names: COMMON_GLOBAL,
    },
    ArchInfo {
        arch: Arch::Gemma2,
        gguf_name: "gemma2",
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
    by_gguf_name(gguf::arch::by_hf_model_type(model_type)?.gguf_name)
}

/// The names we accept, for error messages.
pub fn supported_names() -> String {
    ARCHITECTURES.iter().map(|a| a.gguf_name).collect::<Vec<_>>().join(", ")
}

impl ArchInfo {
    /// This architecture's entry of the one table.
    pub fn spec(&self) -> &'static gguf::arch::ArchSpec {
        // every entry here has one there: checked by the test `every_family_is_in_the_table`
        gguf::arch::by_gguf_name(self.gguf_name).unwrap_or(&gguf::arch::ARCHITECTURES[0])
    }

    /// How its block is built.
    pub fn layout(&self) -> &'static BlockLayout {
        &self.spec().layout
    }

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
    fn every_family_is_in_the_table() {
        for a in ARCHITECTURES {
            assert_eq!(gguf::arch::by_gguf_name(a.gguf_name).map(|s| s.gguf_name), Some(a.gguf_name));
        }
    }

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
