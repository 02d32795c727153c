//! llama.cpp's byte-level BPE pre-tokenizers, declared once: `tokenizer.ggml.pre` name → the split
//! regexes and merge flags. Used both ways: the converter recognises a `tokenizer.json`'s
//! pre-tokenizer as one of these rows (`src/tokenizer/pretokenizer.rs`), and `validate` rebuilds a
//! tokenizer from a GGUF's `tokenizer.ggml.pre` with them ([`super::bpe`]).
//!
//! The regexes are the "original regex from tokenizer.json" of each `LLAMA_VOCAB_PRE_TYPE_*` in
//! the pinned src/llama-vocab.cpp (llama.cpp applies them in an adapted form); that HF's
//! tokenizers applying these gives llama.cpp's splits is checked by tests/validate_vocab.rs
//! against `llama-tokenize`.

/// GPT-2's split regex: what `ByteLevel { use_regex: true }` applies.
pub const GPT2: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)";
/// Llama 3's regex (LLAMA_VOCAB_PRE_TYPE_LLAMA3).
pub const LLAMA3: &str =
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Qwen2's regex (LLAMA_VOCAB_PRE_TYPE_QWEN2): Llama 3's with single digits.
pub const QWEN2: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Qwen3.5's regex (LLAMA_VOCAB_PRE_TYPE_QWEN35): Qwen2's with combining marks.
pub const QWEN35: &str =
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// GPT-4o's regex (LLAMA_VOCAB_PRE_TYPE_GPT4O).
pub const GPT4O: &str = r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// Tekken's regex (LLAMA_VOCAB_PRE_TYPE_TEKKEN, Mistral NeMo / Pixtral).
pub const TEKKEN: &str = r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// DeepSeek-Coder's chain (LLAMA_VOCAB_PRE_TYPE_DEEPSEEK_CODER): line breaks, letters,
/// punctuation and CJK runs isolated, then single digits.
pub const DEEPSEEK_CODER: &[&str] =
    &["[\r\n]", r"\s?\p{L}+", r"\s?\p{P}+", "[\u{4e00}-\u{9fa5}\u{0800}-\u{4e00}\u{ac00}-\u{d7ff}]+", DIGIT];
/// `Digits { individual_digits: true }` as a split regex.
pub const DIGIT: &str = r"\p{N}";

/// Which `tokenizer_config.json` `clean_up_tokenization_spaces` a row requires, when two llama.cpp
/// pre-types split identically and differ only in that detokenizer flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clean {
    /// Either value.
    Any,
    /// `clean_up_tokenization_spaces: true`.
    Yes,
    /// `false` or absent.
    No,
}

/// One known pre-tokenizer: the llama.cpp `tokenizer.ggml.pre` name, the split regexes, and the
/// BPE flags llama.cpp sets for that name (which the tokenizer.json must agree with).
pub struct Known {
    /// `tokenizer.ggml.pre`.
    pub pre: &'static str,
    /// The split regexes as tokenizer.json declares them, in order.
    pub regexes: &'static [&'static str],
    /// The `clean_up_tokenization_spaces` this row requires (converter recognition only).
    pub clean: Clean,
    /// llama.cpp's `ignore_merges` for this name; must equal tokenizer.json `model.ignore_merges`.
    pub ignore_merges: bool,
    /// llama.cpp's `add_bos` default for this name (a GGUF's `tokenizer.ggml.add_bos_token`
    /// overrides it).
    pub add_bos: bool,
}

/// The pre-tokenizers we recognise, declared once. Rows with the same regexes are told apart by
/// the detokenizer flag llama.cpp sets for them (`clean_spaces`).
pub const KNOWN: &[Known] = &[
    Known { pre: "gpt-2", regexes: &[GPT2], clean: Clean::Any, ignore_merges: false, add_bos: false },
    Known { pre: "llama-bpe", regexes: &[LLAMA3], clean: Clean::Any, ignore_merges: true, add_bos: true },
    // Llama 3's split without ignore_merges (tokenizers saved before that flag existed):
    // llama.cpp's SMAUG pre-type, same regex, merges always applied.
    Known { pre: "smaug-bpe", regexes: &[LLAMA3], clean: Clean::Any, ignore_merges: false, add_bos: false },
    Known { pre: "qwen2", regexes: &[QWEN2], clean: Clean::Any, ignore_merges: false, add_bos: false },
    Known { pre: "qwen35", regexes: &[QWEN35], clean: Clean::Any, ignore_merges: false, add_bos: false },
    Known { pre: "gpt-4o", regexes: &[GPT4O], clean: Clean::Any, ignore_merges: false, add_bos: false },
    Known { pre: "tekken", regexes: &[TEKKEN], clean: Clean::Any, ignore_merges: true, add_bos: true },
    // Digits(individual) + ByteLevel: llama.cpp's STARCODER and SMOLLM split the same way;
    // "smollm" turns off clean_spaces, "starcoder" keeps it.
    Known { pre: "deepseek-coder", regexes: DEEPSEEK_CODER, clean: Clean::Any, ignore_merges: false, add_bos: false },
    Known { pre: "smollm", regexes: &[DIGIT, GPT2], clean: Clean::No, ignore_merges: false, add_bos: false },
    Known { pre: "starcoder", regexes: &[DIGIT, GPT2], clean: Clean::Yes, ignore_merges: false, add_bos: false },
];

/// The row of a `tokenizer.ggml.pre` name, if ggufkit knows it.
pub fn lookup(pre: &str) -> Option<&'static Known> {
    KNOWN.iter().find(|k| k.pre == pre)
}

/// The known names, comma-separated (for messages).
pub fn known_names() -> String {
    KNOWN.iter().map(|k| k.pre).collect::<Vec<_>>().join(", ")
}
