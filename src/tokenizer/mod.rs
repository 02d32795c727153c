//! Tokenizer conversion: every `tokenizer.*` GGUF key that the pinned llama.cpp converter
//! (`convert_hf_to_gguf.py` with gguf-py 0.19.0) writes for a Hugging Face model folder.
//!
//! - [`sentencepiece`]: `tokenizer.model` (protobuf) → `tokenizer.ggml.model = llama`.
//! - [`bpe`]: byte-level BPE `tokenizer.json` → `gpt2`, with [`pretokenizer`] choosing
//!   `tokenizer.ggml.pre` from the declared pre-tokenizer.
//! - [`special`]: special-token ids, add-token flags, merges and chat template (gguf-py's
//!   `SpecialVocab`).
//!
//! Which path a model takes depends on its architecture, as in the converter's model classes
//! (see [`gguf_metadata`]).

pub mod bpe;
pub mod pretokenizer;
pub mod sentencepiece;
pub mod special;

use std::path::{Path, PathBuf};

use serde_json::Value as Json;

use special::{SpecialVocab, TokenizerConfig};

/// Largest vocabulary we accept (config `vocab_size`, pieces): bounds the allocations (the
/// largest real vocabularies have about 262 k tokens).
pub const MAX_VOCAB: usize = 1 << 22;

/// Largest tokenizer file we read (bytes): bounds memory before anything is read (parsing costs
/// up to about 15 × the file). Real tokenizer.json files stay under 40 MB; a bigger file (say one
/// token string of 1 GB) is refused by its size alone.
const MAX_FILE: u64 = 256 << 20;

/// A tokenizer conversion error: which file, what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A JSON file does not parse.
    #[error("{path}: invalid JSON: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The parser's error (with line and column).
        source: serde_json::Error,
    },
    /// `tokenizer.model` is not a valid SentencePiece model.
    #[error("{path}: not a valid SentencePiece model: {source}")]
    SentencePiece {
        /// The file.
        path: PathBuf,
        /// The protobuf decoding error.
        source: sentencepiece::ProtoError,
    },
    /// A file has content we cannot use.
    #[error("{path}: {what}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong (expected vs found).
        what: String,
    },
    /// No tokenizer file that this architecture's conversion needs.
    #[error("{dir}: no tokenizer for architecture {arch}: {what}")]
    Missing {
        /// The model folder.
        dir: PathBuf,
        /// The architecture.
        arch: String,
        /// Which files were looked for.
        what: String,
    },
    /// The byte-level BPE pre-tokenizer matches no llama.cpp pre-tokenizer.
    #[error("{path}: {message}")]
    UnknownPreTokenizer {
        /// tokenizer.json.
        path: PathBuf,
        /// What was found and what is known.
        message: String,
    },
    /// A tokenizer or architecture this converter does not handle.
    #[error("{what}")]
    Unsupported {
        /// What and what to do.
        what: String,
    },
}

/// GGUF token types (`tokenizer.ggml.token_type`, llama.cpp's `llama_token_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenType {
    Normal = 1,
    Unknown = 2,
    Control = 3,
    UserDefined = 4,
    Unused = 5,
    Byte = 6,
}

/// A vocabulary as written: tokens, optional scores, types (same length).
#[derive(Debug, Clone, PartialEq)]
pub struct Vocab {
    /// `tokenizer.ggml.tokens`.
    pub tokens: Vec<String>,
    /// `tokenizer.ggml.scores` (SentencePiece only).
    pub scores: Option<Vec<f32>>,
    /// `tokenizer.ggml.token_type`.
    pub types: Vec<TokenType>,
}

impl Vocab {
    fn set(&mut self, id: usize, token: String, score: f32, ty: TokenType) {
        self.tokens[id] = token;
        if let Some(s) = self.scores.as_mut() {
            s[id] = score;
        }
        self.types[id] = ty;
    }
}

