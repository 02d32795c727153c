//! `quantize::imatrix` on files made by the pinned llama-imatrix (calib.txt, 16 chunks of 128):
//! the GGUF format against gguf-py's reading of the same file (weight = sum / count), and the
//! legacy .dat format of the same run against the GGUF one. (End-to-end use by llama-quantize is
//! checked byte for byte in tests/quantize_cli.rs.)

use crate::common;

use quantize::imatrix::ImatrixFile;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

/// Serialises the making of cached files (the cache's temporary names are per process).
static MAKE: Mutex<()> = Mutex::new(());

/// Both formats from one llama-imatrix run each, cached.
fn imatrix(format: &str) -> PathBuf {
    let _g = MAKE.lock().unwrap_or_else(|e| e.into_inner());
    let model = common::ref_converted("tiny-llama", "f16");
    let out = common::cache_dir().join(format!("tiny-llama-imatrix-unit.{format}"));
    common::cached(&out, |tmp| {
        common::run(
            Command::new(common::ref_bin("llama-imatrix"))
                .arg("-m")
                .arg(&model)
                .arg("-f")
                .arg(common::corpus("calib.txt"))
                .args(["-c", "128", "--chunks", "16", "-t", "2", "--output-format", format, "-o"])
                .arg(tmp),
        );
    })
}

#[test]
fn gguf_imatrix_matches_gguf_py_and_legacy_dat_matches_gguf() {
    let gguf_path = imatrix("gguf");
    let dat_path = imatrix("dat");
    let ours = ImatrixFile::open(&gguf_path).expect("read GGUF imatrix");
    let py: serde_json::Value = serde_json::from_str(&common::run(
        Command::new(common::ref_python()).arg(common::repo_root().join("tests/py/imatrix_gguf.py")).arg(&gguf_path),
    ))
    .expect("json");

    assert!(!ours.is_legacy());
    assert_eq!(ours.chunk_count() as u64, py["chunk_count"].as_u64().unwrap());
    assert_eq!(ours.chunk_size() as u64, py["chunk_size"].as_u64().unwrap());
    assert_eq!(ours.chunk_count(), 16);
    let ds: Vec<String> = py["datasets"].as_array().unwrap().iter().map(|d| d.as_str().unwrap().to_string()).collect();
    assert_eq!(ours.datasets(), ds.as_slice());
    let entries = py["entries"].as_object().unwrap();
    assert_eq!(ours.len(), entries.len());
    // tiny-llama: 6 layers x 7 matrices (q, k, v, o, gate, up, down); llama-imatrix leaves
    // output.weight out unless --process-output.
    assert_eq!(ours.len(), 6 * 7);
    for (name, e) in entries {
        let sums: Vec<f32> = e["sums"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
        let counts: Vec<f32> = e["counts"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
        let w = ours.get(name).unwrap_or_else(|| panic!("{name} missing"));
        assert_eq!(w.len(), sums.len(), "{name}");
        let ne0 = sums.len() / counts.len();
        for (i, (&s, &o)) in sums.iter().zip(w).enumerate() {
            let c = counts[i / ne0].round();
            let expected = if c > 0.0 { s / c } else { 1.0 };
            assert_eq!(o.to_bits(), expected.to_bits(), "{name}[{i}]: ours {o} expected {expected}");
        }
    }

    let dat = ImatrixFile::open(&dat_path).expect("read legacy imatrix");
    assert!(dat.is_legacy());
    assert_eq!(dat.chunk_count(), 16);
    assert_eq!(dat.datasets(), ours.datasets());
    assert_eq!(dat.names().collect::<Vec<_>>(), ours.names().collect::<Vec<_>>());
    for name in ours.names() {
        // The .dat stores mean * ncall; divided back it equals the GGUF mean up to f32 rounding.
        for (a, b) in ours.get(name).unwrap().iter().zip(dat.get(name).unwrap()) {
            assert!((a - b).abs() <= 1e-5 * a.abs().max(1e-6), "{name}: gguf {a} dat {b}");
        }
    }
}

#[test]
fn broken_imatrix_files_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let gguf_bytes = std::fs::read(imatrix("gguf")).unwrap();
    let dat_bytes = std::fs::read(imatrix("dat")).unwrap();
    for (what, bytes) in [("gguf", &gguf_bytes), ("dat", &dat_bytes)] {
        for cut in [0, 3, 4, 20, bytes.len() / 2] {
            let p = dir.path().join(format!("cut-{cut}.{what}"));
            std::fs::write(&p, &bytes[..cut]).unwrap();
            assert!(ImatrixFile::open(&p).is_err(), "{what} cut at {cut} accepted");
        }
    }
    assert!(ImatrixFile::open(dir.path().join("absent.dat")).is_err());
}
