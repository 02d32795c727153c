//! The Ollama Modelfile written next to the GGUF: `FROM ./<file>.gguf`, a `TEMPLATE` equivalent
//! to the model's Jinja chat template when its family is known ([`super::chat_templates`]),
//! `PARAMETER stop` for the family's turn-end tokens and the GGUF's EOS/EOT/EOM tokens, and
//! `SYSTEM` / `PARAMETER num_ctx` only when asked for (a pinned `num_ctx` turns off Ollama's own
//! choice of context size).
//!
//! It is named after the GGUF, `<file>.Modelfile` (`model-Q4_K_M.gguf` → `model-Q4_K_M.Modelfile`),
//! so that several conversions into one folder (one per type, or several models) each keep their
//! own. Next step for the user: `ollama create NAME -f <file>.Modelfile` (`-f` takes any file name).
//!
//! Quoting follows Ollama's Modelfile parser (`parser/parser.go`): a value is `"…"` or `"""…"""`
//! with no escape sequences at all, the `"""` form ending at the first `"""`; a `"…"` value ends at
//! the first `"` followed by a space or newline. So values holding `"` or a newline are written
//! `"""…"""`, and a value holding `"""` cannot be written (it is left out with a note).

use std::io::Write;
use std::path::{Path, PathBuf};

use gguf::Value;

use super::chat_templates::{family_for, ChatFamily};

/// What the user asked for besides the defaults.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `SYSTEM` prompt.
    pub system: Option<String>,
    /// `PARAMETER num_ctx` (none: Ollama chooses).
    pub num_ctx: Option<u32>,
}

/// A rendered Modelfile and what the user should know about it.
#[derive(Debug, Clone)]
pub struct Modelfile {
    /// The Modelfile text.
    pub text: String,
    /// The chat-template family whose `TEMPLATE` was written (`None`: no `TEMPLATE`).
    pub family: Option<&'static str>,
    /// Things to tell the user (unknown chat template, a value that cannot be quoted).
    pub notes: Vec<String>,
}

fn get<'a>(md: &'a [(String, Value)], key: &str) -> Option<&'a Value> {
    md.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

/// The text of the token whose id is stored under `key`.
fn token_text<'a>(md: &'a [(String, Value)], key: &str) -> Option<&'a str> {
    let id = get(md, key).and_then(Value::as_u32)?;
    get(md, "tokenizer.ggml.tokens").and_then(Value::as_array)?.get(id as usize).and_then(Value::as_str).filter(|t| !t.is_empty())
}

/// `s` as a Modelfile value that Ollama's parser reads back unchanged, if there is one.
fn quote(s: &str) -> Option<String> {
    if s.contains("\"\"\"") {
        None
    } else if s.contains('"') || s.contains('\n') {
        Some(format!("\"\"\"{s}\"\"\""))
    } else {
        Some(format!("\"{s}\""))
    }
}

/// The Go template for `family` in a GGUF with metadata `md`: `@BOS@`/`@EOS@` replaced by the
/// token texts, and the BOS text put first when the Jinja template prints it but llama.cpp will
/// not add it (`add_bos_token` false).
pub fn template_for(family: &ChatFamily, jinja: &str, md: &[(String, Value)]) -> String {
    let bos = token_text(md, "tokenizer.ggml.bos_token_id").unwrap_or("");
    let eos = token_text(md, "tokenizer.ggml.eos_token_id").unwrap_or("");
    let add_bos = matches!(get(md, "tokenizer.ggml.add_bos_token"), Some(Value::Bool(true)));
    let mut t = family.template.replace("@BOS@", bos).replace("@EOS@", eos);
    if !add_bos && !bos.is_empty() && jinja.contains("bos_token") {
        // Keep the Go template's leading `{{-` trimming only what follows the BOS text.
        t = format!("{bos}{t}");
    }
    t
}

