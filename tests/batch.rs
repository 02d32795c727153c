//! `ggufkit batch MANIFEST.toml` and `ggufkit report`: predicted sizes equal the produced files,
//! a run killed with SIGKILL resumes (finished jobs skipped, the interrupted one redone, no
//! stray files), one broken model does not stop the others, shards cover every job exactly once,
//! and the report's numbers equal `inspect`, `validate`, `plan` and sha256sum on the same files.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// A fresh folder with copies of the given fixture models under `models/`.
fn workspace(tag: &str, models: &[&str]) -> PathBuf {
    let dir = cache_dir().join(format!("batch-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for m in models {
        let to = dir.join("models").join(m);
        std::fs::create_dir_all(&to).expect("mkdir");
        for e in std::fs::read_dir(fixture_model(m)).expect("ls fixture") {
            let e = e.expect("entry");
            std::fs::copy(e.path(), to.join(e.file_name())).expect("copy fixture");
        }
    }
    dir
}

fn write_manifest(dir: &Path, body: &str) -> PathBuf {
    let p = dir.join("batch.toml");
    std::fs::write(&p, body).expect("write manifest");
    p
}

/// Runs `ggufkit batch ARGS --json`; returns (success, event lines, stderr).
fn batch(manifest: &Path, args: &[&str]) -> (bool, Vec<Value>, String) {
    let out = Command::new(ggufkit()).arg("batch").arg(manifest).args(args).arg("--json").output().expect("run ggufkit batch");
    let events: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect();
    // every line versioned and every field documented (docs/json.md, `batch --json`)
    let docs = std::fs::read_to_string(repo_root().join("docs/json.md")).expect("docs/json.md");
    let section = docs.split("\n## ").find(|s| s.starts_with("`batch")).expect("docs/json.md: batch section");
    for e in &events {
        assert_eq!(e["schema_version"], 1, "batch --json line without schema_version 1: {e}");
        for key in e.as_object().expect("object").keys() {
            assert!(section.contains(&format!("`{key}`")), "docs/json.md, batch: field `{key}` not documented ({e})");
        }
    }
    (out.status.success(), events, String::from_utf8_lossy(&out.stderr).into_owned())
}

fn ids(events: &[Value], kind: &str) -> BTreeSet<String> {
    events.iter().filter(|e| e["event"] == kind).map(|e| e["id"].as_str().expect("id").to_string()).collect()
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Files whose name marks an unfinished write.
fn temp_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).filter(|n| n.ends_with(".tmp")).collect())
        .unwrap_or_default()
}

/// `ggufkit convert MODEL -t TYPE` into `dir` (the single-type conversion a batch output must equal).
fn convert_single(model: &Path, ty: &str, dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).expect("mkdir");
    let name = format!("{}-{ty}.gguf", model.file_name().expect("name").to_string_lossy());
    let out = dir.join(&name);
    if !out.exists() {
        run(Command::new(ggufkit()).arg("convert").arg(model).arg("-t").arg(ty).arg("-o").arg(dir));
    }
    out
}

/// Each job's output in `dir/out` (ids `model/TYPE`) equals `ggufkit convert -t TYPE` of the model.
fn assert_outputs_equal_single_conversions(dir: &Path, jobs: &[String]) {
    let reference = dir.join("single");
    for id in jobs {
        let (model, ty) = id.split_once('/').expect("model/TYPE");
        let name = format!("{model}-{ty}.gguf");
        let single = convert_single(&dir.join("models").join(model), ty, &reference);
        assert!(read(&dir.join("out").join(&name)) == read(&single), "{name} differs from `convert -t {ty}`");
    }
}

