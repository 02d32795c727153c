//! `ggufkit inspect FILE [--json] [--tensors]`: a GGUF file's header, metadata, tensors, totals per
//! type, parameter count and bits per weight.
//!
//! # JSON schema (`--json`, version 1)
//!
//! `--json` prints one JSON object; its shape is stable (fields are only ever added, and
//! `schema_version` changes if one changes meaning). Documented in `docs/inspect-json.md`:
//!
//! ```text
//! {
//!   "schema_version": 1,
//!   "file": "model.gguf",          // the path as given
//!   "file_size": 1234,             // bytes
//!   "version": 3,                  // GGUF version
//!   "alignment": 32,
//!   "data_offset": 4096,           // start of the tensor data section, bytes from file start
//!   "metadata": [                  // file order
//!     {"key": "general.architecture", "type": "STRING", "value": "llama"},
//!     {"key": "tokenizer.ggml.tokens", "type": "ARRAY", "element_type": "STRING",
//!      "length": 32000, "head": ["<unk>", "<s>", ...]}   // arrays: first 16 items
//!   ],
//!   "tensor_count": 201,
//!   "tensors": [                   // always present, file order
//!     {"name": "token_embd.weight", "type": "Q4_K", "shape": [4096, 32000],
//!      "n_elements": 131072000, "offset": 0, "bytes": 73728000}
//!   ],
//!   "types": [                     // totals per tensor type, by ggml type id
//!     {"type": "Q4_K", "tensors": 10, "n_elements": 100, "bytes": 56}
//!   ],
//!   "n_params": 6738415616,        // total elements of all tensors
//!   "tensor_bytes": 4081004544,    // total tensor data bytes (without padding)
//!   "bits_per_weight": 4.85        // tensor_bytes * 8 / n_params (null without tensors)
//! }
//! ```
//!
//! Types are upper-case ggml names (`F32`, `Q4_K`, `BF16`, as gguf-py's `GGMLQuantizationType`);
//! metadata types are gguf-py's `GGUFValueType` names. Shapes are in ggml order (`shape[0]` is the
//! row length). Nested arrays appear as `{"type": "ARRAY", "element_type": ..., "length": ...,
//! "head": [...]}` objects inside `head`. Non-finite floats are `null`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use std::fmt::Write as _;
use std::io::Write as _;

use anyhow::Context;
use gguf::{GgmlType, GgufFile, Value};
use serde_json::json;

/// `writeln!` into the output string (writing to a `String` cannot fail).
macro_rules! outln {
    ($o:expr, $($arg:tt)*) => {{ let _ = writeln!($o, $($arg)*); }};
}

/// Prints the output; a closed pipe (`ggufkit inspect … | head`) is not an error.
fn emit(text: &str) -> anyhow::Result<()> {
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e).context("write to stdout"),
        _ => Ok(()),
    }
}

/// How many items of an array the output shows.
const ARRAY_HEAD: usize = 16;

/// The JSON schema version printed as `schema_version`.
pub const JSON_SCHEMA_VERSION: u32 = 1;

/// Arguments of `ggufkit inspect`.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  ggufkit inspect model-Q4_K_M.gguf\n  ggufkit inspect model-Q4_K_M.gguf --tensors\n  ggufkit inspect model-Q4_K_M.gguf --json | jq .bits_per_weight"
)]
pub struct Args {
    /// The GGUF file.
    pub file: PathBuf,
    /// Print stable JSON for scripts (schema: docs/inspect-json.md); always lists every tensor.
    #[arg(long)]
    pub json: bool,
    /// List every tensor (text output).
    #[arg(long)]
    pub tensors: bool,
}

