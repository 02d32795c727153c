//! The plan itself: for each candidate type, the file size, bits per weight, memory at the context,
//! whether it fits the GPU and, if not, how much of it does; then the recommendation.

use gguf::GgmlType;
use serde::Serialize;

use super::error::PlanError;
use super::filesize::{self, SizedTensor};
use super::input::{InputKind, ModelInput};
use super::memory::{self, Footprint, RunParams, Weights};
use super::quality;
use super::types;

/// What the user asked.
#[derive(Debug, Clone)]
pub struct PlanOptions {
    /// GPU memory in bytes, if a fit is wanted.
    pub vram: Option<u64>,
    /// Bytes kept free on the GPU for the runtime (CUDA context, cuBLAS workspace, fragmentation).
    pub margin: u64,
    /// Context, batch, KV type.
    pub run: RunParams,
    /// File types to size (llama-quantize names: `Q4_K_M`, `F16`, …).
    pub types: Vec<String>,
    /// Layers whose expert tensors stay in host memory (llama.cpp's `--n-cpu-moe N`; `u64::MAX`
    /// for `--cpu-moe`); 0: every weight goes where its layer goes.
    pub cpu_moe_layers: u64,
    /// Host memory for the weights llama.cpp keeps on the CPU with `--cpu-moe` (the expert
    /// tensors, the token embedding): a `--cpu-moe` recommendation must fit it; `None`: no limit.
    pub ram: Option<u64>,
}

/// One candidate type.
#[derive(Debug, Clone, Serialize)]
pub struct TypeRow {
    /// File type name (`Q4_K_M`), or `as-is` for a GGUF input's own types.
    pub name: String,
    /// Bytes of the GGUF file.
    pub file_size: u64,
    /// Whether `file_size` is exact (false when the metadata was estimated).
    pub file_size_exact: bool,
    /// Bits per weight over all tensor elements (tensor data only).
    pub bits_per_weight: f64,
    /// All tensor data (llama.cpp's model buffer on CPU).
    pub weights_bytes: u64,
    /// Weights on the GPU when fully offloaded.
    pub gpu_weights_bytes: u64,
    /// KV cache at the context.
    pub kv_bytes: u64,
    /// Compute buffer at the context and batch.
    pub compute_bytes: u64,
    /// GPU total when fully offloaded.
    pub total_bytes: u64,
    /// Fits the VRAM (minus the margin); `None` without `--vram`.
    pub fits: Option<bool>,
    /// Repeating layers + output layer on the GPU (`n_layer + 1` = all), with `--vram`.
    pub gpu_layers: Option<u64>,
    /// Largest context that fits fully, with `--vram`; `None` without `--vram` (then `fits` is
    /// `None` too) or when not even 256 tokens fit.
    pub max_ctx: Option<u64>,
    /// Weights in host memory with every layer offloaded: the token embedding and the expert
    /// tensors kept on the CPU (`--cpu-moe` / `--n-cpu-moe`).
    pub host_weights_bytes: u64,
    /// For a mixture of experts with `--vram`: the fit with every expert tensor on the CPU
    /// (`--cpu-moe`), the rest on the GPU.
    pub experts_on_cpu: Option<CpuMoeFit>,
}

/// A mixture-of-experts model with its expert tensors in host memory (llama.cpp's `--cpu-moe`).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct CpuMoeFit {
    /// GPU total at the context: the other weights, KV cache and compute buffer.
    pub gpu_total_bytes: u64,
    /// Fits the VRAM (minus the margin) at the context.
    pub fits: bool,
    /// Largest context that fits; `None` when not even 256 tokens fit.
    pub max_ctx: Option<u64>,
    /// Weights in host memory: every expert tensor and the token embedding.
    pub host_weights_bytes: u64,
}

/// The recommendation.
#[derive(Debug, Clone, Serialize)]
pub struct Recommendation {
    /// Recommended type, if any fits.
    pub name: Option<String>,
    /// One line why.
    pub why: String,
}

/// A complete plan.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// Input path.
    pub model: String,
    /// `gguf` or `config`.
    pub input: &'static str,
    /// GGUF architecture.
    pub arch: &'static str,
    /// Parameters (elements of all tensors).
    pub n_params: u64,
    /// Repeating layers.
    pub n_layer: u64,
    /// Training context.
    pub n_ctx_train: u64,
    /// Requested context.
    pub ctx: u64,
    /// KV cells llama.cpp allocates (context padded to 256).
    pub ctx_cells: u64,
    /// Prompt-processing batch.
    pub batch: u64,
    /// KV type name.
    pub kv_type: &'static str,
    /// Backend whose compute buffer is modelled.
    pub backend: memory::Backend,
    /// VRAM given.
    pub vram_bytes: Option<u64>,
    /// Margin kept free.
    pub margin_bytes: u64,
    /// Host memory a `--cpu-moe` recommendation must fit its host weights into (`--ram`).
    pub ram_bytes: Option<u64>,
    /// One row per type.
    pub rows: Vec<TypeRow>,
    /// Best type that fits.
    pub recommendation: Option<Recommendation>,
}

