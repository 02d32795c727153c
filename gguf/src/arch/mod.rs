//! The architecture table: the one place that says how each supported model family is named and
//! how its transformer block is built, as data (in the spirit of gguf-py's `constants.py`).
//! `plan` builds llama.cpp's graph from a [`BlockLayout`] and `validate` its forward pass; neither
//! has per-architecture code for what the layout covers.
//!
//! - [`layout`]: the block layout's vocabulary (norms, projections, activation, residual wiring,
//!   soft-caps, sliding window, rope layout).
//! - [`tensors`]: the tensor map, in the style of gguf-py's `tensor_mapping.py`: [`TensorKind`]
//!   (the GGUF tensor names) and, per architecture, Hugging Face name → kind with its shape and
//!   transform. The converter maps checkpoints with it, `validate` finds Hugging Face names with it.
//! - [`config_class`]: the defaults of the transformers config classes, which each spec lists.
//! - [`hf_config`]: a model's `config.json` read once with those defaults ([`HfConfig`]): typed
//!   fields for the commands, the merged field map for the converter's keys.
//! - [`converter`]: the pinned converter's model classes ([`ConverterClass`]): the hyper-parameter
//!   keys each writes ([`Key`]: GGUF key, value type, config fields, required or not) and the
//!   tensors it computes ([`Computed`]: rope factors).
//! - [`vocab`]: how the converter builds each class's vocabulary ([`VocabRecipe`]), which the
//!   tokenizer conversion follows.
//! - [`table`]: [`ARCHITECTURES`], one [`ArchSpec`] per GGUF architecture.
//! - [`gguf_hparams`]: a GGUF file's `{arch}.*` hyper-parameters, typed ([`GgufHparams`]), the
//!   one reader of quantize's type policy, plan and validate.
//!
//! The tokenizer conversion reads [`ArchSpec::vocab`]; the converter reads [`ArchSpec::converter`]
//! and interprets its keys (`src/arch/keys.rs`) and computed tensors (`src/arch/computed.rs`).

pub mod config_class;
pub mod converter;
pub mod gguf_hparams;
pub mod hf_config;
pub mod layout;
pub mod table;
pub mod tensors;
pub mod vocab;

pub use config_class::{ConfigClass, Fill, HfSlidingWindow, EXPERT_COUNT_FIELDS, EXPERT_USED_FIELDS};
pub use converter::{Computed, ConverterClass, Key, Need};
pub use gguf_hparams::{GgufHparams, HparamsError, PerLayer};
pub use hf_config::{ConfigError, HfConfig, HfFields, RopeParams};
pub use layout::{Activation, BlockLayout, FfnLayout, MoeLayout, NormKind, QkvLayout, SwaPattern};
pub use table::{by_gguf_name, by_hf_architecture, by_hf_model_type, ArchSpec, ARCHITECTURES};
pub use tensors::{Dim, TensorKind, TensorRule, Transform, When, MOE_BLOCK};
pub use vocab::{FixedSpecials, SpmAddedTokens, VocabQuirk, VocabRecipe, VocabSource};