#[test]
fn dry_run_sizes_equal_the_produced_files() {
    let dir = workspace("dry", &["tiny-llama", "tiny-phi3", "tiny-gemma2"]);
    let m = write_manifest(
        &dir,
        "output = \"out\"\nname = \"{type}/{model}.{type}.gguf\"\nmodelfile = false\n\
         types = [\"Q4_K_M\", \"Q8_0\", \"F16\", \"BF16\", \"F32\", \"Q3_K_S\", \"Q5_0\"]\n\
         [[model]]\npath = \"models/tiny-*\"\n",
    );
    let (ok, events, err) = batch(&m, &["--dry-run"]);
    assert!(ok, "{err}");
    let dry = events.iter().find(|e| e["event"] == "dry_run").expect("dry_run line");
    let jobs = dry["jobs"].as_array().expect("jobs");
    assert_eq!(jobs.len(), 21);
    assert!(!dir.join("out").exists(), "a dry run wrote something");
    let (ok, events, err) = batch(&m, &[]);
    assert!(ok, "{err}");
    assert_eq!(ids(&events, "finished").len(), 21, "{events:?}");
    let mut total = 0;
    for j in jobs {
        let predicted = j["predicted_bytes"].as_u64().expect("predicted size");
        let out = PathBuf::from(j["output"].as_str().expect("output"));
        let (id, ty) = (j["id"].as_str().unwrap(), out.parent().unwrap().file_name().unwrap());
        assert_eq!(
            format!("{}.{}.gguf", id.split('/').next().unwrap(), ty.to_string_lossy()),
            out.file_name().unwrap().to_string_lossy(),
            "name template"
        );
        assert!(!out.with_extension("Modelfile").exists(), "modelfile = false");
        let actual = std::fs::metadata(&out).unwrap_or_else(|e| panic!("{}: {e}", out.display())).len();
        assert_eq!(predicted, actual, "{}", out.display());
        total += predicted;
    }
    assert_eq!(dry["bytes_to_write"].as_u64(), Some(total));
    // the report finds the outputs in their subfolders
    let report: Value = serde_json::from_slice(&read(&dir.join("out/report.json"))).expect("report JSON");
    for r in report.as_array().expect("rows") {
        assert!(r["n_params"].as_u64().is_some_and(|n| n > 0), "{r}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_run_killed_mid_pass_resumes_without_stray_files() {
    let types = ["Q8_0", "Q4_K_M", "Q6_K"];
    let models = ["tiny-llama", "tiny-qwen2", "tiny-phi3"];
    // SIGKILL once a job has finished and the next pass is writing (its temporary files exist);
    // tiny models convert fast, so try again when the run ends before we catch it mid-pass
    for attempt in 0..8 {
        let dir = workspace(&format!("kill{attempt}"), &models);
        let out = dir.join("out");
        let m = write_manifest(&dir, &format!("output = \"out\"\ntypes = {types:?}\n[[model]]\npath = \"models/tiny-*\"\n"));
        let mut child = Command::new(ggufkit())
            .arg("batch")
            .arg(&m)
            .args(["--json", "--threads", "1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn batch");
        let lines = Arc::new(Mutex::new(Vec::<Value>::new()));
        let reader = {
            let lines = lines.clone();
            let stdout = child.stdout.take().expect("stdout");
            std::thread::spawn(move || {
                for l in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                    if let Ok(v) = serde_json::from_str(&l) {
                        lines.lock().expect("lock").push(v);
                    }
                }
            })
        };
        let started = Instant::now();
        let mut killed_with = None;
        while started.elapsed() < Duration::from_secs(120) {
            if child.try_wait().expect("wait").is_some() {
                break;
            }
            let finished = ids(&lines.lock().expect("lock"), "finished");
            let temps: Vec<String> = temp_files(&out).into_iter().filter(|n| n.contains(".gguf.")).collect();
            if !finished.is_empty() && !temps.is_empty() {
                child.kill().expect("kill -9");
                killed_with = Some((finished, temps));
                break;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        let _ = child.wait();
        reader.join().expect("reader");
        let Some((finished_before, temps)) = killed_with else {
            let _ = std::fs::remove_dir_all(&dir);
            continue;
        };
        // the run's own record of what finished is what counts (a job may finish between our
        // last look at its events and the kill)
        let state: Value = serde_json::from_slice(&read(&out.join("batch-state.json"))).expect("state JSON");
        let recorded: BTreeSet<String> = state["finished"].as_object().expect("finished").keys().cloned().collect();
        assert!(recorded.is_superset(&finished_before));
        assert!(recorded.len() < 9, "everything finished before the kill");
        eprintln!("killed with {} jobs finished and temporary files {temps:?}", recorded.len());

        let (ok, events, err) = batch(&m, &[]);
        assert!(ok, "{err}");
        assert_eq!(ids(&events, "skipped"), recorded, "finished jobs are skipped");
        let all: BTreeSet<String> = models.iter().flat_map(|m| types.iter().map(move |t| format!("{m}/{t}"))).collect();
        let redone: BTreeSet<String> = all.difference(&recorded).cloned().collect();
        assert_eq!(ids(&events, "finished"), redone, "the interrupted and unstarted jobs are done");
        assert_eq!(temp_files(&out), Vec::<String>::new(), "stray temporary files");
        let jobs: Vec<String> = models.iter().flat_map(|m| types.iter().map(move |t| format!("{m}/{t}"))).collect();
        assert_outputs_equal_single_conversions(&dir, &jobs);
        // only expected files: outputs, Modelfiles, state, locks, report
        for e in std::fs::read_dir(&out).expect("ls") {
            let n = e.expect("entry").file_name().to_string_lossy().into_owned();
            assert!(
                n.ends_with(".gguf")
                    || n.ends_with(".Modelfile")
                    || n.starts_with("batch-state.json")
                    || n == "batch-jobs.lock"
                    || n.starts_with("report."),
                "unexpected file {n}"
            );
        }
        // a third run has nothing to do
        let (ok, events, err) = batch(&m, &[]);
        assert!(ok, "{err}");
        assert_eq!(ids(&events, "skipped"), all);
        let _ = std::fs::remove_dir_all(&dir);
        return;
    }
    panic!("could not kill a batch run mid-pass in 8 attempts");
}

#[test]
fn a_failing_model_does_not_stop_the_others() {
    let dir = workspace("fail", &["tiny-llama", "tiny-qwen2", "tiny-phi3"]);
    // break tiny-qwen2: cut its checkpoint short
    let broken = dir.join("models/tiny-qwen2");
    let shard = std::fs::read_dir(&broken)
        .expect("ls")
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "safetensors") && !p.to_string_lossy().contains("reference"))
        .expect("a shard");
    let bytes = read(&shard);
    std::fs::write(&shard, &bytes[..bytes.len() / 2]).expect("truncate");
    let m = write_manifest(&dir, "output = \"out\"\ntypes = [\"Q8_0\", \"Q4_0\"]\n[[model]]\npath = \"models/tiny-*\"\n");
    let (ok, events, err) = batch(&m, &[]);
    assert!(!ok, "a failed job must fail the run");
    let failed = ids(&events, "failed");
    assert_eq!(failed, ["tiny-qwen2/Q4_0", "tiny-qwen2/Q8_0"].map(String::from).into_iter().collect(), "{events:?}");
    assert!(err.contains("2 job(s) failed") && err.contains("tiny-qwen2/Q8_0"), "{err}");
    assert_eq!(ids(&events, "finished").len(), 4);
    let out = dir.join("out");
    assert!(!out.join("tiny-qwen2-Q8_0.gguf").exists());
    let report: Value = serde_json::from_slice(&read(&out.join("report.json"))).expect("report JSON");
    let status: BTreeMap<String, String> = report
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| (r["id"].as_str().unwrap().to_string(), r["status"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(status.get("tiny-qwen2/Q8_0").map(String::as_str), Some("failed"));
    assert_eq!(status.get("tiny-llama/Q8_0").map(String::as_str), Some("finished"));
    // mended, a re-run does just the failed jobs
    std::fs::write(&shard, &bytes).expect("restore");
    let (ok, events, err) = batch(&m, &[]);
    assert!(ok, "{err}");
    assert_eq!(ids(&events, "finished"), failed);
    assert_eq!(ids(&events, "skipped").len(), 4);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn shards_cover_every_job_exactly_once_and_merge_into_one_report() {
    let dir = workspace("shard", &["tiny-llama", "tiny-qwen2", "tiny-phi3", "tiny-gemma2"]);
    let m = write_manifest(
        &dir,
        "output = \"out\"\ntypes = [\"Q8_0\", \"Q4_0\"]\n[[model]]\npath = \"models/tiny-llama\"\ntypes = [\"Q8_0\", \"Q6_K\", \"F16\"]\n\
         [[model]]\npath = \"models/tiny-[gpq]*\"\n",
    );
    let all: BTreeSet<String> = ["tiny-llama/Q8_0", "tiny-llama/Q6_K", "tiny-llama/F16"]
        .into_iter()
        .map(String::from)
        .chain(["tiny-qwen2", "tiny-phi3", "tiny-gemma2"].iter().flat_map(|m| ["Q8_0", "Q4_0"].map(|t| format!("{m}/{t}"))))
        .collect();
    for n in 1..=5 {
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        for i in 0..n {
            let (ok, events, err) = batch(&m, &["--dry-run", "--shard", &format!("{i}/{n}")]);
            assert!(ok, "{err}");
            let dry = events.iter().find(|e| e["event"] == "dry_run").expect("dry_run line");
            for j in dry["jobs"].as_array().expect("jobs") {
                if j["status"] == "pending" {
                    assert_eq!(j["shard"].as_u64(), Some(i as u64));
                    *seen.entry(j["id"].as_str().unwrap().to_string()).or_default() += 1;
                }
            }
            // the scheduler's environment names the same shard
            let env = Command::new(ggufkit())
                .arg("batch")
                .arg(&m)
                .args(["--dry-run", "--json"])
                .env("SLURM_ARRAY_TASK_ID", i.to_string())
                .env("SLURM_ARRAY_TASK_COUNT", n.to_string())
                .output()
                .expect("run");
            let from_env = String::from_utf8_lossy(&env.stdout).lines().last().map(str::to_string).unwrap_or_default();
            assert_eq!(from_env, serde_json::to_string(dry).unwrap(), "SLURM_ARRAY_TASK_ID={i} of {n}");
        }
        assert_eq!(seen.keys().cloned().collect::<BTreeSet<_>>(), all, "N = {n}");
        assert!(seen.values().all(|&c| c == 1), "N = {n}: {seen:?}");
    }
    // a real run in 3 shards, then one merged report
    for i in 0..3 {
        let (ok, _, err) = batch(&m, &["--shard", &format!("{i}/3")]);
        assert!(ok, "{err}");
    }
    let out = dir.join("out");
    let merged = run(Command::new(ggufkit()).arg("report").arg("--merge").arg(&out));
    assert!(merged.contains("tiny-gemma2"), "{merged}");
    let report: Value = serde_json::from_slice(&read(&out.join("report.json"))).expect("report JSON");
    let rows: Vec<String> = report.as_array().expect("rows").iter().map(|r| r["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(rows.len(), all.len(), "{rows:?}");
    assert_eq!(rows.into_iter().collect::<BTreeSet<_>>(), all);
    assert_outputs_equal_single_conversions(&dir, &all.iter().cloned().collect::<Vec<_>>());
    let _ = std::fs::remove_dir_all(&dir);
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(1.0)
}

#[test]
fn report_numbers_equal_inspect_validate_plan_and_sha256sum() {
    let dir = workspace("report", &["tiny-llama"]);
    let text = corpus("eval-pydocs.txt");
    let m = write_manifest(
        &dir,
        &format!(
            "output = \"out\"\ntypes = [\"Q8_0\", \"Q4_K_M\", \"Q2_K\"]\n[[model]]\npath = \"models/tiny-llama\"\n\
             [validate]\ntext = {:?}\nctx = 128\nchunks = 4\n[plan]\nvram = [\"1GiB\", \"40MiB\"]\nctx = [512, 2048]\n",
            text.to_string_lossy()
        ),
    );
    let (ok, _, err) = batch(&m, &[]);
    assert!(ok, "{err}");
    let out = dir.join("out");
    let report: Value = serde_json::from_slice(&read(&out.join("report.json"))).expect("report JSON");
    let rows = report.as_array().expect("rows");
    assert_eq!(rows.len(), 3);
    let files: Vec<PathBuf> = rows.iter().map(|r| PathBuf::from(r["file"].as_str().unwrap())).collect();
    let validated: Value = serde_json::from_str(&run(Command::new(ggufkit())
        .arg("validate")
        .arg(dir.join("models/tiny-llama"))
        .args(&files)
        .arg("--text")
        .arg(&text)
        .args(["--ctx", "128", "--chunks", "4", "--json"])))
    .expect("validate JSON");
    let sums = run(Command::new("sha256sum").args(&files));
    for (r, f) in rows.iter().zip(&files) {
        let inspect: Value = serde_json::from_str(&run(Command::new(ggufkit()).arg("inspect").arg(f).arg("--json"))).expect("inspect JSON");
        assert_eq!(r["file_size"], inspect["file_size"], "{}", f.display());
        assert_eq!(r["n_params"], inspect["n_params"]);
        assert!(close(r["bits_per_weight"].as_f64().unwrap(), inspect["bits_per_weight"].as_f64().unwrap()));
        let sum =
            sums.lines().find(|l| l.ends_with(&*f.to_string_lossy())).and_then(|l| l.split_whitespace().next()).expect("sha256sum line");
        assert_eq!(r["sha256"].as_str(), Some(sum));
        let v = validated["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["path"].as_str() == Some(&*f.to_string_lossy()))
            .expect("validated file");
        let q = &r["quality"];
        for (ours, theirs) in [
            (&q["ppl"], &v["stats"]["ppl"]["value"]),
            (&q["kld"], &v["stats"]["kld_mean"]["value"]),
            (&q["dppl_percent"], &v["dppl_percent"]),
            (&q["top1"], &v["stats"]["same_top"]["value"]),
        ] {
            assert!(close(ours.as_f64().unwrap(), theirs.as_f64().unwrap()), "{}: {ours} vs validate's {theirs}", f.display());
        }
        assert!(close(q["reference_ppl"].as_f64().unwrap(), validated["reference"]["ppl"]["value"].as_f64().unwrap()));
        let verdicts = r["plan"].as_array().expect("plan verdicts");
        assert_eq!(verdicts.len(), 4);
        for v in verdicts {
            let p: Value = serde_json::from_str(&run(Command::new(ggufkit()).arg("plan").arg(f).args([
                "--vram",
                v["vram"].as_str().unwrap(),
                "--ctx",
                &v["ctx"].to_string(),
                "--json",
            ])))
            .expect("plan JSON");
            let row = &p["rows"][0];
            assert_eq!(v["fits"], row["fits"]);
            assert_eq!(v["max_ctx"], row["max_ctx"]);
            assert_eq!(v["total_bytes"], row["total_bytes"]);
        }
    }
    let svg = std::fs::read_to_string(out.join("tiny-llama-size-vs-kld.svg")).expect("plot");
    assert!(svg.starts_with("<svg") && svg.contains("tiny-llama"), "{}", &svg[..svg.len().min(200)]);
    // `report FILES` on the same files: the same sizes, bits per weight and hashes
    let elsewhere = dir.join("elsewhere");
    run(Command::new(ggufkit()).arg("report").args(&files).arg("-o").arg(&elsewhere));
    let other: Value = serde_json::from_slice(&read(&elsewhere.join("report.json"))).expect("report JSON");
    for r in rows {
        let o = other.as_array().unwrap().iter().find(|o| o["file"] == r["file"]).expect("same file");
        for k in ["file_size", "n_params", "bits_per_weight", "sha256", "file_type"] {
            assert_eq!(o[k], r[k], "{k}");
        }
    }
    let csv = std::fs::read_to_string(out.join("report.csv")).expect("csv");
    assert_eq!(csv.lines().count(), 4);
    let md = std::fs::read_to_string(out.join("report.md")).expect("md");
    assert!(md.contains("| tiny-llama | Q4_K_M |"), "{md}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn two_runs_on_one_folder_at_once_share_the_work_and_the_state_file() {
    let dir = workspace("twice", &["tiny-llama", "tiny-qwen2", "tiny-phi3"]);
    let m = write_manifest(&dir, "output = \"out\"\ntypes = [\"Q8_0\", \"Q4_K_M\"]\n[[model]]\npath = \"models/tiny-*\"\n");
    let spawn = || {
        Command::new(ggufkit())
            .arg("batch")
            .arg(&m)
            .args(["--json", "--threads", "1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn")
    };
    let (a, b) = (spawn(), spawn());
    let mut finished = Vec::new();
    for child in [a, b] {
        let out = child.wait_with_output().expect("wait");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let events: Vec<Value> =
            String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect();
        finished.extend(ids(&events, "finished"));
    }
    let all: BTreeSet<String> =
        ["tiny-llama", "tiny-qwen2", "tiny-phi3"].iter().flat_map(|m| ["Q8_0", "Q4_K_M"].map(|t| format!("{m}/{t}"))).collect();
    // every job finished in one run or the other (a job both ran, one after the other, is fine)
    assert_eq!(finished.iter().cloned().collect::<BTreeSet<_>>(), all);
    let out = dir.join("out");
    let state: Value = serde_json::from_slice(&read(&out.join("batch-state.json"))).expect("the state file is whole JSON");
    let recorded: BTreeSet<String> = state["finished"].as_object().expect("finished").keys().cloned().collect();
    assert_eq!(recorded, all);
    assert_eq!(temp_files(&out), Vec::<String>::new());
    let (ok, events, err) = batch(&m, &[]);
    assert!(ok, "{err}");
    assert_eq!(ids(&events, "skipped"), all, "each recorded output matches its file");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bad_plan_size_stops_the_run_before_any_conversion() {
    let dir = workspace("badvram", &["tiny-llama"]);
    let m = write_manifest(
        &dir,
        "output = \"out\"\ntypes = [\"Q8_0\"]\n[[model]]\npath = \"models/tiny-llama\"\n[plan]\nvram = [\"8GiB\", \"24\"]\nctx = [4096]\n",
    );
    let (ok, events, err) = batch(&m, &[]);
    assert!(!ok, "a manifest with vram \"24\" was accepted: {events:?}");
    assert!(err.contains("24 what? Use 24GiB") && err.contains("batch.toml"), "stderr does not name the size and the manifest: {err}");
    assert!(events.is_empty(), "the run went on after reading the manifest: {events:?}");
    let produced: Vec<_> = std::fs::read_dir(dir.join("out")).map(|d| d.flatten().map(|e| e.file_name()).collect()).unwrap_or_default();
    assert!(produced.is_empty(), "files written before the manifest was refused: {produced:?}");
    std::fs::remove_dir_all(&dir).ok();
}