/// Plans `input` for every requested type.
pub fn plan(input: &ModelInput, opts: &PlanOptions) -> Result<Plan, PlanError> {
    let shape = &input.shape;
    let source = input.path.display().to_string();
    for (what, v) in [("context", opts.run.ctx), ("batch", opts.run.ubatch)] {
        if !(1..=memory::MAX_CTX).contains(&v) {
            return Err(PlanError::BadOption(format!(
                "{what} {v} is out of range: llama.cpp takes 1 to {} tokens (a 32-bit count)",
                memory::MAX_CTX
            )));
        }
    }
    let n_params = input
        .tensors
        .iter()
        .try_fold(0u64, |a, t| a.checked_add(t.n_elements()))
        .ok_or_else(|| PlanError::Overflow { file: source.clone(), what: "parameter count".into() })?;
    if !memory::kv_type_fits(shape, opts.run.kv_type) {
        return Err(PlanError::BadOption(format!(
            "KV type {} needs K/V heads and rows that are a multiple of {} elements; this model's heads are {} and {} wide, its rows {} and {} (llama.cpp refuses this cache type for it: use --kv-type f16)",
            opts.run.kv_type.name(),
            opts.run.kv_type.block_size(),
            shape.head_dim_k,
            shape.head_dim_v,
            shape.n_embd_k_gqa(),
            shape.n_embd_v_gqa()
        )));
    }
    let mut rows = Vec::new();
    if input.kind == InputKind::Gguf {
        let types: Vec<GgmlType> = input.tensors.iter().map(|t| t.source_type).collect();
        rows.push(row(input, opts, "as-is", &types, &source)?);
    }
    for name in &opts.types {
        let types = types::tensor_types(input, name)?;
        rows.push(row(input, opts, name, &types, &source)?);
    }
    let recommendation = opts.vram.map(|vram| recommend(&rows, vram, opts, shape.n_layer + 1));
    Ok(Plan {
        model: source,
        input: match input.kind {
            InputKind::Gguf => "gguf",
            InputKind::Config => "config",
        },
        arch: shape.arch.gguf_name,
        n_params,
        n_layer: shape.n_layer,
        n_ctx_train: shape.n_ctx_train,
        ctx: opts.run.ctx,
        ctx_cells: memory::kv_cells(opts.run.ctx),
        batch: opts.run.ubatch,
        kv_type: opts.run.kv_type.name(),
        backend: opts.run.backend,
        vram_bytes: opts.vram,
        margin_bytes: opts.margin,
        ram_bytes: opts.ram,
        rows,
        recommendation,
    })
}

fn row(input: &ModelInput, opts: &PlanOptions, name: &str, types: &[GgmlType], source: &str) -> Result<TypeRow, PlanError> {
    let shape = &input.shape;
    let mut sized = Vec::with_capacity(input.tensors.len());
    for (t, &ty) in input.tensors.iter().zip(types) {
        let row = t.dims.first().copied().unwrap_or(0);
        if ty.row_size(row).is_none() {
            return Err(PlanError::BadRow { tensor: t.name.clone(), ty: ty.name().into(), block: ty.block_size(), row });
        }
        sized.push(SizedTensor { name: &t.name, dims: &t.dims, ty });
    }
    let file_size = filesize::file_size(input.metadata_bytes, input.alignment, &sized)
        .ok_or_else(|| PlanError::Overflow { file: source.to_string(), what: format!("{name} file size") })?;
    let overflow = |what: String| PlanError::Overflow { file: source.to_string(), what: format!("{name} {what}") };
    let all = Weights::new(shape, &input.tensors, types, input.alignment).ok_or_else(|| overflow("weights".into()))?;
    let (weights, host_weights_bytes) = all.with_cpu_experts(opts.cpu_moe_layers).ok_or_else(|| overflow("weights".into()))?;
    let elements: u128 = input.tensors.iter().map(|t| u128::from(t.n_elements())).sum();
    // Tensor data in bits (bits per weight), in u128: a file of up to 2^64 bytes has 2^67 bits.
    let data_bits: u128 =
        input.tensors.iter().zip(types).map(|(t, &ty)| u128::from(memory::tensor_bytes(&t.dims, ty, 1).unwrap_or(0)) * 8).sum();
    let ctx = opts.run.ctx;
    let fp: Footprint = memory::footprint(shape, &weights, &opts.run).map_err(|part| overflow(format!("{part} at ctx {ctx}")))?;
    let total = fp.total().ok_or_else(|| overflow(format!("GPU total at ctx {ctx}")))?;
    let (fits, gpu_layers, max_ctx) = match opts.vram {
        Some(vram) => {
            let budget = vram.saturating_sub(opts.margin);
            (
                Some(total <= budget),
                Some(memory::gpu_layers(shape, &weights, &opts.run, budget)),
                memory::max_ctx(shape, &weights, &opts.run, budget),
            )
        }
        None => (None, None, None),
    };
    let experts_on_cpu = match opts.vram {
        Some(vram) if all.has_experts() => {
            let budget = vram.saturating_sub(opts.margin);
            let (gpu, host) = all.with_cpu_experts(u64::MAX).ok_or_else(|| overflow("weights".into()))?;
            let fp = memory::footprint(shape, &gpu, &opts.run).map_err(|part| overflow(format!("{part} at ctx {ctx}")))?;
            let gpu_total = fp.total().ok_or_else(|| overflow(format!("GPU total at ctx {ctx}")))?;
            Some(CpuMoeFit {
                gpu_total_bytes: gpu_total,
                fits: gpu_total <= budget,
                max_ctx: memory::max_ctx(shape, &gpu, &opts.run, budget),
                host_weights_bytes: host,
            })
        }
        _ => None,
    };
    Ok(TypeRow {
        name: name.to_string(),
        file_size,
        file_size_exact: input.metadata.is_some(),
        bits_per_weight: if elements == 0 { 0.0 } else { data_bits as f64 / elements as f64 },
        weights_bytes: weights.total,
        gpu_weights_bytes: fp.weights,
        kv_bytes: fp.kv,
        compute_bytes: fp.compute,
        total_bytes: total,
        fits,
        gpu_layers,
        max_ctx,
        host_weights_bytes,
        experts_on_cpu,
    })
}

