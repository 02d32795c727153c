//! Perplexity and KL-divergence statistics, computed as llama-perplexity does
//! (tools/perplexity/perplexity.cpp): per-token sums, then means with their standard errors.

use crate::logits_file;
use serde::Serialize;

/// `ln Σ exp(v − max)` over a row of logits whose largest value is `max`, summed in f64 as
/// llama-perplexity does.
pub fn log_sum_exp(logits: &[f32], max: f32) -> f32 {
    let sum_exp: f64 = logits.iter().map(|&v| (v - max).exp() as f64).sum();
    sum_exp.ln() as f32
}

/// A mean and its standard error, as llama-perplexity's `mean_and_uncertainty`.
pub fn mean_and_uncertainty(sum: f64, sum2: f64, count: usize) -> (f64, f64) {
    if count < 1 {
        return (0.0, 0.0);
    }
    let f = sum / count as f64;
    let df = sum2 / count as f64 - f * f;
    let df = if df > 0.0 && count > 10 { (df / (count as f64 - 1.0)).sqrt() } else { 0.0 };
    (f, df)
}

/// A value with its uncertainty.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Estimate {
    /// The value.
    pub value: f64,
    /// Its standard error.
    pub uncertainty: f64,
}

/// Per-token sums of one evaluation against a reference (llama-perplexity's
/// `kl_divergence_result`), plus per-token KLD and Δp values for percentiles.
#[derive(Debug, Default, Clone)]
pub struct KldAccumulator {
    sum_nll: f64,
    sum_nll2: f64,
    sum_nll_base: f64,
    sum_nll_base2: f64,
    sum_nll_nll_base: f64,
    sum_kld: f64,
    sum_kld2: f64,
    sum_p_diff: f64,
    sum_p_diff2: f64,
    sum_p_diff4: f64,
    max_p_diff: f64,
    n_same_top: usize,
    count: usize,
    kld_values: Vec<f32>,
    p_diff_values: Vec<f32>,
}

/// One token's comparison, computed in parallel then folded in order.
#[derive(Debug, Clone, Copy)]
pub struct TokenKld {
    nll: f32,
    nll_base: f32,
    kld: f64,
    p_diff: f32,
    same_top: bool,
}

/// Compares one row of logits with the stored reference row (see [`logits_file`]).
pub fn compare_row(logits: &[f32], base_row: &[u16], tok: usize) -> TokenKld {
    let mut max = f32::NEG_INFINITY;
    let mut imax = 0;
    for (i, &v) in logits.iter().enumerate() {
        if v > max {
            max = v;
            imax = i;
        }
    }
    let log_sum_exp = log_sum_exp(logits, max);
    let (scale, min_log_prob) = logits_file::row_header(base_row);
    let base = base_row.get(4..).unwrap_or(&[]);
    let tok_logit = logits.get(tok).copied().unwrap_or(f32::NEG_INFINITY);
    let nll = max + log_sum_exp - tok_logit;
    let nll_base = -(scale * base.get(tok).copied().unwrap_or(0) as f32 + min_log_prob);
    let max_plus = max + log_sum_exp;
    let mut sum = 0f64;
    let mut imax_base = 0;
    let mut p_log_base_max = 0f32;
    for (i, (&q, &l)) in base.iter().zip(logits).enumerate() {
        let p_log_base = scale * q as f32 + min_log_prob;
        if i == 0 || p_log_base > p_log_base_max {
            p_log_base_max = p_log_base;
            imax_base = i;
        }
        if p_log_base > -16.0 {
            let p_base = p_log_base.exp();
            sum += (p_base * (p_log_base - l + max_plus)) as f64;
        }
    }
    let p_diff = (-nll).exp() - (-nll_base).exp();
    TokenKld { nll, nll_base, kld: sum, p_diff, same_top: imax == imax_base }
}

