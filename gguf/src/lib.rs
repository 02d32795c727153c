//! The GGUF file format (ggml's `docs/gguf.md`): value and tensor types, a memory-mapped reader and
//! a streaming writer. Knows nothing of quantization: tensor data is bytes.
//!
//! - [`GgufFile`] reads GGUF v2 and v3 files, validating every structure (see [`GgufError`]).
//! - [`GgufWriter`] writes GGUF v3 in one streaming pass with llama.cpp's byte layout.
//! - [`arch`] is the architecture table: names and block layouts of the supported models.

pub mod arch;
pub mod error;
pub mod ggml_type;
pub mod reader;
pub mod temp_files;
pub mod tensor;
pub mod value;
pub mod writer;

pub use error::GgufError;
pub use ggml_type::{GgmlType, TypeTraits, TYPE_TABLE};
pub use reader::{GgufFile, ALIGNMENT_KEY, DEFAULT_ALIGNMENT, GGUF_MAGIC, MAX_ARRAY_NESTING};
pub use temp_files::{create_temporary_file, register_temporary_file, remove_temporary_files_then, unregister_temporary_file};
pub use tensor::{TensorInfo, TensorSpec, MAX_DIMS, MAX_NAME_LEN};
pub use value::{Value, ValueType};
pub use writer::{layout, GgufWriter, Layout, GGUF_VERSION};
