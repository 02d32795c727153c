//! `ggufkit list archs|types|chat-templates`: what this build supports, from the same tables the
//! commands use (architectures, file types with a kernel, chat-template families).

use anyhow::Result;

use crate::cmd::args::can_write;
use crate::convert::chat_templates::FAMILIES;
use gguf::arch::ARCHITECTURES;
use quantize::ftype::{FTYPE_ALIASES, FTYPE_TABLE};

/// What to list.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum What {
    /// Architectures `convert` and `plan` handle (GGUF name: Hugging Face `architectures` values).
    Archs,
    /// Output types `convert -t` and `quantize -t` write.
    Types,
    /// Chat-template families that get an Ollama TEMPLATE.
    ChatTemplates,
}

/// List what ggufkit supports.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  ggufkit list archs\n  ggufkit list types")]
pub struct Args {
    /// What to list.
    pub what: What,
}

/// Runs the subcommand.
pub fn run(args: Args) -> Result<()> {
    match args.what {
        What::Archs => {
            for a in ARCHITECTURES {
                println!("{:<10} {}", a.gguf_name, a.hf_architectures.join(", "));
            }
        }
        What::Types => {
            for r in FTYPE_TABLE.iter().filter(|r| can_write(r.ftype)) {
                let aliases: Vec<&str> = FTYPE_ALIASES.iter().filter(|(_, f)| *f == r.ftype).map(|(a, _)| *a).collect();
                let default = r.default_type.map(|t| t.name()).unwrap_or("-");
                let alias = if aliases.is_empty() { String::new() } else { format!(" (also {})", aliases.join(", ")) };
                println!("{:<8} ftype:{:<3} tensors mostly {default}{alias}", r.name, r.ftype.id());
            }
        }
        What::ChatTemplates => {
            for f in FAMILIES {
                println!("{:<15} {}", f.name, f.models);
            }
        }
    }
    Ok(())
}
