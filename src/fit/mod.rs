//! `--size`, `--bpw`, `--fit`: a per-tensor choice of standard ggml types under a byte budget.
//!
//! 1. [`Prepared::new`] sizes every quantizable tensor at every candidate type ([`CANDIDATES`], after
//!    llama.cpp's row-length fallback) and turns the budget into bytes: a file size, bits per
//!    weight, or (`--fit`) plan's memory model — GPU memory minus margin, KV cache and compute
//!    buffer at the context. It refuses, before any long work, a budget below the smallest file or
//!    a model that cannot fit at any type.
//! 2. [`sensitivity::measure`] gives each (tensor, type) its proxy error.
//! 3. [`allocate::allocate`] picks one type per tensor.
//! 4. The choice becomes llama-quantize `--tensor-type` overrides ([`Mix::overrides`]), so the
//!    output holds standard types only, and the `ggufkit.mix` key ([`MIX_KEY`]) records it.

pub mod allocate;
pub mod sensitivity;

use std::path::Path;

use gguf::{GgmlType, GgufFile, Value};
use quantize::ftype::FileType;
use quantize::imatrix::ImatrixFile;
use quantize::policy::{self, PolicyOptions, TensorTypeOverride};
use quantize::Source;
use rayon::prelude::*;

use crate::plan::filesize::{self, SizedTensor};
use crate::plan::memory::{self, Backend, RunParams, Weights};
use crate::plan::shape::ModelShape;
use crate::plan::tensors::PlannedTensor;
use allocate::Candidate;

/// The metadata key holding the chosen mix: an array of `NAME=TYPE` strings, one per quantized tensor.
pub const MIX_KEY: &str = "ggufkit.mix";

/// The candidate types, cheapest first, with the file type written as `general.file_type` when
/// the type holds most of the bytes (the mix whose default it is).
pub const CANDIDATES: &[(GgmlType, FileType)] = &[
    (GgmlType::Q2_K, FileType::MostlyQ2_K),
    (GgmlType::Q3_K, FileType::MostlyQ3_K_M),
    (GgmlType::Q4_K, FileType::MostlyQ4_K_M),
    (GgmlType::Q5_K, FileType::MostlyQ5_K_M),
    (GgmlType::Q6_K, FileType::MostlyQ6_K),
    (GgmlType::Q8_0, FileType::MostlyQ8_0),
];

/// The longest type name a mix entry can hold (fallback types included), for sizing the key before
/// the choice is made.
const MAX_TYPE_NAME: usize = 6;

