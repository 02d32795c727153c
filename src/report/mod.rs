//! The size report: per model × type, file size, bits per weight, conversion time and
//! throughput, sha256, plan's verdicts and validate's numbers — as `report.md`, `report.json`,
//! `report.csv` and one SVG size-vs-KLD plot per model (validate's plot).
//!
//! Rows come from batch state files ([`rows_from_state`]) or from GGUF files made elsewhere
//! ([`rows_from_files`]); sizes, parameter counts and bits per weight are read from the GGUF
//! files themselves, the way `ggufkit inspect` counts them.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::batch::state::{self, PlanVerdict, Quality, State};

/// One row of the report.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// `model/TYPE` (batch) or the file's stem.
    pub id: String,
    /// The model's name.
    pub model: String,
    /// File type (`general.file_type` as llama.cpp names it).
    pub file_type: String,
    /// The GGUF file.
    pub file: PathBuf,
    /// `finished` or `failed`.
    pub status: String,
    /// The error of a failed job.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// File size in bytes (`file_size`, the name every command uses).
    #[serde(rename = "file_size")]
    pub size_bytes: Option<u64>,
    /// Elements of all tensors.
    pub n_params: Option<u64>,
    /// Tensor data bytes × 8 / elements (as `inspect`).
    pub bits_per_weight: Option<f64>,
    /// Wall time of the conversion pass (batch only).
    pub seconds: Option<f64>,
    /// Outputs that shared that pass.
    pub pass_outputs: Option<usize>,
    /// Weights converted per second by that pass, per output (n_params × outputs / seconds).
    pub weights_per_second: Option<f64>,
    /// sha256 of the file.
    pub sha256: Option<String>,
    /// Plan's verdicts.
    pub plan: Vec<PlanVerdict>,
    /// Validate's numbers.
    pub quality: Option<Quality>,
}

/// What a GGUF file's header says: file type, elements, tensor bytes.
pub struct GgufStats {
    /// `general.file_type` name, else `?`.
    pub file_type: String,
    /// Elements of all tensors.
    pub n_params: u64,
    /// Tensor data bytes.
    pub tensor_bytes: u64,
    /// File size.
    pub size_bytes: u64,
}

impl GgufStats {
    /// Reads a GGUF file's header.
    pub fn read(path: &Path) -> Result<GgufStats, gguf::GgufError> {
        let f = gguf::GgufFile::open(path)?;
        let file_type = f
            .get("general.file_type")
            .and_then(|v| match v {
                gguf::Value::U32(id) => Some(*id),
                gguf::Value::I32(id) => u32::try_from(*id).ok(),
                _ => None,
            })
            .and_then(quantize::ftype::FileType::from_id)
            .map(|t| t.name().to_string())
            .unwrap_or_else(|| "?".into());
        Ok(GgufStats {
            file_type,
            n_params: f.tensors().iter().map(|t| t.n_elements()).sum(),
            tensor_bytes: f.tensors().iter().map(|t| t.size).sum(),
            size_bytes: f.file_len(),
        })
    }

    /// Bits per weight as `inspect` prints it.
    pub fn bits_per_weight(&self) -> Option<f64> {
        (self.n_params > 0).then(|| crate::numbers::bits_per_weight(self.tensor_bytes, self.n_params))
    }
}

/// Rows of a (merged) batch state whose outputs lie in `dir`.
pub fn rows_from_state(dir: &Path, s: &State) -> Vec<Row> {
    let mut rows: Vec<Row> = s
        .finished
        .values()
        .map(|r| {
            let file = dir.join(&r.file);
            let stats = GgufStats::read(&file).ok();
            Row {
                id: r.id.clone(),
                model: r.model.clone(),
                file_type: r.file_type.clone(),
                file,
                status: "finished".into(),
                error: None,
                size_bytes: Some(r.size_bytes),
                n_params: stats.as_ref().map(|s| s.n_params),
                bits_per_weight: stats.as_ref().and_then(GgufStats::bits_per_weight),
                seconds: Some(r.seconds),
                pass_outputs: Some(r.pass_outputs),
                weights_per_second: (r.seconds > 0.0).then(|| r.n_params as f64 * r.pass_outputs as f64 / r.seconds),
                sha256: Some(r.sha256.clone()),
                plan: r.plan.clone(),
                quality: r.quality.clone(),
            }
        })
        .collect();
    rows.extend(s.failed.values().map(|f| {
        let (model, ty) = f.id.split_once('/').unwrap_or((f.id.as_str(), "?"));
        Row {
            id: f.id.clone(),
            model: model.into(),
            file_type: ty.into(),
            file: PathBuf::new(),
            status: "failed".into(),
            error: Some(f.error.clone()),
            size_bytes: None,
            n_params: None,
            bits_per_weight: None,
            seconds: None,
            pass_outputs: None,
            weights_per_second: None,
            sha256: None,
            plan: Vec::new(),
            quality: None,
        }
    }));
    rows.sort_by(|a, b| (&a.model, a.size_bytes, &a.id).cmp(&(&b.model, b.size_bytes, &b.id)));
    rows
}

