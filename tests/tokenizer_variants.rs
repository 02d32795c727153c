//! Tokenizer paths the fixture models do not take as they are: each test copies a fixture's
//! config and tokenizer files, changes one thing, and checks that our `tokenizer.*` keys equal
//! the pinned converter's (`--vocab-only`, read back with gguf-py) for that folder.

use crate::common;
use crate::tokenizer_util;

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value as Json};
use tokenizer_util::{assert_same, ours, ours_via_gguf, reference};

/// Copies the config and tokenizer files of a fixture model (not the weights) into `to`.
fn copy_model(name: &str, to: &Path) {
    for entry in std::fs::read_dir(common::fixture_model(name)).unwrap() {
        let p = entry.unwrap().path();
        let file = p.file_name().unwrap().to_str().unwrap().to_owned();
        let wanted = file.ends_with(".json") || file.ends_with(".model") || file.ends_with(".txt");
        if wanted && !file.starts_with("model.safetensors") {
            std::fs::copy(&p, to.join(&file)).unwrap();
        }
    }
}

fn edit_json(path: &Path, edit: impl FnOnce(&mut Json)) {
    let mut v: Json = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    edit(&mut v);
    std::fs::write(path, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
}

/// The converter on `dir` (vocab only), through tests/py/convert_with_pre.py when `pre` is given
/// (for byte-level BPE vocabularies whose hash the converter does not list).
fn reference_of(dir: &Path, pre: Option<&str>) -> Json {
    let out = dir.join("ref-vocab.gguf");
    let mut cmd = Command::new(common::ref_python());
    match pre {
        Some(pre) => cmd.arg(common::repo_root().join("tests/py/convert_with_pre.py")).arg(common::ref_llama_src()).arg(pre),
        None => cmd.arg(common::ref_llama_src().join("convert_hf_to_gguf.py")),
    };
    common::run(cmd.arg(dir).arg("--vocab-only").arg("--outfile").arg(&out));
    let r = reference(&out);
    std::fs::remove_file(&out).unwrap();
    r
}

fn check(name: &str, base: &str, pre: Option<&str>, edit: impl FnOnce(&Path)) -> Json {
    let tmp = tempfile::tempdir().unwrap();
    copy_model(base, tmp.path());
    edit(tmp.path());
    let r = reference_of(tmp.path(), pre);
    assert_same(name, &r, &ours(tmp.path()));
    assert_same(&format!("{name} (written GGUF)"), &r, &ours_via_gguf(tmp.path()));
    r
}

fn value<'a>(kv: &'a Json, key: &str) -> Option<&'a Json> {
    kv.as_array().unwrap().iter().find(|e| e["key"] == key).map(|e| &e["value"])
}

/// GemmaModel (v1): CodeGemma special ids of which only eot (107) has a gguf-py handler.
#[test]
fn gemma_v1_writes_eot_107() {
    let r = check("gemma", "tiny-gemma2", None, |d| {
        edit_json(&d.join("config.json"), |c| {
            c["architectures"] = json!(["GemmaForCausalLM"]);
            c["model_type"] = json!("gemma");
        })
    });
    assert_eq!(value(&r, "tokenizer.ggml.eot_token_id"), Some(&json!(107)));
}

/// CodeLlama (vocab_size 32016): SentencePiece vocabulary padded with `[PAD{id}]`, eot 32010.
#[test]
fn codellama_vocab_padding_and_eot() {
    let r = check("codellama", "tiny-llama", None, |d| edit_json(&d.join("config.json"), |c| c["vocab_size"] = json!(32016)));
    assert_eq!(value(&r, "tokenizer.ggml.tokens").unwrap().as_array().unwrap().len(), 32016);
    assert_eq!(value(&r, "tokenizer.ggml.eot_token_id"), Some(&json!(32010)));
}

/// Byte-level BPE padded to a config vocab_size larger than the tokenizer.
#[test]
fn bpe_vocab_padding() {
    let r = check("qwen2 padded", "tiny-qwen2", Some("qwen2"), |d| edit_json(&d.join("config.json"), |c| c["vocab_size"] = json!(4103)));
    assert_eq!(value(&r, "tokenizer.ggml.tokens").unwrap()[4102], json!("[PAD4102]"));
}

/// Phi-2 (PhiForCausalLM): GPT-2 BPE, `add_bos_token = false` written with the model parameters.
#[test]
fn phi2_bpe_add_bos_false() {
    check("phi2", "tiny-qwen2", Some("qwen2"), |d| {
        edit_json(&d.join("config.json"), |c| {
            c["architectures"] = json!(["PhiForCausalLM"]);
            c["model_type"] = json!("phi");
            c["layer_norm_eps"] = json!(1e-5);
            c["partial_rotary_factor"] = json!(0.5);
            c["rope_parameters"]["partial_rotary_factor"] = json!(0.5);
        });
        // Exercise the tokenizer_config value being overwritten by the constant.
        edit_json(&d.join("tokenizer_config.json"), |t| t["add_bos_token"] = json!(true));
    });
}