/// Errors of the allocation.
#[derive(Debug, thiserror::Error)]
pub enum FitError {
    /// The budget is below the smallest file.
    #[error("{what} {asked} is below the smallest file this model can be ({smallest}, every quantizable tensor at its smallest type {types}): ask for at least {smallest}")]
    BelowSmallest {
        /// `--size` / `--bpw`.
        what: &'static str,
        /// The budget as asked.
        asked: String,
        /// The smallest possible, in the same unit.
        smallest: String,
        /// The candidate types.
        types: String,
    },
    /// `--fit`: not even the smallest types fit (sizes in bytes).
    #[error("{model} cannot fit in {vram} at ctx {ctx} at any type: the smallest file needs {} on the GPU ({} weights, {} KV cache, {} compute buffer) of {} usable ({} kept free); use a larger card, a shorter --ctx, or plan's partial offload (ggufkit plan --vram)", human(*need), human(*weights), human(*kv), human(*compute), human(*usable), human(*margin))]
    CannotFit {
        /// The model.
        model: String,
        /// The card, as given.
        vram: String,
        /// The context.
        ctx: u64,
        /// Total at the smallest types.
        need: u64,
        /// Weights at the smallest types.
        weights: u64,
        /// KV cache.
        kv: u64,
        /// Compute buffer.
        compute: u64,
        /// VRAM minus margin.
        usable: u64,
        /// The margin.
        margin: u64,
    },
    /// A size overflowed or a row does not fit any candidate.
    #[error("{0}")]
    Sizes(String),
    /// `--fit` needs the model's shape (layers, heads, context) from the input's metadata.
    #[error("{model}: --fit cannot read the model's shape from its metadata")]
    Shape {
        /// The input file.
        model: String,
        /// Why plan could not read it.
        #[source]
        source: Box<crate::plan::error::PlanError>,
    },
    /// A tensor could not be measured.
    #[error(transparent)]
    Measure(#[from] sensitivity::MeasureError),
    /// A tensor's fallback failed.
    #[error(transparent)]
    Policy(#[from] policy::PolicyError),
}

/// What the output must fit.
#[derive(Debug, Clone, PartialEq)]
pub enum Budget {
    /// `--size`: the whole file, in bytes.
    Size(crate::size::Size),
    /// `--bpw`: bits per weight over all tensor data (as plan and llama.cpp count them).
    Bpw(f64),
    /// `--fit VRAM [--ctx N]`: plan's memory model on a GPU (CUDA, f16 KV cache, batch 512).
    Fit {
        /// The card.
        vram: crate::size::Size,
        /// Context in tokens.
        ctx: u64,
    },
}

impl Budget {
    /// Plan's run parameters for `--fit` (plan's defaults).
    fn run(ctx: u64) -> RunParams {
        RunParams { ctx, ubatch: 512, kv_type: GgmlType::F16, backend: Backend::Cuda, flash_attn: None }
    }
}

/// A tensor of the file to be written, as the allocation sees it.
#[derive(Debug, Clone)]
pub struct FitTensor {
    /// GGUF name.
    pub name: String,
    /// ggml dims (trailing 1s removed).
    pub dims: Vec<u64>,
    /// Its type when not quantized (F32 norms, F16 matrices).
    pub source_type: GgmlType,
    /// Whether llama-quantize may quantize it.
    pub quantizable: bool,
}

fn human(b: u64) -> String {
    crate::plan::report::human(b)
}

/// The sizes of every tensor at every candidate, and the budget in the same bytes.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The tensors, in file order.
    pub tensors: Vec<FitTensor>,
    /// For each quantizable tensor (index into `tensors`): its distinct candidate types and their costs.
    options: Vec<(usize, Vec<GgmlType>, Vec<u64>)>,
    /// Bytes left for the quantizable tensors.
    budget: u64,
    /// What the budget was, for the summary.
    pub budget_text: String,
    /// Head (header, metadata, tensor infos, padding) plus unquantized tensors, in the budget's bytes.
    fixed: u64,
    alignment: u64,
    /// Metadata bytes with the mix key at its longest.
    metadata_bytes: u64,
    /// That longest mix key's bytes.
    mix_bytes: u64,
    /// For `--fit`: the shape and run parameters, to confirm the result with plan.
    fit: Option<(ModelShape, RunParams, u64)>,
}

/// The candidate types of a tensor with rows of `ncols`: llama.cpp's fallback applied, repeats removed.
fn candidates_for(name: &str, ncols: u64) -> Result<Vec<GgmlType>, FitError> {
    let mut out = Vec::new();
    for &(ty, _) in CANDIDATES {
        let (t, _) = policy::fallback(name, ncols, ty)?;
        if !out.contains(&t) && quantize::supports(t) {
            out.push(t);
        }
    }
    Ok(out)
}

impl Prepared {
    /// Sizes `tensors` for `budget`. `metadata_bytes`: the output's metadata without the mix key;
    /// `shape`: the model's shape (plan's), needed for `--fit`. Fails when the budget is below
    /// every possible file.
    pub fn new(
        model: &str,
        tensors: Vec<FitTensor>,
        metadata_bytes: u64,
        alignment: u64,
        budget: &Budget,
        shape: Option<&ModelShape>,
    ) -> Result<Prepared, FitError> {
        let overflow = || FitError::Sizes(format!("{model}: a tensor size overflows 64 bits"));
        // The mix key at its longest: every quantized tensor's `NAME=` plus the longest type name.
        let mix_bytes = filesize::kv_size(
            MIX_KEY,
            &Value::Array(
                gguf::ValueType::String,
                tensors
                    .iter()
                    .filter(|t| t.quantizable)
                    .map(|t| Value::String(format!("{}={}", t.name, "x".repeat(MAX_TYPE_NAME))))
                    .collect(),
            ),
        );
        let metadata_bytes = metadata_bytes + mix_bytes;
        let sized: Vec<SizedTensor> = tensors.iter().map(|t| SizedTensor { name: &t.name, dims: &t.dims, ty: GgmlType::F32 }).collect();
        let all_f32 = filesize::file_size(metadata_bytes, alignment, &sized).ok_or_else(overflow)?;
        let f32_data: u64 =
            tensors.iter().map(|t| memory::tensor_bytes(&t.dims, GgmlType::F32, alignment)).sum::<Option<u64>>().ok_or_else(overflow)?;
        let head = all_f32 - f32_data;
        let has_output = tensors.iter().any(|t| t.name == "output.weight");
        let n_elements: u64 = tensors.iter().map(|t| t.dims.iter().product::<u64>()).sum();
        // What one tensor at one type costs against the budget.
        let cost = |t: &FitTensor, ty: GgmlType| -> Option<u64> {
            match budget {
                Budget::Size(_) => memory::tensor_bytes(&t.dims, ty, alignment),
                Budget::Bpw(_) => memory::tensor_bytes(&t.dims, ty, 1),
                // The token embedding stays on the host unless it is also the output projection.
                Budget::Fit { .. } if t.name == "token_embd.weight" && has_output => Some(0),
                Budget::Fit { .. } => memory::tensor_bytes(&t.dims, ty, alignment),
            }
        };
        let mut options = Vec::new();
        let mut fixed = match budget {
            Budget::Size(_) => head,
            _ => 0,
        };
        for (i, t) in tensors.iter().enumerate() {
            if t.quantizable {
                let types = candidates_for(&t.name, t.dims.first().copied().unwrap_or(0))?;
                let costs = types.iter().map(|&ty| cost(t, ty)).collect::<Option<Vec<u64>>>().ok_or_else(overflow)?;
                options.push((i, types, costs));
            } else {
                fixed += cost(t, t.source_type).ok_or_else(overflow)?;
            }
        }
        let min: u64 = options.iter().map(|(_, _, c)| c.iter().copied().min().unwrap_or(0)).sum();
        let smallest_types = || CANDIDATES[0].0.name().to_string();
        let (total, budget_text, fit) = match budget {
            Budget::Size(s) => {
                if fixed + min > s.bytes {
                    return Err(FitError::BelowSmallest {
                        what: "--size",
                        asked: s.text.clone(),
                        smallest: format!("{} ({} bytes)", human(fixed + min), fixed + min),
                        types: smallest_types(),
                    });
                }
                (s.bytes, format!("--size {} ({} bytes)", s.text, s.bytes), None)
            }
            Budget::Bpw(b) => {
                let bytes = (b * n_elements as f64 / 8.0).floor() as u64;
                if fixed + min > bytes {
                    let smallest = (fixed + min) as f64 * 8.0 / n_elements.max(1) as f64;
                    return Err(FitError::BelowSmallest {
                        what: "--bpw",
                        asked: format!("{b}"),
                        smallest: format!("{:.3} bits per weight", (smallest * 1000.0).ceil() / 1000.0),
                        types: smallest_types(),
                    });
                }
                (bytes, format!("--bpw {b} ({bytes} bytes of tensor data)"), None)
            }
            Budget::Fit { vram, ctx } => {
                let shape = shape.ok_or_else(|| FitError::Sizes(format!("{model}: --fit needs the model's shape")))?;
                let run = Budget::run(*ctx);
                let margin = crate::size::Size::default_margin().bytes;
                let kv = memory::kv_bytes(shape, &run).ok_or_else(overflow)?;
                let compute = memory::compute_bytes(shape, &run).ok_or_else(overflow)?;
                let usable = vram.bytes.saturating_sub(margin);
                let need = fixed + min + kv + compute;
                if need > usable {
                    return Err(FitError::CannotFit {
                        model: model.to_string(),
                        vram: vram.text.clone(),
                        ctx: *ctx,
                        need,
                        weights: fixed + min,
                        kv,
                        compute,
                        usable,
                        margin,
                    });
                }
                let text = format!(
                    "--fit {} at ctx {ctx}: {} usable ({} kept free) - KV cache {} - compute buffer {}",
                    vram.text,
                    human(usable),
                    human(margin),
                    human(kv),
                    human(compute)
                );
                (usable - kv - compute, text, Some((shape.clone(), run, usable)))
            }
        };
        Ok(Prepared { tensors, options, budget: total - fixed, budget_text, fixed, alignment, metadata_bytes, mix_bytes, fit })
    }

