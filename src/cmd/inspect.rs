//! `ggufkit inspect FILE [--json] [--tensors]`.

use std::path::PathBuf;

/// Arguments of `ggufkit inspect`.
#[derive(clap::Args)]
pub struct Args {
    /// The GGUF file.
    pub file: PathBuf,
    /// Print stable JSON for scripts.
    #[arg(long)]
    pub json: bool,
    /// List every tensor.
    #[arg(long)]
    pub tensors: bool,
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<()> {
    anyhow::bail!("inspect {}: not built yet", args.file.display())
}
