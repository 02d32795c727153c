//! Reference log-probabilities, stored once and reused for every evaluated file, in the format of
//! llama-perplexity's `--kl-divergence-base` file (so either tool can read the other's):
//!
//! `"_logits_"`, n_ctx: u32, n_vocab: i32, n_chunk: i32, tokens: i32 × n_ctx·n_chunk, then for each
//! chunk, for each of its scored positions (n_ctx − 1 − n_ctx/2), `nv = 2·⌈n_vocab/2⌉ + 4` u16:
//! two f32 (scale, min log-prob) followed by the log-probabilities quantized to 16 bits over the
//! 16 nats below the maximum.

use crate::error::{Result, ValidateError};
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"_logits_";

/// u16 values per stored row.
pub fn row_len(n_vocab: usize) -> usize {
    2 * n_vocab.div_ceil(2) + 4
}

/// Number of scored positions per window of `n_ctx` tokens (llama-perplexity: the second half).
pub fn scored_per_chunk(n_ctx: usize) -> usize {
    n_ctx - 1 - n_ctx / 2
}

fn nearest_int(v: f32) -> i32 {
    v.round_ties_even() as i32
}

/// Quantizes one row of logits into `out` (length [`row_len`]); returns the negative
/// log-likelihood of `tok`, as llama-perplexity computes it when saving.
pub fn quantize_row(logits: &[f32], tok: usize, out: &mut [u16]) -> f64 {
    let mut max = f32::NEG_INFINITY;
    let mut min = f32::INFINITY;
    for &v in logits {
        max = max.max(v);
        min = min.min(v);
    }
    let min = min.max(max - 16.0);
    let log_sum_exp = crate::metrics::log_sum_exp(logits, max);
    let min_log_prob = min - max - log_sum_exp;
    let scale = (max - min) / 65535.0;
    let (head, body) = out.split_at_mut(4);
    let s = scale.to_le_bytes();
    let m = min_log_prob.to_le_bytes();
    head[0] = u16::from_le_bytes([s[0], s[1]]);
    head[1] = u16::from_le_bytes([s[2], s[3]]);
    head[2] = u16::from_le_bytes([m[0], m[1]]);
    head[3] = u16::from_le_bytes([m[2], m[3]]);
    body.fill(0);
    if scale != 0.0 {
        let inv = 1.0 / scale;
        for (o, &v) in body.iter_mut().zip(logits) {
            *o = if v > min { nearest_int(inv * (v - min)).clamp(0, 65535) as u16 } else { 0 };
        }
    }
    let tok_logit = logits.get(tok).copied().unwrap_or(f32::NEG_INFINITY);
    (max + log_sum_exp - tok_logit) as f64
}

/// Reads the scale and minimum of a stored row.
pub fn row_header(row: &[u16]) -> (f32, f32) {
    let w = |i: usize| row.get(i).copied().unwrap_or(0).to_le_bytes();
    let (a, b, c, d) = (w(0), w(1), w(2), w(3));
    (f32::from_le_bytes([a[0], a[1], b[0], b[1]]), f32::from_le_bytes([c[0], c[1], d[0], d[1]]))
}

/// Writes a reference file chunk by chunk.
pub struct LogitsWriter {
    path: PathBuf,
    out: BufWriter<File>,
}

impl LogitsWriter {
    /// Creates the file and writes the header and tokens.
    pub fn create(path: &Path, n_ctx: usize, n_vocab: usize, tokens: &[u32]) -> Result<LogitsWriter> {
        let io = |e| ValidateError::io(path, e);
        let n_chunk = tokens.len() / n_ctx;
        let mut out = BufWriter::new(File::create(path).map_err(io)?);
        out.write_all(MAGIC).map_err(io)?;
        out.write_all(&(n_ctx as u32).to_le_bytes()).map_err(io)?;
        out.write_all(&(n_vocab as i32).to_le_bytes()).map_err(io)?;
        out.write_all(&(n_chunk as i32).to_le_bytes()).map_err(io)?;
        for &t in &tokens[..n_chunk * n_ctx] {
            out.write_all(&(t as i32).to_le_bytes()).map_err(io)?;
        }
        Ok(LogitsWriter { path: path.to_path_buf(), out })
    }

