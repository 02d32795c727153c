//! `ggufkit convert MODEL_DIR -t TYPE[,TYPE…] [-o OUT] [--imatrix FILE] [--threads N] [--force] [--json]`.

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
    /// Q5_K_S/M, Q6_K. Several, comma-separated (`Q4_K_M,Q8_0`), convert each tensor once and
    /// write one file per type into the `-o` folder.
    #[arg(short = 't', long = "type", default_value = "F16")]
    pub ty: String,
    /// Output file, or folder for the default name `<model-dir-name>-<TYPE>.gguf` (a folder with
    /// several types).
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
}

/// Runs the subcommand.
pub fn run(args: Args) -> Result<()> {
    let mut types = Vec::new();
    for name in args.ty.split(',').map(str::trim) {
        let ft = FileType::from_name(name).ok_or_else(|| convert::ConvertError::UnknownType(name.to_string()))?;
        if !types.contains(&ft) {
            types.push(ft);
        }
    }
    let file_type = types.first().copied().ok_or_else(|| convert::ConvertError::UnknownType(args.ty.clone()))?;
    let opts = Options {
        model_dir: args.model_dir.clone(),
        file_type,
        output: args.output.clone(),
        imatrix: args.imatrix.clone(),
        force: args.force,
        name: args.name.clone(),
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
    let outputs = convert::outputs_for(&opts, &types)?;
    let result = match args.threads {
        Some(n) => {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(n.max(1)).build().context("building the thread pool")?;
            pool.install(|| convert::convert_many(&opts, &outputs, &mut on_progress))
        }
        None => convert::convert_many(&opts, &outputs, &mut on_progress),
    };
    bar.finish_and_clear();
    let summaries = result?;
    if args.json {
        // one type: the summary object as before; several: an array of them
        match summaries.as_slice() {
            [one] => println!("{}", serde_json::to_string_pretty(one)?),
            all => println!("{}", serde_json::to_string_pretty(all)?),
        }
        return Ok(());
    }
    for summary in &summaries {
        let modelfile = summary.modelfile.as_deref().unwrap_or(summary.output.as_path()).display();
        println!(
            "{}: {} {}, {:.2} MiB, {:.2} bits/weight, {} tensors, {:.2} s (Modelfile: {}; next: ollama create NAME -f {})",
            summary.output.display(),
            summary.architecture,
            summary.file_type,
            summary.size_bytes as f64 / (1024.0 * 1024.0),
            summary.bits_per_weight,
            summary.n_tensors,
            summary.seconds,
            modelfile,
            modelfile,
        );
    }
    Ok(())
}
