//! How the pinned converter builds a model class's vocabulary (the `set_vocab` of its model class
//! in `convert_hf_to_gguf.py`), as data: which vocabulary builders it tries in which order, and the
//! few keys and fixed token ids some classes add. The tokenizer conversion (`src/tokenizer/`)
//! follows a [`VocabRecipe`] step by step; it has no per-architecture code.

/// A vocabulary builder of the converter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VocabSource {
    /// `_set_vocab_sentencepiece`: `tokenizer.model`. Applies when the file exists.
    SentencePiece,
    /// `_set_vocab_llama_hf` (gguf-py's `LlamaHfVocab`): a SentencePiece-style BPE `tokenizer.json`
    /// (byte fallback, a `Sequence` decoder). Applies when `tokenizer.json` is of that kind.
    LlamaHfBpe,
    /// `_set_vocab_gpt2`: byte-level BPE `tokenizer.json` with a recognised pre-tokenizer. Always
    /// applies (an error names the missing file).
    Gpt2Bpe,
}

/// Which added-token rules apply on top of SentencePiece pieces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpmAddedTokens {
    /// `TextModel._create_vocab_sentencepiece`: added_tokens.json and tokenizer_config.json
    /// `added_tokens_decoder`; out-of-range ids ignored; "looks special" → CONTROL.
    Default,
    /// `Phi3MiniModel.set_vocab`: also tokenizer.json `added_tokens`; `special` → CONTROL only;
    /// more pieces than `vocab_size` is an error.
    Phi3,
}

/// Special-token ids a class writes whatever the tokenizer files say (CodeLlama's and CodeGemma's
/// infill tokens): gguf-py's `SpecialVocab` restricted to `types`, with `ids` set.
#[derive(Debug)]
pub struct FixedSpecials {
    /// The special-token types this `SpecialVocab` handles (gguf-py writes only those it knows).
    pub types: &'static [&'static str],
    /// Type → id.
    pub ids: &'static [(&'static str, u32)],
    /// Whether this second `SpecialVocab` writes the chat template again (CodeGemma's does not).
    pub chat_template: bool,
}

/// Something a class adds after its vocabulary.
#[derive(Debug)]
pub enum VocabQuirk {
    /// Fixed special-token ids.
    Specials(&'static FixedSpecials),
    /// `tokenizer.ggml.add_bos_token = false`.
    NoBos,
}

/// A model class's `set_vocab`, step by step, in the order the converter writes the keys.
#[derive(Debug)]
pub struct VocabRecipe {
    /// The converter's method, for messages (`LlamaModel.set_vocab`, …).
    pub converter_method: &'static str,
    /// 1. `tokenizer.ggml.add_bos_token = false` before anything (Phi-2 writes it among its
    ///    hyper-parameters).
    pub no_bos_first: bool,
    /// 2. `tokenizer.ggml.add_space_prefix` from tokenizer_config.json `add_prefix_space`, and the
    ///    tokenizers this class refuses (`HybridDNATokenizer`, a Mistral `tekken.json` without
    ///    `tokenizer.json`) — `LlamaModel.set_vocab`.
    pub llama_checks: bool,
    /// 3a. When tokenizer_config.json's `tokenizer_class` is this, GPT-2 BPE is used whatever else
    ///     exists (Phi-3's `GPT2Tokenizer`, Phi-4-mini).
    pub gpt2_tokenizer_class: Option<&'static str>,
    /// 3b. Else the first builder that applies, in this order. When none applies, `required` names
    ///     the missing file.
    pub sources: &'static [VocabSource],
    /// What the error says is missing when no source applies.
    pub required: &'static str,
    /// The added-token rules of a SentencePiece vocabulary.
    pub spm_added_tokens: SpmAddedTokens,
    /// 4. Quirks after the vocabulary, by config `vocab_size` (`None`: always).
    pub quirks: &'static [(Option<u64>, VocabQuirk)],
    /// 5. `tokenizer.ggml.add_space_prefix = false` after a SentencePiece vocabulary (Gemma).
    pub spm_no_space_prefix: bool,
}

const CODELLAMA: FixedSpecials = FixedSpecials {
    types: &["prefix", "suffix", "middle", "eot"],
    ids: &[("prefix", 32007), ("suffix", 32008), ("middle", 32009), ("eot", 32010)],
    chat_template: true,
};

const CODEGEMMA: FixedSpecials = FixedSpecials {
    types: &["prefix", "suffix", "middle", "fsep", "eot"],
    ids: &[("prefix", 67), ("suffix", 69), ("middle", 68), ("fsep", 70), ("eot", 107)],
    chat_template: false,
};

impl VocabRecipe {
    /// `Qwen2Model.set_vocab`: SentencePiece if `tokenizer.model`, else GPT-2 BPE. (The plainest
    /// recipe: the others are written as their differences from it.)
    pub const QWEN2: VocabRecipe = VocabRecipe {
        converter_method: "Qwen2Model.set_vocab",
        no_bos_first: false,
        llama_checks: false,
        gpt2_tokenizer_class: None,
        sources: &[VocabSource::SentencePiece, VocabSource::Gpt2Bpe],
        required: "neither tokenizer.model nor tokenizer.json",
        spm_added_tokens: SpmAddedTokens::Default,
        quirks: &[],
        spm_no_space_prefix: false,
    };

