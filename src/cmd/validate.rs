//! `ggufkit validate REFERENCE FILE... --text TEXT`: perplexity and KL divergence of quantized
//! files against a reference (HF folder, F16/F32 GGUF, or stored log-probabilities).

use anyhow::{anyhow, Context};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::path::PathBuf;
use validate::memory::{self, Mode};
use validate::plot::{self, PlotPoint};
use validate::run::{self, Budget, MemoryReport, Options, Report};

/// Arguments of `ggufkit validate`.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  ggufkit validate ./model model-Q4_K_M.gguf model-Q8_0.gguf --text eval.txt\n  ggufkit validate model-F16.gguf model-Q4_K_M.gguf --text eval.txt --json"
)]
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
    /// tokenizer.json to tokenize the text with. Default: the reference folder's tokenizer.json,
    /// else the GGUF's own vocabulary (rebuilt as llama.cpp tokenizes it).
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,
    /// Context window (tokens); the second half of each window is scored.
    #[arg(long, default_value_t = 512)]
    pub ctx: usize,
    /// Evaluate at most this many windows.
    #[arg(long)]
    pub chunks: Option<usize>,
    /// Device and memory budget.
    #[command(flatten)]
    pub engine: crate::cmd::args::EngineArgs,
    /// Keep the reference log-probabilities in this file (reusable as REFERENCE).
    #[arg(long)]
    pub save_reference: Option<PathBuf>,
    /// Stream every model one block at a time whatever the budget (the least memory).
    #[arg(long)]
    pub stream: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Draw KLD and ΔPPL against file size into this SVG file.
    #[arg(long)]
    pub plot: Option<PathBuf>,
}

fn memory_line(m: &MemoryReport) -> String {
    let mode = match m.plan.mode {
        Mode::Resident => "resident".to_owned(),
        Mode::Streamed => format!("streamed, {} windows per pass", m.plan.windows_kept),
    };
    let peak = m.peak_bytes.map_or("unknown".into(), memory::gib);
    format!("{mode}, peak {peak} (budget {})", memory::gib(m.plan.budget))
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
    if let Some(m) = &rf.memory {
        println!("reference memory: {}", memory_line(m));
    }
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
    for f in &r.files {
        let name = f.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        println!("{name} memory: {}, {:.1} tokens/s", memory_line(&f.memory), f.timing.tokens_per_second());
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
    let device = args.engine.device()?;
    if let Some(path) = &args.plot {
        // refused before the evaluation, not after it: the plot is written last
        let folder = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
        if !folder.is_dir() {
            anyhow::bail!("--plot {}: the folder {} does not exist; create it or pick another path", path.display(), folder.display());
        }
    }
    let opts = Options {
        reference: args.reference,
        files: args.files,
        text: args.text,
        tokenizer: args.tokenizer,
        ctx: args.ctx,
        chunks: args.chunks,
        save_reference: args.save_reference,
    };
    // Progress on a terminal only: a bar per model in window-blocks (one window through one
    // block), with the windows scored, the block, tokens/s and the ETA.
    let draw = if std::io::stderr().is_terminal() && !args.json { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() };
    let bar = ProgressBar::with_draw_target(None, draw);
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{elapsed_precise}] {wide_bar} {msg} ETA {eta}")
            .map_err(|e| anyhow!("progress bar template: {e}"))?,
    );
    let mut current = String::new();
    let mut started = std::time::Instant::now();
    let budget = Budget { max_memory: args.engine.max_memory_bytes(), force: args.stream.then_some(Mode::Streamed) };
    let result = run::run_with(&opts, &budget, &device, |what, p| {
        if what != current {
            current = what.to_owned();
            started = std::time::Instant::now();
            bar.reset();
            bar.set_prefix(current.clone());
        }
        bar.set_length(p.total as u64);
        bar.set_position(p.done as u64);
        let secs = started.elapsed().as_secs_f64();
        let tps = if secs > 0.0 { p.done as f64 / p.n_layer.max(1) as f64 * p.n_ctx as f64 / secs } else { 0.0 };
        let layer = if p.layer > 0 { format!(", block {}/{}", p.layer, p.n_layer) } else { String::new() };
        bar.set_message(format!("windows {}/{}{layer}, {tps:.0} tokens/s", p.windows_done, p.windows_total));
    });
    bar.finish_and_clear();
    let report = result?;
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
