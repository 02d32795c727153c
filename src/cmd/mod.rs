//! One module per subcommand.

pub mod inspect;
pub mod tokenizer;
pub mod plan;