/// The summary of an evaluation against a reference.
#[derive(Debug, Clone, Serialize)]
pub struct KldSummary {
    /// Tokens scored.
    pub count: usize,
    /// PPL of the evaluated model.
    pub ppl: Estimate,
    /// PPL of the reference (from the stored log-probabilities).
    pub ppl_base: Estimate,
    /// ln(PPL/PPL_base).
    pub ln_ppl_ratio: Estimate,
    /// PPL − PPL_base.
    pub ppl_diff: Estimate,
    /// Mean KL divergence (nats).
    pub kld_mean: Estimate,
    /// KLD percentiles.
    pub kld_median: f64,
    /// 90th percentile.
    pub kld_p90: f64,
    /// 95th percentile.
    pub kld_p95: f64,
    /// 99th percentile.
    pub kld_p99: f64,
    /// 99.9th percentile.
    pub kld_p999: f64,
    /// Maximum.
    pub kld_max: f64,
    /// RMS of the probability difference of the right token (fraction, not %).
    pub rms_dp: Estimate,
    /// Mean probability difference.
    pub mean_dp: Estimate,
    /// Top-1 agreement ("same top p"), fraction.
    pub same_top: Estimate,
}

fn percentile(sorted: &[f32], fraction: f64) -> f64 {
    match sorted {
        [] => 0.0,
        [first, ..] if fraction <= 0.0 => *first as f64,
        [.., last] if fraction >= 1.0 => *last as f64,
        _ => {
            let p = fraction as f32 * (sorted.len() - 1) as f32;
            let ip = p as usize;
            let frac = p - ip as f32;
            let a = sorted[ip];
            let b = sorted[(ip + 1).min(sorted.len() - 1)];
            ((1.0 - frac) * a + frac * b) as f64
        }
    }
}

fn median(sorted: &[f32]) -> f64 {
    let n = sorted.len();
    match n {
        0 => 0.0,
        _ if n.is_multiple_of(2) => 0.5 * (sorted[n / 2] as f64 + sorted[n / 2 - 1] as f64),
        _ => sorted[n / 2] as f64,
    }
}

impl KldAccumulator {
    /// Adds one token.
    pub fn add(&mut self, t: TokenKld) {
        let (nll, nb) = (t.nll as f64, t.nll_base as f64);
        self.sum_nll += nll;
        self.sum_nll2 += nll * nll;
        self.sum_nll_base += nb;
        self.sum_nll_base2 += nb * nb;
        self.sum_nll_nll_base += nll * nb;
        self.sum_kld += t.kld;
        self.sum_kld2 += t.kld * t.kld;
        let pd = t.p_diff as f64;
        self.sum_p_diff += pd;
        self.sum_p_diff2 += pd * pd;
        self.sum_p_diff4 += pd * pd * pd * pd;
        self.max_p_diff = self.max_p_diff.max(pd.abs());
        self.n_same_top += t.same_top as usize;
        self.count += 1;
        self.kld_values.push(t.kld as f32);
        self.p_diff_values.push(t.p_diff);
    }

    /// Tokens added so far.
    pub fn count(&self) -> usize {
        self.count
    }

