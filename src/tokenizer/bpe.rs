//! Byte-level BPE `tokenizer.json`: the vocabulary (model vocab plus added tokens) and token types
//! the pinned converter's `get_vocab_base` builds through transformers' `AutoTokenizer`, and the
//! test that sends a llama model without `tokenizer.model` to `LlamaHfVocab` or to GPT-2 BPE.
//! Merges are read with the special tokens ([`super::special`]).

use std::collections::HashMap;
use std::path::Path;

use serde_json::Value as Json;

use super::sentencepiece::json_id;
use super::special::{does_token_look_special, truthy, TokenizerConfig};
use super::{TokenType, TokenizerError, Vocab, MAX_VOCAB};

/// One added token (`tokenizer.json` `added_tokens`, completed by tokenizer_config.json
/// `added_tokens_decoder`).
#[derive(Debug, Clone)]
struct Added {
    content: String,
    special: bool,
}

fn invalid(path: &Path, what: impl Into<String>) -> TokenizerError {
    TokenizerError::Invalid { path: path.to_path_buf(), what: what.into() }
}

/// `tokenizer.json` `model`, checked to be BPE.
fn bpe_model<'a>(tj: &'a Json, path: &Path) -> Result<&'a serde_json::Map<String, Json>, TokenizerError> {
    let model = tj.get("model").and_then(|m| m.as_object()).ok_or_else(|| invalid(path, "no \"model\" object"))?;
    match model.get("type").and_then(|t| t.as_str()) {
        Some("BPE") => Ok(model),
        // The "type" field is optional in tokenizers' serialization of BPE; merges mark it.
        None if model.contains_key("merges") => Ok(model),
        other => Err(invalid(path, format!("model type is {other:?}, expected \"BPE\" for a byte-level BPE tokenizer"))),
    }
}

/// `LlamaHfVocab`'s pre-check on a llama model without `tokenizer.model`: true when it would take
/// that path (SentencePiece-style BPE with byte fallback and a Sequence decoder, not Llama 3).
pub fn is_llama_hf_bpe(tj: &Json) -> bool {
    let Some(model) = tj.get("model") else { return false };
    let is_bpe = model.get("type").and_then(|t| t.as_str()) == Some("BPE");
    let flag = |k: &str, default: bool| model.get(k).map_or(default, truthy);
    let is_llama3 = is_bpe && flag("ignore_merges", false) && !flag("byte_fallback", true);
    if is_llama3 {
        return false;
    }
    let decoder_seq = tj.get("decoder").and_then(|d| d.get("type")).and_then(|t| t.as_str()) == Some("Sequence");
    is_bpe && flag("byte_fallback", false) && decoder_seq
}

/// The GPT-2 BPE vocabulary as `get_vocab_base` builds it: `vocab_size` tokens (config
/// `vocab_size`, else the tokenizer's size), ids without a token as `[PAD{id}]` UNUSED, added
/// tokens CONTROL when special or looking special, else USER_DEFINED (with `▁` → space), the rest
/// NORMAL. No scores.
pub fn vocab(model_dir: &Path, tj: &Json, config_vocab_size: Option<u64>) -> Result<Vocab, TokenizerError> {
    let path = model_dir.join("tokenizer.json");
    let model = bpe_model(tj, &path)?;
    let model_vocab = model.get("vocab").and_then(|v| v.as_object()).ok_or_else(|| invalid(&path, "model.vocab is not an object"))?;

    // transformers' get_vocab(): the model vocabulary, then the added tokens (which override).
    let mut vocab: HashMap<String, usize> = HashMap::with_capacity(model_vocab.len());
    for (tok, id) in model_vocab {
        let id = json_id(id).ok_or_else(|| invalid(&path, format!("model.vocab[{tok:?}] is not a token id: {id}")))?;
        vocab.insert(tok.clone(), id);
    }
    let mut added: HashMap<usize, Added> = HashMap::new();
    let mut added_by_content: HashMap<String, usize> = HashMap::new();
    if let Some(list) = tj.get("added_tokens").and_then(|a| a.as_array()) {
        for (i, a) in list.iter().enumerate() {
            let id = a.get("id").and_then(json_id).ok_or_else(|| invalid(&path, format!("added_tokens[{i}] has no valid \"id\"")))?;
            let content = a
                .get("content")
                .and_then(|c| c.as_str())
                .ok_or_else(|| invalid(&path, format!("added_tokens[{i}] has no string \"content\"")))?;
            let special = a.get("special").is_some_and(truthy);
            added.insert(id, Added { content: content.to_owned(), special });
        }
    }
    let tc = TokenizerConfig::load(model_dir)?;
    if let Some(decoder) = tc.get("added_tokens_decoder").and_then(|d| d.as_object()) {
        for (key, data) in decoder {
            let Ok(id) = key.parse::<usize>() else {
                return Err(invalid(&tc.path, format!("added_tokens_decoder key {key:?} is not a token id")));
            };
            if added.contains_key(&id) {
                continue;
            }
            let content = data
                .get("content")
                .and_then(|c| c.as_str())
                .ok_or_else(|| invalid(&tc.path, format!("added_tokens_decoder[{key}] has no string \"content\"")))?;
            let special = data.get("special").is_some_and(truthy);
            added.insert(id, Added { content: content.to_owned(), special });
        }
    }
    let mut added_ids: Vec<usize> = added.keys().copied().collect();
    added_ids.sort_unstable();
    for id in &added_ids {
        let a = &added[id];
        vocab.insert(a.content.clone(), *id);
        added_by_content.insert(a.content.clone(), *id);
    }

    let max_id = vocab.values().copied().max();
    let vocab_size = match config_vocab_size {
        Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
        None => vocab.len(),
    };
    if vocab_size > MAX_VOCAB {
        return Err(invalid(model_dir.join("config.json").as_path(), format!("vocab_size {vocab_size} is larger than the supported {MAX_VOCAB}")));
    }
    if let Some(max_id) = max_id.filter(|&m| m >= vocab_size) {
        return Err(invalid(&path, format!("token id {max_id} is not below the vocabulary size {vocab_size} (config.json vocab_size)")));
    }

    let mut reverse: Vec<Option<&str>> = vec![None; vocab_size];
    for (tok, &id) in &vocab {
        reverse[id] = Some(tok.as_str());
    }
    let mut v = Vocab { tokens: Vec::with_capacity(vocab_size), scores: None, types: Vec::with_capacity(vocab_size) };
    for (id, tok) in reverse.iter().enumerate() {
        match tok {
            None => {
                v.tokens.push(format!("[PAD{id}]"));
                v.types.push(TokenType::Unused);
            }
            Some(tok) => {
                let (text, ty) = match added_by_content.get(*tok).and_then(|aid| added.get(aid)) {
                    // The converter looks the flags up by this id in added_tokens_decoder.
                    Some(_) => {
                        let special = added.get(&id).is_some_and(|a| a.special);
                        if special || does_token_look_special(tok) {
                            (tok.to_string(), TokenType::Control)
                        } else {
                            (tok.replace('\u{2581}', " "), TokenType::UserDefined)
                        }
                    }
                    None => (tok.to_string(), TokenType::Normal),
                };
                v.tokens.push(text);
                v.types.push(ty);
            }
        }
    }
    Ok(v)
}
