//! A model's hyper-parameters, as far as memory is concerned: what llama.cpp reads from GGUF
//! metadata (`{arch}.block_count`, `{arch}.attention.head_count_kv`, …) or what the converter
//! derives from the HF `config.json` fields.

use super::error::PlanError;
use gguf::arch::{self, ArchSpec, HfConfig};

/// Most repeating layers `plan` accepts (the largest published models have under 200).
pub const MAX_LAYERS: u64 = 4096;

/// Largest width (embedding, heads, head size, FFN, vocabulary) `plan` accepts.
pub const MAX_WIDTH: u64 = 1 << 24;

/// The hyper-parameters that decide a model's weights, KV cache and compute buffer.
#[derive(Debug, Clone)]
pub struct ModelShape {
    /// The architecture.
    pub arch: &'static ArchSpec,
    /// `{arch}.block_count` / HF `num_hidden_layers`.
    pub n_layer: u64,
    /// `{arch}.embedding_length` / HF `hidden_size`.
    pub n_embd: u64,
    /// `{arch}.attention.head_count` / HF `num_attention_heads`.
    pub n_head: u64,
    /// `{arch}.attention.head_count_kv` / HF `num_key_value_heads` (default: `n_head`).
    pub n_head_kv: u64,
    /// `{arch}.attention.key_length` / HF `head_dim` (default: `n_embd / n_head`).
    pub head_dim_k: u64,
    /// `{arch}.attention.value_length` (default: `head_dim_k`).
    pub head_dim_v: u64,
    /// `{arch}.feed_forward_length` / HF `intermediate_size`.
    pub n_ff: u64,
    /// Rows of `token_embd` / HF `vocab_size`.
    pub n_vocab: u64,
    /// `{arch}.context_length` / HF `max_position_embeddings`.
    pub n_ctx_train: u64,
    /// `{arch}.attention.sliding_window` / HF `sliding_window`, for architectures with SWA layers.
    pub n_swa: Option<u64>,
    /// `{arch}.expert_count` / HF `num_experts` (0: a dense FFN).
    pub n_expert: u64,
    /// `{arch}.expert_used_count` / HF `num_experts_per_tok`.
    pub n_expert_used: u64,
    /// `{arch}.expert_feed_forward_length` / HF `moe_intermediate_size`.
    pub n_ff_exp: u64,
}

impl ModelShape {
    /// `n_embd_k_gqa`: K elements per token and layer.
    pub fn n_embd_k_gqa(&self) -> u64 {
        self.head_dim_k * self.n_head_kv
    }

    /// `n_embd_v_gqa`: V elements per token and layer.
    pub fn n_embd_v_gqa(&self) -> u64 {
        self.head_dim_v * self.n_head_kv
    }

    /// Whether layer `il` uses the sliding-window KV cache (llama.cpp's `hparams.is_swa(il)`).
    pub fn is_swa(&self, il: u64) -> bool {
        self.arch.layout.swa.is_swa(il, self.n_swa)
    }

