//! `tokenizer.ggml.model = llama`: llama.cpp's SentencePiece tokenization
//! (`llm_tokenizer_spm_session`) as a `tokenizers` BPE model.
//!
//! llama.cpp splits the text into UTF-8 characters and repeatedly merges the adjacent pair whose
//! concatenation is a token with the highest score; a piece that is no token becomes its bytes
//! (`<0xXX>`). A BPE model whose merges are every (left, right) split of every token into two
//! tokens, ranked by the joined token's score, merges the same pairs in the same order; byte
//! fallback gives the bytes. Spaces become `▁`; with `add_space_prefix` one is put before the
//! text and after every special token (normalizing each piece between added tokens does that).

use super::{build_err, GgufVocab, VResult, VocabError};
use tokenizers::decoders::byte_fallback::ByteFallback;
use tokenizers::models::bpe::{Vocab, BPE};
use tokenizers::normalizers::{Prepend, Replace, Sequence};
use tokenizers::{NormalizerWrapper, Tokenizer};

/// SentencePiece's whitespace symbol.
const SPACE: &str = "\u{2581}";

/// Longest token (bytes) whose splits are looked up: finding them costs the square of the length,
/// so a hostile vocabulary of huge tokens is refused instead (real SentencePiece pieces stay
/// under a few hundred bytes).
pub const MAX_TOKEN_BYTES: usize = 1024;

/// The merges: every split of a token into two tokens, the highest joined score first (ties:
/// lower token id, then the shorter left part).
fn merges(v: &GgufVocab) -> Vec<(String, String)> {
    let ids = v.token_to_id();
    let mut found: Vec<(f32, u32, usize, &str, &str)> = Vec::new();
    for (id, text) in v.tokens.iter().enumerate() {
        // A repeated text is one token for llama.cpp: the id its lookup gives.
        if ids.get(text.as_str()) != Some(&(id as u32)) {
            continue;
        }
        for (k, _) in text.char_indices().skip(1) {
            let (l, r) = text.split_at(k);
            if ids.contains_key(l) && ids.contains_key(r) {
                found.push((v.scores[id], id as u32, k, l, r));
            }
        }
    }
    found.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    found.into_iter().map(|(_, _, _, l, r)| (l.to_owned(), r.to_owned())).collect()
}

/// The tokenizer of a SentencePiece vocabulary.
pub fn tokenizer(v: &GgufVocab) -> VResult<Tokenizer> {
    if let Some((id, t)) = v.tokens.iter().enumerate().find(|(_, t)| t.len() > MAX_TOKEN_BYTES) {
        let message = format!("token {id} is {} bytes long, over the {MAX_TOKEN_BYTES} this tokenizer accepts", t.len());
        return Err(VocabError::BadKey { key: "tokenizer.ggml.tokens", message });
    }
    let mut builder = BPE::builder().vocab_and_merges(v.token_to_id().into_iter().collect::<Vocab>(), merges(v)).byte_fallback(true);
    if let Some(unk) = v.unk {
        builder = builder.unk_token(v.tokens[unk as usize].clone());
    }
    let model = builder.build().map_err(build_err("BPE model with byte fallback"))?;
    let mut tok = Tokenizer::new(model);
    let replace: NormalizerWrapper = Replace::new(" ", SPACE).map_err(build_err("space normalizer"))?.into();
    let normalizer: NormalizerWrapper =
        if v.add_space_prefix { Sequence::new(vec![Prepend::new(SPACE.into()).into(), replace]).into() } else { replace };
    tok.with_normalizer(Some(normalizer));
    tok.with_decoder(Some(ByteFallback::default()));
    Ok(tok)
}
