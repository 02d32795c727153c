//! The importance matrix, computed from a model (HF folder or GGUF) over a calibration text with
//! this engine, as the pinned `llama-imatrix` computes it (`tools/imatrix/imatrix.cpp`):
//!
//! - the text is tokenized with BOS and cut into windows of `ctx` tokens, the first token of each
//!   replaced by BOS (as for perplexity); at least two windows are needed;
//! - for every matrix of a block (`blk.*`: the output projection is left out, as without
//!   `--process-output`), the squares of its input activations are summed per input column over
//!   every position of every window, and the count of summed rows is kept;
//! - the result is llama.cpp's GGUF imatrix format: `NAME.in_sum2` (f32 `[n_in, 1]`) and
//!   `NAME.counts` (f32 `[1, 1]`) per weight, sorted by name, with `general.type = "imatrix"`,
//!   `imatrix.datasets`, `imatrix.chunk_count` and `imatrix.chunk_size`. `llama-quantize
//!   --imatrix` and [`quantize::imatrix::ImatrixFile`] read it.
//!
//! Matrices that share an input (Q, K, V; gate and up) get the same statistics, as in llama.cpp.
//!
//! A mixture of experts: the router `ffn_gate_inp` is an ordinary matrix (the FFN input, every
//! position). The stacked expert tensors `ffn_{gate,up,down}_exps` (llama.cpp's `MUL_MAT_ID`) get
//! one row of sums and one count per expert, each from only the positions routed to that expert
//! (a position counts once per expert that chose it); an expert no position chose keeps zero sums
//! and a zero count (llama-quantize then weighs it 1). Their `in_sum2` is `[n_in, n_expert]` and
//! `counts` `[1, n_expert]`.
//! The model is held resident or streamed block by block within the memory budget, as `validate`.

use crate::error::{Result, ValidateError};
use crate::eval;
use crate::memory::Plan;
use crate::model::{MatmulSite, Observer};
use crate::run::{plan_model, Budget};
use crate::source::ModelFile;
use crate::weights::WeightSource;
use candle_core::{DType, Device, Tensor};
use gguf::{GgmlType, TensorSpec, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What to compute the matrix from.
#[derive(Debug, Clone)]
pub struct Options {
    /// The model: an HF folder or a GGUF file.
    pub model: PathBuf,
    /// The calibration text.
    pub text: PathBuf,
    /// tokenizer.json for the text (default: the folder's, else the GGUF's vocabulary).
    pub tokenizer: Option<PathBuf>,
    /// Window length in tokens (`llama-imatrix -c`).
    pub ctx: usize,
    /// At most this many windows (`--chunks`); all full windows by default.
    pub chunks: Option<usize>,
    /// Device memory budget in bytes; None = the device's default budget.
    pub max_memory: Option<u64>,
}

/// Sums of squared inputs and the number of rows summed, for one weight: one matrix, or each
/// expert's matrix of a stacked expert tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Per matrix (expert), per input column: the sum of the squared activations (matrix `e`'s
    /// columns at `e * n_in..(e + 1) * n_in`).
    pub sums: Vec<f64>,
    /// Per matrix (expert): the rows (token positions) summed.
    pub counts: Vec<u64>,
}

/// A computed importance matrix.
#[derive(Debug, Clone)]
pub struct Imatrix {
    /// Per GGUF weight name (`blk.N.attn_q.weight`, …), in name order.
    pub entries: BTreeMap<String, Entry>,
    /// Windows evaluated.
    pub chunk_count: usize,
    /// Tokens per window.
    pub chunk_size: usize,
    /// The calibration text, as written into `imatrix.datasets`.
    pub dataset: String,
    /// Resident or streamed, and the budget.
    pub plan: Plan,
}

/// Collects the statistics during the forward passes.
struct Collector<'s> {
    /// Per (block, site): the sums and the rows.
    sums: BTreeMap<(usize, MatmulSite), (Vec<f64>, u64)>,
    progress: &'s mut dyn FnMut(usize, usize),
    windows_done: usize,
    windows_total: usize,
    layers: usize,
}

