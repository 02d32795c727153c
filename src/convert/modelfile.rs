//! The Ollama Modelfile written next to the GGUF: `FROM ./<file>.gguf`, a `TEMPLATE` when the
//! chat template is one we can map (ChatML), `PARAMETER stop` for the end-of-generation tokens
//! (EOS, EOT, EOM) and `PARAMETER num_ctx`.
//!
//! It is named after the GGUF, `<file>.Modelfile` (`model-Q4_K_M.gguf` → `model-Q4_K_M.Modelfile`),
//! so that several conversions into one folder (one per type, or several models) each keep their
//! own; a plain `Modelfile` would be overwritten by the next conversion and point at its file.
//! Next step for the user: `ollama create NAME -f <file>.Modelfile` (`-f` takes any file name).

use std::path::{Path, PathBuf};

use gguf::Value;

/// `num_ctx` written: the training context, capped to keep the KV cache of an 8 GB GPU modest.
pub const MAX_NUM_CTX: u32 = 4096;

/// Ollama's Go template for ChatML (`<|im_start|>role\n…<|im_end|>`).
const CHATML_TEMPLATE: &str = r#"{{- range .Messages }}<|im_start|>{{ .Role }}
{{ .Content }}<|im_end|>
{{ end }}<|im_start|>assistant
"#;

fn get<'a>(md: &'a [(String, Value)], key: &str) -> Option<&'a Value> {
    md.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The Modelfile text for a GGUF named `file_name` with metadata `md`.
pub fn render(file_name: &str, md: &[(String, Value)]) -> String {
    let mut out = format!("FROM ./{file_name}\n");
    let template = get(md, "tokenizer.chat_template").and_then(Value::as_str);
    if template.map(|t| t.contains("<|im_start|>") && t.contains("<|im_end|>")).unwrap_or(false) {
        out.push_str(&format!("TEMPLATE \"\"\"{CHATML_TEMPLATE}\"\"\"\n"));
    }
    let tokens = get(md, "tokenizer.ggml.tokens").and_then(Value::as_array);
    let mut stops: Vec<String> = Vec::new();
    for key in ["tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"] {
        let Some(id) = get(md, key).and_then(Value::as_u32) else { continue };
        let Some(tok) = tokens.and_then(|t| t.get(id as usize)).and_then(Value::as_str) else { continue };
        if !tok.is_empty() && !stops.iter().any(|s| s == tok) {
            stops.push(tok.to_string());
        }
    }
    if template.map(|t| t.contains("<|im_end|>")).unwrap_or(false) && !stops.iter().any(|s| s == "<|im_end|>") {
        stops.push("<|im_end|>".into());
    }
    for s in &stops {
        out.push_str(&format!("PARAMETER stop {}\n", quote(s)));
    }
    let arch = get(md, "general.architecture").and_then(Value::as_str).unwrap_or("");
    let n_ctx = get(md, &format!("{arch}.context_length")).and_then(Value::as_u32).unwrap_or(MAX_NUM_CTX);
    out.push_str(&format!("PARAMETER num_ctx {}\n", n_ctx.min(MAX_NUM_CTX)));
    out
}

/// The Modelfile path for a GGUF: `<dir>/<stem>.Modelfile` (the GGUF's name without `.gguf`).
pub fn path_for(gguf_path: &Path) -> PathBuf {
    let name = gguf_path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let stem = match name.strip_suffix(".gguf") {
        Some(s) if !s.is_empty() => s,
        _ => name.as_str(),
    };
    gguf_path.with_file_name(format!("{stem}.Modelfile"))
}

/// Writes the Modelfile next to `gguf_path` ([`path_for`], replacing one of that name); returns
/// its path.
pub fn write(gguf_path: &Path, md: &[(String, Value)]) -> std::io::Result<PathBuf> {
    let file_name = gguf_path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let path = path_for(gguf_path);
    std::fs::write(&path, render(&file_name, md))?;
    Ok(path)
}
