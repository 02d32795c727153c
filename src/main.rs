//! `ggufkit`: Hugging Face checkpoints to GGUF for llama.cpp and Ollama.

use clap::{CommandFactory, Parser, Subcommand};

mod arch;
mod batch;
mod cmd;
mod convert;
mod fit;
mod input;
mod numbers;
mod plan;
mod report;
mod signals;
mod size;
mod tokenizer;

/// The enabled cargo features, for `--version`.
#[cfg(feature = "cuda")]
macro_rules! features {
    () => {
        "cuda"
    };
}
#[cfg(not(feature = "cuda"))]
macro_rules! features {
    () => {
        "none (CPU only; build with --features cuda for validate --device cuda)"
    };
}

/// `ggufkit --version`: version, git commit, enabled features, and the llama.cpp commit whose
/// tools the byte identity is tested against (vendored in the PyPI sdist
/// `llama-cpp-python==0.3.36`, built by `scripts/setup-reference-tools.sh`).
const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    "\ngit commit: ",
    env!("GGUFKIT_GIT_HASH"),
    "\nfeatures: ",
    features!(),
    "\nbyte identity checked against: llama.cpp 0c1e570 (llama-cpp-python==0.3.36), gguf-py 0.19.0"
);

#[derive(Parser)]
#[command(
    name = "ggufkit",
    version,
    long_version = LONG_VERSION,
    about = "Hugging Face checkpoints to GGUF for llama.cpp and Ollama",
    after_help = "Examples:\n  ggufkit plan configs/phi-3.5-mini-instruct --vram 8GiB --ctx 4096\n  ggufkit convert ./Phi-3.5-mini-instruct -t Q4_K_M\n  ollama create phi35 -f Phi-3.5-mini-instruct-Q4_K_M.Modelfile"
)]
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
    /// Importance matrix of a model over a calibration text (llama-imatrix's statistics and format).
    Imatrix(cmd::imatrix::Args),
    /// Convert many models × types from a TOML manifest: resumable, sharded on job arrays, with a report.
    Batch(cmd::batch::Args),
    /// Size report (size, bits/weight, sha256, …) of GGUF files or of batch output folders.
    Report(cmd::report::Args),
    /// Write the Ollama Modelfile for a GGUF file (chat TEMPLATE, stop tokens).
    Modelfile(cmd::modelfile::Args),
    /// List what ggufkit supports: architectures or output types.
    List(cmd::list::Args),
    /// Print a shell completion script (bash, zsh, fish, …) on stdout.
    #[command(
        after_help = "Examples:\n  ggufkit completions bash > ~/.local/share/bash-completion/completions/ggufkit\n  ggufkit completions zsh > ~/.zfunc/_ggufkit\n  ggufkit completions fish > ~/.config/fish/completions/ggufkit.fish"
    )]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// A reader that stops reading (`ggufkit inspect --json F | head`) ends the process quietly, as it
/// does other Unix tools: Rust starts with SIGPIPE ignored, so a write to the closed pipe is an error
/// and `println!` panics on it ("failed printing to stdout: Broken pipe").
fn die_quietly_on_closed_pipe() {
    // SAFETY: sets one signal's disposition to the default, before any other thread exists; no
    // handler runs in our code.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// The error and its causes, `outer: cause: …`, each cause once: the typed errors name their
/// `#[source]` in their own message (so a library caller sees it too), and a cause whose text the
/// message already holds is not repeated.
fn error_chain(e: &anyhow::Error) -> String {
    let mut text = e.to_string();
    for cause in e.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

fn main() -> std::process::ExitCode {
    die_quietly_on_closed_pipe();
    let cli = Cli::parse();
    signals::install();
    let result = match cli.command {
        Command::Inspect(args) => cmd::inspect::run(args),
        Command::Convert(args) => cmd::convert::run(args),
        Command::Tokenizer(args) => cmd::tokenizer::run(args),
        Command::Quantize(args) => cmd::quantize::run(args),
        Command::Plan(args) => cmd::plan::run(args),
        Command::Validate(args) => cmd::validate::run(args),
        Command::Imatrix(args) => cmd::imatrix::run(args),
        Command::Batch(args) => cmd::batch::run(args),
        Command::Report(args) => cmd::report::run(args),
        Command::Modelfile(args) => cmd::modelfile::run(args),
        Command::List(args) => cmd::list::run(args),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "ggufkit", &mut std::io::stdout());
            Ok(())
        }
    };
    // A signal that arrived meanwhile ends the process by that signal, whatever the command's
    // outcome (it may have failed because the clean-up removed its temporary file).
    signals::die_if_signalled();
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", error_chain(&e));
            std::process::ExitCode::FAILURE
        }
    }
}
