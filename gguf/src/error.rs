//! The errors of the gguf crate: each says which file, where (offset, key or tensor) and what was
//! expected versus found.

use std::path::PathBuf;

use crate::{GgmlType, ValueType};

/// Why a GGUF file could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GgufError {
    /// An operating-system error on the file.
    #[error("{}: cannot {op}", path.display())]
    Io {
        path: PathBuf,
        /// What was being done: "open", "map", "write", "rename into place", ….
        op: &'static str,
        #[source]
        source: std::io::Error,
    },

    /// [`crate::GgufWriter::finish_new`] found a file at the output path (written meanwhile by
    /// another process): it was left as it is.
    #[error("{}: another file appeared at the output path while this one was being written; it was left as it is (use --force to replace it)", path.display())]
    OutputExists { path: PathBuf },

    /// The file does not start with `GGUF`.
    #[error("{}: not a GGUF file: magic is {found:02x?}, expected \"GGUF\" (47 47 55 46)", path.display())]
    BadMagic { path: PathBuf, found: [u8; 4] },

    /// A GGUF version other than 2 or 3.
    #[error("{}: GGUF version {version} is not supported (only versions 2 and 3)", path.display())]
    UnsupportedVersion { path: PathBuf, version: u32 },

    /// The file ends before a structure that must be there.
    #[error("{}: truncated at offset {offset} while reading {what}: needs {needed} bytes, the file has {available} left", path.display())]
    Truncated { path: PathBuf, offset: u64, what: String, needed: u64, available: u64 },

    /// A count or length that the rest of the file could not possibly hold (checked before any
    /// allocation).
    #[error("{}: at offset {offset}, {what} is {count}, but the {available} bytes left in the file hold at most {max}", path.display())]
    CountTooLarge { path: PathBuf, offset: u64, what: String, count: u64, max: u64, available: u64 },

    /// A metadata value type id outside 0..=12.
    #[error("{}: at offset {offset}, key '{key}' has unknown value type id {id} (valid: 0..=12)", path.display())]
    UnknownValueType { path: PathBuf, offset: u64, key: String, id: u32 },

    /// Arrays nested deeper than [`crate::MAX_ARRAY_NESTING`].
    #[error("{}: at offset {offset}, key '{key}' nests arrays deeper than {max}", path.display())]
    NestingTooDeep { path: PathBuf, offset: u64, key: String, max: usize },

    /// A bool byte other than 0 or 1.
    #[error("{}: at offset {offset}, key '{key}' has bool byte {byte}, expected 0 or 1", path.display())]
    InvalidBool { path: PathBuf, offset: u64, key: String, byte: u8 },

    /// A string (key, value or tensor name) that is not UTF-8.
    #[error("{}: at offset {offset}, {what} is not valid UTF-8", path.display())]
    InvalidUtf8 { path: PathBuf, offset: u64, what: String },

    /// A metadata key of length 0.
    #[error("{}: at offset {offset}, metadata key #{index} is empty", path.display())]
    EmptyKey { path: PathBuf, offset: u64, index: u64 },

    /// The same metadata key twice.
    #[error("{}: duplicate metadata key '{key}' (at offset {offset})", path.display())]
    DuplicateKey { path: PathBuf, offset: u64, key: String },

    /// `general.alignment` is not a `UINT32`.
    #[error("{}: general.alignment must be of type UINT32, found {found}", path.display())]
    AlignmentType { path: PathBuf, found: ValueType },

    /// `general.alignment` is zero or not a power of two.
    #[error("{}: general.alignment is {alignment}, expected a nonzero power of two", path.display())]
    BadAlignment { path: PathBuf, alignment: u64 },

    /// A tensor name of 64 bytes or more (ggml's `GGML_MAX_NAME`).
    #[error("{}: tensor name '{name}' is {len} bytes long, ggml allows at most {max}", path.display())]
    TensorNameTooLong { path: PathBuf, name: String, len: usize, max: usize },

    /// The same tensor name twice.
    #[error("{}: duplicate tensor name '{name}'", path.display())]
    DuplicateTensor { path: PathBuf, name: String },

    /// More than 4 dimensions.
    #[error("{}: tensor '{tensor}' has {n_dims} dimensions, ggml allows at most 4", path.display())]
    TooManyDims { path: PathBuf, tensor: String, n_dims: u64 },

    /// A dimension of size 0 (or no dimension at all).
    #[error("{}: tensor '{tensor}' has shape {dims:?}: dimension {index} is zero", path.display())]
    ZeroDim { path: PathBuf, tensor: String, dims: Vec<u64>, index: usize },

    /// A shape whose element or byte count does not fit in 63 bits.
    #[error("{}: tensor '{tensor}' of type {ty} has shape {dims:?}, whose element or byte count overflows", path.display())]
    ShapeOverflow { path: PathBuf, tensor: String, dims: Vec<u64>, ty: GgmlType },

    /// A ggml type id that the pinned ggml does not define.
    #[error("{}: tensor '{tensor}' has unknown ggml type id {id}", path.display())]
    UnknownGgmlType { path: PathBuf, tensor: String, id: u32 },

    /// A row length that is not a multiple of the type's block size.
    #[error("{}: tensor '{tensor}' of type {ty} has rows of {ne0} elements, not a multiple of the block size {block_size}", path.display())]
    RowNotBlockMultiple { path: PathBuf, tensor: String, ty: GgmlType, ne0: u64, block_size: u64 },

    /// A tensor data offset that is not a multiple of the alignment.
    #[error("{}: tensor '{tensor}' has data offset {offset}, not a multiple of the alignment {alignment}", path.display())]
    MisalignedTensor { path: PathBuf, tensor: String, offset: u64, alignment: u64 },

    /// Tensor data that ends past the end of the file.
    #[error("{}: tensor '{tensor}' data (offset {offset} from data start {data_offset}, {size} bytes) ends past the end of the file ({file_len} bytes)", path.display())]
    TensorOutOfBounds { path: PathBuf, tensor: String, offset: u64, size: u64, data_offset: u64, file_len: u64 },

    /// Two tensors whose data ranges overlap.
    #[error("{}: tensor '{tensor}' data [{start}, {end}) overlaps tensor '{other}' data starting at {other_start}", path.display())]
    TensorOverlap { path: PathBuf, tensor: String, start: u64, end: u64, other: String, other_start: u64 },

    /// Writer: an array element whose type differs from the array's element type.
    #[error("{}: metadata key '{key}': array of {expected} has an element #{index} of type {found}", path.display())]
    MixedArray { path: PathBuf, key: String, expected: ValueType, found: ValueType, index: usize },

    /// Writer: more bytes than the current tensor (or than all tensors) hold.
    #[error("{}: too much tensor data: tensor '{tensor}' takes {expected} bytes, got {got}", path.display())]
    TooMuchData { path: PathBuf, tensor: String, expected: u64, got: u64 },

    /// Writer: `finish` before all tensor data was written.
    #[error("{}: tensor data incomplete: tensor '{tensor}' has {written} of {expected} bytes ({remaining} tensors not finished)", path.display())]
    IncompleteData { path: PathBuf, tensor: String, written: u64, expected: u64, remaining: usize },

    /// Not enough free space for the file about to be written.
    #[error("{}: not enough free space: the output needs {needed} bytes ({:.2} GiB) but only {available} bytes ({:.2} GiB) are free; free some space or write elsewhere (-o)", path.display(), *needed as f64 / 1073741824.0, *available as f64 / 1073741824.0)]
    NoSpace {
        /// The folder written to.
        path: PathBuf,
        /// The file's exact size.
        needed: u64,
        /// Bytes free for this user.
        available: u64,
    },
}
