//! A tokenizer rebuilt from a GGUF's own vocabulary (`tokenizer.ggml.*`), so that a GGUF
//! reference is evaluated without a `tokenizer.json`. It tokenizes as the pinned llama.cpp
//! (`src/llama-vocab.cpp`) does; tests/validate_vocab.rs checks the ids against `llama-tokenize`.
//!
//! - [`spm`]: `tokenizer.ggml.model = llama` (SentencePiece): merges by token score, byte
//!   fallback `<0xXX>`, spaces as `▁` with the leading one from `add_space_prefix`.
//! - [`bpe`]: `gpt2` (byte-level BPE): the GGUF's merges after the split regexes of
//!   `tokenizer.ggml.pre` ([`pre`], the one table of pre-tokenizers).
//! - Here: reading the keys with llama.cpp's defaults, the control and user-defined tokens, and
//!   BOS/EOS as llama.cpp adds them.
//!
//! Not reproduced: the token attributes llama.cpp sets by model name (`rstrip` after the special
//! tokens of models named like Phi-3, `lstrip` of `<mask>` for jina/modern-bert encoders). For
//! Phi-3 they change the ids of text that holds user-defined tokens (or control tokens, when
//! special tokens are parsed) followed by whitespace. No fixture loads in llama.cpp under a Phi-3
//! name (llama.cpp then requires `<unk>`, `<s>`, `</s>` and `<|endoftext|>`), so it is not done
//! untested.

pub mod bpe;
pub mod pre;
pub mod spm;

use gguf::{GgufFile, Value};
use std::collections::HashMap;
use tokenizers::processors::template::{SpecialToken, TemplateProcessing};
use tokenizers::{AddedToken, Tokenizer};

/// llama.cpp's token types (`tokenizer.ggml.token_type`, `LLAMA_TOKEN_TYPE_*`).
pub mod token_type {
    /// `LLAMA_TOKEN_TYPE_UNKNOWN`.
    pub const UNKNOWN: i32 = 2;
    /// `LLAMA_TOKEN_TYPE_CONTROL`.
    pub const CONTROL: i32 = 3;
    /// `LLAMA_TOKEN_TYPE_USER_DEFINED`.
    pub const USER_DEFINED: i32 = 4;
}

