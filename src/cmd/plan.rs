//! `ggufkit plan MODEL [--vram 8GiB] [--ctx 4096] [--batch 512] [--kv-type f16|q8_0|q4_0]
//! [--types LIST] [--cpu-moe | --n-cpu-moe N] [--json | --markdown]`.

use std::path::PathBuf;

use anyhow::Context;
use gguf::GgmlType;

use crate::plan::memory::{Backend, RunParams};
use crate::plan::{self, quality, report, PlanOptions};
use crate::size::Size;

/// Arguments of `ggufkit plan`.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  ggufkit plan configs/phi-3.5-mini-instruct --vram 8GiB --ctx 4096\n  ggufkit plan ./Meta-Llama-3-8B-Instruct --vram 12GiB --ctx 8192 --kv-type q8_0\n  ggufkit plan model-F16.gguf --json"
)]
pub struct Args {
    /// An HF model folder, a lone config.json, or a GGUF file.
    pub model: PathBuf,
    /// GPU memory to fit, e.g. 8GiB, 12GB, 6000MiB.
    #[arg(long)]
    pub vram: Option<Size>,
    /// Context length in tokens.
    #[arg(long, default_value_t = 4096)]
    pub ctx: u64,
    /// Tokens per prompt-processing step (llama.cpp's -b/-ub).
    #[arg(long, default_value_t = 512)]
    pub batch: u64,
    /// KV cache type: f16, q8_0, q4_0 (also f32, bf16, q4_1, q5_0, q5_1).
    #[arg(long, default_value = "f16")]
    pub kv_type: String,
    /// Comma-separated file types to size (default: F16,Q8_0,Q6_K,Q5_K_M,Q4_K_M,Q4_0,Q3_K_M,Q2_K).
    #[arg(long, value_delimiter = ',')]
    pub types: Option<Vec<String>>,
    /// GPU memory kept free for the runtime: CUDA context, cuBLAS workspaces (597 MiB measured
    /// with llama.cpp on an H200, CUDA 13; consumer cards usually need less).
    #[arg(long, default_value = crate::size::DEFAULT_MARGIN)]
    pub margin: Size,
    /// Backend whose compute buffer is modelled: cuda (GPU offload) or cpu.
    #[arg(long, value_enum, default_value = "cuda")]
    pub backend: BackendArg,
    /// Flash attention, as llama.cpp's -fa: auto (on where the backend supports the head size),
    /// on or off. llama.cpp turns it on for a quantized V cache.
    #[arg(long, value_enum, default_value = "auto")]
    pub flash_attn: FlashAttnArg,
    /// Keep every expert tensor of a mixture of experts in host memory (llama.cpp's --cpu-moe).
    #[arg(long, conflicts_with = "n_cpu_moe")]
    pub cpu_moe: bool,
    /// Keep the expert tensors of the first N layers in host memory (llama.cpp's --n-cpu-moe N).
    #[arg(long, value_name = "N")]
    pub n_cpu_moe: Option<u64>,
    /// RAM for the weights llama.cpp keeps in host memory with --cpu-moe (the expert tensors and
    /// the token embedding): a --cpu-moe recommendation must fit it. Weights only: leave room for
    /// the system and llama.cpp's host buffers. Default: this machine's total memory.
    #[arg(long)]
    pub ram: Option<Size>,
    /// Print JSON (sizes in bytes).
    #[arg(long, conflicts_with = "markdown")]
    pub json: bool,
    /// Print a Markdown table.
    #[arg(long)]
    pub markdown: bool,
}

/// `--backend` values.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum BackendArg {
    /// ggml-cuda.
    Cuda,
    /// ggml-cpu.
    Cpu,
}

/// `--flash-attn` values.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum FlashAttnArg {
    /// llama.cpp's default: on when the backend supports it.
    Auto,
    /// Always.
    On,
    /// Never (unless the V cache is quantized).
    Off,
}

/// KV cache types llama.cpp accepts for `-ctk`/`-ctv`.
const KV_TYPES: &[GgmlType] =
    &[GgmlType::F32, GgmlType::F16, GgmlType::BF16, GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q5_1];

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<()> {
    crate::cmd::inputs::check(&args.model, "plan", crate::cmd::inputs::Expect::FolderConfigOrGguf)?;
    let kv_type = GgmlType::from_name(&args.kv_type).filter(|t| KV_TYPES.contains(t)).with_context(|| {
        format!("--kv-type {:?}: expected one of {}", args.kv_type, KV_TYPES.iter().map(|t| t.name()).collect::<Vec<_>>().join(", "))
    })?;
    anyhow::ensure!(args.ctx > 0, "--ctx must be at least 1");
    anyhow::ensure!(args.batch > 0, "--batch must be at least 1");
    let vram = args.vram.map(|v| v.bytes);
    let margin = args.margin.bytes;
    let types = match args.types {
        Some(t) => t.into_iter().map(|s| s.trim().to_ascii_uppercase()).filter(|s| !s.is_empty()).collect(),
        None => quality::DEFAULT_TYPES.iter().map(|s| s.to_string()).collect(),
    };
    let input = plan::input::load(&args.model)?;
    let opts = PlanOptions {
        vram,
        margin,
        run: RunParams {
            ctx: args.ctx,
            ubatch: args.batch,
            kv_type,
            backend: match args.backend {
                BackendArg::Cuda => Backend::Cuda,
                BackendArg::Cpu => Backend::Cpu,
            },
            flash_attn: match args.flash_attn {
                FlashAttnArg::Auto => None,
                FlashAttnArg::On => Some(true),
                FlashAttnArg::Off => Some(false),
            },
        },
        types,
        cpu_moe_layers: if args.cpu_moe { u64::MAX } else { args.n_cpu_moe.unwrap_or(0) },
        ram: args.ram.map(|r| r.bytes).or_else(validate::memory::total_ram),
    };
    let p = plan::plan(&input, &opts)?;
    let text = if args.json {
        report::json(&p) + "\n"
    } else if args.markdown {
        report::markdown(&p)
    } else {
        report::table(&p)
    };
    print!("{text}");
    Ok(())
}
