//! SIGINT and SIGTERM: the process removes the temporary files of its unfinished outputs, then dies
//! of the signal as it would have without a handler (a killed process runs no destructors, so the
//! files would stay behind).
//!
//! The clean-up runs on a thread of its own, which the signal wakes. Until that thread has run, the
//! main thread may go on: it may even fail because the clean-up removed the file it was about to
//! rename, or finish. So the signal is also recorded when it is delivered (in the handler itself),
//! and [`die_if_signalled`], called before the process exits, ends it the same way: a signal that
//! arrived before the exit always ends the process by that signal, with no error message of its own.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use signal_hook::consts::{SIGINT, SIGTERM};

/// The signal received (0: none yet), set by the signal handler.
static RECEIVED: std::sync::OnceLock<Arc<AtomicUsize>> = std::sync::OnceLock::new();

/// Installs the handlers; call once at start-up, before any output file is opened.
pub fn install() {
    let received = RECEIVED.get_or_init(|| Arc::new(AtomicUsize::new(0)));
    for sig in [SIGINT, SIGTERM] {
        // The recording handler first: it runs in the signal handler, before the thread wakes.
        let _ = signal_hook::flag::register_usize(sig, Arc::clone(received), sig as usize);
    }
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) else { return };
    std::thread::spawn(move || {
        if let Some(sig) = signals.forever().next() {
            die(sig);
        }
    });
}

/// Ends the process by the signal received, if one was (see the module); returns otherwise.
pub fn die_if_signalled() {
    let sig = RECEIVED.get().map_or(0, |r| r.load(Ordering::SeqCst));
    if sig != 0 {
        die(sig as i32);
    }
}

/// Removes the temporary files, then dies of `sig` (its default action), or exits with 128 + `sig`
/// where that fails; no temporary file can be created after the removal (see
/// [`gguf::remove_temporary_files_then`]).
fn die(sig: i32) -> ! {
    gguf::remove_temporary_files_then(|| {
        let _ = signal_hook::low_level::emulate_default_handler(sig);
        std::process::exit(128 + sig)
    })
}
