//! One batch run: the jobs of this shard that are not finished (or all with `--force`), each
//! model's pending types converted in one pass, then validate and plan when configured, each
//! finished job recorded in the state file, and the report rewritten.

use std::collections::BTreeMap;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::jobs::{self, Fingerprint, Job, Model};
use super::manifest::Manifest;
use super::shard::{self, Shard};
use super::state::{self, Failure, PlanVerdict, Quality, Record};
use super::BatchError;
use crate::convert::{self, Output, Progress};

/// How to run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Redo finished jobs.
    pub force: bool,
    /// Only list the jobs with their predicted sizes.
    pub dry_run: bool,
    /// This task's part of the job list.
    pub shard: Option<Shard>,
    /// Stop at the first failed model (default: keep going).
    pub stop_on_failure: bool,
}

/// Something that happened, for progress bars and `--json` lines.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The job list of this run.
    Planned {
        /// Jobs in the manifest.
        jobs: usize,
        /// Jobs in this shard.
        in_shard: usize,
        /// Jobs to convert (the others are finished).
        to_do: usize,
        /// Bytes the jobs to convert will write.
        bytes_to_write: u64,
    },
    /// A job was skipped.
    Skipped {
        /// `model/TYPE`.
        id: String,
        /// Why.
        reason: String,
    },
    /// A job started (all pending types of a model start together: one pass).
    Started {
        /// `model/TYPE`.
        id: String,
        /// The output file.
        output: PathBuf,
        /// Its predicted size.
        predicted_bytes: u64,
    },
    /// Conversion progress of the current model's pass (not printed as JSON).
    #[serde(skip)]
    Progress(Progress),
    /// A job finished.
    Finished {
        /// `model/TYPE`.
        id: String,
        /// The output file.
        output: PathBuf,
        /// Its size (`file_size`, the name every command uses).
        #[serde(rename = "file_size")]
        size_bytes: u64,
        /// Its sha256.
        sha256: String,
        /// Wall time of its pass.
        seconds: f64,
    },
    /// A job failed.
    Failed {
        /// `model/TYPE`.
        id: String,
        /// The error.
        error: String,
    },
}

/// One job's line in the result.
#[derive(Debug, Clone, Serialize)]
pub struct JobLine {
    /// `model/TYPE`.
    pub id: String,
    /// The output file.
    pub output: PathBuf,
    /// The predicted size (None when the model cannot be planned).
    pub predicted_bytes: Option<u64>,
    /// `finished`, `failed`, `skipped`, `pending` (dry run) or `other-shard`.
    pub status: &'static str,
    /// The shard that runs it (with `--shard`).
    pub shard: Option<usize>,
}

/// What a run did.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// Every job of the manifest.
    pub jobs: Vec<JobLine>,
    /// Failed jobs with their errors.
    pub failed: Vec<Failure>,
    /// This run's state file.
    pub state_file: PathBuf,
    /// The output folder.
    pub output_dir: PathBuf,
}

/// An advisory lock per job, so that two runs never work on (and never clean up after) the same
/// output at once: a one-byte `fcntl` record lock at an offset derived from the output's name in
/// `<output>/batch-state.json.lock`' sibling `batch-jobs.lock`. The kernel drops the locks of a
/// process that dies, `kill -9` included.
struct JobLocks(std::fs::File);

impl JobLocks {
    fn open(dir: &Path) -> Result<JobLocks, BatchError> {
        let path = dir.join("batch-jobs.lock");
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map(JobLocks)
            .map_err(|source| BatchError::Io { path, op: "open the job lock file", source })
    }

    fn offset(name: &str) -> i64 {
        // FNV-1a, folded into 40 bits: distinct outputs of one folder practically never collide,
        // and a collision only makes two jobs wait for each other
        let mut h: u64 = 0xcbf29ce484222325;
        for b in name.bytes() {
            h = (h ^ b as u64).wrapping_mul(0x100000001b3);
        }
        (h & ((1 << 40) - 1)) as i64
    }

    fn set(&self, name: &str, ty: libc::c_short) -> bool {
        // SAFETY: a zeroed flock is a valid value; fcntl with F_SETLK reads it and does not keep it.
        let mut fl: libc::flock = unsafe { std::mem::zeroed() };
        fl.l_type = ty;
        fl.l_whence = libc::SEEK_SET as libc::c_short;
        fl.l_start = Self::offset(name);
        fl.l_len = 1;
        // SAFETY: our own descriptor and a valid flock struct.
        unsafe { libc::fcntl(self.0.as_raw_fd(), libc::F_SETLK, &fl) == 0 }
    }

    /// Takes the job's lock; false when another process holds it.
    fn try_lock(&self, name: &str) -> bool {
        self.set(name, libc::F_WRLCK as libc::c_short)
    }

