//! `ggufkit imatrix MODEL --text CALIB -o imatrix.gguf`: the importance matrix of a model over a
//! calibration text, computed by validate's engine the way `llama-imatrix` computes it, in its
//! GGUF format (for `ggufkit quantize --imatrix`, `convert --imatrix` and `llama-quantize --imatrix`).

use anyhow::Context;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::path::PathBuf;
use validate::imatrix::{self, Options};
use validate::memory::{self, Mode};

/// Arguments of `ggufkit imatrix`.
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  ggufkit imatrix ./model --text calibration.txt -o model.imatrix.gguf\n  \
                        ggufkit convert ./model -t IQ4_XS --imatrix model.imatrix.gguf")]
pub struct Args {
    /// The model: an HF folder (BF16/F16/F32 safetensors) or an F16/BF16/F32 GGUF.
    pub model: PathBuf,
    /// Calibration text (at least two windows of --ctx tokens).
    #[arg(long)]
    pub text: PathBuf,
    /// Output file (GGUF imatrix format).
    #[arg(short, long)]
    pub output: PathBuf,
    /// tokenizer.json to tokenize the text with. Default: the folder's tokenizer.json, else the
    /// GGUF's own vocabulary.
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,
    /// Window length in tokens (llama-imatrix -c).
    #[arg(long, default_value_t = 512)]
    pub ctx: usize,
    /// Use at most this many windows (llama-imatrix --chunks).
    #[arg(long)]
    pub chunks: Option<usize>,
    /// Device and memory budget.
    #[command(flatten)]
    pub engine: crate::cmd::args::EngineArgs,
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<()> {
    let device = args.engine.device()?;
    let opts = Options {
        model: args.model,
        text: args.text,
        tokenizer: args.tokenizer,
        ctx: args.ctx,
        chunks: args.chunks,
        max_memory: args.engine.max_memory_bytes(),
    };
    let draw = if std::io::stderr().is_terminal() { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() };
    let bar = ProgressBar::with_draw_target(None, draw);
    bar.set_style(ProgressStyle::with_template("imatrix [{elapsed_precise}] {wide_bar} windows {pos}/{len} ETA {eta}")?);
    let started = std::time::Instant::now();
    let m = imatrix::compute(&opts, &device, |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    });
    bar.finish_and_clear();
    let m = m?;
    m.write_gguf(&args.output).with_context(|| format!("writing {}", args.output.display()))?;
    let mode = match m.plan.mode {
        Mode::Resident => "resident".to_owned(),
        Mode::Streamed => format!("streamed, {} windows per pass", m.plan.windows_kept),
    };
    eprintln!(
        "{}: {} weights, {} windows of {} tokens, {:.1} s ({mode}, budget {})",
        args.output.display(),
        m.entries.len(),
        m.chunk_count,
        m.chunk_size,
        started.elapsed().as_secs_f64(),
        memory::gib(m.plan.budget)
    );
    Ok(())
}
