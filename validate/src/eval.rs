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
    /// Of which: seconds in the forward passes, logits copied to the host included.
    pub forward_seconds: f64,
    /// Windows evaluated per forward pass.
    pub windows_per_pass: usize,
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

/// Bytes of scored logits (f32) one forward pass may produce: several windows go through the
/// model together (fewer, larger device operations) while their logits stay within this.
pub const LOGITS_BUDGET_BYTES: usize = 256 << 20;

/// Most windows evaluated together in one forward pass.
pub const MAX_WINDOWS_PER_PASS: usize = 8;

/// Windows per forward pass for a vocabulary of `n_vocab` and `rows` scored positions per window.
pub fn windows_per_pass(n_vocab: usize, rows: usize) -> usize {
    let per_window = rows.max(1) * n_vocab.max(1) * 4;
    (LOGITS_BUDGET_BYTES / per_window).clamp(1, MAX_WINDOWS_PER_PASS)
}

/// Scored logits of windows `chunks` (row-major: window, position, vocab) and the forward time.
fn scored_logits(
    model: &Model,
    tokens: &[u32],
    n_ctx: usize,
    chunks: std::ops::Range<usize>,
    bos: Option<u32>,
) -> Result<(Vec<f32>, f64)> {
    let t0 = Instant::now();
    let windows: Vec<Vec<u32>> = chunks.map(|c| window_tokens(tokens, n_ctx, c, bos)).collect();
    let refs: Vec<&[u32]> = windows.iter().map(Vec::as_slice).collect();
    let rows = logits_file::scored_per_chunk(n_ctx);
    let logits = model.forward_batch(&refs, n_ctx / 2, rows)?;
    let v = logits.flatten_all()?.to_vec1::<f32>()?;
    Ok((v, t0.elapsed().as_secs_f64()))
}

/// Runs windows `0..n_chunk` through the model, several per forward pass, and hands each
/// window's scored logits (`rows × n_vocab`) and its target tokens to `score`, in order.
fn for_each_window(
    model: &Model,
    tokens: &[u32],
    n_ctx: usize,
    n_chunk: usize,
    bos: Option<u32>,
    mut score: impl FnMut(usize, &[f32], &[u32]) -> Result<()>,
) -> Result<Timing> {
    let n_vocab = model.config.n_vocab;
    let rows = logits_file::scored_per_chunk(n_ctx);
    let first = n_ctx / 2;
    let per_pass = windows_per_pass(n_vocab, rows);
    let mut forward_seconds = 0.0;
    let t0 = Instant::now();
    let mut chunk = 0;
    while chunk < n_chunk {
        let end = (chunk + per_pass).min(n_chunk);
        let (logits, fs) = scored_logits(model, tokens, n_ctx, chunk..end, bos)?;
        forward_seconds += fs;
        for (i, window_logits) in logits.chunks_exact(rows * n_vocab).enumerate() {
            let c = chunk + i;
            score(c, window_logits, &tokens[c * n_ctx + first + 1..c * n_ctx + n_ctx])?;
        }
        chunk = end;
    }
    Ok(Timing { tokens: n_chunk * n_ctx, seconds: t0.elapsed().as_secs_f64(), forward_seconds, windows_per_pass: per_pass })
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
    let mut acc = PplAccumulator::default();
    let mut stored = vec![0u16; logits_file::scored_per_chunk(n_ctx) * nv];
    let timing = for_each_window(model, tokens, n_ctx, n_chunk, bos, |c, logits, targets| {
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
        progress(c + 1, n_chunk);
        Ok(())
    })?;
    Ok((acc, timing))
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
    let mut acc = KldAccumulator::default();
    let mut stored = vec![0u16; logits_file::scored_per_chunk(n_ctx) * nv];
    let tokens = base.tokens.clone();
    let timing = for_each_window(model, &tokens, n_ctx, n_chunk, bos, |c, logits, targets| {
        base.read_rows(&mut stored)?;
        let per_token: Vec<metrics::TokenKld> = logits
            .par_chunks(n_vocab)
            .zip(stored.par_chunks(nv))
            .zip(targets.par_iter())
            .map(|((row, base_row), &tok)| metrics::compare_row(row, base_row, tok as usize))
            .collect();
        per_token.into_iter().for_each(|t| acc.add(t));
        progress(c + 1, n_chunk);
        Ok(())
    })?;
    Ok((acc, timing))
}