    fn unlock(&self, name: &str) {
        self.set(name, libc::F_UNLCK as libc::c_short);
    }
}

/// Free bytes for an unprivileged writer in the file system holding `dir`.
fn free_bytes(dir: &Path) -> Option<u64> {
    let c = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).ok()?;
    // SAFETY: a zeroed statvfs is valid; statvfs fills it from a NUL-terminated path.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    (unsafe { libc::statvfs(c.as_ptr(), &mut st) } == 0).then(|| st.f_bavail as u64 * st.f_frsize as u64)
}

/// Why a finished record no longer stands for its output, or None when it does.
fn stale_reason(r: &Record, output: &Path, fp: &Fingerprint) -> Option<String> {
    if r.ggufkit_version != env!("CARGO_PKG_VERSION") {
        return Some(format!("made by ggufkit {}", r.ggufkit_version));
    }
    if &r.fingerprint != fp {
        return Some("the model's files changed".into());
    }
    match std::fs::metadata(output) {
        Err(_) => return Some("the output is missing".into()),
        Ok(md) if md.len() != r.size_bytes => return Some("the output's size changed".into()),
        Ok(_) => {}
    }
    match state::sha256_file(output) {
        Ok(h) if h == r.sha256 => None,
        Ok(_) => Some("the output's sha256 changed".into()),
        Err(e) => Some(e.to_string()),
    }
}

fn now_unix() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Plan's verdicts for one output file.
fn plan_verdicts(m: &Manifest, output: &Path) -> Result<Vec<PlanVerdict>, String> {
    let Some(p) = &m.plan else {
        return Ok(Vec::new());
    };
    use crate::plan::memory::{Backend, RunParams};
    let input = crate::plan::input::load(output).map_err(|e| format!("plan: {e}"))?;
    let margin = crate::size::Size::default_margin().bytes;
    let mut out = Vec::new();
    for vram in &p.vram {
        let bytes = vram.bytes;
        for &ctx in &p.ctx {
            let run = RunParams { ctx, ubatch: 512, kv_type: gguf::GgmlType::F16, backend: Backend::Cuda, flash_attn: None };
            let opts = crate::plan::PlanOptions { vram: Some(bytes), margin, run, types: Vec::new(), cpu_moe_layers: 0, ram: None };
            let plan = crate::plan::plan(&input, &opts).map_err(|e| format!("plan: {e}"))?;
            let row = plan.rows.first().ok_or("plan: no row for the file")?;
            out.push(PlanVerdict {
                vram: vram.text.clone(),
                vram_bytes: bytes,
                ctx,
                total_bytes: row.total_bytes,
                fits: row.fits.unwrap_or(false),
                max_ctx: row.max_ctx,
            });
        }
    }
    Ok(out)
}

/// Validate's numbers for a model's outputs (one evaluation of the reference for all of them).
fn qualities(m: &Manifest, model: &Model, outputs: &[PathBuf]) -> Result<Vec<Option<Quality>>, String> {
    let Some(v) = &m.validate else {
        return Ok(vec![None; outputs.len()]);
    };
    let opts = validate::run::Options {
        reference: model.dir.clone(),
        files: outputs.to_vec(),
        text: Some(v.text.clone()),
        tokenizer: None,
        ctx: v.ctx,
        chunks: v.chunks,
        save_reference: None,
    };
    let report = validate::run::run(&opts, &validate::Device::Cpu, |_, _, _| {}).map_err(|e| format!("validate: {e}"))?;
    Ok(report
        .files
        .iter()
        .map(|f| {
            Some(Quality {
                ppl: f.stats.ppl.value,
                reference_ppl: report.reference.ppl.value,
                dppl_percent: f.dppl_percent,
                kld: f.stats.kld_mean.value,
                top1: f.stats.same_top.value,
                ctx: report.reference.ctx,
                chunks: report.reference.chunks,
            })
        })
        .collect())
}

