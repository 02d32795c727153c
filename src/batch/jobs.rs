//! The job list: every (model, type) pair of a manifest, with its output file and its predicted
//! size, in a deterministic order (manifest order of models, glob matches sorted, then types).

use std::path::{Path, PathBuf};

use quantize::ftype::FileType;
use serde::{Deserialize, Serialize};

use super::manifest::Manifest;
use super::BatchError;
use crate::convert;

/// One model of the batch.
#[derive(Debug, Clone)]
pub struct Model {
    /// `{model}` in the name template: the folder's name.
    pub name: String,
    /// The HF folder.
    pub dir: PathBuf,
    /// Its importance matrix.
    pub imatrix: Option<PathBuf>,
}

/// One output file to produce.
#[derive(Debug, Clone)]
pub struct Job {
    /// `model/TYPE`: unique in a batch.
    pub id: String,
    /// Index into the model list.
    pub model: usize,
    /// The file type.
    pub file_type: FileType,
    /// The output file.
    pub output: PathBuf,
    /// The output file's path in the output folder (the name template's expansion).
    pub relative_output: String,
    /// The exact size of the output, predicted from headers; `None` when the model cannot be
    /// planned (the job will fail with the reason).
    pub predicted_bytes: Option<u64>,
    /// Why planning failed.
    pub plan_error: Option<String>,
}

/// A model folder's fingerprint: every file's name, size and modification time. A changed,
/// added or removed file makes finished jobs of the model stale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint(pub Vec<(String, u64, i128)>);

impl Fingerprint {
    /// Reads the fingerprint of `dir` (and of the imatrix file, when there is one).
    pub fn of(dir: &Path, imatrix: Option<&Path>) -> Result<Fingerprint, BatchError> {
        let io = |path: &Path, source| BatchError::Io { path: path.to_path_buf(), op: "read", source };
        let mut entries = Vec::new();
        let mut files: Vec<PathBuf> =
            std::fs::read_dir(dir).map_err(|e| io(dir, e))?.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file()).collect();
        files.extend(imatrix.map(Path::to_path_buf));
        files.sort();
        for f in files {
            let md = std::fs::metadata(&f).map_err(|e| io(&f, e))?;
            let mtime =
                md.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map(|d| d.as_nanos() as i128).unwrap_or(0);
            let name = f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            entries.push((name, md.len(), mtime));
        }
        Ok(Fingerprint(entries))
    }
}

/// Expands the manifest's model entries (globs) into models, in manifest order.
pub fn models(m: &Manifest) -> Result<Vec<(Model, Vec<FileType>)>, BatchError> {
    let mut out: Vec<(Model, Vec<FileType>)> = Vec::new();
    for e in &m.models {
        let dirs: Vec<PathBuf> = if e.path.contains(['*', '?', '[']) {
            let mut v: Vec<PathBuf> = glob::glob(&e.path)
                .map_err(|err| BatchError::BadEntry { entry: e.path.clone(), reason: format!("bad glob pattern: {err}") })?
                .filter_map(Result::ok)
                .filter(|p| p.is_dir())
                .collect();
            v.sort();
            if v.is_empty() {
                return Err(BatchError::BadEntry { entry: e.path.clone(), reason: "the glob matches no folder".into() });
            }
            v
        } else {
            vec![PathBuf::from(&e.path)]
        };
        let names = e.types.as_ref().unwrap_or(&m.types);
        if names.is_empty() {
            return Err(BatchError::BadEntry { entry: e.path.clone(), reason: "no types: give `types` for the model or globally".into() });
        }
        let mut types = Vec::new();
        for n in names {
            let ft = FileType::from_name(n.trim())
                .ok_or_else(|| BatchError::BadEntry { entry: e.path.clone(), reason: format!("unknown type `{n}`") })?;
            if !types.contains(&ft) {
                types.push(ft);
            }
        }
        for dir in dirs {
            let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "model".into());
            if out.iter().any(|(o, _)| o.name == name) {
                return Err(BatchError::BadEntry {
                    entry: e.path.clone(),
                    reason: format!("two models are named `{name}`; {{model}} must tell them apart"),
                });
            }
            out.push((Model { name, dir, imatrix: e.imatrix.clone() }, types.clone()));
        }
    }
    Ok(out)
}

/// The output file name of a model and type.
pub fn file_name(template: &str, model: &str, ft: FileType) -> String {
    template.replace("{model}", model).replace("{type}", ft.name())
}

/// The convert options of a model (output and type are given per job).
pub fn convert_options(model: &Model, force: bool) -> convert::Options {
    convert::Options {
        model_dir: model.dir.clone(),
        file_type: FileType::MostlyF16,
        output: None,
        imatrix: model.imatrix.clone(),
        force,
        name: None,
        modelfile: Some(convert::modelfile::Options::default()),
        tensor_types: Vec::new(),
        extra_metadata: Vec::new(),
    }
}

/// Every job of the manifest with its predicted size (headers only).
pub fn jobs(m: &Manifest, models: &[(Model, Vec<FileType>)]) -> Vec<Job> {
    let mut jobs = Vec::new();
    for (mi, (model, types)) in models.iter().enumerate() {
        let opts = convert_options(model, true);
        for &ft in types {
            let (predicted_bytes, plan_error) = match convert::predicted_size(&opts, ft) {
                Ok(n) => (Some(n), None),
                Err(e) => (None, Some(e.to_string())),
            };
            jobs.push(Job {
                id: format!("{}/{}", model.name, ft.name()),
                model: mi,
                file_type: ft,
                output: m.output.join(file_name(&m.name, &model.name, ft)),
                relative_output: file_name(&m.name, &model.name, ft),
                predicted_bytes,
                plan_error,
            });
        }
    }
    jobs
}