    /// Reads the shape from an HF `config.json`, read once with its config class's defaults
    /// ([`gguf::arch::HfConfig`], as for `convert`). `source` names the file for error messages.
    pub fn from_hf_config(config: &HfConfig, source: &str) -> Result<ModelShape, PlanError> {
        let f = &config.typed;
        let model_type =
            f.model_type.as_deref().ok_or_else(|| PlanError::MissingField { file: source.to_string(), field: "model_type".into() })?;
        let arch = arch::by_hf_model_type(model_type).ok_or_else(|| PlanError::UnsupportedArch {
            file: source.to_string(),
            arch: model_type.to_string(),
            supported: arch::ARCHITECTURES.iter().flat_map(|a| a.hf_model_types.iter().copied()).collect::<Vec<_>>().join(", "),
        })?;
        let missing = |field: &str| PlanError::MissingField { file: source.to_string(), field: field.into() };
        let need = |v: Option<u64>, name: &str| v.filter(|&v| v > 0).ok_or_else(|| missing(name));
        let n_layer = need(f.num_hidden_layers, "num_hidden_layers")?;
        let n_embd = need(f.hidden_size, "hidden_size")?;
        let n_head = need(f.num_attention_heads, "num_attention_heads")?;
        let n_head_kv = f.num_key_value_heads.filter(|&v| v > 0).unwrap_or(n_head);
        let head_dim = match f.head_dim.filter(|&v| v > 0) {
            Some(d) => d,
            None => {
                if n_embd % n_head != 0 {
                    return Err(PlanError::Inconsistent {
                        file: source.to_string(),
                        what: format!("hidden_size {n_embd} is not a multiple of num_attention_heads {n_head}"),
                    });
                }
                n_embd / n_head
            }
        };
        let n_ff = need(f.intermediate_size, "intermediate_size")?;
        let n_vocab = need(f.vocab_size, "vocab_size")?;
        let n_ctx_train = need(f.max_position_embeddings, "max_position_embeddings")?;
        // the config class fills `sliding_window` in (Gemma2Config's and Gemma3TextConfig's 4096),
        // and the converter writes it
        let n_swa = arch.layout.swa.window(f.sliding_window);
        // the converter's `find_hparam` lists of the expert keys
        let first = |names: &[&str]| {
            config.u64_opt(names).map_err(|e| PlanError::Config { file: source.to_string(), source: e }).map(|v| v.filter(|&v| v > 0))
        };
        let need_any = |names: &[&str]| first(names)?.ok_or_else(|| missing(&names.join(" or ")));
        let (n_expert, n_expert_used, n_ff_exp) = match arch.layout.moe {
            Some(_) => (
                need_any(gguf::arch::EXPERT_COUNT_FIELDS)?,
                need_any(gguf::arch::EXPERT_USED_FIELDS)?,
                need(f.moe_intermediate_size, "moe_intermediate_size")?,
            ),
            None => (first(gguf::arch::EXPERT_COUNT_FIELDS)?.unwrap_or(0), 0, 0),
        };
        Ok(ModelShape {
            arch,
            n_layer,
            n_embd,
            n_head,
            n_head_kv,
            head_dim_k: head_dim,
            head_dim_v: head_dim,
            n_ff,
            n_vocab,
            n_ctx_train,
            n_swa,
            n_expert,
            n_expert_used,
            n_ff_exp,
        })
    }

    /// Checks the hyper-parameters against each other (GQA head counts) and against sane bounds
    /// (`plan` builds per-layer tables and a per-layer graph: at most [`MAX_LAYERS`] layers, and
    /// widths up to [`MAX_WIDTH`] keep every product within `u64`).
    pub fn check(&self, source: &str) -> Result<(), PlanError> {
        let widths = [
            ("embedding length", self.n_embd),
            ("head count", self.n_head),
            ("KV head count", self.n_head_kv),
            ("key length", self.head_dim_k),
            ("value length", self.head_dim_v),
            ("feed-forward length", self.n_ff),
            ("vocabulary size", self.n_vocab),
            ("expert count", self.n_expert),
            ("expert feed-forward length", self.n_ff_exp),
        ];
        for (what, v) in widths {
            if v > MAX_WIDTH {
                return Err(PlanError::Inconsistent { file: source.to_string(), what: format!("{what} {v} is larger than {MAX_WIDTH}") });
            }
        }
        if self.n_layer > MAX_LAYERS {
            return Err(PlanError::Inconsistent {
                file: source.to_string(),
                what: format!("{} layers; plan supports at most {MAX_LAYERS}", self.n_layer),
            });
        }
        if self.n_expert_used > self.n_expert {
            return Err(PlanError::Inconsistent {
                file: source.to_string(),
                what: format!("{} experts used per token, of {} experts", self.n_expert_used, self.n_expert),
            });
        }
        if self.n_head_kv == 0 || !self.n_head.is_multiple_of(self.n_head_kv) {
            return Err(PlanError::Inconsistent {
                file: source.to_string(),
                what: format!("head count {} is not a multiple of KV head count {}", self.n_head, self.n_head_kv),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(layers: u64, hidden: u64) -> HfConfig {
        HfConfig::new(serde_json::json!({
            "model_type": "llama", "num_hidden_layers": layers, "hidden_size": hidden,
            "num_attention_heads": 8, "intermediate_size": 1024, "vocab_size": 1000,
            "max_position_embeddings": 2048
        }))
        .expect("config")
    }

    #[test]
    fn absurd_sizes_are_refused_before_anything_is_built() {
        let ok = ModelShape::from_hf_config(&config(4, 512), "c").expect("parses");
        assert!(ok.check("c").is_ok());
        let many = ModelShape::from_hf_config(&config(1 << 40, 512), "c").expect("parses");
        assert!(matches!(many.check("c"), Err(PlanError::Inconsistent { .. })));
        let wide = ModelShape::from_hf_config(&config(4, 8 << 40), "c").expect("parses");
        assert!(matches!(wide.check("c"), Err(PlanError::Inconsistent { .. })));
    }
}
