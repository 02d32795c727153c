//! Byte-level BPE `tokenizer.json`: the vocabulary (model vocab plus added tokens) and token types
//! the pinned converter's `get_vocab_base` builds through transformers' `AutoTokenizer`, and the
//! `LlamaHfVocab` vocabulary that a llama model without `tokenizer.model` gets when its
//! tokenizer.json is SentencePiece-style BPE.
//! Merges are read with the special tokens ([`super::special`]).

use std::collections::HashMap;
use std::path::Path;

use serde_json::Value as Json;

use super::files::TokenizerFiles;
use super::sentencepiece::json_id;
use super::special::{does_token_look_special, truthy, TokenizerConfig};
use super::{TokenType, TokenizerError, Vocab, MAX_VOCAB};

/// One added token (`tokenizer.json` `added_tokens`, completed by tokenizer_config.json
/// `added_tokens_decoder`).
#[derive(Debug, Clone)]
struct Added {
    content: String,
    special: bool,
    /// `normalized`; the converter re-encodes and decodes non-normalized added tokens.
    normalized: bool,
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
pub fn vocab(files: &TokenizerFiles, tj: &Json, config_vocab_size: Option<u64>) -> Result<Vocab, TokenizerError> {
    let path = files.path("tokenizer.json");
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
            let normalized = a.get("normalized").is_none_or(truthy);
            added.insert(id, Added { content: content.to_owned(), special, normalized });
        }
    }
    let tc = files.tokenizer_config()?;
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
            let normalized = data.get("normalized").is_none_or(truthy);
            added.insert(id, Added { content: content.to_owned(), special, normalized });
        }
    }
    // transformers adds every named special token (bos_token, …, additional_special_tokens) that
    // is not an added token yet: with the model vocabulary's id when it has one, else a new id
    // after the vocabulary (the `tokenizers` rule); special, not normalized.
    for content in all_special_tokens(files, tc)? {
        if added.values().any(|a| a.content == content) {
            continue;
        }
        let id = match vocab.get(&content) {
            Some(&id) => id,
            None => match added.keys().copied().max() {
                Some(max) if max >= model_vocab.len() || model_vocab.is_empty() => max + 1,
                _ => model_vocab.len(),
            },
        };
        added.insert(id, Added { content, special: true, normalized: false });
    }
    let byte_level_decoder = tj.get("decoder").and_then(|d| d.get("type")).and_then(|t| t.as_str()) == Some("ByteLevel");
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
        return Err(invalid(
            files.path("config.json").as_path(),
            format!("vocab_size {vocab_size} is larger than the supported {MAX_VOCAB}"),
        ));
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
                        let a = added.get(&id);
                        let special = a.is_some_and(|a| a.special);
                        // decode(encode(token)) for non-normalized added tokens: the byte-level
                        // decoder maps its alphabet back to bytes.
                        let tok = match a {
                            Some(a) if !a.normalized && byte_level_decoder => byte_level_decode(tok),
                            _ => tok.to_string(),
                        };
                        if special || does_token_look_special(&tok) {
                            (tok, TokenType::Control)
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

/// A special-token entry of tokenizer_config.json / special_tokens_map.json: a string or an
/// AddedToken object with "content".
fn token_content(v: &Json) -> Option<&str> {
    match v {
        Json::String(s) => Some(s),
        Json::Object(o) => o.get("content").and_then(|c| c.as_str()),
        _ => None,
    }
}

/// transformers' `all_special_tokens` of a fast tokenizer: bos, eos, unk, sep, pad, cls, mask and
/// `additional_special_tokens`, from tokenizer_config.json, else special_tokens_map.json.
fn all_special_tokens(files: &TokenizerFiles, tc: &TokenizerConfig) -> Result<Vec<String>, TokenizerError> {
    let map = files.special_tokens_map()?;
    let lookup = |key: &str| -> Option<&Json> {
        tc.get(key).filter(|v| !v.is_null()).or_else(|| map.and_then(|m| m.get(key)).filter(|v| !v.is_null()))
    };
    let mut out: Vec<String> = Vec::new();
    for key in ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"] {
        if let Some(s) = lookup(key).and_then(token_content) {
            if !out.iter().any(|o| o == s) {
                out.push(s.to_owned());
            }
        }
    }
    if let Some(list) = lookup("additional_special_tokens").and_then(|l| l.as_array()) {
        for s in list.iter().filter_map(token_content) {
            if !out.iter().any(|o| o == s) {
                out.push(s.to_owned());
            }
        }
    }
    Ok(out)
}

fn is_byte_token(t: &str) -> bool {
    let b = t.as_bytes();
    b.len() == 6 && t.starts_with("<0x") && t.ends_with('>') && b[3].is_ascii_hexdigit() && b[4].is_ascii_hexdigit()
}

