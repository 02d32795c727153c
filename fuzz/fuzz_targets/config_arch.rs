//! config.json → architecture: detection, GGUF parameters and the planned tensor list.
#![no_main]
use ggufkit_fuzz::arch;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(config) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    if arch::detect(&config).is_err() {
        return;
    }
    let _ = arch::config_metadata(&config, 1);
    if let Ok(tensors) = arch::planned_tensors(&config) {
        std::hint::black_box(tensors.len());
    }
});
