//! `ggufkit validate REFERENCE FILE... --text TEXT`: perplexity and KL divergence of quantized
//! files against a reference (HF folder, F16/F32 GGUF, or stored log-probabilities).

use anyhow::Context;
use std::path::PathBuf;
use validate::plot::{self, PlotPoint};
use validate::run::{self, Options, Report};

/// Arguments of `ggufkit validate`.
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  ggufkit validate ./model model-Q4_K_M.gguf model-Q8_0.gguf --text eval.txt\n  ggufkit validate model-F16.gguf model-Q4_K_M.gguf --text eval.txt --tokenizer ./model --json")]
pub struct Args {
    /// The reference: an HF model folder, an F16/BF16/F32 GGUF, or a log-probability file saved
    /// with --save-reference (or by `llama-perplexity --kl-divergence-base`).
    pub reference: PathBuf,
    /// GGUF files (or HF folders) to compare with the reference.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Evaluation text.
    #[arg(long)]
    pub text: Option<PathBuf>,
    /// tokenizer.json to use when the reference is a GGUF file.
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,
    /// Context window (tokens); the second half of each window is scored.
    #[arg(long, default_value_t = 512)]
    pub ctx: usize,
    /// Evaluate at most this many windows.
    #[arg(long)]
    pub chunks: Option<usize>,
    /// cpu or cuda.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Keep the reference log-probabilities in this file (reusable as REFERENCE).
    #[arg(long)]
    pub save_reference: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Draw KLD and ΔPPL against file size into this SVG file.
    #[arg(long)]
    pub plot: Option<PathBuf>,
}

fn print_table(r: &Report) {
    let rf = &r.reference;
    println!(
        "reference {}: PPL {:.4} ± {:.4} ({} windows of {} tokens, {} scored, device {})",
        rf.path.display(),
        rf.ppl.value,
        rf.ppl.uncertainty,
        rf.chunks,
        rf.ctx,
        rf.scored_tokens,
        r.device
    );
    println!(
        "{:<32} {:>8} {:>10} {:>6} {:>18} {:>8} {:>20} {:>9} {:>9} {:>16}",
        "file", "type", "size MiB", "bpw", "PPL", "ΔPPL %", "mean KLD", "KLD p99", "RMS Δp %", "top-1 %"
    );
    for f in &r.files {
        let s = &f.stats;
        let name = f.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        println!(
            "{:<32} {:>8} {:>10.2} {:>6.2} {:>18} {:>8.3} {:>20} {:>9.5} {:>9.3} {:>16}",
            name,
            f.main_type,
            f.file_size as f64 / (1024.0 * 1024.0),
            f.bits_per_weight,
            format!("{:.4} ± {:.4}", s.ppl.value, s.ppl.uncertainty),
            f.dppl_percent,
            format!("{:.6} ± {:.6}", s.kld_mean.value, s.kld_mean.uncertainty),
            s.kld_p99,
            100.0 * s.rms_dp.value,
            format!("{:.2} ± {:.2}", 100.0 * s.same_top.value, 100.0 * s.same_top.uncertainty),
        );
    }
}

/// The forward pass allocates and frees large temporaries (attention scores, logits) in every
/// layer. With glibc's defaults each is a fresh mmap whose pages the kernel zeroes and faults in
/// again, and the faults of all threads queue on one page-table lock: on a 16-core machine the CPU
/// evaluation ran 30% faster with freed memory kept for reuse (docs/measurements/gpu-validate-h200.md).
/// Only this command does it: `convert` keeps its small resident set.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn keep_freed_memory() {
    // SAFETY: mallopt only changes allocator thresholds; called before the evaluation allocates.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
        libc::mallopt(libc::M_TOP_PAD, 1 << 30);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn keep_freed_memory() {}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<()> {
    keep_freed_memory();
    let device = validate::device::select(&args.device)?;
    let opts = Options {
        reference: args.reference,
        files: args.files,
        text: args.text,
        tokenizer: args.tokenizer,
        ctx: args.ctx,
        chunks: args.chunks,
        save_reference: args.save_reference,
    };
    let report = run::run(&opts, &device, |what, done, total| {
        eprint!("\r{what}: window {done}/{total}");
        if done == total {
            eprintln!();
        }
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&crate::numbers::Versioned::new(&report))?);
    } else {
        print_table(&report);
    }
    if let Some(path) = &args.plot {
        let points: Vec<PlotPoint> = report
            .files
            .iter()
            .map(|f| PlotPoint {
                label: f.path.file_stem().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
                size_mib: f.file_size as f64 / (1024.0 * 1024.0),
                kld: f.stats.kld_mean.value,
                dppl_percent: f.dppl_percent,
            })
            .collect();
        let title = format!("quality vs size against {}", opts.reference.display());
        plot::draw(path, &title, &points).with_context(|| format!("writing the plot {}", path.display()))?;
        eprintln!("plot written to {}", path.display());
    }
    Ok(())
}
