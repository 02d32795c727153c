//! `ggufkit modelfile FILE.gguf [--system TEXT] [--num-ctx N] [--stdout] [--force]`: the Ollama
//! Modelfile for an existing GGUF (what `convert` writes next to its output), e.g. for a file made
//! with `ggufkit quantize` or by another tool.

use std::path::PathBuf;

use anyhow::{Context, Result};
use gguf::GgufFile;

use crate::convert::modelfile;

/// Write (or print) the Ollama Modelfile for a GGUF file.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  ggufkit modelfile model-Q4_K_M.gguf                  # writes model-Q4_K_M.Modelfile next to it\n  ggufkit modelfile model-Q4_K_M.gguf --stdout --system \"You are terse.\""
)]
pub struct Args {
    /// The GGUF file.
    pub file: PathBuf,
    /// A `SYSTEM` prompt for the Modelfile.
    #[arg(long)]
    pub system: Option<String>,
    /// Pin Ollama's context size (`PARAMETER num_ctx N`); by default Ollama chooses.
    #[arg(long, value_name = "N")]
    pub num_ctx: Option<u32>,
    /// Print the Modelfile instead of writing `<file>.Modelfile`.
    #[arg(long)]
    pub stdout: bool,
    /// Replace an existing `<file>.Modelfile` (it is kept by default: it may hold your edits).
    #[arg(long)]
    pub force: bool,
}

/// Runs the subcommand.
pub fn run(args: Args) -> Result<()> {
    crate::cmd::inputs::check(&args.file, "modelfile", crate::cmd::inputs::Expect::GgufFile)?;
    let file = GgufFile::open(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let opts = modelfile::Options { system: args.system.clone(), num_ctx: args.num_ctx };
    let (rendered, path) = if args.stdout {
        let name = args.file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let m = modelfile::render(&name, file.metadata(), &opts);
        print!("{}", m.text);
        (m, None)
    } else {
        let w = modelfile::write(&args.file, file.metadata(), &opts, args.force)
            .with_context(|| format!("writing {}", modelfile::path_for(&args.file).display()))?;
        if !w.written {
            eprintln!("{}: exists, kept (use --force to replace it)", w.path.display());
        }
        (w.modelfile, Some(w.path))
    };
    for note in &rendered.notes {
        eprintln!("note: {note}");
    }
    eprintln!("chat template: {}", rendered.family.unwrap_or("none"));
    if let Some(path) = path {
        eprintln!("{}; next: ollama create NAME -f {}", path.display(), path.display());
    }
    Ok(())
}
