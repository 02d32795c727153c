//! `ggufkit report DIR_OR_FILES… [--merge] [-o DIR]`: the size report of GGUF files made
//! elsewhere, or of batch output folders (their state files, every shard's, merged).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::batch::state;
use crate::report;

/// Arguments of `ggufkit report`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  ggufkit report models/                         # report.md/.json/.csv of the GGUF files in models/\n  ggufkit report --merge out/                    # one report from every shard's state file in out/"
)]
pub struct Args {
    /// GGUF files, folders of GGUF files, or (with --merge) batch output folders / state files.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Combine batch state files (`batch-state*.json`, e.g. one per Slurm array task) into one
    /// report.
    #[arg(long)]
    pub merge: bool,
    /// Folder for report.md/.json/.csv and the plots (default: the first folder given, else the
    /// current folder).
    #[arg(short = 'o', long = "output")]
    pub output: Option<PathBuf>,
}

fn state_files(p: &Path) -> Result<Vec<PathBuf>> {
    if p.is_file() {
        return Ok(vec![p.to_path_buf()]);
    }
    let mut v: Vec<PathBuf> = std::fs::read_dir(p)
        .with_context(|| format!("listing {}", p.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|f| f.file_name().and_then(|n| n.to_str()).is_some_and(state::is_state_file))
        .collect();
    v.sort();
    Ok(v)
}

/// Runs the command.
pub fn run(args: Args) -> Result<()> {
    let out = args.output.clone().or_else(|| args.paths.iter().find(|p| p.is_dir()).cloned()).unwrap_or_else(|| PathBuf::from("."));
    let rows = if args.merge {
        let mut merged = state::State { version: state::STATE_VERSION, ..Default::default() };
        let mut rows = Vec::new();
        for p in &args.paths {
            let files = state_files(p)?;
            if files.is_empty() {
                bail!("{}: no batch state file (batch-state*.json) to merge", p.display());
            }
            let mut one = state::State::default();
            for f in files {
                state::merge(&mut one, state::read(&f)?);
            }
            // outputs lie next to their state files
            let dir = if p.is_dir() { p.clone() } else { p.parent().map(Path::to_path_buf).unwrap_or_default() };
            rows.extend(report::rows_from_state(&dir, &one));
            state::merge(&mut merged, one);
        }
        // one row per job even when two folders both hold it
        rows.sort_by(|a, b| (&a.model, a.size_bytes, &a.id).cmp(&(&b.model, b.size_bytes, &b.id)));
        rows.dedup_by(|a, b| a.id == b.id);
        rows
    } else {
        let mut files = Vec::new();
        for p in &args.paths {
            if p.is_dir() {
                let mut v: Vec<PathBuf> = std::fs::read_dir(p)
                    .with_context(|| format!("listing {}", p.display()))?
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|f| f.extension().is_some_and(|x| x == "gguf"))
                    .collect();
                v.sort();
                files.extend(v);
            } else {
                files.push(p.clone());
            }
        }
        if files.is_empty() {
            bail!("no GGUF files given");
        }
        report::rows_from_files(&files)?
    };
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let written = report::write(&out, &rows)?;
    print!("{}", report::markdown(&rows));
    for p in written {
        eprintln!("report: {}", p.display());
    }
    Ok(())
}