/// Runs a batch (see the module documentation); `on_event` sees every event.
pub fn run(manifest_path: &Path, opts: &RunOptions, on_event: &mut dyn FnMut(&Event)) -> Result<Outcome, BatchError> {
    let m = Manifest::load(manifest_path)?;
    let models = jobs::models(&m)?;
    let all = jobs::jobs(&m, &models);
    let shard_of: Vec<usize> = match opts.shard {
        Some(s) => {
            let ids: Vec<&str> = all.iter().map(|j| j.id.as_str()).collect();
            // the cost of a job: the bytes it writes plus its share of the checkpoint it reads
            let costs: Vec<u64> = all
                .iter()
                .map(|j| j.predicted_bytes.unwrap_or(0) + checkpoint_bytes(&models[j.model].0.dir) / models[j.model].1.len().max(1) as u64)
                .collect();
            shard::assign(&ids, &costs, s.count)
        }
        None => vec![0; all.len()],
    };
    let mine = |j: usize| opts.shard.is_none_or(|s| shard_of[j] == s.index);
    let state_file = m.output.join(state::file_name(opts.shard.map(|s| (s.index, s.count))));
    let (known, _) = state::read_all(&m.output)?;

    // What is finished and still matches its output and input.
    let mut fingerprints: BTreeMap<usize, Result<Fingerprint, String>> = BTreeMap::new();
    let mut lines = Vec::with_capacity(all.len());
    let mut todo: Vec<usize> = Vec::new();
    for (j, job) in all.iter().enumerate() {
        let mut line = JobLine {
            id: job.id.clone(),
            output: job.output.clone(),
            predicted_bytes: job.predicted_bytes,
            status: "pending",
            shard: opts.shard.map(|_| shard_of[j]),
        };
        if !mine(j) {
            line.status = "other-shard";
            lines.push(line);
            continue;
        }
        let model = &models[job.model].0;
        let fp = fingerprints
            .entry(job.model)
            .or_insert_with(|| Fingerprint::of(&model.dir, model.imatrix.as_deref()).map_err(|e| e.to_string()));
        let done = match (known.finished.get(&job.id), &*fp, opts.force) {
            (Some(r), Ok(fp), false) => match stale_reason(r, &job.output, fp) {
                None => Some(format!("finished, output unchanged (sha256 {})", &r.sha256[..12.min(r.sha256.len())])),
                Some(_) => None,
            },
            _ => None,
        };
        match done {
            Some(reason) if !opts.dry_run => {
                on_event(&Event::Skipped { id: job.id.clone(), reason });
                line.status = "skipped";
            }
            Some(_) => line.status = "finished",
            None => todo.push(j),
        }
        lines.push(line);
    }
    let bytes_to_write = todo.iter().filter_map(|&j| all[j].predicted_bytes).sum();
    on_event(&Event::Planned { jobs: all.len(), in_shard: (0..all.len()).filter(|&j| mine(j)).count(), to_do: todo.len(), bytes_to_write });
    let mut outcome = Outcome { jobs: lines, failed: Vec::new(), state_file: state_file.clone(), output_dir: m.output.clone() };
    if opts.dry_run {
        return Ok(outcome);
    }

    std::fs::create_dir_all(&m.output).map_err(|source| BatchError::Io {
        path: m.output.clone(),
        op: "create the output folder",
        source,
    })?;
    let locks = JobLocks::open(&m.output)?;
    let fail = |outcome: &mut Outcome, on_event: &mut dyn FnMut(&Event), j: usize, error: String| -> Result<(), BatchError> {
        let id = all[j].id.clone();
        on_event(&Event::Failed { id: id.clone(), error: error.clone() });
        state::update(&state_file, |s| {
            s.failed.insert(id.clone(), Failure { id: id.clone(), error: error.clone() });
            s.finished.remove(&id);
        })?;
        outcome.jobs[j].status = "failed";
        outcome.failed.push(Failure { id, error });
        Ok(())
    };
    // one pass per model over its pending types, in manifest order
    for (mi, (model, _)) in models.iter().enumerate() {
        let pending: Vec<usize> = todo.iter().copied().filter(|&j| all[j].model == mi).collect();
        if pending.is_empty() {
            continue;
        }
        if opts.stop_on_failure && !outcome.failed.is_empty() {
            for j in pending {
                fail(&mut outcome, on_event, j, "not started: an earlier job failed (--stop-on-failure)".into())?;
            }
            continue;
        }
        let fp = match &fingerprints[&mi] {
            Ok(fp) => fp.clone(),
            Err(e) => {
                for j in pending {
                    fail(&mut outcome, on_event, j, e.clone())?;
                }
                continue;
            }
        };
        // what other runs finished since this one started (read again, now that it matters)
        let (now_known, _) = if opts.force { Default::default() } else { state::read_all(&m.output)? };
        let mut run_now: Vec<usize> = Vec::new();
        for j in pending {
            let job = &all[j];
            let key = job.relative_output.clone();
            if let Some(e) = &job.plan_error {
                fail(&mut outcome, on_event, j, e.clone())?;
            } else if !locks.try_lock(&key) {
                on_event(&Event::Skipped { id: job.id.clone(), reason: "another process is converting it now".into() });
                outcome.jobs[j].status = "skipped";
            } else if let Some(r) = now_known.finished.get(&job.id).filter(|r| stale_reason(r, &job.output, &fp).is_none()) {
                locks.unlock(&key);
                on_event(&Event::Skipped {
                    id: job.id.clone(),
                    reason: format!("finished by another run meanwhile (sha256 {})", &r.sha256[..12.min(r.sha256.len())]),
                });
                outcome.jobs[j].status = "skipped";
            } else {
                // a killed run's temporary output (the GGUF writer names it like `write_atomic`)
                state::remove_temps(&job.output);
                run_now.push(j);
            }
        }
        if run_now.is_empty() {
            continue;
        }
        let unlock_all = |js: &[usize]| {
            for &j in js {
                locks.unlock(&all[j].relative_output);
            }
        };
        // the pass writes all its outputs at once: they must fit together
        // (an output being redone is replaced only at the end: its old file still takes its space)
        let needed: u64 = run_now.iter().filter_map(|&j| all[j].predicted_bytes).sum();
        if let Some(free) = free_bytes(&m.output) {
            if free < needed {
                for &j in &run_now {
                    let msg = format!(
                        "not enough disk space in {}: this pass writes {} bytes ({} outputs), {} bytes are free; free some space or move `output` elsewhere",
                        m.output.display(),
                        needed,
                        run_now.len(),
                        free
                    );
                    fail(&mut outcome, on_event, j, msg)?;
                }
                unlock_all(&run_now);
                continue;
            }
        }
        for &j in &run_now {
            on_event(&Event::Started {
                id: all[j].id.clone(),
                output: all[j].output.clone(),
                predicted_bytes: all[j].predicted_bytes.unwrap_or(0),
            });
        }
        // a name template may put outputs in subfolders
        for &j in &run_now {
            if let Some(parent) = all[j].output.parent() {
                std::fs::create_dir_all(parent).map_err(|source| BatchError::Io {
                    path: parent.to_path_buf(),
                    op: "create the output folder",
                    source,
                })?;
            }
        }
        let outputs: Vec<Output> =
            run_now.iter().map(|&j| Output { file_type: all[j].file_type, path: all[j].output.clone(), modelfile: m.modelfile }).collect();
        let copts = jobs::convert_options(model, true);
        let result = convert::convert_many(&copts, &outputs, &mut |p| on_event(&Event::Progress(p)));
        let summaries = match result {
            Ok(s) => s,
            Err(e) => {
                for &j in &run_now {
                    fail(&mut outcome, on_event, j, format!("{}: {e}", model.dir.display()))?;
                }
                unlock_all(&run_now);
                continue;
            }
        };
        let paths: Vec<PathBuf> = run_now.iter().map(|&j| all[j].output.clone()).collect();
        let quality = qualities(&m, model, &paths);
        for (k, (&j, s)) in run_now.iter().zip(&summaries).enumerate() {
            let job: &Job = &all[j];
            let verdicts = plan_verdicts(&m, &job.output);
            let hash = state::sha256_file(&job.output);
            let (quality, verdicts, hash) = match (&quality, verdicts, hash) {
                (Ok(q), Ok(v), Ok(h)) => (q.get(k).cloned().flatten(), v, h),
                (Err(e), _, _) => {
                    fail(&mut outcome, on_event, j, e.clone())?;
                    continue;
                }
                (_, Err(e), _) => {
                    fail(&mut outcome, on_event, j, e)?;
                    continue;
                }
                (_, _, Err(e)) => {
                    fail(&mut outcome, on_event, j, e.to_string())?;
                    continue;
                }
            };
            let record = Record {
                id: job.id.clone(),
                model: model.name.clone(),
                file_type: job.file_type.name().to_string(),
                file: job.relative_output.clone(),
                size_bytes: s.numbers.file_size,
                sha256: hash.clone(),
                n_params: s.numbers.n_params,
                bits_per_weight: s.numbers.bits_per_weight,
                seconds: s.seconds,
                pass_outputs: summaries.len(),
                ggufkit_version: env!("CARGO_PKG_VERSION").to_string(),
                fingerprint: fp.clone(),
                finished_unix: now_unix(),
                plan: verdicts,
                quality,
            };
            state::update(&state_file, |st| {
                st.failed.remove(&record.id);
                st.finished.insert(record.id.clone(), record.clone());
            })?;
            on_event(&Event::Finished {
                id: job.id.clone(),
                output: job.output.clone(),
                size_bytes: s.numbers.file_size,
                sha256: hash,
                seconds: s.seconds,
            });
            outcome.jobs[j].status = "finished";
        }
        unlock_all(&run_now);
    }
    Ok(outcome)
}

/// Bytes of a model folder's safetensors files (what a conversion reads).
fn checkpoint_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.path().extension().is_some_and(|x| x == "safetensors"))
                .filter_map(|e| e.metadata().ok())
                .map(|md| md.len())
                .sum()
        })
        .unwrap_or(0)
}
