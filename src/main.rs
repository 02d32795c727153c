//! `ggufkit`: Hugging Face checkpoints to GGUF for llama.cpp and Ollama.

use clap::{Parser, Subcommand};

mod arch;
mod cmd;
mod convert;
mod input;
mod tokenizer;
mod plan;

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
    /// Convert a Hugging Face checkpoint to GGUF (one pass, any type) plus an Ollama Modelfile.
    Convert(cmd::convert::Args),
    /// Show the tokenizer.* GGUF metadata that conversion writes for a model folder.
    Tokenizer(cmd::tokenizer::Args),
    /// Re-quantize an F32/F16/BF16 GGUF (Q4_K_M, Q8_0, …), byte-identical to llama-quantize.
    Quantize(cmd::quantize::Args),
    /// Which quantization fits my GPU: exact file sizes and llama.cpp memory per type.
    Plan(cmd::plan::Args),
    /// Perplexity and KL divergence of quantized files against a reference model.
    Validate(cmd::validate::Args),
    /// Write the Ollama Modelfile for a GGUF file (chat TEMPLATE, stop tokens).
    Modelfile(cmd::modelfile::Args),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Inspect(args) => cmd::inspect::run(args),
        Command::Convert(args) => cmd::convert::run(args),
        Command::Tokenizer(args) => cmd::tokenizer::run(args),
        Command::Quantize(args) => cmd::quantize::run(args),
        Command::Plan(args) => cmd::plan::run(args),
        Command::Validate(args) => cmd::validate::run(args),
        Command::Modelfile(args) => cmd::modelfile::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
