//! `ggufkit convert MODEL_DIR -t TYPE[,TYPE…] [-o OUT] [--imatrix FILE] [--threads N] [--force] [--json]`.

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{anyhow, bail, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use quantize::ftype::FileType;

use crate::convert::{self, Options, Progress};

/// Convert a Hugging Face checkpoint to GGUF in one pass (plus an Ollama Modelfile).
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  ggufkit convert ./Phi-3.5-mini-instruct -t Q4_K_M                # Phi-3.5-mini-instruct-Q4_K_M.gguf + .Modelfile\n  ggufkit convert ./Meta-Llama-3-8B-Instruct -t Q8_0 -o models/ --system 'You are terse.'\n  ggufkit convert ./model -t Q4_K_M --imatrix imatrix.gguf --threads 8"
)]
pub struct Args {
    /// The Hugging Face model folder (config.json, *.safetensors, tokenizer files).
    pub model_dir: PathBuf,
    /// Output type: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K_S/M/L, Q4_K_S/M,
    /// Q5_K_S/M, Q6_K, … (`ggufkit list types`), or `ftype:N` for a general.file_type number.
    /// Several, comma-separated (`Q4_K_M,Q8_0`), convert each tensor once and write one file per
    /// type into the `-o` folder.
    #[arg(short = 't', long = "type", default_value = "F16", value_delimiter = ',', value_parser = crate::cmd::args::file_type)]
    pub ty: Vec<FileType>,
    /// Output file, or folder for the default name `<model-dir-name>-<TYPE>.gguf` (a folder with
    /// several types).
    #[arg(short = 'o', long = "output")]
    pub output: Option<PathBuf>,
    /// Importance matrix (llama-imatrix output, .dat or .gguf) for the quantized types.
    #[arg(long)]
    pub imatrix: Option<PathBuf>,
    /// Compute the importance matrix from this calibration text first (as `ggufkit imatrix`, on
    /// the CPU), keep it as `<model-dir-name>.imatrix.gguf` next to the output, and quantize with it.
    #[arg(long, value_name = "TEXT", conflicts_with = "imatrix")]
    pub calibrate: Option<PathBuf>,
    /// Window length (tokens) for --calibrate; the text must hold at least two windows.
    #[arg(long, value_name = "N", default_value_t = 512, requires = "calibrate")]
    pub calibrate_ctx: usize,
    /// Worker threads (default, or 0: all cores).
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
    /// Pin Ollama's context size in the Modelfile (`PARAMETER num_ctx N`); `plan` = the largest
    /// context `ggufkit plan` finds for this type in `--vram` (capped at the training context).
    /// By default Ollama chooses it.
    #[arg(long, value_name = "N|plan")]
    pub num_ctx: Option<String>,
    /// GPU memory for `--num-ctx plan`, e.g. 8GiB (600 MiB kept free, as `plan` does).
    #[arg(long, requires = "num_ctx")]
    pub vram: Option<crate::size::Size>,
    /// Write no Ollama Modelfile.
    #[arg(long, conflicts_with_all = ["system", "num_ctx"])]
    pub no_modelfile: bool,
    /// --size / --bpw / --fit: each tensor's type chosen by measured sensitivity under a byte
    /// budget (instead of -t); with --calibrate or --imatrix the error is importance-weighted.
    #[command(flatten)]
    pub budget: crate::cmd::args::BudgetArgs,
}

