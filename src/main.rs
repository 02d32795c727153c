//! `ggufkit`: Hugging Face checkpoints to GGUF for llama.cpp and Ollama.

use clap::{Parser, Subcommand};

mod cmd;

#[derive(Parser)]
#[command(name = "ggufkit", version, about = "Hugging Face checkpoints to GGUF for llama.cpp and Ollama")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show a GGUF file's header, metadata and tensors.
    Inspect(cmd::inspect::Args),
    /// Perplexity and KL divergence of quantized files against a reference model.
    Validate(cmd::validate::Args),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Inspect(args) => cmd::inspect::run(args),
        Command::Validate(args) => cmd::validate::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
