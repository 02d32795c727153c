//! The resumable state file next to a batch's outputs: one record per finished job (size, sha256
//! of the output, ggufkit version, the input's fingerprint, timings, plan and validate numbers)
//! and the reason of each failed one.
//!
//! Several processes may share one state file (two runs started on one manifest, or shards of a
//! job array writing into one folder): every update takes an exclusive `flock` on
//! `<state>.lock`, re-reads the file, changes its own entries and replaces the file atomically
//! (temporary file in the same folder, fsync, rename), so readers see the old or the new file,
//! never a torn one, and no update is lost.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::jobs::Fingerprint;
use super::BatchError;

/// The state file's format version.
pub const STATE_VERSION: u32 = 1;

/// The name of an unsharded run's state file.
pub const STATE_FILE: &str = "batch-state.json";

/// The state file of a run: `batch-state.json`, or `batch-state.shard-I-of-N.json` for shard I of N
/// (shards never write the same file; `report --merge` reads them all).
pub fn file_name(shard: Option<(usize, usize)>) -> String {
    match shard {
        None => STATE_FILE.to_string(),
        Some((i, n)) => format!("batch-state.shard-{i}-of-{n}.json"),
    }
}

/// True for the names [`file_name`] makes.
pub fn is_state_file(name: &str) -> bool {
    name == STATE_FILE || (name.starts_with("batch-state.shard-") && name.ends_with(".json"))
}

/// Plan's verdict for one VRAM size and context.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanVerdict {
    /// GPU memory as written in the manifest.
    pub vram: String,
    /// GPU memory in bytes.
    pub vram_bytes: u64,
    /// Context.
    pub ctx: u64,
    /// GPU memory needed fully offloaded at this context.
    pub total_bytes: u64,
    /// Fits fully.
    pub fits: bool,
    /// Largest context that fits fully (None when not even 256 tokens fit).
    pub max_ctx: Option<u64>,
}

/// Validate's numbers for one output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quality {
    /// Perplexity of the output.
    pub ppl: f64,
    /// Perplexity of the reference (the HF folder).
    pub reference_ppl: f64,
    /// ΔPPL in percent.
    pub dppl_percent: f64,
    /// Mean KL divergence to the reference.
    pub kld: f64,
    /// Same top-1 token as the reference, fraction.
    pub top1: f64,
    /// Window size and windows evaluated.
    pub ctx: usize,
    /// Windows evaluated.
    pub chunks: usize,
}

/// A finished job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// `model/TYPE`.
    pub id: String,
    /// The model's name.
    pub model: String,
    /// File type name.
    pub file_type: String,
    /// The output file's name (in the output folder).
    pub file: String,
    /// Its size in bytes.
    pub size_bytes: u64,
    /// Its sha256, lower-case hex.
    pub sha256: String,
    /// Weights (elements of all tensors).
    pub n_params: u64,
    /// Bits per weight of the whole file.
    pub bits_per_weight: f64,
    /// Wall time of the conversion pass that wrote it, seconds.
    pub seconds: f64,
    /// Outputs written by that pass (they shared its reading and float conversion).
    pub pass_outputs: usize,
    /// ggufkit's version that wrote it.
    pub ggufkit_version: String,
    /// The input it was made from.
    pub fingerprint: Fingerprint,
    /// Unix time it finished.
    pub finished_unix: u64,
    /// Plan's verdicts (`[plan]`).
    #[serde(default)]
    pub plan: Vec<PlanVerdict>,
    /// Validate's numbers (`[validate]`).
    #[serde(default)]
    pub quality: Option<Quality>,
}

/// A failed job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    /// `model/TYPE`.
    pub id: String,
    /// The error, as printed.
    pub error: String,
}

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// [`STATE_VERSION`].
    pub version: u32,
    /// Finished jobs by id.
    pub finished: BTreeMap<String, Record>,
    /// Failed jobs by id (removed when the job finishes later).
    pub failed: BTreeMap<String, Failure>,
}

/// Reads a state file; a missing file is an empty state.
pub fn read(path: &Path) -> Result<State, BatchError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(State { version: STATE_VERSION, ..State::default() }),
        Err(source) => return Err(BatchError::Io { path: path.to_path_buf(), op: "read the state file", source }),
    };
    let s: State = serde_json::from_str(&text).map_err(|source| BatchError::StateJson { path: path.to_path_buf(), source })?;
    if s.version != STATE_VERSION {
        return Err(BatchError::State {
            path: path.to_path_buf(),
            reason: format!("format version {} (this ggufkit writes {STATE_VERSION})", s.version),
        });
    }
    Ok(s)
}

/// Reads every state file in `dir` and merges them (a later-finished record of one job wins).
pub fn read_all(dir: &Path) -> Result<(State, Vec<PathBuf>), BatchError> {
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(is_state_file))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(source) => return Err(BatchError::Io { path: dir.to_path_buf(), op: "list", source }),
    };
    files.sort();
    let mut merged = State { version: STATE_VERSION, ..State::default() };
    for f in &files {
        merge(&mut merged, read(f)?);
    }
    Ok((merged, files))
}