    /// `TextModel.set_vocab` (a model class without its own, e.g. `Qwen2MoeModel`): GPT-2 BPE.
    pub const TEXT: VocabRecipe = VocabRecipe { converter_method: "TextModel.set_vocab", sources: &[VocabSource::Gpt2Bpe], ..Self::QWEN2 };

    /// `LlamaModel.set_vocab`: SentencePiece, else LlamaHfVocab, else GPT-2 BPE; CodeLlama's infill
    /// ids (vocab_size 32016) and granite-small's `add_bos_token = false` (49152).
    pub const LLAMA: VocabRecipe = VocabRecipe {
        converter_method: "LlamaModel.set_vocab",
        llama_checks: true,
        sources: &[VocabSource::SentencePiece, VocabSource::LlamaHfBpe, VocabSource::Gpt2Bpe],
        quirks: &[(Some(32016), VocabQuirk::Specials(&CODELLAMA)), (Some(49152), VocabQuirk::NoBos)],
        ..Self::QWEN2
    };

    /// `Phi3MiniModel.set_vocab`: GPT-2 BPE for a `GPT2Tokenizer`, else SentencePiece (required).
    pub const PHI3: VocabRecipe = VocabRecipe {
        converter_method: "Phi3MiniModel.set_vocab",
        gpt2_tokenizer_class: Some("GPT2Tokenizer"),
        sources: &[VocabSource::SentencePiece],
        required: "tokenizer.model is required",
        spm_added_tokens: SpmAddedTokens::Phi3,
        ..Self::QWEN2
    };

    /// `Phi2Model`: `add_bos_token = false`, then GPT-2 BPE.
    pub const PHI2: VocabRecipe =
        VocabRecipe { converter_method: "Phi2Model.set_vocab", no_bos_first: true, sources: &[VocabSource::Gpt2Bpe], ..Self::QWEN2 };

    /// `Gemma2Model.set_vocab`: SentencePiece (required), `add_space_prefix = false`.
    pub const GEMMA2: VocabRecipe = VocabRecipe {
        converter_method: "Gemma2Model.set_vocab",
        sources: &[VocabSource::SentencePiece],
        required: "tokenizer.model is required",
        spm_no_space_prefix: true,
        ..Self::QWEN2
    };

    /// `GemmaModel.set_vocab`: Gemma 2's, plus CodeGemma's infill ids.
    pub const GEMMA: VocabRecipe =
        VocabRecipe { converter_method: "GemmaModel.set_vocab", quirks: &[(None, VocabQuirk::Specials(&CODEGEMMA))], ..Self::GEMMA2 };

    /// `Gemma3Model.set_vocab`: SentencePiece and `add_space_prefix = false` if `tokenizer.model`,
    /// else GPT-2 BPE.
    pub const GEMMA3: VocabRecipe = VocabRecipe { converter_method: "Gemma3Model.set_vocab", spm_no_space_prefix: true, ..Self::QWEN2 };
}