fn recommend(rows: &[TypeRow], vram: u64, opts: &PlanOptions, n_offloadable: u64) -> Recommendation {
    let mut ranked: Vec<&TypeRow> = rows.iter().filter(|r| r.name != "as-is").collect();
    ranked.sort_by_key(|r| quality::rank(&r.name));
    let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
    if let Some(best) = ranked.iter().find(|r| r.fits == Some(true)) {
        let better = ranked.iter().take_while(|r| r.name != best.name).last();
        let why = match better {
            Some(b) => format!(
                "{} is the highest-quality type that fits: {:.2} GiB of {:.2} GiB usable at ctx {}; {} would need {:.2} GiB",
                best.name,
                gib(best.total_bytes),
                gib(vram.saturating_sub(opts.margin)),
                opts.run.ctx,
                b.name,
                gib(b.total_bytes)
            ),
            None => format!(
                "{} fits: {:.2} GiB of {:.2} GiB usable at ctx {}",
                best.name,
                gib(best.total_bytes),
                gib(vram.saturating_sub(opts.margin)),
                opts.run.ctx
            ),
        };
        return Recommendation { name: Some(best.name.clone()), why };
    }
    // a mixture of experts: the best type whose other weights fit the GPU with the experts on the
    // CPU, and whose experts fit the RAM
    let in_ram = |m: &CpuMoeFit| opts.ram.is_none_or(|ram| m.host_weights_bytes <= ram);
    let moe = ranked.iter().find_map(|r| r.experts_on_cpu.filter(|m| m.fits && in_ram(m)).map(|m| (r, m)));
    // the next better type that the RAM alone rules out
    let chosen_rank = moe.map_or(usize::MAX, |(r, _)| quality::rank(&r.name));
    let too_big_for_ram = ranked
        .iter()
        .take_while(|r| quality::rank(&r.name) < chosen_rank)
        .filter_map(|r| r.experts_on_cpu.filter(|m| m.fits && !in_ram(m)).map(|m| (r, m)))
        .last();
    let ram_note = |better: Option<(&&TypeRow, CpuMoeFit)>| match (better, opts.ram) {
        (Some((b, bm)), Some(ram)) => format!(
            "; {} --cpu-moe would need {:.2} GiB of RAM, more than the {:.2} GiB given (--ram)",
            b.name,
            gib(bm.host_weights_bytes),
            gib(ram)
        ),
        _ => String::new(),
    };
    if let Some((r, m)) = moe {
        let why = format!(
            "no type fits fully at ctx {}; with its experts on the CPU (llama.cpp --cpu-moe) {} fits: {:.2} GiB on the GPU (of {:.2} GiB usable; up to ctx {}), and needs {:.2} GiB of RAM for the expert weights and the token embedding{}",
            opts.run.ctx,
            r.name,
            gib(m.gpu_total_bytes),
            gib(vram.saturating_sub(opts.margin)),
            m.max_ctx.map_or_else(|| "-".to_string(), |c| c.to_string()),
            gib(m.host_weights_bytes),
            ram_note(too_big_for_ram)
        );
        return Recommendation { name: Some(format!("{} --cpu-moe", r.name)), why };
    }
    let partial = ranked.iter().max_by_key(|r| (r.gpu_layers.unwrap_or(0), std::cmp::Reverse(quality::rank(&r.name))));
    let why = match partial {
        Some(p) => format!(
            "no type fits fully at ctx {}; {} offloads the most layers ({} of {} incl. the output layer), the rest runs on the CPU",
            opts.run.ctx,
            p.name,
            p.gpu_layers.unwrap_or(0),
            n_offloadable
        ),
        None => "no type was planned".to_string(),
    } + &ram_note(too_big_for_ram);
    Recommendation { name: None, why }
}