/// Added tokens over SentencePiece pieces (llama): added_tokens.json, tokenizer_config.json
/// added_tokens_decoder with special, looks-special and user-defined (`▁` → space) tokens, an
/// out-of-range id; a TemplateProcessing that appends EOS.
#[test]
fn llama_added_tokens_and_template_eos() {
    check("llama added tokens", "tiny-llama", None, |d| {
        std::fs::write(d.join("added_tokens.json"), r#"{"<extra_a>": 10, "<far>": 99999}"#).unwrap();
        edit_json(&d.join("tokenizer_config.json"), |t| {
            let dec = t["added_tokens_decoder"].as_object_mut().unwrap();
            for (id, content, special) in
                [("11", "<|user|>", false), ("12", "\u{2581}hello\u{2581}world", false), ("13", "<tool>", true), ("50000", "<gone>", true)]
            {
                dec.insert(
                    id.into(),
                    json!({"content": content, "lstrip": false, "normalized": false, "rstrip": false, "single_word": false, "special": special}),
                );
            }
            t["add_eos_token"] = json!(true);
        });
        edit_json(&d.join("tokenizer.json"), |t| {
            t["post_processor"]["single"] = json!([
                {"SpecialToken": {"id": "<s>", "type_id": 0}},
                {"Sequence": {"id": "A", "type_id": 0}},
                {"SpecialToken": {"id": "</s>", "type_id": 0}}
            ]);
        });
    });
}

/// Phi-3's own SentencePiece variant: tokenizer.json added_tokens override pieces; only
/// `special` makes a token CONTROL.
#[test]
fn phi3_added_tokens() {
    check("phi3 added tokens", "tiny-phi3", None, |d| {
        edit_json(&d.join("tokenizer.json"), |t| {
            let list = t["added_tokens"].as_array_mut().unwrap();
            list.push(json!({"id": 20, "content": "<|end|>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}));
            list.push(json!({"id": 21, "content": "<|placeholder|>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": false}));
        });
    });
}

/// Chat templates: the named-list form in tokenizer_config.json, and chat_template.jinja when
/// tokenizer_config.json has none.
#[test]
fn chat_template_forms() {
    let r = check("named chat templates", "tiny-qwen2", Some("qwen2"), |d| {
        edit_json(&d.join("tokenizer_config.json"), |t| {
            t["chat_template"] = json!([
                {"name": "default", "template": "{{ messages }}"},
                {"name": "tool-use", "template": "{{ tools }}"}
            ]);
        })
    });
    assert_eq!(value(&r, "tokenizer.chat_template.tool_use"), Some(&json!("{{ tools }}")));
    check("chat_template.jinja", "tiny-gemma2", None, |d| {
        edit_json(&d.join("tokenizer_config.json"), |t| {
            t.as_object_mut().unwrap().remove("chat_template");
        });
        std::fs::write(d.join("chat_template.jinja"), "{% for m in messages %}{{ m['content'] }}{% endfor %}\n").unwrap();
    });
}

/// merges.txt instead of merges inside tokenizer.json; eos from config.json only.
#[test]
fn merges_txt_and_config_ids() {
    check("merges.txt", "tiny-qwen2", Some("qwen2"), |d| {
        edit_json(&d.join("tokenizer.json"), |t| {
            t["model"]["merges"] = json!([]);
        });
        edit_json(&d.join("config.json"), |c| c["eos_token_id"] = json!(2));
        edit_json(&d.join("tokenizer_config.json"), |t| {
            t.as_object_mut().unwrap().remove("eos_token");
        });
    });
}

/// A llama model with a SentencePiece-style BPE tokenizer.json (byte fallback) and no
/// tokenizer.model: the converter's LlamaHfVocab path (`llama` model, scores -1000, base
/// vocabulary then added tokens past it, no padding).
#[test]
fn llama_hf_bpe_without_tokenizer_model() {
    check("llama hf vocab", "tiny-llama", None, |d| {
        std::fs::remove_file(d.join("tokenizer.model")).unwrap();
        edit_json(&d.join("tokenizer_config.json"), |t| {
            // LlamaTokenizer would need tokenizer.model to load at all.
            t["tokenizer_class"] = json!("PreTrainedTokenizerFast");
            t["additional_special_tokens"] = json!(["<|tool|>"]);
        });
        edit_json(&d.join("tokenizer.json"), |t| {
            let list = t["added_tokens"].as_array_mut().unwrap();
            for (id, content, special) in [(4096, "<|tool|>", true), (4097, "<extra>", false)] {
                list.push(json!({"id": id, "content": content, "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": special}));
            }
        });
        edit_json(&d.join("config.json"), |c| c["vocab_size"] = json!(4098));
    });
}

/// Named special tokens that are not added tokens of tokenizer.json: transformers adds them (a
/// model-vocabulary token keeps its id, a new one gets the next id), so the converter writes them
/// CONTROL, byte-level decoded ("Ġthe" → " the").
#[test]
fn bpe_named_special_tokens_become_added() {
    let r = check("named specials", "tiny-qwen2", Some("qwen2"), |d| {
        edit_json(&d.join("tokenizer_config.json"), |t| {
            t["additional_special_tokens"].as_array_mut().unwrap().extend([json!("\u{120}the"), json!("<|new|>")]);
        });
        edit_json(&d.join("config.json"), |c| c["vocab_size"] = json!(4100));
    });
    let tokens = value(&r, "tokenizer.ggml.tokens").unwrap();
    assert_eq!(tokens[4096], json!("<|new|>"));
    assert!(tokens.as_array().unwrap().contains(&json!(" the")));
}