/// Merges `other` into `into`: the later finish of a job wins; a failure stays only when no
/// state finished that job.
pub fn merge(into: &mut State, other: State) {
    for (id, r) in other.finished {
        match into.finished.get(&id) {
            Some(old) if old.finished_unix > r.finished_unix => {}
            _ => {
                into.finished.insert(id, r);
            }
        }
    }
    for (id, f) in other.failed {
        into.failed.insert(id, f);
    }
    into.failed.retain(|id, _| !into.finished.contains_key(id));
}

/// An exclusive advisory lock on `<state>.lock`, released when dropped (or when the process dies).
struct Lock(std::fs::File);

impl Lock {
    fn take(state: &Path) -> Result<Lock, BatchError> {
        let path = lock_path(state);
        let f = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path).map_err(|source| BatchError::Io {
            path: path.clone(),
            op: "open the lock file",
            source,
        })?;
        loop {
            // SAFETY: flock on a descriptor this function owns.
            let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) };
            if rc == 0 {
                return Ok(Lock(f));
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(BatchError::Io { path, op: "lock", source: e });
            }
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        // SAFETY: unlocking our own descriptor; closing it would release the lock anyway.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}

/// The lock file of a state file: `<state>.lock`.
pub fn lock_path(state: &Path) -> PathBuf {
    let mut name = state.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".lock");
    state.with_file_name(name)
}

/// Changes the state file under its lock: read, `change`, write atomically.
pub fn update(path: &Path, change: impl FnOnce(&mut State)) -> Result<(), BatchError> {
    let _lock = Lock::take(path)?;
    // a writer killed before its rename left its temporary file; nobody else writes one now
    remove_temps(path);
    let mut s = read(path)?;
    change(&mut s);
    s.version = STATE_VERSION;
    let text = serde_json::to_string_pretty(&s).map_err(|source| BatchError::StateJson { path: path.to_path_buf(), source })?;
    write_atomic(path, text.as_bytes())
}

/// Removes the temporary files [`write_atomic`] makes for `path` (`.<name>.*.tmp`).
pub fn remove_temps(path: &Path) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else {
        return;
    };
    let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
    let prefix = format!(".{name}.");
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let n = e.file_name();
            let n = n.to_string_lossy();
            if n.starts_with(&prefix) && n.ends_with(".tmp") {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// Writes a file atomically: a temporary file in the same folder, fsync, rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), BatchError> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let io = |op, source| BatchError::Io { path: path.to_path_buf(), op, source };
    let prefix = format!(".{}.", path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
    let mut tmp =
        tempfile::Builder::new().prefix(&prefix).suffix(".tmp").tempfile_in(dir).map_err(|e| io("create a temporary file for", e))?;
    tmp.write_all(bytes).map_err(|e| io("write", e))?;
    tmp.as_file().sync_all().map_err(|e| io("sync", e))?;
    tmp.persist(path).map_err(|e| io("rename into place", e.error))?;
    Ok(())
}

/// The sha256 of a file, lower-case hex (read in 1 MiB pieces).
pub fn sha256_file(path: &Path) -> Result<String, BatchError> {
    use std::io::Read;
    let io = |source| BatchError::Io { path: path.to_path_buf(), op: "hash", source };
    let mut f = std::fs::File::open(path).map_err(io)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, t: u64) -> Record {
        Record {
            id: id.into(),
            model: "m".into(),
            file_type: "Q8_0".into(),
            file: "m-Q8_0.gguf".into(),
            size_bytes: 1,
            sha256: "00".into(),
            n_params: 1,
            bits_per_weight: 8.0,
            seconds: 1.0,
            pass_outputs: 1,
            ggufkit_version: "0".into(),
            fingerprint: Fingerprint(vec![]),
            finished_unix: t,
            plan: vec![],
            quality: None,
        }
    }

    #[test]
    fn concurrent_updates_lose_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(STATE_FILE);
        std::thread::scope(|s| {
            for t in 0..8 {
                let path = &path;
                s.spawn(move || {
                    for j in 0..10 {
                        let id = format!("m{t}/{j}");
                        update(path, |st| {
                            st.finished.insert(id.clone(), record(&id, 1));
                        })
                        .expect("update");
                    }
                });
            }
        });
        let st = read(&path).expect("read");
        assert_eq!(st.finished.len(), 80);
        let names: Vec<_> = std::fs::read_dir(dir.path()).expect("ls").map(|e| e.expect("entry").file_name()).collect();
        assert_eq!(names.len(), 2, "only the state file and its lock: {names:?}");
    }

    #[test]
    fn merge_keeps_the_later_finish_and_drops_healed_failures() {
        let mut a = State::default();
        a.finished.insert("x".into(), record("x", 5));
        a.failed.insert("y".into(), Failure { id: "y".into(), error: "boom".into() });
        let mut b = State::default();
        b.finished.insert("x".into(), record("x", 3));
        b.finished.insert("y".into(), record("y", 4));
        merge(&mut a, b);
        assert_eq!(a.finished["x"].finished_unix, 5);
        assert!(a.failed.is_empty());
    }
}
