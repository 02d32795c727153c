//! The batch manifest (`ggufkit batch MANIFEST.toml`): TOML parsing, the manifest's own checks,
//! relative paths resolved against its folder, then what the job list reads from each entry
//! before touching the disk: its type names and its glob pattern (compiled, not walked: a glob
//! such as `/**` is the manifest author's own choice to walk the disk, not a parser defect).
#![no_main]
use ggufkit_fuzz::{batch_manifest::Manifest, scratch_dir};
use libfuzzer_sys::fuzz_target;
use quantize::ftype::FileType;

fuzz_target!(|data: &[u8]| {
    let dir = scratch_dir(&["batch.toml"]);
    let path = dir.join("batch.toml");
    std::fs::write(&path, data).expect("write batch.toml");
    let m = match Manifest::load(&path) {
        Ok(m) => m,
        Err(e) => {
            std::hint::black_box(e.to_string());
            return;
        }
    };
    for e in &m.models {
        for n in e.types.as_ref().unwrap_or(&m.types) {
            std::hint::black_box(FileType::from_name(n.trim()));
        }
        if e.path.contains(['*', '?', '[']) {
            std::hint::black_box(glob::Pattern::new(&e.path).is_ok());
        }
    }
});
