//! The defaults of each supported Hugging Face config class, as transformers 4.57.6 (the version
//! of the reference venv) fills them in.
//!
//! The pinned converter reads `config.json` through `AutoConfig.from_pretrained(dir).to_dict()`
//! (`conversion/base.py` `load_hparams`), so a field missing from the file is present in its
//! hyper-parameters with the config class's default — e.g. `head_dim = hidden_size /
//! num_attention_heads` for `LlamaConfig`, which makes it write `llama.attention.key_length`.
//! [`apply`] fills the same fields into the raw file's fields, keyed by `model_type` (the key
//! `AutoConfig` dispatches on). An unknown or missing `model_type` gets no defaults: `AutoConfig`
//! fails there and the converter falls back to the raw file, as we do.
//!
//! The sizes that shape the tensors (`vocab_size`, `hidden_size`, `intermediate_size`,
//! `num_hidden_layers`, `num_attention_heads`) are left out on purpose: transformers would fill
//! in e.g. Llama-7B's 4096 and the converter would then fail on the first tensor; a config without
//! them is refused up front ("missing field hidden_size"), which is what a user needs to hear.
//!
//! Checked against the pinned converter (which asks transformers) by
//! `tests/convert_crosscheck.rs` `stripped_configs_match_reference_converter`, which converts every
//! fixture with its `config.json` stripped to the fields that shape its tensors.

pub use gguf::arch::config_class::apply;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Map, Value as Json};

    fn fields(json: &str) -> Map<String, Json> {
        serde_json::from_str(json).expect("json")
    }

    #[test]
    fn llama_derives_head_dim_and_kv_heads() {
        let mut f = fields(r#"{"model_type":"llama","hidden_size":96,"num_attention_heads":6,"num_key_value_heads":null}"#);
        apply(&mut f);
        assert_eq!(f["head_dim"], Json::from(16));
        assert_eq!(f["num_key_value_heads"], Json::from(6));
        assert_eq!(f["max_position_embeddings"], Json::from(2048));
        assert_eq!(f["rope_scaling"], Json::Null);
    }

    #[test]
    fn explicit_values_and_nulls_stay() {
        let mut f = fields(r#"{"model_type":"mistral","hidden_size":96,"num_attention_heads":6,"sliding_window":null,"rope_theta":5e5}"#);
        apply(&mut f);
        assert_eq!(f["head_dim"], Json::Null);
        assert_eq!(f["sliding_window"], Json::Null);
        assert_eq!(f["rope_theta"], Json::from(5e5));
    }

    #[test]
    fn unknown_model_type_gets_nothing() {
        let mut f = fields(r#"{"model_type":"not-a-model","hidden_size":96}"#);
        apply(&mut f);
        assert_eq!(f.len(), 2);
    }
}
