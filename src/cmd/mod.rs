//! One module per subcommand.

pub mod args;
pub mod batch;
pub mod convert;
pub mod imatrix;
pub mod inputs;
pub mod inspect;
pub mod list;
pub mod modelfile;
pub mod plan;
pub mod quantize;
pub mod report;
pub mod tokenizer;
pub mod validate;
