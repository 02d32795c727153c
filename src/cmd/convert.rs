//! `ggufkit convert MODEL_DIR -t TYPE [-o OUT] [--imatrix FILE] [--threads N] [--force] [--json]`.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{anyhow, Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use quantize::ftype::FileType;

use crate::convert::{self, Options, Progress};

/// Convert a Hugging Face checkpoint to GGUF in one pass (plus an Ollama Modelfile).
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The Hugging Face model folder (config.json, *.safetensors, tokenizer files).
    pub model_dir: PathBuf,
    /// Output type: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K_S/M/L, Q4_K_S/M,
    /// Q5_K_S/M, Q6_K.
    #[arg(short = 't', long = "type", default_value = "F16")]
    pub ty: String,
    /// Output file, or folder for the default name `<model-dir-name>-<TYPE>.gguf`.
    #[arg(short = 'o', long = "output")]
    pub output: Option<PathBuf>,
    /// Importance matrix (llama-imatrix output, .dat or .gguf) for the quantized types.
    #[arg(long)]
    pub imatrix: Option<PathBuf>,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Overwrite an existing output file.
    #[arg(long)]
    pub force: bool,
    /// `general.name` to write (default: guessed from the config or folder name, as llama.cpp's
    /// converter does).
    #[arg(long)]
    pub name: Option<String>,
    /// Print a JSON summary on stdout instead of the one-line summary.
    #[arg(long)]
    pub json: bool,
    /// A `SYSTEM` prompt for the Ollama Modelfile.
    #[arg(long)]
    pub system: Option<String>,
    /// Pin Ollama's context size in the Modelfile (`PARAMETER num_ctx N`); by default Ollama
    /// chooses it.
    #[arg(long, value_name = "N")]
    pub num_ctx: Option<u32>,
    /// Write no Ollama Modelfile.
    #[arg(long, conflicts_with_all = ["system", "num_ctx"])]
    pub no_modelfile: bool,
}

/// Runs the subcommand.
pub fn run(args: Args) -> Result<()> {
    let file_type = FileType::from_name(&args.ty).ok_or_else(|| convert::ConvertError::UnknownType(args.ty.clone()))?;
    let opts = Options {
        model_dir: args.model_dir.clone(),
        file_type,
        output: args.output.clone(),
        imatrix: args.imatrix.clone(),
        force: args.force,
        name: args.name.clone(),
        modelfile: (!args.no_modelfile).then(|| convert::modelfile::Options { system: args.system.clone(), num_ctx: args.num_ctx }),
    };
    let bar = ProgressBar::with_draw_target(None, if std::io::stderr().is_terminal() && !args.json { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() });
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {binary_bytes}/{binary_total_bytes} {msg} ETA {eta}")
            .map_err(|e| anyhow!("progress bar template: {e}"))?,
    );
    let mut on_progress = |p: Progress| {
        bar.set_length(p.total_bytes);
        bar.set_position(p.bytes);
        bar.set_message(format!("tensors {}/{}", p.tensors, p.total_tensors));
    };
    let result = match args.threads {
        Some(n) => {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(n.max(1)).build().context("building the thread pool")?;
            pool.install(|| convert::convert(&opts, &mut on_progress))
        }
        None => convert::convert(&opts, &mut on_progress),
    };
    bar.finish_and_clear();
    let summary = result?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        let modelfile = match &summary.modelfile {
            Some(p) => format!(
                " (Modelfile: {}{}, chat template: {}; next: ollama create NAME -f {})",
                p.display(),
                if summary.modelfile_written { "" } else { " kept as it was, use --force to replace it" },
                summary.chat_template.as_deref().unwrap_or("none"),
                p.display()
            ),
            None => String::new(),
        };
        println!(
            "{}: {} {}, {:.2} MiB, {:.2} bits/weight, {} tensors, {:.2} s{modelfile}",
            summary.output.display(),
            summary.architecture,
            summary.file_type,
            summary.size_bytes as f64 / (1024.0 * 1024.0),
            summary.bits_per_weight,
            summary.n_tensors,
            summary.seconds,
        );
        for note in &summary.notes {
            println!("note: {note}");
        }
    }
    Ok(())
}