    /// Measures every quantizable tensor (`data(i)`: tensor `i`'s F32/F16/BF16 data) with the
    /// importance matrix, if any, and chooses the types. `on_tensor` is called after each tensor.
    pub fn choose<'a>(
        &self,
        data: impl Fn(usize) -> Source<'a> + Sync,
        imatrix: Option<&ImatrixFile>,
        on_tensor: impl Fn() + Sync,
    ) -> Result<Mix, FitError> {
        let points: Vec<Vec<sensitivity::Point>> = self
            .options
            .par_iter()
            .map(|(i, types, _)| {
                let t = &self.tensors[*i];
                let w = imatrix.and_then(|m| m.get(&t.name));
                let p = sensitivity::measure(&t.name, &t.dims, data(*i), w, types);
                on_tensor();
                p
            })
            .collect::<Result<_, _>>()?;
        let candidates: Vec<Vec<Candidate>> = self
            .options
            .iter()
            .zip(&points)
            .map(|((_, _, costs), p)| costs.iter().zip(p).map(|(&cost, p)| Candidate { cost, error: p.error }).collect())
            .collect();
        let a = allocate::allocate(&candidates, self.budget)
            .ok_or_else(|| FitError::Sizes("the budget was checked to hold the smallest types".into()))?;
        let mut types: Vec<GgmlType> = self.tensors.iter().map(|t| t.source_type).collect();
        for ((i, tys, _), &k) in self.options.iter().zip(&a.chosen) {
            types[*i] = tys[k];
        }
        let mut mix = Mix::new(self, types, a.error);
        for ((i, tys, costs), p) in self.options.iter().zip(&points) {
            for ((ty, cost), p) in tys.iter().zip(costs).zip(p) {
                mix.points.push((self.tensors[*i].name.clone(), *ty, *cost, p.error));
            }
        }
        if let Some((shape, run, usable)) = &self.fit {
            // Confirm with plan's own sums (the weights split as llama.cpp offloads them).
            let planned: Vec<PlannedTensor> = self
                .tensors
                .iter()
                .map(|t| PlannedTensor { name: t.name.clone(), dims: t.dims.clone(), source_type: t.source_type })
                .collect();
            let w = Weights::new(shape, &planned, &mix.types, self.alignment)
                .ok_or_else(|| FitError::Sizes("the chosen weights overflow 64 bits".into()))?;
            let total = memory::footprint(shape, &w, run).ok().and_then(|f| f.total());
            if total.is_none_or(|t| t > *usable) {
                return Err(FitError::Sizes(format!(
                    "internal: the chosen mix needs {} of {} usable (plan's sums disagree with the allocation's)",
                    total.map_or("more than 2^64 bytes".into(), human),
                    human(*usable)
                )));
            }
        }
        Ok(mix)
    }
}

