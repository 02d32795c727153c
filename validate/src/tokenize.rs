//! Text → token ids with the `tokenizers` crate, from an HF `tokenizer.json`.
//!
//! The text is encoded without special tokens; the BOS policy (llama.cpp's `add_bos`) is applied
//! by the evaluation, which puts BOS at the start of every window as llama-perplexity does.
//! Evaluating a GGUF-only reference needs a `tokenizer.json` too: rebuilding llama.cpp's
//! tokenizers from the GGUF vocabulary is not done here.

use crate::error::{Result, ValidateError};
use std::path::{Path, PathBuf};

/// A loaded tokenizer.
pub struct TextTokenizer {
    path: PathBuf,
    inner: tokenizers::Tokenizer,
}

impl TextTokenizer {
    /// Loads `tokenizer.json`.
    pub fn open(path: &Path) -> Result<TextTokenizer> {
        let inner = tokenizers::Tokenizer::from_file(path)
            .map_err(|e| ValidateError::Tokenizer { path: path.to_path_buf(), message: e.to_string() })?;
        Ok(TextTokenizer { path: path.to_path_buf(), inner })
    }

    /// Token ids of `text`, without special tokens.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self
            .inner
            .encode(text, false)
            .map_err(|e| ValidateError::Tokenizer { path: self.path.clone(), message: e.to_string() })?;
        Ok(enc.get_ids().to_vec())
    }

    /// The BOS id the tokenizer's post-processor prepends, if it prepends one.
    pub fn bos_added(&self) -> Result<Option<u32>> {
        let err = |e: tokenizers::Error| ValidateError::Tokenizer { path: self.path.clone(), message: e.to_string() };
        let with = self.inner.encode("a", true).map_err(err)?;
        let without = self.inner.encode("a", false).map_err(err)?;
        let (w, wo) = (with.get_ids(), without.get_ids());
        Ok(if w.len() > wo.len() && w.first() != wo.first() { w.first().copied() } else { None })
    }

    /// Vocabulary size including added tokens.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }
}