    /// The statistics llama-perplexity prints.
    pub fn summary(&self) -> KldSummary {
        let n = self.count;
        let (lp, dlp) = mean_and_uncertainty(self.sum_nll, self.sum_nll2, n);
        let (lb, dlb) = mean_and_uncertainty(self.sum_nll_base, self.sum_nll_base2, n);
        let cov = if n < 10 {
            0.0
        } else {
            (self.sum_nll_nll_base / n as f64 - (self.sum_nll / n as f64) * (self.sum_nll_base / n as f64)) / (n as f64 - 1.0)
        };
        let ppl = lp.exp();
        let ppl_base = lb.exp();
        let ratio_unc = (dlp * dlp + dlb * dlb - 2.0 * cov).max(0.0).sqrt();
        let ppl_unc = ppl * dlp;
        let ppl_base_unc = ppl_base * dlb;
        let ppl_cov = ppl * ppl_base * cov;
        let (kld, dkld) = mean_and_uncertainty(self.sum_kld, self.sum_kld2, n);
        let (mse, dmse) = mean_and_uncertainty(self.sum_p_diff2, self.sum_p_diff4, n);
        let rms = mse.sqrt();
        let (mdp, dmdp) = mean_and_uncertainty(self.sum_p_diff, self.sum_p_diff2, n);
        let top = if n > 0 { self.n_same_top as f64 / n as f64 } else { 0.0 };
        let top_unc = if n > 1 { (top * (1.0 - top) / (n as f64 - 1.0)).sqrt() } else { 0.0 };
        let mut sorted = self.kld_values.clone();
        sorted.sort_by(f32::total_cmp);
        KldSummary {
            count: n,
            ppl: Estimate { value: ppl, uncertainty: ppl_unc },
            ppl_base: Estimate { value: ppl_base, uncertainty: ppl_base_unc },
            ln_ppl_ratio: Estimate { value: lp - lb, uncertainty: ratio_unc },
            ppl_diff: Estimate {
                value: ppl - ppl_base,
                uncertainty: (ppl_unc * ppl_unc + ppl_base_unc * ppl_base_unc - 2.0 * ppl_cov).max(0.0).sqrt(),
            },
            kld_mean: Estimate { value: kld, uncertainty: dkld },
            kld_median: median(&sorted),
            kld_p90: percentile(&sorted, 0.90),
            kld_p95: percentile(&sorted, 0.95),
            kld_p99: percentile(&sorted, 0.99),
            kld_p999: percentile(&sorted, 0.999),
            kld_max: sorted.last().copied().unwrap_or(0.0) as f64,
            rms_dp: Estimate { value: rms, uncertainty: if rms > 0.0 { 0.5 / rms * dmse } else { 0.0 } },
            mean_dp: Estimate { value: mdp, uncertainty: dmdp },
            same_top: Estimate { value: top, uncertainty: top_unc },
        }
    }
}

/// Perplexity sums (llama-perplexity's `nll`, `nll2`, `count`).
#[derive(Debug, Default, Clone, Copy)]
pub struct PplAccumulator {
    nll: f64,
    nll2: f64,
    count: usize,
}

impl PplAccumulator {
    /// Adds one token's negative log-likelihood.
    pub fn add(&mut self, nll: f64) {
        self.nll += nll;
        self.nll2 += nll * nll;
        self.count += 1;
    }

    /// Tokens added.
    pub fn count(&self) -> usize {
        self.count
    }

    /// PPL ± uncertainty ("Final estimate: PPL = … +/- …").
    pub fn estimate(&self) -> Estimate {
        let n = self.count as f64;
        if self.count == 0 {
            return Estimate { value: f64::NAN, uncertainty: 0.0 };
        }
        let mean = self.nll / n;
        let ppl = mean.exp();
        let var = self.nll2 / n - mean * mean;
        let unc = if var > 0.0 && self.count > 1 { (var / (n - 1.0)).sqrt() * ppl } else { 0.0 };
        Estimate { value: ppl, uncertainty: unc }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_logits_have_zero_kld_and_full_agreement() {
        let logits: Vec<f32> = (0..50).map(|i| ((i * 37) % 11) as f32 * 0.3 - 1.0).collect();
        let mut row = vec![0u16; logits_file::row_len(logits.len())];
        let nll_saved = logits_file::quantize_row(&logits, 7, &mut row);
        let t = compare_row(&logits, &row, 7);
        assert!(t.kld.abs() < 1e-3, "kld {}", t.kld);
        assert!(t.same_top);
        assert!((t.nll as f64 - nll_saved).abs() < 1e-3);
        assert!((t.nll_base as f64 - nll_saved).abs() < 1e-3);
    }

    #[test]
    fn percentiles_interpolate() {
        let v = [0.0f32, 1.0, 2.0, 3.0, 4.0];
        assert_eq!(percentile(&v, 0.5), 2.0);
        assert!((percentile(&v, 0.9) - 3.6).abs() < 1e-6);
        assert_eq!(median(&[1.0, 3.0]), 2.0);
    }
}