/// gguf-py's `LlamaHfVocab` (a llama model with a SentencePiece-style BPE tokenizer.json and no
/// tokenizer.model): the base vocabulary in id order (`<0xXX>` BYTE, special tokens CONTROL, the
/// rest NORMAL), then the added tokens past it (CONTROL when special, else USER_DEFINED); every
/// score -1000. Not padded to config `vocab_size`.
pub fn llama_hf_vocab(files: &TokenizerFiles, tj: &Json) -> Result<Vocab, TokenizerError> {
    let path = files.path("tokenizer.json");
    let model = bpe_model(tj, &path)?;
    let model_vocab = model.get("vocab").and_then(|v| v.as_object()).ok_or_else(|| invalid(&path, "model.vocab is not an object"))?;
    let base = model_vocab.len();
    if base > MAX_VOCAB {
        return Err(invalid(&path, format!("{base} tokens: more than the supported {MAX_VOCAB}")));
    }
    let mut vocab: HashMap<String, usize> = HashMap::with_capacity(base);
    for (tok, id) in model_vocab {
        let id = json_id(id).ok_or_else(|| invalid(&path, format!("model.vocab[{tok:?}] is not a token id: {id}")))?;
        vocab.insert(tok.clone(), id);
    }
    let mut added: Vec<(usize, String)> = Vec::new();
    if let Some(list) = tj.get("added_tokens").and_then(|a| a.as_array()) {
        for (i, a) in list.iter().enumerate() {
            let id = a.get("id").and_then(json_id).ok_or_else(|| invalid(&path, format!("added_tokens[{i}] has no valid \"id\"")))?;
            let content = a
                .get("content")
                .and_then(|c| c.as_str())
                .ok_or_else(|| invalid(&path, format!("added_tokens[{i}] has no string \"content\"")))?;
            vocab.insert(content.to_owned(), id);
            added.push((id, content.to_owned()));
        }
    }
    added.sort();
    let specials = all_special_tokens(files, files.tokenizer_config()?)?;
    let special_ids: Vec<usize> = specials.iter().filter_map(|s| vocab.get(s).copied()).collect();

    let mut reverse: Vec<Option<&str>> = vec![None; base];
    for (tok, &id) in &vocab {
        if id < base {
            reverse[id] = Some(tok.as_str());
        }
    }
    let mut v = Vocab {
        tokens: Vec::with_capacity(base + added.len()),
        scores: Some(Vec::with_capacity(base + added.len())),
        types: Vec::with_capacity(base + added.len()),
    };
    let push = |v: &mut Vocab, t: String, ty: TokenType| {
        v.tokens.push(t);
        if let Some(s) = v.scores.as_mut() {
            s.push(-1000.0);
        }
        v.types.push(ty);
    };
    for (id, tok) in reverse.iter().enumerate() {
        let tok = tok.ok_or_else(|| invalid(&path, format!("no token has id {id} (of {base})")))?;
        let ty = if is_byte_token(tok) {
            TokenType::Byte
        } else if special_ids.contains(&id) {
            TokenType::Control
        } else {
            TokenType::Normal
        };
        push(&mut v, tok.to_owned(), ty);
    }
    for (id, content) in added.into_iter().filter(|(id, _)| *id >= base) {
        let _ = id;
        let ty = if specials.contains(&content) { TokenType::Control } else { TokenType::UserDefined };
        push(&mut v, content, ty);
    }
    Ok(v)
}

/// GPT-2's byte → character table (`bytes_to_unicode`): printable bytes stand for themselves, the
/// other 68 map to U+0100 onwards in byte order.
fn byte_level_char(b: u8) -> char {
    let printable = |b: u8| (33..=126).contains(&b) || (161..=172).contains(&b) || b >= 174;
    if printable(b) {
        char::from(b)
    } else {
        let n = (0..b).filter(|&x| !printable(x)).count() as u32;
        char::from_u32(256 + n).unwrap_or(char::REPLACEMENT_CHARACTER)
    }
}

/// The `tokenizers` ByteLevel decoder on one token: each character back to its byte; a token with
/// a character outside the table keeps its UTF-8 bytes; invalid UTF-8 becomes U+FFFD.
fn byte_level_decode(token: &str) -> String {
    let mut bytes = Vec::with_capacity(token.len());
    for c in token.chars() {
        match (0..=255u8).find(|&b| byte_level_char(b) == c) {
            Some(b) => bytes.push(b),
            None => return token.to_owned(),
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_level_table() {
        assert_eq!(byte_level_char(b' '), '\u{120}');
        assert_eq!(byte_level_char(b'\n'), '\u{10a}');
        assert_eq!(byte_level_char(b'A'), 'A');
        assert_eq!(byte_level_char(173), '\u{143}');
        assert_eq!(byte_level_decode("\u{120}the"), " the");
        assert_eq!(byte_level_decode("<|im_end|>"), "<|im_end|>");
        assert_eq!(byte_level_decode("\u{2581}x"), "\u{2581}x");
    }
}
