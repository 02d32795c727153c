//! `ggufkit tokenizer MODEL_DIR [--arch ARCH] [--json]`: the `tokenizer.*` GGUF metadata that
//! conversion writes for a Hugging Face model folder.

use std::path::PathBuf;

use anyhow::Context;

use crate::tokenizer;

/// Arguments of `ggufkit tokenizer`.
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  ggufkit tokenizer ./Phi-3.5-mini-instruct")]
pub struct Args {
    /// The Hugging Face model folder (config.json, tokenizer files).
    pub model_dir: PathBuf,
    /// Architecture (GGUF name such as `llama`, or HF class name); default: config.json
    /// `architectures[0]`.
    #[arg(long)]
    pub arch: Option<String>,
    /// Print every key with its full value as JSON (`[{key, type, item_type?, value}]`).
    #[arg(long)]
    pub json: bool,
    /// Also write these keys to a GGUF file without tensors (a vocabulary-only GGUF).
    #[arg(long, value_name = "FILE")]
    pub gguf: Option<PathBuf>,
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<()> {
    crate::cmd::inputs::check(&args.model_dir, "tokenizer", crate::cmd::inputs::Expect::ModelFolder)?;
    let config_path = args.model_dir.join("config.json");
    let text = std::fs::read(&config_path).with_context(|| format!("cannot read {}", config_path.display()))?;
    let json: serde_json::Value = serde_json::from_slice(&text).with_context(|| format!("{}: invalid JSON", config_path.display()))?;
    let config = gguf::arch::HfConfig::new(json).with_context(|| format!("{}", config_path.display()))?;
    let arch = match args.arch {
        Some(a) => a,
        None => config
            .typed
            .architectures
            .as_ref()
            .and_then(|a| a.first())
            .cloned()
            .with_context(|| format!("{}: no architectures[0]; pass --arch", config_path.display()))?,
    };
    let kv = tokenizer::metadata(&args.model_dir, &config.file, &arch)?;
    if let Some(out) = &args.gguf {
        let metadata = tokenizer::gguf_metadata(&args.model_dir, &config.file, &arch)?;
        let writer = gguf::GgufWriter::create(out, &metadata, &[]).with_context(|| format!("cannot write {}", out.display()))?;
        writer.finish().with_context(|| format!("cannot write {}", out.display()))?;
    }
    if args.json {
        let out = serde_json::json!({"schema_version": crate::numbers::SCHEMA_VERSION, "metadata": kv.to_json()});
        println!("{}", serde_json::to_string(&out)?);
        return Ok(());
    }
    for (key, value) in kv.entries() {
        let shown = match value {
            tokenizer::MetaValue::Str(s) if s.len() > 60 => format!("{:?}…", s.chars().take(60).collect::<String>()),
            tokenizer::MetaValue::Str(s) => format!("{s:?}"),
            tokenizer::MetaValue::U32(v) => v.to_string(),
            tokenizer::MetaValue::Bool(b) => b.to_string(),
            tokenizer::MetaValue::StrArray(a) => format!("[{} strings]", a.len()),
            tokenizer::MetaValue::F32Array(a) => format!("[{} floats]", a.len()),
            tokenizer::MetaValue::I32Array(a) => format!("[{} ints]", a.len()),
        };
        println!("{key} = {shown}");
    }
    Ok(())
}
