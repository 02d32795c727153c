//! One `ggufkit validate` run: evaluate the reference once (or read its stored
//! log-probabilities), then every other file against it.

use crate::error::{Result, ValidateError};
use crate::eval::{self, Grouping, Progress, Timing};
use crate::logits_file::{LogitsReader, LogitsWriter};
use crate::memory::{self, Mode, Need, Plan};
use crate::metrics::{Estimate, KldSummary};
use crate::source::ModelFile;
use crate::tokenize::TextTokenizer;
use candle_core::Device;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// What to evaluate.
#[derive(Debug, Clone)]
pub struct Options {
    /// HF folder, GGUF file, or stored log-probabilities (`_logits_` file, ours or llama-perplexity's).
    pub reference: PathBuf,
    /// Files to compare with the reference.
    pub files: Vec<PathBuf>,
    /// Evaluation text (not needed when the reference is a log-probability file).
    pub text: Option<PathBuf>,
    /// tokenizer.json; None: the HF reference's tokenizer.json, else the vocabulary of the GGUF
    /// reference (or of the first GGUF file).
    pub tokenizer: Option<PathBuf>,
    /// Window size.
    pub ctx: usize,
    /// At most this many windows.
    pub chunks: Option<usize>,
    /// Where to keep the reference log-probabilities (else a temporary file).
    pub save_reference: Option<PathBuf>,
}

/// The memory budget of a run.
#[derive(Debug, Clone, Copy, Default)]
pub struct Budget {
    /// Bytes the evaluation may use on the device (weights, activations, temporaries); None =
    /// [`memory::default_budget`].
    pub max_memory: Option<u64>,
    /// Force a mode instead of choosing by the budget (tests, benchmarks).
    pub force: Option<Mode>,
}

/// How one model was held and the memory it took.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct MemoryReport {
    /// The plan: resident or streamed, the budget, the expected use.
    pub plan: Plan,
    /// Measured peak during the evaluation, bytes: the process's peak RSS on the CPU, the
    /// sampled GPU memory in use (CUDA context included) on a GPU.
    pub peak_bytes: Option<u64>,
}

/// The reference's results.
#[derive(Debug, Clone, Serialize)]
pub struct ReferenceReport {
    /// The reference given.
    pub path: PathBuf,
    /// Its perplexity: computed from its logits, or from the stored log-probabilities.
    pub ppl: Estimate,
    /// Window size.
    pub ctx: usize,
    /// Windows evaluated.
    pub chunks: usize,
    /// Tokens scored.
    pub scored_tokens: usize,
    /// Speed of the reference evaluation (absent when read from a file).
    pub timing: Option<Timing>,
    /// Memory of the reference evaluation (absent when read from a file).
    pub memory: Option<MemoryReport>,
}

/// One evaluated file's results.
#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    /// The file.
    pub path: PathBuf,
    /// `general.file_type` as llama.cpp names it (`Q4_K_M`), else the predominant tensor type.
    pub main_type: String,
    /// File size in bytes.
    pub file_size: u64,
    /// Bits per weight over all tensors (data bytes · 8 / elements).
    pub bits_per_weight: f64,
    /// ΔPPL vs the reference, percent.
    pub dppl_percent: f64,
    /// All statistics as llama-perplexity prints them.
    pub stats: KldSummary,
    /// Evaluation speed.
    pub timing: Timing,
    /// Memory of the evaluation.
    pub memory: MemoryReport,
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The device used.
    pub device: String,
    /// Seconds spent loading the GPU kernels before the first evaluation (the driver compiles
    /// candle's PTX on a machine's first run and caches it; see [`crate::device::load_kernels`]);
    /// not part of any evaluation's timing. 0 on the CPU.
    pub kernel_setup_seconds: f64,
    /// Reference results.
    pub reference: ReferenceReport,
    /// One entry per file, in the order given.
    pub files: Vec<FileReport>,
}