/// `--num-ctx`: a number, or `plan` with `--vram`.
fn num_ctx(args: &Args, types: &[FileType]) -> Result<Option<u32>> {
    let Some(v) = args.num_ctx.as_deref() else { return Ok(None) };
    if v != "plan" {
        return v.parse().map(Some).map_err(|_| anyhow!("--num-ctx {v:?}: expected a number of tokens or `plan` (with --vram)"));
    }
    let [ty] = types else { bail!("--num-ctx plan finds the context of one type: convert one type at a time, or give --num-ctx N") };
    let vram = args.vram.as_ref().ok_or_else(|| anyhow!("--num-ctx plan needs --vram, e.g. --vram 8GiB"))?;
    let opts = crate::plan::PlanOptions {
        vram: Some(vram.bytes),
        margin: crate::size::Size::default_margin().bytes,
        run: crate::plan::memory::RunParams {
            ctx: 4096,
            ubatch: 512,
            kv_type: gguf::GgmlType::F16,
            backend: crate::plan::memory::Backend::Cuda,
            flash_attn: None,
        },
        types: vec![ty.name().to_string()],
        cpu_moe_layers: 0,
        ram: None,
    };
    let input = crate::plan::input::load(&args.model_dir)?;
    let plan = crate::plan::plan(&input, &opts)?;
    let row = plan.rows.iter().find(|r| r.name == ty.name()).ok_or_else(|| anyhow!("plan has no row for {}", ty))?;
    let max = row
        .max_ctx
        .ok_or_else(|| anyhow!("--num-ctx plan: no context of 256 tokens or more fits {} of {} in {vram}", ty, args.model_dir.display()))?;
    Ok(Some(max.min(plan.n_ctx_train).min(u32::MAX as u64) as u32))
}