    /// Appends one chunk's rows.
    pub fn write_rows(&mut self, rows: &[u16]) -> Result<()> {
        let mut bytes = vec![0u8; rows.len() * 2];
        for (b, v) in bytes.chunks_exact_mut(2).zip(rows) {
            b.copy_from_slice(&v.to_le_bytes());
        }
        self.out.write_all(&bytes).map_err(|e| ValidateError::io(&self.path, e))
    }

    /// Flushes the file.
    pub fn finish(mut self) -> Result<()> {
        self.out.flush().map_err(|e| ValidateError::io(&self.path, e))
    }
}

/// Reads a reference file chunk by chunk.
pub struct LogitsReader {
    path: PathBuf,
    input: BufReader<File>,
    /// Window size the file was made with.
    pub n_ctx: usize,
    /// Vocabulary size.
    pub n_vocab: usize,
    /// Number of windows stored.
    pub n_chunk: usize,
    /// The evaluation tokens, n_ctx · n_chunk (first token of each window as in the text, not BOS).
    pub tokens: Vec<u32>,
}

impl LogitsReader {
    /// Opens a file and reads its header and tokens.
    pub fn open(path: &Path) -> Result<LogitsReader> {
        let bad = |m: String| ValidateError::LogitsFile { path: path.to_path_buf(), message: m };
        let file = File::open(path).map_err(|e| ValidateError::io(path, e))?;
        let file_len = file.metadata().map_err(|e| ValidateError::io(path, e))?.len();
        let mut input = BufReader::new(file);
        let mut head = [0u8; 20];
        input.read_exact(&mut head).map_err(|_| bad("too short for a log-probability file".into()))?;
        if &head[..8] != MAGIC {
            return Err(bad("not a log-probability file (no \"_logits_\" magic)".into()));
        }
        let u = |i: usize| u32::from_le_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]);
        let (n_ctx, n_vocab, n_chunk) = (u(8) as usize, u(12) as usize, u(16) as usize);
        if n_ctx < 4 || n_vocab == 0 {
            return Err(bad(format!("bad header: n_ctx {n_ctx}, n_vocab {n_vocab}")));
        }
        // in u128: with u32 header fields the products reach 2^97, past u64 (found by fuzzing:
        // fuzz/regressions/validate_logits/)
        let expected = 20u128
            + 4 * (n_ctx as u128) * (n_chunk as u128)
            + 2 * (n_chunk as u128) * (scored_per_chunk(n_ctx) as u128) * (row_len(n_vocab) as u128);
        if u128::from(file_len) != expected {
            return Err(bad(format!("size {file_len} bytes, expected {expected} for n_ctx {n_ctx}, n_vocab {n_vocab}, {n_chunk} chunks")));
        }
        let mut raw = vec![0u8; 4 * n_ctx * n_chunk];
        input.read_exact(&mut raw).map_err(|e| ValidateError::io(path, e))?;
        let tokens = raw.chunks_exact(4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        Ok(LogitsReader { path: path.to_path_buf(), input, n_ctx, n_vocab, n_chunk, tokens })
    }

    /// Reads the next chunk's rows into `rows` (length scored_per_chunk · row_len).
    pub fn read_rows(&mut self, rows: &mut [u16]) -> Result<()> {
        let mut raw = vec![0u8; rows.len() * 2];
        self.input.read_exact(&mut raw).map_err(|e| ValidateError::io(&self.path, e))?;
        for (o, b) in rows.iter_mut().zip(raw.chunks_exact(2)) {
            *o = u16::from_le_bytes([b[0], b[1]]);
        }
        Ok(())
    }
}
