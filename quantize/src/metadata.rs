//! The metadata edits llama-quantize makes to the file it writes (`llama_model_quantize_impl`
//! and llama-quantize's imatrix kv overrides), shared by `ggufkit quantize` and `ggufkit convert`
//! so that both write what the two-step reference path writes.

use std::path::Path;

use gguf::Value;

use crate::ftype::FileType;
use crate::imatrix::ImatrixFile;

/// `general.quantization_version` written by the pinned ggml (`GGML_QNT_VERSION`).
pub const GGML_QNT_VERSION: u32 = 2;

/// llama-quantize copies at most this many bytes of a string override (`val_str[128]`).
pub const KV_OVERRIDE_STR_MAX: usize = 127;

/// Sets `key` the way `gguf_set_val_*` does: an existing entry is removed and the key appended.
pub fn set(md: &mut Vec<(String, Value)>, key: &str, value: Value) {
    md.retain(|(k, _)| k != key);
    md.push((key.to_string(), value));
}

/// Applies llama-quantize's edits, in its order: `general.quantization_version`,
/// `general.file_type`, split keys dropped, then the `quantize.imatrix.*` keys when an importance
/// matrix is used (`imatrix_arg` is the path exactly as given: llama-quantize stores its argument).
pub fn apply_quantize_edits(md: &mut Vec<(String, Value)>, ftype: FileType, imatrix: Option<(&ImatrixFile, &Path)>) {
    set(md, "general.quantization_version", Value::U32(GGML_QNT_VERSION));
    set(md, "general.file_type", Value::U32(ftype.id()));
    md.retain(|(k, _)| !matches!(k.as_str(), "split.no" | "split.count" | "split.tensors.count"));
    if let Some((m, arg)) = imatrix {
        set(md, "quantize.imatrix.file", Value::String(truncate(&arg.to_string_lossy(), KV_OVERRIDE_STR_MAX)));
        if let Some(d) = m.datasets().first() {
            set(md, "quantize.imatrix.dataset", Value::String(truncate(d, KV_OVERRIDE_STR_MAX)));
        }
        // Integer overrides are written as u32 of the absolute value.
        set(md, "quantize.imatrix.entries_count", Value::U32(m.len() as u32));
        if m.chunk_count() > 0 {
            set(md, "quantize.imatrix.chunks_count", Value::U32(m.chunk_count().unsigned_abs()));
        }
    }
}

/// The first `max` bytes of `s`, cut back to a character boundary.
fn truncate(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}
