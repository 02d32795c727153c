//! A model folder's tokenizer files, each read and parsed at most once per conversion.
//!
//! The converter's vocabulary steps (`_set_vocab_*`, gguf-py's `SpecialVocab`, the vocabulary
//! builders) each look at `tokenizer.json`, `tokenizer_config.json` and friends; here they share
//! one [`TokenizerFiles`], which reads a file the first time a step asks for it. A file no step
//! needs is never read, so a conversion fails on exactly the files the pinned converter reads.

use std::cell::OnceCell;
use std::path::{Path, PathBuf};

use serde_json::Value as Json;

use super::sentencepiece::{self, SentencePieceModel};
use super::special::TokenizerConfig;
use super::{read_json, TokenizerError};

/// The tokenizer files of one model folder, read on first use and kept.
pub struct TokenizerFiles {
    dir: PathBuf,
    tokenizer_json: OnceCell<Option<Json>>,
    tokenizer_config: OnceCell<TokenizerConfig>,
    special_tokens_map: OnceCell<Option<Json>>,
    added_tokens: OnceCell<Option<Json>>,
    sentencepiece: OnceCell<SentencePieceModel>,
}

/// `cell`'s value, made by `make` the first time (the stable `OnceCell::get_or_try_init`).
fn once<T>(cell: &OnceCell<T>, make: impl FnOnce() -> Result<T, TokenizerError>) -> Result<&T, TokenizerError> {
    if let Some(v) = cell.get() {
        return Ok(v);
    }
    let v = make()?;
    Ok(cell.get_or_init(|| v))
}

/// Parses `path` when it is a file; `None` when it is absent.
fn optional_json(path: &Path) -> Result<Option<Json>, TokenizerError> {
    if path.is_file() {
        read_json(path).map(Some)
    } else {
        Ok(None)
    }
}

impl TokenizerFiles {
    /// The files of `dir`; nothing is read yet.
    pub fn new(dir: &Path) -> Self {
        TokenizerFiles {
            dir: dir.to_path_buf(),
            tokenizer_json: OnceCell::new(),
            tokenizer_config: OnceCell::new(),
            special_tokens_map: OnceCell::new(),
            added_tokens: OnceCell::new(),
            sentencepiece: OnceCell::new(),
        }
    }

    /// The model folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `dir/name`.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Whether `tokenizer.model` (SentencePiece) exists.
    pub fn has_sentencepiece(&self) -> bool {
        self.path("tokenizer.model").is_file()
    }

    /// `tokenizer.json`, parsed; `None` when the folder has none.
    pub fn tokenizer_json(&self) -> Result<Option<&Json>, TokenizerError> {
        once(&self.tokenizer_json, || optional_json(&self.path("tokenizer.json"))).map(Option::as_ref)
    }

    /// `tokenizer_config.json` (its content is `None` when the folder has none).
    pub fn tokenizer_config(&self) -> Result<&TokenizerConfig, TokenizerError> {
        once(&self.tokenizer_config, || {
            let path = self.path("tokenizer_config.json");
            let json = optional_json(&path)?;
            Ok(TokenizerConfig { path, json })
        })
    }

    /// `special_tokens_map.json`, parsed; `None` when absent.
    pub fn special_tokens_map(&self) -> Result<Option<&Json>, TokenizerError> {
        once(&self.special_tokens_map, || optional_json(&self.path("special_tokens_map.json"))).map(Option::as_ref)
    }

    /// `added_tokens.json` (SentencePiece models' extra tokens), parsed; `None` when absent.
    pub fn added_tokens(&self) -> Result<Option<&Json>, TokenizerError> {
        once(&self.added_tokens, || optional_json(&self.path("added_tokens.json"))).map(Option::as_ref)
    }

    /// `tokenizer.model`, decoded (an error when it is absent or invalid).
    pub fn sentencepiece(&self) -> Result<&SentencePieceModel, TokenizerError> {
        once(&self.sentencepiece, || sentencepiece::load_model(&self.path("tokenizer.model")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_file_is_read_once_and_absent_files_are_none() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("tokenizer_config.json"), r#"{"add_bos_token": true}"#).unwrap();
        let files = TokenizerFiles::new(dir.path());
        assert!(files.tokenizer_json().unwrap().is_none());
        assert!(files.special_tokens_map().unwrap().is_none());
        assert_eq!(files.tokenizer_config().unwrap().get("add_bos_token"), Some(&Json::Bool(true)));
        // A second call does not read the file again: changing it on disk changes nothing.
        std::fs::write(dir.path().join("tokenizer_config.json"), r#"{"add_bos_token": false}"#).unwrap();
        assert_eq!(files.tokenizer_config().unwrap().get("add_bos_token"), Some(&Json::Bool(true)));
        // An invalid file is an error naming it, and stays an error.
        std::fs::write(dir.path().join("tokenizer.json"), "{").unwrap();
        let files = TokenizerFiles::new(dir.path());
        let err = files.tokenizer_json().unwrap_err();
        assert!(matches!(&err, TokenizerError::Json { path, .. } if path.ends_with("tokenizer.json")), "{err}");
        assert!(files.tokenizer_json().is_err());
        assert!(matches!(files.sentencepiece(), Err(TokenizerError::Io { .. })));
    }
}
