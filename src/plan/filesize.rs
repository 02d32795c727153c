//! The exact size of a GGUF file from its metadata and tensor list, without writing it: the
//! layout of ggml's `gguf_write_to_buf` (llama.cpp's writer and llama-quantize): header, metadata
//! key/values, tensor infos, padding to the alignment, then each tensor's data padded to the
//! alignment.

use gguf::{GgmlType, Value};

/// `general.alignment` when absent (`GGUF_DEFAULT_ALIGNMENT`).
pub const DEFAULT_ALIGNMENT: u64 = 32;

/// Magic, version, tensor count, key/value count.
const HEADER_BYTES: u64 = 4 + 4 + 8 + 8;

/// Bytes of a GGUF string: u64 length then the bytes.
fn string_size(s: &str) -> u64 {
    8 + s.len() as u64
}

/// Encoded bytes of a metadata value (without its type id).
pub fn value_size(v: &Value) -> u64 {
    match v {
        Value::U8(_) | Value::I8(_) | Value::Bool(_) => 1,
        Value::U16(_) | Value::I16(_) => 2,
        Value::U32(_) | Value::I32(_) | Value::F32(_) => 4,
        Value::U64(_) | Value::I64(_) | Value::F64(_) => 8,
        Value::String(s) => string_size(s),
        // element type id + count + elements
        Value::Array(_, items) => 4 + 8 + items.iter().map(value_size).sum::<u64>(),
    }
}

/// Encoded bytes of one key/value pair: key, value type id, value.
pub fn kv_size(key: &str, v: &Value) -> u64 {
    string_size(key) + 4 + value_size(v)
}

/// Encoded bytes of a metadata list.
pub fn metadata_size(metadata: &[(String, Value)]) -> u64 {
    metadata.iter().map(|(k, v)| kv_size(k, v)).sum()
}

/// Encoded bytes of one tensor info: name, n_dims, dims, type id, offset.
pub fn tensor_info_size(name: &str, n_dims: usize) -> u64 {
    string_size(name) + 4 + 8 * n_dims as u64 + 4 + 8
}

/// One tensor of a file whose size is being computed.
#[derive(Debug, Clone, Copy)]
pub struct SizedTensor<'a> {
    /// Name.
    pub name: &'a str,
    /// ggml dims.
    pub dims: &'a [u64],
    /// Type in this file.
    pub ty: GgmlType,
}

/// Bytes of the whole file; `None` when a tensor's row does not fit its type's blocks or a size
/// overflows.
pub fn file_size(metadata_bytes: u64, alignment: u64, tensors: &[SizedTensor<'_>]) -> Option<u64> {
    let mut head = HEADER_BYTES.checked_add(metadata_bytes)?;
    let mut data = 0u64;
    for t in tensors {
        head = head.checked_add(tensor_info_size(t.name, t.dims.len()))?;
        data = data.checked_add(super::memory::tensor_bytes(t.dims, t.ty, alignment)?)?;
    }
    head.div_ceil(alignment).checked_mul(alignment)?.checked_add(data)
}