/// The Modelfile for a GGUF named `file_name` with metadata `md`.
pub fn render(file_name: &str, md: &[(String, Value)], opts: &Options) -> Modelfile {
    let mut out = format!("FROM ./{file_name}\n");
    let mut notes = Vec::new();
    let jinja = get(md, "tokenizer.chat_template").and_then(Value::as_str);
    let family = jinja.and_then(family_for);
    match (jinja, family) {
        (Some(jinja), Some(f)) => {
            let t = template_for(f, jinja, md);
            match quote(&t).filter(|q| q.starts_with("\"\"\"")) {
                Some(q) => out.push_str(&format!("TEMPLATE {q}\n")),
                None => notes.push(format!("the {} chat template cannot be quoted in a Modelfile; no TEMPLATE written", f.name)),
            }
        }
        (Some(_), None) => notes.push(
            "chat template not recognised: Ollama will try to match it to one of its own and may fall back to the raw \
             prompt ({{ .Prompt }}) with no chat formatting; add a `TEMPLATE \"\"\"…\"\"\"` line in Ollama's Go template syntax \
             to the Modelfile (docs/modelfile.md lists the families ggufkit writes)"
                .to_string(),
        ),
        (None, _) => notes.push("the model has no chat template: Ollama will send the raw prompt".to_string()),
    }
    if let Some(system) = &opts.system {
        match quote(system) {
            Some(q) => out.push_str(&format!("SYSTEM {q}\n")),
            None => notes.push("the --system text contains \"\"\", which a Modelfile cannot hold; no SYSTEM written".to_string()),
        }
    }
    let mut stops: Vec<&str> = family.map(|f| f.stops.to_vec()).unwrap_or_default();
    for key in ["tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"] {
        if let Some(tok) = token_text(md, key) {
            stops.push(tok);
        }
    }
    let mut seen: Vec<&str> = Vec::new();
    for s in stops {
        if seen.contains(&s) {
            continue;
        }
        seen.push(s);
        match quote(s) {
            Some(q) => out.push_str(&format!("PARAMETER stop {q}\n")),
            None => notes.push(format!("stop token {s:?} cannot be quoted in a Modelfile; left out")),
        }
    }
    if let Some(n) = opts.num_ctx {
        out.push_str(&format!("PARAMETER num_ctx {n}\n"));
    }
    Modelfile { text: out, family: family.map(|f| f.name), notes }
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

/// What [`write`] did.
#[derive(Debug, Clone)]
pub struct Written {
    /// The Modelfile path.
    pub path: PathBuf,
    /// False when an existing Modelfile was kept (no `force`).
    pub written: bool,
    /// The rendered Modelfile.
    pub modelfile: Modelfile,
}

/// Writes the Modelfile next to `gguf_path` ([`path_for`]). An existing file of that name is kept
/// unless `force` (it may hold the user's edits).
pub fn write(gguf_path: &Path, md: &[(String, Value)], opts: &Options, force: bool) -> std::io::Result<Written> {
    let file_name = gguf_path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let path = path_for(gguf_path);
    let modelfile = render(&file_name, md, opts);
    let file = if force {
        std::fs::File::create(&path)
    } else {
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(Written { path, written: false, modelfile }),
            r => r,
        }
    };
    file?.write_all(modelfile.text.as_bytes())?;
    Ok(Written { path, written: true, modelfile })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md(template: &str) -> Vec<(String, Value)> {
        vec![
            ("general.architecture".into(), Value::String("llama".into())),
            ("llama.context_length".into(), Value::U32(131072)),
            (
                "tokenizer.ggml.tokens".into(),
                Value::Array(
                    gguf::ValueType::String,
                    vec![Value::String("<unk>".into()), Value::String("<s>".into()), Value::String("</s>".into())],
                ),
            ),
            ("tokenizer.ggml.bos_token_id".into(), Value::U32(1)),
            ("tokenizer.ggml.eos_token_id".into(), Value::U32(2)),
            ("tokenizer.chat_template".into(), Value::String(template.into())),
        ]
    }

    #[test]
    fn no_num_ctx_unless_asked() {
        let m = render("m.gguf", &md("{{ x }}"), &Options::default());
        assert!(!m.text.contains("num_ctx"), "{}", m.text);
        let m = render("m.gguf", &md("{{ x }}"), &Options { num_ctx: Some(8192), ..Default::default() });
        assert!(m.text.lines().any(|l| l == "PARAMETER num_ctx 8192"), "{}", m.text);
    }

    #[test]
    fn unknown_template_gets_a_note_and_no_template() {
        let m = render("m.gguf", &md("{{ x }}"), &Options::default());
        assert!(m.family.is_none() && !m.text.contains("TEMPLATE"));
        assert!(m.notes.iter().any(|n| n.contains("raw") && n.contains("TEMPLATE")), "{:?}", m.notes);
    }

    /// Ollama's parser has no escapes: `\"` would reach Ollama as backslash + quote.
    #[test]
    fn quoting_never_escapes() {
        assert_eq!(quote("</s>").as_deref(), Some("\"</s>\""));
        assert_eq!(quote("say \"hi\"").as_deref(), Some("\"\"\"say \"hi\"\"\"\""));
        assert_eq!(quote("a\nb").as_deref(), Some("\"\"\"a\nb\"\"\""));
        assert_eq!(quote("x\"\"\"y"), None);
        let m = render("m.gguf", &md("{{ x }}"), &Options { system: Some("Be \"brief\".".into()), ..Default::default() });
        assert!(!m.text.contains("\\\""), "{}", m.text);
        assert!(m.text.contains("SYSTEM \"\"\"Be \"brief\".\"\"\""), "{}", m.text);
    }
}
