//! The architectures we can evaluate: every entry of the one architecture table ([`gguf::arch`]).
//! How the block is built ([`ArchInfo::layout`]) and how its tensors are named in Hugging Face
//! checkpoints ([`ArchInfo::hf_name`], the table's tensor map) both come from there.

use std::sync::LazyLock;

pub use gguf::arch::{Activation, BlockLayout, FfnLayout, NormKind};

/// An architecture we can evaluate: an entry of the one table.
#[derive(Debug)]
pub struct ArchInfo {
    /// `general.architecture` in GGUF.
    pub gguf_name: &'static str,
    /// Its entry of [`gguf::arch::ARCHITECTURES`].
    pub spec: &'static gguf::arch::ArchSpec,
}

/// Every architecture of the table (each has a forward pass here: the block layout is data).
static ARCHITECTURES: LazyLock<Vec<ArchInfo>> =
    LazyLock::new(|| gguf::arch::ARCHITECTURES.iter().map(|spec| ArchInfo { gguf_name: spec.gguf_name, spec }).collect());

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
        self.spec
    }

    /// How its block is built.
    pub fn layout(&self) -> &'static BlockLayout {
        &self.spec.layout
    }

    /// The HF name of a GGUF tensor name (`blk.3.attn_q.weight` → `model.layers.3.self_attn.q_proj.weight`),
    /// from the table's tensor map.
    pub fn hf_name(&self, gguf_name: &str) -> Option<String> {
        self.spec.hf_name(gguf_name)
    }

    /// The GGUF name of an HF tensor name (the inverse of [`ArchInfo::hf_name`]).
    pub fn gguf_name_of(&self, hf_name: &str) -> Option<String> {
        self.spec.gguf_name_of(hf_name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_of_the_table_is_here() {
        for spec in gguf::arch::ARCHITECTURES {
            assert!(std::ptr::eq(by_gguf_name(spec.gguf_name).map(|a| a.spec).unwrap(), spec));
        }
    }

    #[test]
    fn hf_names_map_layers_and_globals() {
        let gemma2 = by_gguf_name("gemma2").unwrap();
        assert_eq!(gemma2.hf_name("blk.2.ffn_norm.weight").as_deref(), Some("model.layers.2.pre_feedforward_layernorm.weight"));
        assert_eq!(by_gguf_name("phi2").unwrap().hf_name("output_norm.bias").as_deref(), Some("model.final_layernorm.bias"));
        assert_eq!(gemma2.hf_name("blk.0.nonsense.weight"), None);
        assert_eq!(gemma2.gguf_name_of("model.layers.2.pre_feedforward_layernorm.weight").as_deref(), Some("blk.2.ffn_norm.weight"));
        // the converter drops gemma's lm_head (tied): validate reads the embeddings, as llama.cpp does
        assert_eq!(gemma2.gguf_name_of("lm_head.weight"), None);
        assert_eq!(by_gguf_name("qwen2").unwrap().gguf_name_of("lm_head.weight").as_deref(), Some("output.weight"));
        assert_eq!(gemma2.gguf_name_of("model.layers.0.rotary_emb.inv_freq"), None);
    }
}