/// The GGUF weights of block `il` that multiply the input at `site`, among those `source` has.
fn site_weights(source: &dyn WeightSource, il: usize, site: MatmulSite) -> Vec<String> {
    use gguf::arch::TensorKind as K;
    let candidates: &[&[K]] = match site {
        MatmulSite::AttnInput => &[&[K::AttnQkv], &[K::AttnQ, K::AttnK, K::AttnV]],
        MatmulSite::AttnOutput => &[&[K::AttnOut]],
        // a mixture of experts' router multiplies the FFN input too
        MatmulSite::FfnInput => &[&[K::FfnGate, K::FfnUp, K::FfnGateInp]],
        MatmulSite::FfnDown => &[&[K::FfnDown]],
        MatmulSite::ExpertInput(_) => &[&[K::FfnGateExps, K::FfnUpExps]],
        MatmulSite::ExpertDown(_) => &[&[K::FfnDownExps]],
    };
    for set in candidates {
        let names: Vec<String> =
            set.iter().map(|k| format!("{}.weight", k.gguf_name(Some(il as u64)))).filter(|n| source.contains(n)).collect();
        if !names.is_empty() {
            return names;
        }
    }
    Vec::new()
}

impl Observer for Collector<'_> {
    fn layer_done(&mut self, il: usize, windows: usize) {
        if il + 1 == self.layers {
            self.windows_done += windows;
            (self.progress)(self.windows_done, self.windows_total);
        }
    }

    fn logits(&mut self, _group: usize, _window: usize, _logits: Tensor) -> Result<()> {
        Ok(())
    }

    fn wants_logits(&self) -> bool {
        false
    }

    fn matmul_input(&mut self, il: usize, site: MatmulSite, x: &Tensor) -> Result<()> {
        let rows = x.dim(0)? as u64;
        let col_sums: Vec<f32> = x.to_dtype(DType::F32)?.sqr()?.sum(0)?.to_vec1()?;
        let e = self.sums.entry((il, site)).or_insert_with(|| (vec![0.0; col_sums.len()], 0));
        for (a, v) in e.0.iter_mut().zip(&col_sums) {
            *a += f64::from(*v);
        }
        e.1 += rows;
        if let Some(j) = col_sums.iter().position(|v| !v.is_finite()) {
            return Err(ValidateError::Batch { message: format!("block {il}: non-finite activation sum in column {j} ({site:?})") });
        }
        Ok(())
    }
}

/// Computes the importance matrix. Everything that can be refused (the model, the text's length,
/// the memory budget) is checked before the first forward pass. `progress(windows_done,
/// windows_total)` is called as windows finish.
pub fn compute(opts: &Options, device: &Device, mut progress: impl FnMut(usize, usize)) -> Result<Imatrix> {
    let model_file = ModelFile::open(&opts.model)?;
    let tok = model_file
        .text_tokenizer(&opts.model, opts.tokenizer.as_deref())?
        .ok_or_else(|| ValidateError::NoTokenizer { reference: opts.model.clone() })?;
    let (tokens, bos) = model_file.text_tokens(&tok, &opts.text)?;
    // llama-imatrix: "you need at least 2*n_ctx tokens".
    if tokens.len() < 2 * opts.ctx {
        return Err(ValidateError::CalibrationTooShort { path: opts.text.clone(), tokens: tokens.len(), ctx: opts.ctx });
    }
    // llama-imatrix ignores multiplications of fewer than 16 rows.
    if opts.ctx < 16 {
        return Err(ValidateError::Config {
            source_name: opts.model.display().to_string(),
            key: "--ctx".into(),
            message: format!("{} is below 16, the fewest positions llama-imatrix collects from", opts.ctx),
        });
    }
    let c = model_file.config();
    let chunks = eval::n_chunks(tokens.len(), opts.ctx, opts.chunks).max(1);
    let budget = Budget { max_memory: opts.max_memory, force: None };
    // The head's logits are not used (Collector::wants_logits): planned for one position per window.
    let (plan, grouping) = plan_model(&model_file, &opts.model, device, &budget, opts.ctx, chunks, 1)?;

    let model = model_file.model(device, plan.mode)?;
    let mut collector =
        Collector { sums: BTreeMap::new(), progress: &mut progress, windows_done: 0, windows_total: chunks, layers: c.n_layer };
    let windows: Vec<Vec<u32>> = (0..chunks).map(|i| eval::window_tokens(&tokens, opts.ctx, i, bos)).collect();
    for pass in windows.chunks(grouping.kept.max(1)) {
        let groups: Vec<Vec<&[u32]>> = pass.chunks(grouping.per_pass.max(1)).map(|g| g.iter().map(Vec::as_slice).collect()).collect();
        model.forward_groups(&groups, opts.ctx - 1, 1, &mut collector)?;
    }
    let n_expert = c.moe.as_ref().map_or(0, |m| m.n_expert);
    let entries = entries(collector.sums, n_expert, |il, site| site_weights(model_file.weights(), il, site));
    Ok(Imatrix { entries, chunk_count: chunks, chunk_size: opts.ctx, dataset: opts.text.display().to_string(), plan })
}