/// Rows for GGUF files made elsewhere (no timings): the model is `general.name` else the stem.
pub fn rows_from_files(files: &[PathBuf]) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    for p in files {
        let stats = GgufStats::read(p)?;
        let name = gguf::GgufFile::open(p)?.get("general.name").and_then(|v| v.as_str().map(str::to_string));
        let stem = p.file_stem().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        rows.push(Row {
            id: stem.clone(),
            model: name.unwrap_or(stem),
            file_type: stats.file_type.clone(),
            file: p.clone(),
            status: "finished".into(),
            error: None,
            size_bytes: Some(stats.size_bytes),
            n_params: Some(stats.n_params),
            bits_per_weight: stats.bits_per_weight(),
            seconds: None,
            pass_outputs: None,
            weights_per_second: None,
            sha256: Some(state::sha256_file(p)?),
            plan: Vec::new(),
            quality: None,
        });
    }
    rows.sort_by(|a, b| (&a.model, a.size_bytes, &a.id).cmp(&(&b.model, b.size_bytes, &b.id)));
    Ok(rows)
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

fn verdict(v: &PlanVerdict) -> String {
    let max = v.max_ctx.map(|c| c.to_string()).unwrap_or_else(|| "-".into());
    format!("{} @{}: {} (max ctx {max})", v.vram, v.ctx, if v.fits { "fits" } else { "no" })
}

/// `report.md`.
pub fn markdown(rows: &[Row]) -> String {
    let mut s = String::from("# ggufkit size report\n\n");
    s.push_str("| model | type | size (bytes) | size (MiB) | bpw | time (s) | weights/s | PPL | ΔPPL % | KLD | top-1 % | plan | sha256 | status |\n");
    s.push_str("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|---|---|\n");
    for r in rows {
        let q = r.quality.as_ref();
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            r.model,
            r.file_type,
            opt(r.size_bytes),
            opt(r.size_bytes.map(|b| format!("{:.2}", b as f64 / (1 << 20) as f64))),
            opt(r.bits_per_weight.map(|b| format!("{b:.4}"))),
            opt(r.seconds.map(|t| format!("{t:.2}"))),
            opt(r.weights_per_second.map(|w| format!("{:.1} M", w / 1e6))),
            opt(q.map(|q| format!("{:.4}", q.ppl))),
            opt(q.map(|q| format!("{:.3}", q.dppl_percent))),
            opt(q.map(|q| format!("{:.6}", q.kld))),
            opt(q.map(|q| format!("{:.2}", 100.0 * q.top1))),
            r.plan.iter().map(verdict).collect::<Vec<_>>().join("; "),
            r.sha256.as_deref().map(|h| &h[..16.min(h.len())]).unwrap_or(""),
            match &r.error {
                Some(e) => format!("failed: {}", e.replace('|', "\\|").replace('\n', " ")),
                None => r.status.clone(),
            },
        ));
    }
    s
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// `report.csv` (full-precision numbers; plan verdicts as `vram@ctx:fits:max_ctx` joined by `;`).
pub fn csv(rows: &[Row]) -> String {
    let mut s = String::from("id,model,type,file,status,file_size,n_params,bits_per_weight,seconds,pass_outputs,weights_per_second,sha256,ppl,reference_ppl,dppl_percent,kld,top1,plan,error\n");
    for r in rows {
        let q = r.quality.as_ref();
        let plan = r.plan.iter().map(|v| format!("{}@{}:{}:{}", v.vram, v.ctx, v.fits, opt(v.max_ctx))).collect::<Vec<_>>().join(";");
        let fields = [
            r.id.clone(),
            r.model.clone(),
            r.file_type.clone(),
            r.file.display().to_string(),
            r.status.clone(),
            opt(r.size_bytes),
            opt(r.n_params),
            opt(r.bits_per_weight),
            opt(r.seconds),
            opt(r.pass_outputs),
            opt(r.weights_per_second),
            r.sha256.clone().unwrap_or_default(),
            opt(q.map(|q| q.ppl)),
            opt(q.map(|q| q.reference_ppl)),
            opt(q.map(|q| q.dppl_percent)),
            opt(q.map(|q| q.kld)),
            opt(q.map(|q| q.top1)),
            plan,
            r.error.clone().unwrap_or_default(),
        ];
        s.push_str(&fields.iter().map(|f| csv_field(f)).collect::<Vec<_>>().join(","));
        s.push('\n');
    }
    s
}

/// Writes `report.md`, `report.json`, `report.csv` and `<model>-size-vs-kld.svg` (for models with
/// validate numbers) into `dir`, each atomically; returns the files written.
pub fn write(dir: &Path, rows: &[Row]) -> anyhow::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for (name, text) in
        [("report.md", markdown(rows)), ("report.json", serde_json::to_string_pretty(rows)? + "\n"), ("report.csv", csv(rows))]
    {
        let p = dir.join(name);
        state::write_atomic(&p, text.as_bytes())?;
        written.push(p);
    }
    let mut models: Vec<&str> = rows.iter().map(|r| r.model.as_str()).collect();
    models.dedup();
    for model in models {
        let points: Vec<validate::plot::PlotPoint> = rows
            .iter()
            .filter(|r| r.model == model)
            .filter_map(|r| {
                let q = r.quality.as_ref()?;
                Some(validate::plot::PlotPoint {
                    label: r.file_type.clone(),
                    size_mib: r.size_bytes? as f64 / (1 << 20) as f64,
                    kld: q.kld,
                    dppl_percent: q.dppl_percent,
                })
            })
            .collect();
        if points.is_empty() {
            continue;
        }
        let p = dir.join(format!("{model}-size-vs-kld.svg"));
        validate::plot::draw(&p, &format!("{model}: quality vs size"), &points)?;
        written.push(p);
    }
    Ok(written)
}

/// Rebuilds the report of a batch output folder from all its state files (every shard's).
pub fn write_for_batch(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let (merged, _) = state::read_all(dir)?;
    write(dir, &rows_from_state(dir, &merged))
}
