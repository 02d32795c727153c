//! Two writers racing for one output path: with [`GgufWriter::finish_new`] the first to finish
//! wins, the second gets `OutputExists` and the first file stays whole; with
//! [`GgufWriter::finish`] the last to finish replaces it. Never a mix, never a temporary file
//! left over.

use gguf::{GgmlType, GgufError, GgufFile, GgufWriter, TensorSpec, Value};

fn writer(path: &std::path::Path, fill: u8, arch: &str) -> GgufWriter {
    let md = vec![("general.architecture".to_string(), Value::from(arch))];
    let mut w = GgufWriter::create(path, &md, &[TensorSpec::new("t", &[1024], GgmlType::F32)]).expect("create");
    w.write_tensor_data(&[fill; 4096]).expect("data");
    w
}

fn arch_and_data(path: &std::path::Path) -> (String, Vec<u8>) {
    let f = GgufFile::open(path).expect("the output is a whole GGUF file");
    let arch = f.get("general.architecture").and_then(Value::as_str).expect("arch").to_string();
    (arch, f.tensor_data(&f.tensors()[0]).to_vec())
}

#[test]
fn second_finish_new_errors_and_keeps_the_first_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("out.gguf");
    let (a, b) = (writer(&path, 1, "first"), writer(&path, 2, "second"));
    a.finish_new().expect("the first writer wins");
    match b.finish_new() {
        Err(GgufError::OutputExists { path: p }) => assert_eq!(p, path),
        other => panic!("the second writer must get OutputExists, got {other:?}"),
    }
    assert_eq!(arch_and_data(&path), ("first".to_string(), vec![1u8; 4096]));
    assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 1, "a temporary file was left over");
}

#[test]
fn finish_replaces_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("out.gguf");
    let (a, b) = (writer(&path, 1, "first"), writer(&path, 2, "second"));
    a.finish().expect("first");
    b.finish().expect("second replaces it");
    assert_eq!(arch_and_data(&path), ("second".to_string(), vec![2u8; 4096]));
    assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 1, "a temporary file was left over");
}

/// Many threads race with `finish_new`: exactly one wins.
#[test]
fn one_of_many_racing_writers_wins() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("out.gguf");
    let writers: Vec<GgufWriter> = (0..8u8).map(|i| writer(&path, i, &format!("w{i}"))).collect();
    let barrier = std::sync::Barrier::new(writers.len());
    let results: Vec<(u8, Result<(), GgufError>)> = std::thread::scope(|s| {
        let handles: Vec<_> = writers
            .into_iter()
            .enumerate()
            .map(|(i, w)| {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    (i as u8, w.finish_new())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("thread")).collect()
    });
    let winners: Vec<u8> = results.iter().filter(|(_, r)| r.is_ok()).map(|(i, _)| *i).collect();
    assert_eq!(winners.len(), 1, "exactly one writer wins: {results:?}");
    for (_, r) in &results {
        assert!(matches!(r, Ok(()) | Err(GgufError::OutputExists { .. })), "{r:?}");
    }
    let w = winners[0];
    assert_eq!(arch_and_data(&path), (format!("w{w}"), vec![w; 4096]));
    assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 1, "a temporary file was left over");
}
