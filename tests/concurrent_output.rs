//! Two `ggufkit convert` runs to one output path at once, without --force: one wins, the other
//! fails with a clear error, and the file at the path is the winner's complete output (byte for
//! byte its conversion made alone), never a mix; no temporary file is left. The loser fails either
//! at the start (the output already exists) or, when both got that far, at the final rename, which
//! never replaces a file (`GgufWriter::finish_new`; its race is tested deterministically in
//! gguf/tests/writer_no_clobber.rs). Two types (Q8_0 and Q4_0) tell whose file it is.

use crate::common;

use std::path::Path;
use std::process::{Command, Stdio};

fn convert_cmd(ty: &str, out: &Path) -> Command {
    let mut c = Command::new(common::ggufkit());
    c.arg("convert").arg(common::fixture_model("tiny-llama")).args(["-t", ty, "-o"]).arg(out);
    c.stdout(Stdio::null()).stderr(Stdio::piped());
    c
}

/// A conversion made alone, for comparison.
fn alone(ty: &str, dir: &Path) -> Vec<u8> {
    let out = dir.join(format!("alone-{ty}.gguf"));
    common::run(&mut convert_cmd(ty, &out));
    std::fs::read(out).expect("read")
}

#[test]
fn two_conversions_to_one_path_one_wins_the_other_errors() {
    let refs = tempfile::tempdir().expect("tempdir");
    let expected = [("Q8_0", alone("Q8_0", refs.path())), ("Q4_0", alone("Q4_0", refs.path()))];
    for round in 0..3 {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("model.gguf");
        let children: Vec<_> = expected.iter().map(|(ty, _)| convert_cmd(ty, &out).spawn().expect("run ggufkit convert")).collect();
        let results: Vec<_> = children.into_iter().map(|c| c.wait_with_output().expect("wait")).collect();
        let winners: Vec<usize> = (0..2).filter(|&i| results[i].status.success()).collect();
        let errors: Vec<String> = results.iter().map(|r| String::from_utf8_lossy(&r.stderr).into_owned()).collect();
        assert_eq!(winners.len(), 1, "round {round}: exactly one conversion must succeed: {errors:?}");
        let (w, l) = (winners[0], 1 - winners[0]);
        assert_eq!(results[l].status.code(), Some(1), "round {round}: the loser exits 1: {}", errors[l]);
        assert!(
            errors[l].contains("already exists") || errors[l].contains("appeared at the output path"),
            "round {round}: the loser says the output exists: {}",
            errors[l]
        );
        let got = std::fs::read(&out).expect("the output");
        assert!(got == expected[w].1, "round {round}: the file is not {}'s complete output (winner)", expected[w].0);
        let mut names: Vec<String> =
            std::fs::read_dir(dir.path()).expect("ls").map(|e| e.expect("entry").file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        assert_eq!(names, ["model.Modelfile", "model.gguf"], "round {round}: left over files");
        eprintln!("round {round}: {} won; the other said: {}", expected[w].0, errors[l].trim());
    }
}

/// `kill -9` in the middle of a conversion leaves nothing under the output name (only the
/// temporary file, which a killed process cannot remove, named `.model.gguf.*.tmp`). The kill comes
/// as soon as that temporary file appears; a run that finished first is repeated (10 at most).
#[test]
fn killed_conversion_leaves_nothing_at_the_output_path() {
    for attempt in 0..10 {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("model.gguf");
        let mut child = convert_cmd("Q4_K_M", &out).stderr(Stdio::null()).spawn().expect("run ggufkit convert");
        let tmp_seen = loop {
            let tmp = std::fs::read_dir(dir.path()).expect("ls").any(|e| e.expect("entry").file_name().to_string_lossy().ends_with(".tmp"));
            if tmp {
                break true;
            }
            if child.try_wait().expect("try_wait").is_some() {
                break false;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        };
        let _ = child.kill(); // SIGKILL (a no-op when it already ended)
        let status = child.wait().expect("wait");
        if !tmp_seen || status.success() {
            eprintln!("attempt {attempt}: the conversion finished before it could be killed; again");
            continue;
        }
        assert!(!out.exists(), "a killed conversion left a file at the output path");
        assert!(!dir.path().join("model.Modelfile").exists(), "a killed conversion left a Modelfile");
        return;
    }
    panic!("no conversion could be killed in the middle in 10 attempts");
}
