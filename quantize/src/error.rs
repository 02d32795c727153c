//! Errors of the quantization kernels.

use gguf::GgmlType;

/// What went wrong while quantizing or dequantizing rows.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum QuantizeError {
    /// The kernels do not implement this ggml type.
    #[error("quantizing to or from {ty} is not supported (supported: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K, IQ4_NL, IQ4_XS, IQ3_S, IQ3_XXS, IQ2_S, IQ2_XS, IQ2_XXS, IQ1_M, IQ1_S, TQ1_0, TQ2_0)")]
    UnsupportedType {
        /// The requested type.
        ty: GgmlType,
    },
    /// The row length is zero or not a multiple of the type's block size.
    #[error("row length {n_per_row} is not a positive multiple of {ty}'s block size {block_size}")]
    RowLength {
        /// The target type.
        ty: GgmlType,
        /// The row length given.
        n_per_row: usize,
        /// The type's block size.
        block_size: usize,
    },
    /// The source holds a number of elements (or bytes) that does not fit the request.
    #[error("source size mismatch for {ty}: expected {expected} {unit}, found {found}")]
    SourceSize {
        /// The type involved.
        ty: GgmlType,
        /// What was expected.
        expected: usize,
        /// What was given.
        found: usize,
        /// `"elements"` or `"bytes"`.
        unit: &'static str,
    },
    /// The destination buffer has the wrong length.
    #[error("destination size mismatch for {ty}: expected {expected} {unit}, found {found}")]
    DestinationSize {
        /// The type involved.
        ty: GgmlType,
        /// What was expected.
        expected: usize,
        /// What was given.
        found: usize,
        /// `"elements"` or `"bytes"`.
        unit: &'static str,
    },
    /// The type has no quantizer without importance weights (ggml asserts them for IQ2_XXS,
    /// IQ2_XS and IQ1_S, and llama-quantize aborts).
    #[error("quantizing to {ty} needs importance weights: ggml has no {ty} quantizer without them; pass an importance matrix (--imatrix, made by llama-imatrix)")]
    ImatrixRequired {
        /// The requested type.
        ty: GgmlType,
    },
    /// The importance matrix does not have one weight per row element.
    #[error("importance matrix has {found} weights, expected one per row element ({expected})")]
    ImatrixLength {
        /// The row length.
        expected: usize,
        /// The number of weights given.
        found: usize,
    },
    /// The input holds a NaN or an infinity; `index` is the first bad element (row-major, from
    /// the start of the tensor). The caller adds the tensor name.
    #[error("non-finite value (NaN or Inf) at element {index}")]
    NonFinite {
        /// Index of the first non-finite element.
        index: usize,
    },
}
