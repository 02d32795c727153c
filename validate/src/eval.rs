//! The evaluation loop of llama-perplexity: the token stream is cut into windows of `n_ctx`
//! tokens; each window starts afresh (first token replaced by BOS when the model adds one) and
//! only its second half is scored (positions n_ctx/2 … n_ctx−2 predict the next token).

use crate::error::{Result, ValidateError};
use crate::logits_file::{self, LogitsReader, LogitsWriter};
use crate::metrics::{self, KldAccumulator, PplAccumulator};
use crate::model::{Model, Observer};
use candle_core::Tensor;
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
        if self.seconds > 0.0 {
            self.tokens as f64 / self.seconds
        } else {
            0.0
        }
    }
}

/// Number of windows to evaluate: all full windows, or at most `max_chunks`.
pub fn n_chunks(n_tokens: usize, n_ctx: usize, max_chunks: Option<usize>) -> usize {
    let all = n_tokens / n_ctx;
    max_chunks.map_or(all, |m| m.min(all))
}

/// Most windows evaluated together in one forward pass (fewer, larger device operations; on the
/// CPU each quantized matrix is unpacked once per pass). Fewer when the memory budget needs it
/// ([`crate::run`]); the logits go window by window whatever the count.
pub const MAX_WINDOWS_PER_PASS: usize = 8;

/// Where an evaluation stands, after each block of each pass and after each scored group.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// Work done, in window-blocks (a window through one block), out of `total`.
    pub done: usize,
    /// All window-blocks of the evaluation.
    pub total: usize,
    /// Windows scored.
    pub windows_done: usize,
    /// Windows to score.
    pub windows_total: usize,
    /// Block just finished (1-based; 0 when scoring).
    pub layer: usize,
    /// Blocks of the model.
    pub n_layer: usize,
    /// Tokens per window.
    pub n_ctx: usize,
}

/// How windows are grouped: `per_pass` go through the device together, `kept` have their hidden
/// states kept between blocks (one pass through the blocks; equal to `per_pass` when resident).
#[derive(Debug, Clone, Copy)]
pub struct Grouping {
    /// Windows per device operation.
    pub per_pass: usize,
    /// Windows per pass through the blocks.
    pub kept: usize,
}

/// Takes one window's scored logits (`rows × n_vocab`, starting at window `i`) and its target tokens.
type ScoreFn<'s> = dyn FnMut(usize, &[f32], &[u32]) -> Result<()> + 's;

