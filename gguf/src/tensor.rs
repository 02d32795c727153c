//! Tensor descriptions: what a file says about a tensor ([`TensorInfo`]), what a writer is asked
//! to write ([`TensorSpec`]), and the shape rules both obey.

use std::path::Path;

use crate::{GgmlType, GgufError};

/// ggml's `GGML_MAX_DIMS`.
pub const MAX_DIMS: usize = 4;

/// ggml's `GGML_MAX_NAME`: a tensor name must be shorter than this (in bytes).
pub const MAX_NAME_LEN: usize = 64;

/// A tensor as described in a GGUF file's tensor info section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    /// The tensor name, e.g. `blk.0.attn_q.weight`.
    pub name: String,
    /// The shape in ggml order: `dims[0]` (`ne0`) is the row length.
    pub dims: Vec<u64>,
    /// The element type.
    pub ty: GgmlType,
    /// Byte offset of the data from the start of the data section.
    pub offset: u64,
    /// Bytes of data.
    pub size: u64,
}

impl TensorInfo {
    /// Number of elements (product of the dims).
    pub fn n_elements(&self) -> u64 {
        self.dims.iter().product()
    }
}

/// A tensor a [`crate::GgufWriter`] will write: name, shape (ggml order) and type. Its size and
/// offset follow from these.
///
/// The dims are written as given. llama.cpp's own writer drops trailing dimensions of size 1
/// (`ggml_n_dims`); pass dims that way to get its layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorSpec {
    /// The tensor name.
    pub name: String,
    /// The shape in ggml order: `dims[0]` is the row length.
    pub dims: Vec<u64>,
    /// The element type.
    pub ty: GgmlType,
}

impl TensorSpec {
    /// A spec from its parts.
    pub fn new(name: impl Into<String>, dims: &[u64], ty: GgmlType) -> TensorSpec {
        TensorSpec { name: name.into(), dims: dims.to_vec(), ty }
    }
}

/// Checks a tensor name (length) and shape against ggml's rules and returns the data size in bytes.
///
/// Rules: 1 to 4 dims, none zero, element count and byte count below 2^63, row length a multiple
/// of the type's block size.
pub(crate) fn check_tensor(path: &Path, name: &str, dims: &[u64], ty: GgmlType) -> Result<u64, GgufError> {
    if name.len() >= MAX_NAME_LEN {
        return Err(GgufError::TensorNameTooLong {
            path: path.to_path_buf(),
            name: name.to_owned(),
            len: name.len(),
            max: MAX_NAME_LEN - 1,
        });
    }
    if dims.len() > MAX_DIMS {
        return Err(GgufError::TooManyDims { path: path.to_path_buf(), tensor: name.to_owned(), n_dims: dims.len() as u64 });
    }
    if let Some(index) = dims.iter().position(|&d| d == 0).or(if dims.is_empty() { Some(0) } else { None }) {
        return Err(GgufError::ZeroDim { path: path.to_path_buf(), tensor: name.to_owned(), dims: dims.to_vec(), index });
    }
    let overflow = || GgufError::ShapeOverflow { path: path.to_path_buf(), tensor: name.to_owned(), dims: dims.to_vec(), ty };
    let mut n: u64 = 1;
    for &d in dims {
        n = n.checked_mul(d).filter(|&n| n <= i64::MAX as u64).ok_or_else(overflow)?;
    }
    let ne0 = dims[0];
    let row = ty.row_size(ne0).ok_or_else(|| GgufError::RowNotBlockMultiple {
        path: path.to_path_buf(),
        tensor: name.to_owned(),
        ty,
        ne0,
        block_size: ty.block_size() as u64,
    })?;
    let size = row.checked_mul(n / ne0).filter(|&s| s <= i64::MAX as u64).ok_or_else(overflow)?;
    Ok(size)
}

/// `n` rounded up to a multiple of `align` (a power of two), or `None` on overflow.
pub(crate) fn pad_to(n: u64, align: u64) -> Option<u64> {
    n.checked_add(align - 1).map(|v| v & !(align - 1))
}
