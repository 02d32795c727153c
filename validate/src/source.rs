//! Opening a model given on the command line: an HF folder (config.json + safetensors) or a GGUF file.

use crate::config::{GgufMeta, ModelConfig};
use crate::error::{Result, ValidateError};
use crate::memory::Mode;
use crate::model::Model;
use crate::tokenize::TextTokenizer;
use crate::weights::gguf::GgufWeights;
use crate::weights::safetensors::{read_json, HfWeights};
use crate::weights::WeightSource;
use candle_core::Device;
use gguf::arch::GgufHparams;
use std::path::{Path, PathBuf};

/// A model to evaluate.
pub enum ModelFile {
    /// An HF checkpoint folder.
    Hf {
        /// The folder.
        dir: PathBuf,
        /// Its configuration.
        config: ModelConfig,
        /// Its weights.
        weights: HfWeights,
    },
    /// A GGUF file.
    Gguf {
        /// Its configuration.
        config: ModelConfig,
        /// The file.
        weights: GgufWeights,
    },
}

impl ModelFile {
    /// Opens a folder (HF) or a file (GGUF).
    pub fn open(path: &Path) -> Result<ModelFile> {
        let name = path.display().to_string();
        if path.is_dir() {
            // the fields the file lacks take their config class's defaults, as transformers fills them
            let cfg = gguf::arch::HfConfig::new(read_json(&path.join("config.json"))?)
                .map_err(|e| ValidateError::HfConfig { source_name: name.clone(), source: e })?;
            let config = ModelConfig::from_hf(&cfg, &name)?;
            let weights = HfWeights::open(path, config.arch)?;
            Ok(ModelFile::Hf { dir: path.to_path_buf(), config, weights })
        } else {
            let weights = GgufWeights::open(path)?;
            let n_vocab = weights
                .rows("token_embd.weight")
                .ok_or_else(|| ValidateError::MissingTensor { source_name: name.clone(), tensor: "token_embd.weight".into() })?;
            let tensor = |t: &str| weights.contains(t).then(|| weights.load(t).ok().map(|r| r.data)).flatten();
            let hp = GgufHparams::read(&|k| weights.file().get(k))
                .map_err(|e| ValidateError::Hparams { source_name: name.clone(), source: e })?;
            let config = ModelConfig::from_gguf(&hp, n_vocab, &tensor, &name)?;
            Ok(ModelFile::Gguf { config, weights })
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ModelConfig {
        match self {
            ModelFile::Hf { config, .. } | ModelFile::Gguf { config, .. } => config,
        }
    }

    /// The weights.
    pub fn weights(&self) -> &dyn WeightSource {
        match self {
            ModelFile::Hf { weights, .. } => weights,
            ModelFile::Gguf { weights, .. } => weights,
        }
    }

    /// Loads all the weights onto `device` (resident).
    pub fn load(&self, device: &Device) -> Result<Model<'_>> {
        Model::resident(self.config().clone(), self.weights(), device)
    }

    /// The model as the plan says: resident, or streamed block by block.
    pub fn model(&self, device: &Device, mode: Mode) -> Result<Model<'_>> {
        match mode {
            Mode::Resident => self.load(device),
            Mode::Streamed => Model::streamed(self.config().clone(), self.weights(), device),
        }
    }

    /// The tokenizer of a text evaluated with this model (`path`: where it was opened from):
    /// `tokenizer` when given, else the folder's tokenizer.json, else the GGUF's own vocabulary;
    /// None for an HF folder without tokenizer.json.
    pub fn text_tokenizer(&self, path: &Path, tokenizer: Option<&Path>) -> Result<Option<TextTokenizer>> {
        if let Some(p) = tokenizer.map(Path::to_path_buf).or_else(|| self.tokenizer_json()) {
            return TextTokenizer::open(&p).map(Some);
        }
        match self {
            ModelFile::Gguf { weights, .. } => TextTokenizer::from_gguf(path, weights.file()).map(Some),
            ModelFile::Hf { .. } => Ok(None),
        }
    }

    /// The tokens of the text at `text` as this model is fed them: BOS first when the model adds
    /// it (llama.cpp's policy for a GGUF, the tokenizer's for an HF folder), then the text encoded
    /// with `tok`; also that BOS. Every token must be in the model's vocabulary.
    pub fn text_tokens(&self, tok: &TextTokenizer, text: &Path) -> Result<(Vec<u32>, Option<u32>)> {
        let bos = match self.gguf_bos() {
            Some(b) => b,
            None => tok.bos_added()?,
        };
        let content = std::fs::read_to_string(text).map_err(|e| ValidateError::io(text, e))?;
        let mut tokens: Vec<u32> = bos.into_iter().collect();
        tokens.extend(tok.encode(&content)?);
        let n_vocab = self.config().n_vocab;
        if let Some(&bad) = tokens.iter().find(|&&t| t as usize >= n_vocab) {
            return Err(ValidateError::TokenOutOfRange { source_name: tok.path().display().to_string(), token: bad, vocab: n_vocab });
        }
        Ok((tokens, bos))
    }

    /// The folder's `tokenizer.json`, for HF models.
    pub fn tokenizer_json(&self) -> Option<PathBuf> {
        match self {
            ModelFile::Hf { dir, .. } => Some(dir.join("tokenizer.json")).filter(|p| p.is_file()),
            ModelFile::Gguf { .. } => None,
        }
    }

    /// llama.cpp's BOS policy of a GGUF file: `Some(bos id)` when llama.cpp adds BOS
    /// (`tokenizer.ggml.add_bos_token`, else llama.cpp's default for the vocabulary, see
    /// [`crate::vocab::GgufVocab`]), else None.
    pub fn gguf_bos(&self) -> Option<Option<u32>> {
        match self {
            ModelFile::Gguf { weights, .. } => {
                if let Ok(v) = crate::vocab::GgufVocab::read(weights.file()) {
                    return Some(v.bos.filter(|_| v.add_bos));
                }
                // A vocabulary we do not rebuild (the text then comes with --tokenizer).
                let add = match weights.meta_u64("tokenizer.ggml.add_bos_token") {
                    Some(v) => v != 0,
                    None => weights
                        .meta_bool("tokenizer.ggml.add_bos_token")
                        .unwrap_or_else(|| weights.meta_str("tokenizer.ggml.model").as_deref() == Some("llama")),
                };
                let bos = weights.meta_u64("tokenizer.ggml.bos_token_id").map(|v| v as u32);
                Some(if add { bos } else { None })
            }
            ModelFile::Hf { .. } => None,
        }
    }
}
