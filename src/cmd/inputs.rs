//! The input path each command takes, checked before anything else so that a wrong kind of input
//! gets an error that says what to do: a file where a model folder is expected ("pass the folder
//! that holds config.json"), a GGUF given to `convert` ("use ggufkit quantize"), a model folder
//! given to `quantize`/`inspect` ("use ggufkit convert"), a Hugging Face repo id ("download it
//! first").

use std::path::Path;

use anyhow::{bail, Result};

/// What a command reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// A Hugging Face model folder (`convert`, `tokenizer`).
    ModelFolder,
    /// A GGUF file (`quantize`, `inspect`, `modelfile`).
    GgufFile,
    /// A model folder, a lone `config.json` or a GGUF file (`plan`).
    FolderConfigOrGguf,
}

/// `ORG/NAME` that is not a path here: how Hugging Face names repositories.
fn looks_like_repo_id(s: &str) -> bool {
    let mut parts = s.split('/');
    let (Some(org), Some(name), None) = (parts.next(), parts.next(), parts.next()) else { return false };
    let ok = |p: &str| !p.is_empty() && !p.starts_with('.') && p.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    ok(org) && ok(name)
}

fn is_gguf(path: &Path) -> bool {
    let mut magic = [0u8; 4];
    std::fs::File::open(path).and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic)).is_ok_and(|_| &magic == b"GGUF")
}

/// Checks that `path` is the kind of input `command` (`"convert"`, …) reads; the error says what
/// to do instead.
pub fn check(path: &Path, command: &str, expect: Expect) -> Result<()> {
    let shown = path.display();
    if !path.exists() {
        let s = path.to_string_lossy();
        if looks_like_repo_id(&s) {
            let local = s.rsplit('/').next().unwrap_or(&s);
            bail!(
                "{shown}: no such file or folder here. If it is a Hugging Face repo id, download it first, e.g. \
                 `hf download {s} --local-dir {local}`, then run `ggufkit {command} {local}`"
            );
        }
        bail!("{shown}: no such {}", if expect == Expect::GgufFile { "file" } else { "file or folder" });
    }
    match expect {
        Expect::ModelFolder | Expect::FolderConfigOrGguf if path.is_file() => {
            if is_gguf(path) {
                if expect == Expect::FolderConfigOrGguf {
                    return Ok(());
                }
                bail!("{shown} is already a GGUF file; {command} reads a Hugging Face model folder. To re-quantize a GGUF use `ggufkit quantize {shown} OUT.gguf -t TYPE`");
            }
            if expect == Expect::FolderConfigOrGguf && path.extension().is_some_and(|e| e == "json") {
                return Ok(());
            }
            let folder = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            bail!("{shown} is a file; pass the folder that holds config.json (here: `ggufkit {command} {}`)", folder.display());
        }
        Expect::ModelFolder if !path.join("config.json").is_file() => {
            bail!("{shown}: no config.json in this folder; pass the Hugging Face model folder that holds config.json, the tokenizer and the *.safetensors files");
        }
        Expect::GgufFile if path.is_dir() => {
            if path.join("config.json").is_file() {
                bail!("{shown} is a Hugging Face model folder; {command} reads a GGUF file. Convert the folder first: `ggufkit convert {shown} -t TYPE`");
            }
            bail!("{shown} is a folder; {command} reads a GGUF file");
        }
        // Other non-GGUF files get the reader's own error (it names what it found at which offset).
        Expect::GgufFile
            if !is_gguf(path)
                && (path.file_name().is_some_and(|n| n == "config.json") || path.extension().is_some_and(|e| e == "safetensors")) =>
        {
            let folder = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            bail!("{shown} is part of a Hugging Face checkpoint; {command} reads a GGUF file. Convert the folder first: `ggufkit convert {} -t TYPE`", folder.display());
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_ids() {
        assert!(looks_like_repo_id("microsoft/Phi-3.5-mini-instruct"));
        assert!(!looks_like_repo_id("./models/x"));
        assert!(!looks_like_repo_id("a/b/c"));
        assert!(!looks_like_repo_id("model"));
    }
}