/// The entries of the collected sums: a site's statistics go to every weight that multiplies its
/// input; the experts' sites of a block are stacked in expert order into their `*_exps` weights,
/// zeros and a zero count for an expert no position chose.
fn entries(
    sums: BTreeMap<(usize, MatmulSite), (Vec<f64>, u64)>,
    n_expert: usize,
    weights: impl Fn(usize, MatmulSite) -> Vec<String>,
) -> BTreeMap<String, Entry> {
    let mut entries = BTreeMap::new();
    let mut stacked: BTreeMap<(usize, MatmulSite), Entry> = BTreeMap::new();
    for ((il, site), (s, count)) in sums {
        let (expert, first) = match site {
            MatmulSite::ExpertInput(e) => (e, MatmulSite::ExpertInput(0)),
            MatmulSite::ExpertDown(e) => (e, MatmulSite::ExpertDown(0)),
            _ => {
                for name in weights(il, site) {
                    entries.insert(name, Entry { sums: s.clone(), counts: vec![count] });
                }
                continue;
            }
        };
        let n_in = s.len();
        let e = stacked.entry((il, first)).or_insert_with(|| Entry { sums: vec![0.0; n_in * n_expert], counts: vec![0; n_expert] });
        if let (Some(dst), Some(c)) = (e.sums.get_mut(expert * n_in..(expert + 1) * n_in), e.counts.get_mut(expert)) {
            dst.copy_from_slice(&s);
            *c = count;
        }
    }
    for ((il, site), e) in stacked {
        for name in weights(il, site) {
            entries.insert(name, e.clone());
        }
    }
    entries
}

impl Imatrix {
    /// Writes the matrix in llama.cpp's GGUF imatrix format (atomically, replacing `path`).
    pub fn write_gguf(&self, path: &Path) -> Result<()> {
        let metadata = vec![
            ("general.type".to_owned(), Value::String("imatrix".into())),
            ("imatrix.datasets".to_owned(), Value::Array(gguf::ValueType::String, vec![Value::String(self.dataset.clone())])),
            ("imatrix.chunk_count".to_owned(), Value::U32(u32::try_from(self.chunk_count).unwrap_or(u32::MAX))),
            ("imatrix.chunk_size".to_owned(), Value::U32(u32::try_from(self.chunk_size).unwrap_or(u32::MAX))),
        ];
        let mut specs = Vec::with_capacity(2 * self.entries.len());
        for (name, e) in &self.entries {
            let n_mat = e.counts.len().max(1) as u64;
            specs.push(TensorSpec::new(format!("{name}.in_sum2"), &[e.sums.len() as u64 / n_mat, n_mat], GgmlType::F32));
            specs.push(TensorSpec::new(format!("{name}.counts"), &[1, n_mat], GgmlType::F32));
        }
        let gguf_err = |source| ValidateError::GgufWrite { path: path.to_path_buf(), source };
        let mut w = gguf::GgufWriter::create(path, &metadata, &specs).map_err(gguf_err)?;
        for e in self.entries.values() {
            let sums: Vec<u8> = e.sums.iter().flat_map(|s| (*s as f32).to_le_bytes()).collect();
            w.write_tensor_data(&sums).map_err(gguf_err)?;
            let counts: Vec<u8> = e.counts.iter().flat_map(|c| (*c as f32).to_le_bytes()).collect();
            w.write_tensor_data(&counts).map_err(gguf_err)?;
        }
        w.finish().map_err(gguf_err)
    }
}
