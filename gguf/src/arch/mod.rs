//! The architecture table: the one place that says how each supported model family is named and
//! how its transformer block is built, as data (in the spirit of gguf-py's `constants.py`).
//! `plan` builds llama.cpp's graph from a [`BlockLayout`] and `validate` its forward pass; neither
//! has per-architecture code for what the layout covers.
//!
//! - [`layout`]: the block layout's vocabulary (norms, projections, activation, residual wiring,
//!   soft-caps, sliding window, rope layout).
//! - [`table`]: [`ARCHITECTURES`], one [`ArchSpec`] per GGUF architecture.
//!
//! The tokenizer conversion reads [`ArchSpec::family`]. Still outside this table (issue 11, in
//! progress): the converter's tensor maps and metadata makers (`src/arch/`) and validate's HF
//! tensor names (`validate/src/arch.rs`).

pub mod layout;
pub mod table;

pub use layout::{Activation, BlockLayout, Family, FfnLayout, NormKind, QkvLayout, SwaPattern};
pub use table::{by_gguf_name, by_hf_architecture, by_hf_model_type, ArchSpec, ARCHITECTURES};
