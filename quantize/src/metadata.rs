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

/// One `--override-kv KEY=TYPE:VALUE` option, as llama.cpp's `string_parse_kv_override` reads
/// it and llama-quantize writes it: `int:` as a u32 of the absolute value, `float:` as f32,
/// `bool:` (`true`/`false`), `str:` (at most 127 bytes).
#[derive(Debug, Clone, PartialEq)]
pub struct KvOverride {
    /// The key.
    pub key: String,
    /// The value written.
    pub value: Value,
}

/// What is wrong with an `--override-kv` option.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--override-kv {arg:?}: {problem} (expected KEY=TYPE:VALUE, TYPE one of int, float, bool, str)")]
pub struct KvOverrideError {
    /// The option's value.
    pub arg: String,
    /// What is wrong.
    pub problem: &'static str,
}

/// The number C's `atol`/`atof` read: leading whitespace skipped, then the longest prefix that
/// parses (0 when none).
fn c_number<T: std::str::FromStr + Default>(s: &str) -> T {
    let t = s.trim_start();
    (1..=t.len()).rev().filter(|&n| t.is_char_boundary(n)).find_map(|n| t[..n].parse().ok()).unwrap_or_default()
}

impl KvOverride {
    /// Parses `KEY=TYPE:VALUE`.
    pub fn parse(arg: &str) -> Result<KvOverride, KvOverrideError> {
        let bad = |problem| KvOverrideError { arg: arg.to_string(), problem };
        let (key, rest) = arg.split_once('=').ok_or(bad("no '='"))?;
        if key.len() >= 128 {
            return Err(bad("key longer than 127 bytes"));
        }
        let value = if let Some(v) = rest.strip_prefix("int:") {
            // Written as gguf_set_val_u32 of the absolute value, as llama-quantize does.
            Value::U32(c_number::<i64>(v).unsigned_abs() as u32)
        } else if let Some(v) = rest.strip_prefix("float:") {
            Value::F32(c_number::<f64>(v) as f32)
        } else if let Some(v) = rest.strip_prefix("bool:") {
            match v {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => return Err(bad("invalid boolean value")),
            }
        } else if let Some(v) = rest.strip_prefix("str:") {
            if v.len() > KV_OVERRIDE_STR_MAX {
                return Err(bad("value cannot exceed 127 bytes"));
            }
            Value::String(v.to_string())
        } else {
            return Err(bad("invalid type"));
        };
        Ok(KvOverride { key: key.to_string(), value })
    }
}

/// Applies llama-quantize's edits, in its order: `general.quantization_version`,
/// `general.file_type`, split keys dropped, then the `quantize.imatrix.*` keys when an importance
/// matrix is used (`imatrix_arg` is the path exactly as given: llama-quantize stores its argument).
pub fn apply_quantize_edits(md: &mut Vec<(String, Value)>, ftype: FileType, imatrix: Option<(&ImatrixFile, &Path)>) {
    apply_quantize_edits_with_overrides(md, ftype, &[], imatrix)
}

/// [`apply_quantize_edits`] with the user's `--override-kv` options, which llama-quantize applies
/// after dropping the split keys and before the importance-matrix keys.
pub fn apply_quantize_edits_with_overrides(
    md: &mut Vec<(String, Value)>,
    ftype: FileType,
    overrides: &[KvOverride],
    imatrix: Option<(&ImatrixFile, &Path)>,
) {
    set(md, "general.quantization_version", Value::U32(GGML_QNT_VERSION));
    set(md, "general.file_type", Value::U32(ftype.id()));
    md.retain(|(k, _)| !matches!(k.as_str(), "split.no" | "split.count" | "split.tensors.count"));
    for o in overrides {
        set(md, &o.key, o.value.clone());
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kv_overrides_parse_like_llama_cpp() {
        let v = |a: &str| KvOverride::parse(a).map(|o| (o.key, o.value));
        assert_eq!(v("a.b=int:-512").unwrap(), ("a.b".to_string(), Value::U32(512)));
        assert_eq!(v("a=int: 12abc").unwrap().1, Value::U32(12));
        assert_eq!(v("a=float:0.25").unwrap().1, Value::F32(0.25));
        assert_eq!(v("a=bool:false").unwrap().1, Value::Bool(false));
        assert_eq!(v("a=str:x=y").unwrap().1, Value::String("x=y".into()));
        for bad in ["a", "a=bool:yes", "a=u32:1", &format!("a=str:{}", "x".repeat(128))] {
            assert!(KvOverride::parse(bad).is_err(), "{bad}");
        }
    }
}