/// A file removed when dropped, and by the binary's SIGINT/SIGTERM handler (the gguf crate's
/// temporary-file list, which `gguf::remove_temporary_files_then` empties) while it is held.
struct TempFile(Option<PathBuf>);

impl TempFile {
    /// Creates the file at `path` with `create`, listed for the signal handler from the moment it
    /// exists, and holds it: held before `create` runs, so that a creation that fails half-way (the
    /// file made, its header not written) leaves nothing either.
    fn create<T>(&mut self, path: &Path, create: impl FnOnce() -> Result<T>) -> Result<T> {
        self.0 = Some(path.to_path_buf());
        gguf::create_temporary_file(path, create)
    }

    /// Keeps the file (it is complete and wanted).
    fn keep(&mut self) {
        if let Some(p) = self.0.take() {
            gguf::unregister_temporary_file(&p);
        }
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(&p);
            gguf::unregister_temporary_file(&p);
        }
    }
}

/// True when `path` starts with the `_logits_` magic.
pub fn is_logits_file(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 8];
    path.is_file() && std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut magic)).is_ok() && &magic == b"_logits_"
}

fn file_facts(m: &ModelFile, path: &Path) -> Result<(String, u64, f64)> {
    match m {
        ModelFile::Gguf { weights, .. } => {
            let storage = weights.storage();
            let (mut bytes, mut elems) = (0u64, 0u64);
            let mut by_type: Vec<(String, u64)> = Vec::new();
            for t in &storage {
                bytes += t.n_bytes;
                elems += t.n_elements;
                if t.name.ends_with(".weight") && !t.name.contains("norm") {
                    match by_type.iter_mut().find(|(ty, _)| *ty == t.ty) {
                        Some((_, n)) => *n += t.n_elements,
                        None => by_type.push((t.ty.clone(), t.n_elements)),
                    }
                }
            }
            let main = match weights.file_type_name() {
                Some(name) => name.to_owned(),
                None => by_type.iter().max_by_key(|(_, n)| *n).map(|(t, _)| t.clone()).unwrap_or_default(),
            };
            let bpw = if elems > 0 { bytes as f64 * 8.0 / elems as f64 } else { 0.0 };
            Ok((main, weights.file_size(), bpw))
        }
        ModelFile::Hf { .. } => {
            let size = std::fs::read_dir(path)
                .map_err(|e| ValidateError::io(path, e))?
                .filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().ends_with(".safetensors"))
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum();
            Ok(("safetensors".into(), size, f64::NAN))
        }
    }
}

/// A model's name and shape, for mismatch messages.
fn shape_of(m: &ModelFile) -> String {
    let c = m.config();
    format!("{}, {} blocks, hidden {}, vocabulary {}", c.arch.gguf_name, c.n_layer, c.hidden, c.n_vocab)
}

/// Plans one model's evaluation of `windows` windows of `ctx` tokens, `rows` positions of each
/// through the head, within the budget (resident or streamed), or says how much it needs.
pub(crate) fn plan_model(
    m: &ModelFile,
    path: &Path,
    device: &Device,
    budget: &Budget,
    ctx: usize,
    windows: usize,
    rows: usize,
) -> Result<(Plan, Grouping)> {
    let c = m.config();
    let max = match budget.max_memory {
        Some(b) => b,
        None => memory::default_budget(device)?,
    };
    // The most windows per pass whose plan is resident; else the most that can be streamed; else
    // one window, whose plan says how much is missing.
    let what = path.display().to_string();
    let need = Need::of(c, m.weights(), device, ctx, rows);
    let plans: Vec<(usize, Result<Plan>)> =
        (1..=eval::MAX_WINDOWS_PER_PASS.min(windows.max(1))).rev().map(|p| (p, need.plan(max, windows, p, &what))).collect();
    let resident = plans.iter().position(|(_, r)| matches!(r, Ok(p) if p.mode == Mode::Resident));
    let pick = resident.or_else(|| plans.iter().position(|(_, r)| r.is_ok())).unwrap_or(plans.len() - 1);
    let (per_pass, plan) = plans.into_iter().nth(pick).expect("at least one window per pass");
    let mut plan = plan?;
    if let Some(mode) = budget.force {
        if mode == Mode::Streamed && plan.mode == Mode::Resident {
            plan.windows_kept = windows.max(1);
        }
        plan.mode = mode;
    }
    let kept = if plan.mode == Mode::Resident { per_pass } else { plan.windows_kept };
    Ok((plan, Grouping { per_pass, kept }))
}

