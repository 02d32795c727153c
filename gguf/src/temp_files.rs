//! The temporary files of unfinished outputs, so that a SIGINT or SIGTERM handler can remove them
//! before the process dies (a process killed by a signal runs no destructors).
//!
//! A file is created and put on the list under one lock ([`create_temporary_file`]), and the
//! handler's [`remove_temporary_files_then`] takes that lock, removes every file on the list and
//! ends the process *without releasing it*. So no file can be created between the removal and the
//! end, nor be created and not yet listed when the removal runs (a signal arriving right after a
//! file's creation once left an empty `.tmp` behind: the file existed, its path was not listed yet).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

static PATHS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn paths() -> MutexGuard<'static, Vec<PathBuf>> {
    PATHS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Creates a temporary file with `create` and lists the path `path_of` gives for it, both under the
/// list's lock; after [`remove_temporary_files_then`] has begun this waits until the process ends.
pub(crate) fn create_listed<T, E>(create: impl FnOnce() -> Result<T, E>, path_of: impl FnOnce(&T) -> PathBuf) -> Result<T, E> {
    let mut list = paths();
    let made = create()?;
    list.push(path_of(&made));
    Ok(made)
}

/// Creates the temporary file at `path` with `create` (e.g. `validate`'s reference
/// log-probabilities), listed for [`remove_temporary_files_then`] from the moment it exists;
/// [`unregister_temporary_file`] when it is finished or removed. Where `create` fails, nothing is
/// listed: removing what it may have left is the caller's.
pub fn create_temporary_file<T, E>(path: &Path, create: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
    create_listed(create, |_| path.to_path_buf())
}

/// Lists a path that another writer will create (e.g. a [`crate::GgufWriter`]'s output used as a
/// temporary input): removed by [`remove_temporary_files_then`] if it exists by then.
pub fn register_temporary_file(path: &Path) {
    paths().push(path.to_path_buf());
}

/// Takes a file off the list.
pub fn unregister_temporary_file(path: &Path) {
    paths().retain(|q| q != path);
}

/// Removes every listed file, then runs `end` still holding the list's lock, so that no temporary
/// file is created after the removal: for a signal handler, whose `end` ends the process (should it
/// return, the lock is released).
pub fn remove_temporary_files_then<R>(end: impl FnOnce() -> R) -> R {
    let mut list = paths();
    for p in list.drain(..) {
        let _ = std::fs::remove_file(p);
    }
    end()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_created_file_is_listed_and_unlisted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("x.tmp");
        let made: Result<(), std::io::Error> = create_temporary_file(&p, || std::fs::write(&p, b"x"));
        made.expect("create");
        assert!(paths().contains(&p));
        unregister_temporary_file(&p);
        assert!(!paths().contains(&p));
        // a failed creation lists nothing
        let q = dir.path().join("missing/y.tmp");
        assert!(create_temporary_file(&q, || std::fs::write(&q, b"y")).is_err());
        assert!(!paths().contains(&q));
    }
}
