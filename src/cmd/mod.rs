//! One module per subcommand.

pub mod batch;
pub mod convert;
pub mod inspect;
pub mod quantize;
pub mod report;
pub mod tokenizer;
pub mod plan;
pub mod validate;
