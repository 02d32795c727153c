//! One module per subcommand.

pub mod convert;
pub mod inspect;
pub mod modelfile;
pub mod quantize;
pub mod tokenizer;
pub mod plan;
pub mod validate;