/// The chosen types.
#[derive(Debug, Clone)]
pub struct Mix {
    /// Each tensor's type (file order of [`Prepared::tensors`]).
    pub types: Vec<GgmlType>,
    /// The quantized tensors' names (with `types`' entry).
    names: Vec<(String, GgmlType)>,
    /// `general.file_type`: the candidate's mix holding most quantized bytes.
    pub file_type: FileType,
    /// Predicted total error (the proxy's sum).
    pub predicted_error: f64,
    /// The whole file's bytes (`--size`), or tensor data bits per weight, and what was asked.
    pub file_size: u64,
    /// Bits per weight over all tensor data.
    pub bits_per_weight: f64,
    /// The budget as asked.
    pub budget_text: String,
    /// Budget bytes and bytes used, in the budget's own measure.
    pub used: (u64, u64),
    /// Every measured (tensor, type, cost in the budget's bytes, proxy error).
    pub points: Vec<(String, GgmlType, u64, f64)>,
}

impl Mix {
    fn new(p: &Prepared, types: Vec<GgmlType>, predicted_error: f64) -> Mix {
        let names: Vec<(String, GgmlType)> = p.options.iter().map(|(i, _, _)| (p.tensors[*i].name.clone(), types[*i])).collect();
        let mut bytes_per_type: Vec<(GgmlType, u64)> = Vec::new();
        for (i, _, _) in &p.options {
            let b = memory::tensor_bytes(&p.tensors[*i].dims, types[*i], 1).unwrap_or(0);
            match bytes_per_type.iter_mut().find(|(t, _)| *t == types[*i]) {
                Some((_, s)) => *s += b,
                None => bytes_per_type.push((types[*i], b)),
            }
        }
        let main = bytes_per_type.iter().max_by_key(|(_, b)| *b).map(|(t, _)| *t);
        let file_type = CANDIDATES.iter().find(|(t, _)| Some(*t) == main).map_or(FileType::MostlyQ4_K_M, |(_, f)| *f);
        let sized: Vec<SizedTensor> =
            p.tensors.iter().zip(&types).map(|(t, &ty)| SizedTensor { name: &t.name, dims: &t.dims, ty }).collect();
        let mix_value =
            Value::Array(gguf::ValueType::String, names.iter().map(|(n, t)| Value::String(format!("{n}={}", t.name()))).collect());
        let metadata_bytes = p.metadata_bytes - p.mix_bytes + filesize::kv_size(MIX_KEY, &mix_value);
        let file_size = filesize::file_size(metadata_bytes, p.alignment, &sized).unwrap_or(u64::MAX);
        let data_bytes: u64 = p.tensors.iter().zip(&types).map(|(t, &ty)| memory::tensor_bytes(&t.dims, ty, 1).unwrap_or(0)).sum();
        let n: u64 = p.tensors.iter().map(|t| t.dims.iter().product::<u64>()).sum();
        let used: u64 =
            p.fixed + p.options.iter().map(|(i, tys, costs)| costs[tys.iter().position(|&t| t == types[*i]).unwrap_or(0)]).sum::<u64>();
        Mix {
            names,
            file_type,
            predicted_error,
            file_size,
            bits_per_weight: data_bytes as f64 * 8.0 / n.max(1) as f64,
            budget_text: p.budget_text.clone(),
            used: (p.fixed + p.budget, used),
            types,
            points: Vec::new(),
        }
    }

