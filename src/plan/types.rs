//! Per-tensor types of each file type, from llama.cpp's per-tensor type policy
//! (`quantize::policy`), without quantizing anything.

use gguf::GgmlType;
use quantize::ftype::FileType;
use quantize::policy::{ModelInfo, PolicyOptions, TensorRef, TypePolicy};

use super::error::PlanError;
use super::input::ModelInput;

/// What the policy needs to know of the model.
pub fn model_info(input: &ModelInput) -> ModelInfo {
    let s = &input.shape;
    let n = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
    ModelInfo {
        arch: s.arch.gguf_name.to_string(),
        n_layer: n(s.n_layer),
        n_expert: n(s.n_expert),
        n_head: n(s.n_head),
        n_head_kv: n(s.n_head_kv),
    }
}

/// Parses a file-type name as llama-quantize spells it (`Q4_K_M`, `q8_0`, `F16`).
pub fn parse_file_type(name: &str) -> Result<FileType, PlanError> {
    FileType::from_name(name).filter(|f| f.default_type().is_some()).ok_or_else(|| {
        PlanError::BadOption(format!("unknown file type {name:?} (e.g. F16, Q8_0, Q6_K, Q5_K_M, Q4_K_M, Q4_0, Q3_K_M, Q2_K)"))
    })
}

/// The type of every tensor of `input` (in its order) in a file of type `name` made by
/// llama-quantize from the F16 file (or from the GGUF input): without an importance matrix, or,
/// for file types llama-quantize makes only with one (IQ3_XS, IQ2_*, …), with one (the file
/// then also holds `quantize.imatrix.*` keys, which the plan does not count).
pub fn tensor_types(input: &ModelInput, name: &str) -> Result<Vec<GgmlType>, PlanError> {
    let ftype = parse_file_type(name)?;
    let refs: Vec<TensorRef<'_>> = input.tensors.iter().map(|t| TensorRef { name: &t.name, dims: &t.dims, ty: t.source_type }).collect();
    let choose = |has_imatrix: bool| {
        TypePolicy::new(ftype, PolicyOptions { has_imatrix, ..PolicyOptions::default() }, &model_info(input))
            .and_then(|policy| policy.choose_types(&refs))
    };
    let choices = match choose(false) {
        Err(quantize::policy::PolicyError::RequiresImatrix { .. }) => choose(true),
        other => other,
    }
    .map_err(|source| PlanError::Policy { file_type: name.to_string(), source })?;
    Ok(choices.into_iter().map(|c| c.ty).collect())
}