/// A metadata value of the kinds the tokenizer keys use (GGUF types in the comments).
#[derive(Debug, Clone, PartialEq)]
pub enum MetaValue {
    /// STRING.
    Str(String),
    /// UINT32.
    U32(u32),
    /// BOOL.
    Bool(bool),
    /// ARRAY of STRING.
    StrArray(Vec<String>),
    /// ARRAY of FLOAT32.
    F32Array(Vec<f32>),
    /// ARRAY of INT32.
    I32Array(Vec<i32>),
}

impl MetaValue {
    /// This value as the gguf crate's value.
    pub fn to_gguf(&self) -> gguf::Value {
        use gguf::{Value, ValueType};
        match self {
            MetaValue::Str(s) => Value::String(s.clone()),
            MetaValue::U32(v) => Value::U32(*v),
            MetaValue::Bool(b) => Value::Bool(*b),
            MetaValue::StrArray(a) => Value::Array(ValueType::String, a.iter().map(|s| Value::String(s.clone())).collect()),
            MetaValue::F32Array(a) => Value::Array(ValueType::Float32, a.iter().map(|&f| Value::F32(f)).collect()),
            MetaValue::I32Array(a) => Value::Array(ValueType::Int32, a.iter().map(|&i| Value::I32(i)).collect()),
        }
    }

    /// gguf-py's name of the type, and of the element type for arrays.
    fn type_names(&self) -> (&'static str, Option<&'static str>) {
        match self {
            MetaValue::Str(_) => ("STRING", None),
            MetaValue::U32(_) => ("UINT32", None),
            MetaValue::Bool(_) => ("BOOL", None),
            MetaValue::StrArray(_) => ("ARRAY", Some("STRING")),
            MetaValue::F32Array(_) => ("ARRAY", Some("FLOAT32")),
            MetaValue::I32Array(_) => ("ARRAY", Some("INT32")),
        }
    }

    fn to_json(&self) -> Json {
        match self {
            MetaValue::Str(s) => Json::from(s.as_str()),
            MetaValue::U32(v) => Json::from(*v),
            MetaValue::Bool(b) => Json::from(*b),
            MetaValue::StrArray(a) => Json::from(a.clone()),
            MetaValue::F32Array(a) => Json::Array(a.iter().map(|&f| Json::from(f64::from(f))).collect()),
            MetaValue::I32Array(a) => Json::from(a.clone()),
        }
    }
}

/// Ordered key/value list with gguf-py's semantics: setting an existing key overwrites its value
/// in place (the key keeps its first position); removing drops it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Kv {
    entries: Vec<(String, MetaValue)>,
}

impl Kv {
    /// Sets `key` (overwrites in place when present).
    pub fn set(&mut self, key: &str, value: MetaValue) {
        match self.entries.iter_mut().find(|(k, _)| k == key) {
            Some(e) => e.1 = value,
            None => self.entries.push((key.to_owned(), value)),
        }
    }

    /// The entries in order.
    pub fn entries(&self) -> &[(String, MetaValue)] {
        &self.entries
    }

    /// Stable JSON for scripts and tests: `[{"key", "type", "item_type"?, "value"}]` with
    /// gguf-py's type names.
    pub fn to_json(&self) -> Json {
        Json::Array(
            self.entries
                .iter()
                .map(|(k, v)| {
                    let (ty, item) = v.type_names();
                    let mut o = serde_json::Map::new();
                    o.insert("key".into(), Json::from(k.as_str()));
                    o.insert("type".into(), Json::from(ty));
                    if let Some(item) = item {
                        o.insert("item_type".into(), Json::from(item));
                    }
                    o.insert("value".into(), v.to_json());
                    Json::Object(o)
                })
                .collect(),
        )
    }