/// Runs windows `0..n_chunk` through the model and hands each window's scored logits
/// (`rows × n_vocab`) and its target tokens to `score`, in order.
#[allow(clippy::too_many_arguments)]
fn for_each_window(
    model: &Model<'_>,
    tokens: &[u32],
    n_ctx: usize,
    n_chunk: usize,
    bos: Option<u32>,
    grouping: Grouping,
    progress: &mut dyn FnMut(Progress),
    score: &mut ScoreFn<'_>,
) -> Result<Timing> {
    struct Scorer<'s> {
        chunk0: usize,
        per_pass: usize,
        n_ctx: usize,
        tokens: &'s [u32],
        base: Progress,
        forward_seconds: f64,
        pass_start: Instant,
        progress: &'s mut dyn FnMut(Progress),
        score: &'s mut ScoreFn<'s>,
    }
    impl Scorer<'_> {
        /// Scores window `window` of pass `group` from its logits `v` (`[rows, n_vocab]`).
        fn score_window(&mut self, group: usize, window: usize, v: &[f32]) -> Result<()> {
            self.forward_seconds += self.pass_start.elapsed().as_secs_f64();
            let (first, n_ctx) = (self.n_ctx / 2, self.n_ctx);
            let c = self.chunk0 + group * self.per_pass + window;
            (self.score)(c, v, &self.tokens[c * n_ctx + first + 1..c * n_ctx + n_ctx])?;
            self.base.windows_done += 1;
            Ok(())
        }
    }
    impl Observer for Scorer<'_> {
        fn layer_done(&mut self, il: usize, windows: usize) {
            let mut p = self.base;
            p.done += (il + 1) * windows;
            p.layer = il + 1;
            (self.progress)(p);
        }
        fn logits(&mut self, group: usize, window: usize, logits: Tensor) -> Result<()> {
            // Scored in place where the logits are on the CPU; copied to the host otherwise.
            match crate::cpu_ops::with_cpu_f32(&logits, |v| self.score_window(group, window, v)) {
                Some(r) => r?,
                None => self.score_window(group, window, &logits.flatten_all()?.to_vec1::<f32>()?)?,
            }
            let mut p = self.base;
            p.layer = 0;
            (self.progress)(p);
            self.pass_start = Instant::now();
            Ok(())
        }
    }
    let c = &model.config;
    let rows = logits_file::scored_per_chunk(n_ctx);
    let per_pass = grouping.per_pass.max(1);
    let kept = grouping.kept.max(per_pass);
    let t0 = Instant::now();
    let mut scorer = Scorer {
        chunk0: 0,
        per_pass,
        n_ctx,
        tokens,
        base: Progress {
            done: 0,
            total: n_chunk * c.n_layer,
            windows_done: 0,
            windows_total: n_chunk,
            layer: 0,
            n_layer: c.n_layer,
            n_ctx,
        },
        forward_seconds: 0.0,
        pass_start: t0,
        progress,
        score,
    };
    let mut chunk = 0;
    while chunk < n_chunk {
        let end = (chunk + kept).min(n_chunk);
        let windows: Vec<Vec<u32>> = (chunk..end).map(|w| window_tokens(tokens, n_ctx, w, bos)).collect();
        let groups: Vec<Vec<&[u32]>> = windows.chunks(per_pass).map(|g| g.iter().map(Vec::as_slice).collect()).collect();
        scorer.chunk0 = chunk;
        scorer.pass_start = Instant::now();
        model.forward_groups(&groups, n_ctx / 2, rows, &mut scorer)?;
        scorer.base.done += (end - chunk) * c.n_layer;
        chunk = end;
    }
    Ok(Timing {
        tokens: n_chunk * n_ctx,
        seconds: t0.elapsed().as_secs_f64(),
        forward_seconds: scorer.forward_seconds,
        windows_per_pass: per_pass,
    })
}

/// Evaluates the reference model: its perplexity, and (with `writer`) its stored log-probabilities.
#[allow(clippy::too_many_arguments)]
pub fn evaluate_reference(
    model: &Model<'_>,
    tokens: &[u32],
    n_ctx: usize,
    n_chunk: usize,
    bos: Option<u32>,
    grouping: Grouping,
    mut writer: Option<&mut LogitsWriter>,
    mut progress: impl FnMut(Progress),
) -> Result<(PplAccumulator, Timing)> {
    let n_vocab = model.config.n_vocab;
    let nv = logits_file::row_len(n_vocab);
    let mut acc = PplAccumulator::default();
    let mut stored = vec![0u16; logits_file::scored_per_chunk(n_ctx) * nv];
    let timing = for_each_window(model, tokens, n_ctx, n_chunk, bos, grouping, &mut progress, &mut |_, logits, targets| {
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
        Ok(())
    })?;
    Ok((acc, timing))
}

/// Evaluates a model against stored reference log-probabilities.
pub fn evaluate_against(
    model: &Model<'_>,
    base: &mut LogitsReader,
    n_chunk: usize,
    bos: Option<u32>,
    grouping: Grouping,
    mut progress: impl FnMut(Progress),
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
    let timing = for_each_window(model, &tokens, n_ctx, n_chunk, bos, grouping, &mut progress, &mut |_, logits, targets| {
        base.read_rows(&mut stored)?;
        let per_token: Vec<metrics::TokenKld> = logits
            .par_chunks(n_vocab)
            .zip(stored.par_chunks(nv))
            .zip(targets.par_iter())
            .map(|((row, base_row), &tok)| metrics::compare_row(row, base_row, tok as usize))
            .collect();
        per_token.into_iter().for_each(|t| acc.add(t));
        Ok(())
    })?;
    Ok((acc, timing))
}