/// The tokenizer of the text: `--tokenizer`, else the HF reference folder's tokenizer.json, else
/// the vocabulary of the GGUF reference, else that of the first GGUF file given.
fn text_tokenizer(opts: &Options, reference: &ModelFile) -> Result<TextTokenizer> {
    if let Some(t) = reference.text_tokenizer(&opts.reference, opts.tokenizer.as_deref())? {
        return Ok(t);
    }
    match opts.files.iter().find(|f| f.is_file()) {
        Some(f) => TextTokenizer::open_gguf(f),
        None => Err(ValidateError::NoTokenizer { reference: opts.reference.clone() }),
    }
}

/// Runs the evaluation; `progress(what, done, total)` is called after each window.
pub fn run(opts: &Options, device: &Device, mut progress: impl FnMut(&str, usize, usize)) -> Result<Report> {
    let mut last = (String::new(), usize::MAX);
    run_with(opts, &Budget::default(), device, |what, p| {
        if (what, p.windows_done) != (last.0.as_str(), last.1) {
            last = (what.to_owned(), p.windows_done);
            if p.windows_done > 0 {
                progress(what, p.windows_done, p.windows_total);
            }
        }
    })
}

/// Runs the evaluation within a memory budget; `progress(what, state)` is called after every
/// block of every pass and after every scored group.
pub fn run_with(opts: &Options, budget: &Budget, device: &Device, mut progress: impl FnMut(&str, &Progress)) -> Result<Report> {
    let mut temp = TempFile(None);
    // Everything that can be refused is checked before the first forward pass: the text, the
    // vocabularies and shapes, and every model's memory plan.
    struct RefModel {
        model: ModelFile,
        tokens: Vec<u32>,
        bos: Option<u32>,
    }
    let (reference, ctx, chunks, ref_vocab) = if is_logits_file(&opts.reference) {
        let r = LogitsReader::open(&opts.reference)?;
        let chunks = eval::n_chunks(r.tokens.len(), r.n_ctx, opts.chunks);
        (None, r.n_ctx, chunks, r.n_vocab)
    } else {
        let reference = ModelFile::open(&opts.reference)?;
        let text_path = opts.text.as_ref().ok_or_else(|| ValidateError::Config {
            source_name: opts.reference.display().to_string(),
            key: "--text".into(),
            message: "an evaluation text is needed to evaluate a model".into(),
        })?;
        let tokenizer = text_tokenizer(opts, &reference)?;
        let (tokens, bos) = reference.text_tokens(&tokenizer, text_path)?;
        if tokens.len() < opts.ctx || opts.ctx < 4 {
            return Err(ValidateError::TextTooShort { path: text_path.clone(), tokens: tokens.len(), ctx: opts.ctx });
        }
        let n_vocab = reference.config().n_vocab;
        let chunks = eval::n_chunks(tokens.len(), opts.ctx, opts.chunks);
        (Some(RefModel { model: reference, tokens, bos }), opts.ctx, chunks, n_vocab)
    };
    let mut others = Vec::with_capacity(opts.files.len());
    for path in &opts.files {
        let m = ModelFile::open(path)?;
        if m.config().n_vocab != ref_vocab {
            return Err(ValidateError::VocabMismatch {
                reference: opts.reference.display().to_string(),
                reference_vocab: ref_vocab,
                other: path.display().to_string(),
                other_vocab: m.config().n_vocab,
            });
        }
        if let Some(r) = &reference {
            let (a, b) = (r.model.config(), m.config());
            if a.arch.gguf_name != b.arch.gguf_name || a.n_layer != b.n_layer || a.hidden != b.hidden {
                return Err(ValidateError::ModelMismatch {
                    reference: opts.reference.display().to_string(),
                    reference_arch: shape_of(&r.model),
                    other: path.display().to_string(),
                    other_arch: shape_of(&m),
                    message: "a quantized file is compared with the model it was made from".into(),
                });
            }
        }
        let plan = plan_model(&m, path, device, budget, ctx, chunks, crate::logits_file::scored_per_chunk(ctx))?;
        others.push((path, m, plan));
    }
    let ref_plan = match &reference {
        Some(r) => Some(plan_model(&r.model, &opts.reference, device, budget, ctx, chunks, crate::logits_file::scored_per_chunk(ctx))?),
        None => None,
    };

    let kernel_setup_seconds = crate::device::load_kernels(device)?;
    let (base_path, ref_report, ref_bos) = match (&reference, ref_plan) {
        (Some(r), Some((plan, grouping))) => {
            // The saved reference is held like the temporary one until it is complete: an
            // interrupted run leaves neither.
            let base_path = match &opts.save_reference {
                Some(p) => p.clone(),
                None => std::env::temp_dir().join(format!("ggufkit-reference-{}.logits", std::process::id())),
            };
            memory::reset_peak();
            let model = r.model.model(device, plan.mode)?;
            let mut writer = temp.create(&base_path, || LogitsWriter::create(&base_path, ctx, ref_vocab, &r.tokens[..chunks * ctx]))?;
            let (acc, timing) = eval::evaluate_reference(&model, &r.tokens, ctx, chunks, r.bos, grouping, Some(&mut writer), |p| {
                progress("reference", &p)
            })?;
            writer.finish()?;
            if opts.save_reference.is_some() {
                temp.keep();
            }
            drop(model);
            let report = ReferenceReport {
                path: opts.reference.clone(),
                ppl: acc.estimate(),
                ctx,
                chunks,
                scored_tokens: acc.count(),
                timing: Some(timing),
                memory: Some(MemoryReport { plan, peak_bytes: memory::peak(device) }),
            };
            (base_path, Some(report), r.bos)
        }
        _ => (opts.reference.clone(), None, None),
    };
    let mut files = Vec::with_capacity(opts.files.len());
    for (path, m, (plan, grouping)) in others {
        let mut base = LogitsReader::open(&base_path)?;
        let bos = m.gguf_bos().unwrap_or(ref_bos);
        memory::reset_peak();
        let model = m.model(device, plan.mode)?;
        let label = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let (acc, timing) = eval::evaluate_against(&model, &mut base, chunks, bos, grouping, |p| progress(&label, &p))?;
        drop(model);
        let mem = MemoryReport { plan, peak_bytes: memory::peak(device) };
        let stats = acc.summary();
        let (main_type, file_size, bits_per_weight) = file_facts(&m, path)?;
        let ref_ppl = ref_report.as_ref().map_or(stats.ppl_base.value, |r| r.ppl.value);
        files.push(FileReport {
            path: path.clone(),
            main_type,
            file_size,
            bits_per_weight,
            dppl_percent: (stats.ppl.value / ref_ppl - 1.0) * 100.0,
            stats,
            timing,
            memory: mem,
        });
    }
    let reference = match ref_report {
        Some(r) => r,
        None => {
            let ppl_base = files.first().map(|f| f.stats.ppl_base).unwrap_or(Estimate { value: f64::NAN, uncertainty: 0.0 });
            ReferenceReport {
                path: opts.reference.clone(),
                ppl: ppl_base,
                ctx,
                chunks,
                scored_tokens: files.first().map_or(0, |f| f.stats.count),
                timing: None,
                memory: None,
            }
        }
    };
    Ok(Report { device: format!("{device:?}"), kernel_setup_seconds, reference, files })
}