/// `--calibrate`: computes the importance matrix of the model over `text` and writes it next to
/// the first output; returns its path.
fn calibrate(args: &Args, text: &std::path::Path, outputs: &[convert::Output]) -> Result<PathBuf> {
    let first = outputs.first().ok_or_else(|| anyhow!("no output to calibrate for"))?;
    let stem = args
        .model_dir
        .canonicalize()
        .ok()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "model".into());
    let path = first.path.parent().unwrap_or(std::path::Path::new("")).join(format!("{stem}.imatrix.gguf"));
    if path.exists() && !args.force {
        bail!("{} exists: give --force to replace it, or pass it with --imatrix instead of --calibrate", path.display());
    }
    let opts = validate::imatrix::Options {
        model: args.model_dir.clone(),
        text: text.to_path_buf(),
        tokenizer: None,
        ctx: args.calibrate_ctx,
        chunks: None,
        max_memory: None,
    };
    let started = std::time::Instant::now();
    let m = validate::imatrix::compute(&opts, &validate::Device::Cpu, |_, _| {})?;
    m.write_gguf(&path)?;
    if !args.json {
        eprintln!(
            "importance matrix: {} ({} windows of {} tokens, {:.1} s)",
            path.display(),
            m.chunk_count,
            m.chunk_size,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(path)
}

/// `convert --size/--bpw/--fit`: the budget checked against the planned tensors first; then the
/// importance matrix (`--calibrate`), an F16 conversion into a temporary file next to the output,
/// the measurement and allocation on it ([`crate::fit`]), and the conversion with the chosen
/// per-tensor types; the temporary file is removed.
fn run_budget(args: &Args, mut opts: Options, budget: &crate::fit::Budget) -> Result<()> {
    // The output: -o as given, or `<model>-mix.gguf` (in the -o folder).
    let name = convert::default_file_name(&args.model_dir, FileType::MostlyF16).replace("-F16.gguf", "-mix.gguf");
    let path = match &args.output {
        None => PathBuf::from(name),
        Some(p) if p.is_dir() => p.join(name),
        Some(p) => p.clone(),
    };
    opts.output = Some(path.clone());
    // Before any long work: the budget against the smallest possible file, from the headers.
    let planned = crate::plan::input::load(&args.model_dir)?;
    let tensors = crate::fit::tensors_of_plan(planned.shape.arch.gguf_name, &planned.tensors);
    crate::fit::Prepared::new(
        &args.model_dir.display().to_string(),
        tensors,
        planned.metadata_bytes,
        planned.alignment,
        budget,
        Some(&planned.shape),
    )?;
    let final_out = [convert::Output { file_type: FileType::MostlyQ4_K_M, path: path.clone(), modelfile: opts.modelfile.is_some() }];
    convert::check_outputs(&opts, &final_out)?;
    if let Some(text) = &args.calibrate {
        opts.imatrix = Some(calibrate(args, text, &final_out)?);
    }
    let started = std::time::Instant::now();
    let tmp = path.with_extension("f16.tmp.gguf");
    gguf::register_temporary_file(&tmp);
    let f16_opts = Options { force: true, modelfile: None, ..opts.clone() };
    let f16 = [convert::Output { file_type: FileType::MostlyF16, path: tmp.clone(), modelfile: false }];
    let result = (|| -> Result<crate::fit::Mix> {
        crate::cmd::args::with_threads(args.threads, || convert::convert_many(&f16_opts, &f16, &mut |_| {}))??;
        let file = gguf::GgufFile::open(&tmp)?;
        let imatrix = opts.imatrix.as_deref().map(quantize::imatrix::ImatrixFile::open).transpose()?;
        let mut md = file.metadata().to_vec();
        quantize::metadata::apply_quantize_edits(&mut md, FileType::MostlyQ4_K_M, imatrix.as_ref().zip(opts.imatrix.as_deref()));
        Ok(crate::cmd::args::with_threads(args.threads, || crate::fit::choose_for_gguf(&file, &tmp, &md, imatrix.as_ref(), budget))??)
    })();
    let _ = std::fs::remove_file(&tmp);
    gguf::unregister_temporary_file(&tmp);
    let mix = result?;
    if !args.json {
        eprintln!("{} (measured in {:.1} s)", mix.summary(), started.elapsed().as_secs_f64());
    }
    opts.file_type = mix.file_type;
    opts.tensor_types = mix.overrides();
    opts.extra_metadata = vec![(crate::fit::MIX_KEY.to_string(), mix.metadata_value())];
    let out = [convert::Output { file_type: mix.file_type, path, modelfile: opts.modelfile.is_some() }];
    let summaries = crate::cmd::args::with_threads(args.threads, || convert::convert_many(&opts, &out, &mut |_| {}))??;
    print_summaries(args, &summaries)
}

/// Runs the subcommand.
pub fn run(args: Args) -> Result<()> {
    crate::cmd::inputs::check(&args.model_dir, "convert", crate::cmd::inputs::Expect::ModelFolder)?;
    let mut types: Vec<FileType> = Vec::new();
    for &ft in &args.ty {
        if !types.contains(&ft) {
            types.push(ft);
        }
    }
    let file_type = *types.first().ok_or_else(|| anyhow!("-t names no type"))?;
    let mut opts = Options {
        model_dir: args.model_dir.clone(),
        file_type,
        output: args.output.clone(),
        imatrix: args.imatrix.clone(),
        force: args.force,
        name: args.name.clone(),
        modelfile: if args.no_modelfile {
            None
        } else {
            Some(convert::modelfile::Options { system: args.system.clone(), num_ctx: num_ctx(&args, &types)? })
        },
        tensor_types: Vec::new(),
        extra_metadata: Vec::new(),
    };
    if let Some(budget) = args.budget.budget()? {
        if types != [FileType::MostlyF16] {
            bail!("--size/--bpw/--fit choose every tensor's type: give no -t");
        }
        return run_budget(&args, opts, &budget);
    }
    let bar = ProgressBar::with_draw_target(
        None,
        if std::io::stderr().is_terminal() && !args.json { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() },
    );
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
    if let Some(text) = &args.calibrate {
        convert::check_outputs(&opts, &outputs)?;
        opts.imatrix = Some(calibrate(&args, text, &outputs)?);
    }
    let result = crate::cmd::args::with_threads(args.threads, || convert::convert_many(&opts, &outputs, &mut on_progress))?;
    bar.finish_and_clear();
    let summaries = result?;
    print_summaries(&args, &summaries)
}

/// The JSON or the one-line summaries of the written files.
fn print_summaries(args: &Args, summaries: &[convert::Summary]) -> Result<()> {
    if args.json {
        // one type: the summary object; several: an array of them
        match summaries {
            [one] => println!("{}", serde_json::to_string_pretty(one)?),
            all => println!("{}", serde_json::to_string_pretty(all)?),
        }
        return Ok(());
    }
    for summary in summaries {
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
            summary.numbers.file_size as f64 / (1024.0 * 1024.0),
            summary.numbers.bits_per_weight,
            summary.n_tensors,
            summary.seconds,
        );
        for note in &summary.notes {
            println!("note: {note}");
        }
    }
    Ok(())
}