    /// llama-quantize `--tensor-type` overrides that reproduce the mix: one anchored pattern per
    /// quantized tensor.
    pub fn overrides(&self) -> Vec<TensorTypeOverride> {
        self.names.iter().map(|(n, ty)| TensorTypeOverride { pattern: format!("^{}$", escape(n)).to_lowercase(), ty: *ty }).collect()
    }

    /// The `ggufkit.mix` value: `NAME=TYPE` per quantized tensor, in file order.
    pub fn metadata_value(&self) -> Value {
        Value::Array(gguf::ValueType::String, self.names.iter().map(|(n, t)| Value::String(format!("{n}={}", t.name()))).collect())
    }

    /// The measurements as tab-separated lines: tensor, type, cost (bytes), proxy error, chosen (0/1).
    pub fn sensitivity_tsv(&self) -> String {
        let mut s = String::from("tensor\ttype\tbytes\tproxy_error\tchosen\n");
        for (n, t, c, e) in &self.points {
            let chosen = self.names.iter().any(|(m, u)| m == n && u == t);
            s.push_str(&format!("{n}\t{}\t{c}\t{e:.6e}\t{}\n", t.name(), u8::from(chosen)));
        }
        s
    }

    /// Tensors per type, largest count first (`Q4_K: 120, Q6_K: 30`).
    pub fn counts(&self) -> Vec<(GgmlType, usize)> {
        let mut c: Vec<(GgmlType, usize)> = Vec::new();
        for (_, t) in &self.names {
            match c.iter_mut().find(|(x, _)| x == t) {
                Some((_, k)) => *k += 1,
                None => c.push((*t, 1)),
            }
        }
        c.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.name().cmp(b.0.name())));
        c
    }

    /// The summary lines: the mix, bits per weight, bytes against the budget.
    pub fn summary(&self) -> String {
        let counts: Vec<String> = self.counts().iter().map(|(t, k)| format!("{} {}", k, t.name())).collect();
        format!(
            "mix: {} (quantized tensors), {:.3} bits/weight, file {} ({} bytes); {}: {} of {} used ({:.2}%); predicted error {:.4e}; general.file_type {}",
            counts.join(", "),
            self.bits_per_weight,
            human(self.file_size),
            self.file_size,
            self.budget_text,
            self.used.1,
            self.used.0,
            100.0 * self.used.1 as f64 / self.used.0.max(1) as f64,
            self.predicted_error,
            self.file_type.name()
        )
    }
}