/// Totals of one tensor type.
#[derive(Default)]
struct TypeTotal {
    tensors: u64,
    n_elements: u64,
    bytes: u64,
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<()> {
    crate::cmd::inputs::check(&args.file, "inspect", crate::cmd::inputs::Expect::GgufFile)?;
    // The error names the file, the offset and what was expected.
    let file = GgufFile::open(&args.file)?;
    let mut totals: BTreeMap<GgmlType, TypeTotal> = BTreeMap::new();
    for t in file.tensors() {
        let e = totals.entry(t.ty).or_default();
        e.tensors += 1;
        e.n_elements += t.n_elements();
        e.bytes += t.size;
    }
    let n_params: u64 = totals.values().map(|t| t.n_elements).sum();
    let tensor_bytes: u64 = totals.values().map(|t| t.bytes).sum();
    let bpw = (n_params > 0).then(|| tensor_bytes as f64 * 8.0 / n_params as f64);

    if args.json {
        let out = json!({
            "schema_version": JSON_SCHEMA_VERSION,
            "file": args.file.display().to_string(),
            "file_size": file.file_len(),
            "version": file.version(),
            "alignment": file.alignment(),
            "data_offset": file.data_offset(),
            "metadata": file.metadata().iter().map(|(k, v)| {
                let mut o = json_value_entry(v);
                o.insert("key".into(), json!(k));
                serde_json::Value::Object(o)
            }).collect::<Vec<_>>(),
            "tensor_count": file.tensors().len(),
            "tensors": file.tensors().iter().map(|t| json!({
                "name": t.name,
                "type": t.ty.to_string(),
                "shape": t.dims,
                "n_elements": t.n_elements(),
                "offset": t.offset,
                "bytes": t.size,
            })).collect::<Vec<_>>(),
            "types": totals.iter().map(|(ty, t)| json!({
                "type": ty.to_string(),
                "tensors": t.tensors,
                "n_elements": t.n_elements,
                "bytes": t.bytes,
            })).collect::<Vec<_>>(),
            "n_params": n_params,
            "tensor_bytes": tensor_bytes,
            "bits_per_weight": bpw,
        });
        let mut text = serde_json::to_string_pretty(&out)?;
        text.push('\n');
        return emit(&text);
    }

    let mut o = String::new();
    outln!(o, "file:        {}", args.file.display());
    outln!(o, "size:        {} bytes", file.file_len());
    outln!(o, "version:     {}", file.version());
    outln!(o, "alignment:   {}", file.alignment());
    outln!(o, "data offset: {}", file.data_offset());
    outln!(o, "\nmetadata ({} keys):", file.metadata().len());
    for (k, v) in file.metadata() {
        outln!(o, "  {k} = {}", text_value(v));
    }
    if args.tensors {
        outln!(o, "\ntensors ({}):", file.tensors().len());
        outln!(o, "  {:<48} {:<8} {:<28} {:>14}", "name", "type", "shape", "bytes");
        for t in file.tensors() {
            let shape = format!("{:?}", t.dims);
            outln!(o, "  {:<48} {:<8} {:<28} {:>14}", t.name, t.ty.to_string(), shape, t.size);
        }
    }
    outln!(o, "\ntensors by type ({} tensors):", file.tensors().len());
    outln!(o, "  {:<8} {:>8} {:>16} {:>16}", "type", "tensors", "elements", "bytes");
    for (ty, t) in &totals {
        outln!(o, "  {:<8} {:>8} {:>16} {:>16}", ty.to_string(), t.tensors, t.n_elements, t.bytes);
    }
    outln!(o, "\nparameters:      {n_params}");
    outln!(o, "tensor bytes:    {tensor_bytes}");
    match bpw {
        Some(b) => outln!(o, "bits per weight: {b:.4}"),
        None => outln!(o, "bits per weight: - (no tensors)"),
    }
    emit(&o)
}

/// `{"type", "value"}` or, for arrays, `{"type", "element_type", "length", "head"}`.
fn json_value_entry(v: &Value) -> serde_json::Map<String, serde_json::Value> {
    let mut o = serde_json::Map::new();
    o.insert("type".into(), json!(v.value_type().name()));
    match v {
        Value::Array(elem, items) => {
            o.insert("element_type".into(), json!(elem.name()));
            o.insert("length".into(), json!(items.len()));
            o.insert("head".into(), items.iter().take(ARRAY_HEAD).map(json_scalar).collect());
        }
        other => {
            o.insert("value".into(), json_scalar(other));
        }
    }
    o
}

/// A value as JSON; a nested array becomes its summary object.
fn json_scalar(v: &Value) -> serde_json::Value {
    match v {
        Value::U8(x) => json!(x),
        Value::I8(x) => json!(x),
        Value::U16(x) => json!(x),
        Value::I16(x) => json!(x),
        Value::U32(x) => json!(x),
        Value::I32(x) => json!(x),
        Value::U64(x) => json!(x),
        Value::I64(x) => json!(x),
        Value::F32(x) => json!(x),
        Value::F64(x) => json!(x),
        Value::Bool(x) => json!(x),
        Value::String(s) => json!(s),
        Value::Array(..) => serde_json::Value::Object(json_value_entry(v)),
    }
}

/// A value for the text output: strings quoted and shortened, arrays as length + first items.
fn text_value(v: &Value) -> String {
    match v {
        Value::String(s) => {
            let short: String = s.chars().take(120).collect();
            let more = if short.len() < s.len() { format!("… ({} bytes)", s.len()) } else { String::new() };
            format!("{short:?}{more}")
        }
        Value::Array(elem, items) => {
            let head: Vec<String> = items.iter().take(ARRAY_HEAD).map(text_value).collect();
            let more = if items.len() > ARRAY_HEAD { ", …" } else { "" };
            format!("[{elem}; {}] [{}{more}]", items.len(), head.join(", "))
        }
        Value::F32(x) => format!("{x:?}"),
        Value::F64(x) => format!("{x:?}"),
        other => json_scalar(other).to_string(),
    }
}
