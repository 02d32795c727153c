//! The batch manifest (`ggufkit batch MANIFEST.toml`): which models, which types, where to.
//!
//! ```toml
//! output = "out"                    # folder for the GGUFs, the state file and the report
//! name = "{model}-{type}.gguf"      # file name template ({model}, {type})
//! types = ["Q4_K_M", "Q8_0"]        # for every model without its own list
//! modelfile = true                  # write <stem>.Modelfile next to each GGUF
//!
//! [[model]]
//! path = "models/tiny-*"            # an HF folder, or a glob of folders
//! types = ["Q6_K"]                  # optional: this model's types
//! imatrix = "imatrix.dat"           # optional
//!
//! [validate]                        # optional: PPL/KLD of each output against the HF folder
//! text = "eval.txt"
//! ctx = 128
//! chunks = 4
//!
//! [plan]                            # optional: fits / max context per VRAM at each context
//! vram = ["8GiB", "24GiB"]
//! ctx = [4096, 8192]
//! ```
//!
//! Relative paths are relative to the manifest's folder.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::BatchError;

/// The default output name template (what `ggufkit convert` names its outputs).
pub const DEFAULT_NAME: &str = "{model}-{type}.gguf";

/// The manifest as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Output folder.
    pub output: PathBuf,
    /// Output file name template.
    #[serde(default = "default_name")]
    pub name: String,
    /// Types for models without their own list.
    #[serde(default)]
    pub types: Vec<String>,
    /// Write an Ollama Modelfile next to each output.
    #[serde(default = "yes")]
    pub modelfile: bool,
    /// The models.
    #[serde(default, rename = "model")]
    pub models: Vec<ModelEntry>,
    /// Quality evaluation of each output.
    pub validate: Option<ValidateSection>,
    /// Memory plan of each output.
    pub plan: Option<PlanSection>,
}

fn default_name() -> String {
    DEFAULT_NAME.to_string()
}

fn yes() -> bool {
    true
}

/// One `[[model]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelEntry {
    /// An HF model folder or a glob matching several.
    pub path: String,
    /// This model's types (else the global list).
    pub types: Option<Vec<String>>,
    /// Importance matrix for this model.
    pub imatrix: Option<PathBuf>,
}

/// `[validate]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidateSection {
    /// Evaluation text.
    pub text: PathBuf,
    /// Window size in tokens.
    #[serde(default = "default_ctx")]
    pub ctx: usize,
    /// At most this many windows.
    pub chunks: Option<usize>,
}

fn default_ctx() -> usize {
    512
}

/// `[plan]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanSection {
    /// GPU memory sizes (`8GiB`, `24 GB`), parsed when the manifest is read so that a typo stops
    /// the run before any conversion.
    pub vram: Vec<crate::size::Size>,
    /// Contexts to check.
    pub ctx: Vec<u64>,
}

impl Manifest {
    /// Reads and parses a manifest, resolving relative paths against its folder.
    pub fn load(path: &Path) -> Result<Manifest, BatchError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| BatchError::Io { path: path.to_path_buf(), op: "read the manifest", source })?;
        let mut m: Manifest = toml::from_str(&text).map_err(|source| BatchError::ManifestToml { path: path.to_path_buf(), source })?;
        let base = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let resolve = |p: &Path| {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            }
        };
        m.output = resolve(&m.output);
        for e in &mut m.models {
            if !Path::new(&e.path).is_absolute() {
                e.path = base.join(&e.path).to_string_lossy().into_owned();
            }
            e.imatrix = e.imatrix.as_deref().map(resolve);
        }
        if let Some(v) = &mut m.validate {
            v.text = resolve(&v.text);
        }
        if m.models.is_empty() {
            return Err(BatchError::Manifest { path: path.to_path_buf(), reason: "no [[model]] entries".into() });
        }
        if !m.name.contains("{model}") || !m.name.contains("{type}") {
            return Err(BatchError::Manifest {
                path: path.to_path_buf(),
                reason: format!("name template `{}` must contain {{model}} and {{type}} so that every job gets its own file", m.name),
            });
        }
        Ok(m)
    }
}
