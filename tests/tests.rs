//! The integration tests of the `ggufkit` binary, linked into one test binary (as ripgrep's
//! `tests/tests.rs`): one link instead of one per file. Each file below is a module; run one with
//! `cargo test --release --test integration MODULE::` (e.g. `plan_memory::`).
//!
//! Shared helpers: [`common`] (reference tools, fixtures, cached reference artifacts),
//! `quant_kernels_support` (reference kernels' inputs), `tokenizer_util` (tokenizer comparisons).

mod common;
mod quant_kernels_support;
mod tokenizer_util;

mod batch;
mod batch_slurm;
mod chat_templates;
mod cli_first_contact;
mod concurrent_output;
mod convert_bad_input;
mod convert_crosscheck;
mod convert_imatrix;
mod convert_logits;
mod convert_modelfile;
mod convert_multitype;
mod convert_perplexity;
mod fit_budget;
mod fuzz_regressions;
mod gguf_corrupt;
mod gguf_crosscheck;
mod hostile_input;
mod imatrix_compute;
mod iq_grids;
mod plan_filesize;
mod plan_memory;
mod plan_seed;
mod quant_kernels;
mod quant_kernels_props;
mod quantize_cli;
mod quantize_imatrix;
mod quantize_policy;
mod tokenizer_bad_input;
mod tokenizer_reference;
mod tokenizer_roundtrip;
mod tokenizer_variants;
mod validate_errors;
mod validate_forward;
mod validate_llama_perplexity;
mod validate_rope;
mod validate_streamed;
mod validate_vocab;