    fn add_vocab(&mut self, model: &str, pre: &str, v: Vocab) {
        self.set("tokenizer.ggml.model", MetaValue::Str(model.to_owned()));
        self.set("tokenizer.ggml.pre", MetaValue::Str(pre.to_owned()));
        // gguf-py's add_array skips empty arrays.
        if !v.tokens.is_empty() {
            self.set("tokenizer.ggml.tokens", MetaValue::StrArray(v.tokens));
        }
        if let Some(scores) = v.scores.filter(|s| !s.is_empty()) {
            self.set("tokenizer.ggml.scores", MetaValue::F32Array(scores));
        }
        if !v.types.is_empty() {
            self.set("tokenizer.ggml.token_type", MetaValue::I32Array(v.types.iter().map(|&t| t as i32).collect()));
        }
    }
}

pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>, TokenizerError> {
    let io = |source| TokenizerError::Io { path: path.to_path_buf(), source };
    let len = std::fs::metadata(path).map_err(io)?.len();
    if len > MAX_FILE {
        return Err(TokenizerError::Invalid {
            path: path.to_path_buf(),
            what: format!("{len} bytes: larger than the {MAX_FILE} bytes a tokenizer file may have"),
        });
    }
    std::fs::read(path).map_err(io)
}

pub(crate) fn read_text(path: &Path) -> Result<String, TokenizerError> {
    let bytes = read_file(path)?;
    String::from_utf8(bytes).map_err(|e| TokenizerError::Invalid {
        path: path.to_path_buf(),
        what: format!("not UTF-8 text (byte {})", e.utf8_error().valid_up_to()),
    })
}

pub(crate) fn read_json(path: &Path) -> Result<Json, TokenizerError> {
    let bytes = read_file(path)?;
    serde_json::from_slice(&bytes).map_err(|source| TokenizerError::Json { path: path.to_path_buf(), source })
}

use gguf::arch::Family as VocabPath;

/// The vocabulary path of an architecture (GGUF `general.architecture` or HF `architectures[0]`),
/// from the architecture table.
fn vocab_path(arch: &str) -> Result<VocabPath, TokenizerError> {
    let spec = gguf::arch::by_gguf_name(arch).or_else(|| gguf::arch::by_hf_architecture(arch));
    spec.map(|a| a.family).ok_or_else(|| {
        let names: Vec<&str> = gguf::arch::ARCHITECTURES.iter().map(|a| a.gguf_name).collect();
        TokenizerError::Unsupported {
            what: format!("tokenizer conversion for architecture {arch:?} is not supported; supported: {}", names.join(", ")),
        }
    })
}

/// `vocab_size` of config.json (None when absent or null).
fn config_vocab_size(dir: &Path, config: &Json) -> Result<Option<u64>, TokenizerError> {
    match config.get("vocab_size") {
        None | Some(Json::Null) => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| TokenizerError::Invalid {
            path: dir.join("config.json"),
            what: format!("vocab_size is not a non-negative integer: {v}"),
        }),
    }
}

/// `_set_vocab_sentencepiece` (and Phi-3's variant): model, pre, tokens, scores, types, then
/// SpecialVocab with `n_vocab`.
fn set_vocab_sentencepiece(kv: &mut Kv, dir: &Path, config: &Json, flavor: sentencepiece::Flavor) -> Result<(), TokenizerError> {
    let path = dir.join("tokenizer.model");
    let model = sentencepiece::load_model(&path)?;
    let n = match config_vocab_size(dir, config)? {
        // `find_hparam(...) or tokenizer.vocab_size()`: a zero vocab_size falls back too, except in
        // Phi-3's `hparams.get('vocab_size', …)`.
        Some(0) if flavor == sentencepiece::Flavor::Default => model.pieces.len(),
        Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
        None => model.pieces.len(),
    };
    if n > MAX_VOCAB {
        return Err(TokenizerError::Invalid {
            path: dir.join("config.json"),
            what: format!("vocab_size {n} is larger than the supported {MAX_VOCAB}"),
        });
    }
    let vocab = sentencepiece::vocab(dir, &model, n, flavor)?;
    let n_vocab = vocab.tokens.len();
    kv.add_vocab("llama", "default", vocab);
    SpecialVocab::new(dir, config, false, None, Some(n_vocab))?.add_to(kv);
    Ok(())
}

