//! The evaluation loop of llama-perplexity: the token stream is cut into windows of `n_ctx`
//! tokens; each window starts afresh (first token replaced by BOS when the model adds one) and
//! only its second half is scored (positions n_ctx/2 … n_ctx−2 predict the next token).

use crate::error::{Result, ValidateError};
use crate::logits_file::{self, LogitsReader, LogitsWriter};
use crate::metrics::{self, KldAccumulator, PplAccumulator};
use crate::model::Model;
use rayon::prelude::*;
use std::time::Instant;

/// Tokens of window `chunk` as fed to the model.
pub fn window_tokens(tokens: &[u32], n_ctx: usize, chunk: usize, bos: Option<u32>) -> Vec<u32> {
    let start = chunk * n_ctx;
    let mut w: Vec<u32> = tokens.get(start..start + n_ctx).map(<[u32]>::to_vec).unwrap_or_default();
    if let (Some(b), Some(first)) = (bos, w.first_mut()) {
        *first = b;
    }
    w
}

/// Timing of an evaluation.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Timing {
    /// Tokens fed through the model.
    pub tokens: usize,
    /// Seconds in the forward passes and scoring.
    pub seconds: f64,
}

impl Timing {
    /// Tokens per second.
    pub fn tokens_per_second(&self) -> f64 {
        if self.seconds > 0.0 { self.tokens as f64 / self.seconds } else { 0.0 }
    }
}

/// Number of windows to evaluate: all full windows, or at most `max_chunks`.
pub fn n_chunks(n_tokens: usize, n_ctx: usize, max_chunks: Option<usize>) -> usize {
    let all = n_tokens / n_ctx;
    max_chunks.map_or(all, |m| m.min(all))
}

fn scored_logits(model: &Model, window: &[u32], n_ctx: usize) -> Result<Vec<f32>> {
    let first = n_ctx / 2;
    let logits = model.forward(window)?;
    let rows = logits_file::scored_per_chunk(n_ctx);
    Ok(logits.narrow(0, first, rows)?.flatten_all()?.to_vec1::<f32>()?)
}

/// Evaluates the reference model: its perplexity, and (with `writer`) its stored log-probabilities.
pub fn evaluate_reference(
    model: &Model,
    tokens: &[u32],
    n_ctx: usize,
    n_chunk: usize,
    bos: Option<u32>,
    mut writer: Option<&mut LogitsWriter>,
    mut progress: impl FnMut(usize, usize),
) -> Result<(PplAccumulator, Timing)> {
    let n_vocab = model.config.n_vocab;
    let nv = logits_file::row_len(n_vocab);
    let rows = logits_file::scored_per_chunk(n_ctx);
    let first = n_ctx / 2;
    let mut acc = PplAccumulator::default();
    let mut stored = vec![0u16; rows * nv];
    let t0 = Instant::now();
    for chunk in 0..n_chunk {
        let window = window_tokens(tokens, n_ctx, chunk, bos);
        let logits = scored_logits(model, &window, n_ctx)?;
        let targets = &tokens[chunk * n_ctx + first + 1..chunk * n_ctx + n_ctx];
        let nlls: Vec<f64> = logits
            .par_chunks(n_vocab)
            .zip(stored.par_chunks_mut(nv))
            .zip(targets.par_iter())
            .map(|((row, out), &tok)| logits_file::quantize_row(row, tok as usize, out))
            .collect();
        nlls.into_iter().for_each(|v| acc.add(v));
        if let Some(w) = writer.as_deref_mut() {
            w.write_rows(&stored)?;
        }
        progress(chunk + 1, n_chunk);
    }
    Ok((acc, Timing { tokens: n_chunk * n_ctx, seconds: t0.elapsed().as_secs_f64() }))
}

/// Evaluates a model against stored reference log-probabilities.
pub fn evaluate_against(
    model: &Model,
    base: &mut LogitsReader,
    n_chunk: usize,
    bos: Option<u32>,
    mut progress: impl FnMut(usize, usize),
) -> Result<(KldAccumulator, Timing)> {
    let n_vocab = model.config.n_vocab;
    if n_vocab != base.n_vocab {
        return Err(ValidateError::VocabMismatch {
            reference: "reference log-probabilities".into(),
            reference_vocab: base.n_vocab,
            other: "evaluated model".into(),
            other_vocab: n_vocab,
        });
    }
    let n_ctx = base.n_ctx;
    let n_chunk = n_chunk.min(base.n_chunk);
    let nv = logits_file::row_len(n_vocab);
    let rows = logits_file::scored_per_chunk(n_ctx);
    let first = n_ctx / 2;
    let mut acc = KldAccumulator::default();
    let mut stored = vec![0u16; rows * nv];
    let tokens = base.tokens.clone();
    let t0 = Instant::now();
    for chunk in 0..n_chunk {
        base.read_rows(&mut stored)?;
        let window = window_tokens(&tokens, n_ctx, chunk, bos);
        let logits = scored_logits(model, &window, n_ctx)?;
        let targets = &tokens[chunk * n_ctx + first + 1..chunk * n_ctx + n_ctx];
        let per_token: Vec<metrics::TokenKld> = logits
            .par_chunks(n_vocab)
            .zip(stored.par_chunks(nv))
            .zip(targets.par_iter())
            .map(|((row, base_row), &tok)| metrics::compare_row(row, base_row, tok as usize))
            .collect();
        per_token.into_iter().for_each(|t| acc.add(t));
        progress(chunk + 1, n_chunk);
    }
    Ok((acc, Timing { tokens: n_chunk * n_ctx, seconds: t0.elapsed().as_secs_f64() }))
}