/// `name` as a regular expression matching only itself (its metacharacters escaped).
fn escape(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 8);
    for c in name.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The allocation's view of a GGUF file's tensors (F32/F16/BF16), in file order.
pub fn tensors_of(file: &GgufFile) -> Vec<FitTensor> {
    let arch = file.get("general.architecture").and_then(|v| v.as_str()).unwrap_or("").to_string();
    file.tensors()
        .iter()
        .map(|t| {
            let n = t.dims.iter().rposition(|&d| d != 1).map_or(1, |i| i + 1);
            let dims = t.dims[..n.min(t.dims.len())].to_vec();
            let quantizable = policy::allows_quantization(&arch, &PolicyOptions::default(), &t.name, &dims)
                && matches!(t.ty, GgmlType::F32 | GgmlType::F16 | GgmlType::BF16);
            FitTensor { name: t.name.clone(), dims, source_type: t.ty, quantizable }
        })
        .collect()
}

/// The allocation's view of a planned model (an HF folder through plan), for the checks made
/// before converting.
pub fn tensors_of_plan(arch: &str, tensors: &[PlannedTensor]) -> Vec<FitTensor> {
    tensors
        .iter()
        .map(|t| FitTensor {
            name: t.name.clone(),
            dims: t.dims.clone(),
            source_type: t.source_type,
            quantizable: policy::allows_quantization(arch, &PolicyOptions::default(), &t.name, &t.dims),
        })
        .collect()
}

/// A GGUF tensor's data as a quantizer source.
pub fn source_of<'a>(file: &'a GgufFile, i: usize) -> Source<'a> {
    let t = &file.tensors()[i];
    let d = file.tensor_data(t);
    match t.ty {
        GgmlType::F16 => Source::F16(d),
        GgmlType::BF16 => Source::BF16(d),
        _ => Source::F32(d),
    }
}

/// The whole allocation for an F32/F16/BF16 GGUF: `metadata` is the output's metadata (quantize
/// edits applied, without the mix key).
pub fn choose_for_gguf(
    file: &GgufFile,
    path: &Path,
    metadata: &[(String, Value)],
    imatrix: Option<&ImatrixFile>,
    budget: &Budget,
) -> Result<Mix, FitError> {
    let shape = match budget {
        Budget::Fit { .. } => {
            let model = path.display().to_string();
            Some(crate::plan::input::shape_from_gguf(file, &model).map_err(|e| FitError::Shape { model, source: Box::new(e) })?)
        }
        _ => None,
    };
    let alignment = u64::from(file.alignment());
    let prepared =
        Prepared::new(&path.display().to_string(), tensors_of(file), filesize::metadata_size(metadata), alignment, budget, shape.as_ref())?;
    prepared.choose(|i| source_of(file, i), imatrix, || {})
}
