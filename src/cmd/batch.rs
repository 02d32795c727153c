//! `ggufkit batch MANIFEST.toml [--dry-run] [--force] [--shard I/N] [--json]`: many models × many
//! types from a manifest, resumable, with a report (see [`crate::batch`]).

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{anyhow, Context, Result};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::batch::{self, shard::Shard, Event, RunOptions};

/// Arguments of `ggufkit batch`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  ggufkit batch manifest.toml --dry-run          # jobs, exact sizes, disk needed\n  ggufkit batch manifest.toml                    # convert, validate, plan; report.md in the output folder\n  sbatch --array=0-3 deploy/slurm/batch.sbatch manifest.toml   # one shard per array task"
)]
pub struct Args {
    /// The manifest (TOML; see the README's "Converting many models").
    pub manifest: PathBuf,
    /// List the jobs with their exact predicted sizes and the disk space needed; convert nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Redo finished jobs too.
    #[arg(long)]
    pub force: bool,
    /// Run shard I of N (0-based) of the job list; default: from SLURM_ARRAY_TASK_ID/COUNT or
    /// JOB_COMPLETION_INDEX/JOB_COMPLETIONS when set.
    #[arg(long)]
    pub shard: Option<String>,
    /// Stop at the first failed model (default: keep going, exit 1 at the end).
    #[arg(long)]
    pub stop_on_failure: bool,
    /// Worker threads (default, or 0: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// One JSON line per event on stdout (planned, started, finished, failed, skipped), then a
    /// `done` line.
    #[arg(long)]
    pub json: bool,
}

fn mib(b: u64) -> String {
    format!("{:.2} MiB", b as f64 / (1 << 20) as f64)
}

/// Runs the command.
pub fn run(args: Args) -> Result<()> {
    let shard = match &args.shard {
        Some(s) => Some(Shard::parse(s)?),
        None => Shard::from_env(|k| std::env::var(k).ok())?,
    };
    let opts = RunOptions { force: args.force, dry_run: args.dry_run, shard, stop_on_failure: args.stop_on_failure };
    let tty = std::io::stderr().is_terminal() && !args.json;
    let multi = MultiProgress::with_draw_target(if tty { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() });
    let overall = multi.add(ProgressBar::new(0));
    overall
        .set_style(ProgressStyle::with_template("jobs {pos}/{len} {wide_bar} {msg}").map_err(|e| anyhow!("progress bar template: {e}"))?);
    let current = multi.add(ProgressBar::new(0));
    current.set_style(
        ProgressStyle::with_template("pass [{elapsed_precise}] {wide_bar} {binary_bytes}/{binary_total_bytes} ETA {eta}")
            .map_err(|e| anyhow!("progress bar template: {e}"))?,
    );
    let json = args.json;
    let mut on_event = |e: &Event| {
        if json && !matches!(e, Event::Progress(_)) {
            if let Ok(line) = serde_json::to_string(&crate::numbers::Versioned::new(e)) {
                println!("{line}");
            }
        }
        match e {
            Event::Planned { to_do, .. } => overall.set_length(*to_do as u64),
            Event::Progress(p) => {
                current.set_length(p.total_bytes);
                current.set_position(p.bytes);
            }
            Event::Started { id, .. } => overall.set_message(id.clone()),
            Event::Finished { id, size_bytes, seconds, .. } => {
                overall.inc(1);
                if !json {
                    multi.suspend(|| eprintln!("finished {id}: {} in {seconds:.2} s", mib(*size_bytes)));
                }
            }
            Event::Failed { id, error } => {
                overall.inc(1);
                if !json {
                    multi.suspend(|| eprintln!("FAILED {id}: {error}"));
                }
            }
            Event::Skipped { id, reason } => {
                if !json {
                    multi.suspend(|| eprintln!("skipped {id}: {reason}"));
                }
            }
        }
    };
    let outcome = crate::cmd::args::with_threads(args.threads, || batch::run(&args.manifest, &opts, &mut on_event))??;
    overall.finish_and_clear();
    current.finish_and_clear();
    if args.dry_run {
        let mut total = 0;
        if !json {
            println!("{:<40} {:>16} {:>12}  status", "job", "bytes", "MiB");
        }
        for j in &outcome.jobs {
            if j.status == "pending" {
                total += j.predicted_bytes.unwrap_or(0);
            }
            if !json {
                let bytes = j.predicted_bytes.map(|b| b.to_string()).unwrap_or_else(|| "cannot plan".into());
                let mb = j.predicted_bytes.map(mib).unwrap_or_default();
                let shard = j.shard.map(|s| format!(" (shard {s})")).unwrap_or_default();
                println!("{:<40} {:>16} {:>12}  {}{shard} -> {}", j.id, bytes, mb, j.status, j.output.display());
            }
        }
        if json {
            println!(
                "{}",
                serde_json::json!({"schema_version": crate::numbers::SCHEMA_VERSION, "event": "dry_run", "jobs": outcome.jobs, "bytes_to_write": total})
            );
        } else {
            println!("disk needed for pending jobs: {total} bytes ({})", mib(total));
        }
        return Ok(());
    }
    let report = crate::report::write_for_batch(&outcome.output_dir).context("writing the report")?;
    if json {
        println!(
            "{}",
            serde_json::json!({"schema_version": crate::numbers::SCHEMA_VERSION, "event": "done", "failed": outcome.failed, "state_file": outcome.state_file, "report": report})
        );
    } else {
        for p in &report {
            eprintln!("report: {}", p.display());
        }
    }
    if !outcome.failed.is_empty() {
        let list: Vec<String> = outcome.failed.iter().map(|f| format!("  {}: {}", f.id, f.error)).collect();
        return Err(anyhow!("{} job(s) failed:\n{}", outcome.failed.len(), list.join("\n")));
    }
    Ok(())
}
