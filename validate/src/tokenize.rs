//! Text → token ids with the `tokenizers` crate: from an HF `tokenizer.json`, or rebuilt from a
//! GGUF's own vocabulary ([`crate::vocab`]).
//!
//! [`TextTokenizer::encode`] tokenizes as llama-perplexity does (`common_tokenize(ctx, text,
//! add_special = true, parse_special = false)`), less the BOS/EOS, which the evaluation applies
//! (BOS at the start of every window, as llama-perplexity does): strings of special tokens in the
//! text are tokenized as text; user-defined tokens are matched.

use crate::error::{Result, ValidateError};
use crate::vocab::GgufVocab;
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
        Ok(TextTokenizer::new(path, inner))
    }

    /// The tokenizer of a GGUF file's own vocabulary (`tokenizer.ggml.*`).
    pub fn from_gguf(path: &Path, file: &gguf::GgufFile) -> Result<TextTokenizer> {
        let err = |source| ValidateError::GgufVocabulary { path: path.to_path_buf(), source };
        let inner = GgufVocab::read(file).and_then(|v| v.tokenizer()).map_err(err)?;
        Ok(TextTokenizer::new(path, inner))
    }

    /// Opens a GGUF file and returns [`TextTokenizer::from_gguf`].
    pub fn open_gguf(path: &Path) -> Result<TextTokenizer> {
        let file = gguf::GgufFile::open(path).map_err(|e| ValidateError::Gguf { path: path.to_path_buf(), message: e.to_string() })?;
        TextTokenizer::from_gguf(path, &file)
    }

    fn new(path: &Path, mut inner: tokenizers::Tokenizer) -> TextTokenizer {
        inner.set_encode_special_tokens(true);
        TextTokenizer { path: path.to_path_buf(), inner }
    }

    fn err(&self, e: tokenizers::Error) -> ValidateError {
        ValidateError::Tokenizer { path: self.path.clone(), message: e.to_string() }
    }

    /// Token ids of `text` as llama-perplexity tokenizes it, without BOS/EOS.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        self.encode_llama(text, false, false)
    }

    /// Token ids of `text` as llama.cpp's `llama_tokenize(text, add_special, parse_special)`
    /// gives them: `add_special` puts BOS/EOS as the model asks; `parse_special` matches the
    /// text of control tokens as those tokens.
    pub fn encode_llama(&self, text: &str, add_special: bool, parse_special: bool) -> Result<Vec<u32>> {
        let enc = if parse_special {
            let mut t = self.inner.clone();
            t.set_encode_special_tokens(false);
            t.encode(text, add_special)
        } else {
            self.inner.encode(text, add_special)
        };
        Ok(enc.map_err(|e| self.err(e))?.get_ids().to_vec())
    }

    /// The BOS id the tokenizer's post-processor prepends, if it prepends one.
    pub fn bos_added(&self) -> Result<Option<u32>> {
        let with = self.inner.encode("a", true).map_err(|e| self.err(e))?;
        let without = self.inner.encode("a", false).map_err(|e| self.err(e))?;
        let (w, wo) = (with.get_ids(), without.get_ids());
        Ok(if w.len() > wo.len() && w.first() != wo.first() { w.first().copied() } else { None })
    }

    /// Vocabulary size including added tokens.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// Where the tokenizer came from (tokenizer.json or the GGUF file).
    pub fn path(&self) -> &Path {
        &self.path
    }
}