/// Why a GGUF vocabulary cannot be rebuilt (the caller names the file and says what to do).
#[derive(Debug, thiserror::Error)]
pub enum VocabError {
    /// `tokenizer.ggml.model` is absent or not one we rebuild.
    #[error("tokenizer.ggml.model = {0:?} is not a vocabulary ggufkit rebuilds (llama, gpt2)")]
    UnsupportedModel(Option<String>),
    /// A byte-level BPE vocabulary whose `tokenizer.ggml.pre` is not in [`pre::KNOWN`].
    #[error("tokenizer.ggml.pre = {0:?} is not a pre-tokenizer ggufkit rebuilds (known: {known})", known = pre::known_names())]
    UnknownPreTokenizer(Option<String>),
    /// A key is missing or has the wrong type or length.
    #[error("{key}: {message}")]
    BadKey {
        /// The GGUF key.
        key: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The `tokenizers` crate refused what we built.
    #[error("building the tokenizer's {part}")]
    Build {
        /// The part being built (e.g. "BPE model", "post-processor").
        part: String,
        /// The `tokenizers` crate's error.
        #[source]
        source: BuildError,
    },
}

/// An error of the `tokenizers` crate (its builders return boxed errors or plain strings).
pub type BuildError = Box<dyn std::error::Error + Send + Sync>;

/// [`VocabError::Build`] for `part`, from any error the `tokenizers` builders return.
fn build_err<E: Into<BuildError>>(part: impl Into<String>) -> impl FnOnce(E) -> VocabError {
    let part = part.into();
    move |e| VocabError::Build { part, source: e.into() }
}

/// The `tokenizer.ggml.*` keys llama.cpp's tokenizer uses, with its defaults applied.
#[derive(Debug, Clone)]
pub struct GgufVocab {
    /// `tokenizer.ggml.model`: `llama` or `gpt2`.
    pub model: String,
    /// `tokenizer.ggml.pre` (None when absent).
    pub pre: Option<String>,
    /// Token texts by id (an empty one renamed `[EMPTY_i]`, as llama.cpp does).
    pub tokens: Vec<String>,
    /// Scores by id (0 when absent).
    pub scores: Vec<f32>,
    /// Token types by id (normal when absent).
    pub types: Vec<i32>,
    /// `tokenizer.ggml.merges` (byte-level BPE).
    pub merges: Vec<String>,
    /// BOS id.
    pub bos: Option<u32>,
    /// EOS id.
    pub eos: Option<u32>,
    /// Unknown-token id.
    pub unk: Option<u32>,
    /// Whether llama.cpp puts BOS first.
    pub add_bos: bool,
    /// Whether llama.cpp puts EOS last.
    pub add_eos: bool,
    /// SentencePiece: a space before the text (and after every special token).
    pub add_space_prefix: bool,
}

type VResult<T> = std::result::Result<T, VocabError>;

fn strings(file: &GgufFile, key: &'static str) -> VResult<Option<Vec<String>>> {
    let Some(v) = file.get(key) else { return Ok(None) };
    let items = v.as_array().ok_or_else(|| VocabError::BadKey { key, message: "not an array".into() })?;
    items
        .iter()
        .map(|i| i.as_str().map(str::to_owned).ok_or_else(|| VocabError::BadKey { key, message: "not an array of strings".into() }))
        .collect::<VResult<Vec<_>>>()
        .map(Some)
}

fn numbers<T>(file: &GgufFile, key: &'static str, n: usize, get: impl Fn(&Value) -> Option<T>) -> VResult<Option<Vec<T>>> {
    let Some(v) = file.get(key) else { return Ok(None) };
    let items = v.as_array().ok_or_else(|| VocabError::BadKey { key, message: "not an array".into() })?;
    if items.len() < n {
        return Err(VocabError::BadKey { key, message: format!("{} entries for {n} tokens", items.len()) });
    }
    items[..n]
        .iter()
        .map(|i| get(i).ok_or_else(|| VocabError::BadKey { key, message: format!("an entry of type {}", i.value_type().name()) }))
        .collect::<VResult<Vec<_>>>()
        .map(Some)
}

fn id(file: &GgufFile, key: &'static str, default: Option<u32>, n: usize) -> Option<u32> {
    // llama.cpp keeps the default when the key's id is outside the vocabulary.
    match file.get(key).and_then(Value::as_u32) {
        Some(v) if (v as usize) < n => Some(v),
        _ => default,
    }
}

impl GgufVocab {
    /// Reads the vocabulary keys of `file`, with llama.cpp's defaults for absent ones.
    pub fn read(file: &GgufFile) -> VResult<GgufVocab> {
        let model = file.get("tokenizer.ggml.model").and_then(Value::as_str).map(str::to_owned);
        let model = match model.as_deref() {
            Some("llama" | "gpt2") => model.unwrap_or_default(),
            _ => return Err(VocabError::UnsupportedModel(model)),
        };
        let spm = model == "llama";
        let pre = file.get("tokenizer.ggml.pre").and_then(Value::as_str).map(str::to_owned);
        let row = if spm {
            None
        } else {
            Some(pre.as_deref().and_then(pre::lookup).ok_or_else(|| VocabError::UnknownPreTokenizer(pre.clone()))?)
        };
        let key = "tokenizer.ggml.tokens";
        let mut tokens = strings(file, key)?.ok_or_else(|| VocabError::BadKey { key, message: "missing".into() })?;
        for (i, t) in tokens.iter_mut().enumerate() {
            if t.is_empty() {
                *t = format!("[EMPTY_{i}]");
            }
        }
        let n = tokens.len();
        let scores = match file.get("tokenizer.ggml.scores").and_then(Value::array_type) {
            Some(gguf::ValueType::Int32) => numbers(file, "tokenizer.ggml.scores", n, |v| v.as_i64().map(|i| i as f32))?,
            _ => numbers(file, "tokenizer.ggml.scores", n, Value::as_f32)?,
        };
        let types = numbers(file, "tokenizer.ggml.token_type", n, |v| v.as_i64().and_then(|i| i32::try_from(i).ok()))?;
        let merges = if spm { Vec::new() } else { strings(file, "tokenizer.ggml.merges")?.unwrap_or_default() };
        let flag = |key: &str, default: bool| file.get(key).and_then(Value::as_bool).unwrap_or(default);
        // llama.cpp's defaults per model (llama_vocab::impl::load), then the GGUF's keys.
        let (bos, eos, unk) = if spm { (Some(1), Some(2), Some(0)) } else { (Some(11), Some(11), None) };
        let add_bos = flag("tokenizer.ggml.add_bos_token", if spm { true } else { row.is_some_and(|r| r.add_bos) });
        Ok(GgufVocab {
            bos: id(file, "tokenizer.ggml.bos_token_id", bos.filter(|&b| (b as usize) < n), n),
            eos: id(file, "tokenizer.ggml.eos_token_id", eos.filter(|&e| (e as usize) < n), n),
            unk: id(file, "tokenizer.ggml.unknown_token_id", unk.filter(|&u| (u as usize) < n), n),
            add_bos,
            add_eos: flag("tokenizer.ggml.add_eos_token", false),
            add_space_prefix: flag("tokenizer.ggml.add_space_prefix", spm),
            scores: scores.unwrap_or_else(|| vec![0.0; n]),
            types: types.unwrap_or_else(|| vec![1; n]),
            model,
            pre,
            tokens,
            merges,
        })
    }

