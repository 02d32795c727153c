//! `tokenizer.ggml.model = gpt2`: llama.cpp's byte-level BPE (`llm_tokenizer_bpe_session`) as a
//! `tokenizers` BPE model: the split regexes of `tokenizer.ggml.pre` ([`super::pre`]), the
//! byte-to-unicode mapping, then the GGUF's merges by rank (with llama.cpp's `ignore_merges` for
//! the pre-types that set it: a piece that is itself a token is not merged).

use super::{build_err, pre, GgufVocab, VResult, VocabError};
use std::collections::HashSet;
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::{Vocab, BPE};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{PreTokenizerWrapper, SplitDelimiterBehavior, Tokenizer};

/// The merges as llama.cpp reads them: split at the first space after the first byte; the first
/// of repeated pairs counts. Pairs that join into no token never produce one in llama.cpp's
/// output either and are left out (the `tokenizers` BPE model refuses them).
fn merges(v: &GgufVocab) -> Vec<(String, String)> {
    let ids = v.token_to_id();
    let mut seen = HashSet::new();
    v.merges
        .iter()
        .filter_map(|m| {
            // A byte search from byte 1, as llama.cpp's `find(' ', 1)` (a space is one byte).
            let pos = m.bytes().skip(1).position(|b| b == b' ')? + 1;
            let (l, r) = (&m[..pos], &m[pos + 1..]);
            let ok = ids.contains_key(l) && ids.contains_key(r) && ids.contains_key(&format!("{l}{r}"));
            (ok && seen.insert((l, r))).then(|| (l.to_owned(), r.to_owned()))
        })
        .collect()
}

/// The tokenizer of a byte-level BPE vocabulary.
pub fn tokenizer(v: &GgufVocab) -> VResult<Tokenizer> {
    let row = v.pre.as_deref().and_then(pre::lookup).ok_or_else(|| VocabError::UnknownPreTokenizer(v.pre.clone()))?;
    let model = BPE::builder()
        .vocab_and_merges(v.token_to_id().into_iter().collect::<Vocab>(), merges(v))
        .ignore_merges(row.ignore_merges)
        .build()
        .map_err(build_err("BPE model"))?;
    let mut steps: Vec<PreTokenizerWrapper> = Vec::new();
    for regex in row.regexes {
        let split = Split::new(SplitPattern::Regex((*regex).to_owned()), SplitDelimiterBehavior::Isolated, false)
            .map_err(build_err(format!("split regex {regex:?}")))?;
        steps.push(split.into());
    }
    steps.push(ByteLevel::new(false, false, false).into());
    let mut tok = Tokenizer::new(model);
    tok.with_pre_tokenizer(Some(Sequence::new(steps)));
    tok.with_decoder(Some(ByteLevelDecoder::default()));
    Ok(tok)
}
