//! The defaults a Hugging Face config class fills in (transformers 4.57.6, the reference venv's
//! version), as data: each [`super::ArchSpec`] lists its classes; `src/arch/config_defaults.rs`
//! applies them as `AutoConfig.from_pretrained(dir).to_dict()` does for the pinned converter.

/// How a config class fills a field that `config.json` lacks.
#[derive(Debug, Clone, Copy)]
pub enum Fill {
    /// A constant default: applied when the field is absent (an explicit `null` stays).
    Int(u64),
    /// A constant number.
    Float(f64),
    /// A constant boolean.
    Bool(bool),
    /// A constant string.
    Str(&'static str),
    /// `None`: the field is present and `null`.
    Null,
    /// `hidden_size // num_attention_heads`, also replacing an explicit `null`.
    HiddenPerHead,
    /// `num_attention_heads`, also replacing an explicit `null`.
    AttentionHeads,
}

/// One config class: its `model_type` and its defaults, in `__init__` order.
#[derive(Debug)]
pub struct ConfigClass {
    /// `model_type` in `config.json` (AutoConfig's key).
    pub model_type: &'static str,
    /// Field defaults.
    pub defaults: &'static [(&'static str, Fill)],
}