    /// Text → id as llama.cpp looks tokens up (a repeated text maps to its last id).
    pub fn token_to_id(&self) -> HashMap<String, u32> {
        self.tokens.iter().enumerate().map(|(i, t)| (t.clone(), i as u32)).collect()
    }

    /// The tokenizer: llama.cpp's tokenization of this vocabulary with `tokenizers`.
    ///
    /// `encode(text, true)` puts BOS/EOS as llama.cpp's `add_special` does. Control and unknown
    /// tokens are special added tokens (matched in the text only when special tokens are parsed,
    /// i.e. unless `set_encode_special_tokens(true)`); user-defined tokens are always matched.
    pub fn tokenizer(&self) -> VResult<Tokenizer> {
        let mut tok = if self.model == "llama" { spm::tokenizer(self)? } else { bpe::tokenizer(self)? };
        let added = |special: bool| -> Vec<AddedToken> {
            self.tokens
                .iter()
                .zip(&self.types)
                .filter(|(_, &ty)| match ty {
                    token_type::CONTROL | token_type::UNKNOWN => special,
                    token_type::USER_DEFINED => !special,
                    _ => false,
                })
                .map(|(t, _)| AddedToken::from(t.clone(), special).normalized(false))
                .collect()
        };
        tok.add_special_tokens(&added(true));
        tok.add_tokens(&added(false));
        // BOS/EOS around the text as llama.cpp's `add_special` puts them.
        let mut specials = Vec::new();
        let (mut one, mut after) = (Vec::new(), Vec::new());
        for (name, id, place) in
            [("bos", self.bos.filter(|_| self.add_bos), &mut one), ("eos", self.eos.filter(|_| self.add_eos), &mut after)]
        {
            let Some(id) = id else { continue };
            let text = self.tokens[id as usize].clone();
            specials.push(SpecialToken::new(name.into(), vec![id], vec![text]).map_err(build_err(format!("{name} special token")))?);
            place.push(name);
        }
        let mut pair = one.clone();
        one.push("$A");
        one.extend(&after);
        pair.push("$B:1");
        pair.extend(&after);
        let pair = [one.clone(), pair].concat();
        let post = TemplateProcessing::builder()
            .try_single(one)
            .and_then(|b| b.try_pair(pair))
            .map_err(build_err("post-processor template"))?
            .special_tokens(specials)
            .build()
            .map_err(build_err("post-processor"))?;
        tok.with_post_processor(Some(post));
        Ok(tok)
    }
}