/// `_set_vocab_gpt2`: model, pre (recognised, see [`pretokenizer`]), tokens, types, then
/// SpecialVocab with merges.
fn set_vocab_gpt2(kv: &mut Kv, dir: &Path, config: &Json, arch: &str) -> Result<(), TokenizerError> {
    let path = dir.join("tokenizer.json");
    if !path.is_file() {
        return Err(TokenizerError::Missing {
            dir: dir.to_path_buf(),
            arch: arch.to_owned(),
            what: "neither tokenizer.model nor tokenizer.json".into(),
        });
    }
    let tj = read_json(&path)?;
    let vocab = bpe::vocab(dir, &tj, config_vocab_size(dir, config)?)?;
    let tc = TokenizerConfig::load(dir)?;
    let clean = tc.get("clean_up_tokenization_spaces").and_then(|v| v.as_bool());
    let pre = pretokenizer::detect(&tj, clean).map_err(|message| TokenizerError::UnknownPreTokenizer { path: path.clone(), message })?;
    kv.add_vocab("gpt2", pre, vocab);
    SpecialVocab::new(dir, config, true, None, None)?.add_to(kv);
    Ok(())
}

/// Every `tokenizer.*` key the pinned converter writes for the model in `model_dir`, in its
/// order, as an ordered list (see [`gguf_metadata`] for the gguf crate's values).
///
/// `config` is config.json's content; `arch` is the GGUF architecture (`llama`, `qwen2`, `phi3`,
/// `phi2`, `gemma`, `gemma2`, `gemma3`, …) or the HF class name (`LlamaForCausalLM`, …).
///
/// Order notes: for llama, `tokenizer.ggml.add_space_prefix` (from tokenizer_config.json
/// `add_prefix_space`) comes first, as the converter writes it before the vocabulary; for phi2 the
/// converter writes `tokenizer.ggml.add_bos_token = false` among the architecture parameters,
/// before every other tokenizer key — it is first here too.
pub fn metadata(model_dir: &Path, config: &Json, arch: &str) -> Result<Kv, TokenizerError> {
    let path = vocab_path(arch)?;
    let mut kv = Kv::default();
    let has_spm = model_dir.join("tokenizer.model").is_file();
    match path {
        VocabPath::Llama => {
            let tc = TokenizerConfig::load(model_dir)?;
            if let Some(Json::Bool(b)) = tc.get("add_prefix_space") {
                kv.set("tokenizer.ggml.add_space_prefix", MetaValue::Bool(*b));
            }
            if tc.get("tokenizer_class").and_then(|c| c.as_str()) == Some("HybridDNATokenizer") {
                return Err(TokenizerError::Unsupported { what: format!("{}: HybridDNATokenizer is not supported", tc.path.display()) });
            }
            if model_dir.join("tekken.json").is_file() && !model_dir.join("tokenizer.json").is_file() {
                return Err(TokenizerError::Unsupported {
                    what: format!("{}: Mistral tekken.json tokenizers are not supported", model_dir.display()),
                });
            }
            if has_spm {
                set_vocab_sentencepiece(&mut kv, model_dir, config, sentencepiece::Flavor::Default)?;
            } else {
                let tj_path = model_dir.join("tokenizer.json");
                let tj = if tj_path.is_file() { Some(read_json(&tj_path)?) } else { None };
                match tj {
                    Some(tj) if bpe::is_llama_hf_bpe(&tj) => {
                        // _set_vocab_llama_hf
                        let vocab = bpe::llama_hf_vocab(model_dir, &tj)?;
                        let n_vocab = vocab.tokens.len();
                        kv.add_vocab("llama", "default", vocab);
                        SpecialVocab::new(model_dir, config, false, None, Some(n_vocab))?.add_to(&mut kv);
                    }
                    _ => set_vocab_gpt2(&mut kv, model_dir, config, arch)?,
                }
            }
            match config_vocab_size(model_dir, config)? {
                Some(32016) => {
                    // CodeLlama: prefix/suffix/middle have no gguf-py handler; only eot is written.
                    let mut sv = SpecialVocab::new(model_dir, config, false, Some(&["prefix", "suffix", "middle", "eot"]), None)?;
                    for (typ, id) in [("prefix", 32007), ("suffix", 32008), ("middle", 32009), ("eot", 32010)] {
                        sv.set_constant(typ, id)?;
                    }
                    sv.add_to(&mut kv);
                }
                Some(49152) => kv.set("tokenizer.ggml.add_bos_token", MetaValue::Bool(false)),
                _ => {}
            }
        }
        VocabPath::Qwen2 => {
            if has_spm {
                set_vocab_sentencepiece(&mut kv, model_dir, config, sentencepiece::Flavor::Default)?;
            } else {
                set_vocab_gpt2(&mut kv, model_dir, config, arch)?;
            }
        }
        VocabPath::Phi3 => {
            let tc = TokenizerConfig::load(model_dir)?;
            if tc.get("tokenizer_class").and_then(|c| c.as_str()) == Some("GPT2Tokenizer") {
                set_vocab_gpt2(&mut kv, model_dir, config, arch)?;
            } else if has_spm {
                set_vocab_sentencepiece(&mut kv, model_dir, config, sentencepiece::Flavor::Phi3)?;
            } else {
                return Err(TokenizerError::Missing {
                    dir: model_dir.to_path_buf(),
                    arch: arch.to_owned(),
                    what: "tokenizer.model is required".into(),
                });
            }
        }
        VocabPath::Text => set_vocab_gpt2(&mut kv, model_dir, config, arch)?,
        VocabPath::Phi2 => {
            kv.set("tokenizer.ggml.add_bos_token", MetaValue::Bool(false));
            set_vocab_gpt2(&mut kv, model_dir, config, arch)?;
        }
        VocabPath::Gemma | VocabPath::Gemma2 => {
            if !has_spm {
                return Err(TokenizerError::Missing {
                    dir: model_dir.to_path_buf(),
                    arch: arch.to_owned(),
                    what: "tokenizer.model is required".into(),
                });
            }
            set_vocab_sentencepiece(&mut kv, model_dir, config, sentencepiece::Flavor::Default)?;
            if path == VocabPath::Gemma {
                // CodeGemma ids; prefix/suffix/middle/fsep have no gguf-py handler, only eot is
                // written. The chat template is not written twice.
                let mut sv = SpecialVocab::new(model_dir, config, false, Some(&["prefix", "suffix", "middle", "fsep", "eot"]), None)?;
                for (typ, id) in [("prefix", 67), ("suffix", 69), ("middle", 68), ("fsep", 70), ("eot", 107)] {
                    sv.set_constant(typ, id)?;
                }
                sv.chat_template = None;
                sv.add_to(&mut kv);
            }
            kv.set("tokenizer.ggml.add_space_prefix", MetaValue::Bool(false));
        }
        VocabPath::Gemma3 => {
            if has_spm {
                set_vocab_sentencepiece(&mut kv, model_dir, config, sentencepiece::Flavor::Default)?;
                kv.set("tokenizer.ggml.add_space_prefix", MetaValue::Bool(false));
            } else {
                set_vocab_gpt2(&mut kv, model_dir, config, arch)?;
            }
        }
    }
    Ok(kv)
}

/// Every `tokenizer.*` key the pinned converter writes for this model, in its order, as GGUF
/// values (vocabulary padded to config `vocab_size` as the converter does). See [`metadata`].
pub fn gguf_metadata(model_dir: &Path, config: &Json, arch: &str) -> Result<Vec<(String, gguf::Value)>, TokenizerError> {
    Ok(metadata(model_dir, config, arch)?.entries().iter().map(|(k, v)| (k.clone(), v.to_gguf())).collect())
}
