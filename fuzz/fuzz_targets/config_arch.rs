//! config.json → architecture: the typed config (defaults, rope parameters, field types),
//! detection, GGUF parameters and the planned tensor list.
#![no_main]
use ggufkit_fuzz::arch;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    let Ok(config) = arch::HfConfig::new(json) else { return };
    if arch::detect(&config).is_err() {
        return;
    }
    let _ = arch::config_metadata(&config, 1);
    if let Ok(tensors) = arch::planned_tensors(&config) {
        std::hint::black_box(tensors.len());
    }
});
